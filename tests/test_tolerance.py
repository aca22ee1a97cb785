"""Every real-world deviation of reference §11 decodes, with a finding, in both decoders."""

from __future__ import annotations

import struct

import pytest

from cmppdissect.layers import CMPP, CMPPv2, CMPPv3
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.decode import DecodedPdu, decode_pdu
from cmppdissect.protocol.encode import encode_fields, encode_pdu
from cmppdissect.protocol.layouts import REPORT_60, REPORT_71
from cmppdissect.protocol.version import Version

V2, V3 = Version.V2_0, Version.V3_0


def codes(pdu: DecodedPdu) -> set[str]:
    return {f.code for f in pdu.findings}


def test_active_test_resp_of_12_bytes() -> None:
    wire = struct.pack("!III", 12, C.CMPP_ACTIVE_TEST_RESP, 5)
    pdu = decode_pdu(wire, V2)
    assert "missing-tail" in codes(pdu) and "Reserved" not in pdu.fields
    pkt = CMPP(wire)
    assert pkt.payload.Reserved is None and bytes(pkt) == wire
    assert [f.code for f in pkt.expert()] == ["missing-tail"]


def test_cancel_resp_of_16_bytes_in_a_20_session() -> None:
    wire = encode_pdu(C.CMPP_CANCEL_RESP, 9, {"Success_Id": 1}, V3)
    pdu = decode_pdu(wire, V2)
    assert pdu.version is V3 and pdu.fields["Success_Id"] == 1
    (finding,) = pdu.findings
    assert finding.code == "layout-version-mismatch" and "SMSGate" in finding.message
    assert CMPPv2(wire).payload.Success_Id == 1
    assert decode_pdu(wire, V3).findings == []


def test_20_report_inside_a_30_deliver() -> None:
    report = {"Msg_Id": 0x7FD913C12D34B9C9, "Stat": b"DELIVRD", "Submit_time": b"1507312217",
              "Done_time": b"1507312217", "Dest_terminal_Id": b"8613800138000",
              "SMSC_sequence": 12}
    content = encode_fields(REPORT_60, report)
    wire = encode_pdu(C.CMPP_DELIVER, 3, {"Registered_Delivery": 1, "Msg_Content": content}, V3)
    pdu = decode_pdu(wire, V3)
    assert pdu.version is V3 and pdu.report == report
    assert "report-version" in codes(pdu)
    pkt = CMPPv3(wire)
    assert pkt.payload.Msg_Content.Dest_terminal_Id == b"8613800138000"
    # and the other way round: a 71-byte report in a 2.0 DELIVER
    content71 = encode_fields(REPORT_71, {**report, "Dest_terminal_Id": b"8" * 32})
    wire71 = encode_pdu(C.CMPP_DELIVER, 3, {"Registered_Delivery": 1, "Msg_Content": content71},
                        V2)
    pdu71 = decode_pdu(wire71, V2)
    assert pdu71.report is not None and pdu71.report["Dest_terminal_Id"] == b"8" * 32
    assert "report-version" in codes(pdu71)


@pytest.mark.parametrize(("command", "fields"), [
    (C.CMPP_SUBMIT, {"Dest_terminal_Id": [b"13800138000"], "Msg_Content": b"hi"}),
    (C.CMPP_DELIVER, {"Msg_Content": b"mo text"}),
    (C.CMPP_FWD, {"Dest_Id": [b"13800138000"], "Msg_Content": b"fwd"}),
])
@pytest.mark.parametrize("version", [V2, V3])
def test_missing_reserve_or_linkid(command: int, fields: dict[str, object],
                                   version: Version) -> None:
    wire = encode_pdu(command, 1, fields, version, omit_tail=True)
    for hint in (None, version):
        pdu = decode_pdu(wire, hint)
        assert pdu.version is version
        assert "missing-tail" in codes(pdu)
        assert pdu.fields["Msg_Content"] == fields["Msg_Content"]
    assert bytes(CMPP(wire)) == wire


def test_fields_with_no_nul_terminator() -> None:
    wire = encode_pdu(C.CMPP_DELIVER, 1, {"Dest_Id": b"1" * 21, "Src_terminal_Id": b"2" * 32,
                                          "Msg_Content": b"x"}, V3)
    pdu = decode_pdu(wire)
    assert pdu.fields["Dest_Id"] == b"1" * 21 and pdu.fields["Src_terminal_Id"] == b"2" * 32
    assert {f.field for f in pdu.findings if f.code == "no-nul"} == {"Dest_Id", "Src_terminal_Id"}
    assert CMPP(wire).payload.Src_terminal_Id == b"2" * 32


