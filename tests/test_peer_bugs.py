"""Peers' known bugs, recognised (issue 12; reference §11 D22-D26).

Each case is built from bytes the way the reference describes it, as a PDU of every type it
touches in both versions, and in a capture read end to end (pcap bytes through the one
driver, and the command line where an output shows it).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from pcaputil import (
    Conversation,
    bare_pdu,
    connect_pdu,
    connect_resp_pdu,
    pcap_bytes,
    report_pdu,
    run_cli,
    run_engine,
    sample_msg_id,
    stamped,
    submit_pdu,
    submit_resp_pdu,
    write_pcap,
)

from cmppdissect.core._pdu import msgid_byte_order_py
from cmppdissect.output.report import build_report
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.decode import decode_pdu
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.expert import Severity
from cmppdissect.protocol.layouts import LAYOUTS
from cmppdissect.protocol.msgid import _time_fits, byte_reversed, make_msg_id, split_msg_id
from cmppdissect.protocol.version import Version

V2, V3 = Version.V2_0, Version.V3_0
VERSIONS = [V2, V3]


def reversed_bytes(value: int) -> int:
    """What a reader of big-endian bytes gets from a sender writing ``value`` little-endian."""
    return int.from_bytes(value.to_bytes(8, "little"), "big")


def codes(findings: object) -> list[str]:
    return [f.code for f in findings]  # type: ignore[attr-defined]


# -- D22: Msg_Id written little-endian -----------------------------------------------------------

# 11-24 10:15:49, gateway 079101, sequence 0x0105: written little-endian its first byte is the
# sequence's low byte (0x05), so the big-endian reading has month 0: impossible.
GOOD_ID = make_msg_id(11, 24, 10, 15, 49, 79101, 0x0105)
LE_ID = reversed_bytes(GOOD_ID)

MSG_ID_LAYOUTS = sorted({(cmd, v) for (cmd, v), lay in LAYOUTS.items()
                         if any(f.display == "msg_id" for f in lay.fields)})


def test_the_example_reads_wrong_big_endian_and_right_reversed() -> None:
    assert split_msg_id(LE_ID).impossible_time == ["month 0"]
    again = byte_reversed(LE_ID)
    assert again is not None and again.raw == GOOD_ID and again.gateway == 79101
    assert byte_reversed(GOOD_ID) is None  # a good id is never "reversed"
    assert byte_reversed(0) is None  # the SP's SUBMIT leaves Msg_Id zero
    # A small counter used as an id (D20) reverses into every range but names no gateway.
    assert not any(byte_reversed(counter) for counter in range(1, 70_000))


def test_compiled_and_python_tests_agree() -> None:
    """The core's byte-order flag is the same test as protocol.msgid's, value for value."""
    rng = random.Random(22)
    values = [0, 1, GOOD_ID, LE_ID, (1 << 64) - 1, *(rng.getrandbits(64) for _ in range(20_000))]
    values += [reversed_bytes(make_msg_id(rng.randint(1, 12), rng.randint(1, 31),
                                          rng.randint(0, 23), rng.randint(0, 59),
                                          rng.randint(0, 59), rng.randint(0, 999_999),
                                          rng.randint(0, 65535))) for _ in range(20_000)]
    found = 0
    fits = 0
    for value in values:
        expected = byte_reversed(value) is not None
        assert msgid_byte_order_py(value) == expected, hex(value)
        found += expected
        # byte_reversed's quick test of the time parts is the parts' own
        assert _time_fits(value) is not split_msg_id(value).impossible_time, hex(value)
        fits += _time_fits(value)
    assert 5_000 < found < 30_000  # both answers were exercised
    assert 1_000 < fits < len(values) - 1_000


@pytest.mark.parametrize(("command_id", "version"), MSG_ID_LAYOUTS,
                         ids=[f"{C(c).name}-{v}" for c, v in MSG_ID_LAYOUTS])
def test_every_msg_id_field_is_checked(command_id: int, version: Version) -> None:
    """Every PDU type with a Msg_Id, both versions: a little-endian id is decoded as the spec
    says (big-endian) and a warning shows the reversed reading; a right one gets none."""
    bad = decode_pdu(encode_pdu(command_id, 7, {"Msg_Id": LE_ID}, version), version)
    assert bad.fields["Msg_Id"] == LE_ID
    [finding] = [f for f in bad.findings if f.code == "msgid-byte-order"]
    assert finding.severity is Severity.WARN and finding.field == "Msg_Id"
    assert f"Msg_Id {LE_ID} read big-endian" in finding.message
    assert f"read little-endian it is {GOOD_ID} (11-24 10:15:49 gw=079101 seq=261)" \
        in finding.message
    good = decode_pdu(encode_pdu(command_id, 7, {"Msg_Id": GOOD_ID}, version), version)
    assert "msgid-byte-order" not in codes(good.findings)


@pytest.mark.parametrize("version", VERSIONS)
def test_status_report_msg_id_is_checked(version: Version) -> None:
    pdu = decode_pdu(report_pdu(version, 5, LE_ID), version)
    assert pdu.report is not None and pdu.report["Msg_Id"] == LE_ID
    [finding] = [f for f in pdu.findings if f.code == "msgid-byte-order"]
    assert finding.message.startswith(f"the status report's Msg_Id {LE_ID} read big-endian")


@pytest.mark.parametrize("version", VERSIONS)
def test_little_endian_gateway_in_a_capture(version: Version, tmp_path: Path) -> None:
    """The ISMG writes Msg_Id little-endian in SUBMIT_RESP and echoes the same 8 bytes in the
    report: the report still matches its SUBMIT, and each PDU carries the warning, in the
    engine's expert list and in the -T jsonl output."""
    conv = Conversation()
    frames = conv.handshake()
    frames += conv.send(True, connect_pdu(version, 1))
    frames += conv.send(False, connect_resp_pdu(version, 1))
    frames += conv.send(True, submit_pdu(version, 2))
    frames += conv.send(False, submit_resp_pdu(version, 2, LE_ID))
    frames += conv.send(False, report_pdu(version, 9, LE_ID))
    frames += conv.close()
    path = tmp_path / "le.pcap"
    write_pcap(path, frames)
    records, engine = run_engine(path)
    resp, report = records[3], records[4]
    assert "msgid-byte-order" in codes(resp.pdu.findings)
    assert "msgid-byte-order" in codes(report.pdu.findings)
    assert [e.frame for e in engine.expert if e.code == "msgid-byte-order"] == [
        resp.frame, report.frame]
    assert build_report(engine)["reports"]["matched"] == 1  # matched by the bytes as echoed
    lines = [json.loads(line) for line in
             run_cli(str(path), "-T", "jsonl").stdout.splitlines()]
    assert [e["code"] for e in lines[3]["expert"]] == ["msgid-byte-order"]
    assert "msgid-byte-order" in [e["code"] for e in lines[4]["expert"]]


