"""A bar chart of a series, drawn from zero (Textual's Sparkline scales from the series'
minimum, so a quiet second looks empty and a steady rate looks like nothing at all)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

_EIGHTHS = " ▁▂▃▄▅▆▇█"


def columns(data: Sequence[float], width: int) -> list[float]:
    """``data`` squeezed (max per slot) or kept to at most ``width`` columns."""
    if len(data) <= width:
        return list(data)
    out = []
    for col in range(width):
        lo = col * len(data) // width
        hi = max(lo + 1, (col + 1) * len(data) // width)
        out.append(max(data[lo:hi]))
    return out


def bar_rows(data: Sequence[float], width: int, height: int) -> list[str]:
    """The chart as ``height`` text rows, top first; bars are 0 to max(data) tall."""
    values = columns(data, width)
    top = max(values, default=0.0)
    cells = height * 8
    heights = [round(v / top * cells) if top > 0 else 0 for v in values]
    heights = [max(h, 1) if v > 0 else h for h, v in zip(heights, values, strict=True)]
    rows = []
    for row in reversed(range(height)):
        base = row * 8
        rows.append("".join(_EIGHTHS[min(8, max(0, h - base))] for h in heights))
    return rows


class Bars(Widget):
    """Renders ``data`` (set it to redraw); colours come from CSS (``color``)."""

    DEFAULT_CSS = """
    Bars { height: 3; color: $accent; }
    """

    def __init__(self, data: Sequence[float] = (), *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._data: list[float] = list(data)

    @property
    def data(self) -> list[float]:
        return self._data

    @data.setter
    def data(self, values: Sequence[float]) -> None:
        self._data = list(values)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.content_region.width, self.content_region.height
        style: Style = self.rich_style
        if y >= height or width <= 0:
            return Strip.blank(width, style)
        rows = bar_rows(self._data, width, height)
        return Strip([Segment(rows[y], style)]).adjust_cell_length(width, style)
