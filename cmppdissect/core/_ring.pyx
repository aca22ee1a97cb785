"""Live capture's block walk: the blocks of a TPACKET_V3 ring become pcap records.

A TPACKET_V3 receive ring (``PACKET_RX_RING``) is a run of equal blocks shared with the
kernel. The kernel fills a block with packets, each behind a ``tpacket3_hdr`` and linked to the
next by ``tp_next_offset``, then hands the block over (``TP_STATUS_USER`` in the block's
header, when it is full or its timeout expired); the reader walks it and hands it back
(``TP_STATUS_KERNEL``). :class:`BlockWalk` turns the bytes of one block into the records of a
nanosecond pcap stream, which the capture reader (:mod:`._capture`) then reads exactly as it
reads a file, so live capture has no decoder of its own. :class:`RxRing` takes the blocks of a
mapped ring in turn. Both work on memory only (sans-IO): the socket, ``mmap``, ``poll`` and the
kernel's statistics are ``cmppdissect/sources/live.py``'s.

Every offset and length is read from the block and checked before anything is read at it: a
packet's header must lie inside the block, its bytes inside its own slot (from its header to
the next packet, or to the block's used length for the last one), and ``tp_next_offset`` must
move forward by at least a header. A block that breaks this (no kernel writes one; a test or a
fuzzer's input does) keeps the packets before the damage and is counted in ``damaged``. Since
a record (16 bytes and the packet) is never larger than the packet's slot (48 bytes of header
and the packet), the records of a block are never larger than the block.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t
from libc.string cimport memcpy
from libcpp.vector cimport vector

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* The ring is shared with the kernel: the block's status is read with acquire order (the
       packets written before it was handed over are then visible) and written back with
       release order (every read of the block is done before the kernel may reuse it). */
    static inline uint32_t cmpp_ring_status(const uint8_t* p) {
        return __atomic_load_n((const uint32_t*)p, __ATOMIC_ACQUIRE);
    }
    static inline void cmpp_ring_release(uint8_t* p) {
        __atomic_store_n((uint32_t*)p, 0u, __ATOMIC_RELEASE);
    }
    /* The ring's fields are in the host's byte order; memcpy reads them at any alignment. */
    static inline uint32_t cmpp_host32(const uint8_t* p) { uint32_t v; memcpy(&v, p, 4); return v; }
    static inline uint16_t cmpp_host16(const uint8_t* p) { uint16_t v; memcpy(&v, p, 2); return v; }
    static inline void cmpp_put32le_r(unsigned char* p, uint32_t v) {
        p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
        p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
    }
    """
    uint32_t ring_status "cmpp_ring_status"(const uint8_t* p) noexcept nogil
    void ring_release "cmpp_ring_release"(uint8_t* p) noexcept nogil
    uint32_t host32 "cmpp_host32"(const uint8_t* p) noexcept nogil
    uint16_t host16 "cmpp_host16"(const uint8_t* p) noexcept nogil
    void put32le "cmpp_put32le_r"(unsigned char* p, uint32_t v) noexcept nogil


# -- the layout (linux/if_packet.h) --------------------------------------------------------------

cdef enum:
    # struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1 (block_status,
    # num_pkts, offset_to_first_pkt, blk_len, seq_num, ts_first_pkt, ts_last_pkt).
    C_BLOCK_HEADER = 48
    OFF_STATUS = 8
    OFF_NUM_PKTS = 12
    OFF_FIRST = 16
    OFF_BLK_LEN = 20
    # struct tpacket3_hdr: tp_next_offset, tp_sec, tp_nsec, tp_snaplen, tp_len, tp_status,
    # tp_mac, tp_net, hv1 (12 bytes), 8 bytes of padding.
    C_PACKET_HEADER = 48
    OFF_NEXT = 0
    OFF_SEC = 4
    OFF_NSEC = 8
    OFF_SNAPLEN = 12
    OFF_LEN = 16
    OFF_MAC = 24
    RECORD = 16  # a pcap record header: seconds, nanoseconds, captured length, wire length
    C_TP_STATUS_USER = 1

BLOCK_HEADER = C_BLOCK_HEADER
PACKET_HEADER = C_PACKET_HEADER
TP_STATUS_KERNEL = 0
TP_STATUS_USER = C_TP_STATUS_USER


cdef struct Packet:
    int64_t data      # where its bytes start in the block
    uint32_t caplen
    uint32_t wire
    uint32_t sec
    uint32_t nsec


