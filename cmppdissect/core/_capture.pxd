from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libcpp.string cimport string
from libcpp.vector cimport vector
from libcpp.map cimport map as cmap
from libcpp.list cimport list as clist

from cmppdissect.core._types cimport Segment, SegmentSink


cdef struct Interface:
    int linktype          # -1: the block was unusable
    uint32_t snaplen
    int64_t mul           # ts_ns = ((raw * mul) >> shift) / 10**div_exp + off_s * 10**9
    int shift
    int div_exp
    int64_t off_s
    bint supported
    int tsresol           # the if_tsresol byte as stored (pcap: 6 or 9, by its magic)


cdef struct FragPiece:
    int64_t offset
    string data
    int64_t record        # where the fragment's frame record starts (-1: unknown)


cdef struct FragPending:
    vector[FragPiece] pieces
    int64_t size          # bytes held, for the memory bound
    int64_t total         # payload length once the last fragment (MF=0) arrived, else -1
    int64_t first_ts


cdef class Ipv4Reassembler:
    cdef public int64_t max_datagrams
    cdef public int64_t max_bytes
    cdef public int64_t timeout_ns
    cdef readonly int64_t completed
    cdef readonly int64_t dropped
    cdef readonly int64_t malformed
    cdef cmap[string, FragPending] pending
    cdef clist[string] order          # keys, oldest first
    cdef int64_t held
    cdef string out                   # the last datagram completed (valid until the next add)
    cdef vector[int64_t] out_records  # ... and the records of the frames its fragments came in

    cdef int add_c(self, const string& key, int64_t offset, bint more, const uint8_t* p,
                   Py_ssize_t n, int64_t ts, int64_t record) except -1
    cdef void _drop(self, const string& key, bint malformed)
    cdef void _unlink(self, const string& key)
    cdef void _expire(self, int64_t now)
    cdef void _enforce_bounds(self, const string& newest)
    cdef int _try_complete(self, const string& key, FragPending* pend) except -1
    cpdef int64_t flush(self)


