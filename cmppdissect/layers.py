"""Scapy layers for every CMPP 2.0 and 3.0 PDU, generated from the shared layouts.

``CMPP`` is the 12-byte header; its payload is the body class of the command, picked from
Command_Id and, where the versions differ, from the lengths (CONNECT_RESP 30 vs 33, SUBMIT
138+21N+L vs 163+32N+L, ...). Bytes after a PDU dissect as the next ``CMPP``, so a buffer of
several PDUs is a chain ``CMPP/Body/CMPP/Body``. ``CMPPv2``/``CMPPv3`` prefer one version for
the whole chain (a body that only fits the other layout still decodes, with a finding).

Building: ``CMPP()/CMPPSubmitV3(Dest_terminal_Id=[b"13800138000"], Msg_Content=b"hi")`` fills
Command_Id, Total_Length, DestUsr_tl and Msg_Length. Field layouts are not written here: they
come from :mod:`cmppdissect.protocol.layouts`, the same tables the fast decoder compiles.
"""

# SPDX-License-Identifier: MIT
# scapy.contrib.description = CMPP 2.0/3.0 (China Mobile SMS gateway protocol)
# scapy.contrib.status = loads

from __future__ import annotations

import struct
from typing import Any, ClassVar

from scapy.config import conf
from scapy.fields import (
    AnyField,
    ByteField,
    FieldLenField,
    FieldListField,
    IntField,
    LongField,
    MultipleTypeField,
    PacketLenField,
    ShortField,
    SignedIntField,
    StrField,
    StrFixedLenField,
    StrLenField,
    XStrFixedLenField,
)
from scapy.fields import (
    Field as ScapyField,
)
from scapy.layers.inet import TCP
from scapy.packet import Packet, bind_bottom_up, bind_layers, bind_top_down

from cmppdissect.protocol import codes, content, report, timefmt
from cmppdissect.protocol.commands import (
    DEFAULT_PORTS,
    HEADER_LEN,
    KNOWN_COMMANDS,
    MAX_PDU_LEN,
    CommandId,
    command_name,
    is_response,
    pair_key,
)
from cmppdissect.protocol.decode import choose_layout, decode_pdu
from cmppdissect.protocol.expert import Finding
from cmppdissect.protocol.layouts import (
    LAYOUTS,
    MO_REPORT,
    REPORT_60,
    REPORT_71,
    Field,
    Kind,
    Layout,
    report_layout,
)
from cmppdissect.protocol.msgid import split_msg_id
from cmppdissect.protocol.version import Version, version_from_byte

# -- field classes -------------------------------------------------------------------------------


class _LenientGet:
    """A fixed-size field that reads as absent (None) when the bytes end before it."""

    sz: int

    def getfield(self, pkt: Packet, s: bytes) -> tuple[bytes, Any]:
        if len(s) < self.sz:
            return s, None
        return super().getfield(pkt, s)  # type: ignore[misc]


class _Lenient(_LenientGet):
    """A body field that is absent (None) when the body ends before it.

    Real senders omit trailing fields (a 12-byte ACTIVE_TEST_RESP, a SUBMIT without Reserve);
    the field then reads as None instead of failing the whole body, and an absent field adds
    no bytes when the packet is rebuilt, so ``raw(CMPP(x)) == x`` holds for those PDUs too.
    """

    def addfield(self, pkt: Packet, s: bytes, val: Any) -> bytes:
        if val is None:
            return s
        return super().addfield(pkt, s, val)  # type: ignore[misc]


def _coded_repr(table: str, version: Version | None) -> Any:
    def i2repr(self: ScapyField[Any, Any], pkt: Packet | None, x: Any) -> str:
        if x is None:
            return "<absent>"
        name = codes.code_name(table, x, version)
        return f"{x} ({name})" if name else repr(x)
    return i2repr


class CMPPStrField(_Lenient, StrFixedLenField):
    """Octet String: the value ends at its first NUL (D21); what follows it is not part of the
    value (the fast decoder's findings show it)."""

    def m2i(self, pkt: Packet | None, x: bytes) -> bytes:
        return x.partition(b"\0")[0]


class _MsgIdField(_Lenient, LongField):
    def i2repr(self, pkt: Packet | None, x: Any) -> str:
        if x is None:
            return "<absent>"
        return f"0x{x:016X} ({split_msg_id(x)})"


class _TimestampField(_Lenient, IntField):
    def i2repr(self, pkt: Packet | None, x: Any) -> str:
        if x is None:
            return "<absent>"
        text = timefmt.format_timestamp(x)
        return f"{x} ({text})" if text else repr(x)


class _VersionField(_Lenient, ByteField):
    def i2repr(self, pkt: Packet | None, x: Any) -> str:
        if x is None:
            return "<absent>"
        v = version_from_byte(x)
        return f"0x{x:02X} ({v if v else 'unknown'})"


