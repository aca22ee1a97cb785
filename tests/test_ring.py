"""The ring buffer (``-b``) and the periodic reports (``--report-every``) over capture files.

Every output is read back: each rotated capture file with dpkt, with a strict walk of its
blocks (it ends on a whole record, it starts with its own header) and with our own reader;
the frames of the files, in order, are the frames of the same output written whole. The
``--jsonl`` files and the Parquet files add up to the unrotated outputs, and the periodic
reports are checked against what the capture holds before each step of capture time and
against ``--report json``. A full disk is a real one (a small tmpfs, as root).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import dpkt
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pcaputil import small_disk

from cmppdissect.api import analyze
from cmppdissect.sources.ring import KB, Ring, RingError, RingSpec, parse_ring

_SPEC = importlib.util.spec_from_file_location(
    "gen_capture", Path(__file__).resolve().parents[1] / "bench" / "gen_capture.py")
assert _SPEC is not None and _SPEC.loader is not None
gen = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("gen_capture", gen)
_SPEC.loader.exec_module(gen)

NS = 1_000_000_000
NAME = re.compile(r"^(?P<stem>.+)_(?P<number>\d{5})_(?P<time>\d{14})(?P<ext>\.[^.]+)?$")


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,100 frames over 6.2 s of four concurrent links (two read chunks of the file)."""
    path = tmp_path_factory.mktemp("ring") / "mix.pcap"
    gen.generate(path, frames=3000, seed=5, sessions=4)
    return path


def cli(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "cmppdissect", *map(str, args)],
                          capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    return done


def one_line_error(done: subprocess.CompletedProcess[str], needle: str) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], done.stderr
    return lines[0]


def rotated(folder: Path, stem: str) -> list[Path]:
    """The files of a ring, by number (the name checked)."""
    found = []
    for path in folder.iterdir():
        match = NAME.match(path.name)
        if match and match["stem"] == stem:
            found.append((int(match["number"]), path))
    return [path for _n, path in sorted(found)]


def number_of(path: Path) -> int:
    match = NAME.match(path.name)
    assert match
    return int(match["number"])


def strict_walk(path: Path) -> int:
    """The records of a capture file, checking it is whole: it starts with its own header
    (pcap: the file header; pcapng: a section header then an interface description), every
    record or block is whole, and the file ends exactly after the last one."""
    data = path.read_bytes()
    frames = 0
    if data[:4] == b"\x0a\x0d\x0d\x0a":  # pcapng, little-endian as we write it
        at = 0
        kinds = []
        while at < len(data):
            assert at + 12 <= len(data), f"{path}: a block cut at {at}"
            kind, length = struct.unpack_from("<II", data, at)
            assert length % 4 == 0 and at + length <= len(data), f"{path}: block cut at {at}"
            assert struct.unpack_from("<I", data, at + length - 4)[0] == length
            kinds.append(kind)
            frames += kind == 6
            at += length
        assert kinds[:2] == [0x0A0D0D0A, 1], kinds[:2]
        return frames
    magic = struct.unpack_from("<I", data)[0]
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), hex(magic)
    at = 24
    while at < len(data):
        assert at + 16 <= len(data), f"{path}: a record header cut at {at}"
        caplen = struct.unpack_from("<I", data, at + 8)[0]
        at += 16 + caplen
        assert at <= len(data), f"{path}: a record cut"
        frames += 1
    return frames


def dpkt_frames(path: Path) -> list[tuple[int, bytes]]:
    """(time in ns, bytes) of every frame, as dpkt reads the file."""
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(0)
        reader: Any = (dpkt.pcapng.Reader(f) if head == b"\x0a\x0d\x0d\x0a"
                       else dpkt.pcap.Reader(f))
        return [(int(ts * NS) if isinstance(ts, Decimal) else round(ts * 1e6) * 1000,
                 bytes(buf)) for ts, buf in reader]  # ns pcap: dpkt gives a Decimal


def our_frames(path: Path) -> int:
    """The frames our reader finds in the file alone, with no note about its shape."""
    a = analyze(str(path)).run()
    assert a.engine is not None
    assert not [n for n in a.notes if "truncat" in n.message or "cut" in n.message], a.notes
    return int(a.engine.core.reader_stats["frames"])


