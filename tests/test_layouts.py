"""The layouts against the reference's length table (§6) and field order (§5)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.layouts import (
    LAYOUTS,
    MO_REPORT,
    REPORT_60,
    REPORT_71,
    Kind,
    layout_for,
)
from cmppdissect.protocol.version import Version

V2, V3 = Version.V2_0, Version.V3_0

# Reference §6, whole-PDU lengths: (command, 2.0 total, 3.0 total).
FIXED_TOTALS = [
    (C.CMPP_CONNECT, 39, 39), (C.CMPP_CONNECT_RESP, 30, 33),
    (C.CMPP_TERMINATE, 12, 12), (C.CMPP_TERMINATE_RESP, 12, 12),
    (C.CMPP_SUBMIT_RESP, 21, 24), (C.CMPP_DELIVER_RESP, 21, 24),
    (C.CMPP_QUERY, 39, 39), (C.CMPP_QUERY_RESP, 63, 63),
    (C.CMPP_CANCEL, 20, 20), (C.CMPP_CANCEL_RESP, 13, 16),
    (C.CMPP_ACTIVE_TEST, 12, 12), (C.CMPP_ACTIVE_TEST_RESP, 13, 13),
    (C.CMPP_FWD_RESP, 23, 26),
    (C.CMPP_MT_ROUTE, 39, 39), (C.CMPP_MT_ROUTE_RESP, 77, 77),
    (C.CMPP_MO_ROUTE, 53, 53), (C.CMPP_MO_ROUTE_RESP, 90, 90),
    (C.CMPP_GET_MT_ROUTE, 26, 26), (C.CMPP_GET_MT_ROUTE_RESP, 85, 85),
    (C.CMPP_GET_MO_ROUTE, 26, 26), (C.CMPP_GET_MO_ROUTE_RESP, 108, 108),
    (C.CMPP_MT_ROUTE_UPDATE, 63, 63), (C.CMPP_MT_ROUTE_UPDATE_RESP, 31, 31),
    (C.CMPP_MO_ROUTE_UPDATE, 86, 86), (C.CMPP_MO_ROUTE_UPDATE_RESP, 31, 31),
    (C.CMPP_PUSH_MT_ROUTE_UPDATE, 77, 77), (C.CMPP_PUSH_MT_ROUTE_UPDATE_RESP, 13, 13),
    (C.CMPP_PUSH_MO_ROUTE_UPDATE, 100, 100), (C.CMPP_PUSH_MO_ROUTE_UPDATE_RESP, 13, 13),
]


def test_every_command_has_both_layouts() -> None:
    assert {cmd for cmd, _ in LAYOUTS} == {int(c) for c in C}
    assert all((int(c), v) in LAYOUTS for c in C for v in (V2, V3))


@pytest.mark.parametrize(("command", "total20", "total30"), FIXED_TOTALS,
                         ids=[c.name for c, _, _ in FIXED_TOTALS])
def test_fixed_lengths_match_reference(command: C, total20: int, total30: int) -> None:
    assert 12 + layout_for(command, V2).fixed_size == total20  # type: ignore[union-attr,operator]
    assert 12 + layout_for(command, V3).fixed_size == total30  # type: ignore[union-attr,operator]
    assert len(encode_pdu(command, 1, {}, V2)) == total20
    assert len(encode_pdu(command, 1, {}, V3)) == total30


@pytest.mark.parametrize(("n", "length"), [(0, 0), (1, 0), (1, 140), (3, 67), (100, 160)])
def test_variable_lengths_match_reference(n: int, length: int) -> None:
    dests = [b"1380013800%d" % i for i in range(n)]
    content = b"x" * length
    submit = {"Dest_terminal_Id": dests, "Msg_Content": content}
    assert len(encode_pdu(C.CMPP_SUBMIT, 1, submit, V2)) == 138 + 21 * n + length
    assert len(encode_pdu(C.CMPP_SUBMIT, 1, submit, V3)) == 163 + 32 * n + length
    fwd = {"Dest_Id": dests, "Msg_Content": content}
    assert len(encode_pdu(C.CMPP_FWD, 1, fwd, V2)) == 152 + 21 * n + length
    assert len(encode_pdu(C.CMPP_FWD, 1, fwd, V3)) == 264 + 21 * n + length
    deliver = {"Msg_Content": content}
    assert len(encode_pdu(C.CMPP_DELIVER, 1, deliver, V2)) == 85 + length
    assert len(encode_pdu(C.CMPP_DELIVER, 1, deliver, V3)) == 109 + length


def test_report_sizes() -> None:
    assert (REPORT_60.fixed_size, REPORT_71.fixed_size, MO_REPORT.fixed_size) == (60, 71, 60)
    assert REPORT_60.field("Dest_terminal_Id").size == 21
    assert REPORT_71.field("Dest_terminal_Id").size == 32


def _offsets(command: int, version: Version) -> dict[str, int]:
    off, out = 0, {}
    for f in LAYOUTS[(command, version)].fields:
        out[f.name] = off
        off += f.size
    return out


def test_submit_offsets_match_reference() -> None:
    # Reference §5.4 offsets up to the recipient list.
    v2 = _offsets(C.CMPP_SUBMIT, V2)
    v3 = _offsets(C.CMPP_SUBMIT, V3)
    assert (v2["TP_pId"], v2["Msg_Fmt"], v2["Src_Id"], v2["DestUsr_tl"]) == (44, 46, 95, 116)
    assert (v3["Fee_terminal_type"], v3["TP_pId"], v3["Src_Id"], v3["DestUsr_tl"]) == (
        55, 56, 107, 128)


def test_deliver_and_fwd_offsets_match_reference() -> None:
    d2, d3 = _offsets(C.CMPP_DELIVER, V2), _offsets(C.CMPP_DELIVER, V3)
    assert (d2["Registered_Delivery"], d2["Msg_Length"]) == (63, 64)
    assert (d3["Src_terminal_type"], d3["Registered_Delivery"], d3["Msg_Length"]) == (74, 75, 76)
    f2, f3 = _offsets(C.CMPP_FWD, V2), _offsets(C.CMPP_FWD, V3)
    assert (f2["TP_pid"], f2["Src_Id"], f2["DestUsr_tl"]) == (58, 109, 130)
    assert (f3["Fee_terminal_Pseudo"], f3["TP_pid"], f3["Src_Pseudo"], f3["Src_type"],
            f3["DestUsr_tl"]) == (58, 91, 163, 196, 197)


# The type the reference (§5) gives every field: "UInt" (Unsigned Integer), "Int" (the one
# signed field) or "OStr" (Octet String, text or binary). Transcribed by field name; a name
# typed differently in two messages is keyed by (message, field).
REFERENCE_TYPES: dict[str, str] = {
    **dict.fromkeys((
        "DestUsr_tl", "Dest_UserType", "Dest_terminal_type", "End_code", "Fee_UserType",
        "Fee_terminal_UserType", "Fee_terminal_type", "Gateway_port", "MO_FL", "MO_Scs",
        "MO_WT", "MT_FL", "MT_Scs", "MT_TLMsg", "MT_Tlusr", "MT_WT", "Msg_Fmt",
        "Msg_Fwd_Type", "Msg_Id", "Msg_Length", "Msg_level", "NodesCount", "Pk_number",
        "Pk_total", "Query_Type", "Registered_Delivery", "Result", "Route_Id", "Route_number",
        "Route_total", "SMSC_sequence", "SP_AcessType", "Service_Code", "Src_UserType",
        "Src_terminal_type", "Src_type", "Start_code", "Status", "Success_Id", "TP_pId",
        "TP_pid", "TP_udhi", "Timestamp", "Update_type", "User_type", "Version"), "UInt"),
    "Last_route_Id": "Int",
    **dict.fromkeys((
        "Area_code", "At_Time", "AuthenticatorISMG", "AuthenticatorSource",
        "CMPP_DELIVER_RESP_time", "CMPP_DELIVER_time", "Dest_Id", "Dest_Pseudo",
        "Dest_terminal_Id", "Destination_Id", "Done_time", "End_Id", "FeeCode", "FeeType",
        "Fee_terminal_Id", "Fee_terminal_Pseudo", "Gateway_IP", "LinkID", "Msg_Content",
        "Msg_src", "Query_Code", "Reserve", "Reserved", "Route_type", "SP_Code", "SP_Id",
        "Service_Id", "Source_Addr", "Source_Id", "Src_Id", "Src_Pseudo", "Src_terminal_Id",
        "Start_Id", "Stat", "Submit_time", "Terminal_Id", "Time", "Time_stamp", "ValId_Time",
        "Valid_Time"), "OStr"),
    "CMPP_ACTIVE_TEST_RESP.Reserved": "UInt",  # §5.11: 1 byte, normally 0
}


def _all_layouts() -> list[Any]:
    seen: dict[int, Any] = {}
    for layout in (*LAYOUTS.values(), REPORT_60, REPORT_71, MO_REPORT):
        seen.setdefault(id(layout), layout)
    return list(seen.values())


def test_every_field_has_the_type_the_reference_gives_it() -> None:
    """Unsigned Integers are integers, the one signed field is signed, the rest are strings
    or bytes; and every field of every layout is typed here (a new one must be too)."""
    kinds = {"UInt": {Kind.UINT}, "Int": {Kind.INT},
             "OStr": {Kind.STR, Kind.BIN, Kind.STR_ARRAY, Kind.CONTENT}}
    for layout in _all_layouts():
        for f in layout.fields:
            typ = REFERENCE_TYPES.get(f"{layout.name}.{f.name}", REFERENCE_TYPES.get(f.name))
            assert typ is not None, f"{layout.name}.{f.name} is not in REFERENCE_TYPES"
            assert f.kind in kinds[typ], f"{layout.name}.{f.name}: {f.kind} but §5 says {typ}"


@pytest.mark.parametrize(("command_id", "version"), sorted(LAYOUTS),
                         ids=[f"{C(c).name}-{v}" for c, v in sorted(LAYOUTS)])
def test_unsigned_integers_are_integers_in_every_output(command_id: int,
                                                        version: Version) -> None:
    """Every UInt field decodes as an int: the fast decoder, the record dict, the -T jsonl
    record (both writers; a 64-bit one as its decimal string there), and the Scapy layer's
    value and show()."""
    from cmppdissect.layers import CMPP
    from cmppdissect.output.records import dumps_line, jsonl_slice
    from cmppdissect.protocol.decode import decode_pdu
    from cmppdissect.store.records import RowSlice, records_of
    from cmppdissect.store.schema import record_dict

    layout = LAYOUTS[(command_id, version)]
    uints = [f for f in layout.fields if f.kind is Kind.UINT]
    values = {f.name: 1 for f in uints if not (f.count_of or f.length_of)}
    pdu = encode_pdu(command_id, 9, values, version)
    decoded = decode_pdu(pdu, version)
    hint = 20 if version is Version.V2_0 else 30
    sl = RowSlice(0, pdu, [len(pdu)], [1], [0], [0], [1], [0], [hint], [-1],
                  {0: ("a", "b")}, {}, {}, {}, False)
    record = record_dict(next(records_of(sl)))
    compiled = json.loads(jsonl_slice(sl)[0])
    assert json.loads(dumps_line(record)) == compiled
    layer = CMPP(pdu)
    shown = layer.show(dump=True)
    for f in uints:
        assert type(decoded.fields[f.name]) is int, f.name
        assert isinstance(record["fields"][f.name], int), f.name
        want = str if f.size == 8 else int  # JSON readers round integers beyond 2**53
        assert type(compiled["fields"][f.name]) is want, f.name
        assert isinstance(layer.payload.getfieldval(f.name), int), f.name
        assert f"{f.name}" in shown
