"""The analysis engine: the compiled core plus what only Python does, sans-IO.

:class:`Engine` takes the bytes of a capture (:meth:`Engine.feed`, any chunking) and gives
back, per call, a :class:`Batch`: the PDU rows the core kept (with ``keep_rows``), and the
findings on them. Everything common happens in the core (:class:`cmppdissect.core.Core`);
this class handles what the core hands up, which is rare by design:

* the words of every finding, the bounded expert list (:mod:`.findings`),
* logins: the SP id, the login result, authenticators checked against ``secrets``,
* the full decode of a PDU the core could not vouch for, whose findings are listed,
* per-session names and counts that the report shows besides the core's numbers.

It does no I/O: a test drives it with bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cmppdissect.core import Core
from cmppdissect.core._engine import (
    CAP_NAMES,
    EV_CARRIERS,
    EV_DECODE,
    EV_LONG_DONE,
    EV_NOTE,
    EV_RECORD,
    EV_RETIRED,
    EV_SESSION,
    EV_SKIP,
    EV_SKIP_RESET,
    NEAR_NAMES,
    NOTE_CAP,
    NOTE_CAPTURE_GAP,
    NOTE_HEARTBEAT_MISSED,
    NOTE_HEARTBEAT_NEVER,
    NOTE_INCOMPLETE_PDU,
    NOTE_LONG_INCOMPLETE,
    NOTE_RETRANSMISSION,
    NOTE_UNANSWERED,
    REC_ANSWER_OTHER_CONNECTION,
    REC_ANSWERED_TWICE,
    REC_IDLE_GAP,
    REC_LATE_RESPONSE,
    REC_LONG_DUPLICATE,
    REC_LONG_RESENT,
    REC_ORPHAN,
    REC_RECONNECT_STORM,
    REC_REPORT_DUPLICATE,
    REC_REPORT_NEAR_MISS,
    REC_REPORT_OTHER_CONNECTION,
    REC_REPORT_UNMATCHED,
    REC_SEQUENCE_BACKWARDS,
    REC_SEQUENCE_BOTH_WAYS,
    REC_SEQUENCE_REUSED,
    REC_WINDOW,
    ROW_FIELDS,
    ROW_SIZE,
)
from cmppdissect.core.records import CaptureLayout, CaptureNote, format_endpoint
from cmppdissect.engine import findings as words
from cmppdissect.engine.findings import ExpertItem, ExpertList
from cmppdissect.engine.sketch import Sketches
from cmppdissect.protocol.codes import code_name
from cmppdissect.protocol.commands import DEFAULT_PORTS, CommandId
from cmppdissect.protocol.decode import decode_pdu
from cmppdissect.protocol.expert import Finding, Severity
from cmppdissect.protocol.version import Version

__all__ = ["ROW_DTYPE", "Batch", "Engine", "SessionNames", "SessionState"]

ROW_DTYPE = np.dtype({"names": [n for n, _t, _o in ROW_FIELDS],
                      "formats": [t for _n, t, _o in ROW_FIELDS],
                      "offsets": [o for _n, _t, o in ROW_FIELDS], "itemsize": ROW_SIZE})
"""The core's rows as numpy reads them (the layout is the core's own: one statement)."""

_VERSIONS = {None: 0, Version.V2_0: 20, Version.V3_0: 30}

REPORT_DELAY_S = 600.0
"""How long a status report may plausibly take after its SUBMIT (most come within seconds,
a handset that is off delays it): a report matching no SUBMIT that came sooner after the
capture's start may be for a SUBMIT sent before the capture (``report_delay_s``)."""
_HINT = {0: None, 20: Version.V2_0, 30: Version.V3_0}


@dataclass(slots=True)
class SessionNames:
    """What Python knows of a session besides the core's numbers."""

    client: str
    server: str
    sp_id: str | None = None
    login: str | None = None  # "ok", "failed (Status N: ...)", None: no CONNECT_RESP seen
    connect_auth: bytes | None = None  # AuthenticatorSource, to check CONNECT_RESP
    # With --secret: the form of AuthenticatorSource (CONNECT) and of AuthenticatorISMG
    # (CONNECT_RESP) that matched.
    auth_source: str | None = None
    auth_ismg: str | None = None
    expert: Counter[str] = field(default_factory=Counter)  # findings by severity name


