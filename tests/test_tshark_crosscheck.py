"""Cross-check against Wireshark's CMPP dissector (tshark) on CMPP 3.0 captures.

The capture holds every 3.0 PDU type (CONNECT to FWD, the GNS route messages 0x10-0x17 whose
Command_Ids Wireshark knows, status reports inside DELIVER), several PDUs per segment and PDUs
split across segments. tshark and ``cmppdissect -T jsonl`` must agree on the PDU boundaries
(which frame completes which PDUs, in order), the header fields, and every body field that
Wireshark decodes correctly. Its known bugs (protocol reference D9-D11) are left out: the
Msg_Id gateway code, Src_Id cut to 17 bytes, 3.0-only layouts, no QUERY/CANCEL/FWD/GNS bodies,
PDUs over 1000 bytes and headers split at a segment start; for those the last test asserts
that we give the complete answer and that whatever tshark does find, it finds as we do.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pcaputil import (
    Conversation,
    bare_pdu,
    connect_pdu,
    connect_resp_pdu,
    run_cli,
    sample_msg_id,
    write_pcap,
)

from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_fields
from cmppdissect.protocol.layouts import LAYOUTS, REPORT_71, Kind, Layout
from cmppdissect.protocol.msgid import split_msg_id
from cmppdissect.protocol.version import Version

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed "
                                                       "(CI installs the Debian package)")
V3 = Version.V3_0
SERVICE = "MVERIFY"


# -- the capture ------------------------------------------------------------------------------


def pdu(cmd: int, seq: int, **fields: Any) -> bytes:
    return bare_pdu(cmd, seq, V3, **fields)


def filler(layout: Layout) -> dict[str, Any]:
    """Plausible values for every field of a PDU tshark shows only the header of."""
    out: dict[str, Any] = {}
    for f in layout.fields:
        if f.count_of or f.length_of:
            continue
        if f.kind is Kind.STR:
            out[f.name] = f.name.replace("_", "")[:f.size]
        elif f.kind in (Kind.UINT, Kind.INT):
            out[f.name] = len(f.name) % (1 << (8 * f.size) - 1)
        elif f.kind is Kind.BIN:
            out[f.name] = bytes(range(1, f.size + 1))
        elif f.kind is Kind.STR_ARRAY:
            out[f.name] = [b"8613800138000"]
        else:
            out[f.name] = b"hello"
    return out


def other(cmd: int, seq: int) -> bytes:
    return pdu(cmd, seq, **filler(LAYOUTS[(int(cmd), V3)]))


def submit(seq: int, dests: list[bytes], text: bytes, *, fmt: int = 0, **extra: Any) -> bytes:
    fields: dict[str, Any] = {
        "Pk_total": 1, "Pk_number": 1, "Registered_Delivery": 1, "Msg_level": 2,
        "Service_Id": SERVICE, "Fee_UserType": 3, "Fee_terminal_Id": "8613900000009",
        "Fee_terminal_type": 1, "TP_pId": 0, "TP_udhi": 0, "Msg_Fmt": fmt, "Msg_src": "901234",
        "FeeType": "02", "FeeCode": "000010", "ValId_Time": "261125101500032+",
        "At_Time": "", "Src_Id": "10657123456", "Dest_terminal_Id": dests,
        "Dest_terminal_type": 0, "Msg_Content": text, "LinkID": "LINK0123456789ABCDEF"}
    fields.update(extra)
    return pdu(C.CMPP_SUBMIT, seq, **fields)


def deliver(seq: int, msg_id: int, content: bytes, *, registered: int = 0,
            **extra: Any) -> bytes:
    fields: dict[str, Any] = {
        "Msg_Id": msg_id, "Dest_Id": "106571234567890123456", "Service_Id": SERVICE,
        "TP_pid": 0, "TP_udhi": 0, "Msg_Fmt": 15, "Src_terminal_Id": "8613900000001",
        "Src_terminal_type": 0, "Registered_Delivery": registered, "Msg_Content": content,
        "LinkID": "L1"}
    fields.update(extra)
    return pdu(C.CMPP_DELIVER, seq, **fields)


def report71(msg_id: int, stat: str) -> bytes:
    return encode_fields(REPORT_71, {
        "Msg_Id": msg_id, "Stat": stat, "Submit_time": "2611241015", "Done_time": "2611241016",
        "Dest_terminal_Id": "8613800000002", "SMSC_sequence": 4242})


def sp_session() -> list[bytes]:
    """SP <-> ISMG on 7890: everything an SP link carries, packed and split in various ways."""
    conv = Conversation(client=("192.0.2.10", 40001), server=("198.51.100.7", 7890))
    ids = [sample_msg_id(k) for k in range(10)]
    long_dest = b"8613800000000000000000000000000X"  # fills all 32 bytes, no NUL (D17)
    frames = conv.handshake()
    frames += conv.send(True, connect_pdu(V3))
    frames += conv.send(False, connect_resp_pdu(V3))
    frames += conv.send(True, submit(2, [b"8613800000002"], b"hello")
                        + submit(3, [b"8613800000003", long_dest, b"8613800000004"],
                                 "验证码 1234".encode("utf-16-be"), fmt=8))  # two in one
    frames += conv.send(False, pdu(C.CMPP_SUBMIT_RESP, 2, Msg_Id=ids[2], Result=0)
                        + pdu(C.CMPP_SUBMIT_RESP, 3, Msg_Id=ids[3], Result=8))
    frames += conv.send(True, submit(4, [b"8613800000005"], b"x" * 140, Registered_Delivery=0,
                                     Src_Id="1065712345678901"), [40, 90])  # over 3 frames
    frames += conv.send(False, pdu(C.CMPP_SUBMIT_RESP, 4, Msg_Id=ids[4], Result=13))
    frames += conv.send(False, deliver(77, ids[7], report71(ids[2], "DELIVRD"), registered=1)
                        + deliver(78, ids[8], "退订".encode("gbk")))
    frames += conv.send(True, pdu(C.CMPP_DELIVER_RESP, 77, Msg_Id=ids[7], Result=0)
                        + pdu(C.CMPP_DELIVER_RESP, 78, Msg_Id=ids[8], Result=9))
    frames += conv.send(True, other(C.CMPP_QUERY, 5))
    frames += conv.send(False, other(C.CMPP_QUERY_RESP, 5))
    frames += conv.send(True, pdu(C.CMPP_CANCEL, 6, Msg_Id=ids[4]))
    frames += conv.send(False, pdu(C.CMPP_CANCEL_RESP, 6, Success_Id=1))
    frames += conv.send(False, pdu(C.CMPP_ACTIVE_TEST, 79))
    # a whole PDU plus the first 5 header bytes of the next, which tshark reassembles
    frames += conv.send(True, pdu(C.CMPP_ACTIVE_TEST_RESP, 79) + pdu(C.CMPP_ACTIVE_TEST, 7),
                        [18])
    frames += conv.send(False, pdu(C.CMPP_ACTIVE_TEST_RESP, 7))
    frames += conv.send(True, pdu(C.CMPP_TERMINATE, 8))
    frames += conv.send(False, pdu(C.CMPP_TERMINATE_RESP, 8))
    return frames + conv.close()


def ismg_session() -> list[bytes]:
    """ISMG <-> ISMG on 7930: CMPP_FWD of an MT and of a status report."""
    conv = Conversation(client=("203.0.113.5", 40100), server=("203.0.113.9", 7930))
    fwd = filler(LAYOUTS[(int(C.CMPP_FWD), V3)])
    frames = conv.handshake()
    frames += conv.send(True, connect_pdu(V3, sp="079101"))
    frames += conv.send(False, connect_resp_pdu(V3, sp="079101"))
    frames += conv.send(True, pdu(C.CMPP_FWD, 2, **{**fwd, "Msg_Fwd_Type": 0}))
    frames += conv.send(False, other(C.CMPP_FWD_RESP, 2))
    frames += conv.send(True, pdu(C.CMPP_FWD, 3, **{
        **fwd, "Msg_Fwd_Type": 2, "Msg_Content": report71(sample_msg_id(3), "UNDELIV")}), [30])
    frames += conv.send(False, other(C.CMPP_FWD_RESP, 3))
    return frames + conv.close()


GNS = [C.CMPP_MT_ROUTE, C.CMPP_MO_ROUTE, C.CMPP_GET_MT_ROUTE, C.CMPP_MT_ROUTE_UPDATE,
       C.CMPP_MO_ROUTE_UPDATE, C.CMPP_PUSH_MT_ROUTE_UPDATE, C.CMPP_PUSH_MO_ROUTE_UPDATE,
       C.CMPP_GET_MO_ROUTE]


def gns_session() -> list[bytes]:
    """ISMG <-> GNS on 9168: every route message and its response."""
    conv = Conversation(client=("203.0.113.5", 40200), server=("203.0.113.20", 9168))
    frames = conv.handshake()
    for k, cmd in enumerate(GNS):
        requester = cmd not in (C.CMPP_PUSH_MT_ROUTE_UPDATE, C.CMPP_PUSH_MO_ROUTE_UPDATE)
        frames += conv.send(requester, other(cmd, 10 + k))
        frames += conv.send(not requester, other(cmd | 0x80000000, 10 + k))
    return frames + conv.close()


# -- running both tools -------------------------------------------------------------------------


def tshark(path: Path) -> list[tuple[int, float, dict[str, Any]]]:
    """(frame, time, cmpp tree) per PDU tshark found, in frame order."""
    assert TSHARK is not None
    res = subprocess.run(
        [TSHARK, "-r", str(path), "-d", "tcp.port==7890,cmpp", "-T", "json",
         "--no-duplicate-keys", "-J", "frame cmpp"],
        capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    out = []
    for packet in json.loads(res.stdout):
        layers = packet["_source"]["layers"]
        trees = layers.get("cmpp", [])
        for tree in trees if isinstance(trees, list) else [trees]:
            out.append((int(layers["frame"]["frame.number"]),
                        float(layers["frame"]["frame.time_epoch"]), tree))
    return out


def ours(path: Path) -> list[dict[str, Any]]:
    res = run_cli("-T", "jsonl", str(path))
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def header(tree: dict[str, Any]) -> tuple[int, int, int]:
    return (int(tree["cmpp.Total_Length"]), int(tree["cmpp.Command_Id"], 16),
            int(tree["cmpp.Sequence_Id"]))


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], list[dict[str, Any]]]:
    path = write_pcap(tmp_path_factory.mktemp("tshark") / "cmpp30.pcap",
                      sp_session() + ismg_session() + gns_session())
    return tshark(path), ours(path)


# -- boundaries and headers ---------------------------------------------------------------------


def test_capture_covers_every_cmpp_3_0_pdu_type(both: Any) -> None:
    _, mine = both
    seen = {r["command_id"] for r in mine}
    assert seen == {int(c) for c in C}
    # the GNS link (session 2) has no CONNECT and no PDU whose size tells the version
    assert {r["version"] for r in mine if r["session"] != 2} == {"3.0"}
    assert any("report" in r["fields"] for r in mine if r["command"] == "CMPP_DELIVER")
    assert any("report" in r["fields"] for r in mine if r["command"] == "CMPP_FWD")
    assert all(r["total_length"] <= 1000 for r in mine)  # tshark's heuristic limit (D11)


def test_same_pdu_boundaries_and_header_fields(both: Any) -> None:
    theirs, mine = both
    assert len(theirs) == len(mine) == 44
    assert [(frame, *header(tree)) for frame, _, tree in theirs] == [
        (r["frame"], r["total_length"], r["command_id"], r["sequence_id"]) for r in mine]
    for (_, when, _), rec in zip(theirs, mine, strict=True):
        assert rec["time"] == pytest.approx(when, abs=1e-6)
    frames = [r["frame"] for r in mine]
    assert len(set(frames)) < len(frames)  # some frames carry several PDUs
    split = next(r for r in mine if r["command"] == "CMPP_SUBMIT" and r["sequence_id"] == 4)
    assert split["frame"] - 2 not in frames  # its first two segments complete nothing


# -- body fields --------------------------------------------------------------------------------


def msg_id_checks(tree: dict[str, Any], ours_id: str, parts: dict[str, int]) -> None:
    """Msg_Id (a decimal string in our JSON), its time stamp and its sequence agree; the
    gateway code is Wireshark's D9."""
    assert type(ours_id) is str and int(tree["cmpp.Msg_Id"], 16) == int(ours_id)
    sub = tree["cmpp.Msg_Id_tree"]
    assert sub["cmpp.Msg_Id.timestamp"] == (
        f"{parts['month']:02d}/{parts['day']:02d} "
        f"{parts['hour']:02d}:{parts['minute']:02d}:{parts['second']:02d}")
    assert int(sub["cmpp.Msg_Id.sequence_id"]) == parts["sequence"]


