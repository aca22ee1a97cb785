"""Stage 3 of the core: cut one direction of a TCP stream into CMPP PDUs.

Sans-IO, after h2's FrameBuffer: feed bytes as they arrive, get back whole PDUs and reports of
skipped bytes. A PDU carries the frame that completed it, since that is when the receiver could
act on it. After a capture gap, a capture that starts mid-stream, or a sender whose
Total_Length lies (reference D13), the framer scans for the next *plausible* header: a known
Command_Id with a Total_Length that the command's layouts allow (``_pdu.plausible_header``, the
one statement of that test), whose body one layout explains byte for byte once it is complete.

Whole PDUs at the start of a segment are handed on in place, without a copy; only a PDU split
over segments is assembled in the direction's buffer.
"""

from libc.stdint cimport int64_t, uint8_t, uint32_t
from libc.string cimport memchr
from libcpp.string cimport string

from cmppdissect.core._pdu cimport plausible_header, plausible_pdu

from cmppdissect.protocol.commands import HEADER_LEN, MAX_PDU_LEN, command_name

from cmppdissect.core.records import FramedPdu, Skipped


# The most a direction's buffer keeps allocated between segments. What it holds then is at most
# one partial PDU (below MAX_PDU_LEN), but a segment appended to it may be far longer (the
# bytes released when a TCP hole is filled or given up: up to a megabyte), and a string keeps
# its capacity when emptied: without trimming, every session that once saw such a release
# would keep a megabyte per direction.
cdef size_t KEEP_CAPACITY = 2 * MAX_PDU_LEN


cdef inline void _trim(Framer* f) noexcept:
    if f.buf.capacity() > KEEP_CAPACITY:
        f.buf.shrink_to_fit()


cdef inline uint32_t be32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


def reason_text(int why, int64_t a=0, int64_t b=0, after=None):
    """The words for a WHY_* code, as findings show them. ``after``: the last PDU cut before
    the bytes, as (Command_Id, Total_Length, frame), when no header followed it: its
    Total_Length disagrees with the bytes on the wire (reference D13), so the words name it."""
    if why == WHY_MIDSTREAM:
        return "capture starts mid-stream"
    if why == WHY_NO_HEADER:
        if after is not None:
            cmd, total, frame = after
            return (f"no CMPP header here (Total_Length {a}, Command_Id 0x{b:08X}) after the "
                    f"{command_name(cmd)} of frame {frame}, which declared Total_Length "
                    f"{total} (does it disagree with the bytes sent?); skipped to the next "
                    "plausible header")
        return (f"no CMPP header here (Total_Length {a}, Command_Id 0x{b:08X}); skipped to the "
                "next plausible header")
    if why == WHY_GAP_RESYNC:
        return f"resynchronising after a capture gap of {a} bytes"
    if why == WHY_GAP_PARTIAL:
        return f"partial PDU lost to a capture gap of {a} bytes"
    return "stream ended inside a PDU"


cdef object after_of(const Framer* f, int why):
    """The PDU the skipped bytes came after, for :func:`reason_text` (None when it is not the
    reason: a gap, or a stream that never framed a PDU)."""
    if why != WHY_NO_HEADER or f.last_frame <= 0:
        return None
    return (f.last_cmd, f.last_total, f.last_frame)


cdef class PduSink:
    cdef int pdu(self, const uint8_t* p, Py_ssize_t n, int64_t frame, int64_t ts,
                 int64_t first_frame) except -1:
        return 0

    cdef int skipped(self, int64_t size, int64_t frame, int64_t ts, int why, int64_t a,
                     int64_t b, const Framer* f, const uint8_t* data) except -1:
        return 0


cdef void framer_init(Framer* f, bint synced) noexcept nogil:
    f.buf.clear()
    f.first_frame = 0
    f.synced = synced
    f.why = WHY_MIDSTREAM  # the reason used if we start unsynced
    f.why_a = 0
    f.why_b = 0
    f.skipped_bytes = 0
    f.last_cmd = f.last_total = 0
    f.last_frame = 0


cdef int framer_feed(Framer* f, const uint8_t* p, Py_ssize_t n, int64_t frame, int64_t ts,
                     PduSink sink) except -1:
    cdef Py_ssize_t off = 0
    cdef uint32_t total, cmd
    if n == 0:
        return 0
    if f.buf.empty() and f.synced:
        # Whole PDUs at the start of the segment: no copy into the buffer.
        while n - off >= 8:
            total = be32(p + off)
            cmd = be32(p + off + 4)
            if off + <Py_ssize_t>total > n or total < 12 or not plausible_header(total, cmd):
                break
            sink.pdu(p + off, total, frame, ts, frame)
            f.last_cmd = cmd
            f.last_total = total
            f.last_frame = frame
            off += total
        if off == n:
            return 0
    if f.buf.empty():
        f.first_frame = frame
    f.buf.append(<const char*>p + off, n - off)
    return _drain(f, frame, ts, sink)


cdef Py_ssize_t _scan(const uint8_t* buf, Py_ssize_t end, Py_ssize_t pos) noexcept nogil:
    """Offset of the next plausible PDU start, or -1 (a complete one when we can tell)."""
    cdef Py_ssize_t i = pos, j
    cdef const uint8_t* hit
    cdef uint32_t total, cmd
    while end - i >= 8:
        # Every known Command_Id has zero middle bytes (0x000000xx, 0x800000xx), so a header
        # can only start 5 bytes before a pair of NULs: memchr skips the rest.
        j = i + 5
        while True:
            if j + 2 > end - 1:
                return -1
            hit = <const uint8_t*>memchr(buf + j, 0, end - 1 - j - 1)
            if hit == NULL:
                return -1
            j = hit - buf
            if buf[j + 1] == 0:
                break
            j += 1
        i = j - 5
        total = be32(buf + i)
        cmd = be32(buf + i + 4)
        if plausible_header(total, cmd):
            if end - i < <Py_ssize_t>total:
                return i  # looks right and is not complete yet: wait for the rest
            if plausible_pdu(buf + i, total):
                return i
        i += 1
    return -1


