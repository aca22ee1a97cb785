"""JSON text of records and reports, safe to show in a terminal."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from cmppdissect.protocol.content import decode_content
from cmppdissect.store.records import RowSlice, engine_findings, record_in
from cmppdissect.store.schema import content_items, record_dict, tail_items

__all__ = ["dumps", "dumps_line", "jsonl_slice", "record_dict"]

_UNSAFE = "[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
_C1_AND_BIDI = re.compile(_UNSAFE)
# The same characters as UTF-8 bytes, for lines orjson wrote: DEL, C1 (C2 80-9F), and the
# bidi controls and line separators (E2 80 8E/8F/A8-AE, E2 81 A6-A9).
_UNSAFE_UTF8 = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xe2\x80[\x8e\x8f\xa8-\xae]|\xe2\x81[\xa6-\xa9]")


def dumps(obj: Any, **kw: Any) -> str:
    """JSON with real Unicode text but no C1 control or bidi override left raw.

    ``json`` escapes C0 controls itself; the rest is escaped as ``\\uXXXX``, which any JSON
    reader turns back into the same string, while a terminal that shows the line stays safe.
    """
    text = json.dumps(obj, ensure_ascii=False, **kw)
    return _C1_AND_BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _escape(match: re.Match[bytes]) -> bytes:
    return f"\\u{ord(match.group().decode()):04x}".encode()


def dumps_line(obj: Any) -> bytes:
    """One JSON line (newline included) as UTF-8, with what :func:`dumps` escapes escaped.

    orjson writes it in C; the escaping pass runs only on a line that has a byte that could
    start such a character (DEL, or any non-ASCII byte), which a line without text never has.
    """
    try:
        line = orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # a str orjson refuses (lone surrogates): the standard encoder's way
        return (dumps(obj) + "\n").encode("utf-8", "backslashreplace")
    return _safe(line)


def _safe(line: bytes) -> bytes:
    if b"\x7f" not in line and (line.isascii() or (b"\xc2" not in line
                                                   and b"\xe2" not in line)):
        return line  # no byte that could start one: most lines, Chinese text included
    return _UNSAFE_UTF8.sub(_escape, line)


def _keys(items: dict[str, Any]) -> bytes | None:
    """``items`` as the keys they are inside a record's line (None: not for orjson)."""
    try:
        return _safe(orjson.dumps(items))[1:-1]
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
