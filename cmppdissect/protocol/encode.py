"""Build PDU bytes from spec-named fields, using the same layouts as the decoders.

The simulator and the tests build PDUs without Scapy; counts (DestUsr_tl), lengths
(Msg_Length, Total_Length) and report structures are filled in here so callers only state
what a PDU means.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from cmppdissect.protocol.commands import HEADER_LEN
from cmppdissect.protocol.layouts import (
    LAYOUTS,
    REPORT_60,
    REPORT_71,
    Field,
    Kind,
    Layout,
)
from cmppdissect.protocol.version import Version

_INT = {(Kind.UINT, 1): ">B", (Kind.UINT, 2): ">H", (Kind.UINT, 4): ">I",
        (Kind.UINT, 8): ">Q", (Kind.INT, 4): ">i"}


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("ascii")
    return bytes(value)


def _fixed(value: Any, size: int, name: str) -> bytes:
    data = _as_bytes(value)
    if len(data) > size:
        raise ValueError(f"{name}: {len(data)} bytes do not fit its {size}-byte field")
    return data.ljust(size, b"\0")


def encode_fields(layout: Layout, fields: Mapping[str, Any], *, omit_tail: bool = False) -> bytes:
    """Body bytes for ``layout``. Missing fields take 0 / empty; ``omit_tail`` drops Reserve."""
    out: list[bytes] = []
    content = _content_bytes(fields.get("Msg_Content", b""))
    for f in layout.fields:
        if f.tail and omit_tail:
            continue
        out.append(_encode_field(f, layout, fields, content))
    return b"".join(out)


def _content_bytes(value: Any) -> bytes:
    if isinstance(value, Mapping):
        dest = _as_bytes(value.get("Dest_terminal_Id", b""))
        layout = REPORT_71 if value.get("_size") == 71 or len(dest) > 21 else REPORT_60
        return encode_fields(layout, value)
    return _as_bytes(value)


def _encode_field(f: Field, layout: Layout, fields: Mapping[str, Any], content: bytes) -> bytes:
    if f.count_of is not None:
        value: Any = fields.get(f.name)
        if value is None:
            value = len(fields.get(f.count_of, ()))
    elif f.length_of is not None:
        value = fields.get(f.name)
        if value is None:
            value = len(content)
    elif f.kind is Kind.CONTENT:
        return content
    elif f.kind is Kind.STR_ARRAY:
        return b"".join(_fixed(v, f.size, f.name) for v in fields.get(f.name, ()))
    else:
        value = fields.get(f.name)
    if f.kind in (Kind.STR, Kind.BIN):
        return _fixed(b"" if value is None else value, f.size, f.name)
    return struct.pack(_INT[(f.kind, f.size)], int(value or 0))


def encode_pdu(command_id: int, sequence_id: int, fields: Mapping[str, Any] | None = None,
               version: Version = Version.V2_0, *, omit_tail: bool = False,
               total_length: int | None = None) -> bytes:
    """A whole PDU. ``total_length`` overrides the computed one (to build malformed PDUs)."""
    layout = LAYOUTS[(command_id, version)]
    body = encode_fields(layout, fields or {}, omit_tail=omit_tail)
    total = HEADER_LEN + len(body) if total_length is None else total_length
    return struct.pack(">III", total, command_id, sequence_id) + body
