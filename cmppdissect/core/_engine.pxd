from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libcpp.string cimport string
from libcpp.vector cimport vector
from libcpp.deque cimport deque
from libcpp.list cimport list as clist
from libcpp.map cimport map as cmap
from libcpp.pair cimport pair
from libcpp.unordered_map cimport unordered_map

from cmppdissect.core._capture cimport CaptureReader
from cmppdissect.core._framing cimport Framer, PduSink
from cmppdissect.core._pdu cimport Light
from cmppdissect.core._tcp cimport TcpTracker
from cmppdissect.core._types cimport ConnStats, Endpoint, StreamSink


cdef cppclass CmdStats:
    uint32_t request_id      # the request's Command_Id (a response counts under its request)
    int64_t requests
    int64_t responses
    int64_t paired
    int64_t unanswered
    int64_t orphans
    int64_t retransmitted
    vector[int64_t] latency  # ns, one per paired response (sessions only)


cdef cppclass PendingReq:
    uint64_t key
    bint from_client
    int64_t frame
    int64_t ts
    int64_t row
    uint32_t cmd
    uint32_t seq
    int64_t sends            # how often the same request was (re)sent while in flight
    vector[pair[int64_t, int64_t]] resends  # (row, time) of each resend (with rows kept)
    int64_t in_flight        # its side's requests in flight when it was sent (itself too)
    int64_t rate             # its side's sends in the second up to it (itself too)
    int64_t lost             # the Lost entry this request resends after a timeout, else -1


cdef struct CarrierSpan:
    # Bytes [start, end) of one direction as fed to its framer came in the frame whose record
    # starts at ``record``.
    int64_t start
    int64_t end
    int64_t record


cdef cppclass PeakRate:
    int64_t second
    int64_t count
    int64_t peak


cdef cppclass Heartbeats:
    # One side's ACTIVE_TESTs (reference D23: a peer that never answers them).
    int64_t sent
    int64_t answered
    int64_t unanswered
    int64_t in_row           # unanswered in a row, now
    int64_t max_in_row
    int64_t first_ts
    int64_t last_ts
    int64_t last_frame
    int64_t max_interval


cdef cppclass FlowSlot:
    # One time slot of one side's requests (issue 16, part 3): sends and the most in flight
    # at a send, in the slot of the send; answers, their latency and refusals, in the slot of
    # the response.
    int64_t slot             # floor(time / the flow's width)
    int64_t sends
    int64_t max_in_flight
    int64_t answered
    int64_t latency_sum      # ns, saturated
    int64_t refused          # Result 8 (flow control)
    int64_t errors           # other non-zero Results


cdef cppclass Refusal:
    # A refusal that started a run of them: the response, and what its request met when sent.
    int64_t frame
    int64_t request_frame
    int64_t ts
    uint32_t cmd
    int64_t result
    int64_t in_flight
    int64_t rate


cdef cppclass Flow:
    # One side's requests over time, in at most FLOW_SLOTS slots (the width doubles past it).
    int64_t width            # ns per slot
    vector[FlowSlot] slots
    int64_t bins[10]         # sends per 100 ms over the last second, a ring
    int64_t tick             # the 100 ms tick of the newest bin
    int64_t in_bins          # the bins' sum
    int64_t max_rate         # the most sends in one second (sliding)
    int64_t over_window      # sends made with more than W requests in flight
    bint refusing            # the last answer with a Result refused
    int64_t onsets           # runs of refusals
    vector[Refusal] first_onsets


cdef cppclass Lost:
    # A request that was unanswered or resent (issue 16, part 4), until what became of it is
    # known: kept in Core.lost (bounded), found again by its pairing key.
    uint64_t key
    int64_t sid
    string sp
    int64_t frame            # its first send
    int64_t ts
    uint32_t cmd
    uint32_t seq
    int64_t sends
    int kind                 # LOST_* (what became of it, so far)
    int64_t answer_frame     # the response that tells (LOST_LATE ...), else 0
    int64_t answer_sid
    int64_t first_answer     # the first of two answers' frame
    int64_t delay            # ns from the first send to the answer
    int64_t result
    int64_t result2


