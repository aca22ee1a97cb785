"""Stage 1 of the core: the container walk, link layers, IPv4/IPv6 and IPv4 fragments.

Sans-IO: :meth:`CaptureReader.feed` takes the bytes of a pcap or pcapng capture in chunks of
any size (files, pipes and live capture hand their bytes over the same way; gzip is undone
before), and every TCP segment found goes to the next stage as a :c:type:`Segment` that
points into the chunk. Nothing is copied unless a record straddles two chunks.

Every length read from the input is checked against the bytes present before anything is read
at it. A malformed frame is counted and noted (the first ``MAX_FRAME_NOTES`` individually), and
only an input that cannot be walked any further stops the reading.

Each segment carries the position of its frame's record in the bytes fed (the pcap record
header, or the pcapng Enhanced/Simple Packet Block), and :meth:`CaptureReader.capture_layout`
says what is needed to read such a record again (byte order, link types and timestamp
resolutions per section and interface): for a regular uncompressed file, the position is the
file offset, which is how a PDU points back to its frame.

:class:`FrameReader` is the same walk handing over whole frames instead of segments (each with
its record's offset, interface, time and lengths): what a merge of several captures reads its
inputs with, and how a frame is read again at its offset. There is no other container walk.
"""

from libc.stdint cimport INT64_MAX, INT64_MIN, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from libcpp.algorithm cimport sort
from libcpp.string cimport string
from libcpp.utility cimport pair
from libcpp.vector cimport vector
from cython.operator cimport dereference as deref, preincrement as inc

from cmppdissect.core._types cimport Segment, SegmentSink, endpoint_address, sat_sub

from cmppdissect.core.records import (
    CaptureLayout,
    CaptureNote,
    InterfaceLayout,
    SectionLayout,
    TcpSegment,
    format_endpoint,
    format_ip,
)

cdef extern from *:
    """
    #include <stdint.h>
    static inline uint16_t cmpp_be16(const uint8_t* p) { return (uint16_t)((p[0] << 8) | p[1]); }
    static inline uint32_t cmpp_be32(const uint8_t* p) {
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    }
    static inline uint16_t cmpp_le16(const uint8_t* p) { return (uint16_t)(p[0] | (p[1] << 8)); }
    static inline uint32_t cmpp_le32(const uint8_t* p) {
        return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    }
    static inline uint16_t cmpp_rd16(const uint8_t* p, int big) { return big ? cmpp_be16(p) : cmpp_le16(p); }
    static inline uint32_t cmpp_rd32(const uint8_t* p, int big) { return big ? cmpp_be32(p) : cmpp_le32(p); }
    static inline int64_t cmpp_rd64s(const uint8_t* p, int big) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v |= (uint64_t)p[big ? 7 - i : i] << (8 * i);
        return (int64_t)v;
    }
    /* ((raw * mul) >> shift) / 10**div_exp + off_s * 10**9, exact in 128 bits, saturated to
       int64 only at the end: a pcapng timestamp may be anywhere in 64 bits, its resolution
       anything, and a negative if_tsoffset brings a raw value past 2**63 back into range. */
    /* The inverse of cmpp_ts_convert, rounded down: a time restated in an interface's units
       (a Simple Packet Block, timed as the frame before it, written for another interface).
       Exact where 64 bits hold the answer; beyond, it wraps (2**-n units: 0 past n = 64). */
    static inline uint64_t cmpp_ts_invert(int64_t ns, int64_t mul, int shift, int div_exp,
                                          int64_t off_s) {
        __int128 v = (__int128)ns - (__int128)off_s * 1000000000;
        if (shift) {
            if (v < 0 || shift > 64) return 0;
            unsigned __int128 u = (unsigned __int128)v, q = u / 1000000000, r = u % 1000000000;
            return (uint64_t)((q << shift) + ((r << shift) / 1000000000));
        }
        if (div_exp) {
            unsigned __int128 u = (unsigned __int128)v;
            for (int i = 0; i < div_exp && i < 40; i++) u *= 10;
            return (uint64_t)u;
        }
        __int128 q = v / mul;
        if (v % mul != 0 && v < 0) q -= 1;
        return (uint64_t)q;
    }
    static inline void cmpp_put32le(unsigned char* p, uint32_t v) {
        p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
        p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
    }
    static inline int64_t cmpp_ts_convert(uint64_t raw, int64_t mul, int shift, int div_exp,
                                          int64_t off_s) {
        unsigned __int128 v = (unsigned __int128)raw * (uint64_t)mul;
        if (shift >= 128) v = 0; else v >>= shift;
        if (div_exp > 38) v = 0;
        else for (int i = 0; i < div_exp; i++) v /= 10;
        /* v < 2**64 * mul <= 2**94 and |off_s * 10**9| < 2**93: the sum fits in 128 bits. */
        __int128 r = (__int128)v + (__int128)off_s * 1000000000;
        if (r > INT64_MAX) return INT64_MAX;
        if (r < INT64_MIN) return INT64_MIN;
        return (int64_t)r;
    }
    """
    uint16_t be16 "cmpp_be16"(const uint8_t* p) noexcept nogil
    uint32_t be32 "cmpp_be32"(const uint8_t* p) noexcept nogil
    uint32_t le32 "cmpp_le32"(const uint8_t* p) noexcept nogil
    uint16_t rd16 "cmpp_rd16"(const uint8_t* p, int big) noexcept nogil
    uint32_t rd32 "cmpp_rd32"(const uint8_t* p, int big) noexcept nogil
    int64_t rd64s "cmpp_rd64s"(const uint8_t* p, int big) noexcept nogil
    int64_t ts_convert "cmpp_ts_convert"(uint64_t raw, int64_t mul, int shift, int div_exp,
                                          int64_t off_s) noexcept nogil
    uint64_t ts_invert "cmpp_ts_invert"(int64_t ns, int64_t mul, int shift, int div_exp,
                                         int64_t off_s) noexcept nogil
    void put32le "cmpp_put32le"(unsigned char* p, uint32_t v) noexcept nogil


# -- constants (the Python interface re-exports them: cmppdissect.core) -------------------------

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_BSD = 12  # DLT_RAW as some BSDs numbered it in files
LINKTYPE_RAW_OPENBSD = 14
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

LINKTYPE_NAMES = {
    LINKTYPE_NULL: "BSD loopback",
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_RAW_BSD: "raw IP",
    LINKTYPE_RAW_OPENBSD: "raw IP",
    LINKTYPE_RAW: "raw IP",
    LINKTYPE_LOOP: "OpenBSD loopback",
    LINKTYPE_LINUX_SLL: "Linux cooked (SLL)",
    LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2 (SLL2)",
}
SUPPORTED_LINKTYPES = frozenset(LINKTYPE_NAMES)

