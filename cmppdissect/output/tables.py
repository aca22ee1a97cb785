"""The three tables of a capture as Arrow record batches: PDUs, transactions, sessions.

What ``--parquet DIR`` writes and what ``Analysis.to_arrow()``/``to_pandas()`` return, built
here once. The PDU table's columns are the record schema's flat form
(:func:`cmppdissect.store.schema.flat_columns`, derived from the layouts), typed from each
field's Kind and size; its values come from the store's numpy columns (frame, time, session,
pairs: whole arrays, no row loop) and from :func:`~cmppdissect.store.schema.record_dict` (text,
numbers), with the raw bytes of binary fields and of each PDU.

The builder is fed the store's settled rows piece by piece (:meth:`TableBuilder.add`) and hands
back batches as soon as they are complete, so a writer can stream them to disk: it holds at
most one piece of PDUs, and of transactions only those whose SUBMIT still waits for its
recipients' status reports (at most ``max_waiting`` recipients; past that the oldest row is
written without the rest) and a few numbers of each long-SMS part whose message is not complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from cmppdissect.engine.stats import SUMMARY_KEYS
from cmppdissect.protocol.commands import RESPONSE_BIT, CommandId, command_name
from cmppdissect.protocol.layouts import Kind, report_layout, result_of
from cmppdissect.query.dfilter import compile_filter
from cmppdissect.store import RESEND, PduRecord, PduStore, RecordView
from cmppdissect.store.records import RecordColumns, records_between
from cmppdissect.store.schema import (
    CONTENT_KEYS,
    HEADER_KEYS,
    flat_columns,
    flat_plan,
    octet_text,
    record_dict,
)
from cmppdissect.store.store import GIVEN_UP

if TYPE_CHECKING:
    from cmppdissect.engine import Engine
    from cmppdissect.protocol.decode import DecodedPdu
    from cmppdissect.query import DisplayFilter

__all__ = ["RECIPIENT_FIELDS", "SESSION_SCHEMA", "TABLES", "TRANSACTION_SCHEMA", "TableBuilder",
           "arrow_type", "long_outcome", "pdu_schema", "schema_of", "session_batch"]

TABLES = ("pdus", "transactions", "sessions")

_UINT = {1: pa.uint8(), 2: pa.uint16(), 4: pa.uint32(), 8: pa.uint64()}
_INT = {1: pa.int8(), 2: pa.int16(), 4: pa.int32(), 8: pa.int64()}
_TIME = pa.timestamp("ns", tz="UTC")
_EXPERT = pa.list_(pa.struct([("severity", pa.string()), ("code", pa.string()),
                              ("message", pa.string()), ("field", pa.string())]))


def arrow_type(kind: Kind, size: int) -> pa.DataType:
    """The Arrow type of a field of ``kind`` and ``size`` bytes: numbers as wide as the field,
    Octet Strings as their text, binary fields and Msg_Content as bytes."""
    if kind is Kind.UINT:
        return _UINT[size]
    if kind is Kind.INT:
        return _INT[size]
    if kind is Kind.STR:
        return pa.string()
    if kind is Kind.STR_ARRAY:
        return pa.list_(pa.string())
    return pa.binary()


_HEADER_TYPES: dict[str, pa.DataType] = {
    "frame": pa.uint32(), "time": _TIME, "session": pa.uint32(), "src": pa.string(),
    "dst": pa.string(), "version": pa.string(), "command": pa.string(),
    "command_id": pa.uint32(), "sequence_id": pa.uint32(), "total_length": pa.uint32(),
    "request_frame": pa.uint32(), "response_frame": pa.uint32(), "latency_ms": pa.float64()}
_CONTENT_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(), "udh_reference": pa.uint16(), "udh_total": pa.uint8(),
    "udh_part": pa.uint8(), "trailing": pa.binary(), "long_sms_text": pa.string(),
    "expert": _EXPERT, "raw": pa.binary()}
_PDU_SCHEMA: pa.Schema | None = None


def pdu_schema() -> pa.Schema:
    """The PDU table: the record's header keys, every field of every layout (the flat form),
    then decoded content, findings and the PDU's bytes."""
    global _PDU_SCHEMA
    if _PDU_SCHEMA is None:
        _PDU_SCHEMA = pa.schema(
            [(key, _HEADER_TYPES[key]) for key in HEADER_KEYS]
            + [(c.name, arrow_type(c.kind, c.size)) for c in flat_columns()]
            + [(key, _CONTENT_TYPES[key]) for key in CONTENT_KEYS])
    return _PDU_SCHEMA


