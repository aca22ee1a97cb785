"""TCP reassembly seen through the whole engine: real pcap bytes, the real reader, the engine.

Each case of issue 3's "TCP reassembly" list is built as a capture file with correct TCP
sequence numbers (``pcaputil.Conversation``), in both CMPP versions, and the test asserts what
a user reads: which PDUs came out, their decoded fields, the frame that completed each one and
that frame's time, and the expert findings. A few cases also go through ``cmppdissect -T jsonl``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pcaputil import (
    ACK,
    BASE_TS_NS,
    PSH,
    SP_ID,
    Conversation,
    bare_pdu,
    connect_pdu,
    connect_resp_pdu,
    deliver_resp_pdu,
    frame_ts,
    pcap_bytes,
    report_pdu,
    run_cli,
    run_engine,
    split_sizes,
    stamped,
    submit_pdu,
    submit_resp_pdu,
    write_pcap,
)
from pcaputil import dest_number as dest
from pcaputil import sample_msg_id as msg_id

from cmppdissect.output.report import build_report
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.version import Version

VERSIONS = pytest.mark.parametrize("v", [Version.V2_0, Version.V3_0], ids=["2.0", "3.0"])


# -- PDUs of an ordinary SP session, named by what they mean here -------------------------------


def connect(v: Version, seq: int = 1, sp: str = SP_ID) -> bytes:
    return connect_pdu(v, seq, sp=sp)


def connect_resp(v: Version, seq: int = 1, status: int = 0) -> bytes:
    return connect_resp_pdu(v, seq, status=status)


def submit(v: Version, seq: int, i: int | None = None, *, dests: int = 1) -> bytes:
    return submit_pdu(v, seq, i, dests=dests)


def submit_resp(v: Version, seq: int, i: int | None = None, result: int = 0) -> bytes:
    return submit_resp_pdu(v, seq, msg_id(seq if i is None else i), result)


def report(v: Version, seq: int, i: int, stat: str = "DELIVRD") -> bytes:
    return report_pdu(v, seq, msg_id(i), stat, dest=dest(i))


def deliver_resp(v: Version, seq: int) -> bytes:
    return deliver_resp_pdu(v, seq)


def active_test(v: Version, seq: int) -> bytes:
    return bare_pdu(C.CMPP_ACTIVE_TEST, seq, v)


def active_test_resp(v: Version, seq: int) -> bytes:
    return bare_pdu(C.CMPP_ACTIVE_TEST_RESP, seq, v)


# -- reading the results ------------------------------------------------------------------------


def summary(records: list[Any]) -> list[tuple[int, str, int, bool]]:
    """(frame, command, Sequence_Id, from_client) per record, in output order."""
    return [(r.frame, r.command, r.pdu.Sequence_Id, r.from_client) for r in records]


def check_submit(rec: Any, v: Version, i: int, *, dests: int = 1) -> None:
    """The SUBMIT decoded completely: header, version, recipients, text, no error findings."""
    assert rec.command == "CMPP_SUBMIT"
    assert rec.pdu.version is v
    assert rec.pdu.Total_Length == len(submit(v, rec.pdu.Sequence_Id, i, dests=dests))
    assert rec.pdu.fields["Dest_terminal_Id"] == [dest(i + k) for k in range(dests)]
    assert rec.pdu.fields["Service_Id"] == b"MVERIFY"
    content = rec.pdu.content
    assert content is not None and content.text == f"message number {i} for you"
    assert not [f for f in rec.pdu.findings if f.severity >= 2]


def check_times(records: list[Any]) -> None:
    """Every PDU carries the time of the frame that completed it (frames stamped 1 ms apart)."""
    for rec in records:
        assert rec.ts_ns == frame_ts(rec.frame), (rec.frame, rec.command)


def counters(report_doc: dict[str, Any], command: str) -> tuple[int, ...]:
    """requests, responses, paired, unanswered, orphan_responses of ``--report json``."""
    c = report_doc["commands"][command]
    return (c["requests"], c["responses"], c["paired"], c["unanswered"],
            c["orphan_responses"])


def codes(analyzer: Any) -> list[str]:
    return [e.code for e in analyzer.expert]


def jsonl(path: Path, *args: str) -> list[dict[str, Any]]:
    res = run_cli("-T", "jsonl", *args, str(path))
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    return [json.loads(line) for line in res.stdout.splitlines()]


# -- several PDUs in one segment ----------------------------------------------------------------


@VERSIONS
def test_several_pdus_in_one_segment_each_direction(v: Version) -> None:
    conv = Conversation()
    frames = conv.handshake()
    frames += conv.send(True, connect(v) + active_test(v, 2) + submit(v, 3))  # frame 4
    frames += conv.send(False, connect_resp(v) + active_test_resp(v, 2)
                        + submit_resp(v, 3))  # frame 5
    frames += conv.close()
    records, an = run_engine(pcap_bytes(frames))
    assert summary(records) == [
        (4, "CMPP_CONNECT", 1, True), (4, "CMPP_ACTIVE_TEST", 2, True),
        (4, "CMPP_SUBMIT", 3, True), (5, "CMPP_CONNECT_RESP", 1, False),
        (5, "CMPP_ACTIVE_TEST_RESP", 2, False), (5, "CMPP_SUBMIT_RESP", 3, False)]
    check_times(records)
    check_submit(records[2], v, 3)
    assert records[0].pdu.fields["Source_Addr"] == SP_ID.encode()
    assert records[3].pdu.fields["Status"] == 0
    assert records[5].pdu.fields["Msg_Id"] == msg_id(3)
    # responses pair with the requests of the same segment, 1 ms earlier
    assert [(r.request_frame, r.latency_ns) for r in records[3:]] == [(4, 1_000_000)] * 3
    sess = an.session(0)
    assert (sess.sp_id, sess.version, sess.version_source) == (SP_ID, v, "CONNECT")
    assert (sess.login, sess.ended) == ("ok", "fin")
    assert (sess.pdus_from_client, sess.pdus_from_server) == (3, 3)
    assert not [e for e in an.expert if e.severity >= 2]


# -- one PDU over many segments, headers split below 12 bytes -----------------------------------


@VERSIONS
@pytest.mark.parametrize("sizes", [
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],  # byte by byte through the header, then the rest
    [3, 5, 2, 1, 40, 40],  # Total_Length, Command_Id and Sequence_Id each cut
    [11, 1],  # one byte short of the header
    [7],  # inside Command_Id
], ids=["bytewise-header", "every-header-field-cut", "eleven", "seven"])
def test_one_pdu_over_many_segments_with_split_header(v: Version, sizes: list[int]) -> None:
    conv = Conversation()
    frames = conv.handshake()
    frames += conv.send(True, connect(v))
    frames += conv.send(False, connect_resp(v))
    first = len(frames) + 1
    for piece in split_sizes(submit(v, 2), sizes):  # the gateway ACKs every segment
        frames += conv.send(True, piece)
        frames.append(conv.ack(False))
    last = len(frames) - 1  # the frame of the last piece, before its ACK
    frames += conv.send(False, submit_resp(v, 2))
    records, an = run_engine(pcap_bytes(frames))
    assert summary(records) == [(4, "CMPP_CONNECT", 1, True), (5, "CMPP_CONNECT_RESP", 1, False),
                                (last, "CMPP_SUBMIT", 2, True),
                                (last + 2, "CMPP_SUBMIT_RESP", 2, False)]
    assert last > first
    check_times(records)
    check_submit(records[2], v, 2)
    assert records[3].request_frame == last
    assert records[3].latency_ns == 2_000_000
    assert an.expert == []


@VERSIONS
def test_second_pdu_of_a_segment_has_its_header_split(v: Version) -> None:
    """Segment 1 holds a whole PDU plus 5 bytes of the next; 6 more bytes come alone."""
    conv = Conversation()
    a, b, c = submit(v, 1), submit(v, 2, dests=3), active_test(v, 3)
    frames = conv.handshake() + conv.send(True, a + b + c, [len(a) + 5, 6, 50])
    records, an = run_engine(pcap_bytes(frames))
    assert summary(records) == [(4, "CMPP_SUBMIT", 1, True), (7, "CMPP_SUBMIT", 2, True),
                                (7, "CMPP_ACTIVE_TEST", 3, True)]
    check_times(records)
    check_submit(records[0], v, 1)
    check_submit(records[1], v, 2, dests=3)
    assert codes(an) == ["unanswered"] * 3  # end of capture, nothing answered


@VERSIONS
def test_split_pdus_through_the_cli(tmp_path: Path, v: Version) -> None:
    """jsonl ``frame``/``time`` are the completing frame's, with uneven capture times."""
    conv = Conversation()
    a, b = submit(v, 7), submit(v, 8)
    frames = conv.handshake() + conv.send(True, a + b, [4, len(a) - 4 + 9])
    frames += conv.send(False, submit_resp(v, 7) + submit_resp(v, 8))
    times = [BASE_TS_NS + t for t in (0, 250_000, 300_000, 1_000_000, 7_777_000, 9_123_000,
                                      21_000_000)]
    path = write_pcap(tmp_path / "split.pcap", stamped(frames, times))
    recs = jsonl(path)
    assert [(r["frame"], r["command"], r["sequence_id"]) for r in recs] == [
        (5, "CMPP_SUBMIT", 7), (6, "CMPP_SUBMIT", 8), (7, "CMPP_SUBMIT_RESP", 7),
        (7, "CMPP_SUBMIT_RESP", 8)]
    for r in recs:
        assert r["time"] == pytest.approx(times[r["frame"] - 1] / 1e9, abs=1e-6)
        assert r["version"] == v.value
    assert recs[0]["fields"]["text"] == "message number 7 for you"
    assert recs[1]["fields"]["Dest_terminal_Id"] == [dest(8).decode()]
    assert recs[2]["request_frame"] == 5
    assert recs[2]["latency_ms"] == pytest.approx((21_000_000 - 7_777_000) / 1e6)
    assert recs[3]["request_frame"] == 6
    assert recs[3]["latency_ms"] == pytest.approx((21_000_000 - 9_123_000) / 1e6)