# No real link carries frames this large; a bigger length means a corrupt record header, and
# honouring it would make us buffer arbitrary amounts of memory.
MAX_CAPLEN = 256 * 1024
# Non-packet pcapng blocks (name resolution, decryption secrets...) may legitimately be larger
# than a frame; beyond this they are skipped without being buffered.
MAX_BLOCK = 4 * 1024 * 1024
# Per-frame findings past this many are only counted, so a damaged file cannot flood the user.
MAX_FRAME_NOTES = 100
# IPv4 fragments: the total length field caps a datagram at 65535 bytes with a 20-byte header;
# a 64 KiB datagram over the smallest legal MTU needs about 1400 fragments.
MAX_DATAGRAM = 65535 - 20
MAX_PIECES = 1500
# Sections plus interfaces kept for capture_layout(): a hostile pcapng may declare millions;
# past this, frames further on have no known layout (CaptureLayout.known_until).
MAX_LAYOUT_ENTRIES = 65536

cdef int64_t NS_PER_S = 1000000000

cdef enum:
    C_MAX_CAPLEN = 256 * 1024
    C_MAX_BLOCK = 4 * 1024 * 1024
    C_MAX_FRAME_NOTES = 100
    C_MAX_DATAGRAM = 65535 - 20
    C_MAX_PIECES = 1500
    C_MAX_LAYOUT_ENTRIES = 65536
    NEED = -1          # _step: the record is not complete in the bytes given
    STOP = -2          # _step: reading stops here (noted)
    SHB = 0x0A0D0D0A
    IDB = 1
    PB = 2
    SPB = 3
    EPB = 6
    NOT_IP = 0
    MALFORMED = -1
    IPPROTO_TCP = 6

PCAP_MAGICS = {
    # stored magic -> (big endian, ns per fraction unit, record header length)
    b"\xd4\xc3\xb2\xa1": (False, 1000, 16),
    b"\xa1\xb2\xc3\xd4": (True, 1000, 16),
    b"\x4d\x3c\xb2\xa1": (False, 1, 16),
    b"\xa1\xb2\x3c\x4d": (True, 1, 16),
    # Alexey Kuznetzov's patched libpcap: 8 more bytes per record header.
    b"\x34\xcd\xb2\xa1": (False, 1000, 24),
    b"\xa1\xb2\xcd\x34": (True, 1000, 24),
}
PCAPNG_BOM_LE = b"\x4d\x3c\x2b\x1a"
PCAPNG_BOM_BE = b"\x1a\x2b\x3c\x4d"


def sniff(bytes head):
    """What a capture's first bytes (28 or all there are) say it is.

    Returns ``("pcap" | "pcapng", None)``, or ``(None, reason)`` with reason one of
    ``"empty"``, ``"pcap-truncated"``, ``"pcapng-bom"`` and ``"unknown"``: the caller words the
    one-line error, since only it knows the file's name and whether it was compressed.
    """
    if not head:
        return None, "empty"
    if head[:4] in PCAP_MAGICS:
        if len(head) < 24:
            return None, "pcap-truncated"
        return "pcap", None
    if len(head) >= 4 and le32(head) == SHB:
        if len(head) < 12 or head[8:12] not in (PCAPNG_BOM_LE, PCAPNG_BOM_BE):
            return None, "pcapng-bom"
        return "pcapng", None
    return None, "unknown"


cdef void _resolution(Interface* iface, int resol) noexcept nogil:
    """How an interface's stored times become ns: ``if_tsresol`` as stored (pcap: 6 or 9)."""
    iface.tsresol = resol
    if resol & 0x80:
        iface.mul, iface.shift, iface.div_exp = 1000000000, resol & 0x7F, 0
    elif resol <= 9:
        iface.mul, iface.shift, iface.div_exp = 1, 0, 0
        for _ in range(9 - resol):
            iface.mul *= 10
    else:
        iface.mul, iface.shift, iface.div_exp = 1, 0, resol - 9


cdef inline bint _vlan(uint16_t etype) noexcept nogil:
    return etype == 0x8100 or etype == 0x88A8 or etype == 0x9100


cdef inline bint _supported(int linktype) noexcept nogil:
    return (linktype == 0 or linktype == 1 or linktype == 12 or linktype == 14
            or linktype == 101 or linktype == 108 or linktype == 113 or linktype == 228
            or linktype == 229 or linktype == 276)


# -- IPv4 fragments -------------------------------------------------------------------------------


