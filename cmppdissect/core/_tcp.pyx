"""Stage 2 of the core: TCP reassembly, segments in, ordered byte-stream events out.

The tracker knows nothing about files or CMPP. It turns segments into per-direction byte
streams that are in order and free of duplicates, and it says explicitly where bytes are
missing (a gap) instead of silently splicing around them, so the framer above can
resynchronise at exactly the right place.

Sequence numbers map to unbounded "stream positions" (bytes since the direction's start), which
makes the 32-bit wrap a non-event everywhere except in the one conversion. Out-of-order bytes
are kept as sorted, non-overlapping pieces; a byte is stored at most once.

Memory is bounded by ``max_buffered`` bytes and ``max_pieces`` pieces of out-of-order data per
direction (past either, the first hole becomes a gap), by ``max_buffered_total`` bytes and
``max_pieces_total`` pieces of it over all connections together (past either, the direction
that has held bytes the longest gives up its holes: each becomes a gap, and what was held is
delivered), and by ``max_connections`` tracked connections (past it the least recently active
are evicted, closed ones first, in batches of a sixteenth of the cap so the sort that chooses
them is amortised). The sink's ``capped`` is told the first time each total cap and the
connection cap are hit, so the loss is reported once.

Frame numbers in events: in-order data carries the frame that brought it; data released by a
hole being filled, or by a gap being declared, carries the frame whose arrival released it; only
:meth:`finish` and eviction, which have no such frame, fall back to the frame that carried the
bytes. A data event also carries the record offset of its frame, and while a sink handles an
event that joined buffered pieces, :attr:`TcpTracker.spans` says which frame carried which of
its bytes (so a PDU can name every frame it came in).
"""

import socket

from libc.stdint cimport INT64_MAX, int32_t, int64_t, uint8_t, uint16_t, uint32_t
from libc.string cimport memcpy, memset
from libcpp.algorithm cimport sort
from libcpp.pair cimport pair
from libcpp.string cimport string
from libcpp.vector cimport vector
from cython.operator cimport dereference as deref, preincrement as inc, predecrement as dec

from cmppdissect.core._types cimport (
    CAPPED_CONNECTIONS,
    CAPPED_TCP_HELD,
    CLOSE_END,
    CLOSE_EVICTED,
    CLOSE_FIN,
    CLOSE_REUSED,
    CLOSE_RST,
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    ConnStats,
    Endpoint,
    Segment,
    StreamSink,
    endpoint_address,
)

from cmppdissect.core.records import (
    ConnectionClosed,
    ConnectionOpened,
    ConnStats as ConnStatsRecord,
    StreamData,
    StreamGap,
    format_endpoint,
)

from cmppdissect.protocol.commands import DEFAULT_PORTS as DEFAULT_SERVER_PORTS  # the one list

CLOSE_NAMES = ("fin", "rst", "reused", "evicted", "end-of-capture")

cdef int64_t NO_LIMIT = INT64_MAX


cdef inline int64_t position(Half* d, uint32_t seq) noexcept nogil:
    """Stream position of ``seq``: the one nearest to ``nxt`` modulo 2**32."""
    return d.nxt + <int64_t>(<int32_t>(seq - d.nxt32))


cdef ConnStats snapshot(Conn* conn) noexcept nogil:
    cdef ConnStats st
    st.frames = conn.frames
    st.bytes_from_client = conn.c2s.delivered
    st.bytes_from_server = conn.s2c.delivered
    st.retransmissions = conn.retrans
    st.duplicates = conn.dups
    st.out_of_order = conn.ooo
    st.gaps = conn.gaps
    st.gap_bytes = conn.gap_bytes
    # Who closed: the side of the RST, else the side whose FIN came first.
    st.closed_by = conn.rst_by
    if not st.closed_by and (conn.c2s.has_fin or conn.s2c.has_fin):
        if conn.c2s.has_fin and (not conn.s2c.has_fin or conn.c2s.fin_frame <= conn.s2c.fin_frame):
            st.closed_by = 1
        else:
            st.closed_by = 2
    return st