# -- retransmissions and duplicate frames -------------------------------------------------------


def full_session(v: Version, conv: Conversation | None = None) -> list[bytes]:
    """A login, two SUBMITs with a report each, a heartbeat and a clean logout."""
    conv = conv or Conversation()
    frames = conv.handshake()
    frames += conv.send(True, connect(v))
    frames += conv.send(False, connect_resp(v))
    for seq in (2, 3):
        frames += conv.send(True, submit(v, seq), [60])
        frames += conv.send(False, submit_resp(v, seq))
        frames += conv.send(False, report(v, 100 + seq, seq, "DELIVRD" if seq == 2 else "EXPIRED"))
        frames += conv.send(True, deliver_resp(v, 100 + seq))
    frames += conv.send(False, active_test(v, 200))
    frames += conv.send(True, active_test_resp(v, 200))
    frames += conv.send(True, bare_pdu(C.CMPP_TERMINATE, 4, v))
    frames += conv.send(False, bare_pdu(C.CMPP_TERMINATE_RESP, 4, v))
    return frames + conv.close()


def shape(records: list[Any]) -> list[tuple[str, int, int | None]]:
    return [(r.command, r.pdu.Sequence_Id, r.request_frame) for r in records]


@VERSIONS
def test_loopback_capture_holds_every_frame_twice(v: Version) -> None:
    frames = full_session(v)
    once, an1 = run_engine(pcap_bytes(frames))
    twice, an2 = run_engine(pcap_bytes([f for f in frames for _ in (0, 1)]))
    assert len(once) == len(twice) == 14
    # every PDU once, completed by the first copy: frame n becomes frame 2n - 1
    assert [r.frame for r in twice] == [2 * r.frame - 1 for r in once]
    assert [(c, s) for c, s, _ in shape(twice)] == [(c, s) for c, s, _ in shape(once)]
    assert [r.request_frame for r in twice] == [
        None if r.request_frame is None else 2 * r.request_frame - 1 for r in once]
    assert [r.pdu.raw for r in twice] == [r.pdu.raw for r in once]
    check_times(twice)
    for an in (an1, an2):
        rep = build_report(an)
        assert rep["pdus"] == 14
        assert counters(rep, "CMPP_SUBMIT") == (2, 2, 2, 0, 0)
        assert counters(rep, "CMPP_DELIVER") == (2, 2, 2, 0, 0)
        assert {k: s["count"] for k, s in rep["reports"]["stat"].items()} == {
            "DELIVRD": 1, "EXPIRED": 1}
        assert rep["sessions"][0]["ended"] == "fin"
        assert [e for e in an.expert if e.severity >= 2] == []


