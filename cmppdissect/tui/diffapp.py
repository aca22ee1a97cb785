"""``cmppdissect diff A B`` in a terminal: :func:`cmppdissect.compare` worked out in a worker
thread, shown by :class:`~cmppdissect.tui.screens.diff.DiffScreen`.

The captures are opened before the app starts (a missing or foreign file is one line and exit
status 2, as when the output is piped); a capture that fails while it is read ends the app
with status 2 and that one line on stderr. Quitting while they are read closes them, which
ends the reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from textual.app import App
from textual.worker import Worker, WorkerState

from cmppdissect.api import ByteSource, compare
from cmppdissect.tui.screens.diff import DiffScreen

__all__ = ["DiffApp"]


class DiffApp(App[int]):
    CSS_PATH = Path(__file__).parent / "cmppdissect.tcss"
    TITLE = "cmppdissect diff"

    def __init__(self, sources: Sequence[ByteSource], names: tuple[str, str],
                 settings: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.sources = list(sources)
        self.names = names
        self.settings = dict(settings or {})
        self.result: dict[str, Any] | None = None
        self.error: str | None = None  # why the comparison could not be made (one line)
        self.diff_screen = DiffScreen(names)

    def on_mount(self) -> None:
        self.push_screen(self.diff_screen)
        self.run_worker(self._compare, thread=True, group="compare", name="compare",
                        exit_on_error=False)
        self.set_interval(0.2, self._progress)

    def _compare(self) -> dict[str, Any]:
        a, b = self.sources
        return compare(a, b, **self.settings)

    def _progress(self) -> None:
        if self.result is not None or self.error is not None:
            return
        done = []
        for side, source in zip("AB", self.sources, strict=True):
            fraction = getattr(source, "progress", None)
            done.append(f"{side} {fraction:.0%}" if isinstance(fraction, float) else side)
        self.diff_screen.say("reading " + " and ".join(done) + "…")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "compare":
            return
        if event.state is WorkerState.SUCCESS:
            result = event.worker.result
            assert isinstance(result, dict)
            self.result = result
            self.diff_screen.show(result)
        elif event.state is WorkerState.ERROR and self.error is None and self.is_running:
            exc = event.worker.error
            self.error = f"{exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
            self.exit(2)

    async def action_quit(self) -> None:
        self.close_sources()
        self.exit(0)

    def close_sources(self) -> None:
        """End a reading still going on (the worker's next read fails, and is ignored)."""
        if self.result is None and self.error is None:
            self.error = ""  # quitting: not a failure
        for source in self.sources:
            source.close()
