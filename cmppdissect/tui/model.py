"""The TUI's store of a capture: every PDU in columns, sessions and statistics as snapshots.

No Textual here. One writer (the indexing thread, or a live capture) calls :meth:`add` with the
engine's records and :meth:`publish` now and then; the UI thread reads rows below
:attr:`count` and the snapshots, which are replaced whole, never changed in place.

A PDU costs 43 bytes of columns (``array``: frame, time, session, direction, command,
Sequence_Id, length, pair, latency, worst finding, version) plus its raw bytes deflated in
:class:`~cmppdissect.tui.blobs.ChunkedBlobs`. Everything else (fields, text, key columns) is
decoded again from the raw bytes when a row is drawn or opened, which for the 40 rows on a
screen costs less than the terminal takes to paint them. That is how a million PDUs fit
without a dict or a widget per row.
"""

from __future__ import annotations

import bisect
import json
import struct
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cmppdissect.analysis.engine import Analyzer, ExpertItem, PduRecord
from cmppdissect.output.records import record_dict
from cmppdissect.protocol.commands import RESPONSE_BIT, is_response
from cmppdissect.protocol.decode import DecodedPdu, decode_pdu
from cmppdissect.protocol.expert import Finding, Severity
from cmppdissect.protocol.version import Version
from cmppdissect.tui.blobs import ChunkedBlobs