@VERSIONS
def test_loopback_capture_through_the_cli(tmp_path: Path, v: Version) -> None:
    frames = full_session(v)
    recs = jsonl(write_pcap(tmp_path / "lo.pcap", [f for f in frames for _ in (0, 1)]))
    assert len(recs) == 14
    assert len({(r["src"], r["sequence_id"], r["command"]) for r in recs}) == 14
    assert all(r["frame"] % 2 == 1 for r in recs)
    reports = [r["fields"]["report"] for r in recs if "report" in r["fields"]]
    assert [(rep["Stat"], rep["Msg_Id"]) for rep in reports] == [
        ("DELIVRD", str(msg_id(2))), ("EXPIRED", str(msg_id(3)))]  # JSON: 64-bit as text
    assert all(r["expert"] == [] or all(f["severity"] == "chat" for f in r["expert"])
               for r in recs)


@VERSIONS
def test_retransmitted_segments_count_once(v: Version) -> None:
    """A lost-ACK resend of a whole segment, and a resend repacketised with new bytes."""
    conv = Conversation()
    a, b, c = submit(v, 1), submit(v, 2), submit(v, 3)
    frames = conv.handshake()
    seg_a = conv.send(True, a)
    frames += seg_a + conv.send(False, submit_resp(v, 1)) + seg_a  # frame 6: plain resend
    start_b = conv.nxt[True]
    seg_b1 = conv.send(True, b, [100])  # b[:100] (frame 7), b[100:] (frame 8) lost
    frames += [seg_b1[0]]
    conv.nxt[True] = start_b  # the sender repacketises: b whole plus 30 bytes of c
    frames += conv.send(True, b + c[:30])  # frame 8 overlaps frame 7
    frames += conv.send(True, c[30:])  # frame 9
    frames += seg_a  # frame 10: a very late copy of frame 4
    frames += conv.send(False, submit_resp(v, 2) + submit_resp(v, 3))  # frame 11
    records, an = run_engine(pcap_bytes(frames))
    assert summary(records) == [
        (4, "CMPP_SUBMIT", 1, True), (5, "CMPP_SUBMIT_RESP", 1, False),
        (8, "CMPP_SUBMIT", 2, True), (9, "CMPP_SUBMIT", 3, True),
        (11, "CMPP_SUBMIT_RESP", 2, False), (11, "CMPP_SUBMIT_RESP", 3, False)]
    for rec, i in zip((records[0], records[2], records[3]), (1, 2, 3), strict=True):
        check_submit(rec, v, i)
    check_times(records)
    assert counters(build_report(an), "CMPP_SUBMIT") == (3, 3, 3, 0, 0)
    assert build_report(an)["commands"]["CMPP_SUBMIT"]["retransmitted"] == 0
    assert an.core.tracker.stats(0).retransmissions >= 3
    assert "sequence-reused" not in codes(an) and "skipped-bytes" not in codes(an)


