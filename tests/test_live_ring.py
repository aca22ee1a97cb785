"""Live capture through the TPACKET_V3 ring: the block walk, and the command line at high rates.

The first tests are sans-IO: blocks are built here as the kernel lays them out
(:func:`pcaputil.tpacket3_block`), whole or damaged, and walked by the compiled core
(``cmppdissect.core.BlockWalk``, ``RxRing`` over a plain buffer). The others need root, as the
other live tests (CI runs them as root), and tcpreplay (``.ci/run`` installs it): a capture
written by ``bench/gen_capture.py`` is replayed onto ``lo`` at tens of thousands of PDUs per
second while the real command line captures, and what it analysed is compared with the same
file analysed offline, per command.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pcaputil import (
    ACK,
    PSH,
    live_capture_unavailable,
    tcp_frame,
    tpacket3_block,
)

from cmppdissect.api import analyze
from cmppdissect.core import BlockWalk, RxRing
from cmppdissect.output.records import record_dict

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "cmpp-basic.pcap"
NS_HEADER = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262_144, 1)


def _records(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(seconds, nanoseconds, wire length, bytes) of each pcap record; all must be whole."""
    out, at = [], 0
    while at < len(data):
        sec, nsec, caplen, wire = struct.unpack_from("<IIII", data, at)
        assert at + 16 + caplen <= len(data), "a record cut short"
        out.append((sec, nsec, wire, data[at + 16:at + 16 + caplen]))
        at += 16 + caplen
    return out


def _sample_frames() -> list[tuple[int, bytes]]:
    """(ns, frame) of the sample (a little-endian microsecond pcap), times exact."""
    data, at, out = SAMPLE.read_bytes(), 24, []
    while at < len(data):
        sec, usec, caplen, _wire = struct.unpack_from("<IIII", data, at)
        out.append((sec * 1_000_000_000 + usec * 1000, data[at + 16:at + 16 + caplen]))
        at += 16 + caplen
    return out


def _small_frames(n: int) -> list[tuple[int, bytes]]:
    return [(1_700_000_000_000_000_000 + i * 1_000_003,
             tcp_frame("10.0.0.1", 40000, "10.0.0.2", 7890, PSH | ACK, i * 10, 1,
                       bytes([i]) * (i % 23)))
            for i in range(n)]


# -- the block walk, sans-IO --------------------------------------------------------------------


def test_every_frame_of_a_block_becomes_its_pcap_record() -> None:
    frames = _small_frames(40)
    walk = BlockWalk()
    data = walk.walk(tpacket3_block(frames, wire_extra=[0, 100]))
    got = _records(data)
    assert [(s * 1_000_000_000 + ns, f) for s, ns, _w, f in got] == frames
    assert got[1][2] == len(frames[1][1]) + 100  # a packet cut by the snap length keeps its size
    assert [w for _s, _ns, w, _f in got[2:]] == [len(f) for _t, f in frames[2:]]
    assert (walk.frames, walk.captured, walk.blocks, walk.damaged) == (
        40, sum(len(f) for _t, f in frames), 1, 0)


def test_blocks_walked_read_as_the_capture_they_came_from() -> None:
    """The sample's frames in ring blocks of 4 KiB, walked and read as a stream: the same
    PDUs as the file itself, with the same times."""
    frames = _sample_frames()
    blocks, start = [], 0
    while start < len(frames):
        end = start + 1
        while end < len(frames):
            try:
                tpacket3_block(frames[start:end + 1], size=4096)
            except ValueError:
                break
            end += 1
        blocks.append(tpacket3_block(frames[start:end], size=4096))
        start = end
    assert len(blocks) > 3
    walk = BlockWalk()
    stream = NS_HEADER + b"".join(walk.walk(b) for b in blocks)
    live = [record_dict(r) for r in analyze(io.BytesIO(stream)).pdus()]
    offline = [record_dict(r) for r in analyze(SAMPLE).pdus()]
    assert live == offline and len(live) > 20
    assert walk.frames == len(frames) and walk.damaged == 0


