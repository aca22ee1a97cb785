"""The start screen: one row per CMPP link. Enter opens its PDUs, ``l`` its ladder, ``z`` its
statistics, ``w`` saves its frames or its ladder; ``s``/``S`` sort by any column and ``f``
keeps the rows containing some text."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input

from cmppdissect.output.sanitize import safe_text
from cmppdissect.tui.columns import format_count
from cmppdissect.tui.screens.base import CaptureScreen
from cmppdissect.tui.views import SessionRows
from cmppdissect.tui.widgets.rowlist import RowList
from cmppdissect.tui.widgets.tables import SessionList


class SessionsScreen(CaptureScreen):
    screen_title = "Sessions"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "ladder", "Ladder", show=True),
        Binding("z", "stats", "Stats of session", show=True),
        Binding("s", "sort(1)", "Sort", show=True),
        Binding("S", "reverse", "Reverse", show=False),
        Binding("f", "filter", "Filter", show=True),
        Binding("escape", "close_filter", "Back", show=False),
        Binding("w", "save", "Save", show=True),
    ]

    DEFAULT_CSS = """
    SessionsScreen {
        & > #session-filter { display: none; height: 3; border: tall $secondary; }
        & > #session-filter.-shown { display: block; }
    }
    """

    def compose(self) -> ComposeResult:
        yield from self.compose_title()
        yield Input(placeholder="show the sessions whose row contains this text "
                                "(address, SP id, login, ...); empty shows all",
                    id="session-filter")
        yield SessionList(self.model, id="sessions")
        yield from self.compose_footer()

    @property
    def sessions(self) -> SessionList:
        return self.query_one("#sessions", SessionList)

    def title_text(self) -> str:
        """Sessions, and when sorted or filtered: by what, and how many of them are shown."""
        text = super().title_text()
        if not self.is_mounted:
            return text
        sessions = self.sessions
        if sessions.needle:
            text += (f"  ·  {format_count(sessions.row_count())} of "
                     f"{format_count(len(self.model.sessions))} contain "
                     f"“{safe_text(sessions.needle)}”")
        if sessions.sort_key is not None:
            title = next((c.title for c in sessions.columns() if c.key == sessions.sort_key),
                         sessions.sort_key)
            text += f"  ·  sorted by {title}"
        return text

    def on_mount(self) -> None:
        self.sessions.focus()

    def refresh_from_model(self) -> None:
        self.sessions.sync()
        self.set_title_text(self.title_text())

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

    # -- sort and filter ------------------------------------------------------------------

    def action_sort(self, step: int) -> None:
        """The next column to sort by (capture order after the last one)."""
        sessions = self.sessions
        keys: list[str | None] = [None, *sessions.sort_keys()]
        now = keys.index(sessions.sort_key) if sessions.sort_key in keys else 0
        key = keys[(now + step) % len(keys)]
        sessions.set_order(key, False, sessions.needle)
        self.set_title_text(self.title_text())

    def action_reverse(self) -> None:
        sessions = self.sessions
        sessions.set_order(sessions.sort_key, not sessions.descending, sessions.needle)
        self.set_title_text(self.title_text())

    def on_click(self) -> None:
        self.set_title_text(self.title_text())  # a click on a column title sorted the list

    def action_filter(self) -> None:
        box = self.query_one("#session-filter", Input)
        box.set_class(True, "-shown")
        box.focus()

    @on(Input.Submitted, "#session-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#session-filter", Input).set_class(False, "-shown")
        sessions = self.sessions
        sessions.set_order(sessions.sort_key, sessions.descending, event.value.strip())
        sessions.focus()
        self.set_title_text(self.title_text())

    def action_close_filter(self) -> None:
        box = self.query_one("#session-filter", Input)
        if box.has_focus:
            box.set_class(False, "-shown")
            self.sessions.focus()
        elif len(self.app.screen_stack) > 1:
            self.app.pop_screen()
    def action_save(self) -> None:
        """Ask what to save: the session's frames, its ladder as text, the marked rows."""
        from cmppdissect.tui.screens.save import marked, session_frames, session_ladder

        sid = self._selected()
        m = self.model
        choices = [] if sid is None else [session_frames(m, sid), session_ladder(m, sid)]
        self.capture_app.open_save([*choices, marked(m)])