_RECIPIENT = pa.struct([
    ("Dest_terminal_Id", pa.string()), ("Msg_Id", pa.uint64()), ("report_frame", pa.uint32()),
    ("report_stat", pa.string()), ("report_done_time", pa.string()),
    ("report_delay_ms", pa.float64())])
RECIPIENT_FIELDS: tuple[str, ...] = tuple(f.name for f in _RECIPIENT)
"""A SUBMIT's recipient in the ``recipients`` column: its number, its Msg_Id (the
SUBMIT_RESP's plus its index, as the engine matches reports) and its own first status report
(the frame, Stat, Done_time and delay from the SUBMIT)."""

TRANSACTION_SCHEMA = pa.schema([
    ("session", pa.uint32()), ("command", pa.string()), ("sequence_id", pa.uint32()),
    ("request_frame", pa.uint32()), ("request_time", _TIME),
    ("response_frame", pa.uint32()), ("response_time", _TIME), ("latency_ms", pa.float64()),
    ("result", pa.uint32()), ("result_name", pa.string()),
    # SUBMIT: the Msg_Id its response gave, and its first recipient's status report.
    ("Msg_Id", pa.uint64()), ("report_frame", pa.uint32()), ("report_stat", pa.string()),
    ("report_delay_ms", pa.float64()), ("report_done_time", pa.string()),
    # ... every recipient with its own; True when the row stopped waiting for some (a cap).
    ("recipients", pa.list_(_RECIPIENT)), ("reports_given_up", pa.bool_()),
    # A part of a long SUBMIT: its message (UDH), and on the part that completes the
    # message's picture the roll-up of every part's Result and reports.
    ("long_reference", pa.uint16()), ("long_total", pa.uint8()), ("long_part", pa.uint8()),
    ("long_outcome", pa.string()),
])
"""One row per request (a resend is part of the first send's row), as
:meth:`cmppdissect.api.Transaction.row` with times as timestamps and more columns."""

_SUMMARY = pa.struct([(k, pa.float64()) for k in SUMMARY_KEYS])
_BEATS = pa.struct([("sent", pa.int64()), ("answered", pa.int64()), ("unanswered", pa.int64()),
                    ("max_unanswered_in_row", pa.int64()), ("interval_s", pa.float64()),
                    ("max_interval_s", pa.float64())])
_COUNTERS = [("requests", pa.int64()), ("responses", pa.int64()), ("paired", pa.int64()),
             ("unanswered", pa.int64()), ("orphan_responses", pa.int64()),
             ("retransmitted", pa.int64())]
SESSION_SCHEMA = pa.schema([
    ("id", pa.uint32()), ("client", pa.string()), ("server", pa.string()),
    ("sp_id", pa.string()), ("version", pa.string()), ("version_source", pa.string()),
    ("login", pa.string()), ("start", pa.float64()), ("end", pa.float64()),
    ("duration_s", pa.float64()), ("pdus", pa.int64()), ("pdus_from_client", pa.int64()),
    ("pdus_from_server", pa.int64()), ("tps", pa.float64()), ("peak_pdus_per_s", pa.int64()),
    ("peak_submits_per_s", pa.int64()), ("errors", pa.int64()), ("unanswered", pa.int64()),
    ("ended", pa.string()), ("cmpp", pa.bool_()), ("skipped_bytes", pa.int64()),
    ("tcp", pa.struct([(k, pa.int64()) for k in (
        "frames", "bytes_from_client", "bytes_from_server", "retransmissions", "duplicates",
        "out_of_order", "gaps", "gap_bytes")])),
    ("max_window", pa.int64()),
    ("heartbeats", pa.struct([("from_client", _BEATS), ("from_server", _BEATS)])),
    ("expert", pa.map_(pa.string(), pa.int64())),
    ("commands", pa.list_(pa.struct([("command", pa.string()), *_COUNTERS,
                                     ("latency_ms", _SUMMARY)]))),
    ("results", pa.list_(pa.struct([("command", pa.string()), ("code", pa.int64()),
                                    ("name", pa.string()), ("count", pa.int64())]))),
])
"""One row per session: the report's ``sessions`` (:func:`~cmppdissect.output.report.session_dict`),
its per-command table as a list."""


def schema_of(table: str) -> pa.Schema:
    """The Arrow schema of one of the three :data:`TABLES`."""
    if table == "pdus":
        return pdu_schema()
    return {"transactions": TRANSACTION_SCHEMA, "sessions": SESSION_SCHEMA}[table]


