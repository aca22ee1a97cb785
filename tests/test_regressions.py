"""Inputs that once broke something, found by fuzzing (issue 6); each stays fixed.

Every test names the harness or property that found the input and the behaviour that is now
required. The last tests replay the atheris harnesses of ``fuzz/`` over their generated seeds,
so the harnesses keep working as the code changes (atheris itself is not needed for that).
"""

from __future__ import annotations

import importlib.util
import struct
import sys
from pathlib import Path
from types import ModuleType

import pytest

from cmppdissect.core import FramedPdu, PduFramer, Skipped, plausible_header
from cmppdissect.layers import CMPP, CMPPv2, CMPPv3
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.decode import decode_pdu
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.version import Version

ROOT = Path(__file__).resolve().parents[1]


def frame(chunks: list[bytes], *, synced: bool = True) -> tuple[list[bytes], int]:
    framer = PduFramer(synced=synced)
    pdus: list[bytes] = []
    skipped = 0
    for i, chunk in enumerate(chunks, 1):
        for ev in framer.feed(chunk, i, 0):
            if isinstance(ev, FramedPdu):
                pdus.append(ev.data)
            else:
                assert isinstance(ev, Skipped)
                skipped += ev.size
    skipped += sum(ev.size for ev in framer.close(len(chunks), 0))
    return pdus, skipped


# -- Scapy layers ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [C.CMPP_SUBMIT, C.CMPP_DELIVER, C.CMPP_FWD])
@pytest.mark.parametrize("header", [CMPP, CMPPv2, CMPPv3])
@pytest.mark.parametrize("length", [8, 12])
def test_scapy_empty_body_with_a_count_field(command: int, header: type[CMPP],
                                             length: int) -> None:
    """Found by exploring mutated PDUs: ``CMPP(x)`` raised struct.error for a SUBMIT, DELIVER
    or FWD header with no body, because DestUsr_tl/Msg_Length (FieldLenField) were not
    lenient. Now they read as absent and the packet rebuilds to the same bytes."""
    data = struct.pack(">III", 12, command, 1)[:length]
    pkt = header(data)
    assert bytes(pkt) == data
    if length == 12:
        body = pkt.payload
        assert body.fields.get("DestUsr_tl", body.fields.get("Msg_Length")) is None
        assert "body-short" in {f.code for f in pkt.expert()}
    pkt.show(dump=True)


# -- framer ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "version"), [
    (C.CMPP_SUBMIT, Version.V2_0), (C.CMPP_SUBMIT, Version.V3_0),
    (C.CMPP_FWD, Version.V2_0), (C.CMPP_FWD, Version.V3_0),
])
def test_pdu_with_no_recipients_is_framed_not_skipped(command: int, version: Version) -> None:
    """Found by test_fuzz's framer properties: a SUBMIT or FWD with DestUsr_tl 0 (illegal but
    sent by buggy SPs) was "no CMPP header here" and its bytes were skipped, so its response
    became an orphan. The least plausible Total_Length no longer assumes one recipient."""
    pdu = encode_pdu(command, 5, {"Msg_Content": b"hi"}, version)
    follow = encode_pdu(C.CMPP_ACTIVE_TEST, 6, {}, version)
    assert plausible_header(len(pdu), command)
    assert frame([pdu + follow]) == ([pdu, follow], 0)
    # Without its optional tail too (the least Total_Length).
    short = encode_pdu(command, 5, {}, version, omit_tail=True)
    assert plausible_header(len(short), command)
    assert decode_pdu(short, version).fields["DestUsr_tl"] == 0


# Found by fuzz/fuzz_decode.py (atheris): a stream starting with a DELIVER header whose
# Total_Length (127) is plausible but whose body is not a DELIVER. Fed whole, the framer checks
# the complete candidate, rejects it and resynchronises further on; fed byte by byte it used to
# accept the header while the candidate was still incomplete and never checked it, so the
# PDUs found depended on how TCP had cut the stream.
_UNCHECKED_CANDIDATE = bytes.fromhex(
    "0000007f0000000500000001b4c553000005000039303030303100000000000000000000000000000000"
    "000000000000000000000000313334313233343030000030300000000000000000000000000000000000"
    "000000000000125468697320697320612074657374204d4f2e00000000000000ffffffffffffffffffff"
    "ffffffffffffffff00000000000000000000000000"
)