def parts_of(msg_id: int) -> dict[str, int]:
    m = split_msg_id(msg_id)
    return {k: getattr(m, k) for k in ("month", "day", "hour", "minute", "second", "gateway",
                                       "sequence")}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


MSG_ID_DECODED = ("CMPP_SUBMIT", "CMPP_SUBMIT_RESP", "CMPP_DELIVER", "CMPP_DELIVER_RESP")
STRINGS = {  # tshark field -> our field, per command tshark decodes
    "CMPP_CONNECT": {"cmpp.connect.Source_Addr": "Source_Addr"},
    "CMPP_SUBMIT": {"cmpp.Servicd_Id": "Service_Id",
                    "cmpp.submit.Fee_terminal_Id": "Fee_terminal_Id",
                    "cmpp.submit.Msg_src": "Msg_src", "cmpp.submit.FeeType": "FeeType",
                    "cmpp.submit.FeeCode": "FeeCode", "cmpp.submit.Valld_Time": "ValId_Time",
                    "cmpp.submit.At_time": "At_Time", "cmpp.LinkID": "LinkID"},
    "CMPP_DELIVER": {"cmpp.deliver.Dest_Id": "Dest_Id", "cmpp.Servicd_Id": "Service_Id",
                     "cmpp.deliver.Src_terminal_Id": "Src_terminal_Id",
                     "cmpp.LinkID": "LinkID"},
}
NUMBERS = {
    "CMPP_CONNECT_RESP": {"cmpp.connect_resp.Status": "Status"},
    "CMPP_SUBMIT": {"cmpp.submit.Pk_total": "Pk_total", "cmpp.submit.Pk_number": "Pk_number",
                    "cmpp.submit.Registered_Delivery": "Registered_Delivery",
                    "cmpp.submit.Msg_level": "Msg_level",
                    "cmpp.submit.Fee_UserType": "Fee_UserType",
                    "cmpp.submit.Fee_terminal_type": "Fee_terminal_type",
                    "cmpp.TP_pId": "TP_pId", "cmpp.TP_udhi": "TP_udhi", "cmpp.Msg_Fmt": "Msg_Fmt",
                    "cmpp.submit.DestUsr_tl": "DestUsr_tl",
                    "cmpp.submit.Dest_terminal_type": "Dest_terminal_type",
                    "cmpp.Msg_Length": "Msg_Length"},
    "CMPP_SUBMIT_RESP": {"cmpp.submit_resp.Result": "Result"},
    "CMPP_DELIVER": {"cmpp.TP_pId": "TP_pid", "cmpp.TP_udhi": "TP_udhi",
                     "cmpp.Msg_Fmt": "Msg_Fmt",
                     "cmpp.deliver.Src_terminal_type": "Src_terminal_type",
                     "cmpp.deliver.Registered_Delivery": "Registered_Delivery",
                     "cmpp.Msg_Length": "Msg_Length"},
    "CMPP_DELIVER_RESP": {"cmpp.deliver_resp.Result": "Result"},
}


