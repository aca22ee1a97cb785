"""Stage 5 of the core: sessions, request/response pairing, counters, latencies and rates.

:class:`Core` is the whole compiled pipeline: capture bytes go in through :meth:`Core.feed`,
and every PDU is accounted here, in C, as it is cut: sessions are opened and closed, requests
paired with their responses (the one place pairing happens), results, status reports and
long-SMS parts counted, latencies kept as exact samples and rates per second. What Python must
see comes out per call of :meth:`Core.feed` as

* ``events``: a list of tuples, in the order things happened (a session opened, a finding, a
  PDU that Python must decode in full, a request linked to its response...). They are rare:
  the common PDU of a busy link produces none.
* rows (when ``keep_rows``): one fixed-size record per PDU (:data:`ROW_FIELDS`), for numpy,
  and the PDUs' bytes in the same order; and, packed as int64 for numpy too, the links (request
  row, response row, latency ns: every answered request, so one per exchange) and the status
  reports matched to their SUBMIT (report row, SUBMIT frame), which are as common as PDUs and
  would cost a Python tuple each as events.

Findings are not worded here: an event carries a code and its numbers, and the Python engine
(:mod:`cmppdissect.engine`) writes the sentence. The rules follow the analysis engine that
came before this one, finding for finding and in the same order, which
``tests/test_engine_oracle.py`` checks on the samples.

Every state has a cap (sessions, requests in flight per session, Msg_Ids awaiting a report,
long messages being assembled, and the TCP stage's own); past it the oldest entry is dropped,
counted, and a ``cap-*`` finding says so the first time.
"""

from libc.stdint cimport INT64_MAX, INT64_MIN, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from libcpp.list cimport list as clist
from libcpp.pair cimport pair
from libcpp.string cimport string
from libcpp.vector cimport vector
from cython.operator cimport dereference as deref, predecrement as dec, preincrement as inc

from cmppdissect.core._capture cimport CaptureReader
from cmppdissect.core._framing cimport (
    SKIP_SHOWN,
    WHY_NO_HEADER,
    Framer,
    PduSink,
    after_of,
    framer_close,
    framer_feed,
    framer_gap,
    framer_init,
)
from cmppdissect.core._pdu cimport (
    LF_AMBIGUOUS,
    LF_INEXACT,
    LF_LOGIN,
    LF_MISMATCH,
    LF_MSG_LENGTH,
    LF_MSGID_ORDER,
    LF_REPORT_SIZE,
    LF_STRAY,
    LF_TEXT,
    LF_UDH,
    N_DEST_ID,
    N_DEST_TERMINAL_ID,
    N_MSG_SRC,
    N_SRC_ID,
    N_SRC_TERMINAL_ID,
    V_NONE,
    V_20,
    V_30,
    Light,
    is_versioned,
    light_decode,
    plausible_header,
    version_of_byte,
)
from cmppdissect.core._tcp cimport TcpTracker
from cmppdissect.core._types cimport (
    CAPPED_CONNECTIONS,
    CLOSE_END,
    ConnStats,
    Endpoint,
    StreamSink,
    endpoint_address,
    sat_add,
    sat_sub,
)

from cmppdissect.core.records import ConnStats as ConnStatsRecord

# -- what the core tells Python (event kinds and their codes) -----------------------------------

EV_SESSION = 1      # (kind, sid, client address, client port, server address, server port)
EV_RETIRED = 2      # (kind, sid): dropped from the session list past max_sessions
EV_NOTE = 3         # (kind, code, frame, sid, a, b, c): a finding for the expert list
EV_SKIP = 4         # (kind, sid, from_client, size, frame, why, a, b, special, after, head):
                    # at a run's start, frame brought its first byte and head is its first
                    # bytes; after: (Command_Id, Total_Length, frame) of the PDU before it
EV_SKIP_RESET = 5   # (kind, sid, from_client): the running skipped-bytes finding ends
EV_DECODE = 6       # (kind, row, frame, ts, sid, from_client, pdu bytes, hint version)
EV_RECORD = 7       # (kind, row, code, frame, sid, a, b, c): a finding on one PDU
EV_LONG_DONE = 9    # (kind, row, reference, total, part rows, part frames, complete): a long
                    # message completed at row, or given up (not complete) while row was read
                    # (past the end: the rows read)  [keep_rows only]
EV_CARRIERS = 10    # (kind, row, records): the frames that carried the PDU's bytes, when
                    # they are not just the row's own  [carriers only]

# EV_NOTE codes
NOTE_UNANSWERED = 1       # a = Command_Id, b = Sequence_Id
NOTE_CAPTURE_GAP = 2      # a = bytes missing, b = from client
NOTE_RETRANSMISSION = 3   # a = retransmitted segments, b = exact duplicates
NOTE_INCOMPLETE_PDU = 4   # a = bytes, b = from client, c = (why, why_a, why_b)
NOTE_CAP = 5              # a = CAP_* kind
NOTE_LONG_INCOMPLETE = 6  # a = when (0 timeout, 1 cap, 2 end), c = LongSms info tuple
NOTE_HEARTBEAT_MISSED = 7  # a = unanswered in a row, b = sent from the client
NOTE_HEARTBEAT_NEVER = 8   # a = ACTIVE_TESTs sent, none answered, b = sent from the client
# EV_RECORD codes
REC_ORPHAN = 1            # a = Command_Id, b = Sequence_Id
REC_SEQUENCE_REUSED = 2   # a = frame of the earlier request, b = Command_Id, c = Sequence_Id
REC_WINDOW = 3
REC_LONG_DUPLICATE = 5    # a = duplicates, c = LongSms info tuple
REC_SEQUENCE_BACKWARDS = 6  # a = frame, b = Command_Id of the request before it from this
                            # side, c = (its Sequence_Id, this Command_Id, this Sequence_Id)
REC_SEQUENCE_BOTH_WAYS = 7  # a = frame, b = Command_Id of the request in flight the other way
                            # with this Sequence_Id, c = (Sequence_Id, this Command_Id)
REC_LONG_RESENT = 8       # a = frame of the first send, b = Sequence_Id, c = LongSms info tuple
                          # (its parts: the one part sent again)
# Status reports that did not simply match their SUBMIT (issue 16).
REC_REPORT_UNMATCHED = 9  # a = Msg_Id, b = ns since the capture's start, c = (Stat, recipient,
                          # ((key, NEAR_* rule), ...) the near-miss candidates in the order
                          # tried, the index of the one that found a SUBMIT or -1)
REC_REPORT_DUPLICATE = 10  # a = Msg_Id, b = frame of the first report, c = (SUBMIT frame, Stat)
REC_REPORT_OTHER_CONNECTION = 11  # a = SUBMIT frame, b = the SUBMIT's session, c = Msg_Id
REC_REPORT_NEAR_MISS = 12  # a = SUBMIT frame, b = NEAR_* rule, c = (report's Msg_Id, the
                           # SUBMIT_RESP's Msg_Id, the SUBMIT's session)
# Answers to requests that were unanswered or resent (issue 16, part 4); on the response.
REC_LATE_RESPONSE = 13     # a = request frame, b = ns from its first send, c = its sends
REC_ANSWER_OTHER_CONNECTION = 14  # a = request frame, b = its session, c = ns from its send
REC_ANSWERED_TWICE = 15    # a = request frame, b = first answer's frame, c = (Result, Result)
# Link lifecycle (issue 16, part 5).
REC_IDLE_GAP = 16          # a = ns without a PDU, b = the frame before the gap
REC_RECONNECT_STORM = 17   # a = CONNECTs in the last minute, b = storms of this SP so far
# What became of a request unanswered or resent (Lost.kind).
LOST_NEVER = 0             # no answer seen (yet)
LOST_LATE = 1              # answered after the timeout, on its connection
LOST_OTHER_CONNECTION = 2  # answered on another connection of its SP
LOST_WRONG_SEQUENCE = 3    # an orphan answer to the same command came within the timeout
LOST_RESENT = 4            # sent again after the timeout; the resend is in flight
LOST_RESENT_ANSWERED = 5   # resent, then answered once
LOST_DUPLICATE = 6         # resent and answered twice with Result 0: a likely duplicate
LOST_ANSWERED_TWICE = 7    # resent and answered twice, not both accepted
LOST_NAMES = ("never", "late", "other-connection", "wrong-sequence", "resent",
              "resent-answered", "duplicate", "answered-twice")
FLOW_SLOTS = 512           # time slots kept per session and side (the slot widens past it)
STORM_CONNECTS = 10        # CONNECTs of one SP within a minute: a reconnect storm
LOST_SCAN = 16             # the newest Lost entries looked at for one key
# near-miss rules
NEAR_BYTE_REVERSED = 1     # the id's 8 bytes in the other order (a little-endian peer, D22)
NEAR_OTHER_GATEWAY = 2     # the same time fields and sequence, another gateway code
NEAR_DECIMAL_TEXT = 3      # the id written as decimal digits elsewhere in the report
NEAR_HEX_TEXT = 4          # ... as 16 hex digits
NEAR_NAMES = (None, "byte-reversed", "other-gateway", "decimal-text", "hex-text")
# caps
CAP_PENDING = 0
CAP_AWAITING = 1
CAP_LONG_SMS = 2
CAP_SESSIONS = 3
CAP_CONNECTIONS = 4
CAP_TCP_HELD = 5
CAP_REPORTED = 6
CAP_REPORT_KEYS = 7
CAP_LOST = 8
CAP_NAMES = ("pending", "awaiting-reports", "long-sms", "sessions", "connections",
             "tcp-buffered", "reported-ids", "report-keys", "lost-requests")
OTHER_KEY = b"\x00(other)"
"""The SP or Stat key of what came past ``max_report_keys`` (no wire value is this)."""

VERSION_SOURCES = (None, "CONNECT", "lengths", "user")
ENDED_NAMES = ("fin", "rst", "reused", "evicted", "end-of-capture", "evicted")

cdef uint32_t RESPONSE_BIT = 0x80000000
cdef uint32_t CMD_CONNECT = 1
cdef uint32_t CMD_CONNECT_RESP = 0x80000001
cdef uint32_t CMD_SUBMIT = 4
cdef uint32_t CMD_SUBMIT_RESP = 0x80000004
cdef uint32_t CMD_DELIVER = 5
cdef uint32_t CMD_ACTIVE_TEST = 8
cdef int HEARTBEATS_MISSED = 3  # the spec's C: a peer that misses three should be dropped
cdef int64_t NS = 1000000000
cdef uint32_t CMD_TERMINATE = 2
cdef int64_t TICK = 100000000    # the rate's bins: 100 ms
cdef int64_t MINUTE = 60 * NS
cdef int _FLOW_SLOTS = FLOW_SLOTS
cdef int _STORM = STORM_CONNECTS
cdef int64_t _LOST_SCAN = LOST_SCAN
from cmppdissect.protocol.commands import DEFAULT_PORTS, LISTENER_SENDS, OPENER_SENDS
from cmppdissect.protocol.msgid import MSG_ID_GATEWAY_BITS
from cmppdissect.protocol.commands import WINDOW as _SPEC_WINDOW
cdef int64_t SPEC_WINDOW = _SPEC_WINDOW  # past it, the REC_WINDOW finding
cdef uint64_t MSG_ID_MAX = 0xFFFFFFFFFFFFFFFF
RECIPIENTS_KEPT = 16
"""The recipients of a SUBMIT remembered, to name them in the never-reported listing."""
cdef int64_t _RECIPIENTS_KEPT = RECIPIENTS_KEPT
cdef uint64_t GATEWAY_BITS = MSG_ID_GATEWAY_BITS  # Msg_Id bits of the gateway (§7.1)
cdef string OTHER = OTHER_KEY

# Flags that mean: Python's full decoder may find something worth listing.
cdef int DECODE_FLAGS = (LF_INEXACT | LF_MISMATCH | LF_REPORT_SIZE | LF_MSG_LENGTH | LF_UDH
                         | LF_TEXT | LF_LOGIN | LF_STRAY | LF_MSGID_ORDER)

# -- the rows ---------------------------------------------------------------------------------------

cdef packed struct PduRow:
    int64_t ts
    int64_t frame
    int64_t offset        # where the frame's record starts in the capture file, -1: unknown
    int64_t pair          # a response: its request's row; -1 (requests learn theirs by EV_LINK)
    int64_t latency       # a paired response: ns since its request (may be < 0: clocks jump)
    uint64_t msg_id
    int64_t result        # the outcome field (Result/Status/Success_Id), -1: none
    uint32_t session
    uint32_t command_id
    uint32_t sequence_id
    uint32_t length
    uint8_t from_client
    uint8_t version       # the layout the PDU was read with: 0, 20 or 30
    uint8_t hint          # the session's version when it was read (what decode_pdu is given)
    uint8_t flags         # LF_* of the light decoder
    uint8_t resend        # a request sent again with the same Sequence_Id while in flight


def _row_fields():
    cdef PduRow r
    cdef char* base = <char*>&r
    return (
        ("ts", "<i8", <char*>&r.ts - base), ("frame", "<i8", <char*>&r.frame - base),
        ("offset", "<i8", <char*>&r.offset - base),
        ("pair", "<i8", <char*>&r.pair - base), ("latency", "<i8", <char*>&r.latency - base),
        ("msg_id", "<u8", <char*>&r.msg_id - base), ("result", "<i8", <char*>&r.result - base),
        ("session", "<u4", <char*>&r.session - base),
        ("command_id", "<u4", <char*>&r.command_id - base),
        ("sequence_id", "<u4", <char*>&r.sequence_id - base),
        ("length", "<u4", <char*>&r.length - base),
        ("from_client", "u1", <char*>&r.from_client - base),
        ("version", "u1", <char*>&r.version - base), ("hint", "u1", <char*>&r.hint - base),
        ("flags", "u1", <char*>&r.flags - base), ("resend", "u1", <char*>&r.resend - base),
    )


