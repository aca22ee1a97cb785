"""Scale-out on Dask against the single-process engine, on the same files; and the merge's cost.

    python bench/bench_scale.py [--hosts H] [--frames N] [--files F] [--runs R] [--parquet]

Builds ``H`` host directories (cached under ``$TMPDIR/cmppdissect-bench/scale-...``), each a
capture of ``bench/gen_capture.py`` (``N`` frames, its own seed) rotated into ``F`` files, and
times, each the median of ``R`` runs:

* one process: ``cmppdissect.analyze(all files).report()`` (every file merged by time into one
  stream, the one-machine answer);
* ``cmppdissect.analyze_many(all files, client=...)`` on a local ``distributed`` cluster of 1
  and of 2 worker processes (one thread each), the cluster started before the clock (a real
  cluster is up already); the speed-up is one process's time over it;
* with ``--parquet``: the same with the Parquet outputs (``write_parquet`` against the dataset).

Then the merge step alone (:func:`cmppdissect.scale.merge.merge_parts`) over 4 to 256 parts
(the parts of the hosts above, repeated), and a host's task (its chain ordered by the files'
first timestamps, read as one stream) as the number of files it is rotated into grows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dpkt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_capture import SERVER_IP, generate

import cmppdissect
from cmppdissect.protocol.commands import DEFAULT_PORTS
from cmppdissect.scale.dask import local_client
from cmppdissect.scale.hosts import Host
from cmppdissect.scale.merge import merge_parts
from cmppdissect.scale.parts import analyze_host

SETTINGS: dict[str, Any] = {"ports": DEFAULT_PORTS, "version": None, "timeout_s": 60.0,
                            "secrets": {}, "heuristic": True}


_SERVER = socket.inet_aton(SERVER_IP)


def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    total = (total & 0xFFFF) + (total >> 16)
    return ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF


def _moved(frame: bytes, server: bytes) -> bytes:
    """The frame with gen_capture's gateway address replaced by ``server`` (the IPv4 header
    checksum made again), so that each host's connections are its own: gen_capture gives
    every capture the same endpoints."""
    if frame[12:14] != b"\x08\x00" or _SERVER not in (frame[26:30], frame[30:34]):
        return frame
    head = bytearray(frame[14:34])
    for at in (12, 16):
        if head[at:at + 4] == _SERVER:
            head[at:at + 4] = server
    head[10:12] = b"\0\0"
    head[10:12] = _ip_checksum(bytes(head)).to_bytes(2, "big")
    return frame[:14] + bytes(head) + frame[34:]


def _rotate(capture: Path, directory: Path, files: int, host: int = 0) -> list[str]:
    """``capture`` cut into ``files`` pcap files of about as many frames each, its gateway
    at 198.51.100.(100 + ``host``)."""
    server = socket.inet_aton(f"198.51.100.{100 + host}")
    with capture.open("rb") as f:
        reader = dpkt.pcap.Reader(f)
        frames = [(ts, _moved(bytes(buf), server)) for ts, buf in reader]
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    per = -(-len(frames) // files)
    for k in range(files):
        path = directory / f"rot-{k:03d}.pcap"
        with path.open("wb") as sink:
            writer = dpkt.pcap.Writer(sink)
            for ts, buf in frames[k * per:(k + 1) * per]:
                writer.writepkt(buf, ts=ts)
        out.append(str(path))
    return out


def _median(run: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=4)
    ap.add_argument("--frames", type=int, default=250_000, help="frames per host")
    ap.add_argument("--files", type=int, default=8, help="files per host")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parquet", action="store_true", help="also time the Parquet outputs")
    ap.add_argument("--skip-speed", action="store_true", help="only the merge and chain costs")
    args = ap.parse_args(argv)
    root = (Path(tempfile.gettempdir()) / "cmppdissect-bench"
            / f"scale2-{args.hosts}x{args.frames}x{args.files}")
    root.mkdir(parents=True, exist_ok=True)
    paths: list[str] = []
    hosts: dict[str, list[str]] = {}
    for h in range(args.hosts):
        directory = root / f"gw{h}"
        files = sorted(str(p) for p in directory.glob("rot-*.pcap"))
        if len(files) != args.files:
            shutil.rmtree(directory, ignore_errors=True)
            whole = root / f"gw{h}.pcap"
            generate(whole, frames=args.frames, seed=100 + h, sessions=6)
            files = _rotate(whole, directory, args.files, h)
            whole.unlink()
        hosts[f"gw{h}"] = files
        paths += files
    size = sum(os.path.getsize(p) for p in paths)
    print(f"{args.hosts} hosts x {args.frames:,} frames, {len(paths)} files, "
          f"{size / 1e6:.0f} MB; medians of {args.runs}; {os.cpu_count()} cores\n")
    one = 0.0 if args.skip_speed else _median(lambda: cmppdissect.analyze(paths).report(),
                                              args.runs)
    if not args.skip_speed:  # the same PDUs both ways (a check, not a timing)
        with local_client(2) as client:
            merged = cmppdissect.analyze_many(paths, client=client)
        whole = cmppdissect.analyze(paths).report()
        assert merged["pdus"] == whole["pdus"], (merged["pdus"], whole["pdus"])
        assert merged["commands"] == whole["commands"]
        print(f"{whole['pdus']:,} PDUs; merged sections: "
              f"{', '.join(merged['scale']['merged_sections'])}\n")
    rows = [("one process (analyze(all).report())", one, None)]
    for workers in () if args.skip_speed else (1, 2):
        with local_client(workers) as client:
            cmppdissect.analyze_many(paths, client=client)  # warm: imports on the workers
            t = _median(lambda c=client: cmppdissect.analyze_many(paths, client=c), args.runs)
        rows.append((f"analyze_many, {workers} worker{'s' if workers > 1 else ''}", t, one / t))
    if args.parquet:
        scratch = Path(tempfile.mkdtemp(prefix="bench-scale-"))
        try:
            one_pq = _median(lambda: cmppdissect.analyze(paths).write_parquet(
                scratch / "one", release=True), args.runs)
            rows.append(("one process, write_parquet", one_pq, None))
            for workers in (1, 2):
                with local_client(workers) as client:
                    t = _median(lambda c=client: cmppdissect.analyze_many(  # a dataset a run
                        paths, client=c, parquet=tempfile.mkdtemp(dir=scratch)), args.runs)
                rows.append((f"analyze_many --parquet, {workers} worker"
                             f"{'s' if workers > 1 else ''}", t, one_pq / t))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    print("| run | seconds | speed-up |\n|---|---:|---:|")
    for name, t, gain in rows if not args.skip_speed else ():
        print(f"| {name} | {t:.2f} | {'' if gain is None else f'{gain:.2f}x'} |")

    parts = [analyze_host(Host(name, tuple(files)), SETTINGS) for name, files in hosts.items()]
    print("\n| parts merged | merge_parts (ms) |\n|---:|---:|")
    for count in (4, 16, 64, 256):
        many = [parts[k % len(parts)] for k in range(count)]
        t = _median(lambda m=many: merge_parts(m), args.runs)
        print(f"| {count} | {t * 1e3:.1f} |")

    print("\n| files per host (one host) | its task (s) |\n|---:|---:|")
    whole = root / "chain.pcap"
    generate(whole, frames=args.frames, seed=100, sessions=6)
    for files in (1, 8, 64, 256):
        chain = _rotate(whole, root / f"chain-{files}", files)
        t = _median(lambda c=chain: analyze_host(Host("chain", tuple(c)), SETTINGS), args.runs)
        print(f"| {files} | {t:.2f} |")
        shutil.rmtree(root / f"chain-{files}")
    whole.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
