"""The Ladder: one session as a sequence diagram between the SP (client) and the gateway.

Each PDU is an arrow between the two lifelines; right of the server a lane line joins each
response to its request, and the response row ends with the latency (arrows and latency are
drawn by :mod:`cmppdissect.tui.ladder`, which also writes the ladder to a file). It is a
:class:`~cmppdissect.tui.widgets.pdulist.PduList` drawn differently, so cursor, Enter and the
pair jump behave the same on both screens.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from cmppdissect.protocol.commands import is_response
from cmppdissect.tui.columns import TimeMode, cell, format_time
from cmppdissect.tui.ladder import MAX_LANES, LaneLayout, arrow, arrow_label, response_note
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.views import SessionRows
from cmppdissect.tui.widgets.pdulist import MARK, PduList

_LAT_WIDTH = 9


class LadderView(PduList):
    scrolls_columns = False  # drawn as arrows, not columns: its width adapts instead

    def __init__(self, model: CaptureModel, view: SessionRows, *, id: str | None = None) -> None:
        super().__init__(model, view, show_session=False, id=id)
        self.lanes = LaneLayout(model, view)

    def _geometry(self, width: int) -> tuple[int, int, int]:
        time_width = 15 if self.time_mode is TimeMode.ABSOLUTE else 12
        x0 = time_width + 1
        x1 = max(x0 + 12, width - MAX_LANES * 2 - _LAT_WIDTH - 2)
        return time_width, x0, x1

    def render_header(self, width: int, style: Style) -> Strip:
        time_width, x0, x1 = self._geometry(width)
        info = self.model.session_info(getattr(self.view, "session", -1))
        client = f"SP {info.client}" if info else "SP"
        server = f"{info.server} ISMG" if info else "ISMG"
        span = x1 - x0 + 1
        middle = cell(client, max(1, span - len(server) - 1)) + " " + server
        text = cell(self.time_mode.title, time_width) + " " + cell(middle, span)
        return Strip([Segment(text, style)]).adjust_cell_length(width, style)

    def render_row(self, position: int, width: int, style: Style, *,
                   selected: bool = False) -> Strip:
        m = self.model
        row = self.view[position]
        time_width, x0, x1 = self._geometry(width)
        prev = m.ts_ns[self.view[position - 1]] if position else None
        when = format_time(self.time_mode, m.ts_ns[row], m.first_ts_ns or 0, prev)
        dim = self.cell_style(style, "rowlist--dim", selected)
        if row in m.marks:  # the mark's glyph where the time has room to spare
            time_cell = MARK + cell(when, time_width - 1, right=True)
        else:
            time_cell = cell(when, time_width, right=True)
        segments = [Segment(time_cell + " ", self.mark_style(style, row, selected)),
                    Segment("│", dim)]
        # the arrow
        client = m.from_client(row)
        cmd = m.command_id[row]
        res = self.decoded(row)[1] if is_response(cmd) else None
        text = self.decoded(row)[2] if self.show_text else None
        shaft = arrow(arrow_label(m, row, res, text), x1 - x0 - 1, client)
        klass = "rowlist--client" if client else "rowlist--server"
        if res is not None and res[0]:
            klass = "rowlist--error"
        segments.append(Segment(shaft, self.cell_style(style, klass, selected)))
        segments.append(Segment("│", dim))
        # the lanes
        top = round(self.scroll_y)
        bottom = top + self.page_rows
        gutter = [" "] * (MAX_LANES * 2)
        corner = None
        for link in self.lanes.links(top, bottom, self._generation):
            if link.start < position < link.end:
                gutter[link.lane * 2 + 1] = "│"
            elif position in (link.start, link.end):
                corner = link
        if corner is not None:
            col = corner.lane * 2 + 1
            for i in range(col):
                gutter[i] = "┼" if gutter[i] == "│" else "─"
            gutter[col] = "┐" if position == corner.start else "┘"
        accent = self.cell_style(style, "rowlist--accent", selected)
        segments.append(Segment("".join(gutter), accent))
        # the latency, on the response
        segments.append(Segment(" " + cell(response_note(m, row), _LAT_WIDTH, right=True),
                                accent))
        return Strip(segments).adjust_cell_length(width, style)


__all__ = ["LadderView"]
