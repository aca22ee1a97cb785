"""PDU records: one row of the store as Python objects, and the view display filters read.

:class:`PduRecord` is what ``cmppdissect.analyze(...).pdus()`` yields and what ``-T`` writes
(through :func:`cmppdissect.output.records.record_dict`); :class:`RecordView` is the mapping
the display filter reads, which answers header questions from the columns and decodes the PDU
only when a filter looks past them. Both read pairs from the store's one pair column.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cmppdissect.engine import findings as words
from cmppdissect.protocol.commands import RESPONSE_BIT, command_name
from cmppdissect.protocol.content import decode_content
from cmppdissect.protocol.decode import DecodedPdu
from cmppdissect.protocol.expert import Finding
from cmppdissect.protocol.layouts import Field, Kind
from cmppdissect.protocol.recordkeys import HEADER_KEYS
from cmppdissect.protocol.version import Version
from cmppdissect.store.store import FROM_CLIENT, NO_PAIR, UNANSWERED, VERSION_OF_HINT, PduStore

_NOWHERE = ("?", "?")

__all__ = ["LongSms", "PduRecord", "RecordColumns", "RecordView", "RowSlice", "engine_findings",
           "long_sms_of", "record_at", "record_in", "records_between", "records_of", "row_slice"]


@dataclass(frozen=True, slots=True)
class LongSms:
    """A long message as completed by one of its parts: its parts' frames, and its text."""

    reference: int
    total: int
    frames: list[int]
    parts: tuple[tuple[int, bytes, str | None], ...] = ()  # (Msg_Fmt, payload, text) per part

    @property
    def missing(self) -> list[int]:
        """Part numbers never seen (none: the store keeps completed messages only)."""
        return list(range(len(self.frames) + 1, self.total + 1))

    def text(self) -> str | None:
        """The whole message. Payloads are joined before decoding when the parts agree on
        Msg_Fmt, because a UCS2 or GBK character may be split across two parts (D15)."""
        formats = {fmt for fmt, _payload, _text in self.parts}
        if len(formats) == 1:
            joined = decode_content(b"".join(p for _f, p, _t in self.parts), formats.pop(), 0)
            if joined.text is not None:
                return joined.text
        texts = [t for _f, _p, t in self.parts]
        return None if any(t is None for t in texts) else "".join(t or "" for t in texts)


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
    response_frame: int | None = None  # on a request: its response
    expert: list[Finding] = field(default_factory=list)  # the engine's findings
    long_sms: LongSms | None = None  # on the part that completed a long SMS
    row: int = -1

    @property
    def command(self) -> str:
        return command_name(self.pdu.Command_Id)

    @property
    def latency_ms(self) -> float | None:
        return None if self.latency_ns is None else self.latency_ns / 1e6


def long_sms_of(store: PduStore, row: int) -> LongSms | None:
    found = store.long_sms.get(row)
    if found is None:
        return None
    reference, total, part_rows = found
    parts = []
    frames = []
    for part_row in part_rows:
        known = store.part(part_row)
        if known is None:
            continue
        frame, part = known
        frames.append(frame)
        content = part.content
        if content is not None:
            parts.append((part.fields.get("Msg_Fmt", 0), content.payload, content.text))
    return LongSms(reference, total, frames, tuple(parts))


def record_at(store: PduStore, row: int) -> PduRecord:
    """The record of one row, with its pair linked both ways."""
    return next(records_between(store, row, row + 1))


def records_between(store: PduStore, start: int, stop: int) -> Iterator[PduRecord]:
    """The records of rows ``start`` to ``stop``, in order."""
    return records_of(row_slice(store, start, stop))


