"""The Sessions list and the expert-findings list: virtual lists over model snapshots.

Either may hold tens of thousands of entries on a big capture (the engine keeps up to 20,000
sessions and 100,000 findings), so both use the same line-by-line list as the PDUs.
"""

from __future__ import annotations

import re

from rich.cells import cell_len

from cmppdissect.engine import ExpertItem
from cmppdissect.output.sanitize import safe_text
from cmppdissect.protocol.expert import Severity
from cmppdissect.tui.columns import Column, format_duration, format_number
from cmppdissect.tui.model import CaptureModel, SessionInfo
from cmppdissect.tui.widgets.rowlist import Cells, RowList

_SEVERITY_CLASS = {Severity.ERROR: "rowlist--error", Severity.WARN: "rowlist--warn",
                   Severity.NOTE: "rowlist--note", Severity.CHAT: "rowlist--dim"}
_LOGIN_MAX = 25  # "failed (3 authentication)"; longer ones are cut, their code still shows
_FAILED = re.compile(r"failed \((\d+): (.*)\)", re.DOTALL)


def login_label(login: str | None) -> str:
    """The engine's ``failed (3: authentication error)`` as ``failed (3 authentication)``:
    the word "error" says nothing a failed login does not, and the column is narrow."""
    if not login:
        return "-"
    match = _FAILED.fullmatch(login)
    if match is not None:
        code, name = match.groups()
        login = f"failed ({code} {name.removesuffix(' error')})"
    return safe_text(login)


class SessionList(RowList):
    """A row per TCP link: who, which SP, how it went, how fast it was answered."""

    min_fill = 17

    def __init__(self, model: CaptureModel, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self._login_width = 5

    def row_count(self) -> int:
        return len(self.model.sessions)

    def session_at(self, position: int) -> SessionInfo | None:
        sessions = self.model.sessions
        return sessions[position] if 0 <= position < len(sessions) else None

    def columns(self) -> list[Column]:
        """Who (client, SP id, version) and how it went (login, p50, errors, unanswered) go
        last: at 80 columns those stay, the server, duration and rates go first. Login is as
        wide as the longest result in the capture (``failed (3 authentication)``), so a
        capture where every login is ok does not give it 25 empty cells."""
        return [
            Column("id", "Id", 3, 0, right=True, frozen=True),
            Column("client", "Client", 17, 1),
            Column("server", "Server", 0, 6, fill=True),
            Column("sp", "SP id", 7, 2),
            Column("ver", "Ver", 3, 1),
            Column("login", "Login", self._login_width, 1),
            Column("dur", "Duration", 8, 8, right=True),
            Column("pdus", "PDUs", 7, 4, right=True),
            Column("tps", "TPS", 7, 7, right=True),
            Column("p50", "p50 ms", 7, 3, right=True),
            Column("p99", "p99 ms", 7, 5, right=True),
            Column("err", "Err", 4, 2, right=True),
            Column("unans", "Unans", 5, 2, right=True),
            Column("ended", "Ended", 6, 9),
        ]

    def sync(self, *, changed: bool = True) -> None:
        width = max((cell_len(login_label(s.login)) for s in self.model.sessions
                     if s.login and s.login != "ok"), default=0)
        width = min(_LOGIN_MAX, max(5, width))
        if width != self._login_width:
            self._login_width = width
            self.forget_layout()
        super().sync(changed=changed)

    def row_cells(self, position: int, layout: list[tuple[Column, int]]) -> Cells:
        s = self.model.sessions[position]
        values = {
            "id": (str(s.id), ""),
            "client": (safe_text(s.client), "rowlist--client"),
            "server": (safe_text(s.server), "rowlist--server"),
            "sp": (safe_text(s.sp_id or "-"), ""),
            "ver": (s.version or "?", ""),
            "login": (login_label(s.login),
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
    """Findings in capture order; Enter jumps to the PDU of the selected one."""

    min_fill = 30

    def __init__(self, model: CaptureModel, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model

    def row_count(self) -> int:
        return self.model.expert_count

    def item(self, position: int) -> ExpertItem | None:
        if 0 <= position < self.model.expert_count:
            return self.model.expert[position]
        return None

    def columns(self) -> list[Column]:
        return [
            Column("sev", "Sev", 5, 0),
            Column("frame", "Frame", 7, 1, right=True),
            Column("sess", "Sess", 4, 3, right=True),
            Column("code", "Code", 18, 2),
            Column("msg", "Message", 0, 0, fill=True),
        ]

    def row_cells(self, position: int, layout: list[tuple[Column, int]]) -> Cells:
        e = self.model.expert[position]
        values = {
            "sev": (str(e.severity), _SEVERITY_CLASS.get(e.severity, "")),
            "frame": ("-" if e.frame is None else str(e.frame), ""),
            "sess": ("-" if e.session is None else str(e.session), "rowlist--dim"),
            "code": (safe_text(e.code), ""),
            "msg": (safe_text(e.message), ""),
        }
        return [values[c.key] for c, _w in layout]


__all__ = ["ExpertList", "SessionList", "login_label"]
