"""An Octet String ends at its first NUL (reference D21), in every decoder and output.

A 2.0-style client lays group-send recipients 21 bytes apart even in a 3.0 SUBMIT, so a
32-byte Dest_terminal_Id slot holds ``13900139000``, ten NULs, then ``13700137000``. The value
is the first number; the bytes after the NUL are a finding that shows them (text and hex) and,
for recipients, the likely cause; ``no-nul`` only for a field with no NUL at all (D17).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pcaputil import ACK, PSH, SYN, tcp_frame, write_pcap

from cmppdissect.api import analyze
from cmppdissect.core._pdu import LF_NAMES, light
from cmppdissect.layers import CMPP
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.decode import decode_pdu
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.expert import Severity
from cmppdissect.protocol.version import Version

V2, V3 = Version.V2_0, Version.V3_0
SPACED = b"13900139000" + b"\0" * 10 + b"13700137000"  # two numbers 21 bytes apart, 32 bytes


def spaced_submit(seq: int = 1) -> bytes:
    """The D21 PDU: one 3.0 SUBMIT to two recipients laid out with the 2.0 spacing."""
    return encode_pdu(C.CMPP_SUBMIT, seq, {
        "Msg_Fmt": 0, "Msg_Content": b"hello", "Src_Id": b"1065",
        "Dest_terminal_Id": [SPACED, b""], "Registered_Delivery": 1}, V3)


def codes(pdu: bytes, version: Version) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in decode_pdu(pdu, version).findings:
        out.setdefault(f.code, []).append(f.message)
    return out


def test_recipients_21_bytes_apart_in_a_3_0_submit() -> None:
    decoded = decode_pdu(spaced_submit(), V3)
    assert decoded.fields["Dest_terminal_Id"] == [b"13900139000", b""]
    found = [f for f in decoded.findings if f.code == "bytes-after-nul"]
    assert len(found) == 1 and found[0].severity is Severity.WARN
    assert found[0].field == "Dest_terminal_Id"
    message = found[0].message
    assert "Dest_terminal_Id[0]" in message and "'13700137000'" in message
    assert b"13700137000".hex() in message and "offset 21 of its 32" in message
    assert "21 bytes apart" in message and "3.0" in message
    assert "no-nul" not in {f.code for f in decoded.findings}


@pytest.mark.parametrize("version", [V2, V3])
def test_any_string_cut_at_its_first_nul(version: Version) -> None:
    """Any Octet String: the value stops at the NUL, the rest is a note (not a warning: no
    number is lost); a NUL followed by NULs only is plain padding; no NUL at all is D17."""
    pdu = encode_pdu(C.CMPP_SUBMIT, 2, {
        "Service_Id": b"AB\0CD", "Msg_src": b"90\0\0\0", "Src_Id": b"1" * 21,
        "Dest_terminal_Id": [b"13800138000"], "Msg_Content": b"x"}, version)
    decoded = decode_pdu(pdu, version)
    assert decoded.fields["Service_Id"] == b"AB"
    assert decoded.fields["Msg_src"] == b"90"
    stray = [f for f in decoded.findings if f.code == "bytes-after-nul"]
    assert [(f.field, f.severity) for f in stray] == [("Service_Id", Severity.NOTE)]
    assert "'CD' (4344)" in stray[0].message and "offset 3 of its 10" in stray[0].message
    no_nul = [f.field for f in decoded.findings if f.code == "no-nul"]
    assert no_nul == ["Src_Id"]


@pytest.mark.parametrize(("version", "size"), [(V2, 60), (V3, 71)])
def test_status_report_stat_cut_at_its_nul(version: Version, size: int) -> None:
    report = {"Stat": b"DELIV\0X", "Dest_terminal_Id": b"13800138000", "_size": size}
    pdu = encode_pdu(C.CMPP_DELIVER, 3, {"Registered_Delivery": 1, "Msg_Content": report,
                                         "Src_terminal_Id": b"13800138000"}, version)
    decoded = decode_pdu(pdu, version)
    assert decoded.report is not None and decoded.report["Stat"] == b"DELIV"
    assert any("status report's Stat" in m for m in codes(pdu, version)["bytes-after-nul"])
    assert light(pdu, str(version))["report"]["Stat"] == b"DELIV"  # the core agrees


def test_the_core_hands_such_a_submit_to_the_full_decoder() -> None:
    """A warning the statistics must count: the core flags the PDU (LF_STRAY)."""
    flags = light(spaced_submit(), "3.0")["flags"]
    assert flags and LF_NAMES[flags] == "stray"
    plain = encode_pdu(C.CMPP_SUBMIT, 1, {"Dest_terminal_Id": [b"13900139000"],
                                          "Msg_Content": b"x"}, V3)
    assert light(plain, "3.0")["flags"] == 0


def test_scapy_layers_show_the_value_up_to_the_nul() -> None:
    pkt = CMPP(spaced_submit())
    assert pkt.payload.getfieldval("Dest_terminal_Id") == [b"13900139000", b""]
    shown = pkt.show(dump=True)
    assert "13900139000" in shown and "13700137000" not in shown
    assert bytes(pkt) == spaced_submit()  # the bytes themselves are kept


def _capture(path: Path) -> Path:
    client, server = ("10.0.0.1", 40000), ("10.0.0.2", 7890)
    frames = [tcp_frame(*client, *server, 999, 0, SYN),
              tcp_frame(*server, *client, 4999, 1000, SYN | ACK),
              tcp_frame(*client, *server, 1000, 5000, ACK)]
    connect = encode_pdu(C.CMPP_CONNECT, 1, {"Source_Addr": b"901234", "Version": 0x30}, V3)
    resp = encode_pdu(C.CMPP_CONNECT_RESP, 1, {"Status": 0, "Version": 0x30}, V3)
    seq = {True: 1000, False: 5000}
    for from_client, pdu in ((True, connect), (False, resp), (True, spaced_submit(2))):
        a, b = (client, server) if from_client else (server, client)
        frames.append(tcp_frame(*a, *b, seq[from_client], seq[not from_client], PSH | ACK, pdu))
        seq[from_client] += len(pdu)
    return write_pcap(path / "d21.pcap", frames)


def test_in_a_capture_every_output_shows_the_value_and_the_finding(tmp_path: Path) -> None:
    path = _capture(tmp_path)
    run = subprocess.run([sys.executable, "-m", "cmppdissect", "-r", str(path), "-T", "jsonl"],
                         capture_output=True, text=True, check=True)
    submit = [json.loads(line) for line in run.stdout.splitlines()][-1]
    assert submit["command"] == "CMPP_SUBMIT"
    assert submit["fields"]["Dest_terminal_Id"] == ["13900139000", ""]
    assert [e["code"] for e in submit["expert"]] == ["bytes-after-nul", "unanswered"]
    report = analyze(path).run().report()
    counts = json.dumps(report["expert"])
    assert "bytes-after-nul" in counts  # counted by the statistics, not only in records
    text = subprocess.run([sys.executable, "-m", "cmppdissect", "-r", str(path), "-T", "csv"],
                          capture_output=True, text=True, check=True).stdout
    assert "13700137000" not in text