@dataclass(slots=True)
class RowSlice:
    """Rows ``start`` onwards with everything their records need, in plain values.

    What :func:`records_of` builds records from: a store's rows read once as lists (a writer
    then pays per record only for decoding the PDU), and picklable, so that records can be
    made in another process than the store's (``-T`` on several cores).
    """

    start: int
    raw: bytes  # the PDUs' bytes, concatenated
    length: list[int]
    frame: list[int]
    ts: list[int]
    session: list[int]
    flags: list[int]
    latency: list[int]
    hint: list[int]
    partner_frame: list[int]  # the paired PDU's frame, -1 without one
    endpoints: dict[int, tuple[str, str]]  # session -> (client, server)
    findings: dict[int, list[Finding]]
    report_for: dict[int, int]  # status report row -> the SUBMIT's frame
    long_sms: dict[int, LongSms]
    done: bool  # the capture has ended (not cut short by -c): an unpaired request never got one

    def __len__(self) -> int:
        return len(self.frame)

    def split(self, rows: int) -> Iterator[RowSlice]:
        """The same rows as slices of at most ``rows`` rows each."""
        pos = 0
        # The per-row dicts cut by row range: each key is looked at once, whatever the pieces.
        keyed = [sorted(d.items()) for d in (self.findings, self.report_for, self.long_sms)]
        at = [0, 0, 0]

        def upto(which: int, stop: int) -> dict[int, Any]:
            items, i = keyed[which], at[which]
            j = i
            while j < len(items) and items[j][0] < stop:
                j += 1
            at[which] = j
            return dict(items[i:j])

        for lo in range(0, len(self), rows):
            hi = min(len(self), lo + rows)
            size = sum(self.length[lo:hi])
            first, stop = self.start + lo, self.start + hi
            yield RowSlice(
                first, self.raw[pos:pos + size], self.length[lo:hi], self.frame[lo:hi],
                self.ts[lo:hi], self.session[lo:hi], self.flags[lo:hi], self.latency[lo:hi],
                self.hint[lo:hi], self.partner_frame[lo:hi],
                {sid: self.endpoints[sid] for sid in set(self.session[lo:hi])},
                upto(0, stop), upto(1, stop), upto(2, stop), self.done)
            pos += size


def row_slice(store: PduStore, start: int, stop: int) -> RowSlice:
    """Rows ``start`` to ``stop`` of ``store`` as a :class:`RowSlice`."""
    partner = store.partner_frames(slice(start, stop))
    sessions = set(store.session[start:stop].tolist())
    endpoints = {sid: store.endpoints.get(sid, _NOWHERE) for sid in sessions}
    findings = {row: store.findings[row] for row in store.findings_between(start, stop)}
    long_sms = {row: msg for row in store.long_sms_between(start, stop)
                if (msg := long_sms_of(store, row)) is not None}
    return RowSlice(
        start, store.blobs.range_bytes(start, stop, store.length),
        store.length[start:stop].tolist(), store.frame[start:stop].tolist(),
        store.ts_ns[start:stop].tolist(), store.session[start:stop].tolist(),
        store.flags[start:stop].tolist(), store.latency_ns[start:stop].tolist(),
        store.hint[start:stop].tolist(), partner.tolist(), endpoints, findings,
        store.report_for_between(start, stop), long_sms, store.done and not store.cut)


def records_of(sl: RowSlice) -> Iterator[PduRecord]:
    """The records of a slice, in order."""
    pos = 0
    for index, size in enumerate(sl.length):
        yield record_in(sl, index, pos)
        pos += size


def record_in(sl: RowSlice, index: int, pos: int) -> PduRecord:
    """The record of the slice's row ``index``, whose bytes start at ``pos`` of ``sl.raw``
    (the one place records are built)."""
    from cmppdissect.protocol.decode import decode_pdu

    row = sl.start + index
    flags = sl.flags[index]
    other = sl.partner_frame[index]
    session = sl.session[index]
    pdu = decode_pdu(sl.raw[pos:pos + sl.length[index]], VERSION_OF_HINT[sl.hint[index]])
    client, server = sl.endpoints.get(session, _NOWHERE)
    fc = flags & FROM_CLIENT
    rec = PduRecord(sl.frame[index], sl.ts[index], session, bool(fc),
                    client if fc else server, server if fc else client, pdu, row=row)
    if other >= 0:
        rec.latency_ns = sl.latency[index]
        if pdu.Command_Id & RESPONSE_BIT:
            rec.request_frame = other
        else:
            rec.response_frame = other
    # The engine's findings: most rows have none, so each kind is looked for cheaply.
    if row in sl.findings or other < 0 or (pdu.report is not None and row in sl.report_for):
        rec.expert = engine_findings(
            sl, row, pdu.Command_Id, pdu.Sequence_Id,
            None if pdu.report is None else pdu.report.get("Stat", b""), other, flags)
    if sl.long_sms:
        rec.long_sms = sl.long_sms.get(row)
    return rec


