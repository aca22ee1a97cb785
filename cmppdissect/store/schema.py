"""The record schema: one PDU as a JSON-ready dict, named by the spec.

What ``-T json``/``jsonl``/``csv`` write, what the display filter reads (``-Y`` and the TUI's
filter bar), and what the TUI's detail rebuilds: one function, so the three cannot drift apart.
Values are plain JSON types: Octet Strings as text (ASCII, undecodable bytes escaped), binary
fields as hex, integers as integers. The one exception is a 64-bit value (an Unsigned Integer of
8 bytes, the Msg_Ids): it is a :class:`U64`, an int to Python and to the display filter, which
every JSON writer writes as a decimal string (:func:`json_string` says which fields).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cmppdissect.protocol.commands import command_name
from cmppdissect.protocol.content import DecodedContent
from cmppdissect.protocol.expert import Finding
from cmppdissect.protocol.layouts import (
    LAYOUTS,
    REPORT_LAYOUTS,
    Field,
    Kind,
    Layout,
    report_layout,
)
from cmppdissect.protocol.msgid import msg_id_parts
from cmppdissect.protocol.recordkeys import HEADER_KEYS
from cmppdissect.protocol.version import Version
from cmppdissect.store.records import LongSms, PduRecord

__all__ = [
    "HEADER_KEYS",
    "REPORT_PREFIX",
    "SPEC_FIELDS",
    "STRING_FIELDS",
    "TEXT_CODECS",
    "U64",
    "FlatColumn",
    "Place",
    "body_names",
    "content_items",
    "field_place",
    "fixed_offsets",
    "flat_columns",
    "flat_plan",
    "json_string",
    "octet_text",
    "raw_patterns",
    "record_dict",
    "report_spot",
    "spot_value",
    "tail_items",
]

_VERSION_TEXT = {None: None, Version.V2_0: "2.0", Version.V3_0: "3.0"}


def octet_text(value: bytes) -> str:
    """An Octet String as a record shows it: ASCII, any other byte escaped (``\\xNN``)."""
    return value.decode("ascii", "backslashreplace")


class U64(int):
    """A 64-bit value of a record (a Msg_Id): the int it holds, for Python, the display filter
    and the TUI alike, marked so that JSON writes it as a decimal string.

    A JSON number is read as a double by jq, JavaScript and many other readers, which keep 53
    bits: 13558350566173507684 comes back as 13558350566173508000, another id. As a string
    (what tshark's ``-T ek`` does) every reader gets the id exactly. The mark travels with the
    value, so the writers need not know where in a record such values sit.
    """

    __slots__ = ()


def json_string(field: Field) -> bool:
    """Whether JSON writes ``field``'s value as a decimal string: an Unsigned Integer of 8
    bytes, whatever its value, so that its type never depends on it. The one rule; the
    record schema marks these values :class:`U64` and the compiled jsonl writer quotes them."""
    return field.kind is Kind.UINT and field.size == 8


_AS_IS, _TEXT, _HEX, _TEXTS, _U64 = 0, 1, 2, 3, 4
_PLANS: dict[int, tuple[tuple[str, int], ...]] = {}  # id(layout) -> (name, how) per field


def _plan(layout: Layout) -> tuple[tuple[str, int], ...]:
    """How each field of a layout is written: text, hex, a list of texts, a 64-bit value, or
    as it is."""
    plan = _PLANS.get(id(layout))
    if plan is None:
        how = {Kind.STR: _TEXT, Kind.BIN: _HEX, Kind.CONTENT: _HEX, Kind.STR_ARRAY: _TEXTS}
        plan = _PLANS[id(layout)] = tuple(
            (f.name, _U64 if json_string(f) else how.get(f.kind, _AS_IS)) for f in layout.fields)
    return plan


_WRITE = {_TEXT: "{v}.decode('ascii', 'backslashreplace')", _HEX: "{v}.hex()",
          _TEXTS: "[x.decode('ascii', 'backslashreplace') for x in {v}]", _AS_IS: "{v}",
          _U64: "U64({v})"}
_WHOLE: dict[int, Any] = {}  # id(layout) -> its converter for bodies that hold every field


def _whole(layout: Layout) -> Any:
    """The converter of one layout for a body that holds all its fields and nothing more (the
    decoder's everyday result), generated as one dict display: a record is written for every
    PDU, and a loop over the plan costs several times more. Other bodies take the loop."""
    convert = _WHOLE.get(id(layout))
    if convert is None:
        items = ", ".join(f"{name!r}: " + _WRITE[how].format(v=f"f[{name!r}]")
                          for name, how in _plan(layout))
        env: dict[str, Any] = {"U64": U64}
        exec(compile(f"def convert(f):\n    return {{{items}}}\n",
                     f"<record of {layout.name}>", "exec"), env)
        convert = _WHOLE[id(layout)] = env["convert"]
    return convert


def _fields(layout: Layout | None, fields: dict[str, Any]) -> dict[str, Any]:
    if layout is None:
        return {k: (v.hex() if isinstance(v, bytes) else v) for k, v in fields.items()}
    if len(fields) == len(layout.fields):
        return _whole(layout)(fields)  # type: ignore[no-any-return]
    out: dict[str, Any] = {}
    for name, how in _plan(layout):
        value = fields.get(name)
        if value is None:
            continue
        if how == _TEXT:
            out[name] = value.decode("ascii", "backslashreplace")
        elif how == _AS_IS:
            out[name] = value
        elif how == _HEX:
            out[name] = value.hex()
        elif how == _U64:
            out[name] = U64(value)
        else:
            out[name] = [v.decode("ascii", "backslashreplace") for v in value]
    trailing = fields.get("trailing")
    if trailing is not None:
        out["trailing"] = trailing.hex()
    return out


def content_items(content: DecodedContent) -> dict[str, Any]:
    """What a record's ``fields`` show of decoded content, after the layout's fields."""
    items: dict[str, Any] = {"text": content.text}
    if content.udh is not None and content.udh.concat is not None:
        c = content.udh.concat
        items["udh"] = {"reference": c.reference, "total": c.total, "part": c.part}
    return items


def tail_items(long_sms: LongSms | None, expert: Sequence[Finding]) -> dict[str, Any]:
    """A record's last keys: the long message a part completed, and every finding."""
    items: dict[str, Any] = {}
    if long_sms is not None:
        items["long_sms"] = {"reference": long_sms.reference, "total": long_sms.total,
                             "frames": long_sms.frames, "text": long_sms.text()}
    items["expert"] = [f.as_dict() for f in expert] if expert else []
    return items


def record_dict(rec: PduRecord) -> dict[str, Any]:
    pdu = rec.pdu
    fields = _fields(pdu.layout, pdu.fields)
    content = pdu.content
    if content is not None:
        fields.update(content_items(content))
    if pdu.report is not None and pdu.layout is not None:
        rep = report_layout(pdu.layout, pdu.fields, len(pdu.fields["Msg_Content"]))
        fields["report"] = _fields(rep, pdu.report)
    msg_id = pdu.fields.get("Msg_Id")
    if msg_id is not None:
        fields["Msg_Id_parts"] = msg_id_parts(msg_id)
    out: dict[str, Any] = {
        "frame": rec.frame,
        "time": rec.ts_ns / 1e9,
        "session": rec.session,
        "src": rec.src,
        "dst": rec.dst,
        "version": _VERSION_TEXT[pdu.version],
        "command": command_name(pdu.Command_Id),
        "command_id": pdu.Command_Id,
        "sequence_id": pdu.Sequence_Id,
        "total_length": pdu.Total_Length,
        "fields": fields,
    }
    if rec.request_frame is not None:
        out["request_frame"] = rec.request_frame
        out["latency_ms"] = rec.latency_ms
    elif rec.response_frame is not None:
        out["response_frame"] = rec.response_frame
        out["latency_ms"] = rec.latency_ms
    out.update(tail_items(rec.long_sms, (*pdu.findings, *rec.expert)))
    return out


# -- the flat form: one column per field name (Parquet, Arrow, DataFrames) -----------------------


REPORT_PREFIX = "report_"
"""Prefix of the columns of a status report's fields (``report_Stat``), which share names with
body fields (``Msg_Id``) but not values."""


@dataclass(frozen=True, slots=True)
class FlatColumn:
    """One body column of the flat form: the fields named ``field`` (ignoring case) of kind
    ``kind`` (in a layout, or in a status report with ``report``), ``size`` the widest."""

    name: str
    field: str
    kind: Kind
    size: int
    report: bool = False


def _union(layouts: Sequence[Layout], prefix: str, taken: set[str]) -> list[FlatColumn]:
    """Every field of ``layouts`` once per (name, kind), in first-seen order.

    Names are compared ignoring case, as SQL engines such as DuckDB compare them: the spec's
    ``TP_pId`` (SUBMIT) and ``TP_pid`` (DELIVER) are one column, named as first seen. A name
    that two kinds share (``Reserved``: 8 bytes in DELIVER, a number in ACTIVE_TEST_RESP), or
    that a header column has (``Version`` and ``version``), gets the kind as a suffix for the
    second: ``Reserved_uint``, ``Version_uint``.
    """
    found: dict[tuple[str, Kind], list[int]] = {}
    first: dict[tuple[str, Kind], str] = {}
    for layout in layouts:
        for f in layout.fields:
            key = (f.name.lower(), f.kind)
            if key not in found:
                found[key] = []
                first[key] = f.name
            found[key].append(f.size)
    out = []
    for key, name in first.items():
        column = prefix + name
        if column.lower() in taken:
            column = f"{column}_{key[1].value}"
        if column.lower() in taken:  # not today: a third kind of one name
            raise ValueError(f"two flat columns named {column}")
        taken.add(column.lower())
        out.append(FlatColumn(column, name, key[1], max(found[key]), bool(prefix)))
    return out


def flat_columns() -> tuple[FlatColumn, ...]:
    """The body columns of the flat form: the union of every field of every layout of both
    versions (by Command_Id, 2.0 before 3.0), then every field of the status reports.

    Derived here from :data:`~cmppdissect.protocol.layouts.LAYOUTS`, so a field added to a
    layout is a column of every table without another list to edit.
    """
    global _FLAT
    if _FLAT is None:
        taken = {key.lower() for key in (*HEADER_KEYS, *CONTENT_KEYS)}
        layouts = [LAYOUTS[key] for key in sorted(LAYOUTS, key=lambda k: (k[0], k[1].value))]
        _FLAT = (*_union(layouts, "", taken), *_union(list(REPORT_LAYOUTS), REPORT_PREFIX,
                                                      taken))
    return _FLAT


CONTENT_KEYS = ("text", "udh_reference", "udh_total", "udh_part", "trailing", "long_sms_text",
                "expert", "raw")
"""The flat form's columns after the header that no layout states: Msg_Content's decoded text
and UDH, bytes past the layout (``trailing``), the long message a part completed, the
findings, and the whole PDU's bytes."""

_FLAT: tuple[FlatColumn, ...] | None = None
_FLAT_PLANS: dict[tuple[int, bool], tuple[tuple[str, int, bool], ...]] = {}


def flat_plan(layout: Layout, report: bool = False) -> tuple[tuple[str, int, bool], ...]:
    """Where a layout's fields go in the flat form: ``(field, column index, raw)`` per field,
    the index into :func:`flat_columns`; ``raw`` for the bytes of binary fields and
    Msg_Content, which the flat form keeps as bytes rather than the record's hex."""
    key = (id(layout), report)
    plan = _FLAT_PLANS.get(key)
    if plan is None:
        index = {(c.field.lower(), c.kind, c.report): i for i, c in enumerate(flat_columns())}
        plan = _FLAT_PLANS[key] = tuple(
            (f.name, index[(f.name.lower(), f.kind, report)], f.kind in (Kind.BIN, Kind.CONTENT))
            for f in layout.fields)
    return plan

# -- what a record may hold, said without decoding (the display filter's column path) ---------

_MAY_HOLD: dict[int, frozenset[str] | None] = {}


def body_names(command_id: int) -> frozenset[str] | None:
    """Every name a record of this command may have under ``fields`` or ``fields.report``
    (what the display filter looks a body name up in), whichever version decoded it; None when
    that cannot be said (an unknown command: its body is shown as bytes)."""
    if command_id in _MAY_HOLD:
        return _MAY_HOLD[command_id]
    from cmppdissect.protocol.commands import KNOWN_COMMANDS
    from cmppdissect.protocol.layouts import LAYOUTS, MO_REPORT, REPORT_60, REPORT_71

    layouts = [LAYOUTS.get((command_id, v)) for v in Version]
    names: set[str] | None = None
    if command_id in KNOWN_COMMANDS and all(layout is not None for layout in layouts):
        names = {"trailing"}  # bytes past the layout, on any command
        for layout in layouts:
            assert layout is not None
            names.update(f.name for f in layout.fields)
            if any(f.kind is Kind.CONTENT for f in layout.fields):
                names.update(("text", "udh"))
            if layout.content_rule is not None:  # Msg_Content may be a status report
                names.add("report")
                for rep in (REPORT_60, REPORT_71, MO_REPORT):
                    names.update(f.name for f in rep.fields)
        if "Msg_Id" in names:
            names.add("Msg_Id_parts")
    found = None if names is None else frozenset(names)
    _MAY_HOLD[command_id] = found
    return found


def _string_fields() -> frozenset[str]:
    """Names that are an Octet String (or an array of them) wherever they occur: a record
    holds them as ``bytes.decode("ascii", "backslashreplace")`` of the field's bytes."""
    from cmppdissect.protocol.layouts import LAYOUTS, MO_REPORT, REPORT_60, REPORT_71

    kinds: dict[str, set[Kind]] = {}
    for layout in (*LAYOUTS.values(), REPORT_60, REPORT_71, MO_REPORT):
        for f in layout.fields:
            kinds.setdefault(f.name, set()).add(f.kind)
    return frozenset(name for name, found in kinds.items()
                     if found <= {Kind.STR, Kind.STR_ARRAY})


STRING_FIELDS = _string_fields()
_ESCAPE_TAIL = frozenset("x0123456789abcdef")  # what follows the backslash of \\xNN
TEXT_CODECS = ("latin-1", "utf-16-be", "gb18030")  # every codec decode_text may use


def raw_patterns(name: str, text: str) -> list[bytes] | None:
    """Byte strings of which a PDU's bytes hold at least one when its record's ``name`` is a
    string that contains ``text``; [] when no record's can, None when this cannot be said.

    An Octet String is its bytes read as ASCII with each other byte written ``\\xNN``: a value
    holding ``text`` (with no backslash) holds it in ASCII bytes, but for up to three first
    characters that may be the tail of an escape. Message text is decoded by one of
    :data:`TEXT_CODECS`, each of which decodes a character from bytes that encode it back
    (save U+FFFD, which stands for bytes that failed).
    """
    if not text:
        return None
    if name == "text":
        if "\ufffd" in text:
            return None
        found: list[bytes] = []
        for codec in TEXT_CODECS:
            try:
                pattern = text.encode(codec)
            except UnicodeEncodeError:
                continue
            if pattern not in found:
                found.append(pattern)
        return found
    if name not in STRING_FIELDS or "\\" in text:
        return None
    if not text.isascii():
        return []
    needle = text[3:] if text[0] in _ESCAPE_TAIL else text
    return [needle.encode("ascii")] if needle else None


_FIXED_KINDS = frozenset({Kind.UINT, Kind.INT, Kind.STR, Kind.BIN})


def fixed_offsets(layout: Layout) -> dict[str, tuple[int, Field]]:
    """Fields at a fixed offset of the body (every field before them has a fixed size)."""
    out: dict[str, tuple[int, Field]] = {}
    off = 0
    for f in layout.fields:
        out[f.name] = (off, f)
        if f.kind not in _FIXED_KINDS:
            break
        off += f.size
    return out


def _spec_fields() -> frozenset[str]:
    from cmppdissect.protocol.layouts import LAYOUTS, MO_REPORT, REPORT_60, REPORT_71

    return frozenset(f.name for layout in (*LAYOUTS.values(), REPORT_60, REPORT_71, MO_REPORT)
                     for f in layout.fields)


SPEC_FIELDS = _spec_fields()


@dataclass(frozen=True, slots=True)
class Place:
    """Where the record of a PDU decoded with ``layout`` takes a field from, read from the
    PDU's bytes instead of decoding it (the display filter's column path, search).

    ``body``: (offset from the PDU's first byte, the field) when the layout has the field at a
    fixed offset: the record holds it exactly when the PDU reaches the field's end (the
    decoder reads fixed fields in order, as far as the bytes go), and then a lookup by name
    never goes on to a status report. Otherwise, when Msg_Content may be a status report
    (``switch``: the field that says so, and ``length``, Msg_Length, each as (offset, field)),
    ``content`` is where Msg_Content starts: the record holds a report when the PDU holds
    both fields and :func:`~cmppdissect.protocol.layouts.report_layout` chooses one for the
    switch's value and Msg_Content's length as cut (Msg_Length, or fewer when the PDU ends
    first); the field, if that report has it, is then at ``content`` plus its offset there
    (:func:`report_spot`). ``array``: an array of fixed-size strings after a count, (where
    the count is, the count field, where the first element is, the array field): the record
    holds the array when the PDU reaches its first element (the count read, and every field
    before), with as many elements as the count says and the PDU holds whole. Neither: no
    record of this layout holds the field.
    """

    layout: Layout
    body: tuple[int, Field] | None = None
    array: tuple[int, Field, int, Field] | None = None
    switch: tuple[int, Field] | None = None
    length: tuple[int, Field] | None = None
    content: int = 0


@functools.cache
def field_place(command_id: int, version: Version, name: str, in_report: bool) -> Place | None:
    """Where a record of this command, decoded as ``version``, takes field ``name`` from (of
    its status report only, if ``in_report``), as a lookup by name finds it (the body first,
    then the report); None when offsets cannot say (an unknown command, a field after a
    variable one, or a name that is not a spec field)."""
    from cmppdissect.protocol.commands import HEADER_LEN

    if body_names(command_id) is None or name not in SPEC_FIELDS:
        return None
    layout = LAYOUTS[(command_id, version)]
    offsets = fixed_offsets(layout)
    if not in_report and any(f.name == name for f in layout.fields):
        if name in offsets and offsets[name][1].kind is Kind.STR_ARRAY:
            at, array = offsets[name]
            count = array.count_from
            if count is None or count not in offsets:
                return None
            return Place(layout, array=(HEADER_LEN + offsets[count][0], offsets[count][1],
                                        HEADER_LEN + at, array))
        if name not in offsets or offsets[name][1].kind not in _FIXED_KINDS:
            return None
        return Place(layout, body=(HEADER_LEN + offsets[name][0], offsets[name][1]))
    if layout.content_rule is None:
        return Place(layout)
    content = next(f for f in layout.fields if f.kind is Kind.CONTENT)
    switch = "Registered_Delivery" if layout.content_rule == "deliver" else "Msg_Fwd_Type"
    if content.name not in offsets or switch not in offsets or \
            content.length_from not in offsets:
        return None
    if any(name in (f.name for f in rep.fields) and name not in fixed_offsets(rep)
           for rep in REPORT_LAYOUTS):
        return None
    at_switch, at_length = offsets[switch], offsets[content.length_from]
    return Place(layout, switch=(HEADER_LEN + at_switch[0], at_switch[1]),
                 length=(HEADER_LEN + at_length[0], at_length[1]),
                 content=HEADER_LEN + offsets[content.name][0])


def report_spot(place: Place, switch: int, length: int, name: str) -> tuple[
        Layout | None, tuple[int, Field] | None]:
    """The report a record of ``place`` holds when its switch field is ``switch`` and
    Msg_Content (as cut) ``length`` bytes long (None: none), and where in the PDU that
    report's field ``name`` is (None: the report has no such field)."""
    assert place.switch is not None
    rep = report_layout(place.layout, {place.switch[1].name: switch}, length)
    if rep is None:
        return None, None
    inner = fixed_offsets(rep).get(name)
    return rep, None if inner is None else (place.content + inner[0], inner[1])


def spot_value(field: Field, raw: bytes) -> Any:
    """A fixed field's value in a record, from its ``field.size`` bytes (what the decoder and
    :func:`record_dict` make of them)."""
    if field.kind is Kind.UINT:
        value = int.from_bytes(raw, "big")
        return U64(value) if json_string(field) else value
    if field.kind is Kind.INT:
        return int.from_bytes(raw, "big", signed=True)
    if field.kind is Kind.BIN:
        return raw.hex()
    return octet_text(raw.partition(b"\0")[0])