cdef class Ipv4Reassembler:
    """IPv4 fragment reassembly, per (src, dst, protocol, id), in bounded memory.

    CMPP itself never needs fragmentation, but a gateway behind a small-MTU tunnel produces
    fragmented TCP segments, and dropping them would make stream gaps that are not real. At most
    ``max_datagrams`` datagrams and ``max_bytes`` bytes are pending; past either bound, or once a
    datagram is older than ``timeout_ns`` of capture time, the oldest is dropped and counted (its
    segment then shows as a TCP gap, which is the truth about what was captured). Overlapping
    fragments keep the bytes of the lower offset, whatever the arrival order.
    """

    def __init__(self, *, max_datagrams=1024, max_bytes=8 << 20, timeout_ns=60_000_000_000):
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.timeout_ns = timeout_ns

    def __len__(self):
        return self.pending.size()

    def add(self, key, int64_t offset, bint more, bytes data, int64_t ts_ns):
        """Add one fragment's payload; the whole upper-layer payload when it completes.

        ``key`` is ``(src, dst, protocol, identification)`` (addresses as packed bytes).
        """
        src, dst, proto, ident = key
        cdef bytes k = bytes(src) + bytes(dst) + bytes([proto & 0xFF]) + int(ident).to_bytes(4, "big")
        cdef const uint8_t* p = data
        if self.add_c(k, offset, more, p, len(data), ts_ns, -1):
            return self.out
        return None

    cdef int add_c(self, const string& key, int64_t offset, bint more, const uint8_t* p,
                   Py_ssize_t n, int64_t ts, int64_t record) except -1:
        """1 when the datagram completed (its payload is in ``self.out``), else 0."""
        cdef int64_t end = offset + n
        if end > C_MAX_DATAGRAM or (more and n % 8):
            # Only the last fragment may have a length that is not a multiple of 8.
            self.malformed += 1
            return 0
        self._expire(ts)
        cdef FragPending* pend
        it = self.pending.find(key)
        if it == self.pending.end():
            pend = &self.pending[key]
            pend.size = 0
            pend.total = -1
            pend.first_ts = ts
            self.order.push_back(key)
        else:
            pend = &deref(it).second
        if not more:
            if pend.total >= 0 and pend.total != end:
                # Two different "last" fragments: the datagram cannot be trusted.
                self._drop(key, True)
                return 0
            pend.total = end
        if <int64_t>pend.pieces.size() >= C_MAX_PIECES:
            self._drop(key, True)
            return 0
        cdef FragPiece piece
        piece.offset = offset
        piece.record = record
        piece.data.assign(<const char*>p, n)
        pend.pieces.push_back(piece)
        pend.size += n
        self.held += n
        # Sorting the pieces is only worth it once they could possibly cover the datagram.
        if 0 <= pend.total <= pend.size and self._try_complete(key, pend):
            return 1
        self._enforce_bounds(key)
        return 0

    cdef int _try_complete(self, const string& key, FragPending* pend) except -1:
        # (offset, arrival index) pairs sort by offset and keep arrival order among equals,
        # as Python's stable sorted() did.
        cdef vector[pair[int64_t, Py_ssize_t]] idx
        cdef Py_ssize_t i, k
        cdef int64_t covered = 0, pos = 0, off, skip, take
        for i in range(<Py_ssize_t>pend.pieces.size()):
            idx.push_back(pair[int64_t, Py_ssize_t](pend.pieces[i].offset, i))
        sort(idx.begin(), idx.end())
        for i in range(<Py_ssize_t>idx.size()):
            off = idx[i].first
            if off > covered:
                return 0  # a hole remains
            covered = max(covered, off + <int64_t>pend.pieces[idx[i].second].data.size())
        if covered < pend.total:
            return 0
        self.out.assign(<size_t>pend.total, <char>0)
        self.out_records.clear()
        for i in range(<Py_ssize_t>pend.pieces.size()):
            self.out_records.push_back(pend.pieces[i].record)
        for i in range(<Py_ssize_t>idx.size()):
            off = idx[i].first
            k = idx[i].second
            if off + <int64_t>pend.pieces[k].data.size() <= pos:
                continue
            skip = pos - off if off < pos else 0
            take = min(<int64_t>pend.pieces[k].data.size(), pend.total - off) - skip
            if take > 0:
                memcpy(&self.out[off + skip], pend.pieces[k].data.data() + skip, take)
                pos = off + skip + take
        self.held -= pend.size
        self._unlink(key)
        self.pending.erase(key)
        self.completed += 1
        return 1

    cdef void _unlink(self, const string& key):
        it = self.order.begin()
        while it != self.order.end():
            if deref(it) == key:
                self.order.erase(it)
                return
            inc(it)

    cdef void _drop(self, const string& key, bint malformed):
        it = self.pending.find(key)
        if it == self.pending.end():
            return
        self.held -= deref(it).second.size
        self.pending.erase(it)
        self._unlink(key)
        if malformed:
            self.malformed += 1
        else:
            self.dropped += 1

    cdef void _expire(self, int64_t now):
        cdef string key
        while not self.order.empty():
            key = self.order.front()
            # Saturated: pcapng times may lie at both ends of the int64 range.
            if sat_sub(now, self.pending[key].first_ts) <= self.timeout_ns:
                break
            self._drop(key, False)

    cdef void _enforce_bounds(self, const string& newest):
        cdef string oldest
        while not self.order.empty() and (
                <int64_t>self.pending.size() > self.max_datagrams or self.held > self.max_bytes):
            oldest = self.order.front()
            self._drop(oldest, False)
            if oldest == newest:
                break

    cpdef int64_t flush(self):
        """Forget every incomplete datagram (end of capture); returns how many there were."""
        cdef int64_t count = self.pending.size()
        self.dropped += count
        self.pending.clear()
        self.order.clear()
        self.held = 0
        return count


# -- the reader -----------------------------------------------------------------------------------


def _span(int64_t ns):
    """A length of time in the unit that reads best (a step back of years, or of seconds)."""
    seconds = ns / 1e9
    if seconds >= 2 * 365.25 * 86400:
        return f"{seconds / (365.25 * 86400):,.0f} years"
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:,.0f} days"
    return f"{seconds:,.3f} s"


