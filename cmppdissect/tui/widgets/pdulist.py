"""The PDU list: one line per PDU of a view, a million of them if need be."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.reactive import reactive
from textual.strip import Strip

from cmppdissect.protocol.commands import command_name, is_response
from cmppdissect.protocol.expert import Severity
from cmppdissect.tui import summary
from cmppdissect.tui.columns import Column, TimeMode, cell, format_ms, format_time
from cmppdissect.tui.model import NO_PAIR, CaptureModel
from cmppdissect.tui.views import RowSet
from cmppdissect.tui.widgets.rowlist import Cells, RowList

_SEVERITY_CLASS = {int(Severity.ERROR): "rowlist--error", int(Severity.WARN): "rowlist--warn"}

MARK = "●"  # before the frame number of a marked row (and its time on the ladder)
TEXT_WIDTH = 24  # the optional SMS text column


class PduList(RowList):
    """Rows of a :class:`~cmppdissect.tui.views.RowSet`, drawn from the model's columns.

    Number, time, direction, command and Sequence_Id come straight from the columns; the key
    fields and the result need a decode, done for visible rows only and kept in a small cache
    so moving the cursor does not decode again.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "mark", "Mark", show=False),
        Binding("x", "toggle_text", "SMS text", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {*RowList.COMPONENT_CLASSES, "pdulist--mark"}

    DEFAULT_CSS = """
    PduList {
        & > .pdulist--mark { background: $warning 25%; text-style: bold; }
        &:nocolor > .pdulist--mark { text-style: bold underline; }
    }
    """

    time_mode: reactive[TimeMode] = reactive(TimeMode.RELATIVE, repaint=False)
    # The SMS text of SUBMIT, DELIVER and FWD as a column (on the ladder: on the arrows).
    show_text: reactive[bool] = reactive(False, repaint=False)
    min_fill = 36

    def __init__(self, model: CaptureModel, view: RowSet, *, show_session: bool = True,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.view = view
        self.show_session = show_session
        self._decoded: LRUCache[int, tuple[str, tuple[int, str] | None, str]] = LRUCache(4096)

    # -- rows let go (the model calls these on the UI thread: see tui/model.py) ---------------

    def on_mount(self) -> None:
        self.model.add_holder(self)

    def on_unmount(self) -> None:
        self.model.remove_holder(self)

    def rows_releasing(self) -> None:
        """Remember the rows under the cursor and at the top, by number, before they move."""
        view, rows = self.view, len(self.view)
        top = round(self.scroll_y)
        self._held_rows = (self.current_row(), view[top] if 0 <= top < rows else None)

    def rows_released(self, k: int) -> None:
        """The rows below ``k`` went: the cursor stays on its row (the first row held when
        its own went), the top of the list too, and following goes on following."""
        row, top = getattr(self, "_held_rows", (None, None))
        self._held_rows = (None, None)
        self._decoded.clear()
        self._generation += 1
        self._cache.clear()
        view = self.view
        rows = self._rows = self.row_count()
        self._fit_virtual_size(force=True)
        if not rows:
            self.cursor = 0
        elif self.follow:
            self._to_end(rows)
        else:
            if top is not None:
                self.scroll_to(y=view.nearest(max(0, top - k)), animate=False)
            if row is not None:
                self.cursor = view.nearest(max(0, row - k))
        self.refresh()

    def set_view(self, view: RowSet, *, keep_row: bool = True) -> None:
        """Show ``view`` (a filter applied or cleared), keeping the cursor's row, or the
        newest row while following."""
        following = self.follow
        row = self.current_row() if keep_row else None
        self.view = view
        self.sync()
        if row is not None and len(view):
            self.move_to(view.nearest(row), center=True)
        else:
            self.move_to(0)
        self.follow = following

    def current_row(self) -> int | None:
        """The model row under the cursor, or None for an empty view."""
        if 0 <= self.cursor < len(self.view):
            return self.view[self.cursor]
        return None

    def watch_time_mode(self) -> None:
        self.forget_layout()  # the time column changes its title and width
        self.sync()

    def watch_show_text(self) -> None:
        self.forget_layout()  # a column comes or goes
        self.sync()

    def action_mark(self) -> None:
        """Mark the row under the cursor (or unmark it), then move on, as Wireshark's
        Ctrl+M (which a terminal reads as Enter, hence ``m``)."""
        row = self.current_row()
        if row is None:
            return
        self.model.toggle_mark(row)
        self.refresh()
        self.action_cursor(1)

    def action_toggle_text(self) -> None:
        self.show_text = not self.show_text
        self.notify(f"SMS text {'shown' if self.show_text else 'hidden'}", timeout=1.5,
                    markup=False)

    def mark_style(self, style: Style, row: int, selected: bool) -> Style:
        """``style`` with the mark's on top for a marked row (the cursor's wins)."""
        if selected or row not in self.model.marks:
            return style
        return style + self._style("pdulist--mark")

    def render_row(self, position: int, width: int, style: Style, *,
                   selected: bool = False) -> Strip:
        return super().render_row(position, width,
                                  self.mark_style(style, self.view[position], selected),
                                  selected=selected)

    def row_count(self) -> int:
        return len(self.view)

    def row_key(self, position: int) -> object:
        return (self.time_mode, self.view[position] in self.model.marks)

    def columns(self) -> list[Column]:
        """Command fits ``ACTIVE_TEST_RESP`` and Result ``8 flow control error``; what a user
        filters on (command, latency, result, the key fields) goes last, Pair and Time early:
        at 80 columns a row keeps number, direction, command, latency, result and key fields;
        Sequence_Id comes back at 90, the session at 100 (the rest by scrolling sideways)."""
        time_width = 15 if self.time_mode is TimeMode.ABSOLUTE else 12
        cols = [
            Column("no", "No.", 7, 0, right=True, frozen=True),
            Column("time", self.time_mode.title, time_width, 5, right=True),
            Column("dir", "", 1, 1),
            Column("cmd", "Command", 16, 1),
            Column("seq", "Seq", 10, 3, right=True),
            Column("lat", "Latency", 7, 2, right=True),
            Column("result", "Result", 20, 2),
            Column("pair", "Pair", 7, 6, right=True),
            # x asked for the SMS text: it takes the width left (the key fields go before it
            # at 80 columns, reached by scrolling sideways), so pressing x shows it at once.
            *([Column("text", "Text", 0, 0, fill=True),
               Column("info", "Info", TEXT_WIDTH, 3)] if self.show_text
              else [Column("info", "Info", 0, 0, fill=True)]),
            Column("len", "Len", 5, 7, right=True),
        ]
        if self.show_session:
            cols.insert(1, Column("sess", "Sess", 5, 4, right=True))
        return cols

    def decoded(self, row: int) -> tuple[str, tuple[int, str] | None, str]:
        """(key fields, result, SMS text) of a model row, decoded once."""
        hit = self._decoded.get(row)
        if hit is None:
            pdu = self.model.pdu(row)
            hit = (summary.info(pdu), summary.result(pdu), summary.sms_text(pdu))
            self._decoded[row] = hit
        return hit

    def _unanswered(self, row: int) -> bool:
        """A request that got no response (known once the capture is read to the end)."""
        m = self.model
        return m.pair[row] == NO_PAIR and not is_response(m.command_id[row]) \
            and m.progress.done

    def row_cells(self, position: int, layout: list[tuple[Column, int]]) -> Cells:
        m = self.model
        row = self.view[position]
        cells: Cells = []
        worst = m.severity[row]
        info_class = _SEVERITY_CLASS.get(worst, "")
        for column, _width in layout:
            key = column.key
            if key == "no":
                number = str(m.frame[row])
                if row in m.marks and len(number) < _width:
                    number = MARK + cell(number, _width - 1, right=True)
                cells.append((number, ""))
            elif key == "sess":
                cells.append((str(m.session[row]), "rowlist--dim"))
            elif key == "time":
                prev = m.ts_ns[self.view[position - 1]] if position else None
                cells.append((format_time(self.time_mode, m.ts_ns[row], m.first_ts_ns or 0,
                                          prev), ""))
            elif key == "dir":
                client = m.from_client(row)
                cells.append(("→" if client else "←",
                              "rowlist--client" if client else "rowlist--server"))
            elif key == "cmd":
                cells.append((summary.command_label(command_name(m.command_id[row])), ""))
            elif key == "seq":
                cells.append((str(m.sequence_id[row]), ""))
            elif key == "len":
                cells.append((str(m.length[row]), "rowlist--dim"))
            elif key == "lat":
                lat = m.latency(row)
                if lat is not None:
                    cells.append((format_ms(lat / 1e6), "rowlist--accent"))
                elif self._unanswered(row):  # as the ladder says it; Pair may be out of view
                    cells.append(("no resp", "rowlist--warn"))
                else:
                    cells.append(("", ""))
            elif key == "pair":
                frame = m.partner_frame(row) if m.paired(row) else None
                if frame is None:
                    cells.append(("none" if self._unanswered(row) else "", "rowlist--dim"))
                else:
                    cells.append((f"#{frame}", "rowlist--dim"))
            elif key == "result":
                res = self.decoded(row)[1]
                if res is None:
                    cells.append(("", ""))
                else:
                    code, name = res
                    cells.append((f"{code} {name}".strip() if code else "0",
                                  "rowlist--error" if code else ""))
            elif key == "text":
                cells.append((self.decoded(row)[2], ""))
            elif key == "info":
                cells.append((self.decoded(row)[0], info_class))
        return cells


__all__ = ["MARK", "TEXT_WIDTH", "PduList"]