@dataclass(frozen=True, slots=True)
class SessionState:
    """One session as the engine sees it now (a snapshot: ask again for fresh numbers)."""

    id: int
    client: str
    server: str
    sp_id: str | None
    version: Version | None
    version_source: str | None  # "CONNECT", "lengths" or "user"
    login: str | None
    ended: str | None  # "fin", "rst", "reused", "evicted", "end-of-capture", None: open
    start_ns: int
    end_ns: int
    pdus_from_client: int
    pdus_from_server: int
    errors: int
    unanswered: int
    saw_syn: bool
    cmpp: bool  # False: the stream did not start with a CMPP header, so it was not decoded
    tcp: Any  # the connection's TCP counters (ConnStats) once it ended, else None
    skipped_bytes: int
    gaps: int
    max_window: int

    @property
    def total_pdus(self) -> int:
        return self.pdus_from_client + self.pdus_from_server

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def __repr__(self) -> str:
        """One line (a notebook shows a list of them): id, endpoints, version, SP, counts.
        Wire text (the SP id) is shown by ``repr``, so a control character stays escaped."""
        version = "?" if self.version is None else self.version.value
        sp = "" if self.sp_id is None else f" sp={self.sp_id!r}"
        ended = "open" if self.ended is None else self.ended
        return (f"<Session {self.id} {self.client} -> {self.server} CMPP {version}{sp}: "
                f"{self.total_pdus} PDUs, {self.errors} errors, {self.unanswered} unanswered, "
                f"{ended}>")


_NO_LINKS = np.empty((0, 3), np.int64)
_NO_PAIRS = np.empty((0, 2), np.int64)


@dataclass(slots=True)
class Batch:
    """What one :meth:`Engine.feed` produced for a store (rows only with ``keep_rows``).

    ``findings`` holds the engine's findings on rows (logins, pairing, long-SMS duplicates) in
    the order they arose; ``report_for`` the rows that are status reports matched to a SUBMIT
    (with that SUBMIT's frame: the finding is worded from the row's own bytes when shown);
    ``links`` the requests answered in this batch (request row, response row, latency ns);
    ``long_sms`` the rows that completed a long message (reference, total, part rows);
    ``long_given_up`` the long messages the core gave up on, timed out or evicted while a row
    was read or at the end (that row, or the rows read; reference, total, the part rows seen);
    ``severity`` the worst finding known per row, where it is warn or worse; ``unanswered``
    the request rows the core gave up on; ``sessions`` the sessions opened (their endpoints),
    ``retired`` those dropped from the session list past ``max_sessions``;
    ``carriers`` (engine made with ``carriers``) the record offsets of every frame that carried
    bytes of a row, for the rows whose bytes did not all come in the row's own frame.
    """

    first_row: int = 0
    rows: np.ndarray = field(default_factory=lambda: np.empty(0, ROW_DTYPE))
    raw: bytes = b""
    findings: dict[int, list[Finding]] = field(default_factory=dict)
    report_for: np.ndarray = field(default_factory=lambda: _NO_PAIRS)  # (row, frame) rows
    links: np.ndarray = field(default_factory=lambda: _NO_LINKS)  # (request, response, ns)
    long_sms: dict[int, tuple[int, int, list[int]]] = field(default_factory=dict)
    long_given_up: list[tuple[int, int, int, list[int]]] = field(default_factory=list)
    severity: dict[int, int] = field(default_factory=dict)
    unanswered: list[int] = field(default_factory=list)
    sessions: dict[int, tuple[str, str]] = field(default_factory=dict)  # opened: client, server
    retired: list[int] = field(default_factory=list)  # sessions dropped past max_sessions
    carriers: dict[int, tuple[int, ...]] = field(default_factory=dict)


