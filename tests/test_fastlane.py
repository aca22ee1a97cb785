"""The fast lane gives the same statistics as the per-segment path, or declines the capture.

``--report json`` and the summary read regular captures through
:mod:`cmppdissect.capture.columnar` and :mod:`cmppdissect.analysis.fastlane`, which skip most of
the decoding. Nothing may change for the user: every report here is compared, whole, with the
one the per-segment path (reader, TcpTracker, PduFramer, ``Analyzer._pdu``) gives for the same
file, on the samples, on generated busy links and on random conversations built to hit every
branch (bad content, long SMS, orphans, resends, timeouts, group sends, both versions). And
captures the lane cannot take as they are must be declined, then analysed the long way.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pcaputil import (
    ACK,
    BASE_TS_NS,
    PSH,
    RST,
    Conversation,
    bare_pdu,
    connect_pdu,
    connect_resp_pdu,
    deliver_resp_pdu,
    ethernet,
    mo_pdu,
    pcap_bytes,
    pcapng_bytes,
    report_pdu,
    run_engine,
    sample_msg_id,
    sll,
    sll2,
    stamped,
    submit_pdu,
    submit_resp_pdu,
    tcp_frame,
    tcp_packet,
    write_pcap,
)

from cmppdissect import analyze
from cmppdissect.analysis.engine import Analyzer
from cmppdissect.analysis.fastlane import scan_file
from cmppdissect.capture.columnar import ColumnScanner, IrregularCaptureError
from cmppdissect.output.records import dumps
from cmppdissect.output.report import build_report
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.version import Version

ROOT = Path(__file__).resolve().parents[1]
_SPEC = importlib.util.spec_from_file_location("gen_capture", ROOT / "bench" / "gen_capture.py")
assert _SPEC is not None and _SPEC.loader is not None
gen = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("gen_capture", gen)
_SPEC.loader.exec_module(gen)


def normal(report: dict[str, Any]) -> Any:
    return json.loads(dumps(report))


def slow_report(path: Path, **settings_: Any) -> Any:
    frames = path.read_bytes()
    _, an = run_engine(frames, **settings_)
    return normal(build_report(an))


def lane_report(path: Path, *, parallel: bool = False, **settings_: Any) -> Any | None:
    an = Analyzer(**settings_)
    if not scan_file(path, an, parallel=parallel):
        return None
    return normal(build_report(an))


# -- the samples and generated links ------------------------------------------------------------

SAMPLES = sorted(p for p in (ROOT / "samples").iterdir() if p.suffix in (".pcap", ".pcapng"))


def through_api(path: Path, lane: bool) -> Any:
    """``analyze(path).report()``, the lane allowed or not: the reader's notes included."""
    os.environ["CMPPDISSECT_FASTLANE"] = "1" if lane else "0"
    try:
        return normal(analyze(path).report())
    finally:
        del os.environ["CMPPDISSECT_FASTLANE"]


def test_samples_same_report_or_declined() -> None:
    taken = []
    for path in SAMPLES:
        lane = lane_report(path)
        if lane is not None:
            assert lane == slow_report(path), path.name
            assert through_api(path, True) == through_api(path, False), path.name
            taken.append(path.name)
    # The regular recordings are taken (so this test compares something); the pcapng, the
    # damaged and the edited ones are not.
    assert {"cmpp-basic.pcap", "cmpp30-sp-session.pcap", "cmpp20-sp-session.pcapng",
            "failed-login.pcap", "ismg-fwd-gns.pcap", "split-headers.pcap",
            "unanswered.pcap"} <= set(taken)
    assert not {"tcp-gap.pcap", "tcp-retransmission.pcap", "tcp-midstream.pcap"} & set(taken)