cdef cppclass Session:
    int64_t id
    Endpoint client
    Endpoint server
    int64_t start_ns
    int64_t end_ns
    int version
    int version_source       # 0 none, 1 CONNECT, 2 lengths, 3 user
    int64_t pdus_client
    int64_t pdus_server
    int64_t errors
    int64_t unanswered
    bint saw_syn
    bint flipped             # the TCP stage's client is this session's server (see data())
    bint not_cmpp
    bint has_tcp
    ConnStats tcp
    int64_t skipped_bytes
    int64_t gaps
    int64_t last_frame
    bint skip_client         # a skipped-bytes finding is running in this direction
    bint skip_server
    int ended                # -1 open, else the CloseHow; 5: evicted from the session list
    Framer f_client
    Framer f_server
    # With ``carriers``: which frames carried the bytes each framer holds, and how far each
    # direction's bytes were fed to / cut by its framer.
    deque[CarrierSpan] carry_client
    deque[CarrierSpan] carry_server
    int64_t fed_client
    int64_t fed_server
    int64_t cut_client
    int64_t cut_server
    clist[PendingReq] pending          # oldest first
    unordered_map[uint64_t, clist[PendingReq].iterator] pending_index
    int64_t window_client
    int64_t window_server
    int64_t max_window_client
    int64_t max_window_server
    int slot[32]             # request Command_Id low byte -> index into cmds, -1
    vector[CmdStats] cmds
    cmap[pair[uint32_t, int64_t], int64_t] results
    PeakRate pdu_peak
    PeakRate submit_peak
    # Per direction (0: from the client, 1: from the server).
    Heartbeats beats[2]
    # Sequence_Id order and use (D25, D26): the last request's, whether going backwards was
    # noted, and how many requests in flight have each Sequence_Id modulo 32 (a cheap test
    # before looking for the same value in flight the other way).
    uint32_t last_seq[2]
    uint32_t last_seq_cmd[2]
    int64_t last_seq_frame[2]
    bint noted_backwards[2]
    uint32_t in_flight_seq[64]
    string sp                # the CONNECT's Source_Addr (NULs cut), empty before a login
    SpRecon* spr             # its report counters once looked up (NULL: look up)
    # Flow control (0: requests from the client, 1: from the server).
    Flow flow[2]
    # The last orphan response per side of its request (a wrong Sequence_Id?).
    int64_t orphan_frame[2]
    int64_t orphan_ts[2]
    uint32_t orphan_cmd[2]
    # Link lifecycle: idle gaps, TERMINATE, who closed.
    int64_t last_pdu_ts
    int64_t last_pdu_frame
    int64_t max_idle
    int64_t max_idle_frame
    int64_t idle_gaps
    int terminate_by         # 1 the client, 2 the server sent the first TERMINATE, 0 none
    int64_t terminate_frame
    int closed_by            # the TCP side that closed (ConnStats.closed_by)


cdef cppclass StatRecon:
    int64_t count
    vector[int64_t] delays   # ns from the SUBMIT_RESP to the report


cdef cppclass SpRecon:
    # One SP's status reports (the SP that sent the SUBMIT; for reports that matched no
    # SUBMIT, the SP of the connection they came on).
    string name              # the SP's key in Core.recon
    int64_t awaited          # Msg_Ids accepted with Registered_Delivery
    int64_t matched
    int64_t other_connection
    int64_t duplicates
    int64_t unmatched
    int64_t near_misses
    cmap[string, StatRecon] stats
    # Its logins (CONNECTs): how many, the most in a minute (sliding), storms.
    int64_t connects
    int64_t connect_ring[16] # the times of its last STORM_CONNECTS CONNECTs, a ring
    int64_t in_minute
    int64_t max_per_minute
    int64_t storms
    bint storming