class Engine:
    """One capture being analysed (one instance per capture).

    ``offsets``: the bytes fed are a regular uncompressed file read from its start, so each
    row can name where its frame's record is (the store's ``offset``); ``carriers`` adds, for
    the PDUs split over several frames, every frame that carried them (what ``-w`` writes).
    """

    def __init__(self, *, ports: Iterable[int] = DEFAULT_PORTS, version: Version | None = None,
                 timeout_s: float = 60.0, secrets: Mapping[str, str] | None = None,
                 heuristic: bool = True, long_sms_timeout_s: float = 600.0,
                 max_sessions: int = 20_000, max_expert: int = 100_000,
                 max_awaiting_reports: int = 200_000, max_pending: int = 65536,
                 max_long_sms: int = 50_000, keep_rows: bool = False, pdu_limit: int = 0,
                 tracker_caps: Mapping[str, int] | None = None,
                 notes: list[CaptureNote] | None = None, offsets: bool = False,
                 carriers: bool = False, max_report_keys: int = 10_000,
                 report_delay_s: float = REPORT_DELAY_S,
                 max_report_listed: int = 1000, max_lost: int = 10_000,
                 max_samples: int = 0, max_rate_slots: int = 86_400) -> None:
        self.settings: dict[str, Any] = {
            "max_samples": max_samples,
            "max_report_keys": max_report_keys, "report_delay_s": report_delay_s,
            "max_lost": max_lost,
            "max_report_listed": max_report_listed,
            "ports": tuple(ports), "version": version, "timeout_s": timeout_s,
            "secrets": secrets, "heuristic": heuristic, "long_sms_timeout_s": long_sms_timeout_s,
            "max_sessions": max_sessions, "max_expert": max_expert,
            "max_awaiting_reports": max_awaiting_reports, "max_pending": max_pending,
            "max_long_sms": max_long_sms}
        self.timeout_ns = int(timeout_s * 1e9)
        self.secrets = dict(secrets or {})
        # The reader's findings, and the source's (a read error): one list, in the order found.
        self.notes: list[CaptureNote] = notes if notes is not None else []
        self.core = Core(ports=tuple(ports), version=_VERSIONS[version],
                         timeout_ns=self.timeout_ns, heuristic=heuristic,
                         long_sms_timeout_ns=int(long_sms_timeout_s * 1e9),
                         max_sessions=max_sessions, max_awaiting_reports=max_awaiting_reports,
                         max_pending=max_pending, max_long_sms=max_long_sms,
                         keep_rows=keep_rows, pdu_limit=pdu_limit,
                         tracker_caps=dict(tracker_caps or {}), notes=self.notes,
                         offsets=offsets, carriers=carriers, max_report_keys=max_report_keys,
                         max_lost=max_lost, max_rate_slots=max_rate_slots)
        self.keep_rows = keep_rows
        # Latency and delay samples past max_samples held by the core, folded (0: exact).
        self.sketches = Sketches(max_samples)
        self.report_delay_s = report_delay_s
        # Reports that did not simply match their SUBMIT, listed (the first
        # max_report_listed of each kind; the core counts them all).
        self.max_report_listed = max_report_listed
        self.report_lists: dict[str, list[dict[str, Any]]] = {
            "unmatched": [], "duplicates": [], "other_connection": [], "near_misses": []}
        # Per unmatched report listed: its near-miss candidates ((Msg_Id key, NEAR_* rule),
        # in the order the core tried them) and the index of the one that found a SUBMIT, or
        # -1, and the report's row: what a merge of hosts tries against the other hosts'
        # SUBMITs (the row orders it among the PDUs of its time).
        self.near_candidates: list[tuple[tuple[tuple[int, int], ...], int, int]] = []
        # Counted for every such report (listed or not): "unmatched-early" (may be for a
        # SUBMIT before the capture), "near-RULE" per near-miss rule.
        self.report_counts: Counter[str] = Counter()
        # Logins by (SP id, CONNECT_RESP Status), every session's (retired ones too): at most
        # max_report_keys keys, the logins past them counted by Status alone.
        self.logins: Counter[tuple[str | None, int]] = Counter()
        self.logins_folded: Counter[int] = Counter()
        self.max_login_keys = max_report_keys
        self.sessions: dict[int, SessionNames] = {}
        self.expert = ExpertList(max_expert, self._session_note)
        self._running: dict[tuple[int, bool], ExpertItem | None] = {}
        self.finished = False
        self._notes_added = 0

    # -- input ------------------------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> Batch:
        """Analyse the next chunk of capture bytes; what it produced."""
        self.core.feed(data)
        return self._take()

    def finish(self, *, cut: bool = False) -> Batch:
        """The end of the capture: everything still open is closed and reported. ``cut``:
        reading stopped before the end (``-c``), so requests still waiting are in flight, not
        unanswered (``core.in_flight_at_stop`` counts them)."""
        if self.finished:
            return Batch(first_row=self.core.rows)
        self.finished = True
        self.core.finish(cut)
        batch = self._take()
        self.add_capture_notes()
        return batch

    def add_capture_notes(self) -> None:
        """The reader's and the source's findings (a truncated file, a damaged record)."""
        for note in self.notes[self._notes_added:]:
            severity = Severity.__members__.get(note.severity.upper(), Severity.WARN)
            self.expert.note(severity, note.frame, None, "capture", note.message)
        self._notes_added = len(self.notes)

    def session(self, sid: int) -> SessionState | None:
        """A session still in the list (None once dropped past ``max_sessions``)."""
        s = self.core.session(sid)
        names = self.sessions.get(sid)
        if s is None or names is None:
            return None
        return SessionState(
            sid, names.client, names.server, names.sp_id,
            Version(s["version"]) if s["version"] else None, s["version_source"], names.login,
            s["ended"], s["start_ns"], s["end_ns"], s["pdus_from_client"],
            s["pdus_from_server"], s["errors"], s["unanswered"], s["saw_syn"], s["cmpp"],
            s["tcp"], s["skipped_bytes"], s["gaps"], s["max_window"])

    def session_states(self) -> list[SessionState]:
        """Every session in the list, in the order they were opened."""
        out = []
        for sid in self.core.session_ids():
            state = self.session(sid)
            if state is not None:
                out.append(state)
        return out

    @property
    def expert_counts(self) -> Counter[tuple[Severity, str]]:
        """Every finding by (severity, code), listed or not (the report's expert_counts)."""
        counts = self.expert.counts.copy()
        if self.core.report_for:
            counts[(Severity.CHAT, "report-for")] += self.core.report_for
        return counts

    def capture_layout(self) -> CaptureLayout | None:
        """What re-reading a frame's record needs (None before the capture's header)."""
        return self.core.capture_layout()

    @property
    def stopped(self) -> bool:
        """True once ``pdu_limit`` PDUs were analysed (the rest of the input is not read)."""
        return bool(self.core.stopped)

    # -- events -----------------------------------------------------------------------------------

    def _take(self) -> Batch:
        events, rows, raw, links, reports = self.core.take()
        batch = Batch(first_row=self.core.rows)
        if rows:
            batch.rows = np.frombuffer(rows, ROW_DTYPE)
            batch.first_row = self.core.rows - len(batch.rows)
            batch.raw = raw
        if links:
            batch.links = np.frombuffer(links, np.int64).reshape(-1, 3)
        if reports:
            batch.report_for = np.frombuffer(reports, np.int64).reshape(-1, 2)
        if events:
            self._events(events, batch)
        if self.sketches.budget and self.core.samples_held > self.sketches.budget:
            if not self.sketches:
                self.expert.cap("samples", None, None,
                                words.cap_message("samples", self.settings))
            self.sketches.fold(self.core.drain_samples())
        return batch

    def _events(self, events: list[tuple[Any, ...]], batch: Batch) -> None:
        note = self.expert.note
        for ev in events:
            kind = ev[0]
            if kind == EV_NOTE:
                self._note(ev, batch)
            elif kind == EV_RECORD:
                self._record(ev, batch)
            elif kind == EV_DECODE:
                self._decode(ev, batch)
            elif kind == EV_SKIP:
                self._skip(ev)
            elif kind == EV_SKIP_RESET:
                self._running.pop((ev[1], ev[2]), None)
            elif kind == EV_SESSION:
                _, sid, caddr, cport, saddr, sport = ev
                names = SessionNames(format_endpoint(caddr, cport), format_endpoint(saddr, sport))
                self.sessions[sid] = names
                batch.sessions[sid] = (names.client, names.server)
            elif kind == EV_RETIRED:
                self.sessions.pop(ev[1], None)
                self.sketches.retire(ev[1])
                batch.retired.append(ev[1])
                self._running.pop((ev[1], True), None)
                self._running.pop((ev[1], False), None)
            elif kind == EV_LONG_DONE:
                if ev[6]:
                    batch.long_sms[ev[1]] = (ev[2], ev[3], list(ev[4]))
                else:
                    batch.long_given_up.append((ev[1], ev[2], ev[3], list(ev[4])))
            elif kind == EV_CARRIERS:
                batch.carriers[ev[1]] = ev[2]
            else:  # pragma: no cover - the core has no other kinds
                note(Severity.ERROR, None, None, "internal", f"unknown core event {ev!r}")

    def _session_note(self, session: int, severity: Severity) -> None:
        names = self.sessions.get(session)
        if names is not None:
            names.expert[severity.name] += 1

    def _note(self, ev: tuple[Any, ...], batch: Batch) -> None:
        _, code, frame, sid, a, b, c = ev
        frame = frame or None
        note = self.expert.note
        if code == NOTE_UNANSWERED:
            note(Severity.WARN, frame, sid, "unanswered", words.unanswered(a, b))
            if self.keep_rows:
                batch.unanswered.extend(c if isinstance(c, tuple) else (c,))
        elif code == NOTE_CAPTURE_GAP:
            note(Severity.WARN, frame, sid, "capture-gap", words.capture_gap(a, b))
        elif code == NOTE_RETRANSMISSION:
            note(Severity.NOTE, frame, sid, "tcp-retransmission", words.retransmission(a, b))
        elif code == NOTE_INCOMPLETE_PDU:
            note(Severity.WARN, frame, sid, "incomplete-pdu", words.incomplete_pdu(a, b, c))
        elif code == NOTE_CAP:
            what = CAP_NAMES[a]
            tracker = self.core.tracker
            settings = {**self.settings, "max_connections": tracker.max_connections,
                        "max_buffered_total": tracker.max_buffered_total,
                        "max_pieces_total": tracker.max_pieces_total}
            self.expert.cap(what, frame, sid, words.cap_message(what, settings))
        elif code == NOTE_LONG_INCOMPLETE:
            note(Severity.WARN, frame, None, "long-sms-incomplete",
                 words.long_sms_incomplete(c, a, b))
        elif code == NOTE_HEARTBEAT_MISSED:
            note(Severity.WARN, frame, sid, "heartbeat-missed", words.heartbeat_missed(a, b))
        elif code == NOTE_HEARTBEAT_NEVER:
            note(Severity.WARN, frame, sid, "heartbeat-never", words.heartbeat_never(a, b))

    def _record(self, ev: tuple[Any, ...], batch: Batch) -> None:
        _, row, code, frame, sid, a, b, c = ev
        if code == REC_ORPHAN:
            finding = Finding(Severity.WARN, "orphan-response", words.orphan_response(a, b))
        elif code == REC_SEQUENCE_REUSED:
            finding = Finding(Severity.WARN, "sequence-reused", words.sequence_reused(a, b, c),
                              frame=a)
        elif code == REC_WINDOW:
            finding = Finding(Severity.NOTE, "window", words.WINDOW)
        elif code == REC_LONG_DUPLICATE:
            finding = Finding(Severity.NOTE, "long-sms-duplicate",
                              words.long_sms_duplicate(c, a))
        elif code == REC_LONG_RESENT:
            finding = Finding(Severity.NOTE, "long-sms-resent", words.long_sms_resent(c, a, b),
                              frame=a)
        elif code == REC_SEQUENCE_BACKWARDS:
            finding = Finding(Severity.NOTE, "sequence-backwards",
                              words.sequence_backwards(a, b, *c), frame=a)
        elif code == REC_SEQUENCE_BOTH_WAYS:
            finding = Finding(Severity.CHAT, "sequence-both-ways",
                              words.sequence_both_ways(a, b, *c), frame=a)
        elif REC_REPORT_UNMATCHED <= code <= REC_REPORT_NEAR_MISS:
            finding = self._report_record(code, row, frame, sid, a, b, c)
        elif code == REC_LATE_RESPONSE:
            finding = Finding(Severity.WARN, "late-response",
                              words.late_response(a, b, c, self.core.timeout_ns), frame=a)
        elif code == REC_ANSWER_OTHER_CONNECTION:
            finding = Finding(Severity.WARN, "answer-other-connection",
                              words.answer_other_connection(a, b, c), frame=a)
        elif code == REC_ANSWERED_TWICE:
            duplicate = c == (0, 0)
            finding = Finding(Severity.WARN if duplicate else Severity.NOTE,
                              "duplicate-accepted" if duplicate else "answered-twice",
                              words.answered_twice(a, b, *c), frame=a)
        elif code == REC_IDLE_GAP:
            finding = Finding(Severity.NOTE, "idle-gap",
                              words.idle_gap(a, b, self.core.idle_ns), frame=b)
        elif code == REC_RECONNECT_STORM:
            names = self.sessions.get(sid)
            finding = Finding(Severity.WARN, "reconnect-storm",
                              words.reconnect_storm(names.sp_id if names else None, a, b))
        else:  # pragma: no cover - the core has no other codes
            return
        self._on_record(row, frame, sid, finding, batch)

    def _listed(self, kind: str, item: dict[str, Any]) -> None:
        listing = self.report_lists[kind]
        if len(listing) < self.max_report_listed:
            listing.append(item)

    def _report_record(self, code: int, row: int, frame: int, sid: int, a: Any, b: Any,
                       c: Any) -> Finding:
        """A status report that did not simply match its SUBMIT: its finding, and its
        place in the reconciliation's listings."""
        names = self.sessions.get(sid)
        sp = names.sp_id if names is not None else None
        if code == REC_REPORT_UNMATCHED:
            stat, recipient, candidates, index = c
            after = b / 1e9
            early = after < self.report_delay_s
            if early:
                self.report_counts["unmatched-early"] += 1
            if len(self.report_lists["unmatched"]) < self.max_report_listed:
                self.near_candidates.append((candidates, index, row))
            self._listed("unmatched", {
                "frame": frame, "session": sid, "sp_id": sp, "msg_id": a,
                "stat": stat.decode("ascii", "backslashreplace"),
                "recipient": recipient.decode("ascii", "backslashreplace"),
                "after_capture_start_s": after, "submit_may_predate_capture": early,
                "near_miss": None})
            # Early ones are what any capture started mid-traffic holds: a chat (counted,
            # on the record, listed in the section), not a flood in the expert list.
            return Finding(Severity.CHAT if early else Severity.WARN, "report-unmatched",
                           words.report_unmatched(a, stat, recipient, after,
                                                  self.report_delay_s))
        if code == REC_REPORT_DUPLICATE:
            submit_frame, stat = c
            self._listed("duplicates", {
                "frame": frame, "session": sid, "sp_id": sp, "msg_id": a,
                "stat": stat.decode("ascii", "backslashreplace"), "first_frame": b,
                "submit_frame": submit_frame})
            return Finding(Severity.WARN, "report-duplicate",
                           words.report_duplicate(a, b, submit_frame, stat), frame=b)
        if code == REC_REPORT_OTHER_CONNECTION:
            self._listed("other_connection", {
                "frame": frame, "session": sid, "msg_id": c, "submit_frame": a,
                "submit_session": b})
            return Finding(Severity.CHAT, "report-other-connection",
                           words.report_other_connection(a, b, c), frame=a)
        rule = str(NEAR_NAMES[b])
        self.report_counts[f"near-{rule}"] += 1
        msg_id, submit_msg_id, submit_sid = c
        item = {"frame": frame, "session": sid, "rule": rule, "msg_id": msg_id,
                "submit_msg_id": submit_msg_id, "submit_frame": a,
                "submit_session": submit_sid}
        self._listed("near_misses", item)
        unmatched = self.report_lists["unmatched"]
        if unmatched and unmatched[-1]["frame"] == frame:
            unmatched[-1]["near_miss"] = rule
        return Finding(Severity.WARN, "report-near-miss",
                       words.report_near_miss(rule, msg_id, submit_msg_id, a), frame=a)

    def _on_record(self, row: int, frame: int, sid: int, finding: Finding, batch: Batch) -> None:
        if finding.severity > Severity.CHAT:
            self.expert.note(finding.severity, frame, sid, finding.code, finding.message)
        else:
            self.expert.counts[(finding.severity, finding.code)] += 1
        if self.keep_rows:
            batch.findings.setdefault(row, []).append(finding)
            if finding.severity >= Severity.WARN:
                batch.severity[row] = max(batch.severity.get(row, -1), int(finding.severity))

    def _skip(self, ev: tuple[Any, ...]) -> None:
        """Skipped bytes: one running finding per run of them, its count kept up to date. It
        sits on the frame that brought the run's first byte and shows those bytes."""
        _, sid, fc, size, frame, why, a, b, special, after, head = ev
        key = (sid, fc)
        running = self._running.get(key)
        if running is None:
            if special == 1:
                reason = words.not_cmpp_reason(why, a, b)
            elif special == 2:
                reason = words.NOT_CMPP
            else:
                from cmppdissect.core import reason_text

                reason = reason_text(why, a, b, after)
            running = self.expert.note(Severity.WARN, frame, sid, "skipped-bytes", "")
            if running is None:
                return
            self._running[key] = running
            running.size = 0
            running.reason = reason
            running.head = head or b""
        running.size += size
        running.message = words.skipped(running.size, running.reason, running.head)

    def _decode(self, ev: tuple[Any, ...], batch: Batch) -> None:
        """A PDU the core could not vouch for, or a login: decode it in full."""
        _, row, frame, _ts, sid, _fc, raw, hint = ev
        pdu = decode_pdu(raw, _HINT[hint])
        worst = -1
        for finding in pdu.findings:
            if finding.severity >= Severity.WARN:
                self.expert.note(finding.severity, frame, sid, finding.code, finding.message)
                worst = max(worst, int(finding.severity))
        if self.keep_rows and worst >= 0:
            batch.severity[row] = max(batch.severity.get(row, -1), worst)
        cmd = pdu.Command_Id
        names = self.sessions.get(sid)
        if names is None or cmd not in (CommandId.CMPP_CONNECT, CommandId.CMPP_CONNECT_RESP):
            return
        from cmppdissect.protocol import auth

        fields = pdu.fields
        check: auth.AuthCheck | None = None
        code = ""
        if cmd == CommandId.CMPP_CONNECT:
            src = fields.get("Source_Addr", b"")
            names.sp_id = src.decode("ascii", "backslashreplace")
            names.connect_auth = fields.get("AuthenticatorSource")
            secret = self.secrets.get(names.sp_id)
            if secret is not None and names.connect_auth is not None:
                check = auth.check_connect(src, names.connect_auth, fields.get("Timestamp", 0),
                                           secret)
                code = "auth-source"
        else:
            status = fields.get("Status")
            if status is not None:
                key = (names.sp_id, int(status))
                if key in self.logins or len(self.logins) < self.max_login_keys:
                    self.logins[key] += 1
                else:
                    self.logins_folded[int(status)] += 1
            if status == 0:
                names.login = "ok"
            elif status is not None:
                names.login = f"failed ({status}: {code_name('connect_status', status)})"
            secret = self.secrets.get(names.sp_id or "")
            if secret is not None and names.connect_auth is not None and status is not None:
                check = auth.check_connect_resp(status, fields.get("AuthenticatorISMG", b""),
                                                names.connect_auth, secret, pdu.version)
                code = "auth-ismg"
        if check is not None:
            if check.ok and check.variant is not None:
                if code == "auth-source":
                    names.auth_source = check.variant
                else:
                    names.auth_ismg = check.variant
            self._on_record(row, frame, sid, Finding(
                Severity.CHAT if check.ok else Severity.ERROR, code, check.message), batch)
