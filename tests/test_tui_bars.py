"""The zero-based bar chart of the statistics screen (rendering logic only, no app)."""

from __future__ import annotations

from cmppdissect.tui.widgets.bars import bar_rows, columns


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
