"""The start screen: one row per CMPP link. Enter opens its PDUs, ``l`` its ladder."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from cmppdissect.tui.screens.base import CaptureScreen
from cmppdissect.tui.views import SessionRows
from cmppdissect.tui.widgets.rowlist import RowList
from cmppdissect.tui.widgets.tables import SessionList


class SessionsScreen(CaptureScreen):
    screen_title = "Sessions"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "ladder", "Ladder", show=True),
        Binding("z", "stats", "Stats of session", show=True),
    ]

    def compose(self) -> ComposeResult:
        yield from self.compose_title()
        yield SessionList(self.model, id="sessions")
        yield from self.compose_footer()

    @property
    def sessions(self) -> SessionList:
        return self.query_one("#sessions", SessionList)

    def on_mount(self) -> None:
        self.sessions.focus()

    def refresh_from_model(self) -> None:
        self.sessions.sync()

    def _selected(self) -> int | None:
        info = self.sessions.session_at(self.sessions.cursor)
        return None if info is None else info.id

    def on_row_list_selected(self, event: RowList.Selected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        sid = self._selected()
        if sid is not None:
            self.capture_app.open_session(sid)

    def action_stats(self) -> None:
        sid = self._selected()
        if sid is not None:
            self.capture_app.open_stats(SessionRows(self.model, sid))

    def action_ladder(self) -> None:
        sid = self._selected()
        if sid is not None:
            self.capture_app.open_ladder(sid)