def test_body_fields_tshark_decodes_agree(both: Any) -> None:
    theirs, mine = both
    checked: dict[str, int] = {}
    for (_, _, tree), rec in zip(theirs, mine, strict=True):
        cmd, fields = rec["command"], rec["fields"]
        if rec["session"] != 0:
            continue  # FWD and GNS bodies: tshark shows only the header (D11)
        for theirs_name, our_name in STRINGS.get(cmd, {}).items():
            assert tree[theirs_name] == fields[our_name], (rec["frame"], theirs_name)
        for theirs_name, our_name in NUMBERS.get(cmd, {}).items():
            assert int(tree[theirs_name]) == fields[our_name], (rec["frame"], theirs_name)
        if cmd in MSG_ID_DECODED:
            msg_id_checks(tree, fields["Msg_Id"], fields["Msg_Id_parts"])
        if cmd == "CMPP_CONNECT" or cmd == "CMPP_CONNECT_RESP":
            v = fields["Version"]
            assert tree["cmpp.Version"] == f"{v >> 4:02d}.{v & 15:02d}"
        if cmd == "CMPP_CONNECT":
            ts = f"{fields['Timestamp']:010d}"
            assert tree["cmpp.connect.Timestamp"] == (
                f"{ts[0:2]}/{ts[2:4]} {ts[4:6]}:{ts[6:8]}:{ts[8:10]}")
        if cmd == "CMPP_SUBMIT":
            assert as_list(tree["cmpp.Dest_terminal_Id"]) == fields["Dest_terminal_Id"]
            # D10: Wireshark shows only the first 17 of Src_Id's 21 bytes
            assert fields["Src_Id"].startswith(tree["cmpp.submit.Src_Id"])
            assert len(tree["cmpp.submit.Src_Id"]) == min(17, len(fields["Src_Id"]))
        if cmd == "CMPP_DELIVER" and "report" in fields:
            rep, sub = fields["report"], tree["cmpp.deliver.Report"]
            msg_id_checks(sub, rep["Msg_Id"], parts_of(int(rep["Msg_Id"])))
            assert sub["cmpp.deliver.Report.Status"] == rep["Stat"]
            assert sub["cmpp.deliver.Report.Submit_time"] == rep["Submit_time"]
            assert sub["cmpp.deliver.Report.Done_time"] == rep["Done_time"]
            assert sub["cmpp.Dest_terminal_Id"] == rep["Dest_terminal_Id"]
            assert int(sub["cmpp.Report.SMSC_sequence"]) == rep["SMSC_sequence"]
        checked[cmd] = checked.get(cmd, 0) + 1
    assert checked == {
        "CMPP_CONNECT": 1, "CMPP_CONNECT_RESP": 1, "CMPP_SUBMIT": 3, "CMPP_SUBMIT_RESP": 3,
        "CMPP_DELIVER": 2, "CMPP_DELIVER_RESP": 2, "CMPP_QUERY": 1, "CMPP_QUERY_RESP": 1,
        "CMPP_CANCEL": 1, "CMPP_CANCEL_RESP": 1, "CMPP_ACTIVE_TEST": 2,
        "CMPP_ACTIVE_TEST_RESP": 2, "CMPP_TERMINATE": 1, "CMPP_TERMINATE_RESP": 1}