def engine_findings(sl: RowSlice, row: int, command_id: int, sequence_id: int,
                    stat: bytes | None, partner_frame: int, flags: int) -> list[Finding]:
    """The findings the engine adds to a row's record (the one place they are chosen):
    its own, the SUBMIT a status report (with ``stat``) answers, and an unanswered request."""
    found = sl.findings.get(row)
    expert = list(found) if found is not None else []
    if stat is not None and row in sl.report_for:
        expert.append(words.report_for_finding(stat, sl.report_for[row]))
    if (partner_frame < 0 and not command_id & RESPONSE_BIT
            and (sl.done or flags & UNANSWERED)):
        expert.append(words.unanswered_finding(command_id, sequence_id))
    return expert


class RecordView(Mapping[str, Any]):
    """What the display filter reads for a row: header keys from the columns, the rest from
    one decode on first use.

    Filters such as ``command == "CMPP_SUBMIT" and latency_ms > 100`` only touch header keys,
    so filtering a million rows by them never decodes a body. The pairing keys
    (``request_frame``, ``response_frame``, ``latency_ms``) are always present here, ``None``
    when the row has no pair: the filter treats ``None`` exactly as an absent key.
    """

    __slots__ = ("_full", "_rec", "_row", "_store")

    _HEADER = HEADER_KEYS

    def __init__(self, store: PduStore, row: int, full: dict[str, Any] | None = None) -> None:
        self._store = store
        self._row = row
        self._full = full
        self._rec: PduRecord | None = None

    def _paired(self, response: bool | None = None) -> bool:
        s, row = self._store, self._row
        if s.pair[row] == NO_PAIR:
            return False
        return response is None or s.is_response(row) == response

    def __contains__(self, key: object) -> bool:
        if key in self._HEADER or key in ("fields", "expert"):
            return True
        return key in self.full()

    def __getitem__(self, key: str) -> Any:
        s, row = self._store, self._row
        if key == "frame":
            return int(s.frame[row])
        if key == "time":
            return int(s.ts_ns[row]) / 1e9
        if key == "session":
            return int(s.session[row])
        if key == "command_id":
            return int(s.command_id[row])
        if key == "command":
            return command_name(int(s.command_id[row]))
        if key == "sequence_id":
            return int(s.sequence_id[row])
        if key in ("src", "dst"):
            return s.endpoints_of(row)[0 if key == "src" else 1]
        if key == "version":
            v = int(s.version[row])
            return None if not v else f"{v // 10}.0"
        if key == "total_length":
            return int(s.length[row])
        if key in ("request_frame", "response_frame"):
            if self._paired(key == "request_frame"):
                return s.partner_frame(row)
            return None
        if key == "latency_ms":
            return int(s.latency_ns[row]) / 1e6 if self._paired() else None
        return self.full()[key]

    def full(self) -> dict[str, Any]:
        """The whole record as ``-T jsonl`` prints it (decoded once)."""
        if self._full is None:
            from cmppdissect.store.schema import record_dict

            self._full = record_dict(self.record())
        return self._full

    @property
    def row(self) -> int:
        return self._row

    def record(self) -> PduRecord:
        """The row's record (decoded once, shared with :meth:`full`)."""
        if self._rec is None:
            self._rec = record_at(self._store, self._row)
        return self._rec

    def __iter__(self) -> Iterator[str]:
        return iter(self.full())

    def __len__(self) -> int:
        return len(self.full())