ROW_FIELDS = _row_fields()
"""(name, numpy type, offset) of each field of a row; ``ROW_SIZE`` bytes per row."""
ROW_SIZE = sizeof(PduRow)


cdef inline int64_t floor_div(int64_t a, int64_t b) noexcept nogil:
    """a // b rounded toward minus infinity, as Python's // (b > 0; times before 1970 exist)."""
    cdef int64_t q = a / b
    if a % b < 0:
        q -= 1
    return q


# Rate slots (the over-time series) held at most, a day of seconds: past that they widen.
cdef int64_t RATE_SLOTS = 86_400


cdef inline int64_t floor_sec(int64_t ts) noexcept nogil:
    return floor_div(ts, NS)


cdef inline void peak_add(PeakRate* r, int64_t ts) noexcept nogil:
    cdef int64_t sec = floor_sec(ts)
    if sec == r.second:
        r.count += 1
    else:
        r.second = sec
        r.count = 1
    if r.count > r.peak:
        r.peak = r.count


cdef inline int64_t bin_of(int64_t tick) noexcept nogil:
    cdef int64_t b = tick % 10
    return b + 10 if b < 0 else b


cdef int64_t flow_rate(Flow* f, int64_t ts) noexcept nogil:
    """Sends in the second up to ``ts`` (ten 100 ms bins), the bins moved on to ``ts``. Time
    going backwards (jitter) counts in the newest bin."""
    cdef int64_t tick = floor_div(ts, TICK)
    cdef int64_t k
    if tick > f.tick:
        if tick - f.tick >= 10:
            memset(f.bins, 0, sizeof(f.bins))
            f.in_bins = 0
        else:
            for k in range(f.tick + 1, tick + 1):
                f.in_bins -= f.bins[bin_of(k)]
                f.bins[bin_of(k)] = 0
        f.tick = tick
    return f.in_bins


cdef FlowSlot* flow_slot(Flow* f, int64_t ts) except NULL:
    """The slot of ``ts`` (the newest one if time went backwards); past FLOW_SLOTS slots the
    width doubles and neighbours merge, so a session of any length keeps at most that many."""
    cdef int64_t idx
    cdef FlowSlot fresh
    cdef size_t i, j
    idx = floor_div(ts, f.width)  # a session's flows start at 1 s (_new_session)
    if not f.slots.empty() and idx <= f.slots.back().slot:
        return &f.slots.back()
    while <int>f.slots.size() >= _FLOW_SLOTS:
        f.width *= 2
        j = 0
        for i in range(f.slots.size()):
            f.slots[i].slot = floor_div(f.slots[i].slot, 2)
            if j and f.slots[j - 1].slot == f.slots[i].slot:
                f.slots[j - 1].sends += f.slots[i].sends
                f.slots[j - 1].max_in_flight = max(f.slots[j - 1].max_in_flight,
                                                   f.slots[i].max_in_flight)
                f.slots[j - 1].answered += f.slots[i].answered
                f.slots[j - 1].latency_sum = sat_add(f.slots[j - 1].latency_sum,
                                                     f.slots[i].latency_sum)
                f.slots[j - 1].refused += f.slots[i].refused
                f.slots[j - 1].errors += f.slots[i].errors
            else:
                f.slots[j] = f.slots[i]
                j += 1
        f.slots.resize(j)
        idx = floor_div(ts, f.width)
        if idx <= f.slots.back().slot:
            return &f.slots.back()
    memset(&fresh, 0, sizeof(FlowSlot))
    fresh.slot = idx
    f.slots.push_back(fresh)
    return &f.slots.back()


cdef inline uint64_t mix_key(uint64_t key, uint64_t other) noexcept nogil:
    """A request's pairing key with its session or SP, for the Lost indexes (entries are
    checked on lookup: a collision costs a look, not a wrong answer)."""
    return key ^ ((other + <uint64_t>0x9E3779B97F4A7C15ULL) * <uint64_t>0xBF58476D1CE4E5B9ULL)


cdef uint64_t sp_hash(const string& sp) noexcept nogil:
    """FNV-1a of an SP id (6 bytes)."""
    cdef uint64_t h = <uint64_t>0xCBF29CE484222325ULL
    cdef size_t k
    for k in range(sp.size()):
        h = (h ^ <uint8_t>sp[k]) * <uint64_t>0x100000001B3ULL
    return h


cdef void _unindex(unordered_map[uint64_t, deque[int64_t]]* index, uint64_t key,
                   int64_t id) noexcept:
    found = index.find(key)
    if found != index.end():
        if not deref(found).second.empty() and deref(found).second.front() == id:
            deref(found).second.pop_front()
        if deref(found).second.empty():
            index.erase(found)


cdef inline void lost_answered(Lost* lost, int kind, int64_t frame, int64_t sid, int64_t ts,
                               int64_t result) noexcept nogil:
    """What became of a request: the answer that tells (its frame, session, time, Result)."""
    lost.kind = kind
    lost.answer_frame = frame
    lost.answer_sid = sid
    lost.delay = sat_sub(ts, lost.ts)
    lost.result = result


cdef object _flow_tuple(Flow* f):
    slots = [(s.slot, s.sends, s.max_in_flight, s.answered, s.latency_sum, s.refused, s.errors)
             for s in f.slots]
    onsets = [(r.frame, r.request_frame, r.ts, r.cmd, r.result, r.in_flight, r.rate)
              for r in f.first_onsets]
    return {"width_ns": f.width, "slots": slots,
            "max_rate": f.max_rate, "over_window": f.over_window, "onsets": f.onsets,
            "first_onsets": onsets}


cdef inline uint64_t pending_key(bint from_client, uint32_t cmd, uint32_t seq) noexcept nogil:
    return ((<uint64_t>from_client) << 40) | ((<uint64_t>(cmd & 0xFF)) << 32) | seq


cdef object _endpoint_tuple(const Endpoint* ep):
    return endpoint_address(ep), ep.port


cdef object _stats_record(const ConnStats* st):
    return ConnStatsRecord(st.frames, st.bytes_from_client, st.bytes_from_server,
                           st.retransmissions, st.duplicates, st.out_of_order, st.gaps,
                           st.gap_bytes)


cdef bytes _field(const uint8_t* p, int64_t off, int64_t size):
    """An Octet String field without its NUL padding (the full decoder's bytes value)."""
    if off < 0:
        return b""
    cdef int64_t k = size
    while k > 0 and p[off + k - 1] == 0:
        k -= 1
    return p[off:off + k]


cdef inline uint64_t bswap64(uint64_t v) noexcept nogil:
    cdef uint64_t out = 0
    cdef int k
    for k in range(8):
        out = (out << 8) | ((v >> (8 * k)) & 0xFF)
    return out


cdef string _cut(const uint8_t* p, int64_t size):
    """An address field up to its first NUL (what the full decoder shows, D21)."""
    cdef int64_t k = 0
    while k < size and p[k] != 0:
        k += 1
    return string(<const char*>p, k)


cdef void _put(string& key, bytes value):
    """Append a length-prefixed value, so that concatenated key parts cannot run together."""
    cdef Py_ssize_t n = len(value)
    key.push_back(<char>(n >> 8))
    key.push_back(<char>(n & 0xFF))
    key.append(<const char*>value, n)


cdef bytes _drained(vector[int64_t]* v):
    """A vector's samples as native int64 bytes; the vector emptied, its memory freed."""
    out = (<char*>v.data())[:v.size() * sizeof(int64_t)]
    cdef vector[int64_t] empty
    v.swap(empty)
    return out


cdef object _long_info(LongMsg* msg):
    """What the Python engine needs to describe a long message: (command, sender, Msg_src,
    recipients, reference, total, ((part number, frame), ...) in part order)."""
    return (msg.cmd, msg.sender, msg.msg_src, [r for r in msg.recipients], msg.reference,
            msg.total, [(pr.first, pr.second.frame) for pr in msg.parts])


cdef class _FramerSink(PduSink):
    """Routes the framers' output to the core, with the session and direction being fed."""

    cdef Core core
    cdef Session* sess
    cdef bint fc

    cdef int pdu(self, const uint8_t* p, Py_ssize_t n, int64_t frame, int64_t ts,
                 int64_t first_frame) except -1:
        cdef Core core = self.core
        if not core.carriers:
            return core.on_pdu(self.sess, self.fc, p, n, frame, ts)
        cdef int64_t row = core.rows
        core.on_pdu(self.sess, self.fc, p, n, frame, ts)
        records = core._carried(self.sess, self.fc, n)
        if core.rows > row and records != (core.cur_offset,):
            core.events.append((EV_CARRIERS, row, records))
        return 0

    cdef int skipped(self, int64_t size, int64_t frame, int64_t ts, int why, int64_t a,
                     int64_t b, const Framer* f, const uint8_t* data) except -1:
        if self.core.carriers:
            self.core._carried(self.sess, self.fc, size)
        return self.core.on_skipped(self.sess, self.fc, size, frame, ts, why, a, b, f, data)


cdef tuple _beats_tuple(const Heartbeats* b):
    """(sent, answered, unanswered, max unanswered in a row, first ns, last ns, longest
    interval ns) of one side's ACTIVE_TESTs."""
    return (b.sent, b.answered, b.unanswered, b.max_in_row, b.first_ts, b.last_ts,
            b.max_interval)


cdef inline void _out_of_flight(Session* sess, PendingReq* req) noexcept nogil:
    """A request leaves the in-flight list (answered, given up, or evicted)."""
    if req.from_client:
        sess.window_client -= 1
        sess.in_flight_seq[req.seq & 31] -= 1
    else:
        sess.window_server -= 1
        sess.in_flight_seq[32 + (req.seq & 31)] -= 1