cdef cppclass AwaitReport:
    # A Msg_Id awaiting its status report: the SUBMIT's frame and time (when its response
    # came), its session and SP, and which of its recipients this id is for.
    uint64_t msg_id
    int64_t frame
    int64_t ts
    int64_t sid
    SpRecon* spr             # the SUBMIT's SP (a node of Core.recon: never moves)
    string recipient
    int64_t index            # the recipient's place in Dest_terminal_Id (0-based)
    int64_t count            # the SUBMIT's recipients
    int64_t near_frame       # a near-miss report named this id (its frame), else 0
    int64_t registered       # when it began to await (its SUBMIT_RESP's time)
    int64_t registered_row   # and that SUBMIT_RESP's row (PDUs of one time in their order)


cdef cppclass SubmitWait:
    # A SUBMIT that asked for reports, until its response: its first recipients, each cut
    # at its NUL and followed by one (one string: one recipient needs no allocation).
    int64_t count
    string dests


cdef cppclass ReportedId:
    # A report matched to its SUBMIT, kept a while to know a duplicate of it.
    uint64_t msg_id
    string recipient         # the report's (a report of this id to another is no duplicate)
    SpRecon* spr             # the SUBMIT's SP
    int64_t report_frame
    int64_t submit_frame
    # What a merge of several hosts needs to undo this match for an earlier report of the
    # same id on another host (cmppdissect.scale.merge): times, sessions, the report's Stat.
    int64_t report_ts
    int64_t report_sid
    int64_t submitted        # the SUBMIT's time (the delay is report_ts - submitted)
    int64_t registered       # its SUBMIT_RESP's time
    int64_t submit_sid
    int64_t registered_row   # the rows of its SUBMIT_RESP and of the report: the order of
    int64_t report_row       # PDUs of one time (one segment, one clock tick)
    char stat[7]             # the report's Stat (7 octets at most, no allocation)
    int stat_len




cdef cppclass LongPart:
    int64_t frame
    int64_t ts
    int64_t row
    uint32_t seq


cdef cppclass DoneMsg:
    # A long message that completed: each part's Sequence_Id and frame, kept for the long-SMS
    # timeout so that a part sent again with the same Sequence_Id is known as a resend.
    string key
    int64_t done_ts
    cmap[int, pair[uint32_t, int64_t]] parts


cdef cppclass LongMsg:
    string key
    int64_t first_ts
    uint32_t cmd
    string sender
    string msg_src
    vector[string] recipients
    int reference
    int total
    cmap[int, LongPart] parts
    int64_t duplicates


cdef cppclass OpenConn:
    Endpoint client
    Endpoint server
    int64_t frame
    int64_t ts
    bint saw_syn


