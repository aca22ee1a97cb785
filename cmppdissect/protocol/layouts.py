"""Every CMPP body layout, stated once (reference §5, §6).

Both decoders are derived from these tables: :mod:`cmppdissect.protocol.decode` compiles them
into ``struct`` plans for the capture engine, and :mod:`cmppdissect.layers` builds the Scapy
``fields_desc`` from them. A field added or resized here changes both, and
``tests/test_agreement.py`` proves that they decode every PDU type alike.

Field names are the specification's, spelled as the reference spells them, so a user who knows
the spec finds every field under the name they expect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from cmppdissect.protocol.commands import CommandId
from cmppdissect.protocol.version import Version


class Kind(Enum):
    UINT = "uint"  # big-endian unsigned, size 1, 2, 4 or 8
    INT = "int"  # big-endian signed (only GNS Last_route_Id)
    STR = "str"  # Octet String: fixed length, NUL padded on the right, may be full (D17)
    BIN = "bin"  # fixed-length binary (authenticators, Reserve)
    STR_ARRAY = "str_array"  # N fixed-length strings, N read from ``count_from``
    CONTENT = "content"  # Msg_Content: ``length_from`` bytes; may carry a status report


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: Kind
    size: int = 0
    count_from: str | None = None  # STR_ARRAY: the UINT holding the element count
    length_from: str | None = None  # CONTENT: the UINT holding the byte length
    count_of: str | None = None  # UINT that builders fill with len(array)
    length_of: str | None = None  # UINT that builders fill with len(content)
    codes: str | None = None  # code table in cmppdissect.protocol.codes
    display: str | None = None  # "msg_id", "timestamp", "time" (render hint)
    tail: bool = False  # trailing field that some real senders omit (reference §11)
    nul_expected: bool = False  # number fields whose senders usually leave a NUL (D17)


@dataclass(frozen=True, slots=True)
class Layout:
    """One body layout. ``name`` is the spec's message name, without the version."""

    name: str
    fields: tuple[Field, ...]
    content_rule: str | None = None  # "deliver" or "fwd": when Msg_Content is a report

    @property
    def fixed_size(self) -> int | None:
        """Body size when nothing in it varies, else None."""
        if any(f.kind in (Kind.STR_ARRAY, Kind.CONTENT) for f in self.fields):
            return None
        return sum(f.size for f in self.fields)

    @property
    def tail_size(self) -> int:
        return sum(f.size for f in self.fields if f.tail)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


# -- field constructors: short names keep the tables below readable against the spec ----------


def u8(name: str, **kw: Any) -> Field:
    return Field(name, Kind.UINT, 1, **kw)


def u16(name: str, **kw: Any) -> Field:
    return Field(name, Kind.UINT, 2, **kw)


def u32(name: str, **kw: Any) -> Field:
    return Field(name, Kind.UINT, 4, **kw)


def u64(name: str, **kw: Any) -> Field:
    return Field(name, Kind.UINT, 8, **kw)


def i32(name: str, **kw: Any) -> Field:
    return Field(name, Kind.INT, 4, **kw)


def ostr(name: str, size: int, **kw: Any) -> Field:
    return Field(name, Kind.STR, size, **kw)


def number(name: str, size: int, **kw: Any) -> Field:
    """A terminal number or address: an Octet String whose senders usually NUL-terminate it."""
    return Field(name, Kind.STR, size, nul_expected=True, **kw)


def binary(name: str, size: int, **kw: Any) -> Field:
    return Field(name, Kind.BIN, size, **kw)


def count(name: str, of: str) -> Field:
    return Field(name, Kind.UINT, 1, count_of=of)


def numbers(name: str, size: int, count_from: str) -> Field:
    return Field(name, Kind.STR_ARRAY, size, count_from=count_from, nul_expected=True)


def msg_length() -> Field:
    return Field("Msg_Length", Kind.UINT, 1, length_of="Msg_Content")


def msg_content() -> Field:
    return Field("Msg_Content", Kind.CONTENT, length_from="Msg_Length")


def msg_id(name: str = "Msg_Id") -> Field:
    return u64(name, display="msg_id")


def status(name: str, codes: str, version: Version) -> Field:
    """Status/Result fields grew from 1 to 4 bytes in 3.0 (reference §10 item 7)."""
    return Field(name, Kind.UINT, 1 if version is Version.V2_0 else 4, codes=codes)


