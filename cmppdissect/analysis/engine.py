"""The analysis engine: TCP segments in, PDU records, sessions and statistics out (sans-IO).

Readers (files, live sniffers) call :meth:`Analyzer.feed` with each
:class:`~cmppdissect.core.records.TcpSegment` and :meth:`Analyzer.finish` at the end;
outputs (text, JSON, TUI) read the records it returns and its ``sessions``/``stats``. It does
no I/O itself, so a test drives it with records built in memory.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cmppdissect.analysis.longsms import Joiner, LongSms, Part
from cmppdissect.analysis.pairing import Pairer
from cmppdissect.analysis.stats import CommandStats, PeakRate, Statistics, summarize_ms
from cmppdissect.core.records import (
    CaptureNote,
    ConnectionClosed,
    ConnectionOpened,
    ConnStats,
    StreamData,
    StreamGap,
    TcpSegment,
)
from cmppdissect.core import TcpTracker
from cmppdissect.protocol import auth
from cmppdissect.protocol.codes import code_name
from cmppdissect.protocol.commands import (
    DEFAULT_PORTS,
    CommandId,
    command_name,
    is_response,
    request_of,
)
from cmppdissect.protocol.content import UDHI_MASK
from cmppdissect.protocol.decode import DecodedPdu, decode_pdu
from cmppdissect.protocol.expert import Finding, Severity
from cmppdissect.core import FramedPdu, PduFramer, plausible_header
from cmppdissect.protocol.layouts import VERSIONED_COMMANDS, result_of
from cmppdissect.protocol.msgid import MSG_ID_MAX, msg_id_range
from cmppdissect.protocol.report import stat_class
from cmppdissect.protocol.version import Version, version_from_byte

_LOGIN = frozenset({CommandId.CMPP_CONNECT, CommandId.CMPP_CONNECT_RESP})


@dataclass(slots=True)
class PduRecord:
    """One decoded PDU in its capture context."""

    frame: int
    ts_ns: int
    session: int
    from_client: bool
    src: str
    dst: str
    pdu: DecodedPdu
    request_frame: int | None = None  # on a response: the request it answers
    latency_ns: int | None = None
    response_frame: int | None = None  # on a request, once a reader links its response
    expert: list[Finding] = field(default_factory=list)
    long_sms: LongSms | None = None  # set on the part that completed a long SMS

    @property
    def command(self) -> str:
        return command_name(self.pdu.Command_Id)

    @property
    def latency_ms(self) -> float | None:
        return None if self.latency_ns is None else self.latency_ns / 1e6


@dataclass(slots=True)
class ExpertItem:
    severity: Severity
    frame: int | None
    session: int | None
    message: str
    code: str
    size: int = 0  # skipped-bytes findings: bytes counted so far
    reason: str = ""


@dataclass(slots=True)
class Session:
    """One TCP connection carrying CMPP."""

    id: int
    client: str
    server: str
    start_ns: int
    end_ns: int
    version: Version | None = None
    version_source: str | None = None  # "CONNECT", "lengths" or "user"
    sp_id: str | None = None
    login: str | None = None  # "ok", "failed (Status N: ...)", None = no CONNECT seen
    ended: str | None = None
    pdus: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0})
    errors: int = 0
    unanswered: int = 0
    expert: Counter[str] = field(default_factory=Counter)  # findings by severity name
    stats: Statistics = field(default_factory=Statistics)  # this session's commands, results
    pdu_peak: PeakRate = field(default_factory=PeakRate)
    submit_peak: PeakRate = field(default_factory=PeakRate)
    saw_syn: bool = False
    not_cmpp: bool = False  # the stream did not start with a CMPP header: not decoded
    tcp: ConnStats | None = None  # the TCP counters, once the connection has ended
    skipped_bytes: int = 0
    gaps: int = 0  # capture gaps seen in either direction
    last_frame: int = 0
    # The finding that counts the bytes being skipped now, per direction, so that a run of
    # undecodable segments is one finding, not one per segment.
    skipping: dict[bool, ExpertItem | None] = field(default_factory=dict)
    # Command_Id -> (its totals entry, this session's entry): two lookups saved per PDU.
    entries: dict[int, tuple[CommandStats, CommandStats]] = field(default_factory=dict)
    framers: dict[bool, PduFramer] = field(default_factory=dict)
    pairer: Pairer = field(default_factory=Pairer)
    connect_auth: bytes | None = None  # AuthenticatorSource, to check CONNECT_RESP

    @property
    def total_pdus(self) -> int:
        return self.pdus[True] + self.pdus[False]

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def tps(self) -> float:
        """Mean PDUs per second over the session's life (all PDUs if it lasted under 1 s)."""
        return self.total_pdus / max(self.duration_s, 1.0)

    def latency_ms(self, request: str) -> dict[str, float | None]:
        entry = self.stats.commands.get(request)
        return summarize_ms(() if entry is None else (entry.latency.samples_ns,))


