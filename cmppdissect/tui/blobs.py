"""Append-only storage for the raw bytes of every PDU, compressed in chunks.

The TUI keeps a million PDUs so that any of them can be decoded again when the user opens it.
As ``bytes`` objects they would cost their size plus 33 bytes each and fragment the heap;
packed into chunks of a few hundred and deflated (CMPP bodies are mostly NUL padding and
digits), they take about a third of their size. Reading one decompresses its chunk, and the
few chunks on screen stay cached, so scrolling decodes at most one chunk per page.

One writer thread appends while the UI thread reads, so the short critical sections take a
lock: a reader must not see a chunk half sealed.
"""

from __future__ import annotations

import threading
import zlib
from array import array
from collections import OrderedDict


class ChunkedBlobs:
    """Byte records by index, sealed into zlib chunks of ``per_chunk`` records."""

    def __init__(self, *, per_chunk: int = 256, level: int = 1, cache_chunks: int = 16) -> None:
        self.per_chunk = per_chunk
        self.level = level
        self._chunks: list[bytes] = []
        self._ends: list[array[int]] = []  # per sealed chunk: end offset of each record
        self._open = bytearray()
        self._open_ends: array[int] = array("I")
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_chunks = cache_chunks
        self._lock = threading.Lock()
        self._count = 0
        self.raw_bytes = 0

    def append(self, data: bytes) -> int:
        """Store ``data``; returns its index."""
        with self._lock:
            self._open += data
            self._open_ends.append(len(self._open))
            index = self._count
            self._count += 1
            self.raw_bytes += len(data)
            if len(self._open_ends) == self.per_chunk:
                self._seal()
            return index

    def extend(self, items: list[bytes]) -> None:
        """Store a batch under one lock (the indexer's path)."""
        with self._lock:
            for data in items:
                self._open += data
                self._open_ends.append(len(self._open))
                self._count += 1
                self.raw_bytes += len(data)
                if len(self._open_ends) == self.per_chunk:
                    self._seal()

    def _seal(self) -> None:
        self._chunks.append(zlib.compress(bytes(self._open), self.level))
        self._ends.append(self._open_ends)
        self._open = bytearray()
        self._open_ends = array("I")

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> bytes:
        if not 0 <= index < self._count:
            raise IndexError(index)
        chunk, slot = divmod(index, self.per_chunk)
        with self._lock:
            if chunk < len(self._chunks):
                ends = self._ends[chunk]
                data = self._cache.get(chunk)
                if data is None:
                    data = zlib.decompress(self._chunks[chunk])
                    self._cache[chunk] = data
                    if len(self._cache) > self._cache_chunks:
                        self._cache.popitem(last=False)
                else:
                    self._cache.move_to_end(chunk)
                start = ends[slot - 1] if slot else 0
                return data[start:ends[slot]]
            start = self._open_ends[slot - 1] if slot else 0
            return bytes(self._open[start:self._open_ends[slot]])

    @property
    def stored_bytes(self) -> int:
        """Memory held by the records themselves (compressed chunks, offsets, open chunk)."""
        with self._lock:
            return (sum(len(c) for c in self._chunks) + 4 * self._count + len(self._open))
