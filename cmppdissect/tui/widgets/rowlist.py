"""A virtual list: a header line and rows painted one line at a time (Textual's Line API).

Only the lines on screen are ever built, so a list of a million PDUs costs what a list of forty
does; each line is cached until the data under it changes (the model's generation), the
cursor moves onto or off it, or the list scrolls sideways. Subclasses say how many rows there
are and how one row reads.

Columns that do not fit are not lost: **left** / **right** scroll the list a column at a time
(:func:`~cmppdissect.tui.columns.scrolled`), and the header ends with a hint such as
``◀ ▶ 3 more columns`` whenever some are out of view.
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from cmppdissect.tui.columns import Column, Layout, cell, fit, scroll_limit, scrolled

Cells = list[tuple[str, str]]  # (text, component class or "") per column, already fitted

HINT_ROOM = 8  # the end of the header kept for "◀ ▶ +12" when some columns are out of view


class RowList(ScrollView, can_focus=True):
    """Cursor, paging and caching; subclasses implement :meth:`row_count` and :meth:`row_cells`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown,space", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
        Binding("left", "scroll_columns(-1)", "Columns left", show=False),
        Binding("right", "scroll_columns(1)", "Columns right", show=False),
        Binding("A", "toggle_follow", "Follow", show=False),
        Binding("enter", "select", "Open", show=True),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "rowlist--header", "rowlist--cursor", "rowlist--dim", "rowlist--error",
        "rowlist--warn", "rowlist--note", "rowlist--client", "rowlist--server", "rowlist--accent",
        "rowlist--hint",
    }

    DEFAULT_CSS = """
    RowList {
        overflow-x: hidden;
        overflow-y: scroll;
        background: $surface;
        scrollbar-size-vertical: 1;
        & > .rowlist--header { text-style: bold; background: $panel; color: $text; }
        & > .rowlist--cursor { background: $accent 40%; }
        &:focus > .rowlist--cursor { background: $accent; color: $text; }
        & > .rowlist--dim { color: $text-muted; }
        & > .rowlist--error { color: $error; text-style: bold; }
        & > .rowlist--warn { color: $warning; }
        & > .rowlist--note { color: $primary; }
        & > .rowlist--client { color: $success; }
        & > .rowlist--server { color: $secondary; }
        & > .rowlist--accent { color: $accent; }
        & > .rowlist--hint { color: $text-accent; text-style: bold; }
        &:nocolor > .rowlist--cursor { text-style: reverse; }
        &:nocolor > .rowlist--header { text-style: bold underline; }
        &:nocolor > .rowlist--error { text-style: bold; }
    }
    """

    cursor: reactive[int] = reactive(0, repaint=False, always_update=True)
    # Follow mode (sngrep's autoscroll): the cursor stays on the newest row as rows arrive.
    # Any move of the user's turns it off; End (or ``A``) turns it on.
    follow: reactive[bool] = reactive(False, repaint=False)

    class Highlighted(Message):
        """The cursor moved to ``position``."""

        def __init__(self, source: RowList, position: int) -> None:
            super().__init__()
            self.source = source
            self.position = position

    class FollowChanged(Message):
        """Follow mode went on or off (the screen says so in its title)."""

        def __init__(self, source: RowList, follow: bool) -> None:
            super().__init__()
            self.source = source
            self.follow = follow

    class Selected(Message):
        """Enter (or a double click) on ``position``."""

        def __init__(self, source: RowList, position: int) -> None:
            super().__init__()
            self.source = source
            self.position = position

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._cache: LRUCache[tuple[object, ...], Strip] = LRUCache(512)
        self._generation = 0
        self._rows = 0
        # Styles and the column layout, worked out once per paint rather than once per cell:
        # Textual computes a component style by walking the CSS, which costs more than the row.
        self._styles: dict[str, Style] = {}
        self._layouts: dict[tuple[int, int], Layout] = {}
        self._limits: dict[int, int] = {}
        # Sideways scroll, in columns (see columns.scrolled); what is shown is this clamped
        # to what the width allows, so a wider terminal simply shows more.
        self.column_offset = 0

    # -- to implement ---------------------------------------------------------------------

    min_fill = 16  # narrowest the free-text column may get before other columns go
    scrolls_columns: ClassVar[bool] = True  # False for lists not drawn from columns()

    def columns(self) -> list[Column]:
        raise NotImplementedError

    def row_count(self) -> int:
        raise NotImplementedError

    def row_cells(self, position: int, layout: list[tuple[Column, int]]) -> Cells:
        raise NotImplementedError

    def row_key(self, position: int) -> object:
        """Anything besides position and width that changes how a row reads."""
        return None

    # -- state ----------------------------------------------------------------------------

    def sync(self, *, changed: bool = True) -> None:
        """Pick up new rows or changed data (called by the screen on every model update)."""
        rows = self.row_count()
        if changed:
            self._generation += 1
            self._cache.clear()
        self._rows = rows
        self._fit_virtual_size(force=self.follow)
        if rows and (self.cursor >= rows or (self.follow and self.cursor != rows - 1)):
            self._to_end(rows)
        self.refresh()

    def _to_end(self, rows: int) -> None:
        """Cursor on the last row, scrolled into view, follow mode left as it is."""
        self.scroll_to(y=max(0, rows - self.page_rows), animate=False)
        self.cursor = rows - 1

    def watch_follow(self, follow: bool) -> None:
        if follow:
            rows = self._rows = self.row_count()
            if rows:
                self._fit_virtual_size(force=True)
                self._to_end(rows)
        self.post_message(self.FollowChanged(self, follow))

    def _fit_virtual_size(self, *, force: bool = False) -> None:
        """Tell the scroll bars how many rows there are, but not on every growth.

        A new virtual size makes Textual lay out the whole screen again, which costs more than
        painting the list. While indexing adds rows a few times a second, the size is updated
        only when the view nears its end, shrank, or grew by a tenth; a jump past it forces it.
        """
        rows = self._rows
        known = self.virtual_size.height - 1
        near_end = round(self.scroll_y) + 2 * self.page_rows >= known
        due = force or rows < known or near_end or rows > known + max(1000, known // 10)
        if due and (rows != known or self.virtual_size.width != self.size.width):
            self.virtual_size = Size(self.size.width, rows + 1)

    def on_mount(self) -> None:
        self.sync()

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, self._rows + 1)
        self.forget_layout()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.forget_layout()

    def on_focus(self) -> None:
        self.forget_layout()  # :focus changes the cursor style

    def on_blur(self) -> None:
        self.forget_layout()

    def forget_layout(self) -> None:
        """Drop cached lines, styles and column layouts (size, style or columns changed)."""
        self._cache.clear()
        self._styles.clear()
        self._layouts.clear()
        self._limits.clear()
        self.refresh()

    @property
    def page_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self, new))

    def _scroll_to_cursor(self) -> None:
        top = round(self.scroll_y)
        page = self.page_rows
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + page:
            self.scroll_to(y=self.cursor - page + 1, animate=False)

    def move_to(self, position: int, *, center: bool = False) -> None:
        """Put the cursor on ``position`` (a move of the user's: it ends follow mode)."""
        self.follow = False
        rows = self.row_count()
        if not rows:
            return
        if position >= self.virtual_size.height - 1 - self.page_rows:
            self._rows = rows
            self._fit_virtual_size(force=True)
        position = max(0, min(position, rows - 1))
        if center:
            self.scroll_to(y=max(0, position - self.page_rows // 2), animate=False)
        self.cursor = position

    # -- actions --------------------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.follow = False
        rows = self.row_count()
        if not rows:
            return
        page = self.page_rows
        if self.cursor + 2 * page >= self.virtual_size.height - 1:
            self._rows = rows
            self._fit_virtual_size(force=True)
        target = max(0, min(self.cursor + direction * page, rows - 1))
        self.scroll_to(y=max(0, round(self.scroll_y) + direction * page), animate=False)
        self.cursor = target

    def action_jump(self, where: int) -> None:
        """Home: the first row. End: the last row, and follow mode on (as sngrep's autoscroll:
        the list keeps to the newest row while a capture grows)."""
        rows = self.row_count()
        if rows:
            self.move_to(rows - 1 if where < 0 else where)
        if where < 0:
            self.follow = True

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow

    def action_scroll_columns(self, delta: int) -> None:
        """Scroll sideways to the next view that differs (see
        :func:`~cmppdissect.tui.columns.scrolled`): a step whose left edge is a column already
        shown, with nothing left of it, would change nothing on screen."""
        width = self.content_width
        limit = self.column_limit(width)

        def keys(offset: int) -> list[str]:
            return [c.key for c, _w in self.layout_at(width, offset)]

        offset = self.shown_offset(width)
        shown = keys(offset)
        while 0 <= offset + delta <= limit:
            offset += delta
            if keys(offset) != shown:
                # Going left, on to the first offset of that view (which may be 0).
                while delta < 0 and offset > 0 and keys(offset - 1) == keys(offset):
                    offset -= 1
                self.column_offset = offset
                self.refresh()
                return

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A list that draws no columns leaves left/right to the screen.
        return self.scrolls_columns or action != "scroll_columns"

    def on_mouse_scroll_right(self, event: events.MouseScrollRight) -> None:
        event.stop()
        self.action_scroll_columns(1)

    def on_mouse_scroll_left(self, event: events.MouseScrollLeft) -> None:
        event.stop()
        self.action_scroll_columns(-1)

    def action_select(self) -> None:
        if self.row_count():
            self.post_message(self.Selected(self, self.cursor))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.follow = False  # reading back: the next row would pull the view down again

    def on_click(self, event: events.Click) -> None:
        position = round(self.scroll_y) + event.y - 1
        if event.y >= 1 and 0 <= position < self.row_count():
            self.follow = False
            self.cursor = position
            if event.chain >= 2:
                self.action_select()

    # -- painting -------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            if name == "":
                style = Style()
            elif name == "base":
                style = self.rich_style
            else:
                style = self.get_component_rich_style(name, partial=True)
            self._styles[name] = style
        return style

    def cell_style(self, style: Style, klass: str, selected: bool) -> Style:
        """``style`` with a cell class on top; on the cursor row only the class's emphasis
        (bold, italic, underline), never its colours, which may be the cursor's own."""
        if not klass:
            return style
        if not selected:
            return style + self._style(klass)
        key = f"{klass}:emphasis"
        emphasis = self._styles.get(key)
        if emphasis is None:
            full = self._style(klass)
            emphasis = self._styles[key] = Style(bold=full.bold, italic=full.italic,
                                                 underline=full.underline)
        return style + emphasis

    @property
    def content_width(self) -> int:
        """Cells a line has: the widget less its vertical scrollbar."""
        return self.size.width - self.styles.scrollbar_size_vertical

    def _min_fill(self, width: int) -> int:
        return min(self.min_fill, width // 4)

    def column_limit(self, width: int) -> int:
        """How many steps right the list can scroll at ``width`` (0: every column fits)."""
        if not self.scrolls_columns:
            return 0
        limit = self._limits.get(width)
        if limit is None:
            columns, min_fill = self.columns(), self._min_fill(width)
            if len(fit(columns, width, min_fill=min_fill)) == len(columns):
                limit = 0
            else:
                limit = scroll_limit(columns, width - HINT_ROOM,
                                     min_fill=max(1, min_fill - HINT_ROOM))
            self._limits[width] = limit
        return limit

    def shown_offset(self, width: int) -> int:
        """The sideways scroll in effect at ``width``."""
        return min(self.column_offset, self.column_limit(width))

    def column_layout(self, width: int) -> Layout:
        """The columns shown at ``width`` and the current sideways scroll."""
        return self.layout_at(width, self.shown_offset(width))

    def layout_at(self, width: int, offset: int) -> Layout:
        """The columns shown at ``width`` scrolled ``offset`` steps.

        When some do not fit, the last ``HINT_ROOM`` cells are the hint's, so it never covers
        a title: the columns fit the rest, and a free-text column that ends the line takes
        those cells back on the rows (its title is short and leaves room)."""
        layout = self._layouts.get((width, offset))
        if layout is None:
            columns, min_fill = self.columns(), self._min_fill(width)
            if not self.column_limit(width):
                layout = fit(columns, width, min_fill=min_fill)
            else:
                layout = scrolled(columns, width - HINT_ROOM, offset,
                                  min_fill=max(1, min_fill - HINT_ROOM))
                if layout and layout[-1][0].fill:
                    last, w = layout[-1]
                    layout[-1] = (last, w + HINT_ROOM)
            self._layouts[(width, offset)] = layout
        return layout

    def column_hint(self, width: int) -> list[str]:
        """What the header says of the columns out of view, longest wording first; none when
        every column is shown."""
        limit = self.column_limit(width)
        if not limit:
            return []
        offset = self.shown_offset(width)
        hidden = len(self.columns()) - len(self.column_layout(width))
        arrows = " ".join(a for a, on in (("◀", offset > 0), ("▶", offset < limit)) if on)
        more = f"{hidden} more column{'s' if hidden != 1 else ''}"
        return [f"{arrows} {more}", f"{arrows} +{hidden}"] if hidden else [arrows]

    def render_line(self, y: int) -> Strip:
        width = self.content_width
        base = self._style("base")
        offset = self.shown_offset(width)
        if y == 0:
            key: tuple[object, ...] = ("header", width, offset, self._generation)
            strip = self._cache.get(key)
            if strip is None:
                strip = self.render_header(width, base + self._style("rowlist--header"))
                self._cache[key] = strip
            return strip
        position = round(self.scroll_y) + y - 1
        if position >= self.row_count():
            return Strip.blank(width, base)
        selected = position == self.cursor
        key = (position, width, offset, selected, self._generation, self.row_key(position))
        strip = self._cache.get(key)
        if strip is None:
            style = base + self._style("rowlist--cursor") if selected else base
            strip = self.render_row(position, width, style, selected=selected)
            self._cache[key] = strip
        return strip

    def render_header(self, width: int, style: Style) -> Strip:
        """Column titles, and at the right end the hint of columns out of view: in the blank
        after the last title when it fits there, over the last titles when it does not."""
        layout = self.column_layout(width)
        titles = " ".join(cell(c.title, w, right=c.right) for c, w in layout)
        hints = self.column_hint(width)
        if not hints:
            return Strip([Segment(set_cell_size(titles, width), style)], width)
        used = cell_len(titles.rstrip())
        hint = next((h for h in hints if used + 1 + cell_len(h) <= width), hints[-1])
        room = max(0, width - cell_len(hint) - 1)
        return Strip([Segment(set_cell_size(titles, room) + " ", style),
                      Segment(set_cell_size(hint, width - room - 1),
                              style + self._style("rowlist--hint"))], width)

    def render_row(self, position: int, width: int, style: Style, *,
                   selected: bool = False) -> Strip:
        layout = self.column_layout(width)
        return self._strip(self.row_cells(position, layout), layout, width, style,
                           selected=selected)

    def _strip(self, cells: Cells, layout: list[tuple[Column, int]], width: int,
               style: Style, *, selected: bool = False) -> Strip:
        """Cells are cut to their exact widths, so the line length is known without measuring.

        On the cursor row every cell takes the cursor's colours (:meth:`cell_style`): a cell
        coloured like the cursor (latency in the accent colour on the accent cursor, grey on
        grey with NO_COLOR) would vanish from the row the user looks at."""
        segments: list[Segment] = []
        used = 0
        for i, ((text, klass), (column, w)) in enumerate(zip(cells, layout, strict=False)):
            if i:
                segments.append(Segment(" ", style))
                used += 1
            seg_style = self.cell_style(style, klass, selected)
            segments.append(Segment(cell(text, w, right=column.right), seg_style))
            used += w
        if used < width:
            segments.append(Segment(" " * (width - used), style))
        elif used > width:
            return Strip(segments).crop(0, width)
        return Strip(segments, width)


__all__ = ["Cells", "RowList"]