def reserve(name: str, size: int) -> Field:
    return Field(name, Kind.BIN, size, tail=True)


def link_id() -> Field:
    return Field("LinkID", Kind.STR, 20, tail=True)


def time17(name: str) -> Field:
    return ostr(name, 17, display="time")


# -- the layouts --------------------------------------------------------------------------------

V2, V3 = Version.V2_0, Version.V3_0


def _connect() -> Layout:
    return Layout("CMPP_CONNECT", (
        ostr("Source_Addr", 6),
        binary("AuthenticatorSource", 16),
        u8("Version", display="version"),
        u32("Timestamp", display="timestamp"),
    ))


def _connect_resp(v: Version) -> Layout:
    return Layout("CMPP_CONNECT_RESP", (
        status("Status", "connect_status", v),
        binary("AuthenticatorISMG", 16),
        u8("Version", display="version"),
    ))


def _submit(v: Version) -> Layout:
    wide = 21 if v is V2 else 32
    fields: list[Field] = [
        msg_id(),
        u8("Pk_total"),
        u8("Pk_number"),
        u8("Registered_Delivery", codes="submit_registered_delivery"),
        u8("Msg_level"),
        ostr("Service_Id", 10),
        u8("Fee_UserType", codes="fee_user_type"),
        number("Fee_terminal_Id", wide),
    ]
    if v is V3:
        fields.append(u8("Fee_terminal_type", codes="terminal_type"))
    fields += [
        u8("TP_pId"),
        u8("TP_udhi"),
        u8("Msg_Fmt", codes="msg_fmt"),
        ostr("Msg_src", 6),
        ostr("FeeType", 2, codes="fee_type"),
        ostr("FeeCode", 6),
        time17("ValId_Time"),
        time17("At_Time"),
        number("Src_Id", 21),
        count("DestUsr_tl", of="Dest_terminal_Id"),
        numbers("Dest_terminal_Id", wide, count_from="DestUsr_tl"),
    ]
    if v is V3:
        fields.append(u8("Dest_terminal_type", codes="terminal_type"))
    fields += [msg_length(), msg_content()]
    fields.append(reserve("Reserve", 8) if v is V2 else link_id())
    return Layout("CMPP_SUBMIT", tuple(fields))


def _msgid_result(name: str, codes: str, v: Version) -> Layout:
    return Layout(name, (msg_id(), status("Result", codes, v)))


def _deliver(v: Version) -> Layout:
    fields: list[Field] = [
        msg_id(),
        number("Dest_Id", 21),
        ostr("Service_Id", 10),
        u8("TP_pid"),
        u8("TP_udhi"),
        u8("Msg_Fmt", codes="msg_fmt"),
        number("Src_terminal_Id", 21 if v is V2 else 32),
    ]
    if v is V3:
        fields.append(u8("Src_terminal_type", codes="terminal_type"))
    fields += [
        u8("Registered_Delivery", codes="deliver_registered_delivery"),
        msg_length(),
        msg_content(),
        reserve("Reserved", 8) if v is V2 else link_id(),
    ]
    return Layout("CMPP_DELIVER", tuple(fields), content_rule="deliver")


def _report(dest_size: int) -> Layout:
    """The status report inside DELIVER.Msg_Content: 60 bytes with a 21-byte id, 71 with 32."""
    return Layout(f"CMPP_REPORT_{8 + 7 + 10 + 10 + dest_size + 4}", (
        msg_id(),
        ostr("Stat", 7, display="stat"),
        ostr("Submit_time", 10),
        ostr("Done_time", 10),
        number("Dest_terminal_Id", dest_size),
        u32("SMSC_sequence"),
    ))


REPORT_60 = _report(21)
REPORT_71 = _report(32)
MO_REPORT = Layout("CMPP_MO_REPORT", (
    msg_id(),
    ostr("Stat", 7, display="stat"),
    ostr("CMPP_DELIVER_time", 10),
    ostr("CMPP_DELIVER_RESP_time", 10),
    number("Dest_Id", 21),
    binary("Reserved", 4),
))

