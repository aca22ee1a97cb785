from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libcpp.string cimport string
from libcpp.pair cimport pair
from libcpp.vector cimport vector
from libcpp.map cimport map as cmap
from libcpp.deque cimport deque
from libcpp.unordered_map cimport unordered_map
from libcpp.unordered_set cimport unordered_set

from cmppdissect.core._types cimport ConnStats, Endpoint, Segment, SegmentSink, StreamSink


cdef extern from *:
    """
    #include <functional>
    #include <cstring>
    /* One direction of a 4-tuple as a hashable value: the index of connections is looked up
       once per segment, so the key is five machine words, not a string. */
    struct CmppFlowKey {
        uint64_t w[5];
        bool operator==(const CmppFlowKey& o) const { return std::memcmp(w, o.w, sizeof w) == 0; }
    };
    namespace std {
    template <> struct hash<CmppFlowKey> {
        size_t operator()(const CmppFlowKey& k) const noexcept {
            uint64_t h = 0x9E3779B97F4A7C15ULL;
            for (int i = 0; i < 5; i++) { h ^= k.w[i]; h *= 0xBF58476D1CE4E5B9ULL; h ^= h >> 31; }
            return (size_t)h;
        }
    };
    }
    static inline CmppFlowKey cmpp_flow_key(const uint8_t* src, uint16_t sport,
                                            const uint8_t* dst, uint16_t dport, uint8_t family) {
        CmppFlowKey k;
        std::memcpy(&k.w[0], src, 16);
        std::memcpy(&k.w[2], dst, 16);
        k.w[4] = ((uint64_t)family << 32) | ((uint64_t)sport << 16) | dport;
        return k;
    }
    """
    cdef cppclass FlowKey "CmppFlowKey":
        bint operator==(const FlowKey&)
    FlowKey flow_key "cmpp_flow_key"(const uint8_t* src, uint16_t sport, const uint8_t* dst,
                                     uint16_t dport, uint8_t family) noexcept nogil


cdef cppclass Piece:
    int64_t end
    string data
    int64_t frame
    int64_t ts
    int64_t offset       # the record of the frame that carried the bytes


cdef cppclass Half:
    # Receive state of one direction. Sequence numbers map to unbounded stream positions
    # (bytes since the direction's start), so the 32-bit wrap happens in one conversion only.
    bint has_nxt         # nxt32 known
    uint32_t nxt32       # next expected sequence number
    int64_t nxt          # its stream position (bytes delivered + bytes declared missing)
    cmap[int64_t, Piece] pieces  # out-of-order bytes by start position, never overlapping
    int64_t held         # bytes buffered out of order
    bint has_acked
    uint32_t acked       # latest ACK the peer sent for this direction
    bint has_fin
    int64_t fin_abs      # stream position of the FIN
    int64_t fin_frame
    int64_t fin_ts
    bint has_isn
    uint32_t isn         # sequence number of this direction's SYN
    int64_t last_seq     # seq of the latest in-order segment (-1: none): tells exact duplicates
    int64_t delivered
    int64_t hole         # while pieces are held: the key of this direction in TcpTracker.holes


cdef cppclass Conn:
    int64_t id
    Endpoint client
    Endpoint server
    Half c2s
    Half s2c
    bint closed
    int64_t frames
    int64_t retrans
    int64_t dups
    int64_t ooo
    int64_t gaps
    int64_t gap_bytes
    int64_t last_frame
    int rst_by               # the side whose RST ended it: 1 the client, 2 the server


cdef struct IndexEntry:
    Conn* conn
    bint from_client


cdef class TcpTracker(SegmentSink):
    cdef StreamSink out
    cdef object _collector          # the EventList that ``out`` is when no sink was given
    cdef readonly object server_ports
    cdef unordered_set[uint16_t] ports
    cdef readonly int64_t max_buffered
    cdef readonly int64_t max_pieces
    cdef readonly int64_t max_connections
    cdef readonly int64_t max_buffered_total
    cdef readonly int64_t max_pieces_total
    cdef unordered_map[FlowKey, IndexEntry] index
    cdef cmap[int64_t, Conn*] conns   # by id: ids grow, so this is also creation order
    cdef unordered_map[int64_t, ConnStats] closed_stats
    cdef deque[int64_t] closed_order
    cdef int64_t next_id
    cdef readonly int64_t held_peak    # the most out-of-order bytes one direction held
    # Out-of-order bytes and pieces held by all directions together, and the directions that
    # hold any, by when their holding began (the oldest first: the first given up past the
    # total caps).
    cdef readonly int64_t held_total
    cdef readonly int64_t pieces_total
    cdef readonly int64_t held_total_peak
    cdef readonly int64_t pieces_total_peak
    cdef readonly int64_t holes_given_up   # directions whose holes became gaps past the total
    cdef readonly int64_t evicted          # connections evicted past max_connections
    cdef cmap[int64_t, IndexEntry] holes
    cdef int64_t next_hole
    cdef int64_t cur_offset            # the record of the segment being handled
    # During a data event that joins buffered pieces: (bytes, record of the frame that carried
    # them) per piece, in stream order; empty when the event's bytes all came in its own frame.
    cdef vector[pair[int64_t, int64_t]] spans

    cdef int _slow(self, const Segment* seg, IndexEntry* ent) except -1
    cdef Conn* _on_syn(self, const Segment* seg, IndexEntry* ent, bint* fc) except? NULL
    cdef Conn* _open(self, const Segment* seg, bint src_is_client, bint saw_syn) except? NULL
    cdef int _evict(self, int64_t frame) except -1
    cdef void _forget(self, Conn* conn)
    cdef void _remember(self, Conn* conn)
    cdef int _close(self, Conn* conn, int how, int64_t frame, int64_t ts) except -1
    cdef int _data(self, Conn* conn, Half* d, bint fc, uint32_t seq, const uint8_t* p,
                   Py_ssize_t n, int64_t frame, int64_t ts) except -1
    cdef int64_t _insert(self, Half* d, int64_t start, const uint8_t* p, Py_ssize_t n,
                         int64_t frame, int64_t ts) except -1
    cdef int _deliver(self, Conn* conn, Half* d, bint fc, const uint8_t* p, Py_ssize_t n,
                      int64_t frame, int64_t ts, int64_t offset) except -1
    cdef int _release(self, Conn* conn, Half* d, bint fc, int64_t frame, int64_t ts) except -1
    cdef int _ack_releases(self, Conn* conn, Half* d, bint fc, uint32_t ack, int64_t frame,
                           int64_t ts) except -1
    cdef int _declare_gaps(self, Conn* conn, Half* d, bint fc, int64_t limit, int64_t frame,
                           int64_t ts) except -1
    cdef int _over_total(self, int64_t frame, int64_t ts) except -1
    cdef int _gap(self, Conn* conn, Half* d, bint fc, int64_t missing, int64_t frame,
                  int64_t ts) except -1
    cdef int finish_c(self) except -1


cdef ConnStats snapshot(Conn* conn) noexcept nogil
