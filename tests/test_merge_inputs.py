"""Several inputs merged by time (issue 15): ``cmppdissect a b c``, ``-r`` repeated,
``analyze(a, b)``.

One CMPP conversation is written as one capture and also cut into pieces at frame boundaries
(one cut between the two segments of a PDU split over them, pieces named out of order): the
merged pieces must give the single file's records and report, one session. Mixed formats and
link types, ``-w`` from a merge (read back here and by tshark), errors, and memory that does
not grow with the size of the inputs.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import tracemalloc
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import pytest
from pcaputil import (
    ACK,
    BASE_TS_NS,
    PSH,
    Conversation,
    connect_pdu,
    connect_resp_pdu,
    deliver_resp_pdu,
    pcap_bytes,
    pcapng_bytes,
    report_pdu,
    run_cli,
    sample_msg_id,
    sll,
    submit_pdu,
    submit_resp_pdu,
    tcp_frame,
)

from cmppdissect.api import analyze
from cmppdissect.sources.file import FileSource
from cmppdissect.sources.merge import MergedSource

V = "3.0"
US = 1_000  # ns: every time here is whole microseconds, so pcap (us) holds it exactly


def _sll_frame(sip: str, sport: int, dip: str, dport: int, seq: int, ack: int, flags: int,
               payload: bytes = b"") -> bytes:
    """As tcp_frame, over Linux cooked capture (link type 113) instead of Ethernet."""
    eth = tcp_frame(sip, sport, dip, dport, seq, ack, flags, payload)
    return sll(eth[14:])


def conversation(link=tcp_frame) -> tuple[list[tuple[int, bytes]], int]:
    """A login, SUBMITs with responses, a report, and one SUBMIT split over two segments;
    frames stamped 1.5 ms apart. Also returns the index of the split SUBMIT's first segment."""
    from cmppdissect.protocol.version import Version

    v = Version(V)
    conv = Conversation(link=link)
    frames = [*conv.handshake(), *conv.send(True, connect_pdu(v)),
              *conv.send(False, connect_resp_pdu(v))]
    for seq in range(2, 6):
        frames += conv.send(True, submit_pdu(v, seq, seq))
        frames += conv.send(False, submit_resp_pdu(v, seq, sample_msg_id(seq)))
    split_at = len(frames)
    frames += conv.send(True, submit_pdu(v, 6, 6), sizes=[30])  # two segments
    frames += conv.send(False, submit_resp_pdu(v, 6, sample_msg_id(6)))
    frames += conv.send(False, report_pdu(v, 7, sample_msg_id(2)))
    frames += conv.send(True, deliver_resp_pdu(v, 7))
    frames.append(conv.frame(True, ACK))
    frames += conv.close()
    stamped = [(BASE_TS_NS // US * US + i * 1_500 * US, f) for i, f in enumerate(frames)]
    return stamped, split_at


def jsonl(*args: str) -> list[dict[str, object]]:
    res = run_cli("-T", "jsonl", *args)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def report(*args: str) -> dict[str, object]:
    res = run_cli("--report", "json", *args)
    assert res.returncode == 0, res.stderr
    out: dict[str, object] = json.loads(res.stdout)
    return out


def pieces(frames: Sequence[tuple[int, bytes]], cuts: Sequence[int]
           ) -> list[list[tuple[int, bytes]]]:
    bounds = [0, *cuts, len(frames)]
    return [list(frames[a:b]) for a, b in pairwise(bounds)]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[int, bytes]],
                                                               int]:
    frames, split_at = conversation()
    path = tmp_path_factory.mktemp("single") / "all.pcap"
    path.write_bytes(pcap_bytes(frames))
    return path, frames, split_at


# -- the merge gives the single capture ---------------------------------------------------------


