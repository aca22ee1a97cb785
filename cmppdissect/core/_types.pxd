# The records the compiled stages hand each other, and the interfaces they call.
#
# Each stage (capture walk, TCP, framing, PDU accounting) is a cdef class that calls the next
# one through a "sink" interface declared here: the hot path is C calls through vtables, with
# no Python object per frame or PDU. A pointer handed to a sink is valid only during the call
# (it points into the caller's buffer); a sink that keeps bytes copies them.

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

cdef enum:
    TCP_FIN = 0x01
    TCP_SYN = 0x02
    TCP_RST = 0x04
    TCP_PSH = 0x08
    TCP_ACK = 0x10

# How a connection ended (ConnectionClosed.how).
cdef enum CloseHow:
    CLOSE_FIN = 0
    CLOSE_RST = 1
    CLOSE_REUSED = 2
    CLOSE_EVICTED = 3
    CLOSE_END = 4

# What a stage's cap dropped (StreamSink.capped).
cdef enum Capped:
    CAPPED_CONNECTIONS = 0  # connections evicted past max_connections
    CAPPED_TCP_HELD = 1     # held out-of-order bytes given up past the total caps

cdef struct Endpoint:
    uint8_t family      # 4 or 6
    uint8_t addr[16]    # IPv4 in the first 4 bytes, the rest zero
    uint16_t port

cdef struct Segment:
    int64_t frame
    int64_t ts
    int64_t offset      # where the frame's record starts in the capture bytes (-1: unknown)
    Endpoint src
    Endpoint dst
    uint32_t seq
    uint32_t ack
    uint16_t flags
    const uint8_t* payload
    Py_ssize_t length

cdef struct ConnStats:
    int64_t frames
    int64_t bytes_from_client
    int64_t bytes_from_server
    int64_t retransmissions
    int64_t duplicates
    int64_t out_of_order
    int64_t gaps
    int64_t gap_bytes
    int closed_by            # who closed it: 0 not known (yet), 1 the client, 2 the server


cdef class SegmentSink:
    """Receives the TCP segments of a capture, in capture order."""
    cdef int segment(self, const Segment* seg) except -1


cdef class StreamSink:
    """Receives ordered byte-stream events from the TCP stage.

    ``frame == 0`` means "no frame" (a connection closed at the end of the capture or evicted),
    and then ``ts`` means nothing either. ``offset`` (data only) is where the record of
    ``frame`` starts in the capture bytes, -1 when unknown.
    """
    cdef int opened(self, int64_t conn, const Endpoint* client, const Endpoint* server,
                    int64_t frame, int64_t ts, bint saw_syn) except -1
    cdef int data(self, int64_t conn, bint from_client, const uint8_t* p, Py_ssize_t n,
                  int64_t frame, int64_t ts, int64_t offset) except -1
    cdef int gap(self, int64_t conn, bint from_client, int64_t missing, int64_t frame,
                 int64_t ts) except -1
    cdef int closed(self, int64_t conn, int how, int64_t frame, int64_t ts,
                    const ConnStats* stats) except -1
    cdef int capped(self, int what, int64_t frame) except -1


cdef object endpoint_address(const Endpoint* ep)
cdef int64_t sat_add(int64_t a, int64_t b) noexcept nogil
cdef int64_t sat_sub(int64_t a, int64_t b) noexcept nogil
