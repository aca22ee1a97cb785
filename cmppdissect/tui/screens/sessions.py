"""The start screen: one row per CMPP link. Enter opens its PDUs, ``l`` its ladder, ``w``
saves its frames or its ladder."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from cmppdissect.tui.screens.base import CaptureScreen
from cmppdissect.tui.widgets.rowlist import RowList
from cmppdissect.tui.widgets.tables import SessionList


class SessionsScreen(CaptureScreen):
    screen_title = "Sessions"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "ladder", "Ladder", show=True),
        Binding("w", "save", "Save", show=True),
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

    def action_ladder(self) -> None:
        sid = self._selected()
        if sid is not None:
            self.capture_app.open_ladder(sid)

    def action_save(self) -> None:
        """Ask what to save: the session's frames, its ladder as text, the marked rows."""
        from cmppdissect.tui.screens.save import marked, session_frames, session_ladder

        sid = self._selected()
        m = self.model
        choices = [] if sid is None else [session_frames(m, sid), session_ladder(m, sid)]
        self.capture_app.open_save([*choices, marked(m)])
