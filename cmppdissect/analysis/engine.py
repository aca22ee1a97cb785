"""The analysis engine: TCP segments in, PDU records, sessions and statistics out (sans-IO).

Readers (files, live sniffers) call :meth:`Analyzer.feed` with each
:class:`~cmppdissect.capture.records.TcpSegment` and :meth:`Analyzer.finish` at the end;
outputs (text, JSON, TUI) read the records it returns and its ``sessions``/``stats``. It does
no I/O itself, so a test drives it with records built in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cmppdissect.analysis.pairing import Pairer
from cmppdissect.analysis.stats import Statistics
from cmppdissect.capture.records import (
    ConnectionClosed,
    ConnectionOpened,
    StreamData,
    StreamGap,
    TcpSegment,
)
from cmppdissect.capture.tcp import TcpTracker
from cmppdissect.protocol import auth
from cmppdissect.protocol.codes import code_name
from cmppdissect.protocol.commands import (
    DEFAULT_PORTS,
    CommandId,
    command_name,
    is_response,
    request_of,
)
from cmppdissect.protocol.decode import DecodedPdu, decode_pdu
from cmppdissect.protocol.expert import Finding, Severity
from cmppdissect.protocol.framing import FramedPdu, PduFramer, plausible_header
from cmppdissect.protocol.layouts import VERSIONED_COMMANDS
from cmppdissect.protocol.report import stat_class
from cmppdissect.protocol.version import Version, version_from_byte

_RESULT_FIELDS = ("Result", "Status", "Success_Id")


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
    request_frame: int | None = None
    latency_ns: int | None = None
    expert: list[Finding] = field(default_factory=list)

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
    saw_syn: bool = False
    framers: dict[bool, PduFramer] = field(default_factory=dict)
    pairer: Pairer = field(default_factory=Pairer)
    connect_auth: bytes | None = None  # AuthenticatorSource, to check CONNECT_RESP

    @property
    def total_pdus(self) -> int:
        return self.pdus[True] + self.pdus[False]


class Analyzer:
    """Feed segments, get records. One instance per capture."""

    def __init__(self, *, ports: Iterable[int] = DEFAULT_PORTS, version: Version | None = None,
                 timeout_s: float = 60.0, secrets: Mapping[str, str] | None = None,
                 heuristic: bool = True) -> None:
        self.ports = frozenset(ports)
        self.forced_version = version
        self.timeout_ns = int(timeout_s * 1e9)
        self.secrets = dict(secrets or {})
        self.heuristic = heuristic
        self.tracker = TcpTracker(server_ports=tuple(self.ports))
        self.sessions: dict[int, Session] = {}
        self._pending_conns: dict[int, ConnectionOpened] = {}
        self._ignored: set[int] = set()
        self.stats = Statistics()
        self.expert: list[ExpertItem] = []
        self._reports: dict[int, tuple[int, int]] = {}  # Msg_Id -> (SUBMIT frame, ts)
        self._submits: dict[tuple[int, int], int] = {}  # (session, request frame) -> DestUsr_tl
        self.last_ts = 0

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
            for item in sess.framers[ev.from_client].feed(ev.data, ev.frame, ev.ts_ns):
                if isinstance(item, FramedPdu):
                    out.append(self._pdu(sess, ev.from_client, item))
                else:
                    self._note(Severity.WARN, item.frame, sess.id, "skipped-bytes",
                               f"{item.size} bytes skipped: {item.reason}")
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
                self._note(Severity.WARN, ev.frame, sess.id, "capture-gap",
                           f"{ev.missing} bytes not captured "
                           f"({'client' if ev.from_client else 'server'} side)")
                for item in sess.framers[ev.from_client].gap(ev.missing, ev.frame, ev.ts_ns):
                    self._note(Severity.WARN, item.frame, sess.id, "skipped-bytes",
                               f"{item.size} bytes skipped: {item.reason}")
        elif isinstance(ev, ConnectionClosed):
            self._pending_conns.pop(ev.conn, None)
            sess = self.sessions.get(ev.conn)
            if sess is not None and sess.ended is None:
                self._close_session(sess, ev)

    def _new_session(self, ev: ConnectionOpened) -> Session:
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
        if ev is not None:
            sess.ended = ev.how
            if ev.ts_ns:
                sess.end_ns = max(sess.end_ns, ev.ts_ns)
        elif sess.ended is None:
            sess.ended = "end-of-capture"
        for direction, framer in sess.framers.items():
            for item in framer.close(ev.frame if ev and ev.frame else 0, sess.end_ns):
                self._note(Severity.WARN, item.frame or None, sess.id, "incomplete-pdu",
                           f"{item.size} bytes at the end of the "
                           f"{'client' if direction else 'server'} stream: {item.reason}")
        for exp in sess.pairer.drain():
            self._unanswered(sess, exp.frame, exp.command_id, exp.sequence_id)

    # -- PDUs -------------------------------------------------------------------------------

    def _pdu(self, sess: Session, from_client: bool, framed: FramedPdu) -> PduRecord:
        pdu = decode_pdu(framed.data, sess.version)
        src, dst = (sess.client, sess.server) if from_client else (sess.server, sess.client)
        rec = PduRecord(framed.frame, framed.ts_ns, sess.id, from_client, src, dst, pdu)
        sess.pdus[from_client] += 1
        stats = self.stats
        stats.pdus += 1
        stats.per_second[framed.ts_ns // 1_000_000_000] += 1
        cmd = pdu.Command_Id
        self._learn(sess, pdu, rec)
        for exp in sess.pairer.expire(framed.ts_ns, self.timeout_ns):
            self._unanswered(sess, exp.frame, exp.command_id, exp.sequence_id)
        name = command_name(request_of(cmd))
        entry = stats.command(name)
        if is_response(cmd):
            entry.responses += 1
            paired = sess.pairer.response(from_client, cmd, pdu.Sequence_Id, framed.ts_ns)
            if paired is None:
                entry.orphan_responses += 1
                rec.expert.append(Finding(Severity.WARN, "orphan-response",
                                          f"no request for this {command_name(cmd)} "
                                          f"(Sequence_Id {pdu.Sequence_Id})"))
            else:
                entry.paired += 1
                entry.latency.add(paired.latency_ns)
                rec.request_frame, rec.latency_ns = paired.request_frame, paired.latency_ns
                self._response_fields(sess, rec, paired.request_frame)
            for fname in _RESULT_FIELDS:
                code = pdu.fields.get(fname)
                if code is not None:
                    stats.results[(command_name(cmd), code)] += 1
                    if code != 0:
                        sess.errors += 1
                    break
        else:
            entry.requests += 1
            earlier = sess.pairer.request(from_client, cmd, pdu.Sequence_Id, framed.frame,
                                          framed.ts_ns)
            if earlier is not None:
                entry.retransmitted += 1
                rec.expert.append(Finding(
                    Severity.WARN, "sequence-reused",
                    f"Sequence_Id {pdu.Sequence_Id} reused while frame {earlier.frame}'s "
                    f"{command_name(cmd)} is still unanswered (retransmission?)"))
            window = sess.pairer.window[from_client]
            if window == 17:
                rec.expert.append(Finding(Severity.NOTE, "window",
                                          "more than 16 requests in flight (spec window W=16)"))
            if cmd == CommandId.CMPP_SUBMIT:
                self._submits[(sess.id, framed.frame)] = max(
                    1, len(pdu.fields.get("Dest_terminal_Id", ())))
            if pdu.report is not None:
                self._report(rec)
        for finding in pdu.findings:
            if finding.severity >= Severity.WARN:
                self._note(finding.severity, rec.frame, sess.id, finding.code, finding.message)
        for finding in rec.expert:
            self._note(finding.severity, rec.frame, sess.id, finding.code, finding.message)
        return rec

    def _learn(self, sess: Session, pdu: DecodedPdu, rec: PduRecord) -> None:
        cmd = pdu.Command_Id
        fields = pdu.fields
        if cmd == CommandId.CMPP_CONNECT:
            src = fields.get("Source_Addr", b"")
            sess.sp_id = src.decode("ascii", "backslashreplace")
            sess.connect_auth = fields.get("AuthenticatorSource")
            byte_version = version_from_byte(fields.get("Version", 0))
            if byte_version is not None and sess.version_source != "user":
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
        if pdu.Command_Id == CommandId.CMPP_SUBMIT_RESP and pdu.fields.get("Result") == 0:
            count = self._submits.pop((sess.id, request_frame), 1)
            first = pdu.fields.get("Msg_Id", 0)
            for i in range(count):
                self._reports[(first + i) & 0xFFFFFFFFFFFFFFFF] = (request_frame, rec.ts_ns)
        else:
            self._submits.pop((sess.id, request_frame), None)

    def _report(self, rec: PduRecord) -> None:
        report = rec.pdu.report or {}
        stat = report.get("Stat", b"").decode("ascii", "backslashreplace")
        self.stats.stats[stat] += 1
        submitted = self._reports.pop(report.get("Msg_Id", -1), None)
        if submitted is not None:
            self.stats.submit_to_report.add(rec.ts_ns - submitted[1])
            rec.expert.append(Finding(Severity.CHAT, "report-for",
                                      f"status report {stat} ({stat_class(stat)}) for the "
                                      f"SUBMIT in frame {submitted[0]}"))

    def _unanswered(self, sess: Session, frame: int, cmd: int, seq: int) -> None:
        sess.unanswered += 1
        self.stats.command(command_name(request_of(cmd))).unanswered += 1
        self._note(Severity.WARN, frame, sess.id, "unanswered",
                   f"{command_name(cmd)} Sequence_Id {seq} got no response")

    def _note(self, severity: Severity, frame: int | None, session: int | None, code: str,
              message: str) -> None:
        self.expert.append(ExpertItem(severity, frame, session, message, code))


__all__ = ["Analyzer", "ExpertItem", "PduRecord", "Session"]