# -- D24: an ISMG that answers with an all-zero AuthenticatorISMG ------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_all_zero_authenticator_is_never_verified(version: Version) -> None:
    zero = connect_resp_pdu(version, 1, secret=None)  # Status 0, 16 zero bytes
    pdu = decode_pdu(zero, version)
    assert pdu.fields["AuthenticatorISMG"] == bytes(16)
    [finding] = [f for f in pdu.findings if f.code == "auth-ismg-zero"]
    assert finding.severity is Severity.WARN
    assert "the ISMG did not authenticate itself" in finding.message
    # A refusal may leave it empty, as the spec asks: no finding then.
    refused = decode_pdu(connect_resp_pdu(version, 1, status=3), version)
    assert "auth-ismg-zero" not in codes(refused.findings)
    good = decode_pdu(connect_resp_pdu(version, 1), version)
    assert "auth-ismg-zero" not in codes(good.findings)


@pytest.mark.parametrize("secret", [None, "s3cret"])
@pytest.mark.parametrize("version", VERSIONS)
def test_all_zero_authenticator_in_a_capture(version: Version, secret: str | None) -> None:
    """With or without --secret the login shows the finding and is never called verified."""
    conv = Conversation()
    frames = conv.handshake()
    frames += conv.send(True, connect_pdu(version, 1))
    frames += conv.send(False, connect_resp_pdu(version, 1, secret=None))
    frames += conv.close()
    settings = {"secrets": {"901234": secret}} if secret else {}
    records, engine = run_engine(pcap_bytes(frames), **settings)
    listed = {e.code: e for e in engine.expert}
    assert "auth-ismg-zero" in listed and listed["auth-ismg-zero"].frame == records[1].frame
    checks = [f for f in records[1].expert if f.code == "auth-ismg"]
    if secret:
        assert [f.severity for f in checks] == [Severity.ERROR]  # not verified
    else:
        assert checks == []
    assert not any("matches" in f.message for f in records[1].expert)


# -- D23: heartbeats per connection ---------------------------------------------------------------