_VERSION_CODE = {None: 0, Version.V2_0: 20, Version.V3_0: 30}
_CODE_VERSION = {0: None, 20: Version.V2_0, 30: Version.V3_0}
_EXTRA_LEN = struct.Struct(">I")
FROM_CLIENT, HAS_EXTRA = 1, 2
NO_PAIR = -1


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One row of the Sessions screen, as of the last publish."""

    id: int
    client: str
    server: str
    sp_id: str | None
    version: str | None
    login: str | None
    start_ns: int
    end_ns: int
    pdus: int
    tps: float
    submit_p50_ms: float | None
    submit_p99_ms: float | None
    errors: int
    unanswered: int
    ended: str | None

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


@dataclass(frozen=True, slots=True)
class Progress:
    """How far indexing has got; ``fraction`` is None when the input size is unknown (live)."""

    fraction: float | None
    done: bool
    paused: bool
    frames: int
    elapsed_s: float
    counters: tuple[tuple[str, int], ...] = ()  # source counters, e.g. captured/dropped
    error: str | None = None
    live: bool = False


@dataclass(frozen=True, slots=True)
class Extra:
    """What a row carries besides its raw bytes: its findings and a completed long SMS."""

    findings: tuple[Finding, ...] = ()
    long_sms: Mapping[str, Any] | None = None


_SEPARATORS = frozenset("\x1d\x1e\x1f")


def _pack_extra(findings: Sequence[Finding], long_sms: Mapping[str, Any] | None) -> bytes:
    """Findings as unit-separated text, which is cheaper than JSON and this runs for every
    status report; JSON when a message holds a separator itself (wire text can) or there is
    a completed long SMS, which is rare."""
    parts = [f"{int(f.severity)}\x1f{f.code}\x1f{f.field or ''}\x1f{f.message}"
             for f in findings]
    if long_sms is None and not any(_SEPARATORS.intersection(p[2:]) for p in parts):
        return b"T" + "\x1e".join(parts).encode()
    doc = {"f": [[int(f.severity), f.code, f.message, f.field] for f in findings],
           "l": long_sms}
    return b"J" + json.dumps(doc, ensure_ascii=False).encode()


def _unpack_extra(data: bytes) -> Extra:
    if data[:1] == b"J":
        doc = json.loads(data[1:])
        return Extra(tuple(Finding(Severity(s), c, m, f) for s, c, m, f in doc["f"]), doc["l"])
    findings = []
    text = data[1:].decode()
    for item in text.split("\x1e") if text else ():
        severity, code, field, message = item.split("\x1f", 3)
        findings.append(Finding(Severity(int(severity)), code, message, field or None))
    return Extra(tuple(findings))


class CaptureModel:
    """Columns of PDUs plus snapshots of sessions, expert findings and the report."""

    def __init__(self, *, name: str = "", max_pending_pairs: int = 200_000) -> None:
        self.name = name
        self.blobs = ChunkedBlobs()
        self.frame: array[int] = array("I")
        self.ts_ns: array[int] = array("q")
        self.session: array[int] = array("I")
        self.flags: array[int] = array("B")
        self.command_id: array[int] = array("I")
        self.sequence_id: array[int] = array("I")
        self.length: array[int] = array("I")
        self.pair: array[int] = array("i")
        self.latency_ns: array[int] = array("q")
        self.severity: array[int] = array("b")
        self.version: array[int] = array("B")
        self.session_rows: dict[int, array[int]] = {}
        self.count = 0
        self.first_ts_ns: int | None = None
        self.frames_sorted = True
        self.sessions: tuple[SessionInfo, ...] = ()
        self.expert: list[ExpertItem] = []
        self.expert_count = 0
        self.report: dict[str, Any] | None = None
        self.report_generation = 0
        self.progress = Progress(None, False, False, 0, 0.0)
        self.generation = 0  # bumped by every publish: the UI redraws when it changes
        self.want_report = threading.Event()
        self.pair_timeout_ns = 60_000_000_000  # the analyzer's --timeout; the app sets it
        self._pending: OrderedDict[tuple[int, bool, int, int], int] = OrderedDict()
        self._max_pending = max_pending_pairs
        self._known_sessions: dict[int, SessionInfo] = {}
        self._session_marks: dict[int, tuple[int, int, int, str | None]] = {}

    # -- writing (one writer thread) ------------------------------------------------------

    def add(self, records: Sequence[PduRecord]) -> None:
        """Append the engine's records; they become visible when :attr:`count` moves.

        This runs once per PDU of the capture, so it is written for speed: methods bound to
        locals, one lock for the batch's bytes, findings packed only when a PDU has some.
        """
        if not records:
            return
        blobs: list[bytes] = []
        frame, ts_ns, session = self.frame, self.ts_ns, self.session
        flags_col, command_col, seq_col = self.flags, self.command_id, self.sequence_id
        pair_col, latency_col = self.pair, self.latency_ns
        pending, session_rows = self._pending, self.session_rows
        version_code = _VERSION_CODE
        row = len(frame)
        if self.first_ts_ns is None:
            self.first_ts_ns = records[0].ts_ns
        last_frame = frame[-1] if frame else -1
        for rec in records:
            pdu = rec.pdu
            raw = pdu.raw
            cmd, seq, sid, from_client = pdu.Command_Id, pdu.Sequence_Id, rec.session, \
                rec.from_client
            flags = FROM_CLIENT if from_client else 0
            worst = -1
            long_sms = rec.long_sms
            if pdu.findings or rec.expert or long_sms is not None:
                findings = (*pdu.findings, *rec.expert)
                if findings:
                    worst = max(int(f.severity) for f in findings)
                flags |= HAS_EXTRA
                summary = None
                if long_sms is not None:
                    summary = {"reference": long_sms.reference, "total": long_sms.total,
                               "frames": long_sms.frames, "text": long_sms.text()}
                blobs.append(_EXTRA_LEN.pack(len(raw)) + raw + _pack_extra(findings, summary))
            else:
                blobs.append(raw)
            if rec.frame < last_frame:
                self.frames_sorted = False
            last_frame = rec.frame
            frame.append(rec.frame)
            ts_ns.append(rec.ts_ns)
            session.append(sid)
            flags_col.append(flags)
            command_col.append(cmd)
            seq_col.append(seq)
            self.length.append(pdu.Total_Length)
            self.severity.append(worst)
            self.version.append(version_code.get(pdu.version, 0))
            partner = NO_PAIR
            latency = -1
            if cmd & RESPONSE_BIT:
                if rec.request_frame is not None:
                    req = pending.pop((sid, not from_client, cmd & ~RESPONSE_BIT, seq), None)
                    if req is None or frame[req] != rec.request_frame:
                        req = self._find_request(rec, cmd & ~RESPONSE_BIT)
                    if req is not None:
                        partner = req
                        latency = -1 if rec.latency_ns is None else rec.latency_ns
                        pair_col[req] = row
                        latency_col[req] = latency
            else:
                key = (sid, from_client, cmd, seq)
                if key not in pending:  # a resend pairs with the first send, as the engine does
                    if len(pending) >= self._max_pending:
                        pending.popitem(last=False)
                    pending[key] = row
            pair_col.append(partner)
            latency_col.append(latency)
            rows = session_rows.get(sid)
            if rows is None:
                rows = session_rows[sid] = array("I")
            rows.append(row)
            row += 1
        self.blobs.extend(blobs)
        self.count = row

    def _find_request(self, rec: PduRecord, request_cmd: int) -> int | None:
        """The request row of a response whose request fell out of the pending table."""
        rows = self.session_rows.get(rec.session, array("I"))
        for i in range(len(rows) - 1, -1, -1):
            r = rows[i]
            if (self.frame[r] == rec.request_frame and self.command_id[r] == request_cmd
                    and self.sequence_id[r] == rec.pdu.Sequence_Id):
                return r
        return None

    def publish(self, analyzer: Analyzer, progress: Progress, *, report: bool = False) -> None:
        """Snapshot what the UI shows besides rows; called by the writer between batches."""
        for sess in analyzer.sessions.values():
            mark = (sess.total_pdus, sess.errors, sess.unanswered, sess.ended)
            if self._session_marks.get(sess.id) == mark and sess.id in self._known_sessions:
                continue
            self._session_marks[sess.id] = mark
            latency = sess.latency_ms("CMPP_SUBMIT")
            self._known_sessions[sess.id] = SessionInfo(
                sess.id, sess.client, sess.server, sess.sp_id,
                sess.version.value if sess.version else None, sess.login, sess.start_ns,
                sess.end_ns, sess.total_pdus, sess.tps, latency["p50"], latency["p99"],
                sess.errors, sess.unanswered, sess.ended)
        self.sessions = tuple(self._known_sessions.values())
        if len(analyzer.expert) > len(self.expert):
            self.expert.extend(analyzer.expert[len(self.expert):])
        self.expert_count = len(self.expert)
        if report:
            from cmppdissect.output.report import build_report

            self.report = build_report(analyzer, details=False)
            self.report_generation += 1
        self.progress = progress
        self.generation += 1

    def touch(self) -> None:
        """Tell the UI that rows arrived, without a full publish (live captures)."""
        self.generation += 1

    def set_progress(self, progress: Progress) -> None:
        self.progress = progress
        self.generation += 1

    # -- reading (UI thread) --------------------------------------------------------------

    def from_client(self, row: int) -> bool:
        return bool(self.flags[row] & FROM_CLIENT)

    def raw(self, row: int) -> bytes:
        data = self.blobs[row]
        if self.flags[row] & HAS_EXTRA:
            (n,) = _EXTRA_LEN.unpack_from(data)
            return data[4:4 + n]
        return data

    def extra(self, row: int) -> Extra:
        if not self.flags[row] & HAS_EXTRA:
            return Extra()
        data = self.blobs[row]
        (n,) = _EXTRA_LEN.unpack_from(data)
        return _unpack_extra(data[4 + n:])

    def pdu(self, row: int) -> DecodedPdu:
        """The PDU decoded again from its bytes, with the findings the engine gave it."""
        pdu = decode_pdu(self.raw(row), _CODE_VERSION.get(self.version[row]))
        pdu.findings = []
        return pdu

    def endpoints(self, row: int) -> tuple[str, str]:
        info = self.session_info(self.session[row])
        if info is None:
            return ("?", "?")
        return (info.client, info.server) if self.from_client(row) else (info.server, info.client)

    def session_info(self, sid: int) -> SessionInfo | None:
        return self._known_sessions.get(sid)

    def record(self, row: int) -> PduRecord:
        """The engine's record for ``row``, rebuilt, with its pair linked both ways as the
        CLI's second pass links it (``long_sms`` stays in :meth:`extra`)."""
        src, dst = self.endpoints(row)
        pair = self.pair[row]
        latency = self.latency_ns[row] if self.latency_ns[row] >= 0 else None
        rec = PduRecord(self.frame[row], self.ts_ns[row], self.session[row],
                        self.from_client(row), src, dst, self.pdu(row),
                        expert=list(self.extra(row).findings))
        if pair != NO_PAIR:
            rec.latency_ns = latency
            if is_response(self.command_id[row]):
                rec.request_frame = self.frame[pair]
            else:
                rec.response_frame = self.frame[pair]
        return rec

    def settled(self, row: int) -> bool:
        """Whether ``row``'s pairing is final: a response, an answered request, or a request
        older than the pairing timeout at the newest PDU (or indexing has finished)."""
        if self.session_info(self.session[row]) is None:
            return False  # rows show before their session is published: src/dst not known yet
        if self.progress.done or self.pair[row] != NO_PAIR or is_response(self.command_id[row]):
            return True
        newest = self.ts_ns[self.count - 1] if self.count else 0
        return newest - self.ts_ns[row] >= self.pair_timeout_ns

    def record_dict(self, row: int) -> dict[str, Any]:
        """What ``-T jsonl`` prints for this PDU: the display filter runs on this."""
        out = record_dict(self.record(row))
        long_sms = self.extra(row).long_sms
        if long_sms is not None:
            expert = out.pop("expert")
            out["long_sms"] = dict(long_sms)
            out["expert"] = expert
        return out

    def lazy_record(self, row: int) -> LazyRecord:
        return LazyRecord(self, row)

    def row_of_frame(self, frame: int) -> int | None:
        """The first PDU completed by ``frame`` (None if that frame completed none)."""
        n = self.count
        if self.frames_sorted:
            i = bisect.bisect_left(self.frame, frame, 0, n)
            return i if i < n and self.frame[i] == frame else None
        for i in range(n):
            if self.frame[i] == frame:
                return i
        return None

    def session_ids(self) -> list[int]:
        return [s.id for s in self.sessions]


