"""TCP stream reassembly, sans-IO: segments in, ordered byte-stream events out.

The tracker knows nothing about files or CMPP. It turns :class:`TcpSegment` records into
per-direction byte streams that are in order and free of duplicates, and it says explicitly
where bytes are missing (:class:`StreamGap`) instead of silently splicing around them, so the
PDU framer above can resynchronise at exactly the right place.

Sequence numbers are mapped to unbounded "stream positions" (bytes since the direction's
start), which makes the 32-bit wrap a non-event everywhere except in the single conversion.
Out-of-order bytes are kept as sorted, non-overlapping pieces; a byte is stored at most once
and copied at most twice (slice on arrival, join on release), so work stays linear in the input.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import Final

from cmppdissect.core.records import (
    ACK,
    FIN,
    RST,
    SYN,
    ConnectionClosed,
    ConnectionOpened,
    ConnStats,
    DataTwin,
    StreamData,
    StreamEvent,
    StreamGap,
    TcpSegment,
)

__all__ = [
    "DEFAULT_SERVER_PORTS",
    "ConnStats",
    "ConnectionClosed",
    "ConnectionOpened",
    "StreamData",
    "StreamEvent",
    "StreamGap",
    "TcpTracker",
]

DEFAULT_SERVER_PORTS: Final = (7890, 7900, 7930, 9168)
_MASK: Final = 0xFFFFFFFF
_HALF: Final = 1 << 31

# A buffered out-of-order piece: (end position, bytes, frame, ts_ns). Its start is kept in a
# parallel list so that bisect works on plain ints.
_Piece = tuple[int, bytes, int, int]


class _Half:
    """Receive state of one direction of a connection."""

    __slots__ = (
        "acked",
        "delivered",
        "fin_abs",
        "fin_frame",
        "fin_ts",
        "held",
        "isn",
        "last_seq",
        "nxt",
        "nxt32",
        "pieces",
        "starts",
    )

    def __init__(self) -> None:
        self.nxt32: int | None = None  # next expected sequence number; None until known
        self.nxt = 0  # stream position of nxt32 (bytes delivered + bytes declared missing)
        self.starts: list[int] = []  # stream positions of buffered pieces, sorted
        self.pieces: list[_Piece] = []
        self.held = 0  # bytes buffered out of order
        self.acked: int | None = None  # latest ACK number the peer sent for this direction
        self.fin_abs: int | None = None  # stream position of the FIN, once seen
        self.fin_frame = 0
        self.fin_ts = 0
        self.isn: int | None = None  # sequence number of this direction's SYN
        self.last_seq = -1  # seq of the latest in-order segment: tells exact duplicates
        self.delivered = 0


class _Conn:
    __slots__ = (
        "c2s",
        "client",
        "closed",
        "dups",
        "frames",
        "gap_bytes",
        "gaps",
        "id",
        "last_frame",
        "ooo",
        "retrans",
        "s2c",
        "server",
    )

    def __init__(self, ident: int, client: str, server: str) -> None:
        self.id = ident
        self.client = client
        self.server = server
        self.c2s = _Half()
        self.s2c = _Half()
        self.closed = False
        self.frames = 0
        self.retrans = 0
        self.dups = 0
        self.ooo = 0
        self.gaps = 0
        self.gap_bytes = 0
        self.last_frame = 0

    def snapshot(self) -> ConnStats:
        return ConnStats(
            frames=self.frames,
            bytes_from_client=self.c2s.delivered,
            bytes_from_server=self.s2c.delivered,
            retransmissions=self.retrans,
            duplicates=self.dups,
            out_of_order=self.ooo,
            gaps=self.gaps,
            gap_bytes=self.gap_bytes,
        )


_Entry = tuple[_Conn, bool, _Half, _Half]


class TcpTracker:
    """Follows every TCP connection of a capture and emits :data:`StreamEvent` records.

    ``server_ports`` decides which side is the server when a connection is picked up without
    its handshake (otherwise the lower port is). Memory is bounded by ``max_buffered`` bytes and
    ``max_pieces`` separate pieces of out-of-order data per direction (past either, the first
    hole becomes a gap; the piece cap also keeps sorted insertion from going quadratic on
    floods of tiny segments) and by ``max_connections`` tracked connections (past it the least
    recently active are evicted, closed ones first, with ``ConnectionClosed(how="evicted")``
    for those still open).

    Frame numbers in events: in-order data carries the frame that brought it; data released
    by a hole being filled, or by a gap being declared, carries the frame whose arrival
    released it; only :meth:`finish` and eviction, which have no such frame, fall back to the
    frame that carried the bytes.
    """

    def __init__(
        self,
        *,
        server_ports: Iterable[int] = DEFAULT_SERVER_PORTS,
        max_buffered: int = 1 << 20,
        max_pieces: int = 8192,
        max_connections: int = 65536,
    ) -> None:
        if max_connections < 1 or max_buffered < 0 or max_pieces < 0:
            raise ValueError("max_connections must be >= 1, the buffer caps >= 0")
        self.server_ports = frozenset(server_ports)
        self.max_buffered = max_buffered
        self.max_pieces = max_pieces
        self.max_connections = max_connections
        # src -> dst -> (connection, from_client, sending half, receiving half). Nested dicts
        # avoid building a tuple key per segment; the halves are there to skip a branch.
        self._index: dict[str, dict[str, _Entry]] = {}
        self._conns: dict[int, _Conn] = {}
        self._closed_stats: dict[int, ConnStats] = {}
        self._next_id = 0

    # -- public API ------------------------------------------------------------------------

    def feed(self, seg: TcpSegment) -> list[StreamEvent]:
        """Process one segment (in capture order) and return what it made happen."""
        peers = self._index.get(seg.src)
        ent = peers.get(seg.dst) if peers is not None else None
        flags = seg.flags
        if ent is not None and not flags & (SYN | FIN | RST):
            conn, fc, d, o = ent
            if not conn.closed:
                # Fast path: an established connection, an ACK and/or in-order data.
                conn.frames += 1
                conn.last_frame = frame = seg.frame
                ts = seg.ts_ns
                events: list[StreamEvent] = []
                if flags & ACK:
                    o.acked = seg.ack
                    if o.starts:
                        self._ack_releases(conn, o, not fc, seg.ack, frame, ts, events)
                payload = seg.payload
                if payload:
                    seq = seg.seq
                    if seq == d.nxt32 and not d.starts and d.fin_abs is None:
                        n = len(payload)
                        d.nxt += n
                        d.nxt32 = (seq + n) & _MASK
                        d.last_seq = seq
                        d.delivered += n
                        ev = _new(DataTwin)
                        ev.conn = conn.id
                        ev.from_client = fc
                        ev.data = payload
                        ev.frame = frame
                        ev.ts_ns = ts
                        ev.__class__ = StreamData
                        events.append(ev)
                    else:
                        self._data(conn, d, fc, seq, payload, frame, ts, events)
                return events
        return self._feed_slow(seg, ent)

    def feed_all(
        self, segments: Iterable[TcpSegment], *, finish: bool = True
    ) -> Iterator[StreamEvent]:
        """Feed a whole iterable of segments, yielding the events as they happen.

        The same as calling :meth:`feed` per segment (and :meth:`finish` at the end when
        ``finish``); a convenience for readers that hand over a whole capture.
        """
        feed = self.feed
        for seg in segments:
            yield from feed(seg)
        if finish:
            yield from self.finish()

    def finish(self) -> list[StreamEvent]:
        """End of capture: flush every connection, declaring remaining holes as gaps."""
        events: list[StreamEvent] = []
        for conn in self._conns.values():
            if not conn.closed:
                self._close(conn, "end-of-capture", None, None, events)
            self._remember_stats(conn)
        self._conns.clear()
        self._index.clear()
        return events

    def stats(self, conn: int) -> ConnStats:
        """Counters of connection ``conn`` (tracked, or among the most recently forgotten)."""
        live = self._conns.get(conn)
        if live is not None:
            return live.snapshot()
        return self._closed_stats[conn]

    @property
    def open_connections(self) -> int:
        return sum(1 for c in self._conns.values() if not c.closed)

    # -- connections -----------------------------------------------------------------------

    def _feed_slow(self, seg: TcpSegment, ent: _Entry | None) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        flags = seg.flags
        if flags & SYN:
            found = self._on_syn(seg, ent, events)
            if found is None:
                return events
            conn, fc = found
        elif ent is None:
            if flags & RST:
                return events  # a reset for a connection we never saw opens nothing
            conn, fc = self._open(seg, self._src_is_client(seg), False, events)
        else:
            conn, fc = ent[0], ent[1]
            if conn.closed:
                return events  # late retransmission or ACK of a finished connection
        conn.frames += 1
        conn.last_frame = frame = seg.frame
        ts = seg.ts_ns
        d, o = (conn.c2s, conn.s2c) if fc else (conn.s2c, conn.c2s)
        data_seq = (seg.seq + 1) & _MASK if flags & SYN else seg.seq
        if flags & ACK:
            o.acked = seg.ack
            if o.starts:
                self._ack_releases(conn, o, not fc, seg.ack, frame, ts, events)
        if flags & RST:
            self._close(conn, "rst", frame, ts, events)
            return events
        payload = seg.payload
        if payload:
            self._data(conn, d, fc, data_seq, payload, frame, ts, events)
        if flags & FIN:
            if d.nxt32 is None:
                d.nxt32 = data_seq
            if d.fin_abs is None:
                d.fin_abs = self._position(d, data_seq) + len(payload)
                d.fin_frame, d.fin_ts = frame, ts
            if conn.c2s.fin_abs is not None and conn.s2c.fin_abs is not None:
                self._close(conn, "fin", frame, ts, events)
        return events

    def _on_syn(
        self, seg: TcpSegment, ent: _Entry | None, events: list[StreamEvent]
    ) -> tuple[_Conn, bool] | None:
        """Decide whether a SYN belongs to a known connection, starts one, or is stale."""
        synack = bool(seg.flags & ACK)
        if ent is not None:
            conn, fc = ent[0], ent[1]
            d = conn.c2s if fc else conn.s2c
            if d.isn == seg.seq:
                if conn.closed:
                    return None  # a late copy of the old connection's handshake
                conn.retrans += 1
                if d.last_seq == -1:
                    conn.dups += 1
                return conn, fc
            if not conn.closed and d.isn is None and d.nxt32 is None:
                # The other half of a handshake we are following (SYN-ACK after SYN).
                started = conn.c2s.nxt32 is not None or conn.s2c.nxt32 is not None
                if synack or not started:
                    self._start_with_syn(d, seg.seq)
                    return conn, fc
            if not conn.closed:
                self._close(conn, "reused", seg.frame, seg.ts_ns, events)
        # A SYN-ACK without its SYN still tells who the client is: the side it goes to.
        conn, fc = self._open(seg, not synack, True, events)
        d = conn.c2s if fc else conn.s2c
        self._start_with_syn(d, seg.seq)
        if synack:
            other = conn.s2c if fc else conn.c2s
            other.nxt32 = seg.ack & _MASK
        return conn, fc

    @staticmethod
    def _start_with_syn(d: _Half, isn: int) -> None:
        d.isn = isn
        d.nxt32 = (isn + 1) & _MASK
        d.nxt = 0
        d.starts.clear()
        d.pieces.clear()
        d.held = 0

    def _src_is_client(self, seg: TcpSegment) -> bool:
        sp, dp = seg.src_port, seg.dst_port
        src_server = sp in self.server_ports
        dst_server = dp in self.server_ports
        if src_server != dst_server:
            return dst_server
        return dp <= sp

    def _open(
        self, seg: TcpSegment, src_is_client: bool, saw_syn: bool, events: list[StreamEvent]
    ) -> tuple[_Conn, bool]:
        if len(self._conns) >= self.max_connections:
            self._evict(events)
        client, server = (seg.src, seg.dst) if src_is_client else (seg.dst, seg.src)
        conn = _Conn(self._next_id, client, server)
        self._next_id += 1
        self._conns[conn.id] = conn
        self._index.setdefault(client, {})[server] = (conn, True, conn.c2s, conn.s2c)
        self._index.setdefault(server, {})[client] = (conn, False, conn.s2c, conn.c2s)
        events.append(ConnectionOpened(conn.id, client, server, seg.frame, seg.ts_ns, saw_syn))
        return conn, src_is_client

    def _evict(self, events: list[StreamEvent]) -> None:
        """Drop a batch of the least recently active connections, closed ones first.

        Evicting in batches of 1/16 of the cap keeps the cost of choosing victims (a sort)
        amortised to O(log n) per new connection.
        """
        batch = max(1, self.max_connections // 16)
        victims = sorted(self._conns.values(), key=lambda c: (not c.closed, c.last_frame))
        for conn in victims[:batch]:
            if not conn.closed:
                self._close(conn, "evicted", None, None, events)
            self._forget(conn)

    def _forget(self, conn: _Conn) -> None:
        del self._conns[conn.id]
        for src, dst in ((conn.client, conn.server), (conn.server, conn.client)):
            peers = self._index.get(src)
            if peers is not None:
                ent = peers.get(dst)
                if ent is not None and ent[0] is conn:  # not a newer reuse of the tuple
                    del peers[dst]
                    if not peers:
                        del self._index[src]
        self._remember_stats(conn)

    def _remember_stats(self, conn: _Conn) -> None:
        self._closed_stats[conn.id] = conn.snapshot()
        while len(self._closed_stats) > self.max_connections:
            del self._closed_stats[next(iter(self._closed_stats))]

    def _close(
        self,
        conn: _Conn,
        how: str,
        frame: int | None,
        ts: int | None,
        events: list[StreamEvent],
    ) -> None:
        self._flush(conn, conn.c2s, True, frame, ts, events)
        self._flush(conn, conn.s2c, False, frame, ts, events)
        conn.closed = True
        events.append(ConnectionClosed(conn.id, how, frame, ts, conn.snapshot()))

    # -- data ------------------------------------------------------------------------------

    @staticmethod
    def _position(d: _Half, seq: int) -> int:
        """Stream position of ``seq``: the nearest one to ``nxt`` modulo 2**32."""
        assert d.nxt32 is not None
        return d.nxt + (((seq - d.nxt32 + _HALF) & _MASK) - _HALF)

    def _data(
        self,
        conn: _Conn,
        d: _Half,
        fc: bool,
        seq: int,
        payload: bytes,
        frame: int,
        ts: int,
        events: list[StreamEvent],
    ) -> None:
        """Everything but the in-order fast path: retransmissions, overlaps, reordering."""
        if d.nxt32 is None:
            d.nxt32 = seq  # picked up mid-stream: the first bytes seen are the start
        start = self._position(d, seq)
        end = start + len(payload)
        if d.fin_abs is not None and end > d.fin_abs:
            # Bytes past a FIN cannot belong to the stream.
            end = max(start, d.fin_abs)
            payload = payload[: end - start]
            if not payload:
                return
        if end <= d.nxt:
            conn.retrans += 1
            if seq == d.last_seq:
                conn.dups += 1
            return
        if start < d.nxt:
            conn.retrans += 1
            payload = payload[d.nxt - start :]
            start = d.nxt
        if start == d.nxt and not d.starts:
            self._deliver(conn, d, fc, payload, frame, ts, events)
            d.last_seq = seq
            return
        added = self._insert(d, start, payload, frame, ts)
        if start > d.nxt:
            if added:
                conn.ooo += 1
            else:
                conn.retrans += 1
        else:
            d.last_seq = seq
        self._release(conn, d, fc, frame, ts, events)
        if d.starts and d.acked is not None:
            self._ack_releases(conn, d, fc, d.acked, frame, ts, events)
        while d.starts and (d.held > self.max_buffered or len(d.starts) > self.max_pieces):
            self._declare_gaps(conn, d, fc, d.starts[0], frame, ts, events)

    @staticmethod
    def _insert(d: _Half, start: int, payload: bytes, frame: int, ts: int) -> int:
        """Buffer the bytes of ``payload`` that no buffered piece holds yet (first seen wins)."""
        end = start + len(payload)
        starts, pieces = d.starts, d.pieces
        i = bisect_left(starts, start)
        cur = start
        if i > 0 and pieces[i - 1][0] > cur:
            cur = pieces[i - 1][0]
        new: list[tuple[int, int]] = []
        j = i
        while cur < end:
            if j < len(starts) and starts[j] < end:
                if starts[j] > cur:
                    new.append((cur, starts[j]))
                cur = max(cur, pieces[j][0])
                j += 1
            else:
                new.append((cur, end))
                break
        added = 0
        for lo, hi in reversed(new):  # right to left keeps the earlier insertion points valid
            k = bisect_left(starts, lo)
            starts.insert(k, lo)
            pieces.insert(k, (hi, payload[lo - start : hi - start], frame, ts))
            added += hi - lo
        d.held += added
        return added

    def _deliver(
        self,
        conn: _Conn,
        d: _Half,
        fc: bool,
        data: bytes,
        frame: int,
        ts: int,
        events: list[StreamEvent],
    ) -> None:
        n = len(data)
        d.nxt += n
        assert d.nxt32 is not None
        d.nxt32 = (d.nxt32 + n) & _MASK
        d.delivered += n
        events.append(StreamData(conn.id, fc, data, frame, ts))

    def _release(
        self,
        conn: _Conn,
        d: _Half,
        fc: bool,
        frame: int | None,
        ts: int | None,
        events: list[StreamEvent],
    ) -> None:
        """Deliver the buffered pieces that now continue the stream.

        With a ``frame`` the run becomes one event stamped with it; without (end of capture)
        each piece keeps the frame that carried it.
        """
        starts, pieces = d.starts, d.pieces
        count = 0
        pos = d.nxt
        chunks: list[bytes] = []
        while count < len(starts) and starts[count] <= pos:
            end, data, pframe, pts = pieces[count]
            if end > pos:
                data = data[pos - starts[count] :]
                if frame is None:
                    self._deliver(conn, d, fc, data, pframe, pts, events)
                else:
                    chunks.append(data)
                pos = end
            count += 1
        if not count:
            return
        del starts[:count]
        released = pieces[:count]
        del pieces[:count]
        d.held -= sum(len(p[1]) for p in released)
        if chunks:
            assert ts is not None and frame is not None
            self._deliver(conn, d, fc, b"".join(chunks), frame, ts, events)

    def _ack_releases(
        self,
        conn: _Conn,
        d: _Half,
        fc: bool,
        ack: int,
        frame: int,
        ts: int,
        events: list[StreamEvent],
    ) -> None:
        """The peer acknowledged up to ``ack``: bytes below it that we lack were lost to us."""
        if d.nxt32 is None:
            return
        delta = ((ack - d.nxt32 + _HALF) & _MASK) - _HALF
        if delta > 0:
            self._declare_gaps(conn, d, fc, d.nxt + delta, frame, ts, events)

    def _declare_gaps(
        self,
        conn: _Conn,
        d: _Half,
        fc: bool,
        limit: int | None,
        frame: int | None,
        ts: int | None,
        events: list[StreamEvent],
    ) -> None:
        """Give up on the holes below stream position ``limit`` (``None``: all of them).

        A hole is only ever declared up to a position we know the stream reached: the next
        buffered piece, the FIN, or the peer's acknowledgement.
        """
        while d.starts:
            first = d.starts[0]
            if first > d.nxt:
                if limit is not None and first > limit:
                    if limit > d.nxt:
                        self._gap(conn, d, fc, limit - d.nxt, frame, ts, events)
                    return
                gap_frame, gap_ts = (frame, ts) if frame is not None else d.pieces[0][2:4]
                self._gap(conn, d, fc, first - d.nxt, gap_frame, gap_ts, events)
            self._release(conn, d, fc, frame, ts, events)
        fin = d.fin_abs
        if fin is not None and d.nxt < fin and (limit is None or fin <= limit):
            if frame is None:
                frame, ts = d.fin_frame, d.fin_ts
            self._gap(conn, d, fc, fin - d.nxt, frame, ts, events)

    def _gap(
        self,
        conn: _Conn,
        d: _Half,
        fc: bool,
        missing: int,
        frame: int | None,
        ts: int | None,
        events: list[StreamEvent],
    ) -> None:
        assert frame is not None and ts is not None and d.nxt32 is not None
        d.nxt += missing
        d.nxt32 = (d.nxt32 + missing) & _MASK
        conn.gaps += 1
        conn.gap_bytes += missing
        events.append(StreamGap(conn.id, fc, missing, frame, ts))

    def _flush(
        self,
        conn: _Conn,
        d: _Half,
        fc: bool,
        frame: int | None,
        ts: int | None,
        events: list[StreamEvent],
    ) -> None:
        if d.starts or (d.fin_abs is not None and d.nxt < d.fin_abs):
            self._declare_gaps(conn, d, fc, None, frame, ts, events)


_new = object.__new__