cdef class CaptureReader:
    """Walk a pcap/pcapng byte stream; every TCP segment goes to ``sink``.

    ``notes`` collects :class:`~cmppdissect.core.records.CaptureNote` findings (a truncated
    record, a damaged frame, an unsupported link type). The counters (``frames``,
    ``tcp_segments``, ``malformed``...) are exact after every :meth:`feed`.
    """

    def __init__(self, SegmentSink sink, notes=None):
        self.sink = sink
        self.notes = notes if notes is not None else []
        self.frag = Ipv4Reassembler()
        self.format = None
        self.limit = C_MAX_CAPLEN
        self.layout_sections = []
        self.layout_until = -1
        self.fragment_records = {}

    # -- public surface -----------------------------------------------------------------------

    def feed(self, data):
        """Walk as many whole records of ``data`` (any bytes-like) as there are (a
        :class:`FrameReader` walks to its first frame and holds the rest)."""
        cdef const uint8_t[::1] view = data
        cdef Py_ssize_t n = view.shape[0]
        if self.stopped or self.finished or n == 0:
            return
        if self.have or self.chunk_pos < self.chunk_len:
            raise RuntimeError("feed() before the frames of the bytes fed were taken")
        self.chunk = view
        self.chunk_len = n
        self.chunk_pos = 0
        self.chunk_at = self.fed  # where data[0] is in the capture bytes
        self.fed += n
        self._walk()

    cdef int _walk(self) except -1:
        """Walk the chunk from ``chunk_pos`` on: to its end, or (a FrameReader) to the next
        frame. What is left of a record cut by the chunk's end is kept in ``pending``."""
        cdef Py_ssize_t n = self.chunk_len
        cdef Py_ssize_t pos = self.chunk_pos, need, take, r
        if pos >= n:
            return 0
        cdef const uint8_t* p = &self.chunk[0]
        cdef int64_t start = self.chunk_at
        if self.skip:
            take = min(self.skip, n - pos)
            self.skip -= take
            pos += take
        # A record that straddles chunks: complete it from the new bytes, then go on in place.
        while self.pending.size() and not self.stopped:
            need = self._needed(<const uint8_t*>self.pending.data(), self.pending.size())
            if need > <Py_ssize_t>self.pending.size():
                if pos == n:
                    return self._walked()
                take = min(need - <Py_ssize_t>self.pending.size(), n - pos)
                self.pending.append(<const char*>p + pos, take)
                pos += take
                if <int64_t>self.pending.size() > self.pending_peak:
                    self.pending_peak = self.pending.size()
                if <Py_ssize_t>self.pending.size() < need:
                    return self._walked()
                continue  # with the header complete, the record may need more
            self.base = self.pending_at
            r = self._step(<const uint8_t*>self.pending.data(), self.pending.size(), 0)
            if r == STOP:
                self.pending.clear()
                return self._walked()
            if r == NEED:
                return self._walked()  # (cannot happen: _needed asked for what _step wants)
            if r >= <Py_ssize_t>self.pending.size():
                if self.skip:  # an oversized block: the rest of it is skipped
                    self.pending.clear()
                    take = min(self.skip, n - pos)
                    self.skip -= take
                    pos += take
                else:
                    self.pending.clear()
            else:
                self.pending.erase(0, r)
                self.pending_at += r
            if self.have:  # (a frame's bytes are copied: erasing them above was safe)
                self.chunk_pos = pos
                return 0
        if self.pending.size():
            return self._walked()
        self.base = start
        while not self.stopped:
            r = self._step(p, n, pos)
            if r == NEED or r == STOP:
                break
            pos = r
            if self.skip:
                take = min(self.skip, n - pos)
                self.skip -= take
                pos += take
            if self.have:
                self.chunk_pos = pos
                return 0
        if not self.stopped and pos < n:
            self.pending.assign(<const char*>p + pos, n - pos)
            self.pending_at = start + pos
            if <int64_t>self.pending.size() > self.pending_peak:
                self.pending_peak = self.pending.size()
        return self._walked()

    cdef int _walked(self) except -1:
        """The chunk is walked through: let go of it."""
        self.chunk_pos = self.chunk_len = 0
        self.chunk = None
        return 0

    def finish(self):
        """End of input: note a truncated last record and what the walk dropped on the way."""
        if self.finished:
            return
        self.finished = True
        cdef Py_ssize_t left = self.pending.size()
        if not self.stopped and self.fmt and (left or self.skip):
            what = ("pcapng block" if self.fmt == 2 else
                    "record header" if left < self.rec_len else "record")
            self._note(self.frames + 1,
                       f"file is truncated: the last {what} is incomplete ({left} bytes "
                       "ignored); everything before it was read", "warn")
        self.pending.clear()
        if self.truncated_frames:
            self._note(None, f"{self.truncated_frames} frame(s) were cut short by the snapshot "
                       "length; their missing bytes show up as stream gaps", "warn")
        if self.unsupported_link:
            self._note(None, f"{self.unsupported_link} frame(s) on unsupported link types",
                       "warn")
        lost = self.frag.flush()
        if lost or self.frag.malformed:
            self._note(None, f"{lost} incomplete and {self.frag.malformed} malformed IPv4 "
                       "fragmented datagram(s) dropped", "warn")
        if self.frame_notes > C_MAX_FRAME_NOTES:
            self._note(None, f"{self.frame_notes} malformed frames in all", "warn")
        if self.clamped_ts:
            self._note(self.clamped_first, f"{self.clamped_ts} frame(s), the first frame "
                       f"{self.clamped_first}, are stamped outside what 64-bit nanoseconds since "
                       "1970 can hold (1677 to 2262): their times are clamped to that range",
                       "warn")
        if self.backwards:
            self._note(self.backwards_first, f"time goes backwards by more than a second "
                       f"{self.backwards} time(s), the first at frame {self.backwards_first} "
                       f"(the largest step back: {_span(self.backwards_most)}): latencies "
                       "across such a step are not true", "warn")

    # -- records ------------------------------------------------------------------------------

    cdef Py_ssize_t _needed(self, const uint8_t* p, Py_ssize_t n):
        """How many bytes from ``p`` the next decision needs (a header, or the whole record)."""
        cdef uint32_t caplen, blen
        cdef bint big = self.big
        if self.fmt == 0:
            if n < 4:
                return 24
            return 24 if p[0] != 0x0A else 12
        if self.fmt == 1:
            if n < self.rec_len:
                return self.rec_len
            caplen = rd32(p + 8, big)
            if caplen > C_MAX_CAPLEN or caplen > self.limit:
                return self.rec_len
            return self.rec_len + caplen
        if n < 12:
            return 12
        if le32(p) == SHB:
            if be32(p + 8) == 0x1A2B3C4D:
                big = True
            elif le32(p + 8) == 0x1A2B3C4D:
                big = False
            else:
                return 12
        blen = rd32(p + 4, big)
        if blen < 12 or blen & 3 or blen > C_MAX_BLOCK:
            return 12
        return blen

    cdef Py_ssize_t _step(self, const uint8_t* p, Py_ssize_t n, Py_ssize_t pos) except -3:
        """Handle the record at ``pos``; where the next one starts, NEED or STOP."""
        cdef uint32_t sec, frac, caplen
        cdef Py_ssize_t start
        cdef int64_t ts
        cdef uint64_t raw
        if self.fmt == 0:
            if n - pos < 24 and not (n - pos >= 12 and p[pos] == 0x0A):
                return NEED
            self._header(p + pos, n - pos, self.base + pos)
            if self.stopped:
                return STOP
            return pos + (24 if self.fmt == 1 else 0)
        if self.fmt == 2:
            return self._step_pcapng(p, n, pos)
        if n - pos < self.rec_len:
            return NEED
        sec = rd32(p + pos, self.big)
        frac = rd32(p + pos + 4, self.big)
        caplen = rd32(p + pos + 8, self.big)
        if pos + self.rec_len + <Py_ssize_t>caplen <= n and caplen <= self.limit:
            start = pos + self.rec_len
            self.frames += 1
            self.record = self.base + pos
            ts = <int64_t>sec * 1000000000 + <int64_t>frac * self.pcap_mul
            # As stored, in the units of the file's resolution (6: us, 9: ns).
            raw = <uint64_t>sec * <uint64_t>(1000000000 // self.pcap_mul) + frac
            self._packet(p, start, caplen, rd32(p + pos + 12, self.big), 0, raw, True, ts)
            return start + caplen
        if caplen > C_MAX_CAPLEN:
            self._note(self.frames + 1, f"record {self.frames + 1}: captured length {caplen} is "
                       "not plausible; the file is corrupt from here on and reading stops",
                       "error")
            self.stopped = True
            return STOP
        if caplen > self.limit:
            self._note(self.frames + 1, f"record {self.frames + 1}: captured length {caplen} "
                       f"exceeds the snapshot length {self.snaplen}; reading on", "warn")
            self.limit = C_MAX_CAPLEN
            return pos
        return NEED

    cdef Py_ssize_t _step_pcapng(self, const uint8_t* p, Py_ssize_t n,
                                 Py_ssize_t pos) except -3:
        cdef Py_ssize_t avail = n - pos, block, start
        cdef uint32_t btype, blen, ifid, caplen, wire
        cdef uint64_t raw
        cdef int64_t ts
        cdef Interface* iface
        cdef bint big = self.big
        if avail < 12:
            return NEED
        btype = rd32(p + pos, big)
        blen = rd32(p + pos + 4, big)
        if btype == EPB and avail >= 28:
            ifid = rd32(p + pos + 8, big)
            caplen = rd32(p + pos + 20, big)
            # The fast path takes only what the step by step path would (a length that is a
            # multiple of 4 and plausible): the frames must not depend on how the bytes were
            # chunked (fuzz_reader found a 119-byte EPB read whole, refused in pieces).
            if (<uint64_t>caplen + 32 <= blen and blen <= avail and not blen & 3
                    and blen <= C_MAX_BLOCK and ifid < self.ifaces.size()):
                start = pos + 28
                self.frames += 1
                self.record = self.base + pos
                iface = &self.ifaces[ifid]
                raw = (<uint64_t>rd32(p + pos + 12, big) << 32) | rd32(p + pos + 16, big)
                ts = ts_convert(raw, iface.mul, iface.shift, iface.div_exp, iface.off_s)
                self.last_ts = ts
                self._packet(p, start, caplen, rd32(p + pos + 24, big), ifid, raw, True, ts)
                return pos + blen
        # Any other block: rare, so decoded step by step.
        if btype == SHB:
            if be32(p + pos + 8) == 0x1A2B3C4D:
                big = True
            elif le32(p + pos + 8) == 0x1A2B3C4D:
                big = False
            else:
                self._note(self.frames + 1, "corrupt pcapng section header; reading stops",
                           "error")
                self.stopped = True
                return STOP
            self.big = big
            blen = rd32(p + pos + 4, big)
            if blen <= avail:
                self.ifaces.clear()  # a new section starts a new interface list
                self.section += 1
                self._layout_section(self.base + pos, False)
            elif blen > C_MAX_BLOCK and not blen & 3:
                # Skipped unread: the interfaces go on, in the new byte order.
                self._layout_section(self.base + pos, True)
        if blen < 12 or blen & 3:
            self._note(self.frames + 1, f"corrupt pcapng block (length {blen}); reading stops",
                       "error")
            self.stopped = True
            return STOP
        if blen > C_MAX_BLOCK:
            if btype == EPB or btype == SPB or btype == PB:
                self.frames += 1
                self.malformed += 1
                self._frame_note(self.frames, f"frame {self.frames}: pcapng block of {blen} "
                                 "bytes is not plausible; skipped")
            self.skip = blen - min(<Py_ssize_t>blen, avail)
            return pos + min(<Py_ssize_t>blen, avail)
        if blen > avail:
            return NEED
        block = pos
        if btype == IDB:
            self._interface_block(p, block, blen)
            return pos + blen
        if not (btype == EPB or btype == SPB or btype == PB):
            return pos + blen
        self.frames += 1
        self.record = self.base + pos
        if btype == SPB:
            if blen < 16 or self.ifaces.empty():
                self._bad_block("simple packet block without interface")
                return pos + blen
            ifid = 0
            raw = 0
            iface = &self.ifaces[0]
            wire = rd32(p + block + 8, big)
            caplen = min(wire, blen - 16)
            if iface.snaplen:
                caplen = min(caplen, iface.snaplen)
            start = block + 12
            ts = self.last_ts  # SPBs carry no time; the previous frame's is the best guess
        else:
            if blen < 32:
                self._bad_block("packet block too short")
                return pos + blen
            if btype == PB:
                ifid = rd16(p + block + 8, big)
            else:
                ifid = rd32(p + block + 8, big)
            raw = (<uint64_t>rd32(p + block + 12, big) << 32) | rd32(p + block + 16, big)
            caplen = rd32(p + block + 20, big)
            wire = rd32(p + block + 24, big)
            if ifid >= self.ifaces.size():
                self._bad_block(f"packet on undeclared interface {ifid}")
                return pos + blen
            if caplen > blen - 32:
                self._bad_block(f"captured length {caplen} overruns its block")
                return pos + blen
            iface = &self.ifaces[ifid]
            start = block + 28
            ts = ts_convert(raw, iface.mul, iface.shift, iface.div_exp, iface.off_s)
        self.last_ts = ts
        self._packet(p, start, caplen, wire, ifid, raw, btype != SPB, ts)
        return pos + blen

    cdef int _pcap(self, bint big, int rec_len, int linktype, uint32_t snaplen,
                   int tsresol) except -1:
        """A pcap file's header read: its one interface."""
        cdef Interface iface
        memset(&iface, 0, sizeof(Interface))
        iface.linktype = linktype
        iface.snaplen = snaplen
        iface.supported = _supported(linktype)
        _resolution(&iface, tsresol)
        self.ifaces.clear()
        self.ifaces.push_back(iface)
        self.big = big
        self.pcap_mul = 1 if tsresol == 9 else 1000
        self.rec_len = rec_len
        self.snaplen = snaplen
        self.limit = snaplen if 0 < snaplen < C_MAX_CAPLEN else C_MAX_CAPLEN
        self.fmt = 1
        self.format = "pcap"
        return 0

    cdef int _header(self, const uint8_t* p, Py_ssize_t n, int64_t offset) except -1:
        cdef Interface* iface
        head = p[:min(n, 28)]
        kind, _reason = sniff(head)
        if kind == "pcap":
            big, mul, rec_len = PCAP_MAGICS[head[:4]]
            # The upper bits of the link type carry FCS information.
            self._pcap(big, rec_len, rd32(p + 20, big) & 0xFFFF, rd32(p + 16, big),
                       9 if mul == 1 else 6)
            self._layout_section(offset, False)
            iface = &self.ifaces[0]
            self._layout_interface(offset, iface.linktype, iface.snaplen, iface.tsresol, 0)
            if not iface.supported and not self.emit:
                self._note(None, f"link type {iface.linktype} is not supported; its frames are "
                           "skipped", "error")
        elif kind == "pcapng":
            self.fmt = 2
            self.format = "pcapng"
            self.rec_len = 16
        else:
            self._note(None, "not a pcap or pcapng capture; nothing read", "error")
            self.stopped = True
        return 0

    cdef int _interface_block(self, const uint8_t* p, Py_ssize_t block,
                              Py_ssize_t blen) except -1:
        cdef Interface iface
        cdef int number = self.ifaces.size()
        cdef int resol = 6
        cdef int64_t offset_s = 0
        cdef Py_ssize_t at, stop
        cdef uint16_t code, length
        memset(&iface, 0, sizeof(Interface))
        if blen < 20:
            self._note(None, f"interface {number}: description block too short", "error")
            iface.linktype = -1
            _resolution(&iface, 6)
            self.ifaces.push_back(iface)
            self._layout_interface(self.base + block, -1, 0, 6, 0)
            return 0
        iface.linktype = rd16(p + block + 8, self.big)
        iface.snaplen = rd32(p + block + 12, self.big)
        at = block + 16
        stop = block + blen - 4
        while at + 4 <= stop:
            code = rd16(p + at, self.big)
            length = rd16(p + at + 2, self.big)
            at += 4
            if code == 0 or at + length > stop:
                break
            if code == 9 and length >= 1:
                resol = p[at]
            elif code == 14 and length >= 8:
                offset_s = rd64s(p + at, self.big)
            at += (length + 3) & ~3
        _resolution(&iface, resol)
        iface.off_s = offset_s
        iface.supported = _supported(iface.linktype)
        self.ifaces.push_back(iface)
        self._layout_interface(self.base + block, iface.linktype, iface.snaplen, resol,
                               offset_s)
        if not iface.supported and not self.emit:  # a FrameReader's frames are not skipped
            self._note(None, f"interface {number}: link type {iface.linktype} is not supported; "
                       "its frames are skipped", "error")
        return 0

    # -- the layout: what re-reading a record needs ----------------------------------------------

    cdef int _layout_section(self, int64_t offset, bint keep) except -1:
        """A section starts at ``offset`` (pcap: the file header); ``keep``: its interfaces are
        the previous section's."""
        if self.layout_until >= 0:
            return 0
        if self.layout_entries >= C_MAX_LAYOUT_ENTRIES:
            self.layout_until = offset
            return 0
        interfaces = list(self.layout_sections[-1][2]) if keep and self.layout_sections else []
        self.layout_sections.append((offset, self.big, interfaces))
        self.layout_entries += 1 + len(interfaces)
        self.layout_cache = None
        return 0

    cdef int _layout_interface(self, int64_t offset, int linktype, uint32_t snaplen,
                               int tsresol, int64_t tsoffset) except -1:
        """The next interface of the current section, declared at ``offset``."""
        if self.layout_until >= 0 or not self.layout_sections:
            return 0
        if self.layout_entries >= C_MAX_LAYOUT_ENTRIES:
            # The interface numbers of this section would be wrong from here on.
            self.layout_until = offset
            return 0
        self.layout_sections[-1][2].append(InterfaceLayout(linktype, snaplen, tsresol, tsoffset))
        self.layout_entries += 1
        self.layout_cache = None
        return 0

    def capture_layout(self):
        """What reading a frame's record again needs (a small picklable value), or None
        before the capture's header was read."""
        if self.fmt == 0 or not self.layout_sections:
            return None
        if self.layout_cache is None:
            self.layout_cache = CaptureLayout(
                self.format, self.rec_len,
                tuple(SectionLayout(off, big, tuple(ifaces))
                      for off, big, ifaces in self.layout_sections),
                None if self.layout_until < 0 else self.layout_until)
        return self.layout_cache

    # -- frames -------------------------------------------------------------------------------

    cdef int _packet(self, const uint8_t* p, Py_ssize_t start, uint32_t caplen, uint32_t wire,
                     uint32_t ifid, uint64_t raw, bint has_raw, int64_t ts) except -1:
        """The walk found a frame: p[start:start + caplen], captured on interface ``ifid``
        (its index in ``ifaces``, checked), its record at ``self.record``; ``raw`` its time as
        stored (``has_raw`` False: a Simple Packet Block, timed ``ts`` as the frame before).
        Here it goes on to the link layers; a FrameReader keeps it instead."""
        cdef Interface* iface = &self.ifaces[ifid]
        if iface.supported:
            return self._frame(p, start, start + caplen, iface.linktype, ts)
        self.unsupported_link += 1
        return 0

    cdef int _frame(self, const uint8_t* p, Py_ssize_t off, Py_ssize_t end, int linktype,
                    int64_t ts) except -1:
        """One frame at p[off:end]: find IP, then TCP; anything else is counted and skipped."""
        cdef int version = MALFORMED
        cdef Py_ssize_t at = off, ip_end, start
        cdef uint16_t etype
        cdef uint32_t family
        cdef uint8_t vihl, proto, nxt
        cdef uint16_t total, ident, frag, plen
        cdef int ihl, hlen
        cdef bint truncated = False
        cdef int64_t frame = self.frames
        cdef int64_t back
        if ts == INT64_MAX or ts == INT64_MIN:
            self.clamped_ts += 1
            if not self.clamped_first:
                self.clamped_first = frame
        if frame > 1:
            back = sat_sub(self.prev_ts, ts)
            if back > NS_PER_S:
                self.backwards += 1
                if not self.backwards_first:
                    self.backwards_first = frame
                if back > self.backwards_most:
                    self.backwards_most = back
        self.prev_ts = ts
        # Link layer.
        if linktype == 1 or linktype == 113 or linktype == 276:
            hlen = 14 if linktype == 1 else 16 if linktype == 113 else 20
            if end - off < hlen:
                version = MALFORMED
            else:
                # SLL2 puts the protocol first; Ethernet and SLL just before the payload.
                etype = be16(p + off + (0 if linktype == 276 else hlen - 2))
                at = off + hlen
                while _vlan(etype):  # a stack of 802.1Q / 802.1ad tags (hostile ones are long)
                    if end - at < 4:
                        version = MALFORMED
                        break
                    etype = be16(p + at + 2)
                    at += 4
                else:
                    version = 4 if etype == 0x0800 else 6 if etype == 0x86DD else NOT_IP
        elif linktype == 0 or linktype == 108:
            if end - off >= 4:
                family = le32(p + off)
                if family > 0xFFFF:  # written in the other byte order than we guessed
                    family = be32(p + off)
                at = off + 4
                version = (4 if family == 2 else
                           6 if family == 10 or family == 24 or family == 28 or family == 30
                           else NOT_IP)
        elif linktype == 101 or linktype == 12 or linktype == 14:
            if end > off:
                version = p[off] >> 4
                if version != 4 and version != 6:
                    version = NOT_IP
        elif linktype == 228:
            version = 4
        elif linktype == 229:
            version = 6
        else:
            version = NOT_IP
        if version == NOT_IP:
            self.non_tcp += 1
            return 0
        if version == MALFORMED:
            self.malformed += 1
            self._frame_note(frame, f"frame {frame}: link-layer header truncated")
            return 0
        # IP.
        if end - at < 1 or p[at] >> 4 != version:
            self.malformed += 1
            found = str(p[at] >> 4) if end > at else "?"
            self._frame_note(frame, f"frame {frame}: IPv{version} header expected, found "
                             f"version {found}")
            return 0
        if version == 4:
            if end - at < 20:
                return self._ip_error(frame, "IPv4 header truncated")
            vihl = p[at]
            total = be16(p + at + 2)
            ident = be16(p + at + 4)
            frag = be16(p + at + 6)
            proto = p[at + 9]
            ihl = (vihl & 0x0F) * 4
            if ihl < 20:
                return self._ip_error(frame, f"IPv4 header length {ihl} < 20")
            if at + ihl > end:
                return self._ip_error(frame, "IPv4 options truncated")
            if total == 0:
                # TCP segmentation offload: the NIC fills the length in after the capture point.
                ip_end = end
            elif total < ihl:
                return self._ip_error(frame, f"IPv4 total length {total} < header length {ihl}")
            else:
                ip_end = at + total
                truncated = ip_end > end
                if truncated:
                    ip_end = end
            if proto != IPPROTO_TCP:
                self.non_tcp += 1
                return 0
            if frag & 0x3FFF:
                return self._fragment(p, at, at + ihl, ip_end, truncated, ident,
                                      (frag & 0x1FFF) * 8, bool(frag & 0x2000), ts)
            return self._tcp(p, at + ihl, ip_end, truncated, 4, p + at + 12, p + at + 16, ts)
        if end - at < 40:
            return self._ip_error(frame, "IPv6 header truncated")
        plen = be16(p + at + 4)
        nxt = p[at + 6]
        if plen == 0:  # jumbogram or offloaded length: trust the captured bytes
            ip_end = end
        else:
            ip_end = at + 40 + plen
            truncated = ip_end > end
            if truncated:
                ip_end = end
        start = at + 40
        while nxt == 0 or nxt == 43 or nxt == 60 or nxt == 51:
            if start + 2 > ip_end:
                return self._ip_error(frame, "IPv6 extension header truncated")
            hlen = (p[start + 1] + 2) * 4 if nxt == 51 else (p[start + 1] + 1) * 8
            nxt = p[start]
            start += hlen
            if start > ip_end:
                return self._ip_error(frame, "IPv6 extension header truncated")
        if nxt == 44:
            return self._ip_error(frame, "IPv6 fragment (IPv6 reassembly is not supported)")
        if nxt != IPPROTO_TCP:
            self.non_tcp += 1
            return 0
        return self._tcp(p, start, ip_end, truncated, 6, p + at + 8, p + at + 24, ts)

    cdef int _ip_error(self, int64_t frame, str why) except -1:
        self.malformed += 1
        self._frame_note(frame, f"frame {frame}: {why}")
        return 0

    cdef int _fragment(self, const uint8_t* p, Py_ssize_t ip, Py_ssize_t start, Py_ssize_t end,
                       bint truncated, uint16_t ident, int64_t offset, bint more,
                       int64_t ts) except -1:
        cdef int64_t frame = self.frames
        cdef string key
        self.ip_fragments += 1
        if truncated:
            self.truncated_frames += 1
            self._frame_note(frame, f"frame {frame}: IPv4 fragment cut by the snapshot length")
            return 0
        key.assign(<const char*>p + ip + 12, 8)
        key.push_back(<char>IPPROTO_TCP)
        key.push_back(<char>(ident >> 8))
        key.push_back(<char>(ident & 0xFF))
        if not self.frag.add_c(key, offset, more, p + start, end - start, ts, self.record):
            return 0
        self.reassembled += 1
        if self.keep_fragments:
            # The segment is stamped with this frame; every fragment's frame carried it.
            self.fragment_records[self.record] = tuple(sorted(set(self.frag.out_records)))
        cdef string whole = self.frag.out
        return self._tcp(<const uint8_t*>whole.data(), 0, whole.size(), False, 4, p + ip + 12,
                         p + ip + 16, ts)

    cdef int _tcp(self, const uint8_t* p, Py_ssize_t start, Py_ssize_t end, bint truncated,
                  int version, const uint8_t* src, const uint8_t* dst, int64_t ts) except -1:
        cdef int64_t frame = self.frames
        cdef Py_ssize_t data
        cdef uint16_t offfl
        cdef int alen = 4 if version == 4 else 16
        if end - start < 20:
            if truncated:
                self.truncated_frames += 1
            self.malformed += 1
            self._frame_note(frame, f"frame {frame}: TCP header truncated")
            return 0
        offfl = be16(p + start + 12)
        data = start + (offfl >> 12) * 4
        if data < start + 20 or data > end:
            if truncated:
                self.truncated_frames += 1
            self.malformed += 1
            self._frame_note(frame, f"frame {frame}: bad TCP data offset {offfl >> 12}")
            return 0
        if truncated:
            self.truncated_frames += 1
        seg = &self.seg
        seg.frame = frame
        seg.ts = ts
        seg.offset = self.record
        seg.src.family = version
        seg.dst.family = version
        memset(seg.src.addr, 0, 16)
        memset(seg.dst.addr, 0, 16)
        memcpy(seg.src.addr, src, alen)
        memcpy(seg.dst.addr, dst, alen)
        seg.src.port = be16(p + start)
        seg.dst.port = be16(p + start + 2)
        seg.seq = be32(p + start + 4)
        seg.ack = be32(p + start + 8)
        seg.flags = offfl & 0x0FFF
        seg.payload = p + data
        seg.length = end - data
        self.tcp_segments += 1
        return self.sink.segment(seg)

    # -- findings -----------------------------------------------------------------------------

    cdef int _note(self, object frame, str message, str severity) except -1:
        self.notes.append(CaptureNote(frame, message, severity))
        return 0

    cdef int _frame_note(self, int64_t frame, str message) except -1:
        self.frame_notes += 1
        if self.frame_notes <= C_MAX_FRAME_NOTES:
            self._note(frame, message, "warn")
        elif self.frame_notes == C_MAX_FRAME_NOTES + 1:
            self._note(frame, "more malformed frames follow; only their count is kept", "note")
        return 0

    cdef int _bad_block(self, str why) except -1:
        self.malformed += 1
        self._frame_note(self.frames, f"frame {self.frames}: {why}; skipped")
        return 0


cdef class FrameReader(CaptureReader):
    """:class:`CaptureReader`'s container walk, handing over frames instead of TCP segments.

    The same walk (the same length checks, findings, record offsets and
    :meth:`capture_layout`), paused at each frame: :meth:`feed` walks to the first frame of the
    bytes given, :meth:`next` to the one after; when neither holds a frame (``ready`` False)
    the bytes fed are walked through (feed more, or :meth:`finish`). The reader holds the chunk
    being walked (not a copy) and the frame's bytes, nothing more. Frames on link types the
    analysis does not support are frames too (and not noted here: the stream they go on to
    says so).

    Two consumers: :meth:`frame` (one frame as a tuple: a frame read again, tests) and
    :meth:`blocks` (a run of frames as Enhanced Packet Blocks of a merged pcapng stream, for
    ``sources.merge``, which calls ``declare(InterfaceLayout)`` for the number and the
    Interface Description Block of each interface the first time a frame is on it).
    """

    def __init__(self, notes=None, declare=None):
        CaptureReader.__init__(self, SegmentSink(), notes)
        self.emit = True
        self.declare = declare
        self.declared = {}
        self.merged_section = -1

    @property
    def ready(self):
        """Whether a frame is held (:meth:`frame`, ``ts``)."""
        return self.have

    @property
    def ts(self):
        """The time of the frame held, in ns since the epoch."""
        return self.cur_ts

    @property
    def latest_ts(self):
        """The latest time (ns) of the frames :meth:`blocks` handed out, None before any."""
        return self.handed_max_ts if self.handed_any else None

    def next(self):
        """Let go of the frame held and walk on to the next: whether there is one."""
        self.have = False
        self._walk()
        return self.have

    def frame(self):
        """The frame held, or None: ``(record offset, InterfaceLayout, ts_ns, raw, wire length,
        captured bytes)``, ``raw`` the time as stored in the interface's units (None for a
        Simple Packet Block, which has none: ``ts_ns`` is then the frame before's)."""
        if not self.have:
            return None
        return (self.cur_offset, self._interface_layout(self.cur_ifid), self.cur_ts,
                self.cur_raw if self.cur_has_raw else None, self.cur_wire, self.cur_data)

    def needed(self, head):
        """How many bytes the record that starts with ``head`` takes, as far as its first bytes
        tell (a damaged header: the bytes that show it). For reading one record at an offset."""
        cdef const uint8_t[::1] view = head
        cdef Py_ssize_t n = view.shape[0]
        if n == 0:
            return self._needed(<const uint8_t*>b"", 0)
        return self._needed(&view[0], n)

    def start_at(self, layout, section, int64_t offset):
        """Walk from ``offset`` of a capture whose ``layout`` (CaptureLayout) is known: the
        byte order and interfaces of ``section`` (the SectionLayout there), as if its headers
        had just been walked. For reading one frame again where an analysis found it."""
        cdef Interface iface
        if self.fmt or self.fed:
            raise RuntimeError("start_at() on a reader that has read")
        if layout.format == "pcap":
            one = section.interfaces[0] if section.interfaces else InterfaceLayout(-1, 0)
            self._pcap(section.big_endian, layout.record_header, one.linktype, one.snaplen,
                       one.tsresol)
            self.limit = C_MAX_CAPLEN  # (a record over the snapshot length was noted then)
        else:
            self.fmt = 2
            self.format = "pcapng"
            self.rec_len = 16
            self.big = section.big_endian
            for one in section.interfaces:
                memset(&iface, 0, sizeof(Interface))
                iface.linktype = one.linktype
                iface.snaplen = one.snaplen
                iface.supported = _supported(one.linktype)
                _resolution(&iface, one.tsresol)
                iface.off_s = one.tsoffset
                self.ifaces.push_back(iface)
        self.fed = offset

    def blocks(self, until=None, bint inclusive=False, Py_ssize_t room=262144,
               list positions=None):
        """The frames from the one held on, as the Enhanced Packet Blocks of a merged pcapng
        stream (little endian; each interface's description block before its first frame),
        their times as stored. Stops before a frame later than ``until`` ns (or as late,
        unless ``inclusive``), once ``room`` bytes are out, or when no frame is held (the bytes
        fed are walked through). ``positions`` receives, per frame, where its block starts in
        the bytes returned and where its record starts in this capture."""
        cdef string out
        cdef bint bounded = until is not None
        cdef int64_t limit = until if bounded else 0
        cdef int64_t ifid
        while self.have:
            if bounded and (self.cur_ts > limit or (self.cur_ts == limit and not inclusive)):
                break
            if <Py_ssize_t>out.size() >= room:
                break
            ifid = self._merged_id(&out)
            if positions is not None:
                positions.append(out.size())
                positions.append(self.cur_offset)
            self._epb(&out, ifid)
            self.handed += 1
            if not self.handed_any or self.cur_ts > self.handed_max_ts:
                self.handed_max_ts = self.cur_ts
                self.handed_any = True
            self.have = False
            self._walk()
        return out

    cdef object _interface_layout(self, uint32_t ifid):
        cdef Interface* iface = &self.ifaces[ifid]
        return InterfaceLayout(iface.linktype, iface.snaplen, iface.tsresol, iface.off_s)

    cdef int64_t _merged_id(self, string* out) except -2:
        """The merged stream's number for the held frame's interface; declared (its block
        written to ``out``) on its first frame. Interfaces equal in every respect (two
        sections declaring the same) are one."""
        if self.merged_section != self.section:
            self.merged_section = self.section
            self.merged_ids.clear()
        while self.merged_ids.size() <= self.cur_ifid:
            self.merged_ids.push_back(-1)
        cdef int64_t ifid = self.merged_ids[self.cur_ifid]
        if ifid >= 0:
            return ifid
        key = self._interface_layout(self.cur_ifid)
        known = self.declared.get(key)
        if known is None:
            if self.declare is None:
                raise RuntimeError("blocks() needs declare")
            number, block = self.declare(key)
            known = self.declared[key] = number
            out.append(<string>block)
        ifid = known
        self.merged_ids[self.cur_ifid] = ifid
        return ifid

    cdef int _epb(self, string* out, int64_t ifid) except -1:
        cdef Py_ssize_t caplen = self.cur_data.size()
        cdef Py_ssize_t pad = (4 - (caplen & 3)) & 3
        cdef uint32_t blen = <uint32_t>(32 + caplen + pad)
        cdef uint64_t raw = self.cur_raw
        cdef Interface* iface = &self.ifaces[self.cur_ifid]
        cdef Interface* last = &self.last_iface
        cdef Py_ssize_t at = out.size()
        if self.cur_has_raw:
            self.last_raw = raw
            self.last_iface = iface[0]
        elif (last.mul == iface.mul and last.shift == iface.shift
              and last.div_exp == iface.div_exp and last.off_s == iface.off_s):
            raw = self.last_raw  # a Simple Packet Block: the time of the frame before it
        else:
            raw = ts_invert(self.cur_ts, iface.mul, iface.shift, iface.div_exp, iface.off_s)
        out.resize(at + blen, 0)
        cdef unsigned char* b = <unsigned char*>&deref(out)[at]
        put32le(b, EPB)
        put32le(b + 4, blen)
        put32le(b + 8, <uint32_t>ifid)
        put32le(b + 12, <uint32_t>(raw >> 32))
        put32le(b + 16, <uint32_t>raw)
        put32le(b + 20, <uint32_t>caplen)
        put32le(b + 24, self.cur_wire)
        if caplen:
            memcpy(b + 28, self.cur_data.data(), caplen)
        put32le(b + 28 + caplen + pad, blen)
        return 0

    cdef int _packet(self, const uint8_t* p, Py_ssize_t start, uint32_t caplen, uint32_t wire,
                     uint32_t ifid, uint64_t raw, bint has_raw, int64_t ts) except -1:
        self.cur_offset = self.record
        self.cur_ifid = ifid
        self.cur_ts = ts
        self.cur_raw = raw
        self.cur_has_raw = has_raw
        self.cur_wire = max(wire, caplen)
        self.cur_data.assign(<const char*>p + start, caplen)
        self.have = True
        return 0


cdef class SegmentList(SegmentSink):
    """A sink that keeps each segment as a :class:`~cmppdissect.core.records.TcpSegment`.

    For tests and tools that look at the reader's output one segment at a time; the analysis
    itself never builds these objects.
    """

    def __init__(self):
        self.items = []

    cdef int segment(self, const Segment* seg) except -1:
        self.items.append(segment_record(seg))
        return 0


cdef object segment_record(const Segment* seg):
    src = endpoint_address(&seg.src)
    dst = endpoint_address(&seg.dst)
    return TcpSegment(seg.frame, seg.ts, format_endpoint(src, seg.src.port),
                      format_endpoint(dst, seg.dst.port), format_ip(src), seg.src.port,
                      format_ip(dst), seg.dst.port, seg.seq, seg.ack, seg.flags,
                      seg.payload[:seg.length], seg.offset)