BUSY = gen.Mix(unanswered=0.03, split=0.12, error_result=0.05, long_sms=0.08, group_send=0.08,
               slow_response=0.05)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_links_same_report(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "busy.pcap"
    gen.generate(path, frames=6000, seed=seed, sessions=5, mix=BUSY)
    # A short timeout makes the slow responses unanswered and their responses orphans.
    for timeout in (60.0, 0.5):
        lane = lane_report(path, timeout_s=timeout)
        assert lane is not None
        assert lane == slow_report(path, timeout_s=timeout)
        assert lane["pdus"] > 3000
    assert through_api(path, True) == through_api(path, False)


def test_parallel_and_in_process_agree(tmp_path: Path) -> None:
    path = tmp_path / "busy.pcap"
    gen.generate(path, frames=20000, seed=4, sessions=6, mix=BUSY)
    assert lane_report(path, parallel=True) == lane_report(path, parallel=False) \
        == slow_report(path)


def test_cli_report_is_the_same_either_way(tmp_path: Path) -> None:
    path = tmp_path / "busy.pcap"
    gen.generate(path, frames=3000, seed=5, sessions=3, mix=BUSY)
    outs = []
    for lane in ("1", "0"):
        done = subprocess.run([sys.executable, "-m", "cmppdissect", str(path), "--report", "json"],
                              capture_output=True, text=True, timeout=120, check=False,
                              env={**os.environ, "CMPPDISSECT_FASTLANE": lane})
        assert done.returncode == 0, done.stderr
        outs.append(done.stdout)
    assert outs[0] == outs[1]
    assert json.loads(outs[0])["pdus"] > 1000


# -- random conversations -------------------------------------------------------------------------

TEXTS = {
    "ascii": (0, b"your code is 1234"),
    "ascii-high": (0, b"caf\xe9"),  # a finding: Msg_Fmt 0 with a byte above 0x7F
    "ucs2": (8, "验证码 1234".encode("utf-16-be")),
    "ucs2-odd": (8, "验证码".encode("utf-16-be") + b"\x00"),  # a finding
    "ucs2-pair": (8, "ok 😀".encode("utf-16-be")),  # a surrogate pair: valid
    "ucs2-lone": (8, b"\xd8\x00\x00A"),  # an unpaired surrogate: a finding
    "gbk": (15, "验证码".encode("gbk")),
    "gbk-bad": (15, b"\x81"),  # a finding
    "binary": (4, b"\x01\x02\x03"),
    "unknown-fmt": (9, b"abc"),
    "too-long": (0, b"x" * 170),  # over Msg_Fmt 0's 160: a finding
}


def submit(v: Version, seq: int, kind: str, *, dests: int, registered: int, part: int = 0
           ) -> bytes:
    fmt, content = TEXTS[kind]
    fields: dict[str, Any] = {
        "Pk_total": 1, "Pk_number": 1, "Registered_Delivery": registered, "Msg_Fmt": fmt,
        "Service_Id": "MVERIFY", "Src_Id": "1065712345", "Msg_src": "901234",
        "Dest_terminal_Id": [f"86138{seq:04d}{k:02d}" for k in range(dests)],
        "Msg_Content": content}
    if part:  # a part of a two-part long SMS, reference 7
        fields.update(TP_udhi=1, Pk_total=2, Pk_number=part,
                      Msg_Content=bytes([5, 0, 3, 7, 2, part]) + content[:20])
    return encode_pdu(C.CMPP_SUBMIT, seq, fields, v)


@st.composite
def conversations(draw: st.DrawFn) -> tuple[list[tuple[int, bytes]], float]:
    """A few connections of random traffic, interleaved, with times that cross a timeout."""
    timeout = 1.0
    streams = []
    for k in range(draw(st.integers(1, 3))):
        v = draw(st.sampled_from(list(Version)))
        conv = Conversation(client=(f"192.0.2.{10 + k}", 40000 + k),
                            isn_client=draw(st.integers(0, 2**32 - 1)),
                            isn_server=draw(st.integers(0, 2**32 - 1)))
        frames = list(conv.handshake())
        pdus: list[tuple[bool, bytes]] = []
        if draw(st.booleans()):
            pdus += [(True, connect_pdu(v)), (False, connect_resp_pdu(v))]
        submitted: list[int] = []
        answered: list[int] = []
        for seq in range(2, draw(st.integers(2, 30))):
            op = draw(st.sampled_from(["submit", "submit", "resp", "resp", "report", "mo",
                                       "active", "active-resp", "long"]))
            if op == "submit":
                submitted.append(seq)
                pdus.append((True, submit(v, seq, draw(st.sampled_from(sorted(TEXTS))),
                                          dests=draw(st.integers(1, 3)),
                                          registered=draw(st.integers(0, 1)))))
            elif op == "long":
                submitted.append(seq)
                pdus.append((True, submit(v, seq, "ucs2", dests=1, registered=1,
                                          part=draw(st.integers(1, 2)))))
            elif op == "resp":
                answer = draw(st.sampled_from(submitted)) if submitted and draw(st.booleans()) \
                    else seq
                answered.append(answer)
                pdus.append((False, submit_resp_pdu(v, answer, sample_msg_id(answer),
                                                    draw(st.sampled_from([0, 0, 8])))))
            elif op == "report":
                target = draw(st.sampled_from(answered)) if answered else seq
                size = draw(st.sampled_from([None, None, 60, 71]))
                pdus.append((False, report_pdu(v, seq, sample_msg_id(target), size=size)))
                pdus.append((True, deliver_resp_pdu(v, seq)))
            elif op == "mo":
                pdus.append((False, mo_pdu(v, seq, draw(st.sampled_from(["TD", "退订"])))))
                pdus.append((True, deliver_resp_pdu(v, seq, draw(st.sampled_from([0, 9])))))
            elif op == "active":
                pdus.append((draw(st.booleans()), bare_pdu(C.CMPP_ACTIVE_TEST, seq, v)))
            else:
                pdus.append((draw(st.booleans()), bare_pdu(C.CMPP_ACTIVE_TEST_RESP, seq, v,
                                                           Reserved=b"\x00")))
        for from_client, pdu in pdus:
            cut = draw(st.integers(0, len(pdu)))
            sizes = [cut] if 0 < cut < len(pdu) else []
            frames += conv.send(from_client, pdu, sizes)
            if draw(st.integers(0, 4)) == 0:
                frames.append(conv.ack(not from_client))
        ending = draw(st.sampled_from(["fin", "rst", "open"]))
        if ending == "fin":
            frames += conv.close()
        elif ending == "rst":
            frames.append(conv.rst(draw(st.booleans())))
        streams.append(frames)
    # Interleave the connections, each in its own order, at increasing times.
    merged: list[bytes] = []
    cursors = [0] * len(streams)
    while any(c < len(s) for c, s in zip(cursors, streams, strict=True)):
        k = draw(st.sampled_from([i for i, s in enumerate(streams) if cursors[i] < len(s)]))
        merged.append(streams[k][cursors[k]])
        cursors[k] += 1
    gaps = draw(st.lists(st.sampled_from([1, 5, 300, 1500]), min_size=len(merged),
                         max_size=len(merged)))
    times = []
    t = BASE_TS_NS
    for gap in gaps:
        t += gap * 1_000_000
        times.append(t)
    return stamped(merged, times), timeout


@settings(max_examples=int(os.environ.get("CMPP_FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(conversations())
def test_random_conversations_same_report(tmp_path: Path,
                                          conv: tuple[list[tuple[int, bytes]], float]) -> None:
    frames, timeout = conv
    path = tmp_path / "conv.pcap"
    write_pcap(path, frames)
    lane = lane_report(path, timeout_s=timeout)
    assert lane is not None, "a regular conversation must be taken"
    assert lane == slow_report(path, timeout_s=timeout)


def test_random_conversations_reach_every_kind_of_pdu(tmp_path: Path) -> None:
    """One fixed busy conversation: the lane reads some PDUs itself and hands others over."""
    from cmppdissect.analysis import fastlane

    v = Version.V3_0
    conv = Conversation()
    frames = conv.handshake()
    for pdu, from_client in [(connect_pdu(v), True), (connect_resp_pdu(v), False),
                             (submit(v, 2, "ucs2", dests=2, registered=1), True),
                             (submit(v, 3, "gbk-bad", dests=1, registered=1), True),
                             (submit_resp_pdu(v, 2, sample_msg_id(2)), False),
                             (submit_resp_pdu(v, 3, sample_msg_id(3)), False),
                             (report_pdu(v, 4, sample_msg_id(3)), False),
                             (deliver_resp_pdu(v, 4), True)]:
        frames += conv.send(from_client, pdu)
    frames += conv.close()
    path = tmp_path / "one.pcap"
    write_pcap(path, frames)
    seen: list[int] = []
    original = Analyzer._pdu

    def spy(self: Analyzer, sess: Any, fc: bool, framed: Any, **kw: Any) -> Any:
        rec = original(self, sess, fc, framed, **kw)
        seen.append(rec.pdu.Command_Id)
        return rec

    Analyzer._pdu = spy  # type: ignore[method-assign]
    try:
        lane = lane_report(path)
    finally:
        Analyzer._pdu = original  # type: ignore[method-assign]
    assert lane == slow_report(path)
    # The login and the SUBMIT with bad GBK go the long way; the rest is read in the lane.
    assert sorted(seen) == sorted([C.CMPP_CONNECT, C.CMPP_CONNECT_RESP, C.CMPP_SUBMIT])
    assert lane["reports"]["matched"] == 1
    assert fastlane._CHECK_TEXT  # the GBK text was checked by decoding it


def _link_frames(link: Any) -> list[bytes]:
    conv = Conversation(link=link)
    v = Version.V3_0
    frames = conv.handshake()
    for pdu, from_client in [(connect_pdu(v), True), (connect_resp_pdu(v), False),
                             (submit(v, 2, "ucs2", dests=1, registered=1), True),
                             (submit_resp_pdu(v, 2, sample_msg_id(2)), False),
                             (report_pdu(v, 3, sample_msg_id(2)), False),
                             (deliver_resp_pdu(v, 3), True)]:
        frames += conv.send(from_client, pdu, [7])
    return frames + conv.close()


@pytest.mark.parametrize("name, linktype, wrap", [
    ("vlan", 1, lambda pkt: ethernet(pkt, vlans=[0x8100])),
    ("sll", 113, sll),
    ("sll2", 276, sll2),
    ("raw", 101, lambda pkt: pkt),
    ("ipv4", 228, lambda pkt: pkt),
])
def test_link_types_the_reader_reads_inline(tmp_path: Path, name: str, linktype: int,
                                            wrap: Any) -> None:
    frames = _link_frames(lambda *a: wrap(tcp_packet(*a)))
    path = tmp_path / f"{name}.pcap"
    write_pcap(path, frames, linktype=linktype)
    lane = lane_report(path)
    assert lane is not None, name
    assert lane == slow_report(path)
    assert lane["reports"]["matched"] == 1 and lane["pdus"] == 6


@pytest.mark.parametrize("resol, offset", [(6, 0), (9, 0), (3, 7200)])
def test_pcapng_of_enhanced_packet_blocks(tmp_path: Path, resol: int, offset: int) -> None:
    frames = _link_frames(tcp_frame)
    packets = [(i % 2, BASE_TS_NS + i * 2_000_000, f) for i, f in enumerate(frames)]
    path = tmp_path / "two-interfaces.pcapng"
    path.write_bytes(pcapng_bytes([(1, resol), (1, resol)], packets, tsoffset_s=offset,
                                  extra_blocks=[(4, bytes(8))]))  # a name resolution block
    lane = lane_report(path)
    assert lane is not None
    assert lane == slow_report(path)
    assert lane["reports"]["matched"] == 1


# -- declined: the per-segment path takes over --------------------------------------------------


def _session(v: Version = Version.V2_0) -> tuple[Conversation, list[bytes]]:
    conv = Conversation()
    frames = conv.handshake()
    frames += conv.send(True, connect_pdu(v))
    frames += conv.send(False, connect_resp_pdu(v))
    return conv, frames


def _declined(tmp_path: Path, data: bytes, name: str = "x.pcap") -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert lane_report(path) is None
    # analyze() falls back to the long way
    assert through_api(path, True) == through_api(path, False)


def test_declines_a_fin_past_the_bytes_seen(tmp_path: Path) -> None:
    """The segment before the FIN was not captured: the tracker reports a gap at the close."""
    for closing in ("fin", "half"):
        conv, frames = _session()
        conv.send(True, submit_pdu(Version.V2_0, 2))  # sent, not captured
        frames.append(conv.fin(True))
        if closing == "fin":
            frames.append(conv.fin(False))
        _declined(tmp_path, pcap_bytes(frames), f"{closing}.pcap")


def test_declines_a_packet_before_its_interface(tmp_path: Path) -> None:
    _conv, frames = _session()
    image = pcapng_bytes([(1, 6)], [(0, BASE_TS_NS + i * 1000, f) for i, f in enumerate(frames)])
    shb_len = int.from_bytes(image[4:8], "little")
    idb_len = int.from_bytes(image[shb_len + 4:shb_len + 8], "little")
    idb = image[shb_len:shb_len + idb_len]
    rest = image[shb_len + idb_len:]
    first_len = int.from_bytes(rest[4:8], "little")
    # SHB, one packet, then the IDB: the reader skips that packet with a note.
    _declined(tmp_path, image[:shb_len] + rest[:first_len] + idb + rest[first_len:],
              "late-idb.pcapng")


def test_declines_a_retransmission(tmp_path: Path) -> None:
    conv, frames = _session()
    data = conv.send(True, submit_pdu(Version.V2_0, 2))
    _declined(tmp_path, pcap_bytes(frames + data + data + conv.close()))


def test_declines_out_of_order_and_gaps(tmp_path: Path) -> None:
    conv, frames = _session()
    a = conv.send(True, submit_pdu(Version.V2_0, 2))
    b = conv.send(True, submit_pdu(Version.V2_0, 3))
    _declined(tmp_path, pcap_bytes(frames + b + a))
    _declined(tmp_path, pcap_bytes(frames + b), "gap.pcap")


def test_declines_a_capture_started_mid_stream(tmp_path: Path) -> None:
    _conv, frames = _session()
    _declined(tmp_path, pcap_bytes(frames[3:]))


def test_declines_other_ports_and_formats(tmp_path: Path) -> None:
    other = Conversation(server=("198.51.100.7", 2775))
    frames = other.handshake() + other.send(True, submit_pdu(Version.V2_0, 2))
    _declined(tmp_path, pcap_bytes(frames), "smpp-port.pcap")
    _conv, frames = _session()
    packets = [(i % 2, BASE_TS_NS + i * 1000, f) for i, f in enumerate(frames)]
    # Two interfaces with different link types, or clocks: the reader's business.
    _declined(tmp_path, pcapng_bytes([(1, 6), (113, 6)], packets), "links.pcapng")
    _declined(tmp_path, pcapng_bytes([(1, 6), (1, 9)], packets), "clocks.pcapng")
    _declined(tmp_path, pcapng_bytes([(1, 0x80 | 20)], [(0, t, f) for _, t, f in packets]),
              "binary-clock.pcapng")
    _declined(tmp_path, pcap_bytes(frames)[:-7], "truncated.pcap")
    _declined(tmp_path, pcap_bytes(frames, snaplen=80), "snaplen.pcap")  # the reader notes it
    ipv6 = Conversation(client=("2001:db8::10", 40001), server=("2001:db8::7", 7890))
    _declined(tmp_path, pcap_bytes(ipv6.handshake() + ipv6.send(True, connect_pdu(
        Version.V2_0))), "ipv6.pcap")


def test_declines_time_going_backwards_and_a_reused_tuple(tmp_path: Path) -> None:
    conv, frames = _session()
    times = [BASE_TS_NS + i * 1_000_000 for i in range(len(frames))]
    times[-1] = times[0]
    _declined(tmp_path, pcap_bytes(stamped(frames, times)))
    again = Conversation(isn_client=77)
    data = frames + conv.close() + again.handshake()
    _declined(tmp_path, pcap_bytes(data), "reused.pcap")


def test_declines_a_header_the_framer_would_skip(tmp_path: Path) -> None:
    conv, frames = _session()
    frames += conv.send(True, b"\x00\x00\x00\x05junk-junk-junk")
    _declined(tmp_path, pcap_bytes(frames))


def test_rst_and_data_in_fin(tmp_path: Path) -> None:
    conv, frames = _session(Version.V3_0)
    frames += conv.send(True, submit_pdu(Version.V3_0, 2), flags=PSH | ACK)
    frames.append(conv.frame(False, RST | ACK))
    frames.append(tcp_frame("198.51.100.7", 7890, "192.0.2.10", 40001, 1, 1, ACK, b""))
    path = tmp_path / "rst.pcap"
    path.write_bytes(pcap_bytes(frames))
    lane = lane_report(path)
    assert lane is not None and lane == slow_report(path)
    assert lane["sessions"][0]["ended"] == "rst"
    assert lane["sessions"][0]["unanswered"] == 1


# -- the front half alone (sans-IO) -------------------------------------------------------------


def test_scanner_gives_the_same_pdus_whatever_the_chunks(tmp_path: Path) -> None:
    path = tmp_path / "busy.pcap"
    gen.generate(path, frames=3000, seed=6, sessions=3, mix=BUSY)
    data = path.read_bytes()

    def pdus(sizes: list[int]) -> list[tuple[int, int, bytes]]:
        scanner = ColumnScanner(ports=frozenset({7890}))
        out = []
        pos = 0
        batches = []
        for size in sizes:
            batches.append(scanner.feed(data[pos:pos + size]))
            pos += size
        batches.append(scanner.feed(data[pos:]))
        batches.append(scanner.finish())
        for b in batches:
            p = b.pdus
            for at, frame, conn in zip(p.at.tolist(), p.frame.tolist(), p.conn.tolist(),
                                       strict=True):
                total = int.from_bytes(p.blob[at:at + 4], "big")
                out.append((frame, conn, p.blob[at:at + total]))
        return out

    whole = pdus([])
    assert len(whole) > 1500
    rng = random.Random(7)
    for _ in range(3):
        sizes = [rng.randint(1, 40_000) for _ in range(20)]
        assert pdus(sizes) == whole


def test_scanner_rejects_a_non_pcap() -> None:
    with pytest.raises(IrregularCaptureError):
        ColumnScanner(ports=frozenset({7890})).feed(b"\x0a\x0d\x0d\x0a" + bytes(40))


@pytest.mark.parametrize("chunk", [700, 5000, 65536])
def test_small_chunks_same_report(tmp_path: Path, chunk: int) -> None:
    """Chunk edges fall inside records, PDUs, handshakes and closes: the report is the same."""
    from cmppdissect.analysis.fastlane import _prepared, feed_batch

    path = tmp_path / "busy.pcap"
    gen.generate(path, frames=2500, seed=8, sessions=4, mix=BUSY)
    an = Analyzer(timeout_s=0.5)
    for item in _prepared(path, an.ports, chunk):
        feed_batch(an, item.batch, item.columns)
    an.finish()
    assert normal(build_report(an)) == slow_report(path, timeout_s=0.5)