@functools.cache
def _same_layouts(command_id: int) -> bool:
    """Whether both versions decode this command with one layout (its version is moot)."""
    from cmppdissect.protocol.layouts import LAYOUTS

    return LAYOUTS.get((command_id, Version.V2_0)) is LAYOUTS.get((command_id, Version.V3_0))


def _uints(whole: np.ndarray, at: np.ndarray, size: int) -> np.ndarray:
    """The big-endian unsigned integers of ``size`` bytes at offsets ``at`` of ``whole``."""
    read: np.ndarray
    if size == 1:
        read = whole[at].astype(np.uint64)
        return read
    if size in (2, 4, 8):  # the bytes gathered once and read as big-endian integers
        block = whole[at[:, None] + np.arange(size)]
        read = block.view(f">u{size}").reshape(-1).astype(np.uint64)
        return read
    number = np.zeros(len(at), dtype=np.uint64)
    for k in range(size):
        number = (number << np.uint64(8)) | whole[at + k].astype(np.uint64)
    return number


class RecordColumns:
    """Rows of a store as the display filter's column path reads them
    (:class:`cmppdissect.query.dfilter.FilterColumns`): header keys from the columns, with
    exactly the values :class:`RecordView` gives, and what a row's bytes may hold, without
    decoding. ``rows`` ascend."""

    __slots__ = ("_at", "_by_command", "_by_endpoints", "_groups", "_lower", "_raw", "_total_ok",
                 "rows", "store")

    def __init__(self, store: PduStore, rows: np.ndarray) -> None:
        self.store = store
        self.rows = rows
        self._raw: tuple[bytes, np.ndarray] | None = None
        self._at: tuple[np.ndarray, np.ndarray] | None = None
        self._groups: tuple[list[int], list[int], np.ndarray] | None = None
        self._lower: bytes | None = None
        self._total_ok: np.ndarray | None = None
        self._by_command: tuple[list[int], np.ndarray] | None = None
        self._by_endpoints: tuple[list[tuple[str, str]], np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def record(self, index: int) -> RecordView:
        return RecordView(self.store, int(self.rows[index]))

    def _pairing(self) -> tuple[np.ndarray, np.ndarray]:
        s, rows = self.store, self.rows
        paired = s.pair[rows] != NO_PAIR
        response = (s.command_id[rows] & RESPONSE_BIT) != 0
        return paired, response

    def numbers(self, name: str) -> tuple[np.ndarray, np.ndarray | None]:
        s, rows = self.store, self.rows
        if name == "time":
            return s.ts_ns[rows].astype(np.float64) / 1e9, None
        if name == "latency_ms":
            paired, _response = self._pairing()
            return s.latency_ns[rows].astype(np.float64) / 1e6, paired
        if name in ("request_frame", "response_frame"):
            paired, response = self._pairing()
            present = paired & (response if name == "request_frame" else ~response)
            return s.partner_frames(rows), present
        column = {"frame": s.frame, "session": s.session, "command_id": s.command_id,
                  "sequence_id": s.sequence_id, "total_length": s.length}[name]
        return column[rows].astype(np.int64), None

    def groups(self, names: frozenset[str]) -> tuple[np.ndarray, list[dict[str, Any]]]:
        s, rows = self.store, self.rows
        keys: list[np.ndarray] = []
        for name in sorted(names):
            if name in ("src", "dst"):
                keys += [s.session[rows], s.flags[rows] & FROM_CLIENT]
            elif name in ("request_frame", "response_frame", "latency_ms"):
                paired, response = self._pairing()
                keys += [paired, response, np.where(paired, s.pair[rows], -1),
                         np.where(paired, s.latency_ns[rows], 0)]
            else:
                keys.append({"frame": s.frame, "time": s.ts_ns, "session": s.session,
                             "version": s.version, "command": s.command_id,
                             "command_id": s.command_id, "sequence_id": s.sequence_id,
                             "total_length": s.length}[name][rows])
        if not len(rows):
            return np.zeros(0, np.int64), []
        if len(keys) == 1:  # one column: numpy's 1-d unique, several times faster
            _keys, first, codes = np.unique(keys[0], return_index=True, return_inverse=True)
        else:
            stacked = np.stack([k.astype(np.int64) for k in keys], axis=1)
            _keys, first, codes = np.unique(stacked, axis=0, return_index=True,
                                            return_inverse=True)
        groups = []
        for i in first.tolist():
            view = RecordView(s, int(rows[i]))
            groups.append({name: view[name] for name in names})
        return codes.reshape(-1), groups

    def may_have(self, name: str) -> np.ndarray:
        from cmppdissect.store.schema import body_names

        s, rows = self.store, self.rows
        if name in ("fields", "expert"):
            return np.ones(len(rows), dtype=bool)
        if name == "long_sms":
            return np.isin(rows, s.long_sms_between(int(rows[0]), int(rows[-1]) + 1)) \
                if len(rows) else np.zeros(0, dtype=bool)
        commands, codes = np.unique(s.command_id[rows], return_inverse=True)
        table = np.array([(names is None or name in names)
                          for names in map(body_names, commands.tolist())], dtype=bool)
        return table[codes.reshape(-1)] if len(rows) else np.zeros(0, dtype=bool)

    def may_contain(self, name: str, text: str) -> np.ndarray:
        from cmppdissect.store.schema import raw_patterns

        patterns = raw_patterns(name, text)
        if patterns is None:
            return self.may_have(name)
        held: np.ndarray = self.may_have(name) & self.raw_holds(patterns)
        return held

    def _bytes(self) -> tuple[bytes, np.ndarray]:
        """The rows' bytes (from the first row to the last) and each row's end offset."""
        if self._raw is None:
            s, rows = self.store, self.rows
            lo, hi = int(rows[0]), int(rows[-1]) + 1
            ends = np.cumsum(s.length[lo:hi], dtype=np.int64)
            self._raw = (s.blobs.range_bytes(lo, hi, s.length), ends)
        return self._raw

    def _commands(self) -> tuple[list[int], list[int], np.ndarray]:
        """The rows grouped by (Command_Id, version decoded with): each group's command and
        version, and each row's group."""
        if self._groups is None:
            s, rows = self.store, self.rows
            keys = (s.command_id[rows].astype(np.int64) << 8) | s.version[rows]
            distinct, codes = np.unique(keys, return_inverse=True)
            self._groups = ((distinct >> 8).tolist(), (distinct & 0xFF).tolist(),
                            codes.reshape(-1))
        return self._groups

    def by_command(self) -> tuple[list[int], np.ndarray]:
        """The rows grouped by Command_Id: each group's command, and each row's group."""
        if self._by_command is None:
            commands, _versions, codes = self._commands()
            ids, back = np.unique(np.array(commands, dtype=np.int64), return_inverse=True)
            self._by_command = (ids.tolist(), back.reshape(-1)[codes])
        return self._by_command

    def by_endpoints(self) -> tuple[list[tuple[str, str]], np.ndarray]:
        """The rows grouped by (src, dst) as their records have them: each group's pair, and
        each row's group."""
        if self._by_endpoints is None:
            s, rows = self.store, self.rows
            ends = (s.session[rows].astype(np.int64) << 1) | (s.flags[rows] & FROM_CLIENT)
            _keys, first, codes = np.unique(ends, return_index=True, return_inverse=True)
            self._by_endpoints = ([s.endpoints_of(int(rows[i])) for i in first.tolist()],
                                  codes.reshape(-1))
        return self._by_endpoints

    def readings(self, name: str, in_report: bool, among: np.ndarray | None = None, *,
                 dedupe: bool = True) -> tuple[
            np.ndarray, list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]]]:
        """The value each row's record has for body field ``name`` (of the status report
        only, if ``in_report``), read from the bytes where the row's layout puts it
        (:func:`~cmppdissect.store.schema.field_place`), as a lookup by name finds it: the
        rows whose value offsets cannot say (unknown), and per place (row indices, a table of
        values, each of those rows' index into the table, whether it is the report's); an
        array's value is the list of its elements. Every other row's record holds no such
        field. With ``among`` (a mask of the rows), only those rows are read. Not
        ``dedupe``: a number's table is the rows' values in order (no sort for a reader
        that tests each value alike, numbers being mostly distinct)."""
        from cmppdissect.store.schema import field_place, report_spot

        s, rows = self.store, self.rows
        unknown = np.zeros(len(rows), dtype=bool)
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]] = []
        if not len(rows):
            return unknown, found
        commands, versions, codes = self._commands()
        lengths = s.length[rows].astype(np.int64)
        for i, (command, version) in enumerate(zip(commands, versions, strict=True)):
            which = np.flatnonzero((codes == i) if among is None else (codes == i) & among)
            if not len(which):
                continue
            decoded_as = VERSION_OF_HINT.get(version)
            same = _same_layouts(command)
            place = None if (decoded_as is None and not same) else field_place(
                command, decoded_as or Version.V2_0, name, in_report)
            if place is None:
                unknown[which] = True
                continue
            # The decoder reads a body of Total_Length bytes: the PDU's own (the framer's).
            which = self._whole(which, unknown)
            if place.body is not None:
                offset, spec = place.body
                held = which[lengths[which] >= offset + spec.size]
                if len(held):
                    found.append((held, *self._values(held, offset, spec, dedupe), False))
                continue
            if place.array is not None:
                found += self._arrays(which, lengths, place.array)
                continue
            if place.switch is None or place.length is None:
                continue  # no record of this layout holds the field
            (at_switch, switch), (at_length, length) = place.switch, place.length
            which = which[lengths[which] >= max(at_switch + switch.size, at_length + length.size)]
            if not len(which):
                continue
            cut = np.clip(lengths[which] - place.content, 0,
                          self._ints(which, at_length, length.size))
            keys = (self._ints(which, at_switch, switch.size) << 32) | cut
            distinct, back = np.unique(keys, return_inverse=True)
            back = back.reshape(-1)
            for k, key in enumerate(distinct.tolist()):
                _rep, spot = report_spot(place, key >> 32, key & 0xFFFFFFFF, name)
                if spot is not None:
                    held = which[back == k]
                    found.append((held, *self._values(held, spot[0], spot[1], dedupe), True))
        return unknown, found

    def _arrays(self, which: np.ndarray, lengths: np.ndarray,
                array: tuple[int, Field, int, Field]) -> list[
                    tuple[np.ndarray, np.ndarray, np.ndarray, bool]]:
        """The arrays of rows ``which`` (whole PDUs): a row that reaches the first element
        holds the array, with the count's elements that its bytes hold whole (as the decoder
        reads them: each up to its first NUL)."""
        from cmppdissect.store.schema import octet_text

        at_count, count, start, spec = array
        which = which[lengths[which] >= start]
        if not len(which):
            return []
        size = spec.size
        elements = np.minimum(self._ints(which, at_count, count.size),
                              (lengths[which] - start) // size)
        whole, starts = self._starts()
        out = []
        for k in np.unique(elements).tolist():
            held = which[elements == k]
            width = k * size
            if not width:
                table = np.empty(1, dtype=object)
                table[0] = []
                out.append((held, table, np.zeros(len(held), dtype=np.intp), False))
                continue
            block = np.ascontiguousarray(whole[(starts[held] + start)[:, None]
                                               + np.arange(width)])
            distinct, back = np.unique(block.view(f"V{width}").reshape(-1),
                                       return_inverse=True)
            table = np.empty(len(distinct), dtype=object)
            for j, value in enumerate(distinct.tolist()):
                raw = bytes(value)
                table[j] = [octet_text(raw[e:e + size].partition(b"\0")[0])
                            for e in range(0, width, size)]
            out.append((held, table, back.reshape(-1), False))
        return out

    def _whole(self, which: np.ndarray, unknown: np.ndarray) -> np.ndarray:
        """Those of ``which`` whose Total_Length is their length (the rest: unknown)."""
        if self._total_ok is None:  # every row's, once: each field read asks again
            every = np.arange(len(self.rows))
            self._total_ok = self._ints(every, 0, 4) == self.store.length[self.rows].astype(
                np.int64)
        ok = self._total_ok[which]
        unknown[which[~ok]] = True
        kept: np.ndarray = which[ok]
        return kept

    def _ints(self, which: np.ndarray, offset: int, size: int) -> np.ndarray:
        """The unsigned integers of ``size`` bytes at ``offset`` of rows ``which``."""
        data, starts = self._starts()
        return _uints(data, starts[which] + offset, size).astype(np.int64)

    def _starts(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows' bytes as an array, and where each row's bytes start in it."""
        if self._at is None:
            data, ends = self._bytes()
            rows = self.rows
            lo = int(rows[0])
            starts = ends - self.store.length[lo:int(rows[-1]) + 1]
            self._at = (np.frombuffer(data, dtype=np.uint8), starts[rows - lo])
        return self._at

    def _values(self, which: np.ndarray, offset: int, spec: Field, dedupe: bool = True) -> tuple[
            np.ndarray, np.ndarray]:
        """The values a record shows of the field ``spec`` at ``offset`` of rows ``which``:
        each distinct value once (a number's, only if ``dedupe``), and each row's index
        among them."""
        from cmppdissect.store.schema import spot_value

        whole, starts = self._starts()
        at = starts[which] + offset
        if spec.kind is Kind.UINT:
            number = _uints(whole, at, spec.size)
            if not dedupe:
                return (number if spec.size == 8 else number.astype(np.int64)), np.arange(
                    len(number))
            if spec.size <= 2:  # a byte or two: each value's place in a table of all of them
                seen = np.bincount(number.astype(np.intp), minlength=1) > 0
                small = np.flatnonzero(seen)
                index = np.cumsum(seen) - 1
                return small.astype(np.int64), index[number.astype(np.intp)]
            distinct, back = np.unique(number, return_inverse=True)
            return (distinct if spec.size == 8 else distinct.astype(np.int64)), back.reshape(-1)
        # each distinct run of bytes made a value once
        block = np.ascontiguousarray(whole[at[:, None] + np.arange(spec.size)])
        distinct, back = np.unique(block.view(f"V{spec.size}").reshape(-1), return_inverse=True)
        made = np.empty(len(distinct), dtype=object)
        made[:] = [spot_value(spec, bytes(d)) for d in distinct.tolist()]
        return made, back.reshape(-1)

    def raw_holds(self, patterns: list[bytes], *, lower: bool = False) -> np.ndarray:
        """Rows whose bytes hold one of ``patterns`` (``lower``: the bytes with ASCII letters
        in lower case). One search over the rows' bytes concatenated; a hit that straddles
        two rows marks the first, which at worst costs it a decode."""
        rows = self.rows
        hits = np.zeros(len(rows), dtype=bool)
        if not len(rows) or not patterns:
            return hits
        lo = int(rows[0])
        data, ends = self._bytes()
        # bytes.lower() changes only A-Z: patterns without letters are found in the bytes as
        # they are, where they are found in the lowered ones
        if lower and any(p.lower() != p.upper() for p in patterns):
            if self._lower is None:
                self._lower = data.lower()
            data = self._lower
        found = np.zeros(len(ends), dtype=bool)
        # a pattern holding another finds no row that one does not: only the shortest are sought
        distinct = set(patterns)
        for pattern in sorted(p for p in distinct if not any(q != p and q in p for q in distinct)):
            pos = data.find(pattern)
            while pos >= 0:
                local = int(np.searchsorted(ends, pos, side="right"))
                found[local] = True
                pos = data.find(pattern, int(ends[local]))
        picked: np.ndarray = found[rows - lo]
        return picked
