"""Where the TUI's segments come from: a capture file now, a live interface later.

The app only needs to iterate :class:`~cmppdissect.core.records.TcpSegment` records and to
say how far it got, so any object with the :class:`SegmentSource` shape plugs in; a live
sniffer reports captured/dropped counters instead of a fraction.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO, Protocol

from cmppdissect.capture.pcapsource import PcapSource
from cmppdissect.core.records import CaptureNote, TcpSegment


class SegmentSource(Protocol):
    name: str
    live: bool
    notes: list[CaptureNote]

    def __iter__(self) -> Iterator[TcpSegment]: ...

    @property
    def progress(self) -> float | None:
        """Fraction consumed (files), or None when there is no end to measure against."""
        ...

    def counters(self) -> tuple[tuple[str, int], ...]:
        """Named counters for the status line, e.g. (("frames", 10), ("dropped", 0))."""
        ...

    def stop(self) -> None:
        """End the iteration soon, from another thread (a live capture blocks on a quiet
        wire; the app calls this when it quits)."""
        ...

    def close(self) -> None: ...


class FileSource:
    """A pcap/pcapng file (gzip too). Opening it checks the header, so errors come early."""

    live = False

    def __init__(self, path: str | os.PathLike[str] | IO[bytes]) -> None:
        self.notes: list[CaptureNote] = []
        self._pcap = PcapSource(path, notes=self.notes)
        self.name = self._pcap.name

    def __iter__(self) -> Iterator[TcpSegment]:
        return iter(self._pcap)

    @property
    def progress(self) -> float | None:
        return self._pcap.progress

    def counters(self) -> tuple[tuple[str, int], ...]:
        return (("frames", self._pcap.stats.frames),)

    def stop(self) -> None:
        """Nothing to do: reading a file never blocks for long, and the indexer checks its
        own stop flag between batches."""

    def close(self) -> None:
        self._pcap.close()


__all__ = ["FileSource", "SegmentSource"]