def heartbeat_capture(version: Version, answered_by_server: int, unanswered: int) -> bytes:
    """The client sends ACTIVE_TESTs every 30 s: the first ``answered_by_server`` answered,
    then ``unanswered`` that are not; the server's own ACTIVE_TESTs (two) are answered."""
    sends: list[tuple[float, bool, bytes]] = [
        (0.1, True, connect_pdu(version, 1)), (0.2, False, connect_resp_pdu(version, 1))]
    for k in range(answered_by_server + unanswered):
        seq = 2 + k
        sends.append((30.0 * (k + 1), True, bare_pdu(C.CMPP_ACTIVE_TEST, seq, version)))
        if k < answered_by_server:
            sends.append((30.0 * (k + 1) + 0.01, False,
                          bare_pdu(C.CMPP_ACTIVE_TEST_RESP, seq, version, Reserved=0)))
    for k in range(2):
        sends.append((45.0 + 30 * k, False, bare_pdu(C.CMPP_ACTIVE_TEST, 100 + k, version)))
        sends.append((45.01 + 30 * k, True,
                      bare_pdu(C.CMPP_ACTIVE_TEST_RESP, 100 + k, version, Reserved=0)))
    conv = Conversation()
    t0 = 1_700_000_000 * 10**9
    frames = conv.handshake()
    times = [t0] * len(frames)
    for offset, from_client, pdu in sorted(sends, key=lambda s: s[0]):
        frames += conv.send(from_client, pdu)
        times.append(t0 + int(offset * 1e9))
    end = 30 * (answered_by_server + unanswered) + 120  # past every timeout
    closing = conv.close()
    frames += closing
    times += [t0 + end * 10**9] * len(closing)
    return pcap_bytes(stamped(frames, times))


@pytest.mark.parametrize("version", VERSIONS)
def test_a_peer_that_never_answers(version: Version) -> None:
    """Reference D23: the server never sends ACTIVE_TEST_RESP. Per side: sent, answered,
    unanswered, the most in a row, the interval; a finding at the third in a row (the spec's
    C=3) and one at the end saying it never answered."""
    records, engine = run_engine(heartbeat_capture(version, 0, 5))
    beats = build_report(engine)["sessions"][0]["heartbeats"]
    assert beats["from_client"] == {"sent": 5, "answered": 0, "unanswered": 5,
                                    "max_unanswered_in_row": 5, "interval_s": 30.0,
                                    "max_interval_s": 30.0}
    assert beats["from_server"]["sent"] == 2 and beats["from_server"]["answered"] == 2
    assert beats["from_server"]["max_unanswered_in_row"] == 0
    missed = [e for e in engine.expert if e.code == "heartbeat-missed"]
    never = [e for e in engine.expert if e.code == "heartbeat-never"]
    tests = [r for r in records if r.command == "CMPP_ACTIVE_TEST" and r.pdu.Sequence_Id < 100]
    assert [e.frame for e in missed] == [tests[2].frame]
    assert missed[0].message.startswith("3 ACTIVE_TESTs in a row from the client got no "
                                        "response")
    assert [e.message for e in never] == [
        "the server answered none of the 5 ACTIVE_TESTs from the client (a peer that never "
        "sends ACTIVE_TEST_RESP; reference D23)"]
    assert never[0].frame == tests[-1].frame


@pytest.mark.parametrize("version", VERSIONS)
def test_a_peer_that_stops_answering(version: Version) -> None:
    _, engine = run_engine(heartbeat_capture(version, 3, 2))
    beats = build_report(engine)["sessions"][0]["heartbeats"]["from_client"]
    assert (beats["sent"], beats["answered"], beats["unanswered"],
            beats["max_unanswered_in_row"]) == (5, 3, 2, 2)
    assert not [e for e in engine.expert if e.code.startswith("heartbeat-")]  # only 2 in a row
    _, engine = run_engine(heartbeat_capture(version, 1, 3))
    assert [e.code for e in engine.expert if e.code.startswith("heartbeat-")] == [
        "heartbeat-missed"]


def test_heartbeats_in_the_text_summary(tmp_path: Path) -> None:
    path = tmp_path / "beats.pcap"
    path.write_bytes(heartbeat_capture(V2, 0, 4))
    out = run_cli(str(path)).stdout
    section = out.split("Heartbeats (ACTIVE_TEST)\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert section[0].split() == ["id", "from", "sent", "answered", "unans", "in", "a", "row",
                                  "every", "s", "max", "gap", "s"]
    assert section[1].split() == ["0", "client", "4", "0", "4", "4", "30.0", "30.0"]
    assert section[2].split() == ["0", "server", "2", "2", "0", "0", "30.0", "30.0"]


