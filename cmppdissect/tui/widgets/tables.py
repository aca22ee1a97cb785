"""The Sessions list and the expert-findings list: virtual lists over model snapshots.

Either may hold tens of thousands of entries on a big capture (the engine keeps up to 20,000
sessions and 100,000 findings), so both use the same line-by-line list as the PDUs.
"""

from __future__ import annotations

from cmppdissect.engine import ExpertItem
from cmppdissect.output.sanitize import safe_text
from cmppdissect.protocol.expert import Severity
from cmppdissect.tui.columns import Column, format_duration, format_number
from cmppdissect.tui.model import CaptureModel, SessionInfo
from cmppdissect.tui.widgets.rowlist import Cells, RowList

_SEVERITY_CLASS = {Severity.ERROR: "rowlist--error", Severity.WARN: "rowlist--warn",
                   Severity.NOTE: "rowlist--note", Severity.CHAT: "rowlist--dim"}


class SessionList(RowList):
    """A row per TCP link: who, which SP, how it went, how fast it was answered."""

    min_fill = 17

    def __init__(self, model: CaptureModel, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model

    def row_count(self) -> int:
        return len(self.model.sessions)

    def session_at(self, position: int) -> SessionInfo | None:
        sessions = self.model.sessions
        return sessions[position] if 0 <= position < len(sessions) else None

    def columns(self) -> list[Column]:
        return [
            Column("id", "Id", 3, 0, right=True),
            Column("client", "Client", 17, 1),
            Column("server", "Server", 0, 6, fill=True),
            Column("sp", "SP id", 7, 2),
            Column("ver", "Ver", 3, 6),
            Column("login", "Login", 10, 9),
            Column("dur", "Duration", 8, 10, right=True),
            Column("pdus", "PDUs", 7, 0, right=True),
            Column("tps", "TPS", 7, 7, right=True),
            Column("p50", "p50 ms", 7, 4, right=True),
            Column("p99", "p99 ms", 7, 5, right=True),
            Column("err", "Err", 4, 2, right=True),
            Column("unans", "Unans", 5, 3, right=True),
            Column("ended", "Ended", 6, 11),
        ]

    def row_cells(self, position: int, layout: list[tuple[Column, int]]) -> Cells:
        s = self.model.sessions[position]
        values = {
            "id": (str(s.id), ""),
            "client": (safe_text(s.client), "rowlist--client"),
            "server": (safe_text(s.server), "rowlist--server"),
            "sp": (safe_text(s.sp_id or "-"), ""),
            "ver": (s.version or "?", ""),
            "login": (safe_text(s.login or "-"),
                      "rowlist--error" if s.login and s.login != "ok" else ""),
            "dur": (format_duration(s.duration_s), "rowlist--dim"),
            "pdus": (f"{s.pdus:,}", ""),
            "tps": (f"{s.tps:.1f}", ""),
            "p50": (format_number(s.submit_p50_ms), "rowlist--accent"),
            "p99": (format_number(s.submit_p99_ms), "rowlist--accent"),
            "err": (str(s.errors), "rowlist--error" if s.errors else "rowlist--dim"),
            "unans": (str(s.unanswered), "rowlist--warn" if s.unanswered else "rowlist--dim"),
            "ended": (s.ended or "open", "rowlist--dim"),
        }
        return [values[c.key] for c, _w in layout]


class ExpertList(RowList):
    """Findings in capture order; Enter jumps to the PDU of the selected one.

    Scoped statistics show only the findings of their scope: :meth:`set_positions` gives
    the positions (in the model's list) to show, worked out by the screen's worker."""

    min_fill = 30

    def __init__(self, model: CaptureModel, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.positions: list[int] | None = None

    def set_positions(self, positions: list[int] | None) -> None:
        self.positions = positions
        self.sync()

    def row_count(self) -> int:
        if self.positions is not None:
            return len(self.positions)
        return self.model.expert_count

    def item(self, position: int) -> ExpertItem | None:
        if not 0 <= position < self.row_count():
            return None
        if self.positions is not None:
            position = self.positions[position]
        return self.model.expert[position]

    def columns(self) -> list[Column]:
        return [
            Column("sev", "Sev", 5, 0),
            Column("frame", "Frame", 7, 1, right=True),
            Column("sess", "Sess", 4, 3, right=True),
            Column("code", "Code", 18, 2),
            Column("msg", "Message", 0, 0, fill=True),
        ]

    def row_cells(self, position: int, layout: list[tuple[Column, int]]) -> Cells:
        e = self.item(position)
        assert e is not None
        values = {
            "sev": (str(e.severity), _SEVERITY_CLASS.get(e.severity, "")),
            "frame": ("-" if e.frame is None else str(e.frame), ""),
            "sess": ("-" if e.session is None else str(e.session), "rowlist--dim"),
            "code": (safe_text(e.code), ""),
            "msg": (safe_text(e.message), ""),
        }
        return [values[c.key] for c, _w in layout]


__all__ = ["ExpertList", "SessionList"]