def check_files(files: list[Path]) -> list[tuple[int, bytes]]:
    """Every file whole and readable alone by dpkt, by a strict walk and by our reader; the
    frames of all of them in order."""
    frames: list[tuple[int, bytes]] = []
    for path in files:
        mine = dpkt_frames(path)
        assert mine, f"{path} holds no frame"
        assert strict_walk(path) == len(mine) == our_frames(path)
        frames += mine
    return frames


def tshark_frames(path: Path) -> int:
    """The frames tshark reads in the file alone (it says nothing about it on stderr)."""
    done = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.len"],
                          capture_output=True, text=True, timeout=120, check=False)
    said = [line for line in done.stderr.splitlines() if "could be dangerous" not in line]
    assert done.returncode == 0 and said == [], done.stderr  # (as root it warns of that)
    return len(done.stdout.splitlines())


needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="no tshark")


def stamp(ts_ns: int) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.localtime(ts_ns // NS))


# -- -b values ----------------------------------------------------------------------------------


def test_parse_ring_units_as_dumpcap() -> None:
    spec = parse_ring(["filesize:100", "duration:1.5", "files:7"])
    assert spec == RingSpec(filesize=100 * KB, duration_ns=1_500_000_000, files=7)
    assert KB == 1000  # dumpcap's kB
    assert parse_ring(["filesize:10MB"]).filesize == 10_000_000
    assert parse_ring(["filesize:2gb"]).filesize == 2_000_000_000
    assert parse_ring(["filesize:1.5k"]).filesize == 1500
    assert parse_ring(["interval:60", "packets:1000"]) == RingSpec(interval_ns=60 * NS,
                                                                    packets=1000)
    assert parse_ring(["files:3"]).switches is False


@pytest.mark.parametrize(("options", "needle"), [
    (["size:10"], "-b size:10: give KEY:VALUE"),
    (["filesize"], "-b filesize: give KEY:VALUE"),
    (["filesize:-1"], "filesize takes a size in kB"),
    (["filesize:10TB"], "filesize takes a size in kB"),
    (["duration:0"], "duration takes seconds > 0"),
    (["interval:nan"], "interval takes seconds > 0"),
    (["packets:0"], "packets takes a count >= 1"),
    (["files:two"], "files takes a count >= 1"),
    (["packets:5", "packets:6"], "-b packets: given twice"),
])
def test_bad_ring_values_are_one_line(options: list[str], needle: str,
                                      tmp_path: Path) -> None:
    with pytest.raises(RingError, match=re.escape(needle)):
        parse_ring(options)
    args = [a for o in options for a in ("-b", o)]
    one_line_error(cli("-w", tmp_path / "o.pcapng", *args, "samples/cmpp-basic.pcap",
                       check=False), needle)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "needle"), [
    (["-b", "packets:5"], "-b rotates the files of -w OUT, --jsonl FILE and --parquet DIR"),
    (["-w", "{tmp}/o.pcapng", "-b", "files:5"], "-b: -w needs filesize, duration, interval"),
    (["-w", "-", "-b", "packets:5"], "-w - (stdout) is not one"),
    (["--jsonl", "{tmp}/x.jsonl", "-T", "csv"], "--jsonl FILE writes -T jsonl records"),
    (["--report-every", "5"], "--report-every S writes the reports to --report-file FILE"),
    (["--report-every", "5", "--report-file", "{tmp}/r.json", "-Y", "session == 1"],
     "-Y cannot scope the reports"),
    (["--report-every", "0", "--report-file", "{tmp}/r.json"], "invalid seconds value"),
    (["--report-every", "5", "--report-file", "{tmp}/nodir/r.json"], "No such file"),
    (["--jsonl", "{tmp}/nodir/x.jsonl"], "No such file"),
    (["-w", "{tmp}/nodir/o.pcapng", "-b", "packets:5"], "No such file"),
])
def test_ring_and_report_usage_errors(args: list[str], needle: str, tmp_path: Path) -> None:
    done = cli(*[a.format(tmp=tmp_path) for a in args], "samples/cmpp-basic.pcap",
               check=False)
    one_line_error(done, needle)
    assert list(tmp_path.iterdir()) == []  # nothing made before the error