@pytest.mark.parametrize("where", ["frames", "mid-pdu"])
def test_split_files_merge_to_the_single_captures_records_and_report(
        capture: tuple[Path, list[tuple[int, bytes]], int], tmp_path: Path,
        where: str) -> None:
    single, frames, split_at = capture
    cuts = [5, 14] if where == "frames" else [7, split_at + 1]  # +1: between the two segments
    paths = []
    for i, part in enumerate(pieces(frames, cuts)):
        path = tmp_path / f"part{i}.pcap"
        path.write_bytes(pcap_bytes(part))
        paths.append(str(path))
    want = jsonl(str(single))
    assert any(r["command"] == "CMPP_SUBMIT" and r["sequence_id"] == 6 for r in want)
    # Out of order on the command line, positional and -r mixed, options in between.
    got = jsonl(paths[2], "-r", paths[0], "-d", "7891", paths[1])
    assert got == want
    rep = report(*reversed(paths))
    assert rep == report(str(single))
    assert len(rep["sessions"]) == 1  # type: ignore[arg-type]


def test_files_from_two_hosts_overlap_in_time_and_interleave(
        capture: tuple[Path, list[tuple[int, bytes]], int], tmp_path: Path) -> None:
    """Each side captured what it sent (overlapping time spans): merged, the conversation."""
    single, frames, _ = capture
    client = [f for f in frames if f[1][26:30] == bytes([192, 0, 2, 10])]
    server = [f for f in frames if f[1][26:30] != bytes([192, 0, 2, 10])]
    assert client and server
    a, b = tmp_path / "client.pcap", tmp_path / "server.pcap"
    a.write_bytes(pcap_bytes(client))
    b.write_bytes(pcap_bytes(server))
    assert jsonl(str(b), str(a)) == jsonl(str(single))


def test_mixed_formats_link_types_and_resolutions(
        capture: tuple[Path, list[tuple[int, bytes]], int], tmp_path: Path) -> None:
    """pcap (Ethernet, us), pcapng (Linux cooked, ns) and pcapng (Ethernet, us with an
    if_tsoffset): one conversation, the frames' link types kept in -w's output."""
    single, frames, split_at = capture
    cooked, _ = conversation(link=_sll_frame)
    cuts = [6, split_at + 1]
    first, second, third = pieces(frames, cuts)
    second = [cooked[i] for i in range(cuts[0], cuts[1])]
    a, b, c = tmp_path / "a.pcap", tmp_path / "b.pcapng", tmp_path / "c.pcapng"
    a.write_bytes(pcap_bytes(first, nano=False))
    b.write_bytes(pcapng_bytes([(113, 9)], [(0, ts, f) for ts, f in second]))
    c.write_bytes(pcapng_bytes([(1, 6)], [(0, ts, f) for ts, f in third], tsoffset_s=1000))
    want = jsonl(str(single))
    assert jsonl(str(c), str(a), str(b)) == want

    out = tmp_path / "out.pcapng"
    res = run_cli("-w", str(out), "-q", "--report", "json", str(b), str(c), str(a))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["frames_written"] > 0
    back = jsonl(str(out))
    assert [(r["command"], r["sequence_id"], r["time"]) for r in back] == \
        [(r["command"], r["sequence_id"], r["time"]) for r in want]
    assert sorted(_linktypes(out.read_bytes())) == [1, 1, 113]  # pcap, its ns twin, cooked

    res = run_cli("-w", str(tmp_path / "out.pcap"), str(a), str(b))
    assert res.returncode == 2 and "several link types" in res.stderr


def _linktypes(data: bytes) -> list[int]:
    """The link type of every Interface Description Block of a little-endian pcapng."""
    out, at = [], 0
    while at + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, at)
        if btype == 1:
            out.append(struct.unpack_from("<H", data, at + 8)[0])
        at += blen
    return out


def _epbs(data: bytes) -> list[tuple[int, int, bytes]]:
    """(interface, raw timestamp, frame) of every Enhanced Packet Block of a LE pcapng."""
    out, at = [], 0
    while at + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, at)
        if btype == 6:
            ifid, high, low, caplen, _wire = struct.unpack_from("<IIIII", data, at + 8)
            out.append((ifid, (high << 32) | low, data[at + 28:at + 28 + caplen]))
        at += blen
    return out