_QUERY = Layout("CMPP_QUERY", (
    ostr("Time", 8),
    u8("Query_Type", codes="query_type"),
    ostr("Query_Code", 10),
    binary("Reserve", 8),
))
_QUERY_RESP = Layout("CMPP_QUERY_RESP", (
    ostr("Time", 8),
    u8("Query_Type", codes="query_type"),
    ostr("Query_Code", 10),
    *(u32(n) for n in ("MT_TLMsg", "MT_Tlusr", "MT_Scs", "MT_WT", "MT_FL",
                       "MO_Scs", "MO_WT", "MO_FL")),
))
_CANCEL = Layout("CMPP_CANCEL", (msg_id(),))
_EMPTY = {name: Layout(name, ()) for name in (
    "CMPP_TERMINATE", "CMPP_TERMINATE_RESP", "CMPP_ACTIVE_TEST")}
# Reserved is an Unsigned Integer (normally 0), not an Octet String: shown as a number.
_ACTIVE_TEST_RESP = Layout("CMPP_ACTIVE_TEST_RESP", (Field("Reserved", Kind.UINT, 1, tail=True),))


def _cancel_resp(v: Version) -> Layout:
    return Layout("CMPP_CANCEL_RESP", (status("Success_Id", "cancel_result", v),))


def _fwd(v: Version) -> Layout:
    fields: list[Field] = [
        ostr("Source_Id", 6),
        ostr("Destination_Id", 6),
        u8("NodesCount"),
        u8("Msg_Fwd_Type", codes="msg_fwd_type"),
        msg_id(),
        u8("Pk_total"),
        u8("Pk_number"),
        u8("Registered_Delivery", codes="fwd_registered_delivery"),
        u8("Msg_level"),
        ostr("Service_Id", 10),
        u8("Fee_UserType", codes="fee_user_type"),
        number("Fee_terminal_Id", 21),
    ]
    if v is V3:
        fields += [number("Fee_terminal_Pseudo", 32),
                   u8("Fee_terminal_UserType", codes="gotone_user_type")]
    fields += [
        u8("TP_pid"),
        u8("TP_udhi"),
        u8("Msg_Fmt", codes="msg_fmt"),
        ostr("Msg_src", 6),
        ostr("FeeType", 2, codes="fwd_fee_type"),
        ostr("FeeCode", 6),
        time17("Valid_Time"),
        time17("At_Time"),
        number("Src_Id", 21),
    ]
    if v is V3:
        fields += [number("Src_Pseudo", 32),
                   u8("Src_UserType", codes="gotone_user_type"),
                   u8("Src_type", codes="terminal_type")]
    fields += [count("DestUsr_tl", of="Dest_Id"), numbers("Dest_Id", 21, count_from="DestUsr_tl")]
    if v is V3:
        fields += [number("Dest_Pseudo", 32), u8("Dest_UserType", codes="gotone_user_type")]
    fields += [msg_length(), msg_content(),
               reserve("Reserve", 8) if v is V2 else link_id()]
    return Layout("CMPP_FWD", tuple(fields), content_rule="fwd")


def _fwd_resp(v: Version) -> Layout:
    return Layout("CMPP_FWD_RESP", (
        msg_id(), u8("Pk_total"), u8("Pk_number"), status("Result", "fwd_result", v)))


# GNS route messages (§5.14): 2.1 and 3.0 share them; the 2002 2.0 forms are unknown, so the
# 2.1 forms serve the whole 2.x family. All their Result fields are 1 byte in both versions.
_ROUTE_HEAD = (u32("Route_Id"), ostr("Destination_Id", 6), ostr("Gateway_IP", 15),
               u16("Gateway_port"))
_MT_SEGMENT = (ostr("Start_Id", 9), ostr("End_Id", 9), ostr("Area_code", 4))
_MO_SP = (ostr("SP_Id", 6), number("SP_Code", 21), u8("SP_AcessType", codes="sp_access_type"))
_TIME_STAMP = ostr("Time_stamp", 14, display="time")
_USER_TYPE = u8("User_type", codes="user_type")

_MT_ROUTE_UPDATE_FIELDS = (u8("Update_type", codes="update_type"), *_ROUTE_HEAD, *_MT_SEGMENT,
                           _USER_TYPE)
_MO_ROUTE_UPDATE_FIELDS = (u8("Update_type", codes="update_type"), *_ROUTE_HEAD, *_MO_SP,
                           ostr("Service_Id", 10), u32("Start_code"), u32("End_code"))