cdef int _drain(Framer* f, int64_t frame, int64_t ts, PduSink sink) except -1:
    cdef Py_ssize_t pos = 0, n, found, keep, size
    cdef uint32_t total, cmd
    cdef const uint8_t* buf = <const uint8_t*>f.buf.data()
    cdef Py_ssize_t length = f.buf.size()
    while True:
        n = length - pos
        if not f.synced:
            found = _scan(buf, length, pos)
            if found < 0:
                # Keep the last bytes: a header may start in them.
                keep = max(pos, length - (HEADER_LEN - 1))
                if keep > pos:
                    f.skipped_bytes += keep - pos
                    sink.skipped(keep - pos, frame, ts, f.why, f.why_a, f.why_b, f, buf + pos)
                pos = keep
                break
            if found > pos:
                f.skipped_bytes += found - pos
                sink.skipped(found - pos, frame, ts, f.why, f.why_a, f.why_b, f, buf + pos)
            pos = found
            if length - found < <Py_ssize_t>be32(buf + found):
                # A candidate still incomplete: stay unsynced until it can be checked whole,
                # or how the stream was cut would decide what is a PDU.
                break
            f.synced = True
            continue
        if n < 8:
            break
        total = be32(buf + pos)
        cmd = be32(buf + pos + 4)
        if not plausible_header(total, cmd):
            f.synced = False
            f.why = WHY_NO_HEADER
            f.why_a = total
            f.why_b = cmd
            continue
        if n < <Py_ssize_t>total:
            break
        sink.pdu(buf + pos, total, frame, ts, f.first_frame)
        f.last_cmd = cmd
        f.last_total = total
        f.last_frame = frame
        f.first_frame = frame
        pos += total
    if pos:
        f.buf.erase(0, pos)
    _trim(f)
    if not f.buf.empty() and not f.first_frame:
        f.first_frame = frame
    return 0


cdef int framer_gap(Framer* f, int64_t missing, int64_t frame, int64_t ts,
                    PduSink sink) except -1:
    """Bytes were lost: drop the partial PDU and look for the next header."""
    cdef int64_t size = f.buf.size()
    if size:
        f.skipped_bytes += size
        sink.skipped(size, frame, ts, WHY_GAP_PARTIAL, missing, 0, f,
                     <const uint8_t*>f.buf.data())
        f.buf.clear()
        _trim(f)
    f.synced = False
    f.why = WHY_GAP_RESYNC
    f.why_a = missing
    f.why_b = 0
    return 0


cdef int framer_close(Framer* f, int64_t frame, int64_t ts, PduSink sink) except -1:
    """End of stream: what is left is an incomplete PDU."""
    cdef int64_t size = f.buf.size()
    if size:
        f.skipped_bytes += size
        if f.synced:
            sink.skipped(size, frame, ts, WHY_STREAM_END, 0, 0, f, <const uint8_t*>f.buf.data())
        else:
            sink.skipped(size, frame, ts, f.why, f.why_a, f.why_b, f,
                         <const uint8_t*>f.buf.data())
        f.buf.clear()
        _trim(f)
    return 0


cdef class _Collect(PduSink):
    cdef list items

    cdef int pdu(self, const uint8_t* p, Py_ssize_t n, int64_t frame, int64_t ts,
                 int64_t first_frame) except -1:
        self.items.append(FramedPdu(p[:n], frame, ts, first_frame))
        return 0

    cdef int skipped(self, int64_t size, int64_t frame, int64_t ts, int why, int64_t a,
                     int64_t b, const Framer* f, const uint8_t* data) except -1:
        self.items.append(Skipped(size, frame, ts, reason_text(why, a, b, after_of(f, why)),
                                  f.first_frame, data[:min(size, SKIP_SHOWN)]))
        return 0


cdef class PduFramer:
    """One direction of one connection, for tests and tools: the same framing the core runs,
    with its output as :class:`~cmppdissect.core.records.FramedPdu` and
    :class:`~cmppdissect.core.records.Skipped` records. ``synced`` is False until a plausible
    header has been seen (a stream picked up without its start)."""

    cdef Framer f
    cdef _Collect out

    def __init__(self, *, synced=True):
        framer_init(&self.f, synced)
        self.out = _Collect()
        self.out.items = []

    @property
    def synced(self):
        return self.f.synced

    @property
    def buffered(self):
        return self.f.buf.size()

    @property
    def skipped_bytes(self):
        return self.f.skipped_bytes

    def _take(self):
        items = self.out.items
        self.out.items = []
        return items

    def feed(self, data, int64_t frame, int64_t ts_ns):
        cdef const uint8_t[::1] view = data
        cdef Py_ssize_t n = view.shape[0]
        if n:
            framer_feed(&self.f, &view[0], n, frame, ts_ns, self.out)
        return self._take()

    def gap(self, int64_t missing, int64_t frame, int64_t ts_ns):
        framer_gap(&self.f, missing, frame, ts_ns, self.out)
        return self._take()

    def close(self, int64_t frame, int64_t ts_ns):
        framer_close(&self.f, frame, ts_ns, self.out)
        return self._take()
