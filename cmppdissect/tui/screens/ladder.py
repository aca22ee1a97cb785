"""Ladder: one session as a sequence diagram, responses joined to their requests."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.screens.base import CaptureScreen
from cmppdissect.tui.views import SessionRows
from cmppdissect.tui.widgets.ladderview import LadderView
from cmppdissect.tui.widgets.rowlist import RowList


class LadderScreen(CaptureScreen):
    screen_title = "Ladder"
    holds_rows = True  # the row it opens at

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "pair", "Req↔Resp", show=True),
        Binding("t", "time", "Time fmt", show=True),
        Binding("z", "stats", "Stats of session", show=True),
        Binding("w", "save", "Save", show=True),
        Binding("R", "report", "Report↔SUBMIT", show=False),
        Binding("J", "long_sms", "Long SMS", show=False),
        Binding("escape", "back", "Back", show=True),
    ]

    def __init__(self, model: CaptureModel, session: int, *, start_row: int | None = None):
        super().__init__(model)
        self.view = SessionRows(model, session)
        self.start_row = start_row

    def title_text(self) -> str:
        following = "  ·  following (A)" if self.is_mounted and self.ladder.follow else ""
        return f"Ladder  ·  {self.view.title}{following}"

    def compose(self) -> ComposeResult:
        yield from self.compose_title()
        yield LadderView(self.model, self.view, id="ladder")
        yield from self.compose_footer()

    @property
    def ladder(self) -> LadderView:
        return self.query_one("#ladder", LadderView)

    def on_mount(self) -> None:
        self.ladder.focus()
        self.ladder.follow = self.capture_app.source.live and self.start_row is None
        if self.start_row is not None:
            self.ladder.sync()
            self.ladder.move_to(self.view.nearest(self.start_row), center=True)

    def rows_released(self, k: int) -> None:
        if self.start_row is not None:
            self.start_row = max(0, self.start_row - k)

    def refresh_from_model(self) -> None:
        self.ladder.sync()

    def on_row_list_follow_changed(self, event: RowList.FollowChanged) -> None:
        self.set_title_text(self.title_text())

    def on_row_list_selected(self, event: RowList.Selected) -> None:
        event.stop()
        self.capture_app.open_detail(self.view, event.position)

    def action_pair(self) -> None:
        self.capture_app.jump_to_pair(self.ladder)

    def action_time(self) -> None:
        self.ladder.time_mode = self.ladder.time_mode.next

    def action_stats(self) -> None:
        self.capture_app.open_stats(self.view)
    def action_report(self) -> None:
        self.capture_app.jump_report(self.ladder.current_row(), self.ladder)

    def action_long_sms(self) -> None:
        self.capture_app.open_long_sms(self.ladder.current_row())

    def action_mark(self) -> None:
        self.ladder.action_mark()

    def action_toggle_text(self) -> None:
        self.ladder.action_toggle_text()

    def action_save(self) -> None:
        """Ask what to save: this ladder as text, the session's frames, the marked rows."""
        from cmppdissect.tui.screens.save import marked, session_frames, session_ladder

        m, sid = self.model, self.view.session
        self.capture_app.open_save([
            session_ladder(m, sid, time_mode=self.ladder.time_mode, sms=self.ladder.show_text),
            session_frames(m, sid), marked(m)])

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