def _put(block: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(block)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


FIRST = 48  # the first packet's header, in a block from tpacket3_block
SLOT = (82 + len(_small_frames(1)[0][1]) + 15) // 16 * 16  # ... and the second's, after it

DAMAGE = {
    # (where, what): how many packets are still read before the damage
    "block shorter than its header": (lambda b: b[:47], 0),
    "used length past the block": (lambda b: _put(b, 20, "=I", len(b) + 1), 0),
    "used length inside the header": (lambda b: _put(b, 20, "=I", 47), 0),
    "first packet inside the header": (lambda b: _put(b, 16, "=I", 8), 0),
    "more packets than the chain": (lambda b: _put(b, 12, "=I", 6), 5),
    "huge packet count": (lambda b: _put(b, 12, "=I", 0xFFFFFFFF), 5),
    "chain ends early": (lambda b: _put(b, FIRST + SLOT, "=I", 0), 2),
    "next offset inside the header": (lambda b: _put(b, FIRST, "=I", 47), 0),
    "next offset past the end": (lambda b: _put(b, FIRST, "=I", 0xFFFFFFF0), 0),
    "data before the packet's header ends": (lambda b: _put(b, FIRST + 24, "=H", 40), 0),
    "data past its slot": (lambda b: _put(b, FIRST + 12, "=I", SLOT), 0),
    "snap length past everything": (lambda b: _put(b, FIRST + SLOT + 12, "=I", 0xFFFFFFFF), 1),
    "mac offset past the slot": (lambda b: _put(b, FIRST + 24, "=H", 0xFFFF), 0),
    "nanoseconds of a second or more": (lambda b: _put(b, FIRST + 8, "=I", 10**9), 0),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_block_keeps_the_packets_before_the_damage(damage: str) -> None:
    frames = _small_frames(5)
    spoil, kept = DAMAGE[damage]
    block = spoil(tpacket3_block(frames, size=4096))
    walk = BlockWalk()
    data = walk.walk(block)
    assert [f for _s, _ns, _w, f in _records(data)] == [f for _t, f in frames[:kept]]
    assert walk.damaged == 1 and walk.blocks == 1 and walk.frames == kept


def test_empty_block_and_no_packets() -> None:
    walk = BlockWalk()
    assert walk.walk(b"") == b"" and walk.damaged == 1
    assert walk.walk(tpacket3_block([], size=4096)) == b"" and walk.damaged == 1
    assert walk.frames == 0 and walk.blocks == 2


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 511), st.binary(min_size=1, max_size=4)),
                min_size=1, max_size=12),
       st.integers(1, 12))
def test_any_corruption_reads_only_inside_the_block(edits: list[tuple[int, bytes]],
                                                   count: int) -> None:
    """Bytes overwritten anywhere in the first 512 bytes (headers, lengths, offsets): the walk
    never raises, never writes more than the block holds, and every record is bytes of the
    block (so no length read from it made the walk read outside)."""
    block = bytearray(tpacket3_block(_small_frames(count), size=2048))
    for at, patch in edits:
        block[at:at + len(patch)] = patch
    walk = BlockWalk()
    data = walk.walk(bytes(block))
    assert len(data) <= len(block)
    records = _records(data)
    assert walk.frames == len(records)
    for _sec, nsec, wire, frame in records:
        assert nsec < 10**9 and wire >= len(frame)
        assert frame in block


def test_ring_takes_blocks_in_order_and_hands_them_back() -> None:
    size = 4096
    frames = _small_frames(9)
    blocks = [tpacket3_block(frames[i * 3:i * 3 + 3], size=size, status=0) for i in range(3)]
    memory = bytearray(b"".join(blocks))
    ring = RxRing(memory, size, 3)

    def hand_over(index: int) -> None:
        struct.pack_into("=I", memory, index * size + 8, 1)  # TP_STATUS_USER, as the kernel

    assert not ring.ready() and ring.take() == b""
    hand_over(0)
    hand_over(1)
    assert [f for *_, f in _records(ring.take())] == [f for _t, f in frames[0:3]]
    assert struct.unpack_from("=I", memory, 8)[0] == 0  # back to the kernel
    assert [f for *_, f in _records(ring.take())] == [f for _t, f in frames[3:6]]
    assert not ring.ready()  # block 2 is still the kernel's
    hand_over(2)
    assert [f for *_, f in _records(ring.take())] == [f for _t, f in frames[6:9]]
    assert not ring.ready()  # next is block 0 again, which the kernel has
    hand_over(0)
    assert ring.ready()
    ring.close()
    assert not ring.ready() and ring.take() == b""
    assert ring.walker.frames == 9
    with pytest.raises(ValueError, match="smaller than its blocks"):
        RxRing(bytearray(size * 2), size, 3)