def test_our_msg_id_gateway_code_is_the_spec_one_not_wiresharks(both: Any) -> None:
    """D9: Wireshark shifts the 22-bit gateway field by 16 instead of 8; ours is right."""
    theirs, mine = both
    resp = [(tree, r) for (_, _, tree), r in zip(theirs, mine, strict=True)
            if r["command"] == "CMPP_SUBMIT_RESP"]
    assert resp
    for _, rec in resp:
        assert rec["fields"]["Msg_Id_parts"]["gateway"] == 79101


# -- where tshark is known to fail: our complete answer -----------------------------------------


def test_large_pdus_and_headers_split_at_a_segment_start(tmp_path: Path) -> None:
    """D11: tshark rejects Total_Length > 1000 and a segment that starts with < 12 bytes."""
    conv = Conversation()
    big = submit(2, [f"86138000{k:05d}".encode() for k in range(30)], b"group send")
    assert len(big) > 1000
    cut = submit(3, [b"8613800000003"], b"split header", Src_Id="106571234567890123456")
    frames = conv.handshake() + conv.send(True, connect_pdu(V3))
    frames += conv.send(False, connect_resp_pdu(V3))
    frames += conv.send(True, big)
    frames += conv.send(False, pdu(C.CMPP_SUBMIT_RESP, 2, Msg_Id=sample_msg_id(2)))
    frames += conv.send(True, cut, [5, 4])  # 5, then 4 more header bytes, then the rest
    frames += conv.send(False, pdu(C.CMPP_SUBMIT_RESP, 3, Msg_Id=sample_msg_id(3)))
    path = write_pcap(tmp_path / "hard.pcap", frames)
    mine = ours(path)
    assert [(r["frame"], r["command"], r["sequence_id"]) for r in mine] == [
        (4, "CMPP_CONNECT", 1), (5, "CMPP_CONNECT_RESP", 1), (6, "CMPP_SUBMIT", 2),
        (7, "CMPP_SUBMIT_RESP", 2), (10, "CMPP_SUBMIT", 3), (11, "CMPP_SUBMIT_RESP", 3)]
    assert mine[2]["total_length"] == len(big) and len(mine[2]["fields"]["Dest_terminal_Id"]) == 30
    assert mine[4]["fields"]["Src_Id"] == "106571234567890123456"  # all 21 bytes (D10)
    assert mine[3]["request_frame"] == 6 and mine[5]["request_frame"] == 10
    # whatever tshark does find, it finds exactly as we do
    found = {(frame, *header(tree)) for frame, _, tree in tshark(path)}
    assert found <= {(r["frame"], r["total_length"], r["command_id"], r["sequence_id"])
                     for r in mine}
    assert (4, 39, 1, 1) in found