class Analyzer:
    """Feed segments, get records. One instance per capture."""

    def __init__(self, *, ports: Iterable[int] = DEFAULT_PORTS, version: Version | None = None,
                 timeout_s: float = 60.0, secrets: Mapping[str, str] | None = None,
                 heuristic: bool = True, long_sms_timeout_s: float = 600.0,
                 max_sessions: int = 20_000, max_expert: int = 100_000,
                 max_awaiting_reports: int = 200_000) -> None:
        self.settings: dict[str, Any] = {
            "ports": tuple(ports), "version": version, "timeout_s": timeout_s,
            "secrets": secrets, "heuristic": heuristic, "long_sms_timeout_s": long_sms_timeout_s,
            "max_sessions": max_sessions, "max_expert": max_expert,
            "max_awaiting_reports": max_awaiting_reports}
        self.ports = frozenset(self.settings["ports"])
        self.forced_version = version
        self.timeout_ns = int(timeout_s * 1e9)
        self.secrets = dict(secrets or {})
        self.heuristic = heuristic
        self.tracker = TcpTracker(server_ports=tuple(self.ports))
        self.sessions: dict[int, Session] = {}
        self._pending_conns: dict[int, ConnectionOpened] = {}
        self._ignored: set[int] = set()
        self.stats = Statistics()  # totals; latency samples live in the sessions
        self.expert: list[ExpertItem] = []  # the first ``max_expert`` findings
        self.expert_counts: Counter[tuple[Severity, str]] = Counter()  # all findings
        self.long_sms = Joiner()
        self.long_sms_timeout_ns = int(long_sms_timeout_s * 1e9)
        self.max_sessions = max_sessions
        self.max_expert = max_expert
        self.max_awaiting_reports = max_awaiting_reports
        self.retired = Statistics()  # sessions dropped past ``max_sessions``, folded together
        self.retired_sessions = 0
        # Msg_Id -> (SUBMIT frame, its time), oldest first: past the cap the oldest goes.
        self._reports: OrderedDict[int, tuple[int, int]] = OrderedDict()
        # (session, SUBMIT Sequence_Id) -> DestUsr_tl; not the frame: one can carry several
        self._submits: dict[tuple[int, int], int] = {}
        self._caps_hit: set[str] = set()
        self._ended: OrderedDict[int, None] = OrderedDict()  # ended sessions, oldest first
        self.last_ts = 0

    def fresh(self) -> Analyzer:
        """A new analyzer with the same settings (to start a capture again another way)."""
        return Analyzer(**self.settings)

    # -- input ------------------------------------------------------------------------------

    def feed(self, seg: TcpSegment) -> list[PduRecord]:
        self.last_ts = seg.ts_ns
        out: list[PduRecord] = []
        for ev in self.tracker.feed(seg):
            self._event(ev, out)
        return out

    def finish(self) -> list[PduRecord]:
        out: list[PduRecord] = []
        for ev in self.tracker.finish():
            self._event(ev, out)
        for sess in self.sessions.values():
            self._close_session(sess, None)
        for msg in self.long_sms.drain():
            self._incomplete_sms(msg, "at the end of the capture")
        return out

    # -- events -----------------------------------------------------------------------------

    def _event(self, ev: object, out: list[PduRecord]) -> None:
        if isinstance(ev, StreamData):
            sess = self.sessions.get(ev.conn)
            if sess is None:
                sess = self._adopt(ev)
                if sess is None:
                    return
            sess.end_ns = ev.ts_ns
            sess.last_frame = ev.frame
            direction = ev.from_client
            if sess.not_cmpp:
                self._skipped(sess, direction, len(ev.data), ev.frame, "")
                return
            framer = sess.framers[direction]
            for item in framer.feed(ev.data, ev.frame, ev.ts_ns):
                if sess.not_cmpp:  # decided by an earlier item of this same segment
                    size = len(item.data) if isinstance(item, FramedPdu) else item.size
                    self._skipped(sess, direction, size, item.frame, "")
                elif isinstance(item, FramedPdu):
                    sess.skipping[direction] = None
                    out.append(self._pdu(sess, direction, item))
                elif sess.saw_syn and sess.total_pdus == 0 and not sess.gaps:
                    # The stream starts with something that is no CMPP header: other traffic
                    # on a CMPP port. Resynchronising would only find false headers in it.
                    # (After a capture gap the start was lost, so nothing can be concluded.)
                    sess.not_cmpp = True
                    self._skipped(sess, direction, item.size, item.frame,
                                  f"{item.reason}; the connection is not CMPP, not decoded")
                else:
                    self._skipped(sess, direction, item.size, item.frame, item.reason)
            if sess.not_cmpp:
                for item in framer.close(ev.frame, ev.ts_ns):
                    self._skipped(sess, direction, item.size, item.frame, "")
        elif isinstance(ev, ConnectionOpened):
            server_port = int(ev.server.rsplit(":", 1)[1])
            client_port = int(ev.client.rsplit(":", 1)[1])
            if server_port in self.ports or client_port in self.ports:
                self._new_session(ev)
            else:
                self._pending_conns[ev.conn] = ev
        elif isinstance(ev, StreamGap):
            sess = self.sessions.get(ev.conn)
            if sess is not None:
                sess.gaps += 1
                sess.skipping[ev.from_client] = None
                self._note(Severity.WARN, ev.frame, sess.id, "capture-gap",
                           f"{ev.missing} bytes not captured "
                           f"({'client' if ev.from_client else 'server'} side)")
                for item in sess.framers[ev.from_client].gap(ev.missing, ev.frame, ev.ts_ns):
                    self._skipped(sess, ev.from_client, item.size, item.frame, item.reason)
        elif isinstance(ev, ConnectionClosed):
            self._pending_conns.pop(ev.conn, None)
            sess = self.sessions.get(ev.conn)
            if sess is not None and sess.ended is None:
                self._close_session(sess, ev)

    def _new_session(self, ev: ConnectionOpened) -> Session:
        if len(self.sessions) >= self.max_sessions:
            self._retire()
        sess = Session(ev.conn, ev.client, ev.server, ev.ts_ns, ev.ts_ns, saw_syn=ev.saw_syn)
        # Without the SYN we may be mid-stream: the framer must find a header first.
        sess.framers = {True: PduFramer(synced=ev.saw_syn), False: PduFramer(synced=ev.saw_syn)}
        if self.forced_version is not None:
            sess.version, sess.version_source = self.forced_version, "user"
        self.sessions[ev.conn] = sess
        return sess

    def _adopt(self, ev: StreamData) -> Session | None:
        """A stream on a port we were not told about: CMPP if it starts with a CMPP header."""
        opened = self._pending_conns.pop(ev.conn, None)
        if opened is None or not self.heuristic or ev.conn in self._ignored:
            if opened is not None:
                self._ignored.add(ev.conn)
            return None
        data = ev.data
        if len(data) >= 8:
            total = int.from_bytes(data[0:4], "big")
            cmd = int.from_bytes(data[4:8], "big")
            if plausible_header(total, cmd):
                return self._new_session(opened)
        self._ignored.add(ev.conn)
        return None

    def _close_session(self, sess: Session, ev: ConnectionClosed | None) -> None:
        if ev is not None and ev.stats is not None:
            sess.tcp = ev.stats
            if ev.stats.retransmissions:
                dup = ev.stats.duplicates
                self._note(Severity.NOTE, ev.frame, sess.id, "tcp-retransmission",
                           f"{ev.stats.retransmissions} TCP segment(s) of this connection "
                           f"carried bytes already seen ({dup} an exact copy of the segment "
                           "before, as in a loopback capture); each PDU was counted once")
        if ev is not None:
            sess.ended = ev.how
            if ev.ts_ns:
                sess.end_ns = max(sess.end_ns, ev.ts_ns)
        elif sess.ended is None:
            sess.ended = "end-of-capture"
        self._ended[sess.id] = None
        for direction, framer in sess.framers.items():
            for item in framer.close(ev.frame if ev and ev.frame else sess.last_frame,
                                     sess.end_ns):
                self._note(Severity.WARN, item.frame or None, sess.id, "incomplete-pdu",
                           f"{item.size} bytes at the end of the "
                           f"{'client' if direction else 'server'} stream: {item.reason}")
        for exp in sess.pairer.drain():
            self._unanswered(sess, exp.frame, exp.command_id, exp.sequence_id)

    # -- PDUs -------------------------------------------------------------------------------

    def _pdu(self, sess: Session, from_client: bool, framed: FramedPdu, *,
             rates: bool = True) -> PduRecord:
        """Decode and account one PDU. ``rates=False``: the caller counts it into the
        per-second rates itself (the fast lane does that for a whole batch at once)."""
        pdu = decode_pdu(framed.data, sess.version)
        src, dst = (sess.client, sess.server) if from_client else (sess.server, sess.client)
        rec = PduRecord(framed.frame, framed.ts_ns, sess.id, from_client, src, dst, pdu)
        sess.pdus[from_client] += 1
        ts = framed.ts_ns
        stats = self.stats
        stats.pdus += 1
        if rates:
            stats.pdu_rate.add(ts)
            sess.pdu_peak.add(ts)
        cmd = pdu.Command_Id
        if sess.version is None or cmd in _LOGIN:
            self._learn(sess, pdu, rec)
        pairer = sess.pairer
        for exp in pairer.expire(ts, self.timeout_ns):
            self._unanswered(sess, exp.frame, exp.command_id, exp.sequence_id)
        entries = sess.entries.get(cmd)
        if entries is None:
            name = command_name(request_of(cmd))
            entries = sess.entries[cmd] = (stats.command(name), sess.stats.command(name))
        entry, mine = entries
        if is_response(cmd):
            entry.responses += 1
            mine.responses += 1
            paired = pairer.response(from_client, cmd, pdu.Sequence_Id, ts)
            if paired is None:
                entry.orphan_responses += 1
                mine.orphan_responses += 1
                rec.expert.append(Finding(Severity.WARN, "orphan-response",
                                          f"no request for this {command_name(cmd)} "
                                          f"(Sequence_Id {pdu.Sequence_Id})"))
            else:
                entry.paired += 1
                mine.paired += 1
                mine.latency.add(paired.latency_ns)
                rec.request_frame, rec.latency_ns = paired.request_frame, paired.latency_ns
                if cmd == CommandId.CMPP_SUBMIT_RESP:
                    stats.submit_latency.add(ts, paired.latency_ns)
                self._response_fields(sess, rec, paired.request_frame)
            outcome = result_of(pdu.fields)
            if outcome is not None:
                key = (command_name(cmd), outcome[1])
                stats.results[key] += 1
                sess.stats.results[key] += 1
                if outcome[1] != 0:
                    sess.errors += 1
        else:
            entry.requests += 1
            mine.requests += 1
            earlier, evicted = pairer.request(from_client, cmd, pdu.Sequence_Id, framed.frame,
                                              ts)
            if evicted is not None:
                self._cap("pending", framed.frame, sess.id,
                          f"more than {pairer.max_pending} requests in flight in one session: "
                          "the oldest are counted as unanswered and forgotten")
                self._unanswered(sess, evicted.frame, evicted.command_id, evicted.sequence_id)
            if earlier is not None:
                entry.retransmitted += 1
                mine.retransmitted += 1
                rec.expert.append(Finding(
                    Severity.WARN, "sequence-reused",
                    f"Sequence_Id {pdu.Sequence_Id} reused while frame {earlier.frame}'s "
                    f"{command_name(cmd)} is still unanswered (retransmission?)"))
            window = pairer.window[from_client]
            if window == 17:
                rec.expert.append(Finding(Severity.NOTE, "window",
                                          "more than 16 requests in flight (spec window W=16)"))
            if cmd == CommandId.CMPP_SUBMIT:
                if rates:
                    stats.submit_rate.add(ts)
                    sess.submit_peak.add(ts)
                if pdu.fields.get("Registered_Delivery"):
                    # Only a SUBMIT that asked for reports has Msg_Ids worth remembering.
                    self._submits[(sess.id, pdu.Sequence_Id)] = max(
                        1, len(pdu.fields.get("Dest_terminal_Id", ())))
            if pdu.report is not None:
                self._report(rec)
            elif pdu.fields.get("TP_udhi", 0) & UDHI_MASK and "Msg_Content" in pdu.fields:
                self._long_sms_part(rec)
        for finding in pdu.findings:
            if finding.severity >= Severity.WARN:
                self._note(finding.severity, rec.frame, sess.id, finding.code, finding.message)
        for finding in rec.expert:
            if finding.severity > Severity.CHAT:
                self._note(finding.severity, rec.frame, sess.id, finding.code, finding.message)
            else:  # chats (a report matched, a login checked) stay on the record, counted here
                self.expert_counts[(finding.severity, finding.code)] += 1
        return rec

    def _learn(self, sess: Session, pdu: DecodedPdu, rec: PduRecord) -> None:
        cmd = pdu.Command_Id
        fields = pdu.fields
        if cmd == CommandId.CMPP_CONNECT:
            src = fields.get("Source_Addr", b"")
            sess.sp_id = src.decode("ascii", "backslashreplace")
            sess.connect_auth = fields.get("AuthenticatorSource")
            byte_version = version_from_byte(fields.get("Version", 0))
            if byte_version is not None:
                # What the peers agreed on outranks --cmpp-version, which is meant for
                # sessions whose CONNECT was not captured.
                sess.version, sess.version_source = byte_version, "CONNECT"
            secret = self.secrets.get(sess.sp_id)
            if secret is not None and sess.connect_auth is not None:
                check = auth.check_connect(src, sess.connect_auth,
                                           fields.get("Timestamp", 0), secret)
                rec.expert.append(Finding(Severity.CHAT if check.ok else Severity.ERROR,
                                          "auth-source", check.message))
        elif cmd == CommandId.CMPP_CONNECT_RESP:
            status = fields.get("Status")
            if status == 0:
                sess.login = "ok"
            elif status is not None:
                sess.login = f"failed ({status}: {code_name('connect_status', status)})"
            secret = self.secrets.get(sess.sp_id or "")
            if secret is not None and sess.connect_auth is not None and status is not None:
                check = auth.check_connect_resp(status, fields.get("AuthenticatorISMG", b""),
                                                sess.connect_auth, secret, pdu.version)
                rec.expert.append(Finding(Severity.CHAT if check.ok else Severity.ERROR,
                                          "auth-ismg", check.message))
        if sess.version is None and pdu.version is not None and cmd in VERSIONED_COMMANDS:
            sess.version, sess.version_source = pdu.version, "lengths"

    def _response_fields(self, sess: Session, rec: PduRecord, request_frame: int) -> None:
        pdu = rec.pdu
        if pdu.Command_Id == CommandId.CMPP_SUBMIT_RESP:
            self._submit_answered(sess, pdu.Sequence_Id, pdu.fields, rec.frame, rec.ts_ns,
                                  rec.latency_ns or 0, request_frame)

    def _submit_answered(self, sess: Session, seq: int, fields: Mapping[str, Any], frame: int,
                         ts_ns: int, latency_ns: int, request_frame: int) -> None:
        """A SUBMIT_RESP paired with its SUBMIT: remember its Msg_Ids if reports were asked."""
        count = self._submits.pop((sess.id, seq), 0)
        if fields.get("Result") == 0 and count:
            self._await_reports(sess, fields.get("Msg_Id", 0), count, frame,
                                ts_ns - latency_ns, request_frame)

    def _await_reports(self, sess: Session, first: int, count: int, frame: int,
                       submitted_ns: int, request_frame: int) -> None:
        """The Msg_Ids of a SUBMIT that asked for status reports, oldest forgotten past the cap."""
        reports = self._reports
        for msg_id in msg_id_range(first, count) if 0 <= first <= MSG_ID_MAX else ():
            if len(reports) >= self.max_awaiting_reports:
                reports.popitem(last=False)
                self._cap("awaiting-reports", frame, sess.id,
                          f"more than {self.max_awaiting_reports} Msg_Ids await a status "
                          "report; the oldest are forgotten (their reports will not match)")
            reports[msg_id] = (request_frame, submitted_ns)

    def _report(self, rec: PduRecord) -> None:
        found = self._match_report(rec.pdu.report or {}, rec.ts_ns)
        if found is not None:
            rec.expert.append(found)

    def _match_report(self, report: Mapping[str, Any], ts_ns: int) -> Finding | None:
        """Count a status report's Stat and match it to its SUBMIT (a chat finding if so)."""
        stat = report.get("Stat", b"")
        submitted = self._report_seen(report.get("Msg_Id", -1), stat, ts_ns)
        if submitted is None:
            return None
        text = stat.decode("ascii", "backslashreplace")
        return Finding(Severity.CHAT, "report-for",
                       f"status report {text} ({stat_class(text)}) for the "
                       f"SUBMIT in frame {submitted[0]}")

    def _report_seen(self, msg_id: int, stat: bytes, ts_ns: int) -> tuple[int, int] | None:
        """Count the Stat; the (frame, time) of the SUBMIT this report is for, if known."""
        self.stats.stats[stat.decode("ascii", "backslashreplace")] += 1
        submitted = self._reports.pop(msg_id, None)
        if submitted is not None:
            self.stats.submit_to_report.add(ts_ns - submitted[1])
        return submitted

    def _unanswered(self, sess: Session, frame: int, cmd: int, seq: int) -> None:
        sess.unanswered += 1
        if request_of(cmd) == CommandId.CMPP_SUBMIT:
            self._submits.pop((sess.id, seq), None)
        self.stats.command(command_name(request_of(cmd))).unanswered += 1
        sess.stats.command(command_name(request_of(cmd))).unanswered += 1
        self._note(Severity.WARN, frame, sess.id, "unanswered",
                   f"{command_name(cmd)} Sequence_Id {seq} got no response")

    def _skipped(self, sess: Session, direction: bool, size: int, frame: int,
                 reason: str) -> None:
        """Count skipped bytes into the direction's running finding (one per run).

        An empty ``reason`` means the session was found not to be CMPP.
        """
        sess.skipped_bytes += size
        running = sess.skipping.get(direction)
        if running is None:
            reason = reason or "no CMPP header here: the connection is not CMPP, not decoded"
            item = self._note(Severity.WARN, frame, sess.id, "skipped-bytes", "")
            if item is None:
                return
            running = sess.skipping[direction] = item
            running.size = 0
            running.reason = reason
        running.size += size
        running.message = f"{running.size} bytes skipped: {running.reason}"

    def _note(self, severity: Severity, frame: int | None, session: int | None, code: str,
              message: str) -> ExpertItem | None:
        """Record a finding; returns it, or None once ``max_expert`` are stored."""
        self.expert_counts[(severity, code)] += 1
        if session is not None:
            sess = self.sessions.get(session)
            if sess is not None:
                sess.expert[severity.name] += 1
        if len(self.expert) < self.max_expert:
            item = ExpertItem(severity, frame, session, message, code)
            self.expert.append(item)
            return item
        if "expert" not in self._caps_hit:
            self._caps_hit.add("expert")
            self.expert_counts[(Severity.NOTE, "cap-expert")] += 1
            self.expert.append(ExpertItem(
                Severity.NOTE, frame, None, f"more than {self.max_expert} expert findings: "
                "the rest are counted by kind but not listed", "cap-expert"))
        return None

    def _cap(self, what: str, frame: int | None, session: int | None, message: str) -> None:
        """A state cap was reached: one finding the first time, so memory stays bounded."""
        if what not in self._caps_hit:
            self._caps_hit.add(what)
            if self._note(Severity.WARN, frame, session, f"cap-{what}", message) is None:
                # Listed even past max_expert: there is one per kind of cap, and a cap that
                # was hit must never go unseen.
                self.expert.append(ExpertItem(Severity.WARN, frame, session, message,
                                              f"cap-{what}"))

    # -- long SMS ---------------------------------------------------------------------------

    def _long_sms_part(self, rec: PduRecord) -> None:
        fields = rec.pdu.fields
        content = rec.pdu.content  # its UDH was parsed with it, since TP_udhi says there is one
        udh = content.udh if content is not None else None
        if udh is None or udh.concat is None:
            return
        c = udh.concat
        if c.total < 2 or not 1 <= c.part <= c.total:
            return
        if rec.pdu.Command_Id == CommandId.CMPP_SUBMIT:
            sender = _text(fields.get("Src_Id", b""))
            msg_src = _text(fields.get("Msg_src", b""))
            if msg_src:
                sender = f"{msg_src}/{sender}"
            recipients = tuple(_text(d) for d in fields.get("Dest_terminal_Id", ()))
        else:
            sender = _text(fields.get("Src_terminal_Id", b""))
            recipients = (_text(fields.get("Dest_Id", b"")),)
        payload = content.payload if content is not None else b""
        part = Part(rec.frame, rec.ts_ns, fields.get("Msg_Fmt", 0), payload,
                    content.text if content is not None else None)
        done, given_up = self.long_sms.add(rec.command, sender, recipients, c.reference,
                                           c.total, c.part, part)
        if done is not None:
            rec.long_sms = done
            if done.duplicates:
                rec.expert.append(Finding(Severity.NOTE, "long-sms-duplicate",
                                          f"{done.describe()}: {done.duplicates} part(s) sent "
                                          "more than once"))
        if given_up is not None:
            self._cap("long-sms", rec.frame, rec.session,
                      f"more than {self.long_sms.max_pending} long SMS being assembled; "
                      "the oldest are given up")
            self._incomplete_sms(given_up, "when the assembly cap was reached")
        for msg in self.long_sms.expire(rec.ts_ns, self.long_sms_timeout_ns):
            self._incomplete_sms(msg, f"within {self.long_sms_timeout_ns / 1e9:g} s")

    def _incomplete_sms(self, msg: LongSms, when: str) -> None:
        missing = msg.missing
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        self._note(Severity.WARN, msg.first_frame, None, "long-sms-incomplete",
                   f"{msg.describe()}: part(s) {shown} never seen {when} "
                   f"(have frames {', '.join(map(str, msg.frames[:10]))})")

    # -- sessions past the cap ----------------------------------------------------------------

    def _retire(self) -> None:
        """Drop the oldest ended session (or the oldest) from ``sessions``, keeping its totals."""
        victim = None
        while self._ended and victim is None:  # the earliest ended, without scanning them all
            victim = self.sessions.get(self._ended.popitem(last=False)[0])
        if victim is None:
            victim = next(iter(self.sessions.values()))
            self._close_session(victim, None)
            victim.ended = "evicted"
        del self.sessions[victim.id]
        self.retired_sessions += 1
        for name, entry in victim.stats.commands.items():
            self.retired.command(name).absorb(entry)
        self._cap("sessions", None, None,
                  f"more than {self.max_sessions} sessions: the oldest are dropped from the "
                  "session list (their PDUs still count in the totals)")

    def add_capture_notes(self, notes: Iterable[CaptureNote]) -> None:
        """The reader's findings (a truncated file, a damaged record), listed and counted."""
        for note in notes:
            severity = Severity.__members__.get(note.severity.upper(), Severity.WARN)
            self._note(severity, note.frame, None, "capture", note.message)

    # -- views for outputs ----------------------------------------------------------------------

    def command_summary(self) -> dict[str, dict[str, Any]]:
        """Per request type: the counters and the latency summary over every session."""
        out: dict[str, dict[str, Any]] = {}
        for name, entry in sorted(self.stats.commands.items()):
            parts = [s.stats.commands[name].latency.samples_ns
                     for s in self.sessions.values() if name in s.stats.commands]
            retired = self.retired.commands.get(name)
            if retired is not None:
                parts.append(retired.latency.samples_ns)
            out[name] = {**entry.counters(), "latency_ms": summarize_ms(parts)}
        return out


def _text(value: bytes) -> str:
    return value.decode("ascii", "backslashreplace")


__all__ = ["Analyzer", "CommandStats", "ExpertItem", "PduRecord", "Session"]