# -- out-of-order and overlapping segments ------------------------------------------------------


@VERSIONS
def test_out_of_order_segments_complete_when_the_hole_fills(v: Version) -> None:
    conv = Conversation()
    a, b = submit(v, 1), submit(v, 2)
    frames = conv.handshake()
    s1, s2, s3, s4 = conv.send(True, a + b, [100, len(a) - 100 + 20, 50])
    frames += [s1, s3, s4, s2]  # frames 4, 5, 6, 7: the hole is filled by frame 7
    frames += conv.send(False, submit_resp(v, 1) + submit_resp(v, 2))
    records, an = run_engine(pcap_bytes(frames))
    assert summary(records) == [(7, "CMPP_SUBMIT", 1, True), (7, "CMPP_SUBMIT", 2, True),
                                (8, "CMPP_SUBMIT_RESP", 1, False),
                                (8, "CMPP_SUBMIT_RESP", 2, False)]
    check_submit(records[0], v, 1)
    check_submit(records[1], v, 2)
    check_times(records)
    assert [r.latency_ns for r in records[2:]] == [1_000_000, 1_000_000]
    assert an.core.tracker.stats(0).out_of_order == 2
    assert an.expert == []


@VERSIONS
def test_overlapping_out_of_order_segments(v: Version) -> None:
    """Three overlapping pieces arrive last-first; each byte is taken once."""
    conv = Conversation()
    pdus = submit(v, 1) + active_test(v, 2) + submit(v, 3)
    frames = conv.handshake()
    base = conv.nxt[True]
    n = len(pdus)
    cuts = [(0, 150), (90, 260), (200, n)]
    pieces = [conv.frame(True, PSH | ACK, pdus[lo:hi], seq=base + lo) for lo, hi in cuts]
    frames += [pieces[2], pieces[0], pieces[1]]  # frames 4, 5, 6
    records, an = run_engine(pcap_bytes(frames))
    assert summary(records) == [(6, "CMPP_SUBMIT", 1, True), (6, "CMPP_ACTIVE_TEST", 2, True),
                                (6, "CMPP_SUBMIT", 3, True)]
    check_submit(records[0], v, 1)
    check_submit(records[2], v, 3)
    check_times(records)
    assert b"".join(r.pdu.raw for r in records) == pdus
    assert "skipped-bytes" not in codes(an) and "capture-gap" not in codes(an)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(version=st.sampled_from(list(Version)),
       cuts=st.lists(st.integers(1, 120), min_size=1, max_size=25),
       seed=st.integers(0, 2**32 - 1))