@pytest.mark.parametrize("synced", [False, True])
def test_resync_candidate_is_checked_whole_however_the_stream_is_cut(synced: bool) -> None:
    data = _UNCHECKED_CANDIDATE
    whole = frame([data], synced=synced)
    for step in (1, 2, 7, 64):
        assert frame([data[i:i + step] for i in range(0, len(data), step)],
                     synced=synced) == whole
    assert sum(map(len, whole[0])) + whole[1] == len(data)


def test_resync_candidate_then_real_pdus_byte_by_byte() -> None:
    """The same fault with real PDUs behind a lying header: they must all be recovered."""
    lie = struct.pack(">III", 100, C.CMPP_DELIVER, 1) + b"\x00" * 20  # claims 100, has 32
    pdus = [encode_pdu(C.CMPP_ACTIVE_TEST, i, {}, Version.V2_0) for i in range(20)]
    data = lie + b"".join(pdus)
    bytewise = frame([data[i:i + 1] for i in range(len(data))], synced=False)
    assert frame([data], synced=False) == bytewise
    assert bytewise[0] == pdus and bytewise[1] == len(lie)


# -- the atheris harnesses still run on their seeds -------------------------------------------


def _harness(name: str) -> ModuleType:
    fuzz_dir = str(ROOT / "fuzz")
    if fuzz_dir not in sys.path:
        sys.path.insert(0, fuzz_dir)
    spec = importlib.util.spec_from_file_location(f"cmpp_fuzz_{name}", ROOT / "fuzz" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("seeds")
    counts = _harness("make_seeds").build(out)
    assert min(counts.values()) >= 3
    return out


@pytest.mark.parametrize("name", ["decode", "layers", "reader", "engine", "capture", "ring"])
def test_harness_replays_its_seeds(seeds: Path, name: str) -> None:
    harness = _harness(f"fuzz_{name}")
    files = sorted((seeds / name).iterdir())
    if name == "layers":
        files = files[::4]  # Scapy is slow; a quarter of the PDU seeds covers every layout
    for path in files:
        harness.test_one_input(path.read_bytes())


def test_engine_harness_format_round_trips_the_sample() -> None:
    """Seeds are real captures mapped to the harness format; the mapping must lose nothing."""
    common = _harness("common")
    import io

    from cmppdissect import analyze
    from cmppdissect.core.records import TcpSegment
    from cmppdissect.sources.segments import iter_segments

    segs = list(iter_segments(ROOT / "samples" / "cmpp-basic.pcap"))
    replay = common.segments_from_bytes(common.segments_to_bytes(segs))
    assert [(s.payload, s.flags) for s in replay] == [(s.payload, s.flags) for s in segs]

    def pdus(items: list[TcpSegment]) -> int:
        capture = common.segments_to_pcap(items)
        return int(analyze(io.BytesIO(capture)).report()["pdus"])

    assert pdus(replay) == pdus(segs) == 102


HEAVY_HOSTILE = {"million_tiny_pdus", "many_sessions", "tcp_out_of_order_flood", "long_sms_flood"}


@pytest.mark.parametrize("case", ["pcapng_block_lengths", "pcapng_caplen_past_block",
                                  "pcapng_timestamps", "ip_fragments_at_extreme_times",
                                  "ip_headers", "tcp_headers", "sequence_wrap", "total_length",
                                  "responses_before_requests"])
def test_hostile_case_survives(case: str) -> None:
    """The light cases of fuzz/hostile.py through fuzz_capture (the heavy ones, a million
    PDUs or tens of thousands of sessions, are run by hand: fuzz/README.md)."""
    hostile = _harness("hostile")
    for data in hostile.CASES[case]():
        hostile.test_one_input(data)


def test_every_light_hostile_case_is_tested() -> None:
    hostile = _harness("hostile")
    light = set(hostile.CASES) - HEAVY_HOSTILE
    params = {"pcapng_block_lengths", "pcapng_caplen_past_block", "pcapng_timestamps",
              "ip_fragments_at_extreme_times", "ip_headers", "tcp_headers", "sequence_wrap",
              "total_length", "responses_before_requests"}
    assert light == params
