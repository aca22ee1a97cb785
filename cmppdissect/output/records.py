"""JSON text of records and reports, safe to show in a terminal.

Every JSON writer goes through here (or writes what this module writes, ``_jsonl.pyx``), so
the record schema's 64-bit values (:class:`~cmppdissect.store.schema.U64`) are decimal strings
in every JSON output, and ints everywhere else.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any, TextIO

import orjson

from cmppdissect.output.sanitize import UNSAFE_RANGES, char_class
from cmppdissect.protocol.content import decode_content
from cmppdissect.store.records import RowSlice, engine_findings, record_in
from cmppdissect.store.schema import U64, content_items, record_dict, tail_items

__all__ = ["dump", "dumps", "dumps_line", "jsonl_slice", "record_dict", "safe_json"]

# What a terminal must not get raw (sanitize.UNSAFE_RANGES) past the C0 controls, which JSON
# escapes itself; as text, and as the UTF-8 of each character for lines orjson wrote.
_RANGES = tuple((max(a, 0x7F), b) for a, b in UNSAFE_RANGES if b >= 0x7F)
_C1_AND_BIDI = re.compile(char_class(_RANGES))
_UNSAFE_UTF8 = re.compile(b"|".join(re.escape(chr(c).encode()) for a, b in _RANGES
                                    for c in range(a, b + 1)))
# Their first bytes: a line with none of them (most lines, Chinese text included) is not
# searched further.
_LEAD_BYTES = re.compile(b"[" + b"".join(re.escape(bytes([lead])) for lead in sorted(
    {chr(c).encode()[0] for a, b in _RANGES for c in range(a, b + 1)})) + b"]")


def _json_escape(char: str) -> str:
    """``\\uXXXX`` for one character (a surrogate pair beyond the BMP, as JSON has it)."""
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _builtin_of(obj: Any) -> Any:
    """A subclass of a builtin type as JSON writes it: a :class:`U64` as its decimal string
    (the one place that spells it), any other as the builtin it extends. orjson's ``default``
    with OPT_PASSTHROUGH_SUBCLASS, which hands over every subclass of str, int, dict and list."""
    if isinstance(obj, U64):
        return int.__str__(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, str):
        return str.__str__(obj)
    if isinstance(obj, dict):
        return dict(obj)
    if isinstance(obj, list):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _u64_as_text(obj: Any) -> Any:
    """``obj`` with every :class:`U64` in it as its decimal string, for the standard encoder,
    which writes any int subclass as a number and has no hook for one.

    Records and reports are plain dicts, lists and scalars, and ``-T json`` walks every
    record, so types are told apart by identity (several times faster than ``isinstance``)
    and only containers are descended into. What holds no U64 is returned as it is: the
    caller's dicts are never changed, and are copied only where one sits.
    """
    kind = type(obj)
    if kind is U64:
        return _builtin_of(obj)
    if kind is dict:
        items: Any = obj.items()
    elif kind is list or kind is tuple:
        items = enumerate(obj)
    else:
        return obj
    out = None
    for key, value in items:
        kind = type(value)
        if kind is U64:
            new = _builtin_of(value)
        elif kind is dict or kind is list or kind is tuple:
            new = _u64_as_text(value)
            if new is value:
                continue
        else:
            continue
        if out is None:
            out = obj.copy() if type(obj) is dict else list(obj)
        out[key] = new
    return obj if out is None else out


_ORJSON = orjson.OPT_PASSTHROUGH_SUBCLASS
_ORJSON_LINE = _ORJSON | orjson.OPT_APPEND_NEWLINE


def dumps(obj: Any, **kw: Any) -> str:
    """JSON with real Unicode text but no C1 control or bidi override left raw, and every
    64-bit value (:class:`U64`) as a decimal string.

    ``json`` escapes C0 controls itself; the rest is escaped as ``\\uXXXX``, which any JSON
    reader turns back into the same string, while a terminal that shows the line stays safe.
    """
    text = json.dumps(_u64_as_text(obj), ensure_ascii=False, **kw)
    return _C1_AND_BIDI.sub(lambda m: _json_escape(m.group()), text)


def dump(obj: Any, out: TextIO, *, indent: int | None = None) -> None:
    """:func:`dumps` written to ``out`` as it is made, a piece at a time: the same text, but a
    report of 20,000 sessions and 100,000 findings never exists whole, neither as one string
    nor as the million little strings the standard encoder joins into it with an indent (280
    MB), nor as a copy of every dict that holds a 64-bit value."""
    pieces: list[str] = []
    size = 0
    for piece in _dump_pieces(obj, 0, indent):
        pieces.append(piece)
        size += len(piece)
        if size >= 1 << 16:
            out.write(_C1_AND_BIDI.sub(lambda m: _json_escape(m.group()), "".join(pieces)))
            pieces.clear()
            size = 0
    out.write(_C1_AND_BIDI.sub(lambda m: _json_escape(m.group()), "".join(pieces)))


def _dump_pieces(obj: Any, depth: int, indent: int | None) -> Iterator[str]:
    """The text of ``obj`` at nesting ``depth``: the outer container item by item, and so the
    lists in it (the report's sessions and findings; ``-T json``'s records), the rest whole,
    its lines indented to the depth (all that nesting changes: JSON text has no raw newline
    inside a string)."""
    kind = type(obj)
    if indent is not None and obj and (
            (depth == 0 and (kind is dict or kind is list or kind is tuple))
            or (depth == 1 and (kind is list or kind is tuple))):
        inner = "\n" + " " * (indent * (depth + 1))
        sep = "," + inner
        if kind is dict:
            yield "{"
            for i, (key, value) in enumerate(obj.items()):
                # the key as the standard encoder writes it (an int key as a string...)
                yield (sep if i else inner) + json.dumps({key: None}, ensure_ascii=False)[1:-7]
                yield ": "
                yield from _dump_pieces(value, depth + 1, indent)
            yield "\n" + " " * (indent * depth) + "}"
        else:
            yield "["
            for i, value in enumerate(obj):
                yield sep if i else inner
                yield from _dump_pieces(value, depth + 1, indent)
            yield "\n" + " " * (indent * depth) + "]"
        return
    text = _encoder(indent).encode(_u64_as_text(obj))
    yield text.replace("\n", "\n" + " " * (indent * depth)) if depth and indent else text


@functools.cache
def _encoder(indent: int | None) -> json.JSONEncoder:
    """What ``json.dumps(..., ensure_ascii=False, indent=indent)`` makes at every call."""
    return json.JSONEncoder(ensure_ascii=False, indent=indent)


def _escape(match: re.Match[bytes]) -> bytes:
    return _json_escape(match.group().decode()).encode()


def dumps_line(obj: Any) -> bytes:
    """One JSON line (newline included) as UTF-8, with what :func:`dumps` escapes escaped.

    orjson writes it in C; the escaping pass runs only on a line that has a byte that could
    start such a character (DEL, or any non-ASCII byte), which a line without text never has.
    A 64-bit value (:class:`U64`) is written as a decimal string, as :func:`dumps` does.
    """
    try:
        line = orjson.dumps(obj, default=_builtin_of, option=_ORJSON_LINE)
    except TypeError:  # a str orjson refuses (lone surrogates): the standard encoder's way
        return (dumps(obj) + "\n").encode("utf-8", "backslashreplace")
    return safe_json(line)


def safe_json(line: bytes) -> bytes:
    """JSON bytes with what a terminal must not get raw escaped (see :func:`dumps`)."""
    if _LEAD_BYTES.search(line) is None:
        return line  # no byte that could start one
    return _UNSAFE_UTF8.sub(_escape, line)


def _keys(items: dict[str, Any]) -> bytes | None:
    """``items`` as the keys they are inside a record's line (None: not for orjson)."""
    try:
        return safe_json(orjson.dumps(items, default=_builtin_of, option=_ORJSON))[1:-1]
    except TypeError:
        return None