cdef class CaptureReader:
    cdef SegmentSink sink
    cdef public object notes
    cdef readonly int64_t frames
    cdef readonly int64_t tcp_segments
    cdef readonly int64_t non_tcp
    cdef readonly int64_t malformed
    cdef readonly int64_t truncated_frames
    cdef readonly int64_t unsupported_link
    cdef readonly int64_t ip_fragments
    cdef readonly int64_t reassembled
    cdef readonly object format
    cdef int fmt                      # 0 header not read yet, 1 pcap, 2 pcapng
    cdef bint big                     # byte order of the file (pcap) or section (pcapng)
    cdef bint stopped                 # the file is corrupt beyond repair: nothing more is read
    cdef bint finished
    cdef int64_t pcap_mul
    cdef int rec_len
    cdef uint32_t snaplen
    cdef uint32_t limit
    cdef vector[Interface] ifaces     # the section's interfaces (pcap: the file's one)
    cdef int64_t section              # how many sections began (a new one clears ifaces)
    cdef int64_t skip
    cdef int64_t last_ts
    # Time as the frames say it: stamps clamped to the int64 ns range, steps back by more than
    # a second (clocks of two interfaces, a capture merged badly); noted once at the end.
    cdef int64_t prev_ts
    cdef int64_t clamped_ts
    cdef int64_t clamped_first
    cdef int64_t backwards
    cdef int64_t backwards_first
    cdef int64_t backwards_most
    cdef int64_t frame_notes
    cdef string pending
    cdef readonly int64_t pending_peak   # the most bytes held for a record split over chunks
    cdef Ipv4Reassembler frag
    cdef Segment seg
    # Where records are in the capture bytes: the position of the first byte of the buffer
    # being walked, of the held partial record, of all bytes fed, and of the current record.
    cdef int64_t base
    cdef int64_t pending_at
    cdef int64_t fed
    cdef int64_t record
    # The chunk being walked (held only by a FrameReader, which walks it a frame at a time):
    # where the walk is in it, and where its first byte is in the capture bytes.
    cdef const uint8_t[::1] chunk
    cdef Py_ssize_t chunk_len
    cdef Py_ssize_t chunk_pos
    cdef int64_t chunk_at
    cdef bint emit                    # a FrameReader: records become frames, not segments
    cdef bint have                    # a FrameReader holds a frame: the walk pauses
    # What a frame needs to be read again: sections and interfaces (capture_layout()).
    cdef list layout_sections
    cdef int64_t layout_entries
    cdef int64_t layout_until
    cdef object layout_cache
    cdef public bint keep_fragments   # note which frames a reassembled datagram came in
    cdef readonly dict fragment_records

    cdef int _walk(self) except -1
    cdef int _walked(self) except -1
    cdef Py_ssize_t _needed(self, const uint8_t* p, Py_ssize_t n)
    cdef Py_ssize_t _step(self, const uint8_t* p, Py_ssize_t n, Py_ssize_t pos) except -3
    cdef Py_ssize_t _step_pcapng(self, const uint8_t* p, Py_ssize_t n, Py_ssize_t pos) except -3
    cdef int _header(self, const uint8_t* p, Py_ssize_t n, int64_t offset) except -1
    cdef int _pcap(self, bint big, int rec_len, int linktype, uint32_t snaplen,
                   int tsresol) except -1
    cdef int _interface_block(self, const uint8_t* p, Py_ssize_t block, Py_ssize_t blen) except -1
    cdef int _layout_section(self, int64_t offset, bint keep) except -1
    cdef int _layout_interface(self, int64_t offset, int linktype, uint32_t snaplen,
                               int tsresol, int64_t tsoffset) except -1
    cdef int _packet(self, const uint8_t* p, Py_ssize_t start, uint32_t caplen, uint32_t wire,
                     uint32_t ifid, uint64_t raw, bint has_raw, int64_t ts) except -1
    cdef int _frame(self, const uint8_t* p, Py_ssize_t start, Py_ssize_t end, int linktype,
                    int64_t ts) except -1
    cdef int _ip_error(self, int64_t frame, str why) except -1
    cdef int _fragment(self, const uint8_t* p, Py_ssize_t ip, Py_ssize_t start, Py_ssize_t end,
                       bint truncated, uint16_t ident, int64_t offset, bint more,
                       int64_t ts) except -1
    cdef int _tcp(self, const uint8_t* p, Py_ssize_t start, Py_ssize_t end, bint truncated,
                  int version, const uint8_t* src, const uint8_t* dst, int64_t ts) except -1
    cdef int _note(self, object frame, str message, str severity) except -1
    cdef int _frame_note(self, int64_t frame, str message) except -1
    cdef int _bad_block(self, str why) except -1


cdef class FrameReader(CaptureReader):
    cdef object declare
    cdef dict declared                # InterfaceLayout -> its number in the merged stream
    cdef vector[int64_t] merged_ids   # this section's interface -> that number (-1: not yet)
    cdef int64_t merged_section
    # The frame held: where its record starts, its interface, time, length on the wire, bytes.
    cdef int64_t cur_offset
    cdef uint32_t cur_ifid
    cdef int64_t cur_ts
    cdef uint64_t cur_raw
    cdef bint cur_has_raw
    cdef uint32_t cur_wire
    cdef string cur_data
    # The last frame with a time: a Simple Packet Block's guess (raw, and its interface).
    cdef uint64_t last_raw
    cdef Interface last_iface
    # The latest time of the frames handed out by blocks() (a chain tells a rotation's next
    # piece from a file captured side by side with it), and whether any was.
    cdef int64_t handed_max_ts
    cdef bint handed_any
    # Frames handed out by blocks(): where the next input of a chain starts in the merged
    # stream's numbering (a file's rows of the PDU table, scale/dataset.py).
    cdef readonly int64_t handed

    cdef object _interface_layout(self, uint32_t ifid)
    cdef int64_t _merged_id(self, string* out) except -2
    cdef int _epb(self, string* out, int64_t ifid) except -1


cdef class SegmentList(SegmentSink):
    cdef public list items


cdef object segment_record(const Segment* seg)