cdef class Core(StreamSink):
    """The compiled pipeline, from capture bytes to accounted PDUs (see the module docs).

    Settings: ``ports`` are decoded as CMPP (other TCP streams only when ``heuristic`` and
    they start with a plausible CMPP header); ``version`` (0, 20 or 30) is used for sessions
    whose CONNECT was not captured; a request unanswered after ``timeout_ns`` counts as
    unanswered; ``keep_rows`` makes the core hand out a row and the bytes of every PDU;
    ``pdu_limit`` stops the analysis after that many PDUs (0: no limit).

    ``offsets``: the bytes fed are a regular file read from its start, so a row's ``offset`` is
    the file offset of its frame's record (otherwise -1). ``carriers`` (with ``keep_rows`` and
    ``offsets``): a PDU whose bytes did not all come in its own frame gets an ``EV_CARRIERS``
    event naming every frame that carried them, which is what writing its frames out needs.
    """

    def __init__(self, *, ports=DEFAULT_PORTS, int version=0,
                 int64_t timeout_ns=60 * NS, bint heuristic=True,
                 int64_t long_sms_timeout_ns=600 * NS, int64_t max_sessions=20_000,
                 int64_t max_awaiting_reports=200_000, int64_t max_pending=65536,
                 int64_t max_long_sms=50_000, bint keep_rows=False, int64_t pdu_limit=0,
                 tracker_caps=None, notes=None, bint offsets=False, bint carriers=False,
                 int64_t max_report_keys=10_000, int64_t max_lost=10_000,
                 int64_t idle_ns=0, int64_t max_rate_slots=RATE_SLOTS):
        # Each cap drops the oldest entry once reached, so a cap below 1 has nothing to drop.
        for name, cap in (("max_sessions", max_sessions), ("max_pending", max_pending),
                          ("max_awaiting_reports", max_awaiting_reports),
                          ("max_long_sms", max_long_sms),
                          ("max_report_keys", max_report_keys), ("max_lost", max_lost),
                          ("max_rate_slots", max_rate_slots)):
            if cap < 1:
                raise ValueError(f"{name} must be >= 1, not {cap}")
        self.ports = tuple(ports)
        for port in self.ports:
            self.port_set[port] = True
        self.forced_version = version
        self.timeout_ns = timeout_ns
        self.heuristic = heuristic
        self.long_sms_timeout_ns = long_sms_timeout_ns
        self.max_sessions = max_sessions
        self.max_awaiting_reports = max_awaiting_reports
        self.max_pending = max_pending
        self.max_long_sms = max_long_sms
        self.max_report_keys = max_report_keys
        self.max_lost = max_lost
        self.max_rate_slots = max_rate_slots
        # A link idle past the heartbeat interval (C = 3 min) and its answer's time (T) missed
        # a heartbeat.
        self.idle_ns = idle_ns if idle_ns > 0 else sat_add(180 * NS, timeout_ns)
        self.keep_rows = keep_rows
        self.offsets = offsets
        self.carriers = carriers and keep_rows and offsets
        self.cur_offset = -1
        self.pdu_limit = pdu_limit
        self.events = []
        sink = _FramerSink()
        sink.core = self
        self.framer_sink = sink
        self.tracker = TcpTracker(self, server_ports=self.ports, **(tracker_caps or {}))
        self.reader = CaptureReader(self.tracker, notes)
        self.reader.keep_fragments = self.carriers
        for i in range(32):
            self.totals[i].request_id = i
            self.retired[i].request_id = i
        self.rate_width = 1
        for i in range(64):
            self.ring_sec[i] = INT64_MIN

    def __dealloc__(self):
        for item in self.sessions:
            del item.second
        self.sessions.clear()

    # -- input ----------------------------------------------------------------------------------

    @property
    def notes(self):
        """The capture reader's findings (CaptureNote records)."""
        return self.reader.notes

    def capture_layout(self):
        """What reading a frame's record again needs (a
        :class:`~cmppdissect.core.records.CaptureLayout`; None before the header was read)."""
        return self.reader.capture_layout()

    @property
    def fragment_records(self):
        """With ``carriers``: {record of a frame that completed a fragmented IPv4 datagram:
        the records of all its fragments' frames}."""
        return self.reader.fragment_records

    @property
    def reader_stats(self):
        r = self.reader
        return {"frames": r.frames, "tcp_segments": r.tcp_segments, "non_tcp": r.non_tcp,
                "malformed": r.malformed, "truncated_frames": r.truncated_frames,
                "unsupported_link": r.unsupported_link, "ip_fragments": r.ip_fragments,
                "reassembled": r.reassembled}

    def feed(self, data):
        """Analyse the next chunk of capture bytes (any size, any boundary)."""
        if not self.stopped:
            self.reader.feed(data)

    def finish(self, cut=False):
        """End of the capture: close what is open and flush what is pending. ``cut``: reading
        stopped before the capture's end (``-c``; reaching ``pdu_limit`` implies it), so the
        requests still waiting are in flight, not unanswered (:attr:`in_flight_at_stop`)."""
        self.finish_c(cut)

    def take(self):
        """The events and, with ``keep_rows``, the rows and bytes since the last call:
        ``(events, rows, raw, links, reports)``; rows are ``ROW_SIZE`` bytes each
        (:data:`ROW_FIELDS`), links native int64 triples (request row, response row, latency
        ns), reports int64 pairs (status report row, the SUBMIT's frame)."""
        events = self.events
        self.events = []
        rows = b""
        raw = b""
        links = b""
        reports = b""
        if self.keep_rows:
            if self.link_bytes.size():
                links = (<char*>self.link_bytes.data())[:self.link_bytes.size() * 8]
                self.link_bytes.clear()
            if self.report_rows.size():
                reports = (<char*>self.report_rows.data())[:self.report_rows.size() * 8]
                self.report_rows.clear()
            if self.row_bytes.size():
                rows = (<char*>self.row_bytes.data())[:self.row_bytes.size()]
                self.row_bytes.clear()
            if self.raw.size():
                raw = self.raw
                self.raw.clear()
        return events, rows, raw, links, reports

    # -- what the statistics are read from --------------------------------------------------------

    def commands(self):
        """Totals per request type seen: {request Command_Id: (requests, responses, paired,
        unanswered, orphan responses, retransmitted)}."""
        out = {}
        for i in range(32):
            if self.totals_seen[i]:
                t = &self.totals[i]
                out[i] = (t.requests, t.responses, t.paired, t.unanswered, t.orphans,
                          t.retransmitted)
        return out

    def latency_samples(self, uint32_t request_id):
        """Every latency (ns) of one request type, all sessions and the retired ones: bytes
        of native int64 (numpy.frombuffer reads them)."""
        cdef vector[int64_t] out
        cdef Session* sess
        cdef int i = request_id & 0x1F
        for sid in self.session_order:
            sess = self.sessions[sid]
            if sess.slot[i] >= 0:
                for v in sess.cmds[sess.slot[i]].latency:
                    out.push_back(v)
        for v in self.retired[i].latency:
            out.push_back(v)
        return (<char*>out.data())[:out.size() * sizeof(int64_t)] if out.size() else b""

    def result_counts(self):
        """{(response Command_Id, code): count} over the whole capture."""
        return {(item.first.first, item.first.second): item.second for item in self.results}

    def report_stats(self):
        """{Stat bytes: count} of every status report."""
        return {item.first: item.second for item in self.stat_counts}

    def drain_samples(self):
        """Hand over every latency and delay sample held and let them go (the statistics'
        owner folds them into sketches past its budget: engine/sketch.py): {key: native
        int64 bytes}, keys ``("latency", session, request Command_Id)``, ``("latency",
        -1, Command_Id & 0x1F)`` for the sessions retired (as :meth:`latency_samples`),
        ``("to_report",)`` and ``("delays", SP key, Stat)``."""
        out = {}
        cdef Session* sess
        cdef CmdStats* c
        for sid in self.session_order:
            sess = self.sessions[sid]
            for k in range(<Py_ssize_t>sess.cmds.size()):
                c = &sess.cmds[k]
                if c.latency.size():
                    out[("latency", sid, c.request_id)] = _drained(&c.latency)
        for i in range(32):
            if self.retired[i].latency.size():
                out[("latency", -1, i)] = _drained(
                    &self.retired[i].latency)
        if self.submit_to_report.size():
            out[("to_report",)] = _drained(&self.submit_to_report)
        # Iterators, not for-in (which copies each entry): the vectors themselves let go.
        cdef cmap[string, SpRecon].iterator sp_it = self.recon.begin()
        cdef cmap[string, StatRecon].iterator st_it
        while sp_it != self.recon.end():
            st_it = deref(sp_it).second.stats.begin()
            while st_it != deref(sp_it).second.stats.end():
                if deref(st_it).second.delays.size():
                    out[("delays", deref(sp_it).first, deref(st_it).first)] = _drained(
                        &deref(st_it).second.delays)
                inc(st_it)
            inc(sp_it)
        self.samples_held = 0
        return out

    def submit_to_report_samples(self):
        cdef vector[int64_t]* v = &self.submit_to_report
        return (<char*>v.data())[:v.size() * sizeof(int64_t)] if v.size() else b""

    def rates(self):
        """({slot: PDUs}, {slot: SUBMITs}, {slot: (latency sum ns, count)}, the slots' width
        in seconds, the most PDUs and SUBMITs in one second). A slot is keyed by its first
        second; slots are single seconds until there are more than ``max_rate_slots`` of
        them (by default a day's), then twice as wide each time, so a capture of any length
        holds a bounded number."""
        return ({item.first: item.second for item in self.pdu_rate},
                {item.first: item.second for item in self.submit_rate},
                {item.first: (item.second.first, item.second.second)
                 for item in self.submit_latency},
                self.rate_width, self.peak_pdus, self.peak_submits)

    cdef int64_t _rate_slot(self, int64_t sec, bint submit) except? -1:
        """Count one PDU (or SUBMIT) of second ``sec`` for the peaks; the key of its slot."""
        cdef int k = <int>(sec & 63)
        if self.ring_sec[k] != sec:
            if sec < self.ring_sec[k]:  # over a minute late (jitter): not in the peaks
                return self._slot_key(sec)
            self.ring_sec[k] = sec
            self.ring_pdus[k] = 0
            self.ring_submits[k] = 0
        if submit:
            self.ring_submits[k] += 1
            if self.ring_submits[k] > self.peak_submits:
                self.peak_submits = self.ring_submits[k]
        else:
            self.ring_pdus[k] += 1
            if self.ring_pdus[k] > self.peak_pdus:
                self.peak_pdus = self.ring_pdus[k]
            if <int64_t>self.pdu_rate.size() > self.max_rate_slots:
                self._widen_rates()
        return self._slot_key(sec)

    cdef inline int64_t _slot_key(self, int64_t sec) noexcept:
        return floor_div(sec, self.rate_width) * self.rate_width

    cdef int _widen_rates(self) except -1:
        """More than max_rate_slots slots: twice as wide, the counts added into the new
        slots."""
        self.rate_width *= 2
        cdef unordered_map[int64_t, int64_t] pdus, submits
        cdef unordered_map[int64_t, pair[int64_t, int64_t]] latency
        for item in self.pdu_rate:
            pdus[self._slot_key(item.first)] += item.second
        for item in self.submit_rate:
            submits[self._slot_key(item.first)] += item.second
        cdef pair[int64_t, int64_t]* slot
        for lat in self.submit_latency:
            slot = &latency[self._slot_key(lat.first)]
            slot.first = sat_add(slot.first, lat.second.first)
            slot.second += lat.second.second
        self.pdu_rate.swap(pdus)
        self.submit_rate.swap(submits)
        self.submit_latency.swap(latency)
        return 0

    def long_sms(self):
        return {"complete": self.long_complete, "incomplete": self.long_incomplete,
                "parts": self.long_parts, "assembling": self.long_pending.size(),
                "resent": self.long_resent}

    def session_ids(self):
        """Sessions in the list, in the order they were opened."""
        return [sid for sid in self.session_order]

    def session(self, int64_t sid):
        """One session's numbers: a dict, or None once it was dropped past max_sessions."""
        it = self.sessions.find(sid)
        if it == self.sessions.end():
            return None
        cdef Session* s = deref(it).second
        commands = {}
        for k in range(<Py_ssize_t>s.cmds.size()):
            c = &s.cmds[k]
            lat = c.latency
            commands[c.request_id] = (c.requests, c.responses, c.paired, c.unanswered,
                                      c.orphans, c.retransmitted,
                                      (<char*>c.latency.data())[:c.latency.size() * 8]
                                      if c.latency.size() else b"")
        return {
            "id": s.id, "client": _endpoint_tuple(&s.client), "server": _endpoint_tuple(&s.server),
            "start_ns": s.start_ns, "end_ns": s.end_ns,
            "version": {V_NONE: None, V_20: "2.0", V_30: "3.0"}[s.version],
            "version_source": VERSION_SOURCES[s.version_source],
            "pdus_from_client": s.pdus_client, "pdus_from_server": s.pdus_server,
            "errors": s.errors, "unanswered": s.unanswered,
            "ended": None if s.ended < 0 else ENDED_NAMES[s.ended],
            "saw_syn": s.saw_syn, "cmpp": not s.not_cmpp,
            "tcp": _stats_record(&s.tcp) if s.has_tcp else None,
            "skipped_bytes": s.skipped_bytes, "gaps": s.gaps, "last_frame": s.last_frame,
            "max_window": max(s.max_window_client, s.max_window_server),
            "peak_pdus_per_s": s.pdu_peak.peak, "peak_submits_per_s": s.submit_peak.peak,
            "commands": commands,
            "results": {(item.first.first, item.first.second): item.second
                        for item in s.results},
            "pending": s.pending.size(),
            "heartbeats": tuple(_beats_tuple(&s.beats[k]) for k in range(2)),
            "flow": (_flow_tuple(&s.flow[0]), _flow_tuple(&s.flow[1])),
            "lifecycle": {"max_idle_ns": s.max_idle, "max_idle_frame": s.max_idle_frame,
                          "idle_gaps": s.idle_gaps, "terminate_by": s.terminate_by,
                          "terminate_frame": s.terminate_frame, "closed_by": s.closed_by},
        }

    def lost_requests(self, int64_t limit):
        """Requests unanswered or resent and what became of them (issue 16, part 4): the
        counts of those forgotten past ``max_lost`` ({(SP, LOST_* kind): n}), and the ones
        kept, oldest first, at most ``limit`` of each kind (and the count of each kind kept).
        Each is (kind, session, SP, request frame, time, Command_Id, Sequence_Id, sends,
        answer frame, answer session, first answer frame, ns to the answer, Result,
        second Result)."""
        tally = {(item.first.first, item.first.second): item.second
                 for item in self.lost_evicted}
        kept = {}
        listed = []
        shown = {}
        for entry in self.lost:
            key = (entry.sp, entry.kind)
            kept[key] = kept.get(key, 0) + 1
            if shown.get(entry.kind, 0) < limit:
                shown[entry.kind] = shown.get(entry.kind, 0) + 1
                listed.append((entry.kind, entry.sid, entry.sp, entry.frame, entry.ts,
                               entry.cmd, entry.seq, entry.sends, entry.answer_frame,
                               entry.answer_sid, entry.first_answer, entry.delay,
                               entry.result, entry.result2))
        return tally, kept, listed

    def links(self):
        """Per SP: CONNECTs, the most within a minute (sliding, exact up to 16), reconnect
        storms (STORM_CONNECTS within a minute)."""
        return {item.first: (item.second.connects, item.second.max_per_minute,
                             item.second.storms)
                for item in self.recon if item.second.connects}

    def memory_peaks(self):
        """The most bytes each kind of buffer held at any time: a record split over chunks
        (the reader), out-of-order TCP bytes of one direction, one direction's partial PDU.
        Tests prove the bounds with these (C++ memory is invisible to tracemalloc)."""
        return {"reader_pending": self.reader.pending_peak, "tcp_held": self.tracker.held_peak,
                "tcp_held_total": self.tracker.held_total_peak,
                "tcp_pieces_total": self.tracker.pieces_total_peak,
                "framer_buffer": self.framer_peak, "framer_kept": self.framer_kept_peak}

    def table_sizes(self):
        """How many entries each table of the core holds now: tracked TCP connections and
        the closed ones whose counters are remembered, connections on other ports waiting for
        their first bytes, sessions listed, requests in flight (all sessions), Msg_Ids awaiting
        a report, SUBMITs whose recipients are remembered, long SMS being assembled and those
        completed whose keys are remembered for the long-SMS timeout (to know a resent part)."""
        cdef int64_t pending = 0
        for item in self.sessions:
            pending += item.second.pending.size()
        return {"connections": self.tracker.tracked,
                "closed_connections": self.tracker.remembered,
                "pending_connections": self.pending_conns.size(),
                "sessions": self.sessions.size(), "pending": pending,
                "awaiting_reports": self.awaiting.size(), "submits": self.submits.size(),
                "reported_ids": self.reported.size(), "report_keys": self.report_keys,
                "long_sms": self.long_pending.size(), "long_sms_done": self.long_done.size(),
                "lost": self.lost.size(),
                "lost_index": self.lost_by_session.size() + self.lost_by_sp.size()}

    def cap_marks(self):
        """Per table bounded over all sessions together: (the most entries it held, or would
        have held past its cap, and its cap). Tables of several captures read by one core
        hold what each holds: a merge of hosts (cmppdissect.scale.merge) adds these up to
        see whether one core over all of them would have reached a cap none of them did.
        Keyed by the cap's finding (``cap-`` + name); ``long-sms-done`` (completed long SMS
        remembered to know a resent part) forgets its oldest without one."""
        tracker = self.tracker
        return {"awaiting-reports": (self.awaiting_peak, self.max_awaiting_reports),
                "reported-ids": (<int64_t>self.reported.size(), self.max_awaiting_reports),
                "long-sms": (self.long_peak, self.max_long_sms),
                "long-sms-done": (self.long_done_peak, self.max_long_sms),
                "sessions": (<int64_t>self.sessions.size() + self.retired_sessions,
                             self.max_sessions),
                "report-keys": (self.report_keys, self.max_report_keys),
                "lost-requests": (<int64_t>self.lost.size(), self.max_lost),
                "connections": (tracker.opened, tracker.max_connections),
                "tcp-buffered": (tracker.held_total_peak, tracker.max_buffered_total),
                "tcp-pieces": (tracker.pieces_total_peak, tracker.max_pieces_total)}

    def session_marks(self):
        """{sid: (PDUs, errors, unanswered, ended)} of every listed session: cheap to ask
        often, to see which sessions changed."""
        out = {}
        cdef Session* s
        for sid in self.session_order:
            s = self.sessions[sid]
            out[sid] = (s.pdus_client + s.pdus_server, s.errors, s.unanswered, s.ended)
        return out

    @property
    def awaiting_reports(self):
        """Msg_Ids awaiting a status report now (at most max_awaiting_reports)."""
        return self.awaiting.size()

    @property
    def submits_remembered(self):
        return self.submits.size()

    @property
    def long_sms_assembling(self):
        return self.long_pending.size()

    def long_part_rows(self):
        """The rows of the parts of the long SMS being assembled (what a store that lets
        written rows go keeps the bytes of: the message's record, when it completes, needs
        them). As many as the parts held: bounded by max_long_sms."""
        out = []
        for msg in self.long_pending:
            for part in msg.parts:
                out.append(part.second.row)
        return out

    def long_sms_remembered(self):
        """Completed messages kept to know their parts' resends (bounded: max_long_sms)."""
        return self.long_done.size()

    def reconciliation(self):
        """Status reports against their SUBMITs: the totals, and per SP (bytes of the
        Source_Addr, b"" without a login seen, OTHER_KEY past max_report_keys) the Msg_Ids
        that awaited a report, the reports matched (by Stat: count and delays as native int64
        bytes, ns), on another connection, duplicate, unmatched and near misses."""
        sps = {}
        for item in self.recon:
            r = &item.second
            if not (r.awaited or r.matched or r.unmatched or r.duplicates or r.near_misses
                    or r.other_connection or not r.stats.empty()):
                continue  # an SP known by its logins only (links())
            stats = {}
            for st in r.stats:
                stats[st.first] = (st.second.count,
                                   (<char*>st.second.delays.data())[
                                       :st.second.delays.size() * sizeof(int64_t)]
                                   if st.second.delays.size() else b"")
            sps[item.first] = {"awaited": r.awaited, "matched": r.matched,
                               "other_connection": r.other_connection,
                               "duplicates": r.duplicates, "unmatched": r.unmatched,
                               "near_misses": r.near_misses, "stats": stats}
        return {"awaiting": self.awaiting.size(), "evicted": self.awaiting_evicted,
                "unmatched": self.reports_unmatched, "duplicates": self.reports_duplicate,
                "other_connection": self.reports_other_connection,
                "near_misses": self.reports_near_miss,
                "first_ns": self.first_ts, "last_ns": self.last_ts, "sp": sps}

    def unreported(self, int64_t limit):
        """The Msg_Ids still awaiting a report: counted per (SP, hour of the SUBMIT since
        the epoch), all of them; and the oldest ``limit`` listed as (Msg_Id, SUBMIT frame,
        SUBMIT time ns, session, SP, recipient, its place, the SUBMIT's recipients, frame of
        a near-miss report or 0, the SUBMIT_RESP's time ns: when it began to await, and its
        row: PDUs of one time come in the order of their rows)."""
        cdef cmap[pair[string, int64_t], int64_t] counts
        cdef int64_t hour
        listing = []
        for entry in self.awaiting:
            hour = entry.ts // (3600 * NS)
            if entry.ts % (3600 * NS) < 0:
                hour -= 1
            counts[pair[string, int64_t](entry.spr.name, hour)] += 1
            if <int64_t>len(listing) < limit:
                listing.append((entry.msg_id, entry.frame, entry.ts, entry.sid,
                                <bytes>entry.spr.name, <bytes>entry.recipient, entry.index,
                                entry.count, entry.near_frame, entry.registered,
                                entry.registered_row))
        return ({(item.first.first, item.first.second): item.second for item in counts},
                listing)

    def matched_reports(self):
        """The status reports matched to their SUBMITs that are still remembered (the
        newest ``max_awaiting_reports``, those a later copy would be a duplicate of), oldest
        first, as (Msg_Id, recipient, SP, report frame, report time ns, report session,
        SUBMIT frame, SUBMIT time ns, SUBMIT_RESP time ns, SUBMIT session, Stat, SUBMIT_RESP
        row, report row). A merge of hosts reads them to see when another host had the same
        id's report first (the rows order PDUs of one time)."""
        out = []
        for done in self.reported:
            out.append((done.msg_id, <bytes>done.recipient, <bytes>done.spr.name,
                        done.report_frame, done.report_ts, done.report_sid, done.submit_frame,
                        done.submitted, done.registered, done.submit_sid,
                        done.stat[:done.stat_len], done.registered_row, done.report_row))
        return out

    # -- stream events (from the TCP stage) ---------------------------------------------------------

    cdef int opened(self, int64_t conn, const Endpoint* client, const Endpoint* server,
                    int64_t frame, int64_t ts, bint saw_syn) except -1:
        if self.stopped:
            return 0
        self._seen(ts)
        if self.port_set.count(server.port) or self.port_set.count(client.port):
            self._new_session(conn, client, server, frame, ts, saw_syn)
        else:
            pc = &self.pending_conns[conn]
            pc.client = client[0]
            pc.server = server[0]
            pc.frame = frame
            pc.ts = ts
            pc.saw_syn = saw_syn
        return 0

    cdef int data(self, int64_t conn, bint fc, const uint8_t* p, Py_ssize_t n, int64_t frame,
                  int64_t ts, int64_t offset) except -1:
        if self.stopped:
            return 0
        cdef Session* sess
        cdef uint32_t command
        it = self.sessions.find(conn)
        if it == self.sessions.end():
            # A stream on a port we were not told about: CMPP if it starts with a header.
            found = self.pending_conns.find(conn)
            if found == self.pending_conns.end():
                return 0
            pc = deref(found).second
            self.pending_conns.erase(found)
            if not self.heuristic or n < 8:
                return 0
            command = (<uint32_t>p[4] << 24) | (<uint32_t>p[5] << 16) | (<uint32_t>p[6] << 8) \
                | p[7]
            if not plausible_header((<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16)
                                    | (<uint32_t>p[2] << 8) | p[3], command):
                return 0
            # Without the handshake the TCP stage took the lower port for the server's; a
            # first PDU only one side sends says which side is which.
            if not pc.saw_syn and ((fc and command in LISTENER_SENDS)
                                   or (not fc and command in OPENER_SENDS)):
                sess = self._new_session(conn, &pc.server, &pc.client, pc.frame, pc.ts,
                                         pc.saw_syn)
                sess.flipped = True
            else:
                sess = self._new_session(conn, &pc.client, &pc.server, pc.frame, pc.ts,
                                         pc.saw_syn)
        else:
            sess = deref(it).second
        if sess.flipped:
            fc = not fc
        sess.end_ns = ts
        sess.last_frame = frame
        if sess.not_cmpp:
            return self._skip(sess, fc, n, frame, 0, 0, 0, 2)
        self.cur_offset = offset if self.offsets else -1
        cdef CarrierSpan span
        cdef deque[CarrierSpan]* carry
        cdef int64_t* fed
        if self.carriers:
            carry = &sess.carry_client if fc else &sess.carry_server
            fed = &sess.fed_client if fc else &sess.fed_server
            if self.tracker.spans.size():
                for item in self.tracker.spans:
                    span.start = fed[0]
                    span.end = fed[0] + item.first
                    span.record = item.second
                    carry.push_back(span)
                    fed[0] = span.end
            else:
                span.start = fed[0]
                span.end = fed[0] + n
                span.record = offset
                carry.push_back(span)
                fed[0] = span.end
        sink = <_FramerSink>self.framer_sink
        sink.sess = sess
        sink.fc = fc
        f = &sess.f_client if fc else &sess.f_server
        framer_feed(f, p, n, frame, ts, sink)
        if <int64_t>f.buf.size() > self.framer_peak:
            self.framer_peak = f.buf.size()
        if <int64_t>f.buf.capacity() > self.framer_kept_peak:
            self.framer_kept_peak = f.buf.capacity()
        if sess.not_cmpp:
            # Decided by an item of this very segment: what the framer holds is skipped too.
            sink.sess = sess
            sink.fc = fc
            framer_close(&sess.f_client if fc else &sess.f_server, frame, ts, sink)
        return 0

    cdef int gap(self, int64_t conn, bint fc, int64_t missing, int64_t frame,
                 int64_t ts) except -1:
        if self.stopped:
            return 0
        it = self.sessions.find(conn)
        if it == self.sessions.end():
            return 0
        cdef Session* sess = deref(it).second
        if sess.flipped:
            fc = not fc
        sess.gaps += 1
        self._reset_skip(sess, fc)
        self.events.append((EV_NOTE, NOTE_CAPTURE_GAP, frame, sess.id, missing, fc, None))
        sink = <_FramerSink>self.framer_sink
        sink.sess = sess
        sink.fc = fc
        framer_gap(&sess.f_client if fc else &sess.f_server, missing, frame, ts, sink)
        return 0

    cdef int capped(self, int what, int64_t frame) except -1:
        if self.stopped:
            return 0
        return self._cap(CAP_CONNECTIONS if what == CAPPED_CONNECTIONS else CAP_TCP_HELD, frame,
                         -1)

    cdef int closed(self, int64_t conn, int how, int64_t frame, int64_t ts,
                    const ConnStats* stats) except -1:
        self.pending_conns.erase(conn)  # also once stopped: nothing else would forget it
        if self.stopped and not self.finished:
            return 0
        it = self.sessions.find(conn)
        if it != self.sessions.end() and deref(it).second.ended < 0:
            self._close_session(deref(it).second, how, frame, ts, stats)
        return 0

    # -- sessions -------------------------------------------------------------------------------------

    cdef Session* _new_session(self, int64_t conn, const Endpoint* client,
                               const Endpoint* server, int64_t frame, int64_t ts,
                               bint saw_syn) except NULL:
        if <int64_t>self.sessions.size() >= self.max_sessions:
            self._retire()
        cdef Session* sess = new Session()
        sess.id = conn
        sess.client = client[0]
        sess.server = server[0]
        sess.start_ns = ts
        sess.end_ns = ts
        sess.version = V_NONE
        sess.version_source = 0
        sess.pdus_client = sess.pdus_server = sess.errors = sess.unanswered = 0
        sess.saw_syn = saw_syn
        sess.flipped = False
        sess.not_cmpp = False
        sess.has_tcp = False
        sess.skipped_bytes = sess.gaps = sess.last_frame = 0
        sess.fed_client = sess.fed_server = sess.cut_client = sess.cut_server = 0
        sess.skip_client = sess.skip_server = False
        sess.ended = -1
        sess.spr = NULL
        sess.window_client = sess.window_server = 0
        sess.max_window_client = sess.max_window_server = 0
        for i in range(2):
            sess.flow[i].width = NS
            sess.flow[i].tick = -(1 << 62)
            sess.orphan_frame[i] = 0
        sess.last_pdu_frame = sess.max_idle = sess.idle_gaps = 0
        sess.terminate_by = sess.closed_by = 0
        for i in range(32):
            sess.slot[i] = -1
        memset(sess.beats, 0, sizeof(sess.beats))
        memset(sess.in_flight_seq, 0, sizeof(sess.in_flight_seq))
        for i in range(2):
            sess.last_seq[i] = sess.last_seq_cmd[i] = 0
            sess.last_seq_frame[i] = 0
            sess.noted_backwards[i] = False
        sess.pdu_peak.second = sess.submit_peak.second = -(1 << 62)
        sess.pdu_peak.count = sess.pdu_peak.peak = 0
        sess.submit_peak.count = sess.submit_peak.peak = 0
        # Without the SYN the capture may start mid-stream: a header must be found first.
        framer_init(&sess.f_client, saw_syn)
        framer_init(&sess.f_server, saw_syn)
        if self.forced_version:
            sess.version = self.forced_version
            sess.version_source = 3
        self.sessions[conn] = sess
        self.session_order.push_back(conn)
        it = self.session_order.end()
        dec(it)
        self.session_pos[conn] = it
        self.events.append((EV_SESSION, conn, *_endpoint_tuple(client),
                            *_endpoint_tuple(server)))
        return sess

    cdef int _retire(self) except -1:
        """Drop the earliest ended session (or the oldest) from the list, keeping its totals."""
        cdef Session* victim = NULL
        cdef int64_t sid
        while not self.ended.empty() and victim == NULL:
            sid = self.ended.front()
            self.ended.pop_front()
            self.ended_pos.erase(sid)
            it = self.sessions.find(sid)
            if it != self.sessions.end():
                victim = deref(it).second
        if victim == NULL:
            victim = self.sessions[self.session_order.front()]
            self._close_session(victim, -1, 0, 0, NULL)
            victim.ended = 5
        self.sessions.erase(victim.id)
        pos = self.session_pos.find(victim.id)
        if pos != self.session_pos.end():
            self.session_order.erase(deref(pos).second)
            self.session_pos.erase(pos)
        self.retired_sessions += 1
        cdef CmdStats* into
        for k in range(<Py_ssize_t>victim.cmds.size()):
            into = &self.retired[victim.cmds[k].request_id & 0x1F]
            for v in victim.cmds[k].latency:
                into.latency.push_back(v)
        self.events.append((EV_RETIRED, victim.id))
        del victim
        self._cap(CAP_SESSIONS, 0, -1)
        return 0

    cdef int _mark_ended(self, Session* sess):
        if self.ended_pos.count(sess.id) == 0:
            self.ended.push_back(sess.id)
            it = self.ended.end()
            dec(it)
            self.ended_pos[sess.id] = it
        return 0

    cdef int _close_session(self, Session* sess, int how, int64_t frame, int64_t ts,
                            const ConnStats* stats) except -1:
        """``how`` -1: no connection event (the end of the capture, or an eviction)."""
        cdef Framer* f
        cdef Heartbeats* beats
        cdef int64_t size
        cdef bint first = sess.ended < 0  # the end of the capture closes every session again
        if stats != NULL:
            sess.has_tcp = True
            sess.tcp = stats[0]
            if sess.flipped:  # the TCP stage's sides, the other way round
                sess.tcp.bytes_from_client = stats.bytes_from_server
                sess.tcp.bytes_from_server = stats.bytes_from_client
                if stats.closed_by:
                    sess.tcp.closed_by = 3 - stats.closed_by
            sess.closed_by = sess.tcp.closed_by
            if stats.retransmissions:
                self.events.append((EV_NOTE, NOTE_RETRANSMISSION, frame, sess.id,
                                    stats.retransmissions, stats.duplicates, None))
        if how >= 0:
            sess.ended = how
            if ts and frame:
                sess.end_ns = max(sess.end_ns, ts)
        elif sess.ended < 0:
            sess.ended = CLOSE_END
        self._mark_ended(sess)
        cdef int64_t close_frame = frame if how >= 0 and frame else sess.last_frame
        for k in range(2):
            f = &sess.f_client if k == 0 else &sess.f_server
            if not f.buf.empty():
                size = f.buf.size()
                f.skipped_bytes += size
                f.buf.clear()
                f.buf.shrink_to_fit()
                if f.synced:
                    why = (4, 0, 0)
                else:
                    why = (f.why, f.why_a, f.why_b)
                self.events.append((EV_NOTE, NOTE_INCOMPLETE_PDU, close_frame, sess.id, size,
                                    k == 0, why))
        sess.carry_client.clear()
        sess.carry_server.clear()
        sess.cut_client = sess.fed_client
        sess.cut_server = sess.fed_server
        while not sess.pending.empty():
            if self.cut_short and how < 0:
                self.in_flight_at_stop += 1  # its response was not read, not missing
                if sess.pending.front().cmd == CMD_SUBMIT:
                    self.submits.erase((<uint64_t>(sess.id & 0xFFFFFFFF) << 32)
                                       | sess.pending.front().seq)
            else:
                self._unanswered(sess, &sess.pending.front())
            sess.pending_index.erase(sess.pending.front().key)
            sess.pending.pop_front()
        sess.window_client = sess.window_server = 0
        memset(sess.in_flight_seq, 0, sizeof(sess.in_flight_seq))
        for k in range(2 if first else 0):
            beats = &sess.beats[k]
            if beats.sent >= 2 and beats.answered == 0:
                self.events.append((EV_NOTE, NOTE_HEARTBEAT_NEVER, beats.last_frame, sess.id,
                                    beats.sent, k == 0, None))
        return 0

    # -- PDUs -------------------------------------------------------------------------------------------

    cdef object _carried(self, Session* sess, bint fc, int64_t n):
        """The framer cut the next ``n`` bytes of a direction (a PDU, or skipped bytes): the
        records of the frames that carried them, in stream order, each once."""
        cdef deque[CarrierSpan]* carry = &sess.carry_client if fc else &sess.carry_server
        cdef int64_t* cut = &sess.cut_client if fc else &sess.cut_server
        cdef int64_t a = cut[0]
        cdef int64_t b = a + n
        cut[0] = b
        out = []
        for span in carry[0]:
            if span.start >= b:
                break
            if span.end > a and (not out or out[len(out) - 1] != span.record):
                out.append(span.record)
        while not carry.empty() and carry.front().end <= b:
            carry.pop_front()
        return tuple(dict.fromkeys(out))

    cdef int on_skipped(self, Session* sess, bint fc, int64_t size, int64_t frame, int64_t ts,
                        int why, int64_t a, int64_t b, const Framer* f,
                        const uint8_t* data) except -1:
        if sess.not_cmpp:
            return self._skip(sess, fc, size, frame, 0, 0, 0, 2)
        if sess.saw_syn and sess.pdus_client + sess.pdus_server == 0 and not sess.gaps:
            # The stream starts with something that is no CMPP header: other traffic on a CMPP
            # port. Resynchronising would only find false headers in it. (After a capture gap
            # the start was lost, so nothing can be concluded.)
            sess.not_cmpp = True
            return self._skip(sess, fc, size, frame, why, a, b, 1)
        if sess.skip_client if fc else sess.skip_server:
            return self._skip(sess, fc, size, frame, why, a, b, 0)
        # A run starts: its finding belongs to the frame that brought its first byte. Where no
        # header followed a PDU, it names that PDU and shows the bytes (D13).
        return self._skip(sess, fc, size, f.first_frame if f.first_frame > 0 else frame, why,
                          a, b, 0, after_of(f, why),
                          data[:min(size, SKIP_SHOWN)] if why == WHY_NO_HEADER else None)

    cdef int _skip(self, Session* sess, bint fc, int64_t size, int64_t frame, int why,
                   int64_t a, int64_t b, int special, object after=None,
                   object head=None) except -1:
        """Bytes skipped. ``special`` 1: the run that shows the connection is not CMPP;
        2: more of such a connection. The Python engine keeps one finding per run."""
        sess.skipped_bytes += size
        self.skipped_bytes += size
        if fc:
            sess.skip_client = True
        else:
            sess.skip_server = True
        self.events.append((EV_SKIP, sess.id, fc, size, frame, why, a, b, special, after, head))
        return 0

    cdef int _reset_skip(self, Session* sess, bint fc) except -1:
        if fc and sess.skip_client:
            sess.skip_client = False
            self.events.append((EV_SKIP_RESET, sess.id, True))
        elif not fc and sess.skip_server:
            sess.skip_server = False
            self.events.append((EV_SKIP_RESET, sess.id, False))
        return 0

    cdef CmdStats* _mine(self, Session* sess, uint32_t request_id) except NULL:
        cdef int i = request_id & 0x1F
        cdef CmdStats* s
        cdef CmdStats fresh
        if sess.slot[i] < 0:
            fresh.request_id = request_id
            fresh.requests = fresh.responses = fresh.paired = fresh.unanswered = 0
            fresh.orphans = fresh.retransmitted = 0
            sess.slot[i] = sess.cmds.size()
            sess.cmds.push_back(fresh)
        self.totals_seen[i] = True
        return &sess.cmds[sess.slot[i]]

    cdef int on_pdu(self, Session* sess, bint fc, const uint8_t* p, Py_ssize_t n,
                    int64_t frame, int64_t ts) except -1:
        if sess.not_cmpp:  # decided by an earlier item of this same segment
            return self._skip(sess, fc, n, frame, 0, 0, 0, 2)
        if self.stopped:
            return 0
        self._reset_skip(sess, fc)
        cdef Light* lt = &self.lt
        cdef int hint = sess.version
        light_decode(p, n, hint, lt)
        cdef int64_t row = self.rows
        self.rows += 1
        cdef uint32_t cmd = lt.cmd
        cdef uint32_t request_id = cmd & ~RESPONSE_BIT
        cdef bint response = (cmd & RESPONSE_BIT) != 0
        cdef int64_t sec = floor_sec(ts)
        cdef int64_t slot_sec
        cdef list record = None   # this PDU's own findings, listed after its decode findings
        cdef int64_t pair_row = -1, latency = 0, count
        cdef bint resend = False
        cdef CmdStats* entry
        cdef CmdStats* mine
        cdef PendingReq* req
        cdef Heartbeats* beats
        cdef uint64_t key, skey
        cdef clist[PendingReq].iterator pos
        cdef pair[int64_t, int64_t]* slot
        cdef int64_t window, off, k
        cdef SubmitWait* wait
        cdef Flow* flow
        cdef FlowSlot* fs
        cdef Refusal* refusal
        cdef Lost* lost
        cdef int64_t rate
        cdef deque[int64_t]* ids
        if fc:
            sess.pdus_client += 1
        else:
            sess.pdus_server += 1
        self.pdus += 1
        self._seen(ts)
        slot_sec = self._rate_slot(sec, False)
        self.pdu_rate[slot_sec] += 1
        peak_add(&sess.pdu_peak, ts)
        # Learn the session's version: what the peers agreed on (CONNECT's Version byte)
        # outranks --cmpp-version; failing that, the first PDU whose lengths tell.
        if cmd == CMD_CONNECT and fc and n >= 18:
            sess.sp = _cut(p + 12, 6)  # Source_Addr: whose reports these are
            sess.spr = NULL
        if cmd == CMD_CONNECT and lt.version_byte >= 0 and version_of_byte(lt.version_byte):
            sess.version = version_of_byte(lt.version_byte)
            sess.version_source = 1
        if sess.version == V_NONE and lt.version != V_NONE and is_versioned(cmd):
            sess.version = lt.version
            sess.version_source = 2
        self._expire(sess, ts)
        # The lifecycle's slow path only when something happened (the first PDU, a gap longer
        # than any before or than idle_ns, a TERMINATE, a CONNECT): the common PDU moves the
        # last time on, no more.
        if (not sess.last_pdu_frame or cmd == CMD_TERMINATE or cmd == CMD_CONNECT
                or sat_sub(ts, sess.last_pdu_ts) > min(sess.max_idle, self.idle_ns)):
            record = self._lifecycle(sess, fc, row, frame, ts, record)
        else:
            if ts > sess.last_pdu_ts:
                sess.last_pdu_ts = ts
            sess.last_pdu_frame = frame
        entry = &self.totals[request_id & 0x1F]
        mine = self._mine(sess, request_id)
        if response:
            entry.responses += 1
            mine.responses += 1
            key = pending_key(not fc, request_id, lt.seq)
            found = sess.pending_index.find(key)
            if found == sess.pending_index.end():
                entry.orphans += 1
                mine.orphans += 1
                record = self._orphan(sess, fc, request_id, row, frame, ts, record)
            else:
                pos = deref(found).second
                req = &deref(pos)
                _out_of_flight(sess, req)
                latency = sat_sub(ts, req.ts)
                pair_row = req.row
                if request_id == CMD_ACTIVE_TEST:
                    beats = &sess.beats[0 if req.from_client else 1]
                    beats.answered += 1
                    beats.in_row = 0
                entry.paired += 1
                mine.paired += 1
                mine.latency.push_back(latency)
                self.samples_held += 1
                flow = &sess.flow[0 if req.from_client else 1]
                fs = flow_slot(flow, ts)
                fs.answered += 1
                fs.latency_sum = sat_add(fs.latency_sum, latency)
                if lt.result > 0 and cmd != CMD_CONNECT_RESP:
                    if lt.result == 8:
                        fs.refused += 1
                    else:
                        fs.errors += 1
                    if not flow.refusing:  # the gateway starts refusing: what did it meet?
                        flow.onsets += 1
                        if flow.first_onsets.size() < 32:
                            flow.first_onsets.push_back(self._fresh_refusal)
                            refusal = &flow.first_onsets.back()
                            refusal.frame = frame
                            refusal.request_frame = req.frame
                            refusal.ts = ts
                            refusal.cmd = cmd
                            refusal.result = lt.result
                            refusal.in_flight = req.in_flight
                            refusal.rate = req.rate
                    flow.refusing = True
                elif lt.result == 0:
                    flow.refusing = False
                # A request resent, now answered: a second answer would be a duplicate.
                lost = self._lost_entry(req.lost) if req.lost >= 0 else NULL
                if lost == NULL and req.sends > 1:
                    lost = self._lost_entry(self._lose(sess, req, LOST_RESENT_ANSWERED))
                if lost != NULL:
                    lost_answered(lost, LOST_RESENT_ANSWERED, frame, sess.id, ts, lt.result)
                if self.keep_rows:
                    # Every send of the request is answered by this response (the resend
                    # policy: a request resent with the same Sequence_Id while in flight is one
                    # exchange; its statistics count from the first send).
                    self.link_bytes.push_back(req.row)
                    self.link_bytes.push_back(row)
                    self.link_bytes.push_back(latency)
                    for again in req.resends:
                        self.link_bytes.push_back(again.first)
                        self.link_bytes.push_back(row)
                        self.link_bytes.push_back(sat_sub(ts, again.second))
                if cmd == CMD_SUBMIT_RESP:
                    slot = &self.submit_latency[slot_sec]
                    # Saturated: with a timeout of centuries, latencies near 2**63 ns pair.
                    slot.first = sat_add(slot.first, latency)
                    slot.second += 1
                    # A SUBMIT that asked for reports: its Msg_Ids now await them.
                    skey = (<uint64_t>(sess.id & 0xFFFFFFFF) << 32) | lt.seq
                    sfound = self.submits.find(skey)
                    if sfound != self.submits.end():
                        if lt.result == 0:
                            self._await_reports(sess, lt.msg_id if lt.has_msg_id else 0,
                                                &deref(sfound).second, req.frame,
                                                sat_sub(ts, latency), ts, row)
                        self.submits.erase(sfound)
                sess.pending_index.erase(found)
                sess.pending.erase(pos)
            if lt.result >= 0:
                self.results[pair[uint32_t, int64_t](cmd, lt.result)] += 1
                sess.results[pair[uint32_t, int64_t](cmd, lt.result)] += 1
                if lt.result != 0:
                    sess.errors += 1
        else:
            entry.requests += 1
            mine.requests += 1
            key = pending_key(fc, request_id, lt.seq)
            found = sess.pending_index.find(key)
            if found != sess.pending_index.end():
                req = &deref(deref(found).second)
                req.sends += 1
                resend = True
                if self.keep_rows:
                    req.resends.push_back(pair[int64_t, int64_t](row, ts))
                entry.retransmitted += 1
                mine.retransmitted += 1
                record = [(EV_RECORD, row, REC_SEQUENCE_REUSED, frame, sess.id, req.frame, cmd,
                           lt.seq)]
            else:
                if <int64_t>sess.pending.size() >= self.max_pending:
                    req = &sess.pending.front()
                    _out_of_flight(sess, req)
                    self._cap(CAP_PENDING, frame, sess.id)
                    self._unanswered(sess, req)
                    sess.pending_index.erase(req.key)
                    sess.pending.pop_front()
                sess.pending.push_back(self._fresh_req)
                req = &sess.pending.back()
                req.key = key
                req.from_client = fc
                req.frame = frame
                req.ts = ts
                req.row = row
                req.cmd = cmd
                req.seq = lt.seq
                req.sends = 1
                req.lost = -1
                if not self.lost_by_session.empty():
                    # Sent again after its timeout: the same request, not a new one.
                    lfound = self.lost_by_session.find(mix_key(key, <uint64_t>sess.id))
                    if lfound != self.lost_by_session.end():
                        ids = &deref(lfound).second
                        for k in range(<int64_t>ids.size() - 1,
                                       max(-1, <int64_t>ids.size() - 1 - _LOST_SCAN), -1):
                            lost = self._lost_entry(ids[0][k])
                            if (lost != NULL and lost.sid == sess.id and lost.key == key
                                    and lost.kind == LOST_NEVER
                                    and sat_sub(ts, lost.ts) <= 3 * self.timeout_ns):
                                lost.kind = LOST_RESENT
                                lost.sends += 1
                                req.lost = ids[0][k]
                                break
                pos = sess.pending.end()
                dec(pos)
                sess.pending_index[key] = pos
                sess.in_flight_seq[(0 if fc else 32) + (lt.seq & 31)] += 1
                if fc:
                    sess.window_client += 1
                    if sess.window_client > sess.max_window_client:
                        sess.max_window_client = sess.window_client
                else:
                    sess.window_server += 1
                    if sess.window_server > sess.max_window_server:
                        sess.max_window_server = sess.window_server
            if not resend:
                record = self._sequence(sess, fc, row, frame, ts, record)
            window = sess.window_client if fc else sess.window_server
            flow = &sess.flow[0 if fc else 1]
            rate = flow_rate(flow, ts) + 1
            flow.bins[bin_of(flow.tick)] += 1
            flow.in_bins += 1
            if rate > flow.max_rate:
                flow.max_rate = rate
            fs = flow_slot(flow, ts)
            fs.sends += 1
            if not resend:
                req.in_flight = window
                req.rate = rate
                if window > fs.max_in_flight:
                    fs.max_in_flight = window
                if window > SPEC_WINDOW:
                    flow.over_window += 1
            if window == SPEC_WINDOW + 1:  # once per excursion past W
                if record is None:
                    record = []
                record.append((EV_RECORD, row, REC_WINDOW, frame, sess.id, None, None, None))
            if cmd == CMD_SUBMIT:
                self.submit_rate[self._rate_slot(sec, True)] += 1
                peak_add(&sess.submit_peak, ts)
                if lt.registered_delivery > 0:
                    # Only a SUBMIT that asked for reports has Msg_Ids worth remembering, and
                    # its recipients (complete array elements only: they are in the PDU).
                    wait = &self.submits[(<uint64_t>(sess.id & 0xFFFFFFFF) << 32) | lt.seq]
                    wait.count = max(1, lt.recipients)
                    wait.dests.clear()
                    off = lt.offsets[N_DEST_TERMINAL_ID]
                    if off >= 0:
                        # The first RECIPIENTS_KEPT: a request in flight must stay small (a
                        # group send of 255 would cost 8 KB); the rest are listed by place.
                        for k in range(min(lt.recipients, _RECIPIENTS_KEPT)):
                            wait.dests.append(
                                _cut(p + off + k * lt.sizes[N_DEST_TERMINAL_ID],
                                     lt.sizes[N_DEST_TERMINAL_ID]))
                            wait.dests.push_back(0)
            if lt.is_report:
                record = self._report(sess, p, n, row, frame, ts, record)
            elif lt.tp_udhi >= 0 and lt.tp_udhi & 0x41 and lt.has_content and lt.long_part:
                record = self._long_part(sess, p, row, frame, ts, record)
        if lt.flags & DECODE_FLAGS:
            self.events.append((EV_DECODE, row, frame, ts, sess.id, fc, p[:n], hint))
        if record is not None:
            self.events.extend(record)
        if self.keep_rows:
            self._append_row(sess, fc, p, n, frame, ts, pair_row, latency, hint, resend)
        if self.pdu_limit and self.rows >= self.pdu_limit:
            self.stopped = True
        return 0

    cdef list _sequence(self, Session* sess, bint fc, int64_t row, int64_t frame, int64_t ts,
                        list record):
        """A request (not a resend): its side's heartbeats, and what its Sequence_Id says.
        Pairing goes by command, direction and value, so neither a Sequence_Id lower than the
        one before (D26) nor the same value in flight both ways (D25) can mispair; each is
        noted on the PDU: going backwards once per side (a NOTE), the same value both ways
        each time (a CHAT)."""
        cdef Light* lt = &self.lt
        cdef int d = 0 if fc else 1
        cdef Heartbeats* beats
        cdef uint32_t seq = lt.seq
        cdef uint32_t request_id = lt.cmd
        if request_id == CMD_ACTIVE_TEST:
            beats = &sess.beats[d]
            if beats.sent:
                if sat_sub(ts, beats.last_ts) > beats.max_interval:
                    beats.max_interval = sat_sub(ts, beats.last_ts)
            else:
                beats.first_ts = ts
            beats.sent += 1
            beats.last_ts = ts
            beats.last_frame = frame
        if (sess.last_seq_frame[d] and not sess.noted_backwards[d]
                and seq != sess.last_seq[d] and <uint32_t>(sess.last_seq[d] - seq) < 0x80000000u):
            sess.noted_backwards[d] = True
            if record is None:
                record = []
            record.append((EV_RECORD, row, REC_SEQUENCE_BACKWARDS, frame, sess.id,
                           sess.last_seq_frame[d], sess.last_seq_cmd[d],
                           (sess.last_seq[d], request_id, seq)))
        sess.last_seq[d] = seq
        sess.last_seq_cmd[d] = request_id
        sess.last_seq_frame[d] = frame
        if sess.in_flight_seq[(32 if fc else 0) + (seq & 31)]:
            for k in range(<Py_ssize_t>sess.cmds.size()):
                found = sess.pending_index.find(
                    pending_key(not fc, sess.cmds[k].request_id, seq))
                if found != sess.pending_index.end():
                    if record is None:
                        record = []
                    record.append((EV_RECORD, row, REC_SEQUENCE_BOTH_WAYS, frame, sess.id,
                                   deref(deref(found).second).frame, sess.cmds[k].request_id,
                                   (seq, request_id)))
                    break
        return record

    cdef int _append_row(self, Session* sess, bint fc, const uint8_t* p, Py_ssize_t n,
                         int64_t frame, int64_t ts, int64_t pair_row, int64_t latency,
                         int hint, bint resend) except -1:
        cdef PduRow r
        cdef Light* lt = &self.lt
        r.ts = ts
        r.frame = frame
        r.offset = self.cur_offset
        r.pair = pair_row
        r.latency = latency if pair_row >= 0 else 0
        r.msg_id = lt.msg_id
        r.result = lt.result
        r.session = <uint32_t>sess.id
        r.command_id = lt.cmd
        r.sequence_id = lt.seq
        r.length = n
        r.from_client = fc
        r.version = lt.version
        r.hint = hint
        r.flags = lt.flags & 0xFF
        r.resend = resend
        cdef size_t at = self.row_bytes.size()
        self.row_bytes.resize(at + sizeof(PduRow))
        memcpy(&self.row_bytes[at], &r, sizeof(PduRow))
        self.raw.append(<const char*>p, n)
        return 0

    # -- pairing ------------------------------------------------------------------------------------

    cdef int _expire(self, Session* sess, int64_t now) except -1:
        """Requests older than the timeout, in the order they were sent."""
        cdef PendingReq* req
        while not sess.pending.empty():
            req = &sess.pending.front()
            if sat_sub(now, req.ts) < self.timeout_ns:
                break
            _out_of_flight(sess, req)
            self._unanswered(sess, req)
            sess.pending_index.erase(req.key)
            sess.pending.pop_front()
        return 0

    cdef int _unanswered(self, Session* sess, PendingReq* req) except -1:
        sess.unanswered += 1
        cdef Heartbeats* beats
        if req.cmd == CMD_ACTIVE_TEST:
            beats = &sess.beats[0 if req.from_client else 1]
            beats.unanswered += 1
            beats.in_row += 1
            if beats.in_row > beats.max_in_row:
                beats.max_in_row = beats.in_row
            if beats.in_row == HEARTBEATS_MISSED:
                self.events.append((EV_NOTE, NOTE_HEARTBEAT_MISSED, req.frame, sess.id,
                                    beats.in_row, req.from_client, None))
        if req.cmd == CMD_SUBMIT:
            self.submits.erase((<uint64_t>(sess.id & 0xFFFFFFFF) << 32) | req.seq)
        self.totals[req.cmd & 0x1F].unanswered += 1
        self.totals_seen[req.cmd & 0x1F] = True
        self._mine(sess, req.cmd).unanswered += 1
        rows = req.row
        if self.keep_rows and req.resends.size():
            rows = (req.row, *[r.first for r in req.resends])
        self.events.append((EV_NOTE, NOTE_UNANSWERED, req.frame, sess.id, req.cmd, req.seq,
                            rows))
        cdef Lost* lost = self._lost_entry(req.lost) if req.lost >= 0 else NULL
        cdef int d = 0 if req.from_client else 1
        if lost != NULL:  # a resend after a timeout, unanswered again: one request still
            lost.kind = LOST_NEVER
            lost.sends += req.sends - 1
            return 0
        lost = self._lost_entry(self._lose(sess, req, LOST_NEVER))
        if (sess.orphan_frame[d] and sess.orphan_cmd[d] == (req.cmd | RESPONSE_BIT)
                and sess.orphan_ts[d] >= req.ts
                and sat_sub(sess.orphan_ts[d], req.ts) <= self.timeout_ns):
            lost_answered(lost, LOST_WRONG_SEQUENCE, sess.orphan_frame[d], sess.id,
                          sess.orphan_ts[d], -1)
        return 0

    cdef Lost* _lost_entry(self, int64_t id) noexcept:
        if id < self.lost_base or id >= self.lost_base + <int64_t>self.lost.size():
            return NULL
        return &self.lost[id - self.lost_base]

    cdef int64_t _lose(self, Session* sess, PendingReq* req, int kind) except -1:
        """Remember a request unanswered or resent, the oldest forgotten past ``max_lost``
        (what became of it counted as it was then)."""
        cdef Lost* old
        if <int64_t>self.lost.size() >= self.max_lost:
            # The oldest of all is the oldest of its two index entries: first in each.
            old = &self.lost.front()
            self._cap(CAP_LOST, req.frame, sess.id)
            self.lost_evicted[pair[string, int](old.sp, old.kind)] += 1
            _unindex(&self.lost_by_session, mix_key(old.key, <uint64_t>old.sid), self.lost_base)
            _unindex(&self.lost_by_sp, mix_key(old.key, sp_hash(old.sp)), self.lost_base)
            self.lost.pop_front()
            self.lost_base += 1
        self.lost.push_back(self._fresh_lost)
        cdef Lost* entry = &self.lost.back()
        entry.key = req.key
        entry.sid = sess.id
        entry.sp = sess.sp
        entry.frame = req.frame
        entry.ts = req.ts
        entry.cmd = req.cmd
        entry.seq = req.seq
        entry.sends = req.sends
        entry.kind = kind
        entry.answer_frame = entry.answer_sid = entry.first_answer = entry.delay = 0
        entry.result = entry.result2 = -1
        cdef int64_t id = self.lost_base + <int64_t>self.lost.size() - 1
        self.lost_by_session[mix_key(req.key, <uint64_t>sess.id)].push_back(id)
        self.lost_by_sp[mix_key(req.key, sp_hash(sess.sp))].push_back(id)
        return id

    cdef list _orphan(self, Session* sess, bint fc, uint32_t request_id, int64_t row,
                      int64_t frame, int64_t ts, list record):
        """A response that answers no request in flight: the answer, late or on another
        connection, to a request called unanswered, or a second answer to a resent one;
        else an orphan, remembered (an unanswered request of its command close before it
        was probably answered with a wrong Sequence_Id)."""
        cdef Light* lt = &self.lt
        cdef uint64_t key = pending_key(not fc, request_id, lt.seq)
        cdef int d = 1 if fc else 0  # the side of the request it answers
        cdef Lost* lost
        cdef deque[int64_t]* ids
        rec = None
        for index in range(2 if not self.lost_by_session.empty() else 0):
            # This connection's requests first, then its SP's other connections' (the newest
            # LOST_SCAN of each: a peer that uses one Sequence_Id for everything has many).
            if index == 0:
                found = self.lost_by_session.find(mix_key(key, <uint64_t>sess.id))
                if found == self.lost_by_session.end():
                    continue
            else:
                if sess.sp.empty():
                    break
                found = self.lost_by_sp.find(mix_key(key, sp_hash(sess.sp)))
                if found == self.lost_by_sp.end():
                    continue
            ids = &deref(found).second
            for k in range(<int64_t>ids.size() - 1,
                           max(-1, <int64_t>ids.size() - 1 - _LOST_SCAN), -1):
                lost = self._lost_entry(ids[0][k])
                if lost == NULL or lost.key != key:
                    continue
                if lost.sid == sess.id:
                    if lost.kind == LOST_NEVER or lost.kind == LOST_WRONG_SEQUENCE:
                        lost_answered(lost, LOST_LATE, frame, sess.id, ts, lt.result)
                        rec = (EV_RECORD, row, REC_LATE_RESPONSE, frame, sess.id,
                               lost.frame, lost.delay, lost.sends)
                        break
                    if lost.kind == LOST_RESENT_ANSWERED:
                        lost.kind = (LOST_DUPLICATE if lost.result == 0 and lt.result == 0
                                     else LOST_ANSWERED_TWICE)
                        lost.first_answer = lost.answer_frame
                        lost.answer_frame = frame
                        lost.result2 = lt.result
                        rec = (EV_RECORD, row, REC_ANSWERED_TWICE, frame, sess.id,
                               lost.frame, lost.first_answer, (lost.result, lt.result))
                        break
                elif (not lost.sp.empty() and lost.sp == sess.sp
                      and (lost.kind == LOST_NEVER or lost.kind == LOST_WRONG_SEQUENCE)):
                    lost_answered(lost, LOST_OTHER_CONNECTION, frame, sess.id, ts, lt.result)
                    rec = (EV_RECORD, row, REC_ANSWER_OTHER_CONNECTION, frame, sess.id,
                           lost.frame, lost.sid, lost.delay)
                    break
            if rec is not None:
                break
        if rec is None:
            rec = (EV_RECORD, row, REC_ORPHAN, frame, sess.id, lt.cmd, lt.seq, None)
            sess.orphan_frame[d] = frame
            sess.orphan_ts[d] = ts
            sess.orphan_cmd[d] = lt.cmd
        if record is None:
            record = []
        record.append(rec)
        return record

    cdef list _lifecycle(self, Session* sess, bint fc, int64_t row, int64_t frame,
                         int64_t ts, list record):
        """Idle gaps (no PDU for longer than a heartbeat and its answer), the first
        TERMINATE, and an SP's logins per minute (a reconnect storm)."""
        cdef Light* lt = &self.lt
        cdef int64_t gap, n = 0
        cdef SpRecon* spr
        if sess.last_pdu_frame:
            gap = sat_sub(ts, sess.last_pdu_ts)
            if gap > sess.max_idle:
                sess.max_idle = gap
                sess.max_idle_frame = frame
            if gap > self.idle_ns:
                sess.idle_gaps += 1
                if record is None:
                    record = []
                record.append((EV_RECORD, row, REC_IDLE_GAP, frame, sess.id, gap,
                               sess.last_pdu_frame, None))
        if not sess.last_pdu_frame or ts > sess.last_pdu_ts:
            sess.last_pdu_ts = ts
        sess.last_pdu_frame = frame
        if lt.cmd == CMD_TERMINATE and sess.terminate_by == 0:
            sess.terminate_by = 1 if fc else 2
            sess.terminate_frame = frame
        if lt.cmd == CMD_CONNECT and fc and not sess.sp.empty():
            if sess.spr == NULL:
                sess.spr = self._sp(sess.sp, frame, sess.id)
            spr = sess.spr
            spr.connect_ring[spr.connects % 16] = ts
            spr.connects += 1
            for k in range(min(spr.connects, <int64_t>16)):
                if spr.connect_ring[k] <= ts and sat_sub(ts, spr.connect_ring[k]) < MINUTE:
                    n += 1
            spr.in_minute = n
            if n > spr.max_per_minute:
                spr.max_per_minute = n
            if n >= _STORM:
                if not spr.storming:
                    spr.storming = True
                    spr.storms += 1
                    if record is None:
                        record = []
                    record.append((EV_RECORD, row, REC_RECONNECT_STORM, frame, sess.id, n,
                                   spr.storms, None))
            else:
                spr.storming = False
        return record

    cdef int _cap(self, int kind, int64_t frame, int64_t sid) except -1:
        """A state cap was reached: one finding the first time, so memory stays bounded."""
        if self.caps_hit & (1 << kind):
            return 0
        self.caps_hit |= 1 << kind
        self.events.append((EV_NOTE, NOTE_CAP, frame, sid if sid >= 0 else None, kind, None,
                            None))
        return 0

    # -- status reports ---------------------------------------------------------------------------

    cdef int _await_reports(self, Session* sess, uint64_t first, SubmitWait* wait,
                            int64_t request_frame, int64_t submitted,
                            int64_t registered, int64_t registered_row) except -1:
        """The Msg_Ids of a SUBMIT that asked for reports (one per recipient, consecutive),
        the oldest forgotten past the cap. Each remembers its session, SP and recipient, so
        that what never got a report can be listed per SP and recipient at the end."""
        cdef uint64_t msg_id
        cdef int64_t i
        cdef AwaitReport* entry
        cdef clist[AwaitReport].iterator last
        if sess.spr == NULL:
            sess.spr = self._sp(sess.sp, request_frame, sess.id)
        cdef SpRecon* spr = sess.spr
        cdef size_t at = 0, stop  # where the next recipient starts in wait.dests
        for i in range(wait.count):
            msg_id = first + <uint64_t>i  # wraps past 2**64 - 1 as the wire field would
            found = self.awaiting_index.find(msg_id)
            if found == self.awaiting_index.end() and (
                    <int64_t>self.awaiting.size() >= self.max_awaiting_reports):
                self._forget_awaiting(&self.awaiting.front())
                self.awaiting.pop_front()
                self.awaiting_evicted += 1
                self._cap(CAP_AWAITING, request_frame, sess.id)
            if found != self.awaiting_index.end():
                self.awaited_again += 1
                # Seen again: the old entry keeps its place in line and takes the new values,
                # and is counted under the SP of the SUBMIT that got it last (so that per SP,
                # what awaited is what matched, was never reported or was forgotten).
                entry = &deref(deref(found).second)
                if entry.spr != spr:
                    entry.spr.awaited -= 1
                    spr.awaited += 1
            else:
                self.awaiting.push_back(self._fresh_await)
                self.awaiting_peak = max(self.awaiting_peak, <int64_t>self.awaiting.size())
                last = self.awaiting.end()
                dec(last)
                self.awaiting_index[msg_id] = last
                entry = &deref(last)
                entry.msg_id = msg_id
                spr.awaited += 1
            entry.frame = request_frame
            entry.ts = submitted
            entry.registered = registered
            entry.registered_row = registered_row
            entry.sid = sess.id
            entry.spr = spr
            if at < wait.dests.size():
                stop = wait.dests.find(<char>0, at)
                entry.recipient.assign(wait.dests, at, stop - at)
                at = stop + 1
            else:
                entry.recipient.clear()
            entry.index = i
            entry.count = wait.count
            entry.near_frame = 0
            self.awaiting_masked[msg_id & ~GATEWAY_BITS] = msg_id
        return 0

    cdef int _forget_awaiting(self, AwaitReport* entry) except -1:
        """Drop an entry's index entries (the caller erases it from the list)."""
        self.awaiting_index.erase(entry.msg_id)
        masked = self.awaiting_masked.find(entry.msg_id & ~GATEWAY_BITS)
        if masked != self.awaiting_masked.end() and deref(masked).second == entry.msg_id:
            self.awaiting_masked.erase(masked)
        return 0

    cdef SpRecon* _sp(self, const string& sp, int64_t frame, int64_t sid) except NULL:
        """An SP's report counters; past max_report_keys, new SPs share OTHER_KEY."""
        found = self.recon.find(sp)
        if found != self.recon.end():
            return &deref(found).second
        cdef SpRecon* spr
        if self.report_keys >= self.max_report_keys:
            self._cap(CAP_REPORT_KEYS, frame, sid)
            spr = &self.recon[OTHER]
            spr.name = OTHER
            return spr
        self.report_keys += 1
        spr = &self.recon[sp]
        spr.name = sp
        return spr

    cdef StatRecon* _stat(self, SpRecon* spr, const string& stat, int64_t frame,
                          int64_t sid) except NULL:
        """One SP's counters of one Stat (the same bound as the SPs, counted together)."""
        found = spr.stats.find(stat)
        if found != spr.stats.end():
            return &deref(found).second
        if self.report_keys >= self.max_report_keys:
            self._cap(CAP_REPORT_KEYS, frame, sid)
            return &spr.stats[OTHER]
        self.report_keys += 1
        return &spr.stats[stat]

    cdef list _report(self, Session* sess, const uint8_t* p, Py_ssize_t n, int64_t row,
                      int64_t frame, int64_t ts, list record):
        """Count a status report's Stat and match it to the SUBMIT it is for; otherwise say
        whether it repeats a report already matched, or matches no SUBMIT seen (and whether
        a SUBMIT comes close: a near miss)."""
        cdef Light* lt = &self.lt
        cdef uint64_t msg_id = lt.report_msg_id
        stat = (<char*>lt.stat)[:lt.stat_len]
        self.stat_counts[stat] += 1
        cdef string cstat = stat
        # The report's Dest_terminal_Id (at 35 in both report layouts), where it is there.
        cdef string recipient
        cdef int64_t size = 21 if lt.content_len == 60 else (32 if lt.content_len == 71 else 0)
        if size and lt.content_off >= 0 and lt.content_off + 35 + size <= n:
            recipient = _cut(p + lt.content_off + 35, size)
        cdef SpRecon* spr
        cdef StatRecon* st
        cdef AwaitReport* entry
        cdef ReportedId* done
        cdef int rule = 0
        cdef Py_ssize_t index = -1
        found = self.awaiting_index.find(msg_id)
        if found != self.awaiting_index.end():
            pos = deref(found).second
            entry = &deref(pos)
            delay = sat_sub(ts, entry.ts)
            self.submit_to_report.push_back(delay)
            self.samples_held += 2  # and the Stat's
            self.report_for += 1  # a chat: counted, and shown on the record only
            if self.keep_rows:
                self.report_rows.push_back(row)
                self.report_rows.push_back(entry.frame)
            spr = entry.spr
            spr.matched += 1
            st = self._stat(spr, cstat, frame, sess.id)
            st.count += 1
            st.delays.push_back(delay)
            if entry.sid != sess.id:
                spr.other_connection += 1
                self.reports_other_connection += 1
                if record is None:
                    record = []
                record.append((EV_RECORD, row, REC_REPORT_OTHER_CONNECTION, frame, sess.id,
                               entry.frame, entry.sid, msg_id))
            # Remembered a while, to know a duplicate of this report.
            slot = self.reported_index.insert(
                pair[uint64_t, clist[ReportedId].iterator](msg_id, self.reported.end()))
            if not slot.second:  # reported before (its id was awaited again): the newer wins
                self.reported.erase(deref(slot.first).second)
            elif <int64_t>self.reported.size() >= self.max_awaiting_reports:
                self.reported_index.erase(self.reported.front().msg_id)
                self.reported.pop_front()
                self._cap(CAP_REPORTED, frame, sess.id)
            self.reported.push_back(self._fresh_reported)
            last = self.reported.end()
            dec(last)
            done = &deref(last)
            done.msg_id = msg_id
            done.recipient = recipient
            done.spr = entry.spr
            done.report_frame = frame
            done.submit_frame = entry.frame
            done.report_ts = ts
            done.report_sid = sess.id
            done.submitted = entry.ts
            done.registered = entry.registered
            done.registered_row = entry.registered_row
            done.report_row = row
            done.submit_sid = entry.sid
            done.stat_len = min(lt.stat_len, 7)
            memcpy(done.stat, lt.stat, done.stat_len)
            deref(slot.first).second = last
            self._forget_awaiting(entry)
            self.awaiting.erase(pos)
            return record
        if record is None:
            record = []
        dup = self.reported_index.find(msg_id)
        if dup != self.reported_index.end() and deref(deref(dup).second).recipient == recipient:
            done = &deref(deref(dup).second)
            self.reports_duplicate += 1
            done.spr.duplicates += 1
            record.append((EV_RECORD, row, REC_REPORT_DUPLICATE, frame, sess.id, msg_id,
                           done.report_frame, (done.submit_frame, stat)))
            return record
        self.reports_unmatched += 1
        if sess.spr == NULL:
            sess.spr = self._sp(sess.sp, frame, sess.id)
        spr = sess.spr
        spr.unmatched += 1
        self._near_candidates(p, n, msg_id)
        entry = self._near_miss(&rule, &index)
        # The candidates go with the record: a merge of hosts (scale/merge.py) tries them
        # against the other hosts' SUBMITs, as this core would have over all their traffic.
        candidates = tuple([(self.near_keys[i], self.near_rules[i])
                            for i in range(<Py_ssize_t>self.near_keys.size())])
        record.append((EV_RECORD, row, REC_REPORT_UNMATCHED, frame, sess.id, msg_id,
                       sat_sub(ts, self.first_ts),
                       (stat, <bytes>recipient, candidates, index)))
        if entry != NULL:
            spr.near_misses += 1
            self.reports_near_miss += 1
            if not entry.near_frame:
                entry.near_frame = frame
            record.append((EV_RECORD, row, REC_REPORT_NEAR_MISS, frame, sess.id, entry.frame,
                           rule, (msg_id, entry.msg_id, entry.sid)))
        return record

    cdef int _near_candidates(self, const uint8_t* p, Py_ssize_t n,
                              uint64_t msg_id) except -1:
        """The keys an unmatched report may come close to a SUBMIT's Msg_Id by, in the order
        the rules try them (``near_keys``/``near_rules``): the id byte-reversed, the id without
        its gateway bits (NEAR_OTHER_GATEWAY: a key of ``awaiting_masked``), then each run of
        digits anywhere in the report PDU in turn: 6 to 20 decimal digits as a number (shorter
        runs are dates and counters), exactly 16 hex digits as one."""
        self.near_keys.clear()
        self.near_rules.clear()
        self.near_keys.push_back(bswap64(msg_id))
        self.near_rules.push_back(NEAR_BYTE_REVERSED)
        self.near_keys.push_back(msg_id & ~GATEWAY_BITS)
        self.near_rules.push_back(NEAR_OTHER_GATEWAY)
        cdef Py_ssize_t i = 0, j
        cdef uint64_t value, hexed
        cdef bint decimal, fits
        cdef uint8_t c
        while i < n:
            c = p[i]
            if not (48 <= c <= 57 or 65 <= c <= 70 or 97 <= c <= 102):
                i += 1
                continue
            j = i
            decimal = True
            fits = True
            value = 0
            hexed = 0
            while j < n:
                c = p[j]
                if 48 <= c <= 57:
                    if value > (MSG_ID_MAX - (c - 48)) // 10:
                        fits = False
                    else:
                        value = value * 10 + (c - 48)
                    hexed = (hexed << 4) | (c - 48)
                elif 65 <= c <= 70 or 97 <= c <= 102:
                    decimal = False
                    hexed = (hexed << 4) | ((c | 0x20) - 87)
                else:
                    break
                j += 1
            if decimal and fits and 6 <= j - i <= 20:
                self.near_keys.push_back(value)
                self.near_rules.push_back(NEAR_DECIMAL_TEXT)
            if j - i == 16:
                self.near_keys.push_back(hexed)
                self.near_rules.push_back(NEAR_HEX_TEXT)
            i = j
        return 0

    cdef AwaitReport* _near_miss(self, int* rule, Py_ssize_t* index):
        """The Msg_Id awaiting its report that the first of the candidates
        (:meth:`_near_candidates`) finds, else NULL (``rule``: its NEAR_*, ``index``: its
        place among the candidates)."""
        cdef Py_ssize_t i
        cdef uint64_t key
        for i in range(<Py_ssize_t>self.near_keys.size()):
            key = self.near_keys[i]
            if self.near_rules[i] == NEAR_OTHER_GATEWAY:
                masked = self.awaiting_masked.find(key)
                if masked == self.awaiting_masked.end():
                    continue
                key = deref(masked).second
            found = self.awaiting_index.find(key)
            if found != self.awaiting_index.end():
                rule[0] = self.near_rules[i]
                index[0] = i
                return &deref(deref(found).second)
        return NULL

    cdef int _seen(self, int64_t ts) noexcept:
        """The capture's first and last time (of connections and PDUs)."""
        if not self.have_ts:
            self.have_ts = True
            self.first_ts = self.last_ts = ts
        elif ts > self.last_ts:
            self.last_ts = ts
        return 0

    # -- long SMS -----------------------------------------------------------------------------------

    cdef list _long_part(self, Session* sess, const uint8_t* p, int64_t row, int64_t frame,
                         int64_t ts, list record):
        """One part of a concatenated message. Parts may travel on different connections of
        one SP, so a message is keyed by who sent it to whom (not by session), its UDH
        reference and its part count."""
        cdef Light* lt = &self.lt
        cdef string key
        cdef uint32_t cmd = lt.cmd
        cdef bint submit = cmd == CMD_SUBMIT
        cdef bytes sender, msg_src
        cdef list recipients = []
        cdef int64_t off, k
        if submit or cmd != CMD_DELIVER:
            sender = _field(p, lt.offsets[N_SRC_ID], lt.sizes[N_SRC_ID])
            msg_src = _field(p, lt.offsets[N_MSG_SRC], lt.sizes[N_MSG_SRC])
            off = lt.offsets[N_DEST_TERMINAL_ID]
            for k in range(lt.recipients):
                recipients.append(_field(p, off + k * lt.sizes[N_DEST_TERMINAL_ID],
                                         lt.sizes[N_DEST_TERMINAL_ID]))
        else:
            sender = _field(p, lt.offsets[N_SRC_TERMINAL_ID], lt.sizes[N_SRC_TERMINAL_ID])
            msg_src = b""
            recipients.append(_field(p, lt.offsets[N_DEST_ID], lt.sizes[N_DEST_ID]))
        key.append(<const char*>&cmd, 4)
        _put(key, sender)
        _put(key, msg_src)
        for r in recipients:
            _put(key, r)
        key.push_back(<char>(lt.concat_ref >> 8))
        key.push_back(<char>(lt.concat_ref & 0xFF))
        key.push_back(<char>lt.concat_total)
        self.long_parts += 1
        cdef LongMsg* msg
        cdef clist[LongMsg].iterator pos
        cdef DoneMsg* done
        self._forget_done(ts)
        found = self.long_index.find(key)
        if found == self.long_index.end():
            # A part of a message that already completed, sent again with the Sequence_Id it
            # had: a resend (the sender saw no response in time), not a new message.
            done_at = self.long_done_index.find(key)
            if done_at != self.long_done_index.end():
                done = &deref(deref(done_at).second)
                sent = done.parts.find(lt.concat_part)
                if sent != done.parts.end() and deref(sent).second.first == lt.seq:
                    self.long_resent += 1
                    if record is None:
                        record = []
                    record.append((EV_RECORD, row, REC_LONG_RESENT, frame, sess.id,
                                   deref(sent).second.second, lt.seq,
                                   (cmd, sender, msg_src, recipients, lt.concat_ref,
                                    lt.concat_total,
                                    [(lt.concat_part, deref(sent).second.second)])))
                    return record
            if <int64_t>self.long_pending.size() >= self.max_long_sms:
                self.long_evicted += 1
                self.long_incomplete += 1
                self._cap(CAP_LONG_SMS, frame, sess.id)
                self._long_incomplete(&self.long_pending.front(), 1, row)
                self.long_index.erase(self.long_pending.front().key)
                self.long_pending.pop_front()
            self.long_pending.push_back(self._fresh_msg)
            self.long_peak = max(self.long_peak, <int64_t>self.long_pending.size())
            pos = self.long_pending.end()
            dec(pos)
            self.long_index[key] = pos
            msg = &deref(pos)
            msg.key = key
            msg.first_ts = ts
            msg.cmd = cmd
            msg.sender = sender
            msg.msg_src = msg_src
            for r in recipients:
                msg.recipients.push_back(r)
            msg.reference = lt.concat_ref
            msg.total = lt.concat_total
            msg.duplicates = 0
        else:
            pos = deref(found).second
            msg = &deref(pos)
        cdef LongPart part
        if msg.parts.count(lt.concat_part):
            msg.duplicates += 1
        else:
            part.frame = frame
            part.ts = ts
            part.row = row
            part.seq = lt.seq
            msg.parts[lt.concat_part] = part
            if <int>msg.parts.size() == msg.total:
                self.long_complete += 1
                if msg.duplicates:
                    if record is None:
                        record = []
                    record.append((EV_RECORD, row, REC_LONG_DUPLICATE, frame, sess.id,
                                   msg.duplicates, None, _long_info(msg)))
                if self.keep_rows:
                    self.events.append((EV_LONG_DONE, row, msg.reference, msg.total,
                                        [pr.second.row for pr in msg.parts],
                                        [pr.second.frame for pr in msg.parts], True))
                self._remember_done(msg, ts)
                self.long_index.erase(msg.key)
                self.long_pending.erase(pos)
        # Messages whose first part is older than the timeout are given up (oldest first).
        cdef LongMsg* old
        while not self.long_pending.empty():
            old = &self.long_pending.front()
            if sat_sub(ts, old.first_ts) < self.long_sms_timeout_ns:
                break
            self.long_incomplete += 1
            self._long_incomplete(old, 0, row)
            self.long_index.erase(old.key)
            self.long_pending.pop_front()
        return record

    cdef int _remember_done(self, LongMsg* msg, int64_t ts) except -1:
        """Keep a completed message's parts (Sequence_Id, frame) for the long-SMS timeout, at
        most max_long_sms of them (the oldest forgotten first, as pending ones are evicted)."""
        cdef DoneMsg* done
        cdef DoneMsg fresh
        old = self.long_done_index.find(msg.key)
        if old != self.long_done_index.end():  # the same key completed before: the newer wins
            self.long_done.erase(deref(old).second)
            self.long_done_index.erase(old)
        if <int64_t>self.long_done.size() >= self.max_long_sms:
            self.long_done_index.erase(self.long_done.front().key)
            self.long_done.pop_front()
        self.long_done.push_back(fresh)
        self.long_done_peak = max(self.long_done_peak, <int64_t>self.long_done.size())
        pos = self.long_done.end()
        dec(pos)
        done = &deref(pos)
        done.key = msg.key
        done.done_ts = ts
        for item in msg.parts:
            done.parts[item.first] = pair[uint32_t, int64_t](item.second.seq, item.second.frame)
        self.long_done_index[msg.key] = pos
        return 0

    cdef int _forget_done(self, int64_t ts) except -1:
        while (not self.long_done.empty()
               and sat_sub(ts, self.long_done.front().done_ts) >= self.long_sms_timeout_ns):
            self.long_done_index.erase(self.long_done.front().key)
            self.long_done.pop_front()
        return 0

    cdef int _long_incomplete(self, LongMsg* msg, int when, int64_t row) except -1:
        """A long message given up (``when``: 0 timeout, 1 cap, 2 end) while ``row`` was
        read: a finding, and (rows kept) its parts, so that its transactions can be rolled
        up as a message's even though some parts never came."""
        cdef int64_t first = INT64_MAX
        for pr in msg.parts:
            if pr.second.frame < first:
                first = pr.second.frame
        self.events.append((EV_NOTE, NOTE_LONG_INCOMPLETE, first, None, when,
                            self.long_sms_timeout_ns, _long_info(msg)))
        if self.keep_rows:
            self.events.append((EV_LONG_DONE, row, msg.reference, msg.total,
                                [pr.second.row for pr in msg.parts],
                                [pr.second.frame for pr in msg.parts], False))
        return 0

    # -- the end ------------------------------------------------------------------------------------

    cdef int finish_c(self, bint cut=False) except -1:
        if self.finished:
            return 0
        self.cut_short = cut or self.stopped
        self.reader.finish()
        self.finished = True
        self.tracker.finish_c()
        cdef vector[int64_t] order
        for sid in self.session_order:
            order.push_back(sid)
        for sid in order:
            it = self.sessions.find(sid)
            if it != self.sessions.end():
                self._close_session(deref(it).second, -1, 0, 0, NULL)
        while not self.long_pending.empty():
            self.long_incomplete += 1
            self._long_incomplete(&self.long_pending.front(), 2, self.rows)
            self.long_index.erase(self.long_pending.front().key)
            self.long_pending.pop_front()
        return 0
