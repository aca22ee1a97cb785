"""TCP segments of a capture file, one record at a time (for tests and tools).

The analysis feeds capture bytes to the compiled core directly; this module wraps the same
core reader (:class:`cmppdissect.core.CaptureReader`) for code that wants to look at the
segments themselves as :class:`~cmppdissect.core.records.TcpSegment` records.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from cmppdissect.core import CaptureReader, SegmentList
from cmppdissect.core.records import CaptureFormatError, CaptureNote, TcpSegment
from cmppdissect.sources.file import FileSource

__all__ = ["CaptureFormatError", "CaptureNote", "PcapSource", "SourceStats", "iter_segments"]


@dataclass(slots=True)
class SourceStats:
    """Counters of a :class:`PcapSource` (exact once iteration ends)."""

    file_size: int | None = None
    bytes_read: int = 0
    frames: int = 0
    tcp_segments: int = 0
    non_tcp: int = 0
    malformed: int = 0
    truncated_frames: int = 0
    unsupported_link: int = 0
    ip_fragments: int = 0
    reassembled: int = 0


class PcapSource:
    """A capture opened for streaming its TCP segments (raises CaptureFormatError at once)."""

    def __init__(self, source: str | os.PathLike[str] | IO[bytes], *,
                 notes: list[CaptureNote] | None = None) -> None:
        self.notes: list[CaptureNote] = notes if notes is not None else []
        self._file = FileSource(source, notes=self.notes)
        self.name = self._file.name
        self.format = self._file.format
        self._sink = SegmentList()
        self._reader = CaptureReader(self._sink, self.notes)
        self.stats = SourceStats(file_size=self._file.file_size)

    def __iter__(self) -> Iterator[TcpSegment]:
        reader, items = self._reader, self._sink.items
        try:
            for chunk in self._file.chunks():
                reader.feed(chunk)
                self._refresh()
                if items:
                    batch = list(items)
                    items.clear()
                    yield from batch
            reader.finish()
            self._refresh()
            yield from items
            items.clear()
        finally:
            self.close()

    def _refresh(self) -> None:
        st, r = self.stats, self._reader
        st.bytes_read = self._file.bytes_read
        st.frames, st.tcp_segments, st.non_tcp = r.frames, r.tcp_segments, r.non_tcp
        st.malformed, st.truncated_frames = r.malformed, r.truncated_frames
        st.unsupported_link, st.ip_fragments = r.unsupported_link, r.ip_fragments
        st.reassembled = r.reassembled

    @property
    def progress(self) -> float | None:
        return self._file.progress

    def fileno(self) -> int | None:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> PcapSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_segments(source: str | os.PathLike[str] | IO[bytes], *,
                  notes: list[CaptureNote] | None = None) -> Iterator[TcpSegment]:
    """Every TCP segment of a capture, in file order; a non-capture raises at this call."""
    return iter(PcapSource(source, notes=notes))