cdef void _reset_half(Half* d) noexcept nogil:
    d.has_nxt = False
    d.nxt32 = 0
    d.nxt = 0
    d.pieces.clear()
    d.held = 0
    d.has_acked = False
    d.acked = 0
    d.has_fin = False
    d.fin_abs = 0
    d.fin_frame = 0
    d.fin_ts = 0
    d.has_isn = False
    d.isn = 0
    d.last_seq = -1
    d.delivered = 0
    d.hole = 0


cdef void _start_with_syn(Half* d, uint32_t isn) noexcept nogil:
    d.has_isn = True
    d.isn = isn
    d.has_nxt = True
    d.nxt32 = isn + 1
    d.nxt = 0
    d.pieces.clear()
    d.held = 0


cdef object stats_record(const ConnStats* st):
    return ConnStatsRecord(st.frames, st.bytes_from_client, st.bytes_from_server,
                           st.retransmissions, st.duplicates, st.out_of_order, st.gaps,
                           st.gap_bytes)


cdef class EventList(StreamSink):
    """A sink that keeps stream events as the records of :mod:`cmppdissect.core.records`
    (for tests and tools; the analysis never builds them)."""

    cdef public list items

    def __init__(self):
        self.items = []

    cdef int opened(self, int64_t conn, const Endpoint* client, const Endpoint* server,
                    int64_t frame, int64_t ts, bint saw_syn) except -1:
        self.items.append(ConnectionOpened(
            conn, format_endpoint(endpoint_address(client), client.port),
            format_endpoint(endpoint_address(server), server.port), frame, ts, saw_syn))
        return 0

    cdef int data(self, int64_t conn, bint from_client, const uint8_t* p, Py_ssize_t n,
                  int64_t frame, int64_t ts, int64_t offset) except -1:
        self.items.append(StreamData(conn, from_client, p[:n], frame, ts, offset))
        return 0

    cdef int gap(self, int64_t conn, bint from_client, int64_t missing, int64_t frame,
                 int64_t ts) except -1:
        self.items.append(StreamGap(conn, from_client, missing, frame, ts))
        return 0

    cdef int closed(self, int64_t conn, int how, int64_t frame, int64_t ts,
                    const ConnStats* stats) except -1:
        self.items.append(ConnectionClosed(conn, CLOSE_NAMES[how], frame or None,
                                           ts if frame else None, stats_record(stats)))
        return 0


cdef int _pack(str text, uint8_t* out) except -1:
    """A dotted quad or IPv6 address, packed into 16 bytes; returns the family (4 or 6)."""
    memset(out, 0, 16)
    cdef bytes packed
    if ":" in text:
        packed = socket.inet_pton(socket.AF_INET6, text)
        memcpy(out, <const char*>packed, 16)
        return 6
    packed = socket.inet_aton(text)
    memcpy(out, <const char*>packed, 4)
    return 4


