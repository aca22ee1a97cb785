"""What every screen of the app shares: a title line, the status line, the footer.

The app calls :meth:`CaptureScreen.model_changed` on the active screen whenever the model
publishes (a few times a second while indexing); screens redraw from the model then, and
catch up when they come back to the top of the stack.

While a file is being indexed, a screen redraws from the model at most every
``INDEXING_REDRAW_S``: a redraw holds the GIL the indexer thread needs, and at every publish the
redraws cost the indexing a quarter of its time (bench/bench_engine.py). A live capture, the
first rows, a pause and the end of the file redraw at once.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from cmppdissect.output.sanitize import safe_text
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.widgets.footer import KeysFooter
from cmppdissect.tui.widgets.status import StatusLine

if TYPE_CHECKING:
    from cmppdissect.tui.app import CmppApp


INDEXING_REDRAW_S = 0.5


class CaptureScreen(Screen[None]):
    DEFAULT_CSS = """
    CaptureScreen {
        layout: vertical;
        & > #title { height: 1; background: $primary-background; color: $text;
                     text-style: bold; padding: 0 1; }
        &:nocolor > #title { text-style: bold reverse; }
    }
    """

    screen_title = ""
    # A screen that holds model rows by number is told when the oldest go (tui/model.py).
    holds_rows = False

    def __init__(self, model: CaptureModel, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.model = model
        if self.holds_rows:
            model.add_holder(self)
        self._seen_generation = -1
        self._redrawn_at = 0.0
        self._redrawn_rows = 0  # rows the last redraw showed (the first rows redraw at once)
        self._ready = False  # composed and mounted: the app's timer may fire before that

    @property
    def capture_app(self) -> CmppApp:
        from cmppdissect.tui.app import CmppApp

        app = self.app
        assert isinstance(app, CmppApp)
        return app

    def compose_title(self) -> ComposeResult:
        yield Static(Text(self.title_text(), no_wrap=True, overflow="ellipsis"), id="title")

    def compose_footer(self) -> ComposeResult:
        yield StatusLine(self.model, counters=self.capture_app.source.counters, id="status")
        yield KeysFooter()

    def title_text(self) -> str:
        name = self.model.name
        return f"{self.screen_title}  ·  {safe_text(name)}" if name else self.screen_title

    def set_title_text(self, text: str) -> None:
        if text == getattr(self, "_title_shown", None):
            return  # Static.update re-lays the screen out: only when the words changed
        self._title_shown = text
        self.query_one("#title", Static).update(Text(text, no_wrap=True, overflow="ellipsis"))

    def on_mount(self) -> None:
        self._ready = True

    def on_unmount(self) -> None:
        self.model.remove_holder(self)

    def rows_releasing(self) -> None:
        """Rows are about to go (still numbered as before): screens that hold rows override."""

    def rows_released(self, k: int) -> None:
        """The rows below ``k`` went and the rest are ``k`` lower."""

    def model_changed(self) -> None:
        """Redraw from the model; cheap when nothing changed since the last call."""
        generation = self.model.generation
        if not self._ready:
            return
        if generation == self._seen_generation:
            progress = self.model.progress
            if progress.live and not progress.done:  # captured/dropped move on a quiet wire
                for status in self.query(StatusLine):
                    status.update_from()
            return
        progress = self.model.progress
        now = time.monotonic()
        if (self._redrawn_rows and not progress.done and not progress.live
                and not progress.paused and now - self._redrawn_at < INDEXING_REDRAW_S):
            return  # a file being indexed: the next tick after the interval catches up
        self._redrawn_at = now
        self._redrawn_rows = self.model.count
        self._seen_generation = generation
        self.refresh_from_model()
        for status in self.query(StatusLine):
            status.update_from()

    def refresh_from_model(self) -> None:
        """Screens override this to pull what they show."""

    def on_screen_resume(self) -> None:
        self.model_changed()


__all__ = ["CaptureScreen"]