class LazyRecord(Mapping[str, Any]):
    """What the display filter reads for a row: header keys from the columns, the rest from
    one decode on first use.

    Filters such as ``command == "CMPP_SUBMIT" and latency_ms > 100`` only touch header keys,
    so filtering a million rows by them never decodes a body. The pairing keys
    (``request_frame``, ``response_frame``, ``latency_ms``) are always present here, ``None``
    when the row has no pair: the filter treats ``None`` exactly as an absent key, and this way
    an unanswered request does not send it looking for the name among the decoded fields.
    """

    __slots__ = ("_full", "_model", "_row")

    _HEADER = ("frame", "time", "session", "src", "dst", "version", "command", "command_id",
               "sequence_id", "total_length", "request_frame", "response_frame", "latency_ms")

    def __init__(self, model: CaptureModel, row: int) -> None:
        self._model = model
        self._row = row
        self._full: dict[str, Any] | None = None

    def _paired(self, response: bool | None = None) -> bool:
        m, row = self._model, self._row
        if m.pair[row] == NO_PAIR:
            return False
        return response is None or is_response(m.command_id[row]) == response

    def __contains__(self, key: object) -> bool:
        if key in self._HEADER or key in ("fields", "expert"):
            return True
        return key in self._decoded()

    def __getitem__(self, key: str) -> Any:
        m, row = self._model, self._row
        if key == "frame":
            return m.frame[row]
        if key == "time":
            return m.ts_ns[row] / 1e9
        if key == "session":
            return m.session[row]
        if key == "command_id":
            return m.command_id[row]
        if key == "command":
            from cmppdissect.protocol.commands import command_name

            return command_name(m.command_id[row])
        if key == "sequence_id":
            return m.sequence_id[row]
        if key in ("src", "dst"):
            return m.endpoints(row)[0 if key == "src" else 1]
        if key == "version":
            version = _CODE_VERSION.get(m.version[row])
            return version.value if version else None
        if key == "total_length":
            return m.length[row]
        if key in ("request_frame", "response_frame"):
            if self._paired(key == "request_frame"):
                return m.frame[m.pair[row]]
            return None
        if key == "latency_ms":
            lat = m.latency_ns[row]
            return lat / 1e6 if self._paired() and lat >= 0 else None
        return self._decoded()[key]

    def _decoded(self) -> dict[str, Any]:
        if self._full is None:
            self._full = self._model.record_dict(self._row)
        return self._full

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())


__all__ = ["CaptureModel", "Extra", "LazyRecord", "Progress", "SessionInfo"]
