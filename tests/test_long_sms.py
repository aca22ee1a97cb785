"""Long SMS joined from their parts by the UDH, on real pcap bytes through reader and engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.version import Version
from tests.pcaputil import (
    BASE_TS_NS,
    Conversation,
    pcap_bytes,
    run_cli,
    run_engine,
    stamped,
    write_pcap,
)

TEXT = "您的订单 20261124-0042 已发货，预计明天送达。如有疑问请致电客服热线，回复TD退订。" * 2


def udh(ref: int, total: int, part: int) -> bytes:
    return bytes([5, 0, 3, ref, total, part])


def ucs2_parts(text: str, size: int) -> list[bytes]:
    """UCS2 payload cut every ``size`` bytes; an odd size splits characters across parts."""
    data = text.encode("utf-16-be")
    return [data[i:i + size] for i in range(0, len(data), size)]


def submit(seq: int, ref: int, total: int, part: int, payload: bytes, version: Version,
           dests: tuple[bytes, ...] = (b"13800138000",)) -> bytes:
    return encode_pdu(C.CMPP_SUBMIT, seq, {
        "Pk_total": total, "Pk_number": part, "Registered_Delivery": 0, "TP_udhi": 1,
        "Msg_Fmt": 8, "Msg_src": b"901234", "Src_Id": b"106571234",
        "Dest_terminal_Id": list(dests), "Msg_Content": udh(ref, total, part) + payload},
        version)


def capture(tmp_path: Path, pdus_by_conn: list[list[bytes]], version: Version) -> Path:
    frames: list[bytes] = []
    for i, pdus in enumerate(pdus_by_conn):
        conv = Conversation(client=("192.0.2.10", 40001 + i))
        frames += conv.handshake()
        for seq, pdu in enumerate(pdus, 1):
            frames += conv.send(True, pdu)
            frames += conv.send(False, encode_pdu(C.CMPP_SUBMIT_RESP, seq,
                                                  {"Msg_Id": 1000 + seq, "Result": 0}, version))
        frames += conv.close()
    path = tmp_path / "long.pcap"
    write_pcap(path, frames)
    return path


@pytest.mark.parametrize("version", [Version.V2_0, Version.V3_0])
def test_parts_out_of_order_and_split_characters_join(tmp_path: Path, version: Version) -> None:
    payloads = ucs2_parts(TEXT, 67)  # odd: a character straddles every boundary
    total = len(payloads)
    assert total >= 3
    order = [2, 0, *range(3, total), 1]  # part 3 first, part 2 last
    pdus = [submit(i + 1, 0x5A, total, n + 1, payloads[n], version)
            for i, n in enumerate(order)]
    records, an = run_engine(capture(tmp_path, [pdus], version))
    joined = [r for r in records if r.long_sms is not None]
    assert len(joined) == 1
    msg = joined[0].long_sms
    assert joined[0].pdu.fields["Pk_number"] == 2  # the part that completed it
    assert msg.text() == TEXT
    assert msg.reference == 0x5A and msg.total == total and msg.missing == []
    submits = [r.frame for r in records if r.pdu.Command_Id == C.CMPP_SUBMIT]
    assert msg.frames == [submits[order.index(n)] for n in range(total)]
    assert (an.core.long_sms()["complete"], an.core.long_sms()["incomplete"]) == (1, 0)
    assert not [e for e in an.expert if e.code.startswith("long-sms")]


def test_parts_over_two_connections_of_one_sp_join(tmp_path: Path) -> None:
    payloads = ucs2_parts("第一部分。" * 20 + "第二部分。" * 20, 200)
    assert len(payloads) == 2
    conns = [[submit(1, 7, 2, 1, payloads[0], Version.V3_0)],
             [submit(1, 7, 2, 2, payloads[1], Version.V3_0)]]
    records, _ = run_engine(capture(tmp_path, conns, Version.V3_0))
    done = [r for r in records if r.long_sms is not None]
    assert len(done) == 1 and done[0].session == 1
    assert done[0].long_sms.text() == "第一部分。" * 20 + "第二部分。" * 20


def test_missing_part_is_a_finding_with_the_part_numbers(tmp_path: Path) -> None:
    payloads = ucs2_parts(TEXT, 134)
    total = len(payloads)
    pdus = [submit(n, 0x33, total, n, payloads[n - 1], Version.V2_0)
            for n in range(1, total + 1) if n != 2]
    path = capture(tmp_path, [pdus], Version.V2_0)
    records, an = run_engine(path)
    assert not [r for r in records if r.long_sms is not None]
    missing = [e for e in an.expert if e.code == "long-sms-incomplete"]
    assert len(missing) == 1
    assert "part(s) 2 never seen" in missing[0].message
    first_submit = min(r.frame for r in records if r.pdu.Command_Id == C.CMPP_SUBMIT)
    assert missing[0].frame == first_submit
    rep = json.loads(run_cli("--report", "json", str(path)).stdout)
    assert rep["long_sms"] == {"complete": 0, "incomplete": 1, "parts": total - 1,
                               "assembling": 0, "resent": 0}


def test_different_recipients_are_different_messages(tmp_path: Path) -> None:
    payloads = ucs2_parts("甲乙丙丁" * 40, 140)
    pdus = [submit(1, 9, 2, 1, payloads[0], Version.V2_0, (b"13800000001",)),
            submit(2, 9, 2, 2, payloads[1], Version.V2_0, (b"13800000002",))]
    records, an = run_engine(capture(tmp_path, [pdus], Version.V2_0))
    assert not [r for r in records if r.long_sms is not None]
    assert an.core.long_sms()["incomplete"] == 2


def test_jsonl_carries_the_joined_message_and_filter_finds_it(tmp_path: Path) -> None:
    payloads = ucs2_parts(TEXT, 134)
    pdus = [submit(n, 1, len(payloads), n, p, Version.V3_0) for n, p in enumerate(payloads, 1)]
    path = capture(tmp_path, [pdus], Version.V3_0)
    res = run_cli("-T", "jsonl", "-Y", "long_sms", str(path))
    assert res.returncode == 0, res.stderr
    (line,) = res.stdout.splitlines()
    rec = json.loads(line)
    assert rec["long_sms"]["text"] == TEXT and rec["long_sms"]["total"] == len(payloads)
    assert len(rec["long_sms"]["frames"]) == len(payloads)


def test_assembly_cap_duplicates_and_timeout() -> None:
    """At most max_long_sms messages are assembled at once (the oldest is given up, with one
    cap finding); a part sent twice is counted and named when its message completes; a
    message whose first part is older than the timeout is given up when the next part comes."""
    payload = "长".encode("utf-16-be")
    conv = Conversation()
    frames = conv.handshake()
    parts = [(1, 1), (2, 1), (3, 1), (2, 1), (2, 2), (4, 1)]  # (reference, part) of 2-part SMS
    for seq, (ref, n) in enumerate(parts, 1):
        frames += conv.send(True, submit(seq, ref, 2, n, payload, Version.V3_0))
    times = [BASE_TS_NS + i for i in range(len(frames))]
    times[-1] = BASE_TS_NS + 700 * 10**9  # the last part comes after the 600 s timeout
    records, an = run_engine(pcap_bytes(stamped(frames, times)), max_long_sms=2)
    done = [r for r in records if r.long_sms is not None]
    assert len(done) == 1 and done[0].long_sms.reference == 2
    assert done[0].long_sms.text() == "长长"
    (dup,) = [f for f in done[0].expert if f.code.startswith("long-sms")]
    assert dup.code == "long-sms-duplicate" and "1 part(s) sent more than once" in dup.message
    codes = [e.code for e in an.expert]
    assert codes.count("cap-long-sms") == 1
    incomplete = [e.message for e in an.expert if e.code == "long-sms-incomplete"]
    assert len(incomplete) == 3  # ref 1 (cap), ref 3 (timeout), ref 4 (end of capture)
    assert "when the assembly cap was reached" in incomplete[0]
    assert "within 600 s" in incomplete[1] and "at the end of the capture" in incomplete[2]
    assert an.core.long_sms() == {"complete": 1, "incomplete": 3, "parts": 6, "assembling": 0,
                                  "resent": 0}


def _messages_with_resends(count: int, resend: set[int], version: Version,
                           step_ns: int = 10**6) -> bytes:
    """``count`` three-part messages, each part answered; for the messages in ``resend``, part
    2 is sent again afterwards with the Sequence_Id it had (its response was late, say) and
    answered again."""
    payload = "长".encode("utf-16-be")
    conv = Conversation()
    frames = conv.handshake()
    seq = 0
    for m in range(count):
        first = seq + 1
        for part in (1, 2, 3):
            seq += 1
            frames += conv.send(True, submit(seq, m % 256, 3, part, payload, version))
            frames += conv.send(False, encode_pdu(C.CMPP_SUBMIT_RESP, seq,
                                                  {"Msg_Id": 1000 + seq, "Result": 0}, version))
        if m in resend:
            frames += conv.send(True, submit(first + 1, m % 256, 3, 2, payload, version))
            frames += conv.send(False, encode_pdu(C.CMPP_SUBMIT_RESP, first + 1,
                                                  {"Msg_Id": 1000 + first + 1, "Result": 0},
                                                  version))
    frames += conv.close()
    return pcap_bytes(stamped(frames, [BASE_TS_NS + i * step_ns for i in range(len(frames))]))


@pytest.mark.parametrize("version", [Version.V2_0, Version.V3_0])
def test_a_part_resent_after_its_message_completed_is_a_resend(version: Version) -> None:
    """Issue 13: a run of 23 messages, all complete, reported 25 complete and 4 incomplete,
    because parts resent with the same Sequence_Id after their message completed were taken
    for new messages. They are resends: counted as such, noted on the PDU."""
    records, an = run_engine(_messages_with_resends(23, {4, 16}, version))
    assert an.core.long_sms() == {"complete": 23, "incomplete": 0, "parts": 71,
                                  "assembling": 0, "resent": 2}
    notes = [(r.frame, f) for r in records for f in r.expert if f.code == "long-sms-resent"]
    assert len(notes) == 2
    frame, note = notes[0]
    first, again = [r.frame for r in records
                    if r.command == "CMPP_SUBMIT" and r.pdu.Sequence_Id == 14]
    assert frame == again
    assert note.message == ("long SMS ref 4 (3 parts) from 901234/106571234 to 13800138000: "
                            "part 2 sent again with Sequence_Id 14 after the message was "
                            f"complete (first sent in frame {first}): a resend, not a new "
                            "message")
    assert not [e for e in an.expert if e.code == "long-sms-incomplete"]


def test_a_reused_reference_with_new_sequence_ids_is_a_new_message() -> None:
    """The same reference and part sent again with another Sequence_Id is a new message (a
    reference is 8 bits, senders wrap it): not a resend."""
    payload = "长".encode("utf-16-be")
    conv = Conversation()
    frames = conv.handshake()
    for seq, part in ((1, 1), (2, 2), (3, 1), (4, 2)):  # ref 9 twice, new Sequence_Ids
        frames += conv.send(True, submit(seq, 9, 2, part, payload, Version.V3_0))
    records, an = run_engine(pcap_bytes(frames))
    assert an.core.long_sms()["complete"] == 2 and an.core.long_sms()["resent"] == 0
    assert len([r for r in records if r.long_sms is not None]) == 2


@pytest.mark.parametrize("count", [400, 800])
def test_completed_messages_are_remembered_within_their_caps(count: int) -> None:
    """What completed is kept for the long-SMS timeout and at most max_long_sms messages: the
    memory stays flat whatever the count, and a resend of a forgotten message is a new
    (incomplete) one, as before."""
    _, an = run_engine(_messages_with_resends(count, {count - 1}, Version.V2_0),
                       max_long_sms=50)
    assert an.core.long_sms_remembered() == 50
    # the table the metrics' cmpp_state_entries{table="long_sms_done"} gives
    assert an.core.table_sizes()["long_sms_done"] == 50
    assert an.core.long_sms()["resent"] == 1
    # Past the timeout a completed message is forgotten: 2 s between frames, 30 s timeout.
    _, an = run_engine(_messages_with_resends(count // 4, {0}, Version.V2_0, step_ns=2 * 10**9),
                       long_sms_timeout_s=30)
    assert an.core.long_sms_remembered() <= 3