def test_ties_in_time_keep_the_inputs_order_and_duplicates_stay(tmp_path: Path) -> None:
    x = tcp_frame("10.0.0.1", 1, "10.0.0.2", 7890, 1, 1, PSH | ACK, b"x")
    y = tcp_frame("10.0.0.3", 1, "10.0.0.4", 7890, 1, 1, PSH | ACK, b"y")
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    a.write_bytes(pcap_bytes([(BASE_TS_NS, x), (BASE_TS_NS + 5 * US, x)]))
    b.write_bytes(pcap_bytes([(BASE_TS_NS, y), (BASE_TS_NS + 5 * US, x)]))

    def merged(*paths: Path) -> list[bytes]:
        src = MergedSource([FileSource(p) for p in paths])
        return [frame for _, _, frame in _epbs(b"".join(src.chunks()))]

    assert merged(a, b) == [x, y, x, x]  # the equal frames of both files are both kept
    assert merged(b, a) == [y, x, x, x]


def test_frames_are_numbered_over_the_merged_stream(tmp_path: Path) -> None:
    frames, _ = conversation()
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    a.write_bytes(pcap_bytes(frames[:4]))
    b.write_bytes(pcap_bytes(frames[4:]))
    numbers = [r["frame"] for r in jsonl(str(b), str(a))]
    assert numbers[0] == 4 and max(numbers) < len(frames)  # CONNECT is frame 4 of all


# -- -w ------------------------------------------------------------------------------------------


