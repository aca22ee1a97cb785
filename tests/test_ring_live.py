"""The ring buffer and the periodic reports of a live capture on loopback, simulator talking.

The capture runs as the real command line; the simulator's own log says what was sent. Every
rotated file is read back alone (dpkt, a strict walk of its blocks, our reader) and all of them
together (our reader merging them: the same PDUs as the live analysis counted). Needs root,
as the other live tests.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import struct
import subprocess
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pcaputil import small_disk
from test_live import _free_port, _sent, _start_cli, _traffic, _why_not, cli_procs
from test_ring import (
    cli,
    dpkt_frames,
    number_of,
    one_line_error,
    rotated,
    stamp,
    strict_walk,
    tshark_frames,
)

from cmppdissect.api import analyze

pytestmark = pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))
__all__ = ["cli_procs"]  # the fixture, used by name

NS = 1_000_000_000


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return out, err


def _captured(out: str) -> tuple[int, int]:
    """(PDUs, frames) of the live summary."""
    pdus = int(re.search(r"CMPP PDUs: (\d+)", out)[1])  # type: ignore[index]
    frames = int(re.search(r"Capture on lo: (\d+) frames", out)[1])  # type: ignore[index]
    return pdus, frames


def test_live_ring_of_pcapng_and_jsonl_files(cli_procs: list[subprocess.Popen[str]],
                                             tmp_path: Path) -> None:
    port = _free_port()
    started = time.time_ns()
    proc = _start_cli(cli_procs, "-i", "lo", "-f", f"tcp port {port}", "-d", str(port),
                      "-w", str(tmp_path / "cap.pcapng"), "--jsonl", str(tmp_path / "pdus.jsonl"),
                      "-b", "packets:10")
    sp, ismg = _traffic(port, count=30)
    time.sleep(0.3)  # the last packets reach the capture
    out, _err = _stop(proc)
    pdus, frames = _captured(out)
    assert pdus == len(_sent(sp)) + len(_sent(ismg))

    caps = rotated(tmp_path, "cap")
    assert len(caps) == -(-frames // 10) >= 4
    assert [number_of(p) for p in caps] == list(range(1, len(caps) + 1))
    # The first file is made when the capture starts, and named with that time (dumpcap's).
    assert re.search(r"_(\d{14})\.pcapng$", caps[0].name)[1] in (  # type: ignore[index]
        stamp(started), stamp(started + NS))
    total = 0
    for path in caps:
        mine = dpkt_frames(path)
        if shutil.which("tshark"):
            assert tshark_frames(path) == len(mine)
        assert strict_walk(path) == len(mine) == 10 or path == caps[-1]
        a = analyze(str(path)).run()  # each file alone, by our reader
        assert a.engine is not None and a.engine.core.reader_stats["frames"] == len(mine)
        assert stamp(mine[0][0]) <= re.search(r"_(\d{14})\.", path.name)[1] or path == caps[0]  # type: ignore[index]
        total += len(mine)
    assert total == frames
    # All of them together (merged by time): the PDUs the live analysis counted.
    merged = json.loads(cli("--report", "json", *caps).stdout)
    assert merged["pdus"] == pdus

    records = rotated(tmp_path, "pdus")
    lines = [json.loads(line) for p in records for line in p.read_text().splitlines()]
    assert all(len(p.read_text().splitlines()) <= 10 for p in records)
    assert len(lines) == pdus and len(records) == -(-pdus // 10)
    assert Counter(r["command"] for r in lines) == Counter(
        name for name, _seq in _sent(sp) + _sent(ismg))


def test_live_ring_keeps_n_pcap_files_and_reports_on_the_wall_clock(
        cli_procs: list[subprocess.Popen[str]], tmp_path: Path) -> None:
    port = _free_port()
    proc = _start_cli(cli_procs, "-i", "lo", "-f", f"tcp port {port}", "-d", str(port),
                      "-w", str(tmp_path / "cap.pcap"), "-b", "filesize:4", "-b", "files:3",
                      "--report-every", "0.25", "--report-file", str(tmp_path / "r.json"))
    time.sleep(1.2)  # no traffic yet: the wall clock reports the quiet link all the same
    quiet = json.loads((tmp_path / "r.json").read_text())
    assert quiet["pdus"] == 0 and quiet["period"]["number"] >= 3
    assert quiet["period"]["clock"] == "wall" and quiet["capture"]["interface"] == "lo"
    sp, ismg = _traffic(port, count=40)
    time.sleep(0.6)
    out, _err = _stop(proc)
    assert out == ""  # --report-file: the report went there

    caps = rotated(tmp_path, "cap")
    assert len(caps) == 3 and number_of(caps[0]) > 1  # the oldest deleted
    assert [number_of(p) for p in caps] == list(range(number_of(caps[0]),
                                                      number_of(caps[0]) + 3))
    for path in caps:
        assert path.read_bytes()[:4] == struct.pack("<I", 0xA1B23C4D)  # pcap, ns
        held = len(dpkt_frames(path))
        # past 4 kB only by a frame that alone is bigger (as dumpcap's): on lo a burst of
        # SUBMITs may leave in one segment of several kB, as the kernel coalesces them
        assert path.stat().st_size <= 4000 or held == 1
        assert strict_walk(path) == held > 0

    reports = rotated(tmp_path, "r")
    assert len(reports) == 3  # files:3 keeps the last three reports too
    docs = [json.loads(p.read_text()) for p in reports]
    numbers = [d["period"]["number"] for d in docs]
    assert numbers == list(range(numbers[0], numbers[0] + 3)) and numbers[0] > 3
    assert [d["period"]["final"] for d in docs] == [False, False, True]
    assert [d["pdus"] for d in docs] == sorted(d["pdus"] for d in docs)
    times = [d["period"]["time"] for d in docs]
    assert times == sorted(times)
    final = docs[-1]
    assert final["pdus"] == len(_sent(sp)) + len(_sent(ismg))
    assert json.loads((tmp_path / "r.json").read_text()) == final
    assert final["capture"]["written"] == str(tmp_path / "cap.pcap")


def test_live_reports_skip_the_steps_a_stall_missed(cli_procs: list[subprocess.Popen[str]],
                                                     tmp_path: Path) -> None:
    """A process that could not run for a while (SIGSTOP here; a host suspended, a stall)
    writes one report for the steps it missed, then goes on on the same grid of steps: not
    a burst of copies that a ring (-b files:N) would keep instead of the reports before."""
    proc = _start_cli(cli_procs, "-i", "lo", "-f", f"tcp port {_free_port()}", "-q",
                      "--report-every", "0.25", "--report-file", str(tmp_path / "r.json"))
    time.sleep(0.9)
    proc.send_signal(signal.SIGSTOP)
    time.sleep(2.0)  # eight steps missed
    proc.send_signal(signal.SIGCONT)
    time.sleep(1.0)
    _stop(proc)
    docs = [json.loads(p.read_text()) for p in rotated(tmp_path, "r")]
    times = [d["period"]["time"] for d in docs if not d["period"]["final"]]
    gaps = [b - a for a, b in pairwise(times)]
    stall = gaps.index(max(gaps))
    assert gaps[stall] > 1.9
    # One report for the steps missed, when it could run again; then the next steps of the
    # grid (the first of them within a step of it), no burst.
    assert all(g > 0.15 for g in gaps[stall + 2:]), gaps
    assert len(times) <= stall + 2 + 5, gaps


def test_live_parquet_ring(cli_procs: list[subprocess.Popen[str]], tmp_path: Path) -> None:
    port = _free_port()
    proc = _start_cli(cli_procs, "-i", "lo", "-f", f"tcp port {port}", "-d", str(port),
                      "--parquet", str(tmp_path / "pq"), "-b", "packets:40")
    sp, ismg = _traffic(port, count=30)
    time.sleep(0.3)
    out, _err = _stop(proc)
    pdus, _frames = _captured(out)
    files = rotated(tmp_path / "pq", "pdus")
    rows = [pq.read_table(p).num_rows for p in files]
    assert sum(rows) == pdus == len(_sent(sp)) + len(_sent(ismg))
    assert rows[:-1] == [40] * (len(rows) - 1) and len(rows) >= 3
    assert (tmp_path / "pq" / "sessions.parquet").exists()


def test_live_ring_on_a_full_disk_stops_with_whole_files(
        cli_procs: list[subprocess.Popen[str]], tmp_path: Path) -> None:
    with small_disk(tmp_path, 24 * 1024) as mount:
        port = _free_port()
        proc = _start_cli(cli_procs, "-i", "lo", "-f", f"tcp port {port}", "-d", str(port),
                          "-w", str(mount / "cap.pcapng"), "-b", "filesize:6")
        _traffic(port, count=60)
        out, err = proc.communicate(timeout=60)  # the full disk stops it: no signal
        last = one_line_error(subprocess.CompletedProcess([], proc.returncode, "",
                                                          err.splitlines()[-1]),
                              "No space left on device")
        assert "CMPP PDUs:" in out and "Traceback" not in err  # the summary came first
        caps = rotated(mount, "cap")
        assert len(caps) >= 3
        named = Path(last.split()[1].rstrip(":"))
        if named.exists():  # the disk filled with frames in the file: it ends on a whole one
            assert named == caps[-1]
            assert last.startswith(f"cmppdissect: {named}: No space left on device: the "
                                   "file ends with the last whole frame written (")
            kept = int(last.rsplit("(", 1)[1].split()[0])
            assert strict_walk(caps.pop()) == kept
        else:  # it filled before the new file's header was whole: that file is not left
            assert last == (f"cmppdissect: {named}: No space left on device: no room for the "
                            "file's header (the empty file is removed)")
            assert number_of(named) == number_of(caps[-1]) + 1
        for path in caps:
            assert strict_walk(path) == len(dpkt_frames(path)) > 0
            assert path.stat().st_size <= 6000


def test_live_no_room_for_the_first_header(cli_procs: list[subprocess.Popen[str]],
                                           tmp_path: Path) -> None:
    with small_disk(tmp_path, 0) as mount:
        proc = _start_cli(cli_procs, "-i", "lo", "-f", f"tcp port {_free_port()}", "-w",
                          str(mount / "cap.pcapng"), "-b", "duration:60")
        out, err = proc.communicate(timeout=60)  # it stops by itself
        assert proc.returncode == 2 and "Traceback" not in err
        assert re.fullmatch(rf"cmppdissect: {re.escape(str(mount))}/cap_00001_\d{{14}}\.pcapng: "
                            r"No space left on device: no room for the file's header \(the "
                            r"empty file is removed\)", err.strip().splitlines()[-1])
        assert "CMPP PDUs: 0" in out
        assert rotated(mount, "cap") == []