# -- the -B option (no root needed: refused before any socket is opened) ----------------------


def _cli(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cmppdissect", *args], capture_output=True,
                          text=True, timeout=120, check=False, **kw)


def _one_line_error(res: subprocess.CompletedProcess[str], needle: str) -> None:
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert res.stdout == ""


def _mem_available() -> int:
    with open("/proc/meminfo") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh
                    if line.startswith("MemAvailable:"))


def test_ring_size_option_is_checked() -> None:
    _one_line_error(_cli("-i", "lo", "-B", "1"), "argument -B: invalid MiB (2 to 65536)")
    _one_line_error(_cli("-i", "lo", "-B", "x"), "argument -B")
    _one_line_error(_cli("-B", "8", str(SAMPLE)), "-B needs a live capture")
    # The kernel would call the OOM killer for a ring it cannot allocate: refused before.
    mib = min(65536, (_mem_available() >> 20) + 1024)
    if mib << 20 <= _mem_available() // 2:
        pytest.skip("this machine has more than 128 GiB available")
    _one_line_error(_cli("-i", "lo", "-B", str(mib)), "MiB of memory is available")


# -- the command line at high rates, replaying onto lo (root, tcpreplay) ----------------------


def _why_not() -> str | None:
    why = live_capture_unavailable()
    if why is not None:
        return why
    if shutil.which("tcpreplay") is None:
        return "tcpreplay is not installed (apt-get install tcpreplay; .ci/run does)"
    return None


live = pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))

_SPEC = importlib.util.spec_from_file_location("gen_capture", ROOT / "bench" / "gen_capture.py")
assert _SPEC is not None and _SPEC.loader is not None
gen = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("gen_capture", gen)
_SPEC.loader.exec_module(gen)


@dataclass
class Replay:
    path: Path
    port: int
    frames: list[bytes]
    pdus: int
    commands: dict[str, tuple[int, ...]]


COUNTS = ("requests", "responses", "paired", "unanswered", "orphan_responses", "retransmitted")