def test_write_from_a_merge_is_the_single_captures_write(
        capture: tuple[Path, list[tuple[int, bytes]], int], tmp_path: Path) -> None:
    single, frames, split_at = capture
    paths = []
    for i, part in enumerate(pieces(frames, [3, split_at + 1])):
        path = tmp_path / f"p{i}.pcap"
        path.write_bytes(pcap_bytes(part))
        paths.append(str(path))
    expr = 'command == "CMPP_SUBMIT"'
    one, merged = tmp_path / "one.pcapng", tmp_path / "merged.pcapng"
    assert run_cli("-w", str(one), "-Y", expr, str(single)).returncode == 0
    res = run_cli("-w", str(merged), "-Y", expr, *reversed(paths))
    assert res.returncode == 0, res.stderr
    assert merged.read_bytes() == one.read_bytes()
    # Every frame of the split SUBMIT is there: both segments, from two different files.
    assert len(_epbs(merged.read_bytes())) == 6
    submits = [r for r in jsonl(str(merged)) if r["command"] == "CMPP_SUBMIT"]
    assert [r["sequence_id"] for r in submits] == [2, 3, 4, 5, 6]
    if shutil.which("tshark"):
        out = subprocess.run(["tshark", "-r", str(merged), "-T", "fields", "-e", "frame.len"],
                             capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stderr
        assert len(out.stdout.split()) == 6

    before = merged.read_bytes()
    res = run_cli("-w", str(merged), paths[0], str(merged), paths[1])
    assert res.returncode == 2 and "that is the capture being read" in res.stderr
    assert merged.read_bytes() == before


def test_write_refuses_a_compressed_input_among_several(tmp_path: Path) -> None:
    import gzip

    frames, _ = conversation()
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap.gz"
    a.write_bytes(pcap_bytes(frames[:6]))
    b.write_bytes(gzip.compress(pcap_bytes(frames[6:])))
    assert len(jsonl(str(a), str(b))) > 4  # read fine...
    res = run_cli("-w", str(tmp_path / "o.pcapng"), str(a), str(b))
    assert res.returncode == 2 and "b.pcap.gz is gzip-compressed" in res.stderr  # ...not -w


# -- the API ---------------------------------------------------------------------------------------


def test_analyze_takes_several_paths(capture: tuple[Path, list[tuple[int, bytes]], int],
                                     tmp_path: Path) -> None:
    single, frames, split_at = capture
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    a.write_bytes(pcap_bytes(frames[:split_at + 1]))
    b.write_bytes(pcap_bytes(frames[split_at + 1:]))
    want = [(r.frame, r.command, r.ts_ns) for r in analyze(single).pdus()]
    assert [(r.frame, r.command, r.ts_ns) for r in analyze(b, a).pdus()] == want
    assert [(r.frame, r.command, r.ts_ns) for r in analyze([str(a), b]).pdus()] == want
    assert len(analyze([a, b]).sessions) == 1
    with pytest.raises(ValueError, match="standard input"):
        analyze(a, "-")
    with pytest.raises(FileNotFoundError):
        analyze(a, tmp_path / "missing.pcap")


def test_a_chain_is_read_one_file_after_another(
        capture: tuple[Path, list[tuple[int, bytes]], int], tmp_path: Path) -> None:
    """Rotated pieces of a capture whose clock ran backwards across the cut (the second
    segment of the split SUBMIT stamped 0.7 ms before the first): merged by time, the two
    segments change places; read as a chain (``analyze([[a, b]])``), the pieces are the
    capture, frame for frame."""
    _single, frames, split_at = capture
    frames = list(frames)
    second = frames[split_at + 1][1]
    frames[split_at + 1] = (frames[split_at][0] - 700 * US, second)
    assert frames[split_at - 1][0] < frames[split_at + 1][0] < frames[split_at][0]
    single = tmp_path / "single.pcap"
    single.write_bytes(pcap_bytes(frames))
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    a.write_bytes(pcap_bytes(frames[:split_at + 1]))
    b.write_bytes(pcap_bytes(frames[split_at + 1:]))

    def rows(*source: object) -> list[tuple[int, str, int]]:
        return [(r.frame, r.command, r.ts_ns) for r in analyze(*source).pdus()]  # type: ignore[arg-type]

    want = rows(single)
    assert rows([[a, b]]) == rows([[str(a), str(b)]]) == want
    assert analyze([[a, b]]).report() == analyze(single).report()
    assert rows(a, b) != want  # merged by time: the segments swapped
    with pytest.raises(ValueError, match="empty chain"):
        analyze([[], a])


def test_files_side_by_side_in_a_chain_are_said(tmp_path: Path) -> None:
    """Two links captured at the same time into two files (two interfaces), given as one
    chain: the second starts long before the first ends, so it is no rotation's next piece; a
    warning names both files (a rotation whose clock steps back 0.7 ms is not one: the test
    above compares whole reports)."""
    quick, _ = conversation()
    frames = [(quick[0][0] + i * 100_000 * US, f) for i, (_, f) in enumerate(quick)]  # 0.1 s apart

    def moved(src: str, sport: int, dst: str, dport: int, *rest: object, **kw: object) -> bytes:
        """The same link from another client port: a second connection."""
        return tcp_frame(src, 40999 if sport != 7890 else sport, dst,  # type: ignore[arg-type]
                         40999 if dport != 7890 else dport, *rest, **kw)

    other, _ = conversation(link=moved)
    shifted = [(ts + 10 * US, f) for (ts, _), (_, f) in zip(frames, other, strict=True)]
    a, b = tmp_path / "eth0.pcap", tmp_path / "eth1.pcap"
    a.write_bytes(pcap_bytes(frames))
    b.write_bytes(pcap_bytes(shifted))
    span = (frames[-1][0] - shifted[0][0]) / 1e9
    assert span > 1
    report = analyze([[a, b]]).report()
    said = [e for e in report["expert"] if "before the end of" in e["message"]]
    assert len(said) == 1 and said[0]["severity"] == "warn"
    assert "eth1.pcap starts" in said[0]["message"] and f"{span:.1f} s" in said[0]["message"]
    assert "eth0.pcap" in said[0]["message"]
    # merged by time (two inputs, not a chain), the two links are simply two links
    apart = analyze(a, b).report()
    assert not [e for e in apart["expert"] if "before the end of" in e["message"]]
    assert len(apart["sessions"]) == 2


# -- errors ---------------------------------------------------------------------------------------


def test_a_bad_input_among_several_is_named_in_one_line(tmp_path: Path) -> None:
    frames, _ = conversation()
    good = tmp_path / "good.pcap"
    good.write_bytes(pcap_bytes(frames))
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a capture\n")
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    for bad, says in ((tmp_path / "gone.pcap", "gone.pcap: no such file"),
                      (text, "notes.txt: not a pcap or pcapng capture"),
                      (empty, "empty.pcap: empty file"),
                      (tmp_path, "is a directory")):
        res = run_cli("-T", "jsonl", str(good), str(bad))
        assert res.returncode == 2, bad
        assert res.stderr.startswith("cmppdissect: ") and says in res.stderr
        assert len(res.stderr.splitlines()) == 1 and "Traceback" not in res.stderr
        assert res.stdout == ""
    res = run_cli("-T", "jsonl", str(good), "-")
    assert res.returncode == 2 and "standard input" in res.stderr


def test_a_truncated_input_is_a_finding_that_names_it(tmp_path: Path) -> None:
    frames, _ = conversation()
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    a.write_bytes(pcap_bytes(frames[:8])[:-10])  # the last record cut short
    b.write_bytes(pcap_bytes(frames[8:]))
    res = run_cli("-T", "jsonl", str(a), str(b))
    assert res.returncode == 0, res.stderr
    rep = report(str(a), str(b))
    assert "a.pcap: file is truncated" in json.dumps(rep)


# -- memory ----------------------------------------------------------------------------------------


def _peak_merging(paths: Sequence[Path]) -> tuple[int, int]:
    """The peak of Python allocations while merging ``paths`` (chunks read and dropped)."""
    tracemalloc.start()
    try:
        src = MergedSource([FileSource(p) for p in paths])
        size = sum(len(chunk) for chunk in src.chunks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, size


def _inputs(tmp_path: Path, count: int, frames_each: int) -> list[Path]:
    payload = b"z" * 200
    paths = []
    for i in range(count):
        frame = tcp_frame(f"10.0.{i}.1", 4000, "10.9.9.9", 7890, 1, 1, PSH | ACK, payload)
        # Interleaved times: every input has a frame in every millisecond.
        stamped = [(BASE_TS_NS + (j * count + i) * 1000 * US, frame)
                   for j in range(frames_each)]
        path = tmp_path / f"in{count}-{frames_each}-{i}.pcap"
        path.write_bytes(pcap_bytes(stamped))
        paths.append(path)
    return paths


def test_merging_memory_is_bounded_by_the_inputs_not_their_size(tmp_path: Path) -> None:
    small, small_size = _peak_merging(_inputs(tmp_path, 2, 2_000))
    big, big_size = _peak_merging(_inputs(tmp_path, 2, 16_000))
    assert big_size > 7 * small_size
    assert big < small * 1.5  # 8 times the bytes, about the same peak
    many, _ = _peak_merging(_inputs(tmp_path, 8, 2_000))
    # A chunk and a record or so per input, and the chunk being built: not the 4 MB read.
    assert many < 8 * 3 * 256 * 1024


def test_the_same_file_twice_is_one_conversation_with_duplicates(
        capture: tuple[Path, list[tuple[int, bytes]], int]) -> None:
    single = str(capture[0])
    once, twice = report(single), report(single, single)
    assert twice["pdus"] == once["pdus"]
    tcp = twice["sessions"][0]["tcp"]  # type: ignore[index]
    # Every copy of a frame of the connection is its frame too (the last ACK's copy comes
    # after the connection closed).
    assert tcp["frames"] >= 2 * once["sessions"][0]["tcp"]["frames"] - 1  # type: ignore[index]
    assert tcp["duplicates"] > 0


# -- the TUI ---------------------------------------------------------------------------------------


def test_the_tui_opens_a_merge_and_names_a_bad_input(
        capture: tuple[Path, list[tuple[int, bytes]], int], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from cmppdissect.tui import run_file
    from cmppdissect.tui.app import make_app

    single, frames, split_at = capture
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    a.write_bytes(pcap_bytes(frames[:split_at + 1]))
    b.write_bytes(pcap_bytes(frames[split_at + 1:]))
    assert run_file([str(a), str(tmp_path / "gone.pcap")], analyzer_kwargs={}) == 2
    assert capsys.readouterr().err.strip() == f"cmppdissect: {tmp_path / 'gone.pcap'}: no such file"

    app = make_app(MergedSource([FileSource(b), FileSource(a)]), analyzer_kwargs={})
    pdus = len(jsonl(str(single)))

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(400):
                if app.model.progress.done:
                    break
                await pilot.pause(0.02)
            assert app.model.progress.done
            await pilot.pause()
            status = str(app.screen.query_one("#status").render())
            assert f"{pdus} PDUs" in status and "1 session" in status
            assert app.model.frame_layers(0) is None  # the merged stream is no file

    asyncio.run(run())


# -- what each input may hold ----------------------------------------------------------------------


def test_pcapng_inputs_with_sections_interfaces_and_odd_blocks(tmp_path: Path) -> None:
    """Big-endian, two interfaces, a block of another type, a Simple Packet Block (the time of
    the frame before it), a second section that declares its interfaces again."""
    from pcaputil import _block

    e1 = tcp_frame("10.0.0.1", 1, "10.0.0.2", 7890, 1, 1, PSH | ACK, b"e1")
    s2 = sll(tcp_frame("10.0.0.1", 1, "10.0.0.2", 7890, 3, 1, PSH | ACK, b"s2")[14:])
    spb = tcp_frame("10.0.0.1", 1, "10.0.0.2", 7890, 5, 1, PSH | ACK, b"sp")
    e4 = tcp_frame("10.0.0.1", 1, "10.0.0.2", 7890, 7, 1, PSH | ACK, b"e4")
    p0 = tcp_frame("10.0.0.9", 1, "10.0.0.2", 7890, 1, 1, PSH | ACK, b"p0")
    t0 = BASE_TS_NS // US  # microseconds: if_tsresol 6, the default
    o = ">"

    def epb(ifid: int, us: int, data: bytes) -> bytes:
        return _block(o, 6, struct.pack(o + "IIIII", ifid, us >> 32, us & 0xFFFFFFFF,
                                        len(data), len(data)) + data)

    shb = _block(o, 0x0A0D0D0A, struct.pack(o + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb_eth = _block(o, 1, struct.pack(o + "HHI", 1, 0, 0))
    idb_sll = _block(o, 1, struct.pack(o + "HHI", 113, 0, 0))
    data = b"".join((shb, idb_eth, idb_sll, _block(o, 4, b"\0" * 8), epb(0, t0 + 10, e1),
                     epb(1, t0 + 20, s2), _block(o, 3, struct.pack(o + "I", len(spb)) + spb),
                     shb, idb_eth, epb(0, t0 + 40, e4)))
    a, b = tmp_path / "a.pcapng", tmp_path / "b.pcap"
    a.write_bytes(data)
    b.write_bytes(pcap_bytes([(BASE_TS_NS + 25 * US, p0)]))
    src = MergedSource([FileSource(a), FileSource(b)])
    merged = b"".join(src.chunks())
    got = [(frame, raw) for _, raw, frame in _epbs(merged)]
    assert got == [(e1, t0 + 10), (s2, t0 + 20), (spb, t0 + 20), (p0, t0 + 25), (e4, t0 + 40)]
    assert sorted(_linktypes(merged)) == [1, 1, 113]  # a's two, b's one: same Ethernet twice
    assert src.notes == []


def test_damaged_inputs_end_with_a_note_never_an_exception(tmp_path: Path) -> None:
    import random

    frames, _ = conversation()
    good = pcapng_bytes([(1, 9)], [(0, ts, f) for ts, f in frames])
    rng = random.Random(15)
    other = tmp_path / "other.pcap"
    other.write_bytes(pcap_bytes(frames[:3]))
    noted = 0
    for i in range(60):
        data = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(28, len(data))  # past the section header's byte order
            data[at] = rng.randrange(256)
        if i % 3 == 0:
            data = data[:rng.randrange(28, len(data))]
        path = tmp_path / f"bad{i}.pcapng"
        path.write_bytes(bytes(data))
        src = MergedSource([FileSource(path), FileSource(other)])
        merged = b"".join(src.chunks())
        assert _epbs(merged)  # what could be read is there (``other`` at least)
        noted += bool(src.notes)
        assert all(n.message.startswith(str(path)) for n in src.notes)
    assert noted > 10


# -- the core's walk: one walk for the single file and for each input of a merge ------------------


_RESOLUTIONS = ((1, 6), (113, 9), (1, 0x80 | 24))  # (link type, if_tsresol): us, ns, 2**-24 s


def _interfaced(frames: Sequence[tuple[int, bytes]]) -> list[tuple[int, int, bytes]]:
    """The conversation over three interfaces in turn (the second Linux cooked), as
    pcapng_bytes takes it: (interface, ts, frame)."""
    out = []
    for i, (ts, frame) in enumerate(frames):
        ifid = i % 3
        out.append((ifid, ts, sll(frame[14:]) if ifid == 1 else frame))
    return out


def _core_frames(data: bytes, chunk: int = 1 << 20
                 ) -> tuple[list[tuple[int, object, int, int | None, int, bytes]], list[str]]:
    """Every frame the core's FrameReader hands over, the bytes fed ``chunk`` at a time."""
    from cmppdissect.core import FrameReader
    from cmppdissect.core.records import CaptureNote

    notes: list[CaptureNote] = []
    reader = FrameReader(notes)
    got = []
    for at in range(0, len(data), chunk):
        reader.feed(data[at:at + chunk])
        while (frame := reader.frame()) is not None:
            got.append(frame)
            reader.next()
    reader.finish()
    return got, [n.message for n in notes]


@pytest.mark.parametrize("kind", ["pcap-ns-big-endian", "pcapng-3-interfaces",
                                  "pcapng-big-endian"])
def test_pieces_merge_to_the_single_file_frame_for_frame(tmp_path: Path, kind: str) -> None:
    """A capture and the same capture cut into three files (each a capture of its own: its
    header, its interfaces): the merged stream holds the single file's frames (bytes, times,
    lengths), and the analysis gives the single file's records and report."""
    frames, split_at = conversation()
    cuts = [5, split_at + 1]

    def image(part: Sequence[tuple[int, bytes]]) -> bytes:
        if kind == "pcap-ns-big-endian":
            return pcap_bytes(part, nano=True, big_endian=True)
        return pcapng_bytes(_RESOLUTIONS, _interfaced(part),
                            big_endian=kind == "pcapng-big-endian")

    # Interfaces stay those of the whole file in every piece: cut at a multiple of 3.
    single = tmp_path / "all.cap"
    single.write_bytes(image(frames))
    paths = []
    for i, (a, b) in enumerate(pairwise([0, *cuts, len(frames)])):
        part = frames[a:b]
        data = image(part) if kind.startswith("pcap-") else pcapng_bytes(
            _RESOLUTIONS, [(((a + j) % 3), ts, sll(f[14:]) if (a + j) % 3 == 1 else f)
                           for j, (ts, f) in enumerate(part)],
            big_endian=kind == "pcapng-big-endian")
        path = tmp_path / f"piece{i}.cap"
        path.write_bytes(data)
        paths.append(path)

    merged = b"".join(MergedSource([FileSource(p) for p in reversed(paths)]).chunks())
    want, want_notes = _core_frames(single.read_bytes())
    got, got_notes = _core_frames(merged)
    assert want_notes == got_notes == []
    assert len(got) == len(frames)
    # Time (ns), length on the wire, bytes and link type: the single file's, frame for frame.
    assert [(f[2], f[4], f[5], f[1].linktype) for f in got] == \
        [(f[2], f[4], f[5], f[1].linktype) for f in want]  # type: ignore[attr-defined]
    if kind != "pcap-ns-big-endian":
        # Each input interface is declared once, with its resolution: stored times copied.
        assert sorted({(f[1].linktype, f[1].tsresol) for f in got}) == \
            sorted(set(_RESOLUTIONS))  # type: ignore[attr-defined]
    assert jsonl(*map(str, paths)) == jsonl(str(single))
    assert report(*map(str, reversed(paths))) == report(str(single))


@pytest.mark.parametrize("chunk", [1, 7, 61, 4096, 1 << 20])
def test_the_cores_frames_are_where_dpkt_reads_them(chunk: int) -> None:
    """Offsets, bytes, times and lengths of the frames the core hands over are what dpkt reads
    at those offsets, however the bytes are cut into chunks."""
    import io

    import dpkt

    frames, _ = conversation()
    data = pcap_bytes(frames, nano=True)
    got, notes = _core_frames(data, chunk)
    assert notes == []
    assert [f[5] for f in got] == [buf for _, buf in dpkt.pcap.Reader(io.BytesIO(data))]
    for offset, iface, ts, raw, wire, frame in got:
        head = dpkt.pcap.LEPktHdr(data[offset:offset + 16])
        assert data[offset + 16:offset + 16 + head.caplen] == frame
        assert (head.tv_sec * 10**9 + head.tv_usec, head.len) == (ts, wire)
        assert raw == ts and iface.tsresol == 9  # type: ignore[attr-defined]

    ng = pcapng_bytes(_RESOLUTIONS, _interfaced(frames), tsoffset_s=3)
    got, notes = _core_frames(ng, chunk)
    assert notes == []
    assert [f[5] for f in got] == [buf for _, buf in dpkt.pcapng.Reader(io.BytesIO(ng))]
    for (offset, iface, ts, raw, wire, frame), (ifid, want_ts, _) in zip(
            got, _interfaced(frames), strict=True):
        blen = struct.unpack_from("<I", ng, offset + 4)[0]
        epb = dpkt.pcapng.EnhancedPacketBlockLE(ng[offset:offset + blen])
        assert (epb.iface_id, epb.pkt_data, epb.pkt_len) == (ifid, frame, wire)
        assert (epb.ts_high << 32 | epb.ts_low) == raw
        linktype, resol = _RESOLUTIONS[ifid]
        assert (iface.linktype, iface.tsresol, iface.tsoffset) == (linktype, resol, 3)  # type: ignore[attr-defined]
        # Exact for us and ns; 2**-24 s units round down by less than 60 ns.
        assert 0 <= want_ts - ts < (60 if resol & 0x80 else 1)


def _damaged(good: bytes, how: str) -> bytes:
    """``good`` (a little-endian pcapng of the conversation) damaged one way."""
    data = bytearray(good)
    blocks, at = [], 0
    while at < len(data):
        blocks.append(at)
        at += struct.unpack_from("<I", data, at + 4)[0]
    epb = blocks[8]  # an Enhanced Packet Block well inside (0: section, 1-3: interfaces)
    if how == "truncated":
        return bytes(data[:-10])
    if how == "cut-header":
        return bytes(data[:blocks[-1] + 6])
    if how == "block-length-odd":
        struct.pack_into("<I", data, epb + 4, 33)
    elif how == "block-length-huge":
        struct.pack_into("<I", data, epb + 4, 8 << 20)
    elif how == "undeclared-interface":
        struct.pack_into("<I", data, epb + 8, 7)
    elif how == "caplen-overruns":
        struct.pack_into("<I", data, epb + 20, 5000)
    return bytes(data)


@pytest.mark.parametrize("how", ["truncated", "cut-header", "block-length-odd",
                                 "block-length-huge", "undeclared-interface",
                                 "caplen-overruns", "pcap-truncated", "pcap-caplen"])
def test_a_damaged_input_gets_the_single_file_readers_notes(tmp_path: Path, how: str) -> None:
    """The same walk: what the single-file reader says of a damaged file, the merge says of
    that input (named), and it merges the frames the single reader read."""
    from cmppdissect.core import CaptureReader, SegmentList
    from cmppdissect.core.records import CaptureNote

    frames, _ = conversation()
    if how.startswith("pcap-"):
        data = bytearray(pcap_bytes(frames))
        if how == "pcap-truncated":
            data = data[:-7]
        else:
            struct.pack_into("<I", data, 24 + 16 + len(frames[0][1]) + 8, 1 << 30)
        bad = bytes(data)
    else:
        bad = _damaged(pcapng_bytes(_RESOLUTIONS, _interfaced(frames)), how)
    path, other = tmp_path / "bad.cap", tmp_path / "other.pcap"
    path.write_bytes(bad)
    late = [(ts + 10**12, f) for ts, f in frames[:3]]  # after every frame of the bad one
    other.write_bytes(pcap_bytes(late))

    notes: list[CaptureNote] = []
    single = CaptureReader(SegmentList(), notes)
    single.feed(bad)
    single.finish()
    assert notes, "the damage must be noticed"
    src = MergedSource([FileSource(path), FileSource(other)])
    merged = b"".join(src.chunks())
    assert [n.message for n in src.notes] == [f"{path}: {n.message}" for n in notes]
    assert all(n.frame is None for n in src.notes)
    got, _ = _core_frames(merged)
    read, _ = _core_frames(bad)
    assert [f[5] for f in got] == [f[5] for f in read] + [f for _, f in late]
