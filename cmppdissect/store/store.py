"""The one PDU store: every PDU of a capture in columns, its bytes, and its pair.

Filled from the engine's batches (:meth:`PduStore.append`), read by every consumer of rows:
the ``-T``/``-Y``/``-w`` writers, :func:`cmppdissect.analyze`, and the TUI. A PDU costs 50
bytes of columns plus its bytes deflated in chunks (:mod:`.blobs`); everything else (fields,
text) is decoded again from the bytes when a row is shown, which for the rows on a screen or a
line of output costs less than printing it.

``offset`` is where the record of a row's frame starts in the capture file (-1 when the input
was not a regular uncompressed file: stdin, gzip, a live capture), so the frame can be read
again (:mod:`cmppdissect.sources.frames`). A PDU split over several frames names them all in
the sparse ``carriers`` when the analysis was asked for them (``-w``).

Pairs come from the core's links (``pair``: a response's request row, a request's response
row; a request resent while in flight links every send to the one response). A request row is
*settled* once it is linked, or the core has given up on it (unanswered), or the capture ended:
until then a writer that shows pairs waits (:attr:`PduStore.settled`).

One writer thread appends while readers read: columns are written past :attr:`count` first and
the count moves last, and arrays only ever grow (a reader holding an old array reads old rows
correctly). A link to an earlier row writes its latency before its pair, and readers read the
pair first: a row seen paired has its latency.

**Streaming.** A store made with ``window`` (the one-pass command-line outputs: ``-T``,
``-T transactions``, ``--parquet``) lets rows go once they are written
(:meth:`PduStore.release`): rows are then numbered from the first one held (:attr:`base` is its
number since the capture began), and what a later row may still ask about a row let go is kept
aside, bounded: the frame of a request whose response is not written yet, the bytes of the
parts of a long SMS being assembled (the core holds at most ``max_long_sms`` of those). A
request still waiting for its response holds every row after it (the output is in capture
order): past ``window`` rows behind it, it is written without its response, with a
``not-waited`` finding (:attr:`given_up` counts them). The ``pair`` column holds row numbers
since the capture began (a partner may have been let go): :meth:`partner_frames` and
:meth:`partner` read it.

The TUI's store on a live capture lets its oldest rows go the same way past ``--max-pdus``
(:mod:`cmppdissect.tui.indexer`), its ``window`` the rows it keeps after a release, so that a
request waiting for its response never holds more (:attr:`capped` words its finding).
"""

from __future__ import annotations

import bisect
import heapq
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from cmppdissect.engine import Batch
from cmppdissect.protocol.decode import DecodedPdu, decode_pdu
from cmppdissect.protocol.expert import Finding
from cmppdissect.protocol.version import Version
from cmppdissect.store.blobs import ChunkedBlobs

__all__ = ["FROM_CLIENT", "GIVEN_UP", "NO_PAIR", "RESEND", "UNANSWERED", "VERSION_OF_HINT",
           "WINDOW", "PduStore"]

NO_PAIR = -1
FROM_CLIENT = 1
UNANSWERED = 2  # a request the core gave up on (timed out, or still open at the end)
RESEND = 4  # a request sent again with the same Sequence_Id while the first was in flight
GIVEN_UP = 8  # a request a streaming store stopped waiting for (see PduStore.release)
# The ``hint`` column: the session's version the engine decoded a row with (0: not known).
VERSION_OF_HINT = {0: None, 20: Version.V2_0, 30: Version.V3_0}
_RESPONSE_BIT = 0x80000000
WINDOW = 1 << 18  # a streaming store's rows held behind a request awaiting its response
_MIN_RELEASE = 4096  # rows let go at once at least (each release moves the rows held)
_MAX_GIVEN_UP = 65536  # requests written early whose frame a late response may still name