# -- D25, D26: Sequence_Ids that collide both ways, or go backwards -----------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_same_sequence_id_in_flight_both_ways(version: Version) -> None:
    """Reference D25: the server numbers its reports from its own counter, so its DELIVER
    has Sequence_Id 2 while the client's SUBMIT 2 is still in flight. Each response pairs with
    its own request (by command, direction and value) and the collision is noted."""
    conv = Conversation()
    frames = conv.handshake()
    frames += conv.send(True, connect_pdu(version, 1))
    frames += conv.send(False, connect_resp_pdu(version, 1))
    frames += conv.send(True, submit_pdu(version, 2))
    frames += conv.send(False, report_pdu(version, 2, sample_msg_id(1)))
    frames += conv.send(True, encode_pdu(C.CMPP_DELIVER_RESP, 2,
                                         {"Msg_Id": sample_msg_id(1), "Result": 0}, version))
    frames += conv.send(False, submit_resp_pdu(version, 2, sample_msg_id(7)))
    frames += conv.close()
    records, engine = run_engine(pcap_bytes(frames))
    submit, deliver, deliver_resp, submit_resp = records[2:6]
    assert submit_resp.request_frame == submit.frame
    assert deliver_resp.request_frame == deliver.frame
    [note] = [f for f in deliver.expert if f.code == "sequence-both-ways"]
    assert note.severity is Severity.CHAT
    assert note.message.startswith("Sequence_Id 2 of this CMPP_DELIVER is also in flight the "
                                   f"other way (the CMPP_SUBMIT of frame {submit.frame})")
    core = engine.core.commands()
    assert core[C.CMPP_SUBMIT][:4] == (1, 1, 1, 0) and core[C.CMPP_DELIVER][:4] == (1, 1, 1, 0)


@pytest.mark.parametrize("version", VERSIONS)
def test_sequence_ids_going_backwards(version: Version) -> None:
    """Reference D26: CONNECT 3, SUBMIT 2, TERMINATE 4 on one connection. Every request pairs
    with its response, and the step back is noted once, on the SUBMIT."""
    conv = Conversation()
    frames = conv.handshake()
    frames += conv.send(True, connect_pdu(version, 3))
    frames += conv.send(False, connect_resp_pdu(version, 3))
    frames += conv.send(True, submit_pdu(version, 2))
    frames += conv.send(False, submit_resp_pdu(version, 2, sample_msg_id(2)))
    frames += conv.send(True, submit_pdu(version, 1))
    frames += conv.send(False, submit_resp_pdu(version, 1, sample_msg_id(1)))
    frames += conv.send(True, bare_pdu(C.CMPP_TERMINATE, 4, version))
    frames += conv.send(False, bare_pdu(C.CMPP_TERMINATE_RESP, 4, version))
    frames += conv.close()
    records, engine = run_engine(pcap_bytes(frames))
    for request, response in zip(records[0::2], records[1::2], strict=True):
        assert response.request_frame == request.frame
    notes = [(r.frame, f) for r in records for f in r.expert if f.code == "sequence-backwards"]
    assert [frame for frame, _ in notes] == [records[2].frame]  # once per side
    assert notes[0][1].severity is Severity.NOTE
    assert notes[0][1].message.startswith(
        f"CMPP_SUBMIT Sequence_Id 2 is lower than the 3 of the CMPP_CONNECT before it from "
        f"this side (frame {records[0].frame})")
    assert not any(e.code in ("unanswered", "orphan-response") for e in engine.expert)


def test_sequence_id_wrapping_is_not_backwards() -> None:
    """Sequence_Ids wrap at 2**32: 4294967295 then 0 is the next, not a step back."""
    conv = Conversation()
    frames = conv.handshake()
    for seq in (0xFFFF_FFFE, 0xFFFF_FFFF, 0, 1):
        frames += conv.send(True, bare_pdu(C.CMPP_ACTIVE_TEST, seq))
        frames += conv.send(False, bare_pdu(C.CMPP_ACTIVE_TEST_RESP, seq, Reserved=0))
    frames += conv.close()
    records, _ = run_engine(pcap_bytes(frames))
    assert len(records) == 8
    assert not [f for r in records for f in r.expert if f.code == "sequence-backwards"]