def test_any_segmentation_duplication_and_local_reordering(version: Version, cuts: list[int],
                                                          seed: int) -> None:
    """Random segment sizes, random duplicate frames, neighbours swapped: the same PDUs."""
    v = version
    conv = Conversation()
    handshake = conv.handshake()
    pdus = [connect(v), submit(v, 2), active_test(v, 3), submit(v, 4, dests=2), report(v, 5, 9)]
    segs = conv.send(True, b"".join(pdus), cuts)
    rng = random.Random(seed)
    for i in range(len(segs) - 1):
        if rng.random() < 0.3:
            segs[i], segs[i + 1] = segs[i + 1], segs[i]
    noisy = [s for seg in segs for s in ([seg, seg] if rng.random() < 0.3 else [seg])]
    records, an = run_engine(pcap_bytes(handshake + noisy))
    assert [r.pdu.raw for r in records] == pdus
    assert records[-1].pdu.report is not None and records[-1].pdu.report["Stat"] == b"DELIVRD"
    assert "skipped-bytes" not in codes(an) and "capture-gap" not in codes(an)


# -- sequence-number wrap -----------------------------------------------------------------------


@VERSIONS
def test_sequence_numbers_wrap_in_both_directions(v: Version) -> None:
    conv = Conversation(isn_client=2**32 - 300, isn_server=2**32 - 40)
    frames = full_session(v, conv)
    records, an = run_engine(pcap_bytes(frames))
    reference, _ = run_engine(pcap_bytes(full_session(v)))
    assert shape(records) == shape(reference)
    assert conv.nxt[True] < 10_000 and conv.nxt[False] < 10_000  # both sides did wrap
    check_submit(records[2], v, 2)
    check_times(records)
    assert an.session(0).ended == "fin"
    assert [e for e in an.expert if e.severity >= 2] == []


# -- SYN, FIN, RST and a reused 4-tuple ---------------------------------------------------------


