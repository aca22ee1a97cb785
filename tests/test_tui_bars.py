"""The zero-based bar chart of the statistics screen (rendering logic only, no app)."""

from __future__ import annotations

import time

from cmppdissect.tui.columns import format_clock
from cmppdissect.tui.widgets.bars import axis_line, bar_rows, columns, scale


def test_bars_start_at_zero_so_steady_rates_show() -> None:
    # Textual's Sparkline would draw [64, 82, 40] with 40 as an empty bar.
    (row,) = bar_rows([64, 82, 40], width=3, height=1)
    assert row == "▆█▄"
    (flat,) = bar_rows([5, 5, 5], width=3, height=1)
    assert flat == "███"


def test_zero_is_empty_and_tiny_values_still_show() -> None:
    (row,) = bar_rows([0, 1, 1000], width=3, height=1)
    assert row[0] == " " and row[1] == "▁" and row[2] == "█"


def test_height_stacks_eighths_and_width_keeps_the_peak() -> None:
    rows = bar_rows([8, 16], width=2, height=2)
    assert rows == [" █", "██"]
    assert columns([1, 9, 2, 3], 2) == [9, 3]
    assert columns([1, 2], 5) == [1, 2]


def test_a_short_series_is_stretched_to_whole_cells_per_slot() -> None:
    assert scale(2, 5) == (1, 2)
    assert bar_rows([1, 2], width=5, height=1) == ["▄▄██"]
    assert scale(1200, 100) == (12, 1)
    assert len(columns(list(range(1200)), 100)) == 100


def test_the_axis_says_start_end_and_slot() -> None:
    start = 1_700_000_000
    line = axis_line(start, 1, 12, 78)
    assert line.startswith(format_clock(start) + " ─")
    assert line.endswith("─ " + format_clock(start + 12))
    assert " 1 s per bar " in line
    assert len(line) == 72  # 12 slots of 6 cells: the labels sit under the first and last bar
    # Squeezed: twelve one-second slots a bar; five-second slots: sixty seconds a bar.
    assert " 12 s per bar " in axis_line(start, 1, 1200, 100)
    assert " 60 s per bar " in axis_line(start, 5, 1200, 100)
    # Too few cells for the rule: still both ends and the slot, in words.
    short = axis_line(start, 1, 2, 30)
    assert short.startswith(format_clock(start)) and "1 s per bar" in short
    assert format_clock(start + 2) in short
    # A span of days carries the dates.
    days = axis_line(start, 600, 500, 120)
    assert days.startswith(time.strftime("%Y-%m-%d", time.localtime(start)))