def test_tp_udhi_0x40_parses_the_udh() -> None:
    content = bytes.fromhex("050003BA0201") + "长短信".encode("utf-16-be")
    wire = encode_pdu(C.CMPP_DELIVER, 1, {"TP_udhi": 0x40, "Msg_Fmt": 8,
                                          "Msg_Content": content}, V2)
    pdu = decode_pdu(wire)
    decoded = pdu.content
    assert decoded is not None and decoded.text == "长短信"
    assert decoded.udh is not None and decoded.udh.concat is not None
    assert (decoded.udh.concat.total, decoded.udh.concat.part) == (2, 1)
    assert "tp-udhi-0x40" in codes(pdu)
    assert "'长短信'" in CMPP(wire).show(dump=True)


@pytest.mark.parametrize("fmt", [0xF5, 0xF6])
def test_gsm_dcs_msg_fmt_is_binary(fmt: int) -> None:
    wire = encode_pdu(C.CMPP_SUBMIT, 1, {"Msg_Fmt": fmt, "TP_pId": 0x7F,
                                         "Msg_Content": b"\x02\x70\x00"}, V2)
    pdu = decode_pdu(wire)
    assert pdu.content is not None and pdu.content.text is None
    assert pdu.content.hex.replace(" ", "").lower() == "027000"
    assert codes(pdu) & {"msg-fmt-binary", "msg-fmt-unknown"}


def test_pk_total_disagreeing_with_udh() -> None:
    content = bytes.fromhex("050003120301") + b"part one"
    wire = encode_pdu(C.CMPP_SUBMIT, 1, {"Pk_total": 1, "Pk_number": 1, "TP_udhi": 1,
                                         "Msg_Content": content}, V3)
    assert "pk-udh-mismatch" in codes(decode_pdu(wire))


def test_total_length_longer_than_the_body() -> None:
    good = encode_pdu(C.CMPP_SUBMIT_RESP, 1, {"Msg_Id": 7, "Result": 0}, V3)
    wire = struct.pack("!I", len(good) + 5) + good[4:] + b"\xAA" * 5
    pdu = decode_pdu(wire, V3)
    assert "body-long" in codes(pdu) and pdu.fields["Msg_Id"] == 7
    assert pdu.fields["trailing"] == b"\xAA" * 5
    pkt = CMPPv3(wire)
    assert pkt.payload.Msg_Id == 7 and pkt.payload.trailing == b"\xAA" * 5
    assert bytes(pkt) == wire


def test_total_length_shorter_than_the_body() -> None:
    good = encode_pdu(C.CMPP_SUBMIT, 1, {"Dest_terminal_Id": [b"1"], "Msg_Content": b"abc"}, V2)
    wire = struct.pack("!I", 100) + good[4:100]
    pdu = decode_pdu(wire, V2)
    assert "body-short" in codes(pdu)
    assert pdu.fields["Service_Id"] == b"" and "Msg_Content" not in pdu.fields
    assert CMPP(wire + good[100:]).payload.Pk_total == 0  # dissects without raising


def test_total_length_beyond_the_buffer_and_below_12() -> None:
    good = encode_pdu(C.CMPP_QUERY, 1, {"Time": b"20261124"}, V2)
    assert "pdu-truncated" in codes(decode_pdu(good[:30]))
    assert decode_pdu(good[:30]).fields["Time"] == b"20261124"
    tiny = struct.pack("!III", 4, C.CMPP_ACTIVE_TEST, 1)
    assert "total-length-short" in codes(decode_pdu(tiny))
    assert "short-header" in codes(decode_pdu(b"\x00\x00"))
    assert CMPP(tiny).Total_Length == 4


def test_version_byte_variants() -> None:
    for byte, version in [(0x20, V2), (0x21, V2), (0x30, V3)]:
        pdu = decode_pdu(encode_pdu(C.CMPP_CONNECT, 1, {"Version": byte}, V2))
        assert pdu.version is version and not codes(pdu)
    for byte in (0x00, 0x01, 0x7F):
        pdu = decode_pdu(encode_pdu(C.CMPP_CONNECT, 1, {"Version": byte}, V2))
        assert pdu.version is None and codes(pdu) == {"version-byte"}


def test_unknown_command_is_kept_as_bytes() -> None:
    wire = struct.pack("!III", 16, 0x0000000A, 1) + b"abcd"
    pdu = decode_pdu(wire)
    assert pdu.fields == {"body": b"abcd"} and "unknown-command" in codes(pdu)
    assert CMPP(wire).payload.body == b"abcd"


@pytest.mark.parametrize("count", [0, 100])
def test_recipient_count_outside_the_spec_is_noted(count: int) -> None:
    pdu = decode_pdu(encode_pdu(C.CMPP_SUBMIT, 1, {
        "Dest_terminal_Id": [b"13800138000"] * count, "Msg_Content": b"x"}))
    assert pdu.fields["DestUsr_tl"] == count and len(pdu.fields["Dest_terminal_Id"]) == count
    (finding,) = [f for f in pdu.findings if f.code == "destusr-tl"]
    assert finding.field == "DestUsr_tl" and f"DestUsr_tl {count}" in finding.message