@pytest.mark.parametrize("args", [
    ["--jsonl", "{cap}"], ["--jsonl", "{cap}", "-b", "packets:100"], ["--report-file", "{cap}"],
    ["--report-every", "1", "--report-file", "{cap}"], ["-w", "{cap}"],
    ["--report-file", "{cap}", "{other}"],
])
def test_an_output_that_is_the_capture_being_read_is_refused(
        capture: Path, tmp_path: Path, args: list[str]) -> None:
    """``--jsonl`` or ``--report-file`` naming the capture itself overwrote it with JSON
    (exit 0, the capture gone); as for -w, it is refused before anything is read."""
    cap = tmp_path / "cap.pcap"
    shutil.copyfile(capture, cap)
    other = tmp_path / "other.pcap"
    shutil.copyfile(capture, other)
    done = cli(*[a.format(cap=cap, other=other) for a in args], cap, check=False)
    opt = "--report-file" if "--report-file" in args else args[0]
    assert one_line_error(done, "") == f"cmppdissect: {opt} {cap}: that is the capture being read"
    assert cap.read_bytes() == capture.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cap.pcap", "other.pcap"]


@pytest.mark.parametrize(("args", "message"), [
    (["--jsonl", "{tmp}/x.json", "--report-file", "{tmp}/x.json"],
     "--report-file {tmp}/x.json: --jsonl writes there too"),
    (["--jsonl", "{tmp}/x.json", "--report-every", "1", "--report-file", "{tmp}/./x.json"],
     "--report-file {tmp}/./x.json: --jsonl writes there too"),
    (["-w", "{tmp}/x.out", "-T", "jsonl", "--report-file", "{tmp}/x.out"],
     "--report-file {tmp}/x.out: -w writes there too"),
])
def test_two_outputs_to_one_file_are_refused(capture: Path, tmp_path: Path, args: list[str],
                                             message: str) -> None:
    """``--jsonl F --report-file F``: the report replaced the records (exit 0)."""
    done = cli(*[a.format(tmp=tmp_path) for a in args], capture, check=False)
    assert one_line_error(done, "") == "cmppdissect: " + message.format(tmp=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_analyze_report_file_that_is_a_capture_being_read_is_refused(
        capture: Path, tmp_path: Path) -> None:
    cap = tmp_path / "gw1" / "cap.pcap"
    cap.parent.mkdir()
    shutil.copyfile(capture, cap)
    done = cli("analyze", "--dask", "--workers", "1", cap, "--report-file", cap, check=False)
    assert done.returncode == 2 and done.stderr == (
        f"cmppdissect analyze: --report-file {cap}: that is the capture being read\n")
    assert cap.read_bytes() == capture.read_bytes()


def test_ring_names_and_the_oldest_deleted(tmp_path: Path) -> None:
    ring = Ring(tmp_path / "cap.pcapng", RingSpec(packets=1, files=2))
    t = 1_764_000_000 * NS
    names = []
    for i in range(4):
        path = Path(ring.advance(t + i * NS))
        path.write_bytes(b"x")
        names.append(path)
    assert [p.name for p in names] == [f"cap_{i + 1:05d}_{stamp(t + i * NS)}.pcapng"
                                       for i in range(4)]
    assert sorted(tmp_path.iterdir()) == names[2:] and ring.deleted == 2
    assert Ring(tmp_path / "noext", RingSpec(packets=1)).name(3, t) == str(
        tmp_path / f"noext_00003_{stamp(t)}")
    assert Ring(tmp_path / "one.pcap").name(1, t) == str(tmp_path / "one.pcap")  # no -b


# -- capture files split by -r IN -w OUT -b ------------------------------------------------------


@pytest.fixture(scope="module")
def whole(capture: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[int, bytes]]:
    """The frames ``-w`` writes without a ring: what every ring must add up to."""
    out = tmp_path_factory.mktemp("whole") / "all.pcapng"
    cli("-w", out, capture)
    frames = check_files([out])
    assert len(frames) > 2000  # the frames that carried PDUs (not the bare ACKs)
    return frames


@pytest.mark.parametrize("packets", [400, 1000])
def test_packets_ring_adds_up_to_the_whole(capture: Path, whole: list[tuple[int, bytes]],
                                           tmp_path: Path, packets: int) -> None:
    cli("-w", tmp_path / "out.pcapng", "-b", f"packets:{packets}", capture)
    files = rotated(tmp_path, "out")
    assert len(files) == -(-len(whole) // packets) and len(files) == len(os.listdir(tmp_path))
    assert [number_of(f) for f in files] == list(range(1, len(files) + 1))
    frames = check_files(files)
    assert frames == whole  # the same frames, the same times, in the same order
    at = 0
    for path in files:
        count = len(dpkt_frames(path))
        assert count == min(packets, len(whole) - at)
        assert NAME.match(path.name)["time"] == stamp(whole[at][0])  # type: ignore[index]
        assert path.suffix == ".pcapng"
        at += count


@pytest.mark.parametrize("kb", [40, 120])
def test_filesize_ring_keeps_the_last_files_each_under_the_size(
        capture: Path, whole: list[tuple[int, bytes]], tmp_path: Path, kb: int) -> None:
    """pcap this time (the name says so); files:3 keeps the last three, the oldest deleted."""
    cli("-w", tmp_path / "out.pcap", "-b", f"filesize:{kb}", "-b", "files:3", capture)
    files = rotated(tmp_path, "out")
    assert len(files) == len(os.listdir(tmp_path)) == 3
    numbers = [number_of(f) for f in files]
    assert numbers[0] > 1 and numbers == list(range(numbers[0], numbers[0] + 3))
    for path in files:
        assert path.read_bytes()[:4] == struct.pack("<I", 0xA1B2C3D4)  # classic pcap
        assert path.stat().st_size <= kb * 1000
    frames = check_files(files)
    assert frames == whole[len(whole) - len(frames):]  # the newest frames
    # A file is closed before a frame would take it past the size: the next frame did not fit.
    for path, after in itertools.pairwise(files):
        first_next = dpkt_frames(after)[0][1]
        assert path.stat().st_size + 16 + len(first_next) > kb * 1000


def test_duration_and_interval_rings_split_on_capture_time(
        capture: Path, whole: list[tuple[int, bytes]], tmp_path: Path) -> None:
    cli("-w", tmp_path / "d.pcapng", "-b", "duration:1.5", capture)
    files = rotated(tmp_path, "d")
    assert check_files(files) == whole
    starts = []
    for path in files:
        times = [ts for ts, _ in dpkt_frames(path)]
        assert max(times) - times[0] < 1.5 * NS
        starts.append(times[0])
    for start, nxt in itertools.pairwise(starts):
        assert nxt >= start + int(1.5 * NS)  # a file switched when its time was up
    assert len(files) == 5  # 6.2 s of capture

    cli("-w", tmp_path / "i.pcapng", "-b", "interval:2", capture)
    files = rotated(tmp_path, "i")
    assert check_files(files) == whole
    windows = [{ts // (2 * NS) for ts, _ in dpkt_frames(path)} for path in files]
    assert all(len(w) == 1 for w in windows)  # each file is one multiple of 2 s
    assert len({w.pop() for w in windows}) == len(files)


# -- --jsonl and --parquet ----------------------------------------------------------------------


def test_jsonl_ring_lines_add_up_to_t_jsonl(capture: Path, tmp_path: Path) -> None:
    expected = cli("-T", "jsonl", capture).stdout.splitlines(keepends=True)
    done = cli("--jsonl", tmp_path / "pdus.jsonl", "-b", "packets:500", "-b", "files:4",
               capture)
    assert "CMPP PDUs:" in done.stdout  # the summary on stdout, the records in the files
    files = rotated(tmp_path, "pdus")
    assert len(files) == len(os.listdir(tmp_path)) == 4 and number_of(files[-1]) == 6
    lines = [line for path in files for line in path.read_text().splitlines(keepends=True)]
    assert all(len(path.read_text().splitlines()) <= 500 for path in files)
    assert lines == expected[-len(lines):]  # the newest 4 files, whole lines
    first = json.loads(lines[0])
    assert NAME.match(files[0].name)["time"] == stamp(round(first["time"] * 1e9))  # type: ignore[index]

    # -Y: the lines of the PDUs it keeps, switched on the records' own time.
    expr = 'command == "CMPP_SUBMIT_RESP"'
    expected = cli("-T", "jsonl", "-Y", expr, capture).stdout.splitlines(keepends=True)
    cli("--jsonl", tmp_path / "resp.jsonl", "-Y", expr, "-b", "duration:2", capture)
    files = rotated(tmp_path, "resp")
    assert [line for path in files for line in path.read_text().splitlines(keepends=True)
            ] == expected
    for path in files:
        times = [json.loads(line)["time"] for line in path.read_text().splitlines()]
        assert times and max(times) - times[0] < 2

    # Without -b: the one file named, the same lines as -T jsonl.
    cli("--jsonl", tmp_path / "plain.jsonl", "-c", "10", capture)
    assert (tmp_path / "plain.jsonl").read_text() == cli("-T", "jsonl", "-c", "10",
                                                         capture).stdout


def test_parquet_ring_rows_add_up(capture: Path, tmp_path: Path) -> None:
    cli("--parquet", tmp_path / "whole", capture)
    pdus = pq.read_table(tmp_path / "whole" / "pdus.parquet")
    txns = pq.read_table(tmp_path / "whole" / "transactions.parquet")
    cli("--parquet", tmp_path / "ring", "-b", "packets:700", capture)
    folder = tmp_path / "ring"
    pdu_files, txn_files = rotated(folder, "pdus"), rotated(folder, "transactions")
    assert sorted(os.listdir(folder)) == sorted(
        [p.name for p in pdu_files + txn_files] + ["sessions.parquet"])
    tables = [pq.read_table(p) for p in pdu_files]
    assert [t.num_rows for t in tables] == [700] * (len(tables) - 1) + [
        pdus.num_rows - 700 * (len(tables) - 1)]
    assert [f for t in tables for f in t.column("frame").to_pylist()] == \
        pdus.column("frame").to_pylist()
    assert sum(pq.read_table(p).num_rows for p in txn_files) == txns.num_rows

    cli("--parquet", tmp_path / "time", "-b", "duration:2", "-b", "files:2", capture)
    files = rotated(tmp_path / "time", "pdus")
    assert len(files) == 2 and number_of(files[0]) > 1  # the older ones deleted
    for path in files:
        times = pq.read_table(path).column("time").cast("int64").to_pylist()
        assert max(times) - times[0] < 2 * NS
    kept = [f for p in files for f in pq.read_table(p).column("frame").to_pylist()]
    assert kept == pdus.column("frame").to_pylist()[-len(kept):]


# -- --report-every on capture time ------------------------------------------------------------


def _records(capture: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in cli("-T", "jsonl", capture).stdout.splitlines()]


def test_report_every_on_capture_time(capture: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    cli("--report-every", "0.5", "--report-file", target, capture)
    files = rotated(tmp_path, "report")
    docs = [json.loads(p.read_text()) for p in files]
    final = json.loads(cli("--report", "json", capture).stdout)
    records = _records(capture)
    first = whole_first = dpkt_frames(capture)[0][0]
    last = dpkt_frames(capture)[-1][0]
    steps = (last - first) // (NS // 2)
    assert len(docs) == steps + 1  # one per step of 0.5 s the capture passes, and the final
    assert [d["period"]["number"] for d in docs] == list(range(1, len(docs) + 1))
    assert [d["period"]["final"] for d in docs] == [False] * steps + [True]
    assert {d["period"]["clock"] for d in docs} == {"capture"}
    for k, (path, doc) in enumerate(zip(files[:-1], docs[:-1], strict=True), 1):
        step = whole_first + k * NS // 2
        assert doc["period"]["time"] == pytest.approx(step / 1e9)
        assert NAME.match(path.name)["time"] == stamp(step)  # type: ignore[index]
        # Exactly the PDUs completed before the step (the cut is on the frame's record).
        assert doc["pdus"] == sum(1 for r in records if r["time"] * 1e9 < step - 500), k
    counts = [d["pdus"] for d in docs]
    assert counts == sorted(counts) and counts[0] < counts[-1]
    for key in ("CMPP_SUBMIT", "CMPP_DELIVER"):
        requests = [d["commands"].get(key, {}).get("requests", 0) for d in docs]
        assert requests == sorted(requests)
    # The last of the series is --report json's document, and FILE holds it too.
    assert {k: v for k, v in docs[-1].items() if k != "period"} == final
    assert json.loads(target.read_text()) == docs[-1]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_report_every_keeps_the_last_files_and_works_with_other_outputs(
        capture: Path, tmp_path: Path) -> None:
    """-b files:N keeps the last N reports; the series runs beside -T on stdout and -w."""
    done = cli("--report-every", "1", "--report-file", tmp_path / "r.json", "-b", "files:2",
               "-T", "fields", "-e", "frame", "-w", tmp_path / "w.pcapng", "-b",
               "packets:1000", capture)
    frames = [int(line) for line in done.stdout.splitlines()]  # the records, on stdout
    assert frames == sorted(frames) and len(frames) > 2000
    reports = rotated(tmp_path, "r")
    assert [number_of(p) for p in reports] == [6, 7]  # 6 steps of 1 s, then the final
    written = json.loads(reports[-1].read_text())["frames_written"]
    pcaps = rotated(tmp_path, "w")  # files:2 keeps two of -w's files too
    assert [number_of(p) for p in pcaps] == [2, 3] and written > 2000
    assert [len(dpkt_frames(p)) for p in pcaps] == [1000, written - 2000]


@pytest.mark.parametrize("frames", [300, 1200])
def test_a_frame_stamped_decades_off_makes_a_bounded_series(
        capture: Path, tmp_path: Path, frames: int) -> None:
    """A capture whose first frame says 1970 (a clock that was wrong): the quiet stretch of
    55 years passes QUIET_STEPS steps one by one and the rest at once, however many frames
    follow, instead of 480,000 identical reports an hour apart (minutes of writing, a
    folder filling up). The last report is still --report json's."""
    from cmppdissect.sources.ticks import QUIET_STEPS

    stamped = dpkt_frames(capture)[:frames]
    path = tmp_path / "jump.pcap"
    with path.open("wb") as out:
        writer = dpkt.pcap.Writer(out, nano=True)
        for k, (ts, frame) in enumerate(stamped):
            writer.writepkt(frame, ts=Decimal(NS if k == 0 else ts) / NS)
    target = tmp_path / "reports" / "report.json"
    target.parent.mkdir()
    started = time.monotonic()
    cli("--report-every", "3600", "--report-file", target, path)
    assert time.monotonic() - started < 60
    docs = [json.loads(p.read_text()) for p in rotated(target.parent, "report")]
    # The steps one by one, the rest as one, a step the capture itself may cross, the final.
    assert QUIET_STEPS + 2 <= len(docs) <= QUIET_STEPS + 3
    times = [d["period"]["time"] for d in docs[:-1]]
    assert times[:QUIET_STEPS] == [1 + k * 3600 for k in range(1, QUIET_STEPS + 1)]
    jump = times[QUIET_STEPS]
    assert jump <= stamped[1][0] / NS < jump + 3600  # the last step before the next frame
    assert times[QUIET_STEPS:] == pytest.approx([jump + k * 3600
                                                 for k in range(len(times) - QUIET_STEPS)])
    final = json.loads(cli("--report", "json", path).stdout)
    assert {k: v for k, v in docs[-1].items() if k != "period"} == final


# -- a full disk ----------------------------------------------------------------------------------


def test_w_ring_on_a_full_disk_stops_with_whole_files(
        capture: Path, tmp_path: Path) -> None:
    with small_disk(tmp_path, 40 * 1024) as mount:
        done = cli("-w", mount / "out.pcapng", "-b", "filesize:12", capture, check=False)
        line = one_line_error(done, "No space left on device")
        files = rotated(mount, "out")
        assert len(files) >= 3
        assert re.fullmatch(rf"cmppdissect: {re.escape(str(files[-1]))}: No space left on "
                            r"device: the file ends with the last whole frame written "
                            r"\((\d+) frames\)", line)
        kept = int(line.rsplit("(", 1)[1].split()[0])
        for path in files[:-1]:
            assert strict_walk(path) == len(dpkt_frames(path)) > 0
        assert strict_walk(files[-1]) == kept  # the last file ends on a whole frame


def test_jsonl_and_reports_on_a_full_disk(capture: Path, tmp_path: Path) -> None:
    with small_disk(tmp_path, 48 * 1024) as mount:
        done = cli("--jsonl", mount / "p.jsonl", "-b", "filesize:16", capture, check=False)
        line = one_line_error(done, "No space left on device: the file ends with its last "
                                    "whole line")
        assert "Traceback" not in done.stderr
        files = rotated(mount, "p")
        for path in files:
            text = path.read_text()
            assert text == "" or text.endswith("\n")
            for record in text.splitlines():
                json.loads(record)  # every line whole
        assert line.startswith(f"cmppdissect: {files[-1]}: ")
        for path in files:
            path.unlink()

        # Reports of ~20 kB each: the disk fills after a couple; each one there is whole.
        done = cli("--report-every", "0.5", "--report-file", mount / "r.json", capture,
                   check=False)
        one_line_error(done, "--report-every: ")
        assert "No space left on device" in done.stderr
        reports = rotated(mount, "r")
        assert reports
        for path in [*reports, mount / "r.json"]:  # FILE: the last that fitted, if any did
            if path.exists() or path in reports:
                assert json.loads(path.read_text())["period"]["final"] is False
        assert not [p for p in mount.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("analyze_dask", [False, True])
def test_report_file_on_a_full_disk_keeps_what_it_held(capture: Path, tmp_path: Path,
                                                      analyze_dask: bool) -> None:
    """--report-file on a full disk: one line, exit 2, and the file holds what it held
    before, whole (it was left cut mid-report, 4 kB of JSON that does not parse)."""
    cap = tmp_path / "gw" / "cap.pcap"
    cap.parent.mkdir()
    shutil.copyfile(capture, cap)
    with small_disk(tmp_path, 8 * 1024) as mount:
        target = mount / "r.json"
        target.write_text('{"earlier": true}\n')
        args = ["analyze", "--dask", "--workers", "1"] if analyze_dask else []
        done = cli(*args, cap, "--report-file", target, check=False)
        assert done.returncode == 2
        prog = "cmppdissect analyze" if analyze_dask else "cmppdissect"
        assert done.stderr == (f"{prog}: --report-file {target}: No space left on device\n")
        assert json.loads(target.read_text()) == {"earlier": True}
        assert sorted(p.name for p in mount.iterdir()) == ["fill", "r.json"]


def test_parquet_ring_on_a_full_disk_is_one_line(capture: Path, tmp_path: Path) -> None:
    with small_disk(tmp_path, 256 * 1024, size=256 * 1024) as mount:
        done = cli("--parquet", mount / "pq", "-b", "packets:200", capture, check=False)
        one_line_error(done, f"--parquet {mount / 'pq'}: ")
        files = rotated(mount / "pq", "pdus")
        assert len(files) >= 2
        for path in files[:-1]:  # closed when the next one started: whole
            assert pq.read_table(path).num_rows == 200


def test_no_room_even_for_a_header_leaves_no_file(capture: Path, tmp_path: Path) -> None:
    """A file whose header cannot be written whole is not a capture file: it is removed, and
    the line says so (rather than leave a file no reader opens)."""
    with small_disk(tmp_path, 0) as mount:
        done = cli("-w", mount / "out.pcapng", "-b", "packets:100", capture, check=False)
        line = one_line_error(done, "No space left on device")
        assert re.fullmatch(rf"cmppdissect: {re.escape(str(mount))}/out_00001_\d{{14}}\.pcapng: "
                            r"No space left on device: no room for the file's header \(the "
                            r"empty file is removed\)", line)
        assert rotated(mount, "out") == []


@given(st.lists(st.tuples(st.integers(0, 3 * NS), st.integers(1, 300)), max_size=60),
       st.none() | st.integers(1, 2000), st.none() | st.integers(1, 2 * NS),
       st.none() | st.integers(1, NS), st.none() | st.integers(1, 9))
@settings(max_examples=300, deadline=None)
def test_fits_splits_a_batch_as_due_decides_item_by_item(
        items: list[tuple[int, int]], filesize: int | None, duration: int | None,
        interval: int | None, packets: int | None) -> None:
    """The batch rule (``fits``: where the live capture's batches are split) and the item
    rule (``due``: lines, frames read again) put every item in the same file."""
    import numpy as np

    spec = RingSpec(filesize=filesize, duration_ns=duration, interval_ns=interval,
                    packets=packets)
    t0 = 1_764_000_000 * NS
    times = [t0 + dt for dt, _ in items]  # in any order: a live capture's may step back
    sizes = [size for _, size in items]
    one = Ring("/nonexistent/x.pcap", spec)
    by_item = []
    for ts, size in zip(times, sizes, strict=True):
        if one.due(ts, size):
            one.advance(ts)
        one.added(size)
        by_item.append(one.number)
    batch = Ring("/nonexistent/x.pcap", spec)
    by_batch: list[int] = []
    first = 0
    while first < len(times):
        fit = batch.fits(np.array(times[first:]), np.array(sizes[first:]))
        if not fit:
            batch.advance(times[first])
            continue
        batch.added(sum(sizes[first:first + fit]), fit)
        by_batch += [batch.number] * fit
        first += fit
    assert by_batch == by_item


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_capture_ticks_are_exact_whatever_the_chunks(capture: Path, tmp_path: Path,
                                                     fmt: str) -> None:
    """The analysis at each step of capture time holds exactly the PDUs completed before it,
    whether the file is read in chunks of 7 bytes, 4 kB or all at once (a step's frame then
    starts in one chunk and ends in the next), for pcap and for pcapng."""
    from cmppdissect.sources.file import FileSource

    path = capture
    if fmt == "pcapng":
        path = tmp_path / "mix.pcapng"
        cli("-w", path, capture)  # the frames of the PDUs, as pcapng
    records = [json.loads(line) for line in cli("-T", "jsonl", path).stdout.splitlines()]
    series = []
    for chunk in (7, 4096, 1 << 24):
        a = analyze(FileSource(str(path), chunk_size=chunk))
        seen: list[tuple[int, int, int]] = []
        a.tick_every(0.25, lambda n, ts, a=a, seen=seen: seen.append(
            (n, ts, a.engine.core.pdus)))  # type: ignore[union-attr]
        a.run()
        series.append(seen)
    assert series[0] == series[1] == series[2]
    frames = dpkt_frames(path)
    assert len(series[0]) == (frames[-1][0] - frames[0][0]) // (NS // 4)  # steps passed
    for number, ts, pdus in series[0]:
        assert pdus == sum(1 for r in records if r["time"] * 1e9 < ts - 500), number


@pytest.mark.parametrize("files", [None, 3, 50])
def test_a_ring_holds_at_most_files_names_however_long_it_runs(files: int | None,
                                                                tmp_path: Path) -> None:
    """A ring that runs for days remembers only the files it may have to delete."""
    ring = Ring(tmp_path / "c.pcapng", RingSpec(packets=1, files=files))
    t = 1_764_000_000 * NS
    for i in range(2000):
        ring.advance(t + i * NS)
    assert len(ring.kept) == (files or 0) and ring.number == 2000
    assert ring.deleted == (2000 - files if files else 0)


@needs_tshark
def test_tshark_reads_every_rotated_file_alone(capture: Path, tmp_path: Path) -> None:
    cli("-w", tmp_path / "ng.pcapng", "-b", "filesize:100", capture)
    cli("-w", tmp_path / "pc.pcap", "-b", "duration:2", capture)
    files = rotated(tmp_path, "ng") + rotated(tmp_path, "pc")
    assert len(files) >= 6
    for path in files:
        assert tshark_frames(path) == len(dpkt_frames(path)) == strict_walk(path) > 0