def _commands(report: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(c[k] for k in COUNTS) for name, c in report["commands"].items()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _generated(directory: Path, frames: int) -> Replay:
    """A busy SP link on a port of its own (two replays at once are told apart by port)."""
    port = _free_port()
    path = directory / f"replay-{frames}.pcap"
    tally = gen.generate(path, frames=frames, seed=5, port=port)
    with path.open("rb") as fh:
        raw = [bytes(buf) for _ts, buf in dpkt.pcap.Reader(fh)]
    report = analyze(path, ports=(port,)).run().report()
    assert report["pdus"] == tally.pdus
    return Replay(path, port, raw, tally.pdus, _commands(report))


@pytest.fixture(scope="module")
def replay_100k(tmp_path_factory: pytest.TempPathFactory) -> Replay:
    return _generated(tmp_path_factory.mktemp("ring"), 120_000)


@pytest.fixture(scope="module")
def replay_30k(tmp_path_factory: pytest.TempPathFactory) -> Replay:
    return _generated(tmp_path_factory.mktemp("ring"), 30_000)


def _start(*args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "cmppdissect", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    ready, _, _ = select.select([proc.stderr], [], [], 60)
    line = proc.stderr.readline() if ready else ""
    if not line.startswith("Capturing on"):
        proc.kill()
        pytest.fail(f"capture did not start: {line!r} {proc.communicate()}")
    return proc


def _tcpreplay(replay: Replay, *speed: str) -> tuple[int, float]:
    """Send the capture onto lo; the packets tcpreplay sent and the rate it achieved."""
    res = subprocess.run(["tcpreplay", "-i", "lo", "-K", *speed, str(replay.path)],
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    sent = re.search(r"Successful packets:\s+(\d+)", res.stdout)
    rated = re.search(r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps", res.stdout)
    assert sent and rated, res.stdout
    return int(sent.group(1)), float(rated.group(1))


def _report(proc: subprocess.Popen[str]) -> dict[str, Any]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    report: dict[str, Any] = json.loads(out)
    return report


@live
def test_cli_analyses_every_pdu_of_a_replay_at_high_rate(replay_100k: Replay) -> None:
    """About 106,000 PDUs in 1.2 s onto lo (tcpreplay --pps 100000): every PDU is analysed,
    per command, and the kernel's counters account for every frame."""
    r = replay_100k
    proc = _start("-i", "lo", "-f", f"tcp port {r.port}", "-d", str(r.port), "--report", "json",
                  "-q")
    sent, pps = _tcpreplay(r, "--pps=100000")
    report = _report(proc)
    assert sent == len(r.frames)
    assert pps * r.pdus / len(r.frames) >= 50_000  # the replay really was that fast
    cap = report["capture"]
    # Each frame once (the BPF prologue dropped loopback's outgoing copy), none dropped.
    assert (cap["kernel_received"], cap["kernel_dropped"], cap["frames"]) == (sent, 0, sent)
    assert cap["kernel_ring_full"] == 0
    assert report["pdus"] == r.pdus
    assert _commands(report) == r.commands


@live
def test_cli_on_any_writes_every_replayed_frame(replay_30k: Replay, tmp_path: Path) -> None:
    """On ``any`` (frames without their link header, loopback's outgoing copies dropped by
    interface), with ``-w``: the file holds each replayed frame once, whole, in order."""
    r = replay_30k
    out = tmp_path / "live.pcap"
    proc = _start("-i", "any", "-f", f"tcp port {r.port}", "-d", str(r.port), "-w", str(out),
                  "--report", "json", "-q")
    sent, _pps = _tcpreplay(r, "--pps=50000")
    report = _report(proc)
    cap = report["capture"]
    assert (cap["kernel_received"], cap["kernel_dropped"], cap["frames"]) == (sent, 0, sent)
    assert report["pdus"] == r.pdus and _commands(report) == r.commands
    with out.open("rb") as fh:
        reader = dpkt.pcap.Reader(fh)
        assert reader.datalink() == 101  # LINKTYPE_RAW: IP packets
        written = [bytes(buf) for _ts, buf in reader]
    assert written == [frame[14:] for frame in r.frames]


@live
def test_kernel_drops_are_reported_when_the_analyzer_stalls(replay_30k: Replay) -> None:
    """A 2 MiB ring and an analyzer stopped (SIGSTOP) while 30,000 frames arrive: the ring
    fills, the kernel drops the rest and says so; what it kept is all analysed."""
    r = replay_30k
    proc = _start("-i", "lo", "-f", f"tcp port {r.port}", "-d", str(r.port), "-B", "2",
                  "--report", "json", "-q")
    proc.send_signal(signal.SIGSTOP)
    try:
        sent, _pps = _tcpreplay(r, "--topspeed")
    finally:
        proc.send_signal(signal.SIGCONT)
    report = _report(proc)
    cap = report["capture"]
    assert cap["kernel_received"] == sent
    assert cap["kernel_dropped"] > sent // 2 and cap["kernel_ring_full"] >= 1
    # Nothing is lost inside the analyzer: every frame the kernel kept was read.
    assert cap["frames"] == cap["kernel_received"] - cap["kernel_dropped"] > 0
    assert 0 < report["pdus"] < r.pdus


@live
def test_stop_during_traffic_reads_what_was_taken_and_no_more(replay_100k: Replay) -> None:
    """SIGINT while a 3-second replay is under way: the capture takes no new packet from that
    moment, reads every one the kernel had taken, and ends while the traffic still flows."""
    r = replay_100k
    proc = _start("-i", "lo", "-f", f"tcp port {r.port}", "-d", str(r.port), "--report", "json",
                  "-q")
    sender = subprocess.Popen(["tcpreplay", "-i", "lo", "-K", "--pps=40000", str(r.path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        report = _report(proc)
        still_sending = sender.poll() is None
    finally:
        sender.wait(timeout=60)
    assert still_sending
    cap = report["capture"]
    assert cap["kernel_dropped"] == 0
    assert 0 < cap["frames"] == cap["kernel_received"] < len(r.frames)
    assert 0 < report["pdus"] < r.pdus
