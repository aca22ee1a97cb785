"""Where the TUI's capture comes from: a file, or a live interface.

The app reads bytes through :class:`cmppdissect.api.Analysis` like everyone else; what it needs
on top is to say how far it got and to stop a source blocked on a quiet wire, so any object
with the :class:`CaptureSource` shape plugs in (a live capture reports captured/dropped
counters instead of a fraction).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO, Protocol

from cmppdissect.core.records import CaptureNote
from cmppdissect.sources.file import FileSource as _File


class CaptureSource(Protocol):
    name: str
    live: bool
    notes: list[CaptureNote]

    def chunks(self) -> Iterator[bytes]: ...

    @property
    def progress(self) -> float | None:
        """Fraction consumed (files), or None when there is no end to measure against."""
        ...

    def counters(self) -> tuple[tuple[str, int], ...]:
        """Named counters of the source itself for the status line, e.g. (("dropped", 0),)."""
        ...

    def stop(self) -> None:
        """End the reading soon, from another thread (a live capture blocks on a quiet wire;
        the app calls this when it quits)."""
        ...

    def close(self) -> None: ...


class FileSource(_File):
    """A pcap/pcapng file (gzip too). Opening it checks the header, so errors come early."""

    live = False

    def __init__(self, path: str | os.PathLike[str] | IO[bytes], *,
                 name: str | None = None) -> None:
        super().__init__(path, name=name)

    def counters(self) -> tuple[tuple[str, int], ...]:
        return ()

    def stop(self) -> None:
        """Nothing to do: reading a file never blocks for long, and the indexer checks its
        own stop flag between batches."""


__all__ = ["CaptureSource", "FileSource"]