@VERSIONS
def test_fin_then_rst_on_a_reused_four_tuple_make_two_sessions(v: Version) -> None:
    first = Conversation(isn_client=1000, isn_server=5000)
    frames = full_session(v, first)
    n_first = len(frames)
    second = Conversation(isn_client=900_000, isn_server=700_000)  # same addresses and ports
    frames += second.handshake()
    frames += second.send(True, connect(v, sp="905555"))
    frames += second.send(False, connect_resp(v, status=3))
    frames.append(second.rst(False))
    frames += second.send(True, submit(v, 9))  # after the reset: not part of any session
    records, an = run_engine(pcap_bytes(frames))
    assert [s.id for s in an.session_states()] == [0, 1]
    s0, s1 = an.session(0), an.session(1)
    assert s0.client == s1.client == "192.0.2.10:40001"
    assert s0.server == s1.server == "198.51.100.7:7890"
    assert (s0.sp_id, s0.ended, s0.login, s0.saw_syn) == (SP_ID, "fin", "ok", True)
    assert (s1.sp_id, s1.ended, s1.saw_syn) == ("905555", "rst", True)
    assert s1.login is not None and s1.login.startswith("failed (3")
    assert s0.total_pdus == 14 and s1.total_pdus == 2
    assert s0.end_ns < s1.start_ns
    assert s1.start_ns == frame_ts(n_first + 1)  # the new SYN
    assert s1.end_ns == frame_ts(n_first + 6)  # the RST
    tail = records[-2:]
    assert [(r.session, r.command, r.frame) for r in tail] == [
        (1, "CMPP_CONNECT", n_first + 4), (1, "CMPP_CONNECT_RESP", n_first + 5)]
    assert tail[0].pdu.fields["Source_Addr"] == b"905555"
    assert tail[1].request_frame == n_first + 4
    assert all(r.session == 0 for r in records[:-2])


@VERSIONS
def test_syn_on_an_open_four_tuple_ends_the_old_session(v: Version) -> None:
    old = Conversation(isn_client=1000, isn_server=5000)
    frames = old.handshake() + old.send(True, connect(v)) + old.send(False, connect_resp(v))
    frames += old.send(True, submit(v, 2))  # left unanswered: the client restarts
    new = Conversation(isn_client=3_000_000, isn_server=4_000_000)
    frames += new.handshake() + new.send(True, connect(v, sp="906666"))  # frames 7..10
    frames += new.send(False, connect_resp(v))
    records, an = run_engine(pcap_bytes(frames))
    s0, s1 = an.session(0), an.session(1)
    assert (s0.ended, s1.ended) == ("reused", "end-of-capture")
    assert (s0.sp_id, s1.sp_id) == (SP_ID, "906666")
    assert [(r.session, r.frame, r.command) for r in records] == [
        (0, 4, "CMPP_CONNECT"), (0, 5, "CMPP_CONNECT_RESP"), (0, 6, "CMPP_SUBMIT"),
        (1, 10, "CMPP_CONNECT"), (1, 11, "CMPP_CONNECT_RESP")]
    unanswered = [e for e in an.expert if e.code == "unanswered"]
    assert [(e.frame, e.session) for e in unanswered] == [(6, 0)]


# -- gaps and mid-stream starts: resynchronisation ----------------------------------------------


@VERSIONS
def test_gap_resynchronises_on_the_next_plausible_header(v: Version) -> None:
    conv = Conversation()
    a, b, c, d = (submit(v, i) for i in (1, 2, 3, 4))
    frames = conv.handshake()
    base = conv.nxt[True]
    segs = conv.send(True, a + b + c + d, [len(a) + 30, 60, 80])
    # segment 2 (bytes 30..90 of b) was never captured; the gateway's ACK covers it
    acked = conv.ack(False, upto=base + len(a) + 30 + 60 + 80)
    frames += [segs[0], segs[2], acked, segs[3]]  # frames 4, 5, 6, 7
    frames += conv.send(False, submit_resp(v, 1) + submit_resp(v, 3) + submit_resp(v, 4))
    records, an = run_engine(pcap_bytes(frames))
    assert summary(records) == [
        (4, "CMPP_SUBMIT", 1, True), (7, "CMPP_SUBMIT", 3, True), (7, "CMPP_SUBMIT", 4, True),
        (8, "CMPP_SUBMIT_RESP", 1, False), (8, "CMPP_SUBMIT_RESP", 3, False),
        (8, "CMPP_SUBMIT_RESP", 4, False)]
    for rec, i in zip(records[:3], (1, 3, 4), strict=True):
        check_submit(rec, v, i)
    check_times(records)
    gaps = [e for e in an.expert if e.code == "capture-gap"]
    assert [(e.frame, e.session, e.severity) for e in gaps] == [(6, 0, 2)]
    assert "60 bytes not captured" in gaps[0].message
    skipped = [e for e in an.expert if e.code == "skipped-bytes"]
    # what is left of b: its 30 captured bytes before the gap, the rest after it
    lost = sum(int(e.message.split()[0]) for e in skipped)
    assert lost == len(b) - 60
    assert any("capture gap" in e.message for e in skipped)
    assert counters(build_report(an), "CMPP_SUBMIT") == (3, 3, 3, 0, 0)