def _text_keys(content: bytes, msg_fmt: int, tp_udhi: int, pk_total: int | None,
               pk_number: int | None) -> bytes | None:
    """The compiled writer's ``text`` callback: decoded content's keys, None if the content
    has findings (the record then comes from the full decoder)."""
    decoded = decode_content(content, msg_fmt, tp_udhi, Pk_total=pk_total, Pk_number=pk_number)
    if decoded.findings:
        return None
    keys = _keys(content_items(decoded))
    return None if keys is None else b"," + keys


def jsonl_slice(sl: RowSlice, limit: int | None = None) -> tuple[bytes, int]:
    """The ``-T jsonl`` lines of a slice, at most ``limit``, and how many: plain PDUs written
    by the compiled writer, the rest through :func:`record_dict` (see ``_jsonl.pyx``)."""
    from cmppdissect.output import _jsonl

    def tail(row: int, command_id: int, sequence_id: int, stat: bytes | None,
             partner_frame: int, flags: int) -> bytes | None:
        expert = engine_findings(sl, row, command_id, sequence_id, stat, partner_frame, flags)
        return _keys(tail_items(sl.long_sms.get(row), expert))

    def fallback(index: int, pos: int) -> bytes:
        return dumps_line(record_dict(record_in(sl, index, pos)))

    return _jsonl.emit(sl, _text_keys, tail, fallback, limit)
