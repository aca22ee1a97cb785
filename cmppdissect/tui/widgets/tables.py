"""The Sessions list and the expert-findings list: virtual lists over model snapshots.

Either may hold tens of thousands of entries on a big capture (the engine keeps up to 20,000
sessions and 100,000 findings), so both use the same line-by-line list as the PDUs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rich.cells import cell_len
from textual import events

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


def _sort_value(s: SessionInfo, key: str) -> tuple[int, Any]:
    """A session's value in one column, for sorting: numbers as numbers, an unknown (no
    SUBMIT answered: no p50) after every known one in either direction."""
    value: Any = {
        "id": s.id, "client": s.client, "server": s.server, "sp": s.sp_id, "ver": s.version,
        "login": s.login, "dur": s.duration_s, "pdus": s.pdus, "tps": s.tps,
        "p50": s.submit_p50_ms, "p99": s.submit_p99_ms, "err": s.errors,
        "unans": s.unanswered, "ended": s.ended or "open",
    }[key]
    return (0, value) if value is not None else (1, 0)


def session_text(s: SessionInfo) -> str:
    """What the Sessions filter looks in: the words of the row, in lower case."""
    return " ".join(str(v) for v in (
        s.id, s.client, s.server, s.sp_id or "", s.version or "", s.login or "",
        s.ended or "open")).lower()


def order_sessions(sessions: Sequence[SessionInfo], key: str | None, descending: bool,
                   needle: str) -> list[int]:
    """Positions in ``sessions`` to show: those whose row contains ``needle`` (all when it is
    empty), sorted by column ``key`` (capture order when None; ties keep capture order)."""
    keep = [i for i, s in enumerate(sessions) if not needle or needle in session_text(s)]
    if key is None:
        return keep[::-1] if descending else keep
    known = [i for i in keep if _sort_value(sessions[i], key)[0] == 0]
    unknown = [i for i in keep if _sort_value(sessions[i], key)[0] == 1]
    known.sort(key=lambda i: _sort_value(sessions[i], key)[1], reverse=descending)
    return known + unknown


class SessionList(RowList):
    """A row per TCP link: who, which SP, how it went, how fast it was answered.

    Sortable by any column (``s`` picks the next, ``S`` turns the order round, a click on a
    title sorts by it) and filtered by the words of its rows, as sngrep's call list is. The
    order is worked out again only when the model publishes new sessions."""

    min_fill = 17

    def __init__(self, model: CaptureModel, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self._login_width = 6
        self.sort_key: str | None = None
        self.descending = False
        self.needle = ""
        self._order: list[int] = []
        self._order_of: tuple[object, ...] = ()

    def order(self) -> list[int]:
        sessions = self.model.sessions
        state = (sessions, self.sort_key, self.descending, self.needle)
        if self._order_of != state:
            self._order = order_sessions(sessions, self.sort_key, self.descending, self.needle)
            self._order_of = state
        return self._order

    def set_order(self, key: str | None, descending: bool, needle: str) -> None:
        """Sort by ``key`` and keep the rows containing ``needle``; the cursor stays on its
        session when that session is still shown."""
        current = self.session_at(self.cursor)
        self.sort_key, self.descending, self.needle = key, descending, needle.lower()
        self.forget_layout()  # the sorted column's title carries the arrow
        self.sync()
        order = self.order()
        sessions = self.model.sessions
        where = next((p for p, i in enumerate(order)
                      if current is not None and sessions[i].id == current.id), 0)
        self.move_to(where)

    def sort_keys(self) -> list[str]:
        return [c.key for c in self.columns()]

    def row_count(self) -> int:
        return len(self.order())

    def session_at(self, position: int) -> SessionInfo | None:
        order = self.order()
        return self.model.sessions[order[position]] if 0 <= position < len(order) else None

    def on_click(self, event: events.Click) -> None:
        """A click on a column's title sorts by it; a second click turns the order round."""
        if event.y != 0:
            return  # a row: RowList's own handler moves the cursor
        event.prevent_default()
        x = event.x + round(self.scroll_x)
        for column, width in self.column_layout(self.size.width
                                                - self.styles.scrollbar_size_vertical):
            if x < width:
                same = column.key == self.sort_key
                self.set_order(column.key, not self.descending if same else False, self.needle)
                return
            x -= width + 1

    def columns(self) -> list[Column]:
        """Who (client, SP id, version) and how it went (login, p50, errors, unanswered) go
        last: at 80 columns those stay, the server, duration and rates go first. Login is as
        wide as the longest result in the capture (``failed (3 authentication)``), so a
        capture where every login is ok does not give it 25 empty cells."""
        return self._mark_sorted([
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
        ])

    def _mark_sorted(self, columns: list[Column]) -> list[Column]:
        """The sorted column's title ends with ▲ or ▼ (Wireshark's and htop's sign)."""
        arrow = "▼" if self.descending else "▲"
        return [replace(c, title=f"{c.title}{arrow}") if c.key == self.sort_key else c
                for c in columns]

    def sync(self, *, changed: bool = True) -> None:
        width = max((cell_len(login_label(s.login)) for s in self.model.sessions
                     if s.login and s.login != "ok"), default=0)
        width = min(_LOGIN_MAX, max(len("Login▲"), width))  # its title, sorted
        if width != self._login_width:
            self._login_width = width
            self.forget_layout()
        super().sync(changed=changed)

    def row_cells(self, position: int, layout: list[tuple[Column, int]]) -> Cells:
        s = self.session_at(position)
        assert s is not None
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


__all__ = ["ExpertList", "SessionList", "login_label"]
