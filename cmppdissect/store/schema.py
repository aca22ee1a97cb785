"""The record schema: one PDU as a JSON-ready dict, named by the spec.

What ``-T json``/``jsonl``/``csv`` write, what the display filter reads (``-Y`` and the TUI's
filter bar), and what the TUI's detail rebuilds: one function, so the three cannot drift apart.
Values are plain JSON types: Octet Strings as text (ASCII, undecodable bytes escaped), binary
fields as hex, integers as integers.
"""

from __future__ import annotations

from typing import Any

from cmppdissect.protocol.layouts import Kind, Layout, report_layout
from cmppdissect.protocol.msgid import split_msg_id
from cmppdissect.store.records import PduRecord

__all__ = ["record_dict"]


def _ascii(value: bytes) -> str:
    return value.decode("ascii", "backslashreplace")


def _fields(layout: Layout | None, fields: dict[str, Any]) -> dict[str, Any]:
    if layout is None:
        return {k: (v.hex() if isinstance(v, bytes) else v) for k, v in fields.items()}
    out: dict[str, Any] = {}
    for f in layout.fields:
        if f.name not in fields:
            continue
        value = fields[f.name]
        if f.kind is Kind.STR:
            out[f.name] = _ascii(value)
        elif f.kind is Kind.BIN or f.kind is Kind.CONTENT:
            out[f.name] = value.hex()
        elif f.kind is Kind.STR_ARRAY:
            out[f.name] = [_ascii(v) for v in value]
        else:
            out[f.name] = value
    if "trailing" in fields:
        out["trailing"] = fields["trailing"].hex()
    return out


def record_dict(rec: PduRecord) -> dict[str, Any]:
    pdu = rec.pdu
    fields = _fields(pdu.layout, pdu.fields)
    content = pdu.content
    if content is not None:
        fields["text"] = content.text
        if content.udh is not None and content.udh.concat is not None:
            c = content.udh.concat
            fields["udh"] = {"reference": c.reference, "total": c.total, "part": c.part}
    if pdu.report is not None and pdu.layout is not None:
        rep = report_layout(pdu.layout, pdu.fields, len(pdu.fields["Msg_Content"]))
        fields["report"] = _fields(rep, pdu.report)
    if "Msg_Id" in pdu.fields:
        mid = split_msg_id(pdu.fields["Msg_Id"])
        fields["Msg_Id_parts"] = {"month": mid.month, "day": mid.day, "hour": mid.hour,
                                  "minute": mid.minute, "second": mid.second,
                                  "gateway": mid.gateway, "sequence": mid.sequence}
    out: dict[str, Any] = {
        "frame": rec.frame,
        "time": rec.ts_ns / 1e9,
        "session": rec.session,
        "src": rec.src,
        "dst": rec.dst,
        "version": pdu.version.value if pdu.version else None,
        "command": rec.command,
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
    if rec.long_sms is not None:
        msg = rec.long_sms
        out["long_sms"] = {"reference": msg.reference, "total": msg.total,
                           "frames": msg.frames, "text": msg.text()}
    out["expert"] = [f.as_dict() for f in (*pdu.findings, *rec.expert)]
    return out
