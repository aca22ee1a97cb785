"""A progress bar on stderr while a long file is read (only when stderr is a terminal).

The bar polls the reader's position each time Rich redraws it (from Rich's refresh thread), so
the read loop never calls into the bar: a capture with few CMPP PDUs among many other packets
still moves it, and the hot loop pays nothing for it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from cmppdissect.output.sanitize import safe_text

#: Files smaller than this are read before a bar would be worth drawing.
MIN_SIZE = 8 * 1024 * 1024


class _PolledProgress(Progress):
    """Rich's documented extension point: update the task just before each redraw."""

    def __init__(self, poll: Callable[[], None], *columns: Any, **kw: Any) -> None:
        self._poll = poll
        super().__init__(*columns, **kw)

    def get_renderables(self) -> Iterable[RenderableType]:
        self._poll()
        yield from super().get_renderables()


@contextmanager
def progress_bar(fraction: Callable[[], float | None], size: int | None, label: str,
                 stream: TextIO | None = None) -> Iterator[None]:
    """Show ``fraction()`` of ``size`` bytes as a transient bar on ``stream`` (stderr)."""
    stream = stream if stream is not None else sys.stderr
    if not size or size < MIN_SIZE or not stream.isatty():
        yield
        return
    task_id = None

    def poll() -> None:
        if task_id is not None:
            bar.update(task_id, completed=int((fraction() or 0.0) * size))

    bar = _PolledProgress(poll, TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                          TransferSpeedColumn(), TimeRemainingColumn(),
                          console=Console(file=stream), transient=True, refresh_per_second=5)
    with bar:
        # The description is Rich markup: the file name is escaped so it shows as typed.
        task_id = bar.add_task(escape(safe_text(label)), total=size)
        yield