class _StatField(CMPPStrField):
    def i2repr(self, pkt: Packet | None, x: Any) -> str:
        if x is None:
            return "<absent>"
        text = x.decode("ascii", "backslashreplace")
        return f"{text!r} ({report.stat_meaning(text)})"


class _ContentField(StrLenField):
    """Msg_Content that is not a report: shown as decoded text (Msg_Fmt, UDH) after the bytes."""

    def i2repr(self, pkt: Packet | None, x: Any) -> str:
        if pkt is None or not isinstance(x, bytes):
            return super().i2repr(pkt, x)
        dec = content.decode_content(x, pkt.getfieldval("Msg_Fmt") or 0,
                                     pkt.getfieldval("TP_udhi") or 0)
        parts = []
        if dec.udh is not None:
            parts.append(f"UDH {dec.udh}")
        parts.append(repr(dec.text) if dec.text is not None else f"hex {dec.hex}")
        return f"{x!r} -> " + " ".join(parts)


_UINT = {1: ByteField, 2: ShortField, 4: IntField, 8: LongField}
_LENIENT_CACHE: dict[type, type] = {}


def _lenient(base: type) -> type:
    cls = _LENIENT_CACHE.get(base)
    if cls is None:
        cls = _LENIENT_CACHE[base] = type(f"Lenient{base.__name__}", (_Lenient, base), {})
    return cls


class _CountField(_LenientGet, FieldLenField):
    """DestUsr_tl / Msg_Length: absent (None) in a body that ends before it (a 12-byte SUBMIT)
    instead of failing the dissection; a built packet still computes it from its list."""


def _scapy_field(f: Field, layout: Layout, version: Version | None) -> AnyField:
    if f.count_of is not None:
        return _CountField(f.name, None, count_of=f.count_of, fmt="B")
    if f.length_of is not None:
        return _CountField(f.name, None, length_of=f.length_of, fmt="B")
    if f.kind is Kind.UINT:
        if f.display == "msg_id":
            return _MsgIdField(f.name, 0)
        if f.display == "timestamp":
            return _TimestampField(f.name, 0)
        if f.display == "version":
            return _VersionField(f.name, 0x30 if version is Version.V3_0 else 0x20)
        base = _UINT[f.size]
        if f.codes:
            coded = type(f"{f.codes}_{version}_{base.__name__}", (_Lenient, base),
                         {"i2repr": _coded_repr(f.codes, version)})
            return coded(f.name, 0)
        return _lenient(base)(f.name, 0)
    if f.kind is Kind.INT:
        return _lenient(SignedIntField)(f.name, 0)
    if f.kind is Kind.STR:
        if f.display == "stat":
            return _StatField(f.name, b"", length=f.size)
        return CMPPStrField(f.name, b"", length=f.size)
    if f.kind is Kind.BIN:
        return _lenient(XStrFixedLenField)(f.name, b"", length=f.size)
    if f.kind is Kind.STR_ARRAY:
        counter = f.count_from or ""
        return FieldListField(
            f.name, [], CMPPStrField("", b"", length=f.size),
            count_from=lambda pkt: pkt.getfieldval(counter))
    return _content_field(f, layout)


def _content_field(f: Field, layout: Layout) -> AnyField:
    length_name = f.length_from or ""

    def length(pkt: Packet) -> int:
        return int(pkt.getfieldval(length_name) or 0)

    def view(pkt: Packet) -> dict[str, Any]:
        return {"Registered_Delivery": pkt.getfieldval("Registered_Delivery"),
                "Msg_Fwd_Type": pkt.fields.get("Msg_Fwd_Type")}

    choices: list[Any] = []
    for rep_layout, rep_cls in ((REPORT_60, CMPPReport60), (REPORT_71, CMPPReport71),
                                (MO_REPORT, CMPPMoReport)):
        def dissect_cond(pkt: Packet, _rep: Layout = rep_layout) -> bool:
            return report_layout(layout, view(pkt), length(pkt)) is _rep

        def build_cond(pkt: Packet, val: Any, _cls: type = rep_cls) -> bool:
            return isinstance(val, _cls)

        choices.append((PacketLenField(f.name, None, rep_cls,  # type: ignore[arg-type]
                                       length_from=length),
                        (dissect_cond, build_cond)))
    return MultipleTypeField(choices, _ContentField(f.name, b"", length_from=length))


# -- packets ------------------------------------------------------------------------------------

COMMAND_NAMES = {int(c): command_name(int(c)) for c in CommandId}