cdef class TcpTracker(SegmentSink):
    """Follows every TCP connection of a capture and emits stream events to ``out``.

    ``server_ports`` decides which side is the server when a connection is picked up without
    its handshake (otherwise the lower port is). Without ``out``, :meth:`feed` and
    :meth:`finish` return the events as records.
    """

    def __init__(self, StreamSink out=None, *, server_ports=DEFAULT_SERVER_PORTS,
                 max_buffered=1 << 20, max_pieces=8192, max_connections=65536,
                 max_buffered_total=64 << 20, max_pieces_total=1 << 18):
        if (max_connections < 1 or max_buffered < 0 or max_pieces < 0
                or max_buffered_total < 0 or max_pieces_total < 0):
            raise ValueError("max_connections must be >= 1, the buffer caps >= 0")
        if out is None:
            self._collector = EventList()
            out = self._collector
        self.out = out
        self.server_ports = frozenset(server_ports)
        for port in self.server_ports:
            self.ports.insert(port)
        self.max_buffered = max_buffered
        self.max_pieces = max_pieces
        self.max_connections = max_connections
        self.max_buffered_total = max_buffered_total
        self.max_pieces_total = max_pieces_total
        self.next_hole = 1

    def __dealloc__(self):
        it = self.conns.begin()
        while it != self.conns.end():
            del deref(it).second
            inc(it)
        self.conns.clear()

    # -- Python surface (tests and tools) -----------------------------------------------------

    def feed(self, seg):
        """Process one :class:`~cmppdissect.core.records.TcpSegment`; its events."""
        cdef Segment s
        cdef bytes payload = seg.payload
        s.frame = seg.frame
        s.ts = seg.ts_ns
        s.offset = seg.offset
        s.src.family = _pack(seg.src_ip, s.src.addr)
        s.dst.family = _pack(seg.dst_ip, s.dst.addr)
        s.src.port = seg.src_port
        s.dst.port = seg.dst_port
        s.seq = seg.seq
        s.ack = seg.ack
        s.flags = seg.flags
        s.payload = payload
        s.length = len(payload)
        self.segment(&s)
        return self._take()

    def feed_all(self, segments, *, finish=True):
        """:meth:`feed` for each segment (and :meth:`finish` at the end), events as they come."""
        for seg in segments:
            yield from self.feed(seg)
        if finish:
            yield from self.finish()

    def finish(self):
        """End of capture: flush every connection, declaring remaining holes as gaps."""
        self.finish_c()
        return self._take()

    def _take(self):
        if self._collector is None:
            return []
        items = (<EventList>self._collector).items
        (<EventList>self._collector).items = []
        return items

    def stats(self, int64_t conn):
        """Counters of connection ``conn`` (tracked, or among the most recently forgotten)."""
        it = self.conns.find(conn)
        cdef ConnStats st
        if it != self.conns.end():
            st = snapshot(deref(it).second)
            return stats_record(&st)
        found = self.closed_stats.find(conn)
        if found == self.closed_stats.end():
            raise KeyError(conn)
        return stats_record(&deref(found).second)

    @property
    def open_connections(self):
        cdef int64_t count = 0
        for item in self.conns:
            if not item.second.closed:
                count += 1
        return count

    def check_invariants(self):
        """Raise AssertionError unless the caps and the buffer invariants hold (for tests and
        fuzzers): per direction, the held count is the bytes of the pieces, pieces never
        overlap and start past the delivered position, and the caps are respected."""
        cdef Conn* conn
        cdef Half* d
        cdef int64_t total, last_end, all_bytes = 0, all_pieces = 0, holding = 0
        assert <int64_t>self.conns.size() <= self.max_connections, "too many connections"
        for item in self.conns:
            conn = item.second
            for k in range(2):
                d = &conn.c2s if k == 0 else &conn.s2c
                all_bytes += d.held
                all_pieces += d.pieces.size()
                assert (d.hole != 0) == (not d.pieces.empty()), "a holding direction unlisted"
                if d.hole:
                    holding += 1
                    assert self.holes.count(d.hole), "a holding direction unlisted"
                total = 0
                last_end = d.nxt
                for piece in d.pieces:
                    assert piece.first >= last_end, "pieces overlap or precede the stream"
                    assert piece.second.end == piece.first + <int64_t>piece.second.data.size()
                    total += piece.second.data.size()
                    last_end = piece.second.end
                assert total == d.held, "held bytes disagree with the pieces"
                assert d.held <= self.max_buffered, "more bytes held than max_buffered"
                assert <int64_t>d.pieces.size() <= self.max_pieces, "more pieces than max_pieces"
        assert all_bytes == self.held_total and all_pieces == self.pieces_total, "totals disagree"
        assert holding == <int64_t>self.holes.size(), "a direction listed that holds nothing"
        assert self.held_total <= self.max_buffered_total, "more bytes held than the total cap"
        assert self.pieces_total <= self.max_pieces_total, "more pieces than the total cap"

    @property
    def tracked(self):
        """Connections held now, open or closed (at most ``max_connections``)."""
        return self.conns.size()

    @property
    def opened(self):
        """Connections opened so far (held until the end, or evicted past
        ``max_connections``)."""
        return self.next_id

    @property
    def remembered(self):
        """Connections no longer tracked whose counters :meth:`stats` still gives (at most
        ``max_connections``)."""
        return self.closed_stats.size()

    # -- segments -----------------------------------------------------------------------------

    cdef int segment(self, const Segment* seg) except -1:
        cdef FlowKey key = flow_key(seg.src.addr, seg.src.port, seg.dst.addr, seg.dst.port,
                                    seg.src.family)
        cdef IndexEntry* ent = NULL
        it = self.index.find(key)
        if it != self.index.end():
            ent = &deref(it).second
        cdef uint16_t flags = seg.flags
        cdef Conn* conn
        cdef Half* d
        cdef Half* o
        cdef bint fc
        self.cur_offset = seg.offset
        if ent != NULL and not flags & (TCP_SYN | TCP_FIN | TCP_RST) and not ent.conn.closed:
            # An established connection, an ACK and/or in-order data: the common case.
            conn = ent.conn
            fc = ent.from_client
            d = &conn.c2s if fc else &conn.s2c
            o = &conn.s2c if fc else &conn.c2s
            conn.frames += 1
            conn.last_frame = seg.frame
            if flags & TCP_ACK:
                o.has_acked = True
                o.acked = seg.ack
                if not o.pieces.empty():
                    self._ack_releases(conn, o, not fc, seg.ack, seg.frame, seg.ts)
            if seg.length:
                if d.has_nxt and seg.seq == d.nxt32 and d.pieces.empty() and not d.has_fin:
                    d.nxt += seg.length
                    d.nxt32 = seg.seq + <uint32_t>seg.length
                    d.last_seq = seg.seq
                    d.delivered += seg.length
                    self.out.data(conn.id, fc, seg.payload, seg.length, seg.frame, seg.ts,
                                  seg.offset)
                else:
                    self._data(conn, d, fc, seg.seq, seg.payload, seg.length, seg.frame, seg.ts)
            return 0
        return self._slow(seg, ent)

    cdef int _slow(self, const Segment* seg, IndexEntry* ent) except -1:
        cdef uint16_t flags = seg.flags
        cdef Conn* conn
        cdef bint fc = False
        cdef bint src_server, dst_server
        if flags & TCP_SYN:
            conn = self._on_syn(seg, ent, &fc)
            if conn == NULL:
                return 0
        elif ent == NULL:
            if flags & TCP_RST:
                return 0  # a reset for a connection we never saw opens nothing
            src_server = self.ports.count(seg.src.port) > 0
            dst_server = self.ports.count(seg.dst.port) > 0
            fc = dst_server if src_server != dst_server else seg.dst.port <= seg.src.port
            conn = self._open(seg, fc, False)
        else:
            conn = ent.conn
            fc = ent.from_client
            if conn.closed:
                return 0  # late retransmission or ACK of a finished connection
        conn.frames += 1
        conn.last_frame = seg.frame
        cdef Half* d = &conn.c2s if fc else &conn.s2c
        cdef Half* o = &conn.s2c if fc else &conn.c2s
        cdef uint32_t data_seq = seg.seq + 1 if flags & TCP_SYN else seg.seq
        if flags & TCP_ACK:
            o.has_acked = True
            o.acked = seg.ack
            if not o.pieces.empty():
                self._ack_releases(conn, o, not fc, seg.ack, seg.frame, seg.ts)
        if flags & TCP_RST:
            conn.rst_by = 1 if fc else 2
            return self._close(conn, CLOSE_RST, seg.frame, seg.ts)
        if seg.length:
            self._data(conn, d, fc, data_seq, seg.payload, seg.length, seg.frame, seg.ts)
        if flags & TCP_FIN:
            if not d.has_nxt:
                d.has_nxt = True
                d.nxt32 = data_seq
            if not d.has_fin:
                d.has_fin = True
                d.fin_abs = position(d, data_seq) + seg.length
                d.fin_frame = seg.frame
                d.fin_ts = seg.ts
            if conn.c2s.has_fin and conn.s2c.has_fin:
                self._close(conn, CLOSE_FIN, seg.frame, seg.ts)
        return 0

    cdef Conn* _on_syn(self, const Segment* seg, IndexEntry* ent, bint* fc) except? NULL:
        """Whether a SYN belongs to a known connection, starts one, or is stale (NULL)."""
        cdef bint synack = seg.flags & TCP_ACK != 0
        cdef Conn* conn
        cdef Half* d
        cdef bint started, turned
        cdef int64_t carried = 0
        if ent != NULL:
            conn = ent.conn
            fc[0] = ent.from_client
            d = &conn.c2s if fc[0] else &conn.s2c
            if d.has_isn and d.isn == seg.seq:
                if conn.closed:
                    return NULL  # a late copy of the old connection's handshake
                conn.retrans += 1
                if d.last_seq == -1:
                    conn.dups += 1
                return conn
            if not conn.closed and not d.has_isn and not d.has_nxt:
                # The other half of a handshake we are following (SYN-ACK after SYN).
                started = conn.c2s.has_nxt or conn.s2c.has_nxt
                # A SYN from the side taken for the server's (a SYN-ACK from the client's) of
                # a connection a segment without one opened, before any byte and on no known
                # port (so the sink made no session of it yet): the guess was the wrong way
                # round (frames out of order). It opens again below, as its handshake says,
                # with the frames it had.
                turned = (fc[0] == synack and not started and not conn.c2s.has_isn
                          and not conn.s2c.has_isn and not self.ports.count(conn.server.port)
                          and not self.ports.count(conn.client.port))
                if turned:
                    carried = conn.frames
                elif synack or not started:
                    _start_with_syn(d, seg.seq)
                    return conn
            if not conn.closed:
                self._close(conn, CLOSE_REUSED, seg.frame, seg.ts)
        # A SYN-ACK without its SYN still tells who the client is: the side it goes to.
        conn = self._open(seg, not synack, True)
        conn.frames = carried
        fc[0] = not synack
        d = &conn.c2s if fc[0] else &conn.s2c
        _start_with_syn(d, seg.seq)
        cdef Half* other
        if synack:
            other = &conn.s2c if fc[0] else &conn.c2s
            other.has_nxt = True
            other.nxt32 = seg.ack
        return conn

    cdef Conn* _open(self, const Segment* seg, bint src_is_client, bint saw_syn) except? NULL:
        if <int64_t>self.conns.size() >= self.max_connections:
            self._evict(seg.frame)
        cdef Conn* conn = new Conn()
        conn.id = self.next_id
        self.next_id += 1
        conn.client = seg.src if src_is_client else seg.dst
        conn.server = seg.dst if src_is_client else seg.src
        _reset_half(&conn.c2s)
        _reset_half(&conn.s2c)
        conn.closed = False
        conn.frames = conn.retrans = conn.dups = conn.ooo = conn.gaps = conn.gap_bytes = 0
        conn.last_frame = 0
        conn.rst_by = 0
        self.conns[conn.id] = conn
        cdef IndexEntry ent
        ent.conn = conn
        ent.from_client = True
        self.index[flow_key(conn.client.addr, conn.client.port, conn.server.addr,
                            conn.server.port, conn.client.family)] = ent
        ent.from_client = False
        self.index[flow_key(conn.server.addr, conn.server.port, conn.client.addr,
                            conn.client.port, conn.client.family)] = ent
        self.out.opened(conn.id, &conn.client, &conn.server, seg.frame, seg.ts, saw_syn)
        return conn

    cdef int _evict(self, int64_t frame) except -1:
        """Drop a batch of the least recently active connections, closed ones first."""
        cdef int64_t batch = max(1, self.max_connections // 16)
        cdef vector[pair[int64_t, int64_t]] order  # ((open, last_frame) packed, id)
        cdef Conn* conn
        for item in self.conns:
            conn = item.second
            order.push_back(pair[int64_t, int64_t](
                ((<int64_t>(not conn.closed)) << 62) | (conn.last_frame & ((1LL << 62) - 1)),
                conn.id))
        sort(order.begin(), order.end())
        cdef int64_t i
        for i in range(min(batch, <int64_t>order.size())):
            conn = self.conns[order[i].second]
            if not conn.closed:
                self._close(conn, CLOSE_EVICTED, 0, 0)
            self._forget(conn)
            self.evicted += 1
        return self.out.capped(CAPPED_CONNECTIONS, frame)

    cdef void _forget(self, Conn* conn):
        cdef FlowKey key
        for k in range(2):
            if k == 0:
                key = flow_key(conn.client.addr, conn.client.port, conn.server.addr,
                               conn.server.port, conn.client.family)
            else:
                key = flow_key(conn.server.addr, conn.server.port, conn.client.addr,
                               conn.client.port, conn.client.family)
            it = self.index.find(key)
            if it != self.index.end() and deref(it).second.conn == conn:
                self.index.erase(it)  # not a newer reuse of the tuple
        self._remember(conn)
        self.conns.erase(conn.id)
        del conn

    cdef void _remember(self, Conn* conn):
        if self.closed_stats.count(conn.id) == 0:
            self.closed_order.push_back(conn.id)
        self.closed_stats[conn.id] = snapshot(conn)
        while <int64_t>self.closed_stats.size() > self.max_connections:
            self.closed_stats.erase(self.closed_order.front())
            self.closed_order.pop_front()

    cdef int _close(self, Conn* conn, int how, int64_t frame, int64_t ts) except -1:
        if not conn.c2s.pieces.empty() or (conn.c2s.has_fin and conn.c2s.nxt < conn.c2s.fin_abs):
            self._declare_gaps(conn, &conn.c2s, True, NO_LIMIT, frame, ts)
        if not conn.s2c.pieces.empty() or (conn.s2c.has_fin and conn.s2c.nxt < conn.s2c.fin_abs):
            self._declare_gaps(conn, &conn.s2c, False, NO_LIMIT, frame, ts)
        conn.closed = True
        cdef ConnStats st = snapshot(conn)
        return self.out.closed(conn.id, how, frame, ts, &st)

    cdef int finish_c(self) except -1:
        cdef vector[Conn*] all_conns
        for item in self.conns:
            all_conns.push_back(item.second)
        for conn in all_conns:
            if not conn.closed:
                self._close(conn, CLOSE_END, 0, 0)
            self._remember(conn)
        for conn in all_conns:
            del conn
        self.conns.clear()
        self.index.clear()
        return 0

    # -- data -----------------------------------------------------------------------------------

    cdef int _data(self, Conn* conn, Half* d, bint fc, uint32_t seq, const uint8_t* p,
                   Py_ssize_t n, int64_t frame, int64_t ts) except -1:
        """Everything but the in-order fast path: retransmissions, overlaps, reordering."""
        if not d.has_nxt:
            d.has_nxt = True
            d.nxt32 = seq  # picked up mid-stream: the first bytes seen are the start
        cdef int64_t start = position(d, seq)
        cdef int64_t end = start + n
        if d.has_fin and end > d.fin_abs:
            # Bytes past a FIN cannot belong to the stream.
            end = max(start, d.fin_abs)
            n = end - start
            if not n:
                return 0
        if end <= d.nxt:
            conn.retrans += 1
            if <int64_t>seq == d.last_seq:
                conn.dups += 1
            return 0
        if start < d.nxt:
            conn.retrans += 1
            p += d.nxt - start
            n -= d.nxt - start
            start = d.nxt
        if start == d.nxt and d.pieces.empty():
            self._deliver(conn, d, fc, p, n, frame, ts, self.cur_offset)
            d.last_seq = seq
            return 0
        cdef int64_t added = self._insert(d, start, p, n, frame, ts)
        cdef IndexEntry holder
        if d.hole == 0 and not d.pieces.empty():
            d.hole = self.next_hole
            self.next_hole += 1
            holder.conn = conn
            holder.from_client = fc
            self.holes[d.hole] = holder
        if start > d.nxt:
            if added:
                conn.ooo += 1
            else:
                conn.retrans += 1
        else:
            d.last_seq = seq
        self._release(conn, d, fc, frame, ts)
        if not d.pieces.empty() and d.has_acked:
            self._ack_releases(conn, d, fc, d.acked, frame, ts)
        while not d.pieces.empty() and (d.held > self.max_buffered
                                        or <int64_t>d.pieces.size() > self.max_pieces):
            self._declare_gaps(conn, d, fc, deref(d.pieces.begin()).first, frame, ts)
        if self.held_total > self.max_buffered_total or self.pieces_total > self.max_pieces_total:
            self._over_total(frame, ts)
        return 0

    cdef int _over_total(self, int64_t frame, int64_t ts) except -1:
        """Past a total cap: the directions that have held bytes the longest give up their
        holes (each becomes a gap, and the bytes after it are delivered), the oldest first."""
        cdef IndexEntry ent
        cdef Half* d
        while not self.holes.empty() and (self.held_total > self.max_buffered_total
                                          or self.pieces_total > self.max_pieces_total):
            ent = deref(self.holes.begin()).second
            d = &ent.conn.c2s if ent.from_client else &ent.conn.s2c
            last = d.pieces.end()
            dec(last)
            self.holes_given_up += 1
            self._declare_gaps(ent.conn, d, ent.from_client, deref(last).second.end, frame, ts)
        return self.out.capped(CAPPED_TCP_HELD, frame)

    cdef int64_t _insert(self, Half* d, int64_t start, const uint8_t* p, Py_ssize_t n,
                         int64_t frame, int64_t ts) except -1:
        """Buffer the bytes that no buffered piece holds yet (the first copy seen wins)."""
        cdef int64_t end = start + n
        cdef int64_t cur = start
        cdef vector[pair[int64_t, int64_t]] new
        it = d.pieces.lower_bound(start)
        if it != d.pieces.begin():
            prev = it
            dec(prev)
            if deref(prev).second.end > cur:
                cur = deref(prev).second.end
        while cur < end:
            if it != d.pieces.end() and deref(it).first < end:
                if deref(it).first > cur:
                    new.push_back(pair[int64_t, int64_t](cur, deref(it).first))
                cur = max(cur, deref(it).second.end)
                inc(it)
            else:
                new.push_back(pair[int64_t, int64_t](cur, end))
                break
        cdef int64_t added = 0
        cdef Piece* piece
        for span in new:
            piece = &d.pieces[span.first]
            piece.end = span.second
            piece.data.assign(<const char*>p + (span.first - start), span.second - span.first)
            piece.frame = frame
            piece.ts = ts
            piece.offset = self.cur_offset
            added += span.second - span.first
        d.held += added
        if d.held > self.held_peak:
            self.held_peak = d.held
        self.held_total += added
        self.pieces_total += new.size()
        if self.held_total > self.held_total_peak:
            self.held_total_peak = self.held_total
        if self.pieces_total > self.pieces_total_peak:
            self.pieces_total_peak = self.pieces_total
        return added

    cdef int _deliver(self, Conn* conn, Half* d, bint fc, const uint8_t* p, Py_ssize_t n,
                      int64_t frame, int64_t ts, int64_t offset) except -1:
        d.nxt += n
        d.nxt32 += <uint32_t>n
        d.delivered += n
        return self.out.data(conn.id, fc, p, n, frame, ts, offset)

    cdef int _release(self, Conn* conn, Half* d, bint fc, int64_t frame, int64_t ts) except -1:
        """Deliver the buffered pieces that now continue the stream.

        With a ``frame`` the run becomes one event stamped with it; without (end of capture)
        each piece keeps the frame that carried it.
        """
        cdef int64_t pos = d.nxt
        cdef Piece piece
        cdef int64_t skip
        cdef string joined
        while not d.pieces.empty() and deref(d.pieces.begin()).first <= pos:
            it = d.pieces.begin()
            skip = pos - deref(it).first
            piece = deref(it).second
            d.pieces.erase(it)
            d.held -= piece.data.size()
            self.held_total -= piece.data.size()
            self.pieces_total -= 1
            if d.pieces.empty():
                self.holes.erase(d.hole)
                d.hole = 0
            if piece.end > pos:
                if frame == 0:
                    self._deliver(conn, d, fc, <const uint8_t*>piece.data.data() + skip,
                                  piece.data.size() - skip, piece.frame, piece.ts, piece.offset)
                else:
                    joined.append(piece.data.data() + skip, piece.data.size() - skip)
                    self.spans.push_back(pair[int64_t, int64_t](
                        piece.data.size() - skip, piece.offset))
                pos = piece.end
        if joined.size():
            try:
                self._deliver(conn, d, fc, <const uint8_t*>joined.data(), joined.size(), frame,
                              ts, self.cur_offset)
            finally:
                self.spans.clear()
        return 0

    cdef int _ack_releases(self, Conn* conn, Half* d, bint fc, uint32_t ack, int64_t frame,
                           int64_t ts) except -1:
        """The peer acknowledged up to ``ack``: bytes below it that we lack were lost to us."""
        if not d.has_nxt:
            return 0
        cdef int64_t delta = <int32_t>(ack - d.nxt32)
        if delta > 0:
            self._declare_gaps(conn, d, fc, d.nxt + delta, frame, ts)
        return 0

    cdef int _declare_gaps(self, Conn* conn, Half* d, bint fc, int64_t limit, int64_t frame,
                           int64_t ts) except -1:
        """Give up on the holes below stream position ``limit`` (NO_LIMIT: all of them).

        A hole is only ever declared up to a position the stream is known to have reached: the
        next buffered piece, the FIN, or the peer's acknowledgement.
        """
        cdef int64_t first
        while not d.pieces.empty():
            first = deref(d.pieces.begin()).first
            if first > d.nxt:
                if first > limit:
                    if limit > d.nxt:
                        self._gap(conn, d, fc, limit - d.nxt, frame, ts)
                    return 0
                if frame:
                    self._gap(conn, d, fc, first - d.nxt, frame, ts)
                else:
                    self._gap(conn, d, fc, first - d.nxt, deref(d.pieces.begin()).second.frame,
                              deref(d.pieces.begin()).second.ts)
            self._release(conn, d, fc, frame, ts)
        if d.has_fin and d.nxt < d.fin_abs and d.fin_abs <= limit:
            if not frame:
                frame, ts = d.fin_frame, d.fin_ts
            self._gap(conn, d, fc, d.fin_abs - d.nxt, frame, ts)
        return 0

    cdef int _gap(self, Conn* conn, Half* d, bint fc, int64_t missing, int64_t frame,
                  int64_t ts) except -1:
        d.nxt += missing
        d.nxt32 += <uint32_t>missing
        conn.gaps += 1
        conn.gap_bytes += missing
        return self.out.gap(conn.id, fc, missing, frame, ts)