@VERSIONS
def test_capture_starting_mid_stream(v: Version) -> None:
    """No handshake; the first bytes of each side are the middle of a PDU."""
    conv = Conversation(isn_client=77_000, isn_server=88_000)
    a, b = submit(v, 41), submit(v, 42)
    cut = conv.send(True, a, [70])  # the first segment was before the capture started
    frames = [cut[1]]  # frame 1: the last bytes of a
    frames += conv.send(True, b)  # frame 2
    frames += conv.send(False, submit_resp(v, 41)[5:] + submit_resp(v, 42))  # frame 3
    frames += conv.send(True, active_test(v, 43))  # frame 4
    frames += conv.send(False, active_test_resp(v, 43))  # frame 5
    records, an = run_engine(pcap_bytes(frames))
    assert summary(records) == [(2, "CMPP_SUBMIT", 42, True),
                                (3, "CMPP_SUBMIT_RESP", 42, False),
                                (4, "CMPP_ACTIVE_TEST", 43, True),
                                (5, "CMPP_ACTIVE_TEST_RESP", 43, False)]
    check_submit(records[0], v, 42)
    assert records[1].request_frame == 2 and records[3].request_frame == 4
    check_times(records)
    sess = an.session(0)
    assert sess.saw_syn is False
    assert (sess.client, sess.server) == ("192.0.2.10:40001", "198.51.100.7:7890")
    assert sess.version is v and sess.version_source == "lengths"
    skipped = [e for e in an.expert if e.code == "skipped-bytes"]
    assert skipped[0].frame == 1
    assert all(e.message.endswith("bytes skipped: capture starts mid-stream") for e in skipped)
    lost = sum(int(e.message.split()[0]) for e in skipped)
    assert lost == (len(a) - 70) + (len(submit_resp(v, 41)) - 5)
    assert "orphan-response" not in codes(an)


@VERSIONS
def test_gap_and_mid_stream_through_the_cli(tmp_path: Path, v: Version) -> None:
    conv = Conversation()
    a, b, c = submit(v, 1), submit(v, 2), submit(v, 3)
    segs = conv.send(True, a + b + c, [50, len(a) - 50 + 10, len(b) - 10])
    # the capture starts inside a, then misses the rest of b; the ACK gives the gap up
    frames = [segs[1], segs[3], conv.ack(False)]
    frames += conv.send(False, submit_resp(v, 2) + submit_resp(v, 3))  # frame 4
    path = write_pcap(tmp_path / "gap.pcap", frames)
    recs = jsonl(path)
    assert [(r["frame"], r["command"], r["sequence_id"]) for r in recs] == [
        (3, "CMPP_SUBMIT", 3), (4, "CMPP_SUBMIT_RESP", 2), (4, "CMPP_SUBMIT_RESP", 3)]
    assert recs[0]["fields"]["text"] == "message number 3 for you"
    assert recs[0]["time"] == pytest.approx(frame_ts(3) / 1e9, abs=1e-6)
    assert "request_frame" not in recs[1]  # b was lost to the gap
    assert [f["code"] for f in recs[1]["expert"]] == ["orphan-response"]
    assert recs[2]["request_frame"] == 3
    report_doc = json.loads(run_cli("--report", "json", str(path)).stdout)
    by_code: dict[str, list[dict[str, Any]]] = {}
    for e in report_doc["expert"]:
        by_code.setdefault(e["code"], []).append(e)
    assert [(e["frame"], e["severity"]) for e in by_code["capture-gap"]] == [(3, "warn")]
    reasons = " ".join(e["message"] for e in by_code["skipped-bytes"])
    assert "capture starts mid-stream" in reasons and "capture gap" in reasons
    assert report_doc["pdus"] == 3