class CMPP(Packet):
    """CMPP header. The body class is chosen from Command_Id and, for 2.0/3.0, the lengths.

    ``CMPP(raw)`` dissects a PDU (or a chain of them); ``pkt.expert()`` lists the findings the
    core decoder attaches (reference §11 deviations); ``CMPPv2``/``CMPPv3`` prefer a version.
    """

    name = "CMPP"
    match_subclass = True  # pkt[CMPP] also finds the CMPPv2/CMPPv3 headers of a chain
    fields_desc: ClassVar[list[AnyField]] = [
        type("TotalLengthField", (_LenientGet, IntField), {})("Total_Length", None),
        type("CommandIdField", (_Lenient, IntField), {
            "i2repr": lambda self, pkt, x: "<absent>" if x is None else command_name(x)})(
            "Command_Id", 0),
        _lenient(IntField)("Sequence_Id", 0),
    ]
    preferred_version: ClassVar[Version | None] = None

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        if self.Total_Length is None:
            body_len = len(pay)
            nxt = self.payload.payload if isinstance(self.payload, CMPPBody) else None
            if nxt is not None and not isinstance(nxt, conf.padding_layer) and len(nxt):
                body_len -= len(bytes(nxt))
            p = struct.pack("!I", HEADER_LEN + body_len) + p[4:]
        return p + pay

    def version_hint(self) -> Version | None:
        """The preferred version, else the one the previous PDU of the chain settled on."""
        if self.preferred_version is not None:
            return self.preferred_version
        prev = self.underlayer
        if isinstance(prev, CMPPBody):
            return prev.resolved_version
        return None

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        total = self.Total_Length or 0
        body = payload[: max(0, total - HEADER_LEN)]
        version, layout, _ = choose_layout(self.Command_Id or 0, body, self.version_hint())
        if layout is None:
            return CMPPUnknownBody
        return BODY_CLASSES[(self.Command_Id, version or Version.V2_0)]

    def do_dissect_payload(self, s: bytes) -> None:
        if not s and (self.Command_Id or 0) in KNOWN_COMMANDS:
            # An empty body is still a body (TERMINATE, a 12-byte ACTIVE_TEST_RESP): show the
            # layer, with absent fields left None so the rebuild stays byte-exact.
            body = self.guess_payload_class(s)(_internal=1, _underlayer=self)
            body.dissect(b"")
            self.add_payload(body)
            return
        super().do_dissect_payload(s)

    def hashret(self) -> bytes:
        cmd, seq = pair_key(self.Command_Id or 0, self.Sequence_Id or 0)
        return struct.pack("!II", cmd, seq)

    def answers(self, other: Packet) -> int:
        if not isinstance(other, CMPP):
            return 0
        mine, theirs = self.Command_Id or 0, other.Command_Id or 0
        return int(is_response(mine) and not is_response(theirs)
                   and pair_key(mine, self.Sequence_Id) == pair_key(theirs, other.Sequence_Id))

    def mysummary(self) -> str:
        return self.sprintf(f"CMPP {command_name(self.Command_Id or 0)} seq=%Sequence_Id%")

    def expert(self) -> list[Finding]:
        """Findings for this PDU, from the core decoder over the same bytes."""
        hint = self.version_hint()
        if isinstance(self.payload, CMPPBody) and self.payload.cmpp_version is not None:
            hint = hint or self.payload.cmpp_version
        return decode_pdu(bytes(self), hint).findings

    @classmethod
    def tcp_reassemble(cls, data: bytes, metadata: dict[str, Any],
                       session: dict[str, Any]) -> Packet | None:
        """Hand TCPSession every complete PDU in ``data``; the rest waits for more bytes."""
        off = 0
        n = len(data)
        while n - off >= HEADER_LEN:
            (total,) = struct.unpack_from("!I", data, off)
            if total < HEADER_LEN or total > MAX_PDU_LEN:
                # Not a plausible header: give everything to the dissector rather than wait
                # forever; the capture engine (not TCPSession) is the tool that resyncs.
                off = n
                break
            if off + total > n:
                break
            off += total
        if off == 0:
            return None
        header_cls = {Version.V2_0: CMPPv2, Version.V3_0: CMPPv3}.get(
            session.get("cmpp_version"), cls)  # type: ignore[arg-type]
        pkt = header_cls(data[:off])
        layer: Packet | None = pkt
        while isinstance(layer, CMPP):
            body = layer.payload
            if isinstance(body, CMPPBody) and body.cmpp_version is not None:
                session["cmpp_version"] = body.cmpp_version
            layer = body.payload if isinstance(body, CMPPBody) else None
        if off < n:
            pkt.add_payload(conf.padding_layer(data[off:]))
        return pkt


class CMPPv2(CMPP):
    """CMPP header that prefers the 2.0 layouts for every PDU of the chain."""

    name = "CMPP (2.0)"
    preferred_version = Version.V2_0


class CMPPv3(CMPP):
    """CMPP header that prefers the 3.0 layouts for every PDU of the chain."""

    name = "CMPP (3.0)"
    preferred_version = Version.V3_0