_GET_ROUTE_FIELDS = (ostr("Source_Id", 6), ostr("Route_type", 4), i32("Last_route_Id"))
_UPDATE_RESP_FIELDS = (u8("Result", codes="gns_update_result"), u32("Route_Id"), _TIME_STAMP)

_GNS: dict[int, Layout] = {
    CommandId.CMPP_MT_ROUTE: Layout("CMPP_MT_ROUTE", (
        ostr("Source_Id", 6), number("Terminal_Id", 21))),
    CommandId.CMPP_MT_ROUTE_RESP: Layout("CMPP_MT_ROUTE_RESP", (
        *_ROUTE_HEAD, *_MT_SEGMENT, u8("Result", codes="gns_route_result"), _USER_TYPE,
        _TIME_STAMP)),
    CommandId.CMPP_MO_ROUTE: Layout("CMPP_MO_ROUTE", (
        ostr("Source_Id", 6), number("SP_Code", 21), ostr("Service_Id", 10),
        u32("Service_Code"))),
    CommandId.CMPP_MO_ROUTE_RESP: Layout("CMPP_MO_ROUTE_RESP", (
        *_ROUTE_HEAD, *_MO_SP, u32("Start_code"), u32("End_code"),
        u8("Result", codes="gns_route_result"), _TIME_STAMP)),
    CommandId.CMPP_GET_MT_ROUTE: Layout("CMPP_GET_MT_ROUTE", _GET_ROUTE_FIELDS),
    CommandId.CMPP_GET_MT_ROUTE_RESP: Layout("CMPP_GET_MT_ROUTE_RESP", (
        *_ROUTE_HEAD, *_MT_SEGMENT, u8("Result", codes="gns_get_mt_route_result"), _USER_TYPE,
        u32("Route_total"), u32("Route_number"), _TIME_STAMP)),
    CommandId.CMPP_GET_MO_ROUTE: Layout("CMPP_GET_MO_ROUTE", _GET_ROUTE_FIELDS),
    CommandId.CMPP_GET_MO_ROUTE_RESP: Layout("CMPP_GET_MO_ROUTE_RESP", (
        *_ROUTE_HEAD, *_MO_SP, ostr("Service_Id", 10), u32("Start_code"), u32("End_code"),
        u8("Result", codes="gns_get_mo_route_result"), u32("Route_total"),
        u32("Route_number"), _TIME_STAMP)),
    CommandId.CMPP_MT_ROUTE_UPDATE: Layout("CMPP_MT_ROUTE_UPDATE", _MT_ROUTE_UPDATE_FIELDS),
    CommandId.CMPP_MT_ROUTE_UPDATE_RESP: Layout("CMPP_MT_ROUTE_UPDATE_RESP",
                                                _UPDATE_RESP_FIELDS),
    CommandId.CMPP_MO_ROUTE_UPDATE: Layout("CMPP_MO_ROUTE_UPDATE", _MO_ROUTE_UPDATE_FIELDS),
    CommandId.CMPP_MO_ROUTE_UPDATE_RESP: Layout("CMPP_MO_ROUTE_UPDATE_RESP",
                                                _UPDATE_RESP_FIELDS),
    CommandId.CMPP_PUSH_MT_ROUTE_UPDATE: Layout("CMPP_PUSH_MT_ROUTE_UPDATE",
                                                (*_MT_ROUTE_UPDATE_FIELDS, _TIME_STAMP)),
    CommandId.CMPP_PUSH_MT_ROUTE_UPDATE_RESP: Layout("CMPP_PUSH_MT_ROUTE_UPDATE_RESP", (
        u8("Result", codes="gns_push_result"),)),
    CommandId.CMPP_PUSH_MO_ROUTE_UPDATE: Layout("CMPP_PUSH_MO_ROUTE_UPDATE",
                                                (*_MO_ROUTE_UPDATE_FIELDS, _TIME_STAMP)),
    CommandId.CMPP_PUSH_MO_ROUTE_UPDATE_RESP: Layout("CMPP_PUSH_MO_ROUTE_UPDATE_RESP", (
        u8("Result", codes="gns_push_result"),)),
}


