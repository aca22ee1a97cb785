"""A hex dump of one PDU that highlights the bytes of the selected field.

Sixteen bytes a line when there is room, eight on a narrow terminal. The ASCII column shows
printable ASCII only, so no byte of the PDU can reach the terminal as a control.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


def _printable(byte: int) -> str:
    return chr(byte) if 0x20 <= byte < 0x7F else "."


class HexView(ScrollView, can_focus=False):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"hexview--offset", "hexview--highlight",
                                             "hexview--header"}

    DEFAULT_CSS = """
    HexView {
        overflow-x: hidden;
        overflow-y: auto;
        background: $surface;
        & > .hexview--offset { color: $text-muted; }
        & > .hexview--highlight { background: $accent; color: $text; text-style: bold; }
        & > .hexview--header { color: $primary; }
        &:nocolor > .hexview--highlight { text-style: reverse bold; }
    }
    """

    span: reactive[tuple[int, int] | None] = reactive(None, repaint=False)

    def __init__(self, data: bytes = b"", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data = data

    @property
    def per_line(self) -> int:
        return 16 if self.scrollable_content_region.width >= 72 else 8

    def _lines(self) -> int:
        return (len(self.data) + self.per_line - 1) // self.per_line

    def on_mount(self) -> None:
        self.virtual_size = Size(self.size.width, self._lines())

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, self._lines())
        self.refresh()

    def set_data(self, data: bytes) -> None:
        self.data = data
        self.span = None
        self.virtual_size = Size(self.size.width, self._lines())
        self.refresh()

    def watch_span(self, span: tuple[int, int] | None) -> None:
        self.refresh()
        if span is None:
            return
        first = span[0] // self.per_line
        last = max(first, (span[1] - 1) // self.per_line)
        height = self.scrollable_content_region.height
        self.scroll_to_region(Region(0, first, 1, min(last - first + 1, max(1, height))),
                              animate=False, immediate=True)

    def line_text(self, y: int) -> str:
        """The plain text of dump line ``y`` (for tests and copy)."""
        return "".join(seg.text for seg in self._line(y, Style(), Style(), Style()))

    def _line(self, y: int, base: Style, offset_style: Style, mark: Style) -> list[Segment]:
        n = self.per_line
        chunk = self.data[y * n:(y + 1) * n]
        lo, hi = self.span if self.span is not None else (-1, -1)
        segments = [Segment(f"{y * n:04x}  ", offset_style)]
        ascii_parts: list[Segment] = []
        for i, byte in enumerate(chunk):
            pos = y * n + i
            inside = lo <= pos < hi
            segments.append(Segment(f"{byte:02x}", mark if inside else base))
            if i + 1 < len(chunk):
                joined = inside and lo <= pos + 1 < hi
                segments.append(Segment(" ", mark if joined else base))
            if i == 7 and n == 16:
                segments.append(Segment(" ", base))
            ascii_parts.append(Segment(_printable(byte), mark if inside else base))
        k = len(chunk)
        full = n * 3 - 1 + (1 if n == 16 else 0)
        pad = full - (3 * k - 1 + (1 if n == 16 and k > 8 else 0))
        segments.append(Segment(" " * (pad + 2), base))
        return segments + ascii_parts

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        line = round(self.scroll_y) + y
        if line >= self._lines():
            return Strip.blank(width, base)
        offset_style = base + self.get_component_rich_style("hexview--offset", partial=True)
        mark = base + self.get_component_rich_style("hexview--highlight", partial=True)
        return Strip(self._line(line, base, offset_style, mark)).adjust_cell_length(width, base)


__all__ = ["HexView"]
