"""Soak: does ``cmppdissect -i lo`` keep its memory flat while traffic goes on and on?

    sudo python bench/bench_soak.py [--minutes 5] [--rate 1000] [--max-samples 200000]
                                    [--every 5] [--json OUT]

The real command line captures on ``lo`` (kernel filter on the session's port, statistics
only: ``--report json`` at the end) while a simulator ISMG and a simulator SP (separate
processes) exchange SUBMITs at a steady ``--rate`` for ``--minutes``, with status reports.
Every ``--every`` seconds it reads the analyzer's resident memory (VmRSS, from /proc) and how
many PDUs it has seen so far (from the simulator's rate: the analyzer prints nothing until
the end). ``--max-samples`` is set low so that the statistics fold into sketches within the
run (the default for ``-i`` is 4,000,000 samples, 32 MB, reached after hours at this rate).

It prints the series, then the growth after warm-up: the least-squares slope of RSS over the
second half of the run, in MB per minute and in bytes per PDU, against the reference, the
same slope had every sample been kept (8 bytes per latency and per delay). Memory is flat
when the slope is a small fraction of that. Needs root (or CAP_NET_RAW).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_live import PY, _free_port, _reap, _wait_line


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def soak(minutes: float, rate: int, max_samples: int, every: float, work: Path,
         write: Path | None = None) -> dict[str, Any]:
    port = _free_port()
    analyzer = subprocess.Popen(
        [PY, "-m", "cmppdissect", "-i", "lo", "-f", f"tcp port {port}", "-d", str(port),
         "--report", "json", "--max-samples", str(max_samples),
         *(["-w", str(write)] if write else [])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_line(analyzer, "Capturing on")
    server = subprocess.Popen(
        [PY, "-m", "cmppdissect", "sim", "server", "--listen", f"127.0.0.1:{port}", "--quiet",
         "--report-delay", "0.2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_line(server, "listening")
    seconds = minutes * 60
    client = subprocess.Popen(
        [PY, "-m", "cmppdissect", "sim", "client", "--connect", f"127.0.0.1:{port}",
         "--sp-id", "901234", "--secret", "123456", "--rate", str(rate),
         "--count", str(int(rate * seconds)), "--long-ratio", "0.05", "--group-ratio", "0.05",
         "--report-ratio", "1", "--linger", "1", "--quiet",
         "--log-json", str(work / "sp.json")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    series: list[tuple[float, float]] = []
    while client.poll() is None:
        time.sleep(every)
        series.append((time.monotonic() - started, rss_mb(analyzer.pid)))
        print(f"  {series[-1][0]:7.1f} s  {series[-1][1]:8.1f} MB", file=sys.stderr)
    server.send_signal(signal.SIGINT)
    _reap(server)
    analyzer.send_signal(signal.SIGINT)
    out, _err = analyzer.communicate(timeout=600)
    report = json.loads(out)
    sp = json.loads((work / "sp.json").read_text())["SP client"]["connections"][0]
    half = [(t, m) for t, m in series if t >= series[-1][0] / 2]
    t, m = np.array(half).T
    slope = float(np.polyfit(t, m, 1)[0]) * 60  # MB per minute
    pdus = report["pdus"]
    pdus_per_min = pdus / (series[-1][0] / 60)
    # What keeping every sample would add: a latency per answered request, a delay (twice:
    # overall and by Stat) per matched report.
    samples = (sum(c["paired"] for c in report["commands"].values())
               + 2 * report["reports"]["matched"])
    kept_per_min = samples * 8 / 2**20 / (series[-1][0] / 60)
    return {"minutes": minutes, "rate": rate, "achieved": sp["sent"].get("CMPP_SUBMIT", 0)
            / sp["duration_s"], "pdus": pdus, "series": series,
            "slope_mb_per_min": slope, "bytes_per_pdu": slope * 2**20 / pdus_per_min,
            "every_sample_mb_per_min": kept_per_min,
            "samples": report.get("samples"), "expert_counts": report["expert_counts"],
            "sessions": len(report["sessions"]), "kernel_dropped":
            report["capture"]["kernel_dropped"], "peak_mb": max(m for _t, m in series)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--max-samples", type=int, default=200_000)
    ap.add_argument("--every", type=float, default=5.0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--write", type=Path, help="also -w the capture there (to replay it)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        result = soak(args.minutes, args.rate, args.max_samples, args.every, Path(work),
                      args.write)
    print(f"{result['minutes']} min at {result['achieved']:.0f} SUBMIT/s "
          f"(target {result['rate']}): {result['pdus']:,} PDUs analysed, kernel dropped "
          f"{result['kernel_dropped']}")
    print(f"peak RSS {result['peak_mb']:.1f} MB; growth over the second half "
          f"{result['slope_mb_per_min']:+.2f} MB/min ({result['bytes_per_pdu']:+.2f} bytes/PDU); "
          f"every sample kept would add {result['every_sample_mb_per_min']:.2f} MB/min")
    print(f"statistics: {result['samples']}")
    print(f"findings: {result['expert_counts']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