class CMPPBody(Packet):
    """Base of the body classes: limits itself to Total_Length and chains the next PDU."""

    match_subclass = True

    cmpp_version: ClassVar[Version | None] = None  # None: same layout in both versions
    command_id: ClassVar[int] = 0
    layout: ClassVar[Layout]

    @property
    def resolved_version(self) -> Version | None:
        if self.cmpp_version is not None:
            return self.cmpp_version
        if self.command_id == CommandId.CMPP_CONNECT and self.fields.get("Version") is not None:
            found = version_from_byte(self.Version)
            if found is not None:
                return found
        under = self.underlayer
        return under.version_hint() if isinstance(under, CMPP) else None

    def do_dissect(self, s: bytes) -> bytes:
        under = self.underlayer
        limit = len(s)
        if isinstance(under, CMPP) and under.Total_Length is not None:
            limit = max(0, under.Total_Length - HEADER_LEN)
        own, rest = s[:limit], s[limit:]
        left = super().do_dissect(own)
        self.trailing = left  # bytes beyond the layout (a finding in expert())
        self.raw_packet_cache = own  # rebuild byte for byte, trailing bytes included
        return rest

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        under = self.underlayer
        if len(payload) >= HEADER_LEN:
            return type(under) if isinstance(under, CMPP) else CMPP
        return conf.padding_layer

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes | None]:
        return s, None

    def hashret(self) -> bytes:
        return b""

    def answers(self, other: Packet) -> int:
        return 1


class CMPPUnknownBody(CMPPBody):
    name = "CMPP unknown body"
    fields_desc: ClassVar[list[AnyField]] = [StrField("body", b"")]


class _ReportBase(Packet):
    def extract_padding(self, s: bytes) -> tuple[bytes, bytes | None]:
        return b"", s


def _report_class(name: str, layout: Layout) -> type[Packet]:
    return type(name, (_ReportBase,), {
        "name": layout.name,
        "fields_desc": [_scapy_field(f, layout, None) for f in layout.fields],
        "__doc__": f"Status report inside Msg_Content ({layout.fixed_size} bytes).",
    })


CMPPReport60 = _report_class("CMPPReport60", REPORT_60)
CMPPReport71 = _report_class("CMPPReport71", REPORT_71)
CMPPMoReport = _report_class("CMPPMoReport", MO_REPORT)


def _class_name(layout: Layout, version: Version | None) -> str:
    words = layout.name.removeprefix("CMPP_").split("_")
    base = "CMPP" + "".join(w.capitalize() if w not in ("MT", "MO") else w for w in words)
    return base if version is None else f"{base}V{version.value[0]}"


def _body_classes() -> dict[tuple[int, Version], type[CMPPBody]]:
    classes: dict[tuple[int, Version], type[CMPPBody]] = {}
    made: dict[int, type[CMPPBody]] = {}
    for (cmd, version), layout in LAYOUTS.items():
        if id(layout) in made:
            classes[(cmd, version)] = made[id(layout)]
            continue
        shared = LAYOUTS[(cmd, version.other)] is layout
        v = None if shared else version
        cls = type(_class_name(layout, v), (CMPPBody,), {
            "name": layout.name + (f" ({v})" if v else ""),
            "fields_desc": [_scapy_field(f, layout, v) for f in layout.fields],
            "cmpp_version": v,
            "command_id": cmd,
            "layout": layout,
            "__doc__": f"{layout.name} body" + (f", CMPP {v} layout." if v else
                                                 ", the same in CMPP 2.0 and 3.0."),
            "__module__": __name__,
        })
        made[id(layout)] = classes[(cmd, version)] = cls
        for header in (CMPP, CMPPv2, CMPPv3):
            bind_top_down(header, cls, Command_Id=cmd)
    return classes


BODY_CLASSES = _body_classes()
"""(Command_Id, Version) -> body class, for every command of the reference in both versions."""

globals().update({cls.__name__: cls for cls in BODY_CLASSES.values()})


def body_class(command_id: int, version: Version | str) -> type[CMPPBody]:
    return BODY_CLASSES[(int(command_id), Version(version))]


def bind_port(port: int) -> None:
    """Dissect TCP traffic on ``port`` (either direction) as CMPP, e.g. a gateway's own port."""
    bind_bottom_up(TCP, CMPP, dport=port)
    bind_bottom_up(TCP, CMPP, sport=port)


for _port in DEFAULT_PORTS:
    bind_port(_port)
bind_layers(TCP, CMPP, dport=DEFAULT_PORTS[0])

__all__ = [
    "BODY_CLASSES", "CMPP", "CMPPBody", "CMPPMoReport", "CMPPReport60", "CMPPReport71",
    "CMPPUnknownBody", "CMPPv2", "CMPPv3", "bind_port", "body_class",
    *sorted(cls.__name__ for cls in BODY_CLASSES.values()),
]
