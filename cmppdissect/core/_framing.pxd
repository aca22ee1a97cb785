from libc.stdint cimport int64_t, uint8_t, uint32_t
from libcpp.string cimport string

# Why bytes were skipped (formatted by reason_text).
cdef enum:
    WHY_MIDSTREAM = 0       # the capture starts mid-stream
    WHY_NO_HEADER = 1       # a = Total_Length, b = Command_Id read where a header should be
    WHY_GAP_RESYNC = 2      # a = bytes the capture lost before the search
    WHY_GAP_PARTIAL = 3     # a = bytes lost; the partial PDU before the gap is dropped
    WHY_STREAM_END = 4      # the stream ended inside a PDU

cdef enum:
    SKIP_SHOWN = 32         # the first bytes of a skipped run that its finding shows


cdef cppclass Framer:
    # One direction of one connection: a partial PDU, and whether a header was found yet.
    string buf
    int64_t first_frame     # the frame the buffered bytes' first byte came in
    bint synced
    int why                 # WHY_*: reason for skipping while unsynced
    int64_t why_a
    int64_t why_b
    int64_t skipped_bytes
    # The last PDU cut from this direction: when no header follows it, its Total_Length is
    # the likely liar (reference D13), and the finding names it.
    uint32_t last_cmd
    uint32_t last_total
    int64_t last_frame      # 0: none yet


cdef class PduSink:
    """Receives the framer's output: whole PDUs, and runs of skipped bytes."""
    cdef int pdu(self, const uint8_t* p, Py_ssize_t n, int64_t frame, int64_t ts,
                 int64_t first_frame) except -1
    cdef int skipped(self, int64_t size, int64_t frame, int64_t ts, int why, int64_t a,
                     int64_t b, const Framer* f, const uint8_t* data) except -1


cdef object after_of(const Framer* f, int why)
cdef void framer_init(Framer* f, bint synced) noexcept nogil
cdef int framer_feed(Framer* f, const uint8_t* p, Py_ssize_t n, int64_t frame, int64_t ts,
                     PduSink sink) except -1
cdef int framer_gap(Framer* f, int64_t missing, int64_t frame, int64_t ts,
                    PduSink sink) except -1
cdef int framer_close(Framer* f, int64_t frame, int64_t ts, PduSink sink) except -1
