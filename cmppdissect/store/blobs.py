"""The raw bytes of every PDU, compressed in chunks (append-only).

A store keeps a million PDUs so that any of them can be decoded again when a user opens it or
a writer prints it. As ``bytes`` objects they would cost their size plus 33 bytes each and
fragment the heap; concatenated in chunks of ``per_chunk`` PDUs and deflated (CMPP bodies are
mostly NUL padding and digits) they take a tenth of their size. No offsets are kept: a PDU's
length is a column of the store, and a chunk's offsets are its lengths summed when the chunk is
opened. Reading one PDU decompresses its chunk; the last few chunks read stay cached, so
scrolling decodes at most one chunk per page.

Deflating is most of what keeping rows costs (a third of a second per 100 MB), so it stays off
the path that reads the capture: the last ``keep_raw`` sealed chunks are kept as they are (the
writers read rows soon after they settle, from these, with nothing to inflate), and an older
chunk is deflated by a helper thread (zlib releases the GIL meanwhile). At most
``max_pending`` chunks wait for it, then the appender waits for the oldest. Chunks hold 4,096
PDUs: each one handed to the helper wakes it, and it then takes the GIL from the reader for a
moment, so fewer, bigger chunks interfere less (1,024 woke it four times as often); inflating
one for a random read still takes under a millisecond. A chunk is also sealed once it holds
``chunk_bytes`` (1 MiB; 4,096 everyday PDUs take about 700 KB), so that what is held as it is
stays bounded in bytes, not only in chunks, whatever the PDUs' size: the open chunk, ``keep_raw
+ max_pending`` sealed ones and ``cache_chunks`` inflated ones, about 25 MiB at most
(``held_raw`` and ``held_raw_peak`` count the first two kinds). 4,096 SUBMITs of 255
recipients (8.6 KB each) would otherwise make a chunk of 35 MB, and 25 of them 880 MB.

A store that streams (the one-pass command-line outputs) drops the chunks whose rows were all
written (:meth:`ChunkedBlobs.drop`): rows are then numbered from the first chunk kept.

One writer thread appends while another reads: the short critical sections take a lock, so a
reader never sees a chunk half sealed.
"""

from __future__ import annotations

import bisect
import threading
import zlib
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

__all__ = ["ChunkedBlobs"]