cdef class BlockWalk:
    """The packets of TPACKET_V3 blocks as pcap records (nanosecond timestamps).

    ``frames``/``captured`` count the packets and their captured bytes walked, ``blocks`` the
    blocks, ``damaged`` those whose walk stopped at a length or offset that did not fit.
    """

    def __cinit__(self) -> None:
        self.frames = 0
        self.captured = 0
        self.blocks = 0
        self.damaged = 0

    def walk(self, const uint8_t[::1] block) -> bytes:
        """The pcap records (no file header) of the packets in one block's bytes."""
        cdef Py_ssize_t n = block.shape[0]
        if n == 0:
            self.blocks += 1
            self.damaged += 1
            return b""
        return self.walk_c(&block[0], n)

    cdef bytes walk_c(self, const uint8_t* p, Py_ssize_t n):
        cdef vector[Packet] found
        cdef Packet pkt
        cdef int64_t end, pos, slot_end, total = 0
        cdef uint32_t count, i, nxt, mac
        cdef bint bad = False
        self.blocks += 1
        if n < C_BLOCK_HEADER:
            self.damaged += 1
            return b""
        count = host32(p + OFF_NUM_PKTS)
        pos = host32(p + OFF_FIRST)
        end = host32(p + OFF_BLK_LEN)
        if end > n or end < C_BLOCK_HEADER or (count and pos < C_BLOCK_HEADER):
            self.damaged += 1
            return b""
        i = 0
        while i < count:
            if pos + C_PACKET_HEADER > end:
                bad = True
                break
            nxt = host32(p + pos + OFF_NEXT)
            if nxt:
                if nxt < C_PACKET_HEADER or pos + nxt > end:
                    bad = True
                    break
                slot_end = pos + nxt
            else:  # the last packet: its slot ends where the block's used bytes do
                slot_end = end
            mac = host16(p + pos + OFF_MAC)
            pkt.caplen = host32(p + pos + OFF_SNAPLEN)
            pkt.data = pos + mac
            if mac < C_PACKET_HEADER or pkt.data + pkt.caplen > slot_end:
                bad = True
                break
            pkt.nsec = host32(p + pos + OFF_NSEC)
            if pkt.nsec >= 1_000_000_000:
                bad = True
                break
            pkt.sec = host32(p + pos + OFF_SEC)
            pkt.wire = host32(p + pos + OFF_LEN)
            if pkt.wire < pkt.caplen:
                pkt.wire = pkt.caplen
            found.push_back(pkt)
            total += RECORD + pkt.caplen
            pos = slot_end
            i += 1
            if nxt == 0 and i < count:  # the chain ended before the count of packets
                bad = True
                break
        if bad:
            self.damaged += 1
        out = PyBytes_FromStringAndSize(NULL, total)
        cdef unsigned char* w = <unsigned char*>PyBytes_AS_STRING(out)
        cdef int64_t at = 0
        for pkt in found:
            put32le(w + at, pkt.sec)
            put32le(w + at + 4, pkt.nsec)
            put32le(w + at + 8, pkt.caplen)
            put32le(w + at + 12, pkt.wire)
            memcpy(w + at + RECORD, p + pkt.data, pkt.caplen)
            at += RECORD + pkt.caplen
            self.captured += pkt.caplen
        self.frames += found.size()
        return out


cdef class RxRing:
    """The blocks of a mapped TPACKET_V3 ring, taken in the kernel's order.

    ``memory`` is the whole ring (a writable buffer: the mapping of the socket), ``block_size``
    and ``block_count`` as given to ``PACKET_RX_RING``. :meth:`take` walks the next block if the
    kernel handed it over and gives it back; :meth:`close` lets go of the buffer (the mapping
    can then be closed).
    """

    def __init__(self, memory: object, Py_ssize_t block_size, Py_ssize_t block_count) -> None:
        cdef uint8_t[::1] mem = memory
        if block_size < C_BLOCK_HEADER or block_count < 1 or \
                mem.shape[0] < block_size * block_count:
            raise ValueError("the ring is smaller than its blocks")
        self.mem = mem
        self.block_size = block_size
        self.block_count = block_count
        self.current = 0
        self.walker = BlockWalk()

    def ready(self) -> bool:
        """Whether the next block is the reader's (the kernel handed it over)."""
        if self.mem is None:
            return False
        return bool(ring_status(&self.mem[self.current * self.block_size + OFF_STATUS])
                    & C_TP_STATUS_USER)

    def take(self) -> bytes:
        """The records of the next block, which goes back to the kernel; b"" if not ready."""
        if not self.ready():
            return b""
        cdef uint8_t* block = &self.mem[self.current * self.block_size]
        data = self.walker.walk_c(block, self.block_size)
        ring_release(block + OFF_STATUS)
        self.current = (self.current + 1) % self.block_count
        return data

    def close(self) -> None:
        self.mem = None