def _table() -> dict[tuple[int, Version], Layout]:
    c = CommandId
    same: dict[int, Layout] = {
        c.CMPP_CONNECT: _connect(),
        c.CMPP_TERMINATE: _EMPTY["CMPP_TERMINATE"],
        c.CMPP_TERMINATE_RESP: _EMPTY["CMPP_TERMINATE_RESP"],
        c.CMPP_QUERY: _QUERY,
        c.CMPP_QUERY_RESP: _QUERY_RESP,
        c.CMPP_CANCEL: _CANCEL,
        c.CMPP_ACTIVE_TEST: _EMPTY["CMPP_ACTIVE_TEST"],
        c.CMPP_ACTIVE_TEST_RESP: _ACTIVE_TEST_RESP,
        **_GNS,
    }
    table: dict[tuple[int, Version], Layout] = {}
    for cmd, layout in same.items():
        table[(int(cmd), V2)] = table[(int(cmd), V3)] = layout
    for v in (V2, V3):
        table[(int(c.CMPP_CONNECT_RESP), v)] = _connect_resp(v)
        table[(int(c.CMPP_SUBMIT), v)] = _submit(v)
        table[(int(c.CMPP_SUBMIT_RESP), v)] = _msgid_result("CMPP_SUBMIT_RESP", "submit_result", v)
        table[(int(c.CMPP_DELIVER), v)] = _deliver(v)
        table[(int(c.CMPP_DELIVER_RESP), v)] = _msgid_result(
            "CMPP_DELIVER_RESP", "deliver_result", v)
        table[(int(c.CMPP_CANCEL_RESP), v)] = _cancel_resp(v)
        table[(int(c.CMPP_FWD), v)] = _fwd(v)
        table[(int(c.CMPP_FWD_RESP), v)] = _fwd_resp(v)
    return table


LAYOUTS: Mapping[tuple[int, Version], Layout] = _table()
"""(Command_Id, Version) -> Layout for every command of reference §3 in both versions."""

VERSIONED_COMMANDS: frozenset[int] = frozenset(
    cmd for (cmd, v) in LAYOUTS if v is V2 and LAYOUTS[(cmd, V2)] is not LAYOUTS[(cmd, V3)])
"""Commands whose 2.0 and 3.0 layouts differ: only these let lengths tell the version apart."""


# Msg_Length limits by Msg_Fmt: 0 may carry 160 ASCII bytes (D6); the others 140.
CONTENT_LIMIT = {0: 160}
CONTENT_LIMIT_DEFAULT = 140

#: The fields that carry a response's outcome (one per response layout, reference §8).
RESULT_FIELDS = ("Result", "Status", "Success_Id")


def result_of(fields: Mapping[str, Any]) -> tuple[str, int] | None:
    """The outcome field of a response and its value, or None for a PDU without one."""
    for name in RESULT_FIELDS:
        value = fields.get(name)
        if isinstance(value, int):
            return name, value
    return None


def layout_for(command_id: int, version: Version) -> Layout | None:
    return LAYOUTS.get((command_id, version))


def report_layout(layout: Layout, fields: Mapping[str, Any], length: int) -> Layout | None:
    """Which report structure Msg_Content holds, if any.

    The report size is chosen by Msg_Length, not by the session version (reference D3):
    Aspire gateways send 60-byte reports in 3.0 sessions and SMSGate accepts 71 in 2.0.
    """
    if layout.content_rule == "deliver":
        if fields.get("Registered_Delivery") == 1:
            return {60: REPORT_60, 71: REPORT_71}.get(length)
    elif layout.content_rule == "fwd":
        kind = fields.get("Msg_Fwd_Type")
        if kind == 2:
            return {60: REPORT_60, 71: REPORT_71}.get(length)
        if kind == 3 and length == MO_REPORT.fixed_size:
            return MO_REPORT
    return None


def expects_report(layout: Layout, fields: Mapping[str, Any]) -> bool:
    """True when the header fields say Msg_Content should be a report (whatever its size)."""
    if layout.content_rule == "deliver":
        return fields.get("Registered_Delivery") == 1
    if layout.content_rule == "fwd":
        return fields.get("Msg_Fwd_Type") in (2, 3)
    return False


REPORT_LAYOUTS: tuple[Layout, ...] = (REPORT_60, REPORT_71, MO_REPORT)

__all__ = [
    "LAYOUTS", "MO_REPORT", "REPORT_60", "REPORT_71", "REPORT_LAYOUTS", "VERSIONED_COMMANDS",
    "Field", "Kind", "Layout", "expects_report", "layout_for", "report_layout",
]