def session_batch(engine: Engine) -> pa.RecordBatch:
    """The sessions table, from the report's own session dicts."""
    from cmppdissect.output.report import session_dicts

    rows = session_dicts(engine)
    for row in rows:
        row["expert"] = list(row["expert"].items())
        row["commands"] = [{"command": name, **table} for name, table in row["commands"].items()]
    return pa.RecordBatch.from_pylist(rows, schema=SESSION_SCHEMA)


# -- PDUs ---------------------------------------------------------------------------------------


def _optional(values: np.ndarray, present: np.ndarray, kind: pa.DataType) -> pa.Array:
    """A numpy column as Arrow, null where ``present`` is False."""
    return pa.array(values, type=kind, mask=~present)


def _header(store: PduStore, rows: np.ndarray) -> dict[str, pa.Array]:
    """The header columns the store has, from its numpy columns (whole arrays at once)."""
    paired = store.pair[rows] >= 0
    response = (store.command_id[rows] & RESPONSE_BIT) != 0
    frames = store.partner_frames(rows)
    partner = np.maximum(frames, 0)
    paired &= frames >= 0  # a pair let go with its frame forgotten (a cap) names no frame
    return {
        "frame": pa.array(store.frame[rows], pa.uint32()),
        "time": pa.array(store.ts_ns[rows], pa.int64()).view(_TIME),
        "session": pa.array(store.session[rows], pa.uint32()),
        "command_id": pa.array(store.command_id[rows], pa.uint32()),
        "sequence_id": pa.array(store.sequence_id[rows], pa.uint32()),
        "total_length": pa.array(store.length[rows].astype(np.uint32), pa.uint32()),
        "request_frame": _optional(partner, paired & response, pa.uint32()),
        "response_frame": _optional(partner, paired & ~response, pa.uint32()),
        "latency_ms": _optional(store.latency_ns[rows] / 1e6, paired, pa.float64()),
    }