class ChunkedBlobs:
    """PDU bytes by row, sealed into zlib chunks of at most ``per_chunk`` rows and about
    ``chunk_bytes`` bytes."""

    def __init__(self, *, per_chunk: int = 4096, chunk_bytes: int = 1 << 20, level: int = 1,
                 cache_chunks: int = 8, keep_raw: int = 8, max_pending: int = 8) -> None:
        self.per_chunk = per_chunk
        self.chunk_bytes = chunk_bytes
        self.level = level
        # Sealed chunks: deflated, or (the recent ones, and those being deflated) as they are.
        self._chunks: list[bytes | bytearray] = []
        self._firsts: list[int] = []  # the first row of each sealed chunk
        self._raw: deque[int] = deque()  # sealed chunks kept as they are (ever numbered), oldest
        self._dropped = 0  # chunks dropped from the front: chunk k is _chunks[k - _dropped]
        self._keep_raw = keep_raw
        self._pending: deque[Future[None]] = deque()
        self._max_pending = max_pending
        self._deflater: ThreadPoolExecutor | None = None
        self._open = bytearray()
        self._open_first = 0  # the first row of the open chunk
        self._open_rows = 0
        self._cache: OrderedDict[int, tuple[bytes, np.ndarray]] = OrderedDict()
        self._cache_chunks = cache_chunks
        self._lock = threading.Lock()
        self._count = 0
        self.raw_bytes = 0
        self.held_raw = 0  # bytes held as they are (the open chunk and sealed raw ones)
        self.held_raw_peak = 0

    def extend(self, raw: bytes, lengths: np.ndarray) -> None:
        """Append the bytes of ``len(lengths)`` PDUs, concatenated in ``raw``."""
        n = len(lengths)
        if not n:
            return
        ends = np.cumsum(lengths, dtype=np.int64)
        with self._lock:
            pos = 0
            i = 0
            while i < n:
                # The rows that fit in the open chunk, by count and by bytes.
                fit = int(np.searchsorted(ends, pos + self.chunk_bytes - len(self._open),
                                          side="right")) - i
                take = min(self.per_chunk - self._open_rows, n - i, fit)
                if take <= 0:
                    if self._open_rows:
                        self._seal()
                        continue
                    take = 1  # a PDU longer than a chunk: a chunk of its own
                end = int(ends[i + take - 1])
                self._open += raw[pos:end]
                pos = end
                i += take
                self._open_rows += take
                if (self._open_rows == self.per_chunk or len(self._open) >= self.chunk_bytes
                        or (i < n and take == fit)):
                    self._seal()
            self._count += n
            self.raw_bytes += len(raw)
            self.held_raw += len(raw)
            if self.held_raw > self.held_raw_peak:
                self.held_raw_peak = self.held_raw
            while len(self._raw) > self._keep_raw:
                self._deflate_later(self._raw.popleft())
        while len(self._pending) > self._max_pending:
            self._pending.popleft().result()

    def _seal(self) -> None:
        """The open chunk becomes a sealed one, kept as it is for now (lock held)."""
        self._chunks.append(self._open)
        self._firsts.append(self._open_first)
        self._raw.append(self._dropped + len(self._chunks) - 1)
        self._open = bytearray()
        self._open_first += self._open_rows
        self._open_rows = 0

    def _span(self, chunk: int) -> tuple[int, int]:
        """The rows of a sealed chunk (lock held)."""
        first = self._firsts[chunk]
        return first, (self._firsts[chunk + 1] if chunk + 1 < len(self._firsts)
                       else self._open_first)

    def _deflate_later(self, index: int) -> None:
        """Have sealed chunk ``index`` (numbered since the first ever) deflated by the helper
        thread (lock held)."""
        if self._deflater is None:
            self._deflater = ThreadPoolExecutor(1, thread_name_prefix="cmppdissect-deflate")
        data = self._chunks[index - self._dropped]
        self._pending.append(self._deflater.submit(self._deflate, index, data))

    def _deflate(self, index: int, data: bytes | bytearray) -> None:
        packed = zlib.compress(data, self.level)  # the GIL is released meanwhile
        with self._lock:
            if index >= self._dropped:  # not dropped meanwhile
                self._chunks[index - self._dropped] = packed
            self.held_raw -= len(data)

    def droppable(self, rows: int) -> int:
        """How many of the first ``rows`` rows :meth:`drop` can let go: whole sealed chunks."""
        with self._lock:
            if rows >= self._open_first:
                return self._open_first
            return self._firsts[bisect.bisect_right(self._firsts, rows) - 1] if rows else 0

    def drop(self, rows: int) -> None:
        """Forget the first ``rows`` rows, a chunk boundary (:meth:`droppable`); the rows after
        them are numbered from 0."""
        if not rows:
            return
        with self._lock:
            chunks = bisect.bisect_left(self._firsts, rows)
            if rows != (self._firsts[chunks] if chunks < len(self._firsts)
                        else self._open_first):
                raise ValueError(f"row {rows} does not start a chunk")
            while self._raw and self._raw[0] < self._dropped + chunks:  # not deflated yet
                self.held_raw -= len(self._chunks[self._raw.popleft() - self._dropped])
            self._dropped += chunks
            del self._chunks[:chunks]
            self._firsts = [first - rows for first in self._firsts[chunks:]]
            self._open_first -= rows
            self._count -= rows
            self._cache.clear()

    def settle(self) -> None:
        """Deflate every sealed chunk now, and wait until it is done."""
        with self._lock:
            while self._raw:
                self._deflate_later(self._raw.popleft())
        while self._pending:
            self._pending.popleft().result()

    def _opened(self, chunk: int) -> bytes | bytearray:
        """The bytes of a sealed chunk (lock held; a chunk kept raw is not copied: chunks are
        never changed once sealed, only replaced by their deflated form)."""
        data = self._chunks[chunk]
        return data if isinstance(data, bytearray) else zlib.decompress(data)

    def __len__(self) -> int:
        return self._count

    def _cached(self, chunk: int, lengths: np.ndarray) -> tuple[bytes, np.ndarray]:
        """A sealed chunk's bytes and its rows' end offsets, from the cache or opened into it
        (lock held)."""
        hit = self._cache.get(chunk)
        if hit is None:
            first, stop = self._span(chunk)
            hit = (bytes(self._opened(chunk)), np.cumsum(lengths[first:stop], dtype=np.int64))
            self._cache[chunk] = hit
            if len(self._cache) > self._cache_chunks:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(chunk)
        return hit

    def get(self, row: int, lengths: np.ndarray) -> bytes:
        """The bytes of PDU ``row``; ``lengths`` is the store's length column."""
        if not 0 <= row < self._count:
            raise IndexError(row)
        with self._lock:
            if row < self._open_first:
                chunk = bisect.bisect_right(self._firsts, row) - 1
                data, ends = self._cached(chunk, lengths)
                slot = row - self._firsts[chunk]
                start = int(ends[slot - 1]) if slot else 0
                return data[start:int(ends[slot])]
            start = int(np.sum(lengths[self._open_first:row], dtype=np.int64))
            return bytes(self._open[start:start + int(lengths[row])])

    def range_bytes(self, start: int, stop: int, lengths: np.ndarray) -> bytes:
        """The bytes of rows ``start`` to ``stop``, concatenated (the writers' path, which reads
        every row): each chunk opened once, and cut once. The chunks go through the cache, as
        :meth:`get` does: opening a chunk costs a thousand times more than cutting a PDU out
        of it, and the rows of a range the display filter's columns leave open are read again
        one by one right after it."""
        parts: list[bytes | bytearray] = []
        row = start
        data: bytes | bytearray
        while row < stop:
            with self._lock:
                if row < self._open_first:
                    chunk = bisect.bisect_right(self._firsts, row) - 1
                    first, last = self._span(chunk)
                    # Cached either way: the rows a filter's columns leave open are read
                    # one by one right after their range (else a second inflate for each).
                    data = self._cached(chunk, lengths)[0]
                else:
                    first, last, data = self._open_first, stop, self._open
                last = min(stop, last)
                lo = int(np.sum(lengths[first:row], dtype=np.int64))
                hi = lo + int(np.sum(lengths[row:last], dtype=np.int64))
                parts.append(data[lo:hi])
            row = last
        return b"".join(parts)

    @property
    def stored_bytes(self) -> int:
        """Memory the bytes take once every sealed chunk is deflated (this deflates them)."""
        self.settle()
        with self._lock:
            return sum(len(c) for c in self._chunks) + len(self._open)
