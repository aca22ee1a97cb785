"""A bar chart of a series over time, drawn from zero, with a time axis under it.

Drawn from zero because Textual's Sparkline scales from the series' minimum, so a quiet second
looks empty and a steady rate looks like nothing at all. The axis says when the series starts
and ends and how long a bar is: a long capture is squeezed (several slots a bar, the largest
shown), a short one stretched (a slot several cells wide), so a bar is always a whole number of
slots and the axis is exact.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from cmppdissect.tui.columns import format_clock

_EIGHTHS = " ▁▂▃▄▅▆▇█"


def scale(points: int, width: int) -> tuple[int, int]:
    """(slots a bar, cells a bar) that fit ``points`` slots in ``width`` cells."""
    if points <= 0 or width <= 0:
        return 1, 1
    if points > width:
        return -(-points // width), 1
    return 1, width // points


def columns(data: Sequence[float], width: int) -> list[float]:
    """``data`` squeezed to at most ``width`` bars of equally many slots (the largest of
    each), or kept as it is when it fits."""
    group, _cells = scale(len(data), width)
    if group == 1:
        return list(data)
    return [max(data[i:i + group]) for i in range(0, len(data), group)]


def bar_rows(data: Sequence[float], width: int, height: int) -> list[str]:
    """The chart as ``height`` text rows, top first; bars are 0 to max(data) tall."""
    values = columns(data, width)
    _group, cells = scale(len(data), width)
    top = max(values, default=0.0)
    levels = height * 8
    heights = [round(v / top * levels) if top > 0 else 0 for v in values]
    heights = [max(h, 1) if v > 0 else h for h, v in zip(heights, values, strict=True)]
    rows = []
    for row in reversed(range(height)):
        base = row * 8
        rows.append("".join(_EIGHTHS[min(8, max(0, h - base))] * cells for h in heights))
    return rows


def axis_line(start: float, slot_s: float, points: int, width: int) -> str:
    """``16:00:00 ──── 1 s per bar ──── 16:00:02`` under the bars of ``points`` slots from
    ``start`` (seconds since 1970): the first bar's start, the last one's end, a bar's length."""
    group, cells = scale(points, width)
    span = -(-points // group) * cells
    end = start + points * slot_s
    with_date = end - start >= 86_400
    left = format_clock(start, date=with_date)
    right = format_clock(end, date=with_date)
    per_bar = slot_s * group
    mid = f" {per_bar:g} s per bar "
    dashes = span - len(left) - len(right) - 2 - len(mid)
    if dashes >= 2:
        line = f"{left} {'─' * (dashes // 2)}{mid}{'─' * (dashes - dashes // 2)} {right}"
    else:
        line = f"{left}–{right}, {mid.strip()}"
    return set_cell_size(line, width).rstrip()


class Bars(Widget):
    """Renders a series (:meth:`show`); its last line is the time axis when the series has a
    start. Colours come from CSS (``color``)."""

    DEFAULT_CSS = """
    Bars { height: 4; color: $accent; }
    """

    def __init__(self, data: Sequence[float] = (), *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._data: list[float] = list(data)
        self._start: float | None = None
        self._slot_s = 1.0

    @property
    def data(self) -> list[float]:
        return self._data

    @data.setter
    def data(self, values: Sequence[float]) -> None:
        self.show(values)

    def show(self, values: Sequence[float], *, start: float | None = None,
             slot_s: float = 1.0) -> None:
        """Draw ``values``, one per ``slot_s`` seconds from ``start`` (no axis without one)."""
        self._data = list(values)
        self._start = start
        self._slot_s = slot_s
        self.refresh()

    def axis_text(self) -> str:
        """The axis line as drawn ("" without a start)."""
        if self._start is None or not self._data:
            return ""
        return axis_line(self._start, self._slot_s, len(self._data), self.content_region.width)

    def render_line(self, y: int) -> Strip:
        width, height = self.content_region.width, self.content_region.height
        style: Style = self.rich_style
        if y >= height or width <= 0:
            return Strip.blank(width, style)
        axis = self.axis_text()
        bar_height = height - 1 if axis and height > 1 else height
        text = axis if y >= bar_height else bar_rows(self._data, width, bar_height)[y]
        return Strip([Segment(text, style)]).adjust_cell_length(width, style)