cdef class Core(StreamSink):
    cdef CaptureReader reader
    cdef readonly TcpTracker tracker
    cdef PduSink framer_sink
    # settings
    cdef readonly object ports
    cdef int forced_version
    cdef readonly int64_t timeout_ns
    cdef bint heuristic
    cdef readonly int64_t long_sms_timeout_ns
    cdef readonly int64_t max_sessions
    cdef readonly int64_t max_awaiting_reports
    cdef readonly int64_t max_pending
    cdef readonly int64_t max_long_sms
    cdef readonly bint keep_rows
    cdef readonly bint offsets         # rows carry their frame's record offset (else -1)
    cdef readonly bint carriers        # EV_CARRIERS: every frame a PDU's bytes came in
    cdef public int64_t pdu_limit
    cdef unordered_map[uint32_t, bint] port_set
    # state
    cdef readonly int64_t rows          # PDUs so far (the next PDU's row number)
    cdef readonly bint stopped
    cdef bint finished
    # Reading stopped before the capture's end (-c): requests still in flight are not called
    # unanswered, their responses were simply not read; counted here instead.
    cdef readonly bint cut_short
    cdef readonly int64_t in_flight_at_stop
    cdef unordered_map[int64_t, Session*] sessions
    cdef clist[int64_t] session_order
    cdef unordered_map[int64_t, clist[int64_t].iterator] session_pos
    cdef clist[int64_t] ended
    cdef unordered_map[int64_t, clist[int64_t].iterator] ended_pos
    cdef unordered_map[int64_t, OpenConn] pending_conns
    cdef readonly int64_t retired_sessions
    cdef readonly int64_t skipped_bytes  # every byte skipped, all sessions (retired too)
    cdef int64_t caps_hit               # bit per cap kind
    # statistics
    cdef readonly int64_t pdus
    cdef CmdStats totals[32]
    cdef bint totals_seen[32]
    cdef CmdStats retired[32]
    cdef cmap[pair[uint32_t, int64_t], int64_t] results
    cdef cmap[string, int64_t] stat_counts
    cdef vector[int64_t] submit_to_report
    cdef readonly int64_t samples_held  # latency and delay samples held (drain_samples)
    cdef unordered_map[int64_t, int64_t] pdu_rate
    cdef unordered_map[int64_t, int64_t] submit_rate
    cdef unordered_map[int64_t, pair[int64_t, int64_t]] submit_latency
    # The three maps above key a slot of rate_width seconds (1, doubled past RATE_SLOTS
    # slots); the busiest single seconds are kept apart, from a ring of the last 64 seconds.
    cdef int64_t rate_width
    cdef readonly int64_t max_rate_slots
    cdef int64_t peak_pdus
    cdef int64_t peak_submits
    cdef int64_t ring_sec[64]
    cdef int64_t ring_pdus[64]
    cdef int64_t ring_submits[64]
    cdef readonly int64_t report_for    # chats counted, not listed
    cdef readonly int64_t framer_peak   # the most bytes one direction's framer held
    cdef readonly int64_t framer_kept_peak  # the most it kept allocated between segments
    # status reports and long SMS
    cdef clist[AwaitReport] awaiting
    cdef unordered_map[uint64_t, clist[AwaitReport].iterator] awaiting_index
    cdef unordered_map[uint64_t, SubmitWait] submits
    # reconciliation of status reports with their SUBMITs (issue 16)
    cdef unordered_map[uint64_t, uint64_t] awaiting_masked  # Msg_Id without its gateway
    # an unmatched report's near-miss candidates, in the order the rules try them
    cdef vector[uint64_t] near_keys
    cdef vector[int] near_rules
    cdef clist[ReportedId] reported
    cdef unordered_map[uint64_t, clist[ReportedId].iterator] reported_index
    cdef cmap[string, SpRecon] recon
    cdef readonly int64_t max_report_keys
    cdef int64_t report_keys            # SP and (SP, Stat) entries of recon
    cdef readonly int64_t awaiting_evicted
    cdef readonly int64_t awaited_again  # a Msg_Id awaited again while it awaited
    cdef int64_t awaiting_peak          # the most Msg_Ids that awaited a report at once
    cdef readonly int64_t reports_unmatched
    cdef readonly int64_t reports_duplicate
    cdef readonly int64_t reports_other_connection
    cdef readonly int64_t reports_near_miss
    cdef readonly int64_t first_ts
    cdef readonly int64_t last_ts
    cdef bint have_ts
    cdef clist[LongMsg] long_pending
    cdef unordered_map[string, clist[LongMsg].iterator] long_index
    cdef clist[DoneMsg] long_done
    cdef unordered_map[string, clist[DoneMsg].iterator] long_done_index
    cdef readonly int64_t long_resent
    cdef readonly int64_t long_complete
    cdef readonly int64_t long_incomplete
    cdef readonly int64_t long_parts
    cdef readonly int64_t long_evicted
    cdef int64_t long_peak              # the most long SMS assembled at once
    cdef int64_t long_done_peak         # the most completed ones remembered at once
    # requests unanswered or resent, until what became of them is known (issue 16, part 4)
    cdef deque[Lost] lost
    cdef int64_t lost_base              # the id of lost.front()
    cdef unordered_map[uint64_t, deque[int64_t]] lost_by_session  # mix_key(key, session)
    cdef unordered_map[uint64_t, deque[int64_t]] lost_by_sp       # mix_key(key, SP)
    cdef cmap[pair[string, int], int64_t] lost_evicted
    cdef readonly int64_t max_lost
    cdef readonly int64_t idle_ns
    # output of the current batch
    cdef public list events
    cdef vector[uint8_t] row_bytes
    cdef vector[int64_t] link_bytes   # (request row, response row, latency) per link
    cdef vector[int64_t] report_rows  # (report row, SUBMIT frame) per matched report
    cdef string raw
    # the PDU being accounted
    cdef Light lt
    cdef int64_t cur_offset             # the record of the frame of the data being cut
    # default-constructed values to copy into containers
    cdef PendingReq _fresh_req
    cdef AwaitReport _fresh_await
    cdef ReportedId _fresh_reported
    cdef LongMsg _fresh_msg
    cdef Refusal _fresh_refusal
    cdef Lost _fresh_lost

    cdef Session* _new_session(self, int64_t conn, const Endpoint* client,
                               const Endpoint* server, int64_t frame, int64_t ts,
                               bint saw_syn) except NULL
    cdef int _retire(self) except -1
    cdef int _close_session(self, Session* sess, int how, int64_t frame, int64_t ts,
                            const ConnStats* stats) except -1
    cdef int _mark_ended(self, Session* sess)
    cdef int on_pdu(self, Session* sess, bint fc, const uint8_t* p, Py_ssize_t n,
                    int64_t frame, int64_t ts) except -1
    cdef object _carried(self, Session* sess, bint fc, int64_t n)
    cdef int on_skipped(self, Session* sess, bint fc, int64_t size, int64_t frame, int64_t ts,
                        int why, int64_t a, int64_t b, const Framer* f,
                        const uint8_t* data) except -1
    cdef int _skip(self, Session* sess, bint fc, int64_t size, int64_t frame, int why,
                   int64_t a, int64_t b, int special, object after=*, object head=*) except -1
    cdef int _reset_skip(self, Session* sess, bint fc) except -1
    cdef CmdStats* _mine(self, Session* sess, uint32_t request_id) except NULL
    cdef int _expire(self, Session* sess, int64_t now) except -1
    cdef int _unanswered(self, Session* sess, PendingReq* req) except -1
    cdef list _sequence(self, Session* sess, bint fc, int64_t row, int64_t frame, int64_t ts,
                        list record)
    cdef int _cap(self, int kind, int64_t frame, int64_t sid) except -1
    cdef int64_t _lose(self, Session* sess, PendingReq* req, int kind) except -1
    cdef Lost* _lost_entry(self, int64_t id) noexcept
    cdef list _orphan(self, Session* sess, bint fc, uint32_t request_id, int64_t row,
                      int64_t frame, int64_t ts, list record)
    cdef list _lifecycle(self, Session* sess, bint fc, int64_t row, int64_t frame,
                         int64_t ts, list record)
    cdef int _await_reports(self, Session* sess, uint64_t first, SubmitWait* wait,
                            int64_t request_frame, int64_t submitted,
                            int64_t registered, int64_t registered_row) except -1
    cdef list _report(self, Session* sess, const uint8_t* p, Py_ssize_t n, int64_t row,
                      int64_t frame, int64_t ts, list record)
    cdef SpRecon* _sp(self, const string& sp, int64_t frame, int64_t sid) except NULL
    cdef StatRecon* _stat(self, SpRecon* spr, const string& stat, int64_t frame,
                          int64_t sid) except NULL
    cdef int _forget_awaiting(self, AwaitReport* entry) except -1
    cdef int _near_candidates(self, const uint8_t* p, Py_ssize_t n,
                              uint64_t msg_id) except -1
    cdef AwaitReport* _near_miss(self, int* rule, Py_ssize_t* index)
    cdef list _long_part(self, Session* sess, const uint8_t* p, int64_t row, int64_t frame,
                         int64_t ts, list record)
    cdef int64_t _rate_slot(self, int64_t sec, bint submit) except? -1
    cdef int _widen_rates(self) except -1
    cdef int64_t _slot_key(self, int64_t sec) noexcept
    cdef int _long_incomplete(self, LongMsg* msg, int when, int64_t row) except -1
    cdef int _remember_done(self, LongMsg* msg, int64_t ts) except -1
    cdef int _forget_done(self, int64_t ts) except -1
    cdef int _append_row(self, Session* sess, bint fc, const uint8_t* p, Py_ssize_t n,
                         int64_t frame, int64_t ts, int64_t pair_row, int64_t latency,
                         int hint, bint resend) except -1
    cdef int _seen(self, int64_t ts) noexcept
    cdef int finish_c(self, bint cut=*) except -1