_COLUMNS: tuple[tuple[str, str], ...] = (
    ("frame", "<u4"), ("offset", "<i8"), ("ts_ns", "<i8"), ("session", "<u4"), ("flags", "u1"),
    ("command_id", "<u4"), ("sequence_id", "<u4"), ("length", "<u2"), ("pair", "<i4"),
    ("latency_ns", "<i8"), ("severity", "i1"), ("version", "u1"), ("hint", "u1"),
)
_FROM_BATCH = {"frame": "frame", "offset": "offset", "ts_ns": "ts", "session": "session",
               "command_id": "command_id", "sequence_id": "sequence_id", "length": "length",
               "version": "version", "hint": "hint"}


class PduStore:
    """Columns of PDUs plus what the engine found about them (one writer, many readers)."""

    frame: np.ndarray
    offset: np.ndarray
    ts_ns: np.ndarray
    session: np.ndarray
    flags: np.ndarray
    command_id: np.ndarray
    sequence_id: np.ndarray
    length: np.ndarray
    pair: np.ndarray
    latency_ns: np.ndarray
    severity: np.ndarray
    version: np.ndarray
    hint: np.ndarray

    def __init__(self, *, capacity: int = 4096, window: int = 0) -> None:
        self.count = 0  # rows held
        self.base = 0  # the number (since the capture began) of the first row held
        self.window = window  # streaming (see the module docs); 0: every row is kept
        self.given_up = 0  # requests written before their response, past the window
        self.held_peak = 0  # the most rows held at once
        # The TUI's store (its rows capped by --max-pdus), not a streaming output's: only the
        # words of the finding on a request given up differ.
        self.capped = False
        self._capacity = capacity
        self._min_capacity = capacity
        for name, dtype in _COLUMNS:
            setattr(self, name, np.zeros(capacity, dtype))
        # Rows go a chunk of bytes at a time: a store that holds few rows (a small window)
        # seals smaller chunks, so that it lets go close to what was asked (the TUI lets a
        # ninth of its window go at once: a chunk must be smaller than that).
        self.blobs = ChunkedBlobs(per_chunk=min(4096, max(1, window // 32)) if window
                                  else 4096)
        self.findings: dict[int, list[Finding]] = {}
        self._report_rows: list[int] = []  # status reports matched to a SUBMIT (sorted)
        self._report_frames: list[int] = []  # ... and that SUBMIT's frame
        self._reports_by_frame: dict[int, list[int]] = {}  # SUBMIT frame -> reports (lazy)
        self._reports_indexed = 0
        self.long_sms: dict[int, tuple[int, int, list[int]]] = {}
        self._long_rows: list[int] = []  # the keys of long_sms, in order (rows only grow)
        # Long messages given up (row read then, reference, total, part rows), in row order.
        self.long_given_up: list[tuple[int, int, int, list[int]]] = []
        self._given_up_rows: list[int] = []  # ... their rows, to bisect
        self.carriers: dict[int, tuple[int, ...]] = {}  # row -> records of its frames, if split
        self.endpoints: dict[int, tuple[str, str]] = {}  # session -> (client, server)
        self._with_rows: set[int] = set()  # sessions that have rows (their endpoints stay)
        self._retired: set[int] = set()  # ... dropped past max_sessions (streaming: rows held)
        self.first_ts_ns: int | None = None
        self.frames_sorted = True
        self.done = False
        self.cut = False  # reading stopped before the end (-c): see finish()
        self._waiting: list[int] = []  # request rows not settled yet (a heap)
        self._lock = threading.Lock()
        self._session_rows: dict[int, tuple[int, np.ndarray]] = {}
        # What rows let go leave behind (keyed by row number since the capture began): the
        # frames of those that held rows pair with, of requests given up (whose response
        # may still come), and the (frame, hint, bytes) of long-SMS parts still needed.
        self._gone: dict[int, int] = {}
        self._given_up: dict[int, int] = {}
        self._parts: dict[int, tuple[int, int, bytes]] = {}

    # -- writing (one writer) ----------------------------------------------------------------------

    def _grow(self, need: int) -> None:
        if need <= self._capacity:
            return
        cap = self._capacity
        while cap < need:
            cap *= 2
        for name, _dtype in _COLUMNS:
            old = getattr(self, name)
            new = np.zeros(cap, old.dtype)
            new[:self.count] = old[:self.count]
            setattr(self, name, new)
        self._capacity = cap

    def append(self, batch: Batch) -> None:
        """Add a batch's rows and apply what it says about earlier rows (links, findings)."""
        rows = batch.rows
        self.endpoints.update(batch.sessions)
        n = len(rows)
        start = self.count
        base = self.base
        if n:
            if batch.first_row != base + start:
                raise ValueError(f"batch starts at row {batch.first_row}, store has "
                                 f"{base + start}")
            self._grow(start + n)
            end = start + n
            for name, source in _FROM_BATCH.items():
                getattr(self, name)[start:end] = rows[source]
            self.flags[start:end] = rows["from_client"] | (rows["resend"] * RESEND)
            pair = rows["pair"]
            self.pair[start:end] = pair
            self.latency_ns[start:end] = np.where(pair >= 0, rows["latency"], 0)
            self.severity[start:end] = -1
            if self.first_ts_ns is None:
                self.first_ts_ns = int(rows["ts"][0])
            frames = rows["frame"]
            if self.frames_sorted and (
                    (start and frames[0] < self.frame[start - 1])
                    or (n > 1 and bool(np.any(frames[1:] < frames[:-1])))):
                self.frames_sorted = False
            self.blobs.extend(batch.raw, rows["length"])
            self._with_rows.update(np.unique(rows["session"]).tolist())
        for sid in batch.retired:
            # A session dropped past max_sessions gets no more rows: its endpoints are kept
            # only if rows name them (a flood of connections that send nothing costs nothing).
            if sid not in self._with_rows:
                self.endpoints.pop(sid, None)
            elif self.window:  # its endpoints go with its last row (release)
                self._retired.add(sid)
        links = batch.links
        if len(links):
            if self._given_up:  # a request written early got its response after all
                for request in links[:, 0].tolist():
                    frame = self._given_up.pop(request, None)
                    if frame is not None and request < base:
                        self._gone[request] = frame
            # The latency first: a reader on another thread (a TUI filter on latency_ms)
            # takes a row whose pair is set as settled and reads its latency next.
            held = links[links[:, 0] >= base]
            self.latency_ns[held[:, 0] - base] = held[:, 2]
            self.pair[held[:, 0] - base] = held[:, 1]
        for row in batch.unanswered:
            self._given_up.pop(row, None)
            if row >= base:
                self.flags[row - base] |= UNANSWERED
        if n:
            # The requests of this batch still waiting for their fate (most were answered
            # within it): the writers' cursor stops at the first of them.
            end = start + n
            open_ = ((self.command_id[start:end] & _RESPONSE_BIT) == 0) & (
                self.pair[start:end] == NO_PAIR) & ((self.flags[start:end] & UNANSWERED) == 0)
            with self._lock:
                for row in (np.flatnonzero(open_) + start).tolist():
                    heapq.heappush(self._waiting, row)
        # Rows are the engine's numbers less base; what names a row let go (written already)
        # is of no use any more.
        for row, worst in batch.severity.items():
            if row >= base and worst > self.severity[row - base]:
                self.severity[row - base] = worst
        for row, found in batch.findings.items():
            if row >= base:
                self.findings.setdefault(row - base, []).extend(found)
        if len(batch.report_for):
            self._report_rows.extend((batch.report_for[:, 0] - base).tolist())
            self._report_frames.extend(batch.report_for[:, 1].tolist())
        if batch.long_sms:  # part rows stay engine numbers: parts may have been let go
            done = {row - base: msg for row, msg in batch.long_sms.items()}
            self.long_sms.update(done)
            self._long_rows.extend(sorted(done))
        for row, ref, total, parts in batch.long_given_up:
            self.long_given_up.append((row - base, ref, total, parts))
            self._given_up_rows.append(row - base)
        if batch.carriers:
            self.carriers.update({row - base: frames for row, frames in batch.carriers.items()})
        self.count = start + n
        if self.count > self.held_peak:
            self.held_peak = self.count

    def finish(self, *, cut: bool = False) -> None:
        """The capture ended: every request's fate is known (``cut``: reading stopped before
        its end, and a request without a response is in flight, not unanswered)."""
        self.done = True
        self.cut = cut
        self._waiting.clear()

    # -- reading -----------------------------------------------------------------------------------

    @property
    def settled(self) -> int:
        """Rows below this one all know their pair (or that they will never have one)."""
        if self.done:
            return self.count
        waiting = self._waiting
        with self._lock:
            while waiting:
                top = waiting[0]
                if self.pair[top] == NO_PAIR and not self.flags[top] & UNANSWERED:
                    if not self.window or self.count - top <= self.window:
                        break
                    self._give_up(top)
                heapq.heappop(waiting)
            return waiting[0] if waiting else self.count

    def _give_up(self, row: int) -> None:
        """Stop holding the rows behind request ``row`` (still awaiting its response): it is
        written as it is, with a finding that says so (lock held)."""
        from cmppdissect.engine import findings as words

        self.given_up += 1
        self.flags[row] |= GIVEN_UP
        self.findings.setdefault(row, []).append(words.not_waited_finding(
            int(self.command_id[row]), int(self.sequence_id[row]), self.window,
            capped=self.capped))
        self._given_up[self.base + row] = int(self.frame[row])
        if len(self._given_up) > _MAX_GIVEN_UP:  # its late response will name no request
            del self._given_up[next(iter(self._given_up))]

    def release(self, upto: int, long_parts: Callable[[], Iterable[int]] | None = None, *,
                at_least: int | None = None) -> int:
        """Let the rows below ``upto`` go (they were written, and nothing reads them again):
        whole chunks of bytes, and only once they are many (at least an eighth as many as the
        rows left, or ``at_least`` when given: the TUI lets a tenth of its cap go at once), so
        that moving the rows left costs little per row. Returns how many went; the rows left
        are then numbered from 0. ``long_parts`` gives the (engine) rows of the parts of long
        SMS being assembled, whose bytes are kept."""
        k = self.blobs.droppable(min(upto, self.settled))
        left = self.count - k
        floor = max(_MIN_RELEASE, left // 8) if at_least is None else max(1, at_least)
        if not k or k < floor:
            return 0
        base, end = self.base, self.base + k
        # Rows let go that rows held (or late responses) still name.
        pair = self.pair[k:self.count]
        named = np.unique(pair[(pair >= 0) & (pair < end)]).tolist()
        self._gone = {g: int(self.frame[g - base]) if g >= base else self._gone[g]
                      for g in named if g >= base or g in self._gone}
        for g in [g for g in self._given_up if base <= g < end]:
            self._gone.setdefault(g, self._given_up[g])
        needed = set(long_parts()) if long_parts is not None else set()
        for row in self.long_sms_between(k, self.count):
            needed.update(self.long_sms[row][2])
        self._parts = {g: self._parts[g] if g < base else
                       (int(self.frame[g - base]), int(self.hint[g - base]), self.raw(g - base))
                       for g in needed if g < end and (g >= base or g in self._parts)}
        # The rows left move to the front (and the columns shrink after a burst).
        cap = self._capacity
        while cap > self._min_capacity and cap >= 4 * left:
            cap //= 2
        for name, _dtype in _COLUMNS:
            old = getattr(self, name)
            if cap != self._capacity:
                new = np.zeros(cap, old.dtype)
                new[:left] = old[k:self.count]
                setattr(self, name, new)
            else:
                old[:left] = old[k:self.count]
        self._capacity = cap
        self.blobs.drop(k)
        self.findings = {row - k: found for row, found in self.findings.items() if row >= k}
        cut = bisect.bisect_left(self._report_rows, k)
        self._report_rows = [row - k for row in self._report_rows[cut:]]
        self._report_frames = self._report_frames[cut:]
        self._reports_by_frame, self._reports_indexed = {}, 0
        self.long_sms = {row - k: msg for row, msg in self.long_sms.items() if row >= k}
        self._long_rows = [row - k for row in self._long_rows if row >= k]
        dropped = bisect.bisect_left(self._given_up_rows, k)
        self.long_given_up = [(row - k, ref, total, parts)
                              for row, ref, total, parts in self.long_given_up[dropped:]]
        self._given_up_rows = [row - k for row in self._given_up_rows[dropped:]]
        self.carriers = {row - k: frames for row, frames in self.carriers.items() if row >= k}
        with self._lock:
            self._waiting = [row - k for row in self._waiting]  # still a heap
        self._session_rows.clear()
        if self._retired:  # sessions past max_sessions whose last row went: no row names them
            named = set(np.unique(self.session[:left]).tolist())
            for sid in [sid for sid in self._retired if sid not in named]:
                self._retired.discard(sid)
                self._with_rows.discard(sid)
                self.endpoints.pop(sid, None)
        self.base = end
        self.count = left
        return k

    def is_settled(self, row: int) -> bool:
        return row < self.settled

    def from_client(self, row: int) -> bool:
        return bool(self.flags[row] & FROM_CLIENT)

    def is_response(self, row: int) -> bool:
        return bool(int(self.command_id[row]) & _RESPONSE_BIT)

    def raw(self, row: int) -> bytes:
        return self.blobs.get(row, self.length)

    def pdu(self, row: int) -> DecodedPdu:
        """The PDU decoded again from its bytes, as the engine read it (same session version,
        so the same findings)."""
        return decode_pdu(self.raw(row), VERSION_OF_HINT.get(int(self.hint[row])))

    def endpoints_of(self, row: int) -> tuple[str, str]:
        """(src, dst) of a row."""
        names = self.endpoints.get(int(self.session[row]))
        if names is None:
            return ("?", "?")
        client, server = names
        return (client, server) if self.from_client(row) else (server, client)

    def partner(self, row: int) -> int | None:
        """The row a row is paired with, if it is held (a request's response always is)."""
        pair = int(self.pair[row]) - self.base
        return None if pair < 0 else pair

    def partner_frames(self, rows: np.ndarray | slice) -> np.ndarray:
        """The frame of each row's partner (int64, -1 without one): the one place a pair is
        read as a frame, also when the partner was let go (:meth:`release`)."""
        pair = self.pair[rows].astype(np.int64)
        local = pair - self.base
        held = local >= 0
        out = np.where(held, self.frame[np.where(held, local, 0)].astype(np.int64), -1)
        if self.base:
            for i in np.flatnonzero((pair >= 0) & ~held).tolist():
                out[i] = self._gone.get(int(pair[i]), -1)
        return out

    def partner_frame(self, row: int) -> int | None:
        frame = int(self.partner_frames(np.array([row]))[0])
        return None if frame < 0 else frame

    def part(self, row: int) -> tuple[int, DecodedPdu] | None:
        """The frame and the PDU of a long SMS's part, by the engine's row number (a part may
        have been let go: its bytes were kept aside); None if it is not known."""
        local = row - self.base
        if local >= 0:
            return int(self.frame[local]), self.pdu(local)
        kept = self._parts.get(row)
        if kept is None:
            return None
        frame, hint, raw = kept
        return frame, decode_pdu(raw, VERSION_OF_HINT.get(hint))

    def report_for(self, row: int) -> int | None:
        """The frame of the SUBMIT a status report row was matched to."""
        i = bisect.bisect_left(self._report_rows, row)
        if i < len(self._report_rows) and self._report_rows[i] == row:
            return self._report_frames[i]
        return None

    def reports_for_frame(self, frame: int) -> list[int]:
        """The status report rows matched to the SUBMIT of ``frame`` (the reverse of
        :meth:`report_for`; an index kept up to date as matches arrive)."""
        index = self._reports_by_frame
        known = len(self._report_rows)
        if self._reports_indexed < known:
            for row, submit in zip(self._report_rows[self._reports_indexed:known],
                                   self._report_frames[self._reports_indexed:known],
                                   strict=True):
                index.setdefault(submit, []).append(row)
            self._reports_indexed = known
        return list(index.get(frame, ()))

    def long_sms_between(self, start: int, stop: int) -> list[int]:
        """The rows from ``start`` to ``stop`` that completed a long message."""
        rows = self._long_rows
        return rows[bisect.bisect_left(rows, start):bisect.bisect_left(rows, stop)]

    def long_given_up_between(self, start: int, stop: int | None = None
                              ) -> list[tuple[int, int, list[int]]]:
        """The long messages given up while rows ``start`` to ``stop`` were read (``stop``
        None: and at the end), as (reference, total, part rows seen)."""
        rows = self._given_up_rows
        lo = bisect.bisect_left(rows, start)
        hi = len(rows) if stop is None else bisect.bisect_left(rows, stop)
        return [(ref, total, parts) for _row, ref, total, parts in self.long_given_up[lo:hi]]

    def report_for_between(self, start: int, stop: int) -> dict[int, int]:
        """{row: SUBMIT frame} of the matched status reports among rows start to stop."""
        lo = bisect.bisect_left(self._report_rows, start)
        hi = bisect.bisect_left(self._report_rows, stop)
        return dict(zip(self._report_rows[lo:hi], self._report_frames[lo:hi], strict=True))

    def findings_between(self, start: int, stop: int) -> list[int]:
        """Rows among start to stop with findings of the engine (few: a dict is scanned only
        when it is smaller than the range)."""
        if len(self.findings) < stop - start:
            return sorted(row for row in self.findings if start <= row < stop)
        return [row for row in range(start, stop) if row in self.findings]

    def engine_findings(self, row: int, pdu: DecodedPdu | None = None) -> list[Finding]:
        """What the engine found about a row (not its decoding): logins, pairing, a matched
        report, a long SMS sent twice, no response. In the order the engine found them."""
        from cmppdissect.engine import findings as words

        out = list(self.findings.get(row, ()))
        pdu = pdu or self.pdu(row)
        if pdu.report is not None:
            submit = self.report_for(row)
            if submit is not None:
                out.append(words.report_for_finding(pdu.report.get("Stat", b""), submit))
        if not pdu.Command_Id & _RESPONSE_BIT and self.pair[row] == NO_PAIR and (
                (self.done and not self.cut) or self.flags[row] & UNANSWERED):
            out.append(words.unanswered_finding(pdu.Command_Id, pdu.Sequence_Id))
        return out

    def row_of_frame(self, frame: int) -> int | None:
        """The first PDU completed by ``frame`` (None if that frame completed none)."""
        n = self.count
        col = self.frame[:n]
        if self.frames_sorted:
            i = int(np.searchsorted(col, frame))
            return i if i < n and int(col[i]) == frame else None
        hits = np.flatnonzero(col == frame)
        return int(hits[0]) if len(hits) else None

    def rows_of_frame(self, frame: int) -> np.ndarray:
        """Every PDU completed by ``frame``, ascending (a segment may complete several)."""
        n = self.count
        col = self.frame[:n]
        if self.frames_sorted:
            lo, hi = np.searchsorted(col, [frame, frame + 1])
            return np.arange(int(lo), int(hi), dtype=np.int64)
        return np.flatnonzero(col == frame).astype(np.int64)

    def session_rows(self, sid: int) -> np.ndarray:
        """Rows of one session, ascending (computed when asked, cached until rows arrive)."""
        n = self.count
        hit = self._session_rows.get(sid)
        if hit is not None and hit[0] == n:
            return hit[1]
        rows = np.flatnonzero(self.session[:n] == sid).astype(np.int64)
        self._session_rows[sid] = (n, rows)
        return rows

    def rows(self, start: int = 0, stop: int | None = None) -> Iterator[int]:
        return iter(range(start, self.count if stop is None else stop))

    @property
    def bytes_per_pdu(self) -> float:
        """Memory per PDU: columns, compressed bytes, and the sparse findings."""
        if not self.count:
            return 0.0
        columns = sum(int(getattr(self, name).itemsize) for name, _ in _COLUMNS)
        return columns + self.blobs.stored_bytes / self.count

    def info(self) -> dict[str, Any]:
        return {"pdus": self.count, "bytes_per_pdu": self.bytes_per_pdu,
                "raw_bytes": self.blobs.raw_bytes, "stored_bytes": self.blobs.stored_bytes}