def _raw_column(store: PduStore, start: int, stop: int) -> pa.Array:
    """Every PDU's bytes of rows ``start`` to ``stop``, as one Arrow buffer cut by offsets
    (the store's bytes read once, no per-row copy)."""
    data = store.blobs.range_bytes(start, stop, store.length)
    offsets = np.zeros(stop - start + 1, np.int32)
    np.cumsum(store.length[start:stop], out=offsets[1:])
    return pa.Array.from_buffers(pa.binary(), stop - start,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def pdu_batch(store: PduStore, rows: np.ndarray,
              records: Sequence[tuple[PduRecord, dict[str, Any]]],
              raw: pa.Array | None = None) -> pa.RecordBatch:
    """The PDU table's rows for ``rows`` of the store, whose records (and their
    :func:`record_dict`) are ``records``; ``raw`` their bytes when already cut."""
    columns = flat_columns()
    n = len(records)
    body: list[list[Any]] = [[None] * n for _ in columns]
    extra: dict[str, list[Any]] = {key: [None] * n for key in (*CONTENT_KEYS, "src", "dst",
                                                                "version", "command")}
    text, ref, total, part = (extra[k] for k in ("text", "udh_reference", "udh_total",
                                                  "udh_part"))
    for i, (rec, d) in enumerate(records):
        pdu = rec.pdu
        fields = d["fields"]
        extra["src"][i], extra["dst"][i] = d["src"], d["dst"]
        extra["version"][i], extra["command"][i] = d["version"], d["command"]
        layout = pdu.layout
        if layout is not None:
            raw_fields = pdu.fields
            for name, column, as_bytes in flat_plan(layout):
                value = (raw_fields if as_bytes else fields).get(name)
                if value is not None:
                    body[column][i] = value
            report = pdu.report
            if report is not None:
                rep = report_layout(layout, raw_fields, len(raw_fields["Msg_Content"]))
                shown = fields["report"]
                if rep is not None:
                    for name, column, as_bytes in flat_plan(rep, True):
                        value = (report if as_bytes else shown).get(name)
                        if value is not None:
                            body[column][i] = value
            trailing = raw_fields.get("trailing")
            if trailing is not None:
                extra["trailing"][i] = trailing
        if "text" in fields:
            text[i] = fields["text"]
            udh = fields.get("udh")
            if udh is not None:
                ref[i], total[i], part[i] = udh["reference"], udh["total"], udh["part"]
        long_sms = d.get("long_sms")
        if long_sms is not None:
            extra["long_sms_text"][i] = long_sms["text"]
        if d["expert"]:
            extra["expert"][i] = d["expert"]
    schema = pdu_schema()
    arrays = _header(store, rows)
    for c, values in zip(columns, body, strict=True):
        arrays[c.name] = pa.array(values, schema.field(c.name).type)
    for key, values in extra.items():
        if key == "raw":
            continue
        arrays[key] = pa.array(values, schema.field(key).type)
    arrays["raw"] = raw if raw is not None else pa.array(
        [rec.pdu.raw for rec, _ in records], pa.binary())
    return pa.RecordBatch.from_arrays([arrays[f.name] for f in schema], schema=schema)


# -- transactions -------------------------------------------------------------------------------

_COLUMN = {name: i for i, name in enumerate(TRANSACTION_SCHEMA.names)}
# A row's values; two more, hidden: the request's engine row and whether it asked for reports.
_WIDTH = len(TRANSACTION_SCHEMA)
_RESULT, _MSG_ID, _RECIPIENTS, _GIVEN_UP = (_COLUMN[k] for k in (
    "result", "Msg_Id", "recipients", "reports_given_up"))
_LONG_REFERENCE, _LONG_TOTAL, _LONG_PART, _LONG_OUTCOME = (_COLUMN[k] for k in (
    "long_reference", "long_total", "long_part", "long_outcome"))
_FIRST_REPORT = slice(_COLUMN["report_frame"], _COLUMN["report_done_time"] + 1)
_FLAT_OF_RECIPIENT = (2, 3, 5, 4)  # report_frame, _stat, _delay_ms, _done_time in a recipient
# A recipient's values, in RECIPIENT_FIELDS order.
_R_MSG_ID, _R_FRAME, _R_STAT, _R_DONE, _R_DELAY = 1, 2, 3, 4, 5
_MASK64 = (1 << 64) - 1
_SUBMIT = int(CommandId.CMPP_SUBMIT)
_DELIVER = int(CommandId.CMPP_DELIVER)
# The DELIVERs that may be parts of a long mobile-originated message, told from the columns
# and the bytes without decoding (status reports carry no UDH).
_MO_LONG = compile_filter(
    'command == "CMPP_DELIVER" && Registered_Delivery == 0 && TP_udhi != 0')


class _Waiting:
    """A SUBMIT's transaction row waiting for its recipients' status reports (``first``: the
    Msg_Id of its first recipient; ``missing``: how many have no report yet)."""

    __slots__ = ("first", "frame", "missing", "row")

    def __init__(self, row: list[Any], frame: int, first: int, missing: int) -> None:
        self.row = row
        self.frame = frame
        self.first = first
        self.missing = missing


class _Part:
    """What the roll-up of a long message needs of one part's row, once it is complete."""

    __slots__ = ("asked", "part", "result", "stats")

    def __init__(self, row: list[Any]) -> None:
        self.part: int = row[_LONG_PART]
        self.result: int | None = row[_RESULT]
        recipients = row[_RECIPIENTS] or ()
        # Reports asked for (Registered_Delivery), come or not (a part refused gets none).
        self.asked = len(recipients) if row[_WIDTH + 1] else 0
        self.stats = [r[_R_STAT] for r in recipients if r[_R_STAT] is not None]


class _Long:
    """A long message the engine assembled (its part rows known) or gave up on (``seen``
    parts of ``total`` came), waiting for the rows of the parts still open (``pending``) to
    complete its picture."""

    __slots__ = ("done", "pending", "seen", "total", "waited")

    def __init__(self, total: int, seen: int) -> None:
        self.total = total
        self.seen = seen
        self.done: list[_Part] = []
        self.pending = 0
        self.waited: list[list[Any]] = []  # rows of parts complete already, out with the last

    def outcome(self) -> str:
        return long_outcome(self.total, self.done, self.seen - len(self.done),
                            unseen=self.total - self.seen)


def long_outcome(total: int, parts: Sequence[_Part], forgotten: int = 0, *,
                 unseen: int = 0) -> str:
    """The roll-up of a long message's parts, e.g. "3 parts, part 2 rejected with Result 8,
    2 of 3 reports DELIVRD": the parts never seen (a message given up), refused or unanswered
    (or "all accepted"), then the status reports come against those asked for (each part's
    recipients), by Stat."""
    words = [f"{total} parts"]
    if unseen:
        known = {p.part for p in parts}
        missing = [n for n in range(1, total + 1) if n not in known]
        if forgotten or len(missing) != unseen:  # which ones is not known: a count
            words.append(f"{unseen} of {total} never seen")
        else:
            words.append(f"part{'s' if unseen > 1 else ''} "
                         f"{', '.join(map(str, missing))} never seen")
    bad = []
    for p in sorted(parts, key=lambda p: p.part):
        if p.result is None:
            bad.append(f"part {p.part} unanswered")
        elif p.result != 0:
            bad.append(f"part {p.part} rejected with Result {p.result}")
    if forgotten:
        bad.append(f"{forgotten} part{'s' if forgotten > 1 else ''} not known (a cap)")
    words += bad or ["all accepted"]
    asked = sum(p.asked for p in parts)
    if asked:
        by_stat: dict[str, int] = {}
        for p in parts:
            for stat in p.stats:
                by_stat[stat] = by_stat.get(stat, 0) + 1
        ranked = sorted(by_stat.items(), key=lambda kv: (-kv[1], kv[0]))
        if not ranked:
            words.append(f"0 of {asked} reports")
        else:
            (stat, n), rest = ranked[0], ranked[1:]
            words.append(f"{n} of {asked} reports {stat}" + "".join(
                f", {m} {other}" for other, m in rest))
    return ", ".join(words)


def _long_part(pdu: DecodedPdu, values: list[Any]) -> None:
    """A long message's part names its message in its row: UDH reference, total, part."""
    if not pdu.fields.get("TP_udhi", 0) & 0x41:
        return
    content = pdu.content
    concat = content.udh.concat if content and content.udh else None
    if concat is not None:
        values[_LONG_REFERENCE] = concat.reference
        values[_LONG_TOTAL], values[_LONG_PART] = concat.total, concat.part


class _Transactions:
    """Transaction rows, each released as soon as it is complete: at once, or for a SUBMIT
    accepted with Registered_Delivery set, when every recipient's status report has come (or,
    past ``max_waiting`` recipients waiting, the oldest row without the rest, marked
    ``reports_given_up``; all at the end). So rows come in the order they completed, not
    always in request order (``ORDER BY request_frame``).

    A request that a streaming store wrote before its response came (``GIVEN_UP``: too many
    rows waited behind it) waits here instead, as its row's values, for that response (at
    most ``max_waiting`` of them: past that, the oldest is complete without one).

    A part of a long SUBMIT, or of a long mobile-originated DELIVER, names its message (UDH
    reference, total, part); the row of the part that completes the message's picture (every
    part's row complete: answered, reports in or given up) carries the roll-up
    (:func:`long_outcome`). The parts are the engine's: the rows it assembled the message from,
    or, for a message it gave up on (parts missing past the long-SMS timeout, its cap, or the
    end), the parts that came. A part's row complete before its message is known waits for it
    (so that the roll-up has a row to go on whatever part came last), at most ``max_waiting``
    of them (past that, the oldest is written without: ``evicted_parts``).
    """

    def __init__(self, max_waiting: int) -> None:
        self.max_waiting = max_waiting
        # request (engine row number) -> (its row's values, Command_Id)
        self.early: dict[int, tuple[list[Any], int]] = {}
        self.waiting: dict[int, _Waiting] = {}  # id() -> row, oldest first
        self.waiting_recipients = 0  # recipients of the waiting rows without a report
        self.by_frame: dict[int, list[_Waiting]] = {}  # SUBMIT frame -> its waiting rows
        self.open_rows: set[int] = set()  # the waiting rows' requests (engine row numbers)
        self.part_of: dict[int, _Long] = {}  # part's request (engine row) -> its message
        # parts complete before their message was known (their rows, oldest first)
        self.parts: dict[int, tuple[_Part, list[Any]]] = {}
        self._mo_long: set[int] = set()  # DELIVER rows of this piece that may be long parts
        self.ready: list[list[Any]] = []
        self._completed = 0  # rows completed so far (each row's rank among them)
        self.peak_held = 0
        self.evicted = 0  # rows written without every report: past max_waiting
        self.evicted_parts = 0  # parts forgotten before their message was known
        self._decoded: Sequence[DecodedPdu] = ()
        self._start = 0

    def _pdu(self, store: PduStore, row: int) -> DecodedPdu:
        index = row - self._start
        if 0 <= index < len(self._decoded):
            return self._decoded[index]
        return store.pdu(row)

    def add(self, store: PduStore, start: int, stop: int,
            decoded: Sequence[DecodedPdu] = ()) -> None:
        """Rows ``start`` to ``stop`` (settled); ``decoded`` their PDUs when already decoded
        (for the PDU table), so that a request and its response are not decoded twice."""
        self._decoded, self._start = decoded, start
        unread = store.base + start
        for row in store.long_sms_between(start, stop):  # before any of their rows complete
            self._long(store.long_sms[row], unread)
        for message in store.long_given_up_between(start, stop):
            self._long(message, unread, complete=False)
        command = store.command_id[start:stop]
        delivers = np.flatnonzero(command == _DELIVER).astype(np.int64) + start
        self._mo_long = set(delivers[_MO_LONG.select(RecordColumns(store, delivers)).keep]
                            .tolist()) if len(delivers) else set()
        requests = np.flatnonzero(((command & RESPONSE_BIT) == 0)
                                  & ((store.flags[start:stop] & RESEND) == 0)) + start
        for row in requests.tolist():
            self._request(store, row)
        if self.early:  # responses to requests written before them
            pair = store.pair[start:stop]
            late = np.flatnonzero(((command & RESPONSE_BIT) != 0)
                                  & np.isin(pair, np.fromiter(self.early, np.int64))) + start
            for row in late.tolist():
                values, cid = self.early.pop(int(store.pair[row]))
                self._answered(store, values, cid, row, int(store.latency_ns[row]))
        for row, frame in store.report_for_between(start, stop).items():
            self._report(store, row, frame)
        self.peak_held = max(self.peak_held, self.waiting_recipients + len(self.early)
                             + len(self.parts))

    def _long(self, message: tuple[int, int, list[int]], unread: int, *,
              complete: bool = True) -> None:
        """A long message the engine assembled (or, not ``complete``, gave up on): its parts'
        rows (engine numbers) complete its picture. A part's row is still open when it waits
        here or was not read yet (from ``unread`` on); otherwise it completed already and
        waits for its message (or was written without, past the cap). Those rows go out with
        the last part's row, which carries the roll-up (when no part is open, that is the one
        that completed last, now)."""
        _reference, total, rows = message
        held = _Long(total, len(rows) if not complete else total)
        waited: list[list[Any]] = []
        for part in rows:
            done = self.parts.pop(part, None)
            if done is not None:
                held.done.append(done[0])
                waited.append(done[1])
            elif part >= unread or part in self.early or part in self.open_rows:
                held.pending += 1
                self.part_of[part] = held
        waited.sort(key=lambda values: values[_WIDTH + 2])  # the order they completed in
        if held.pending:
            held.waited = waited
        elif waited:
            waited[-1][_LONG_OUTCOME] = held.outcome()
            self.ready += waited

    def _request(self, store: PduStore, row: int) -> None:
        cid = int(store.command_id[row])
        name = command_name(cid)
        pair = store.partner(row)
        frame = int(store.frame[row])
        values: list[Any] = [int(store.session[row]), name, int(store.sequence_id[row]),
                             frame, int(store.ts_ns[row])] + [None] * (_WIDTH - 5)
        values += [store.base + row, False, 0]
        if cid == _SUBMIT:
            pdu = self._pdu(store, row)
            fields = pdu.fields
            values[_WIDTH + 1] = (fields.get("Registered_Delivery") or 0) > 0
            dests = fields.get("Dest_terminal_Id") or ()
            values[_RECIPIENTS] = [[octet_text(d), None, None, None, None, None]
                                   for d in dests] or [[None] * 6]
            _long_part(pdu, values)
        elif row in self._mo_long:
            _long_part(self._pdu(store, row), values)
        if pair is None:
            if store.flags[row] & GIVEN_UP:
                self.early[store.base + row] = (values, cid)
                if len(self.early) > self.max_waiting:
                    oldest = next(iter(self.early))
                    self._complete(self.early.pop(oldest)[0])
                return
            self._complete(values)
            return
        self._answered(store, values, cid, pair, int(store.latency_ns[row]))

    def _answered(self, store: PduStore, values: list[Any], cid: int, pair: int,
                  latency_ns: int) -> None:
        """A request's row completed by its response (row ``pair``): to the ready rows, or
        to wait for its status reports."""
        from cmppdissect.protocol.results import result_name

        frame = values[3]
        response = self._pdu(store, pair).fields
        outcome = result_of(response)
        code = None if outcome is None else outcome[1]
        values[5:10] = [int(store.frame[pair]), int(store.ts_ns[pair]), latency_ns / 1e6, code,
                        None if code is None else result_name(command_name(cid | RESPONSE_BIT),
                                                              code)]
        msg_id = response.get("Msg_Id") if cid == _SUBMIT else None
        if isinstance(msg_id, int):
            values[_MSG_ID] = msg_id
            recipients = values[_RECIPIENTS]
            for i, recipient in enumerate(recipients):  # as the core numbers them
                recipient[_R_MSG_ID] = (msg_id + i) & _MASK64
            if code == 0 and values[_WIDTH + 1]:
                values[_GIVEN_UP] = False
                held = _Waiting(values, frame, msg_id, len(recipients))
                self.waiting[id(held)] = held
                self.open_rows.add(values[_WIDTH])
                self.waiting_recipients += held.missing
                self.by_frame.setdefault(frame, []).append(held)
                while self.waiting_recipients > self.max_waiting:
                    self.evicted += 1
                    self._forget(next(iter(self.waiting.values())), given_up=True)
                return
        self._complete(values)

    def _report(self, store: PduStore, row: int, frame: int) -> None:
        """A status report the engine matched to the SUBMIT of ``frame``: its recipient's, by
        the Msg_Id it carries (the SUBMIT_RESP's plus the recipient's index)."""
        candidates = self.by_frame.get(frame)
        if not candidates:
            return
        report = self._pdu(store, row).report or {}
        reported = report.get("Msg_Id")
        if not isinstance(reported, int):
            return
        for held in candidates:
            index = (reported - held.first) & _MASK64
            if index < len(held.row[_RECIPIENTS]):
                break
        else:
            return
        recipient = held.row[_RECIPIENTS][index]
        if recipient[_R_FRAME] is not None:
            return  # the first report of a recipient is its own
        recipient[_R_FRAME:] = [int(store.frame[row]), octet_text(report.get("Stat", b"")),
                                octet_text(report.get("Done_time", b"")),
                                (int(store.ts_ns[row]) - held.row[4]) / 1e6]
        held.missing -= 1
        self.waiting_recipients -= 1
        if not held.missing:
            self._forget(held)

    def _forget(self, held: _Waiting, *, given_up: bool = False) -> None:
        """Stop waiting for ``held``'s reports: its row is complete as it is (``given_up``:
        some are missing, past the cap)."""
        del self.waiting[id(held)]
        self.open_rows.discard(held.row[_WIDTH])
        self.waiting_recipients -= held.missing
        rest = self.by_frame[held.frame]
        rest.remove(held)
        if not rest:
            del self.by_frame[held.frame]
        if given_up and held.missing:
            held.row[_GIVEN_UP] = True
        self._complete(held.row)

    def _complete(self, values: list[Any]) -> None:
        """A row is complete: the first recipient's report in the flat columns, and a long
        message's part its roll-up when it completes the message's picture."""
        recipients = values[_RECIPIENTS]
        if recipients:
            first = recipients[0]
            values[_FIRST_REPORT] = [first[i] for i in _FLAT_OF_RECIPIENT]
        self._completed += 1
        values[_WIDTH + 2] = self._completed
        if values[_LONG_TOTAL] is not None:
            row = values[_WIDTH]
            message = self.part_of.pop(row, None)
            if message is None:  # its message is not known yet: the row waits for it
                self.parts[row] = (_Part(values), values)
                if len(self.parts) > self.max_waiting:
                    oldest = self.parts.pop(next(iter(self.parts)))
                    self.ready.append(oldest[1])
                    self.evicted_parts += 1
                return
            message.done.append(_Part(values))
            message.pending -= 1
            if not message.pending:
                values[_LONG_OUTCOME] = message.outcome()
                self.ready += message.waited
        self.ready.append(values)

    def take(self, everything: bool = False) -> pa.RecordBatch | None:
        """The complete rows as a batch (``everything``: the waiting ones too)."""
        if everything:
            for values, _cid in self.early.values():
                self._complete(values)
            self.early.clear()
            for held in list(self.waiting.values()):
                self._forget(held)
            # Parts whose message the engine never named (it keeps every one it saw, so
            # only a UDH it read otherwise): without a roll-up.
            self.ready += [values for _part, values in self.parts.values()]
            self.parts.clear()
        rows, self.ready = self.ready, []
        if not rows:
            return None
        columns = list(zip(*rows, strict=True))
        columns[_RECIPIENTS] = tuple(
            None if rs is None else [dict(zip(RECIPIENT_FIELDS, r, strict=True)) for r in rs]
            for rs in columns[_RECIPIENTS])
        return pa.RecordBatch.from_arrays(
            [pa.array(col, f.type) for col, f in zip(columns, TRANSACTION_SCHEMA, strict=False)],
            schema=TRANSACTION_SCHEMA)


# -- the builder --------------------------------------------------------------------------------


class TableBuilder:
    """Turns the store's settled rows into batches of the three tables.

    ``display_filter`` keeps only the PDUs it matches in the PDU table (transactions and
    sessions are whole). ``max_waiting`` bounds the recipients of SUBMITs held back waiting
    for their status reports (the engine itself waits for at most ``max_awaiting_reports``),
    the requests written early waiting for their response, and the parts of long messages
    waiting for the engine to know their message.
    """

    def __init__(self, display_filter: DisplayFilter | None = None, *,
                 max_waiting: int = 65536, pdus: bool = True, transactions: bool = True,
                 frames: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.test = display_filter
        self.transactions = _Transactions(max_waiting)
        self.rows = {name: 0 for name in TABLES}
        self.pdus = pdus  # False: no PDU table (-T transactions wants the transactions only)
        # False: no transactions and sessions tables (a task that writes some PDU rows only)
        self.others = transactions
        # The PDU table's rows of some frames only: given the rows' frame numbers, which
        # (a Dask task's share of a host's files, whose others other tasks write).
        self.frames = frames

    def add(self, store: PduStore, start: int, stop: int) -> Iterator[tuple[str, pa.RecordBatch]]:
        """The batches that rows ``start`` to ``stop`` (settled) complete."""
        batch, decoded = self._pdus(store, start, stop) if self.pdus else (None, [])
        if batch is not None and batch.num_rows:
            self.rows["pdus"] += batch.num_rows
            yield "pdus", batch
        if not self.others:
            return
        self.transactions.add(store, start, stop, decoded)
        done = self.transactions.take()
        if done is not None:
            self.rows["transactions"] += done.num_rows
            yield "transactions", done

    def finish(self, engine: Engine, store: PduStore) -> Iterator[tuple[str, pa.RecordBatch]]:
        """The capture ended: the long messages given up at the end, the transactions still
        held, and the sessions."""
        if not self.others:
            return
        done = self.rest(store)
        self._caps(engine)
        if done is not None:
            yield "transactions", done
        sessions = session_batch(engine)
        self.rows["sessions"] += sessions.num_rows
        yield "sessions", sessions

    def rest(self, store: PduStore) -> pa.RecordBatch | None:
        """The capture ended: the long messages given up at the end rolled up, and the
        transactions still held, complete as they are. Without the sessions table or the
        caps' findings (:meth:`finish` adds those): what a reader that only shows the rows
        needs (the TUI's Messages screen)."""
        end = store.base + store.count
        for message in store.long_given_up_between(store.count):
            self.transactions._long(message, end, complete=False)
        done = self.transactions.take(everything=True)
        if done is not None:
            self.rows["transactions"] += done.num_rows
        return done

    @property
    def waiting(self) -> int:
        """Transaction rows held back now: SUBMITs waiting for their recipients' status
        reports, requests waiting for their response."""
        return len(self.transactions.waiting) + len(self.transactions.early)

    @property
    def evicted(self) -> int:
        """Rows released without every status report, past ``max_waiting`` (a cap)."""
        return self.transactions.evicted

    def _pdus(self, store: PduStore, start: int, stop: int
              ) -> tuple[pa.RecordBatch | None, list[DecodedPdu]]:
        """The PDU table's batch of the rows (those of :attr:`frames` and the filter), and,
        when that is every row, every row's PDU (the transactions read them again)."""
        if self.frames is None:
            runs = [(start, stop)]
        else:
            kept = np.flatnonzero(self.frames(store.frame[start:stop])) + start
            runs = [(int(run[0]), int(run[-1]) + 1)
                    for run in np.split(kept, np.flatnonzero(np.diff(kept) != 1) + 1)
                    if len(run)]
        rows: list[int] = []
        shown: list[tuple[PduRecord, dict[str, Any]]] = []
        raws: list[pa.Array] = []
        for a, b in runs:
            if self.test is None:
                rows += range(a, b)
                shown += [(rec, record_dict(rec)) for rec in records_between(store, a, b)]
                raws.append(_raw_column(store, a, b))
                continue
            for row in range(a, b):
                view = RecordView(store, row)
                if self.test(view):
                    rows.append(row)
                    shown.append((view.record(), view.full()))
        if not rows:
            return None, []
        raw = (raws[0] if len(raws) == 1 else pa.concat_arrays(raws)) if raws else None
        every = self.test is None and self.frames is None
        return (pdu_batch(store, np.asarray(rows, np.int64), shown, raw),
                [rec.pdu for rec, _ in shown] if every else [])

    def _caps(self, engine: Engine) -> None:
        """The transactions table's own caps, when reached: findings of the capture."""
        from cmppdissect.engine.findings import cap_message

        held = self.transactions
        settings = {"max_waiting": held.max_waiting, "rows": held.evicted,
                    "parts": held.evicted_parts}
        if held.evicted:
            engine.expert.cap("transaction-reports", None, None,
                              cap_message("transaction-reports", settings))
        if held.evicted_parts:
            engine.expert.cap("transaction-long-parts", None, None,
                              cap_message("transaction-long-parts", settings))

    @property
    def held(self) -> int:
        """The most recipients (and requests written early) held back at once so far."""
        return self.transactions.peak_held


def counts(rows: Mapping[str, int]) -> dict[str, int]:
    """Rows written per table, in the tables' order."""
    return {name: rows.get(name, 0) for name in TABLES}
