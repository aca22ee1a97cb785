"""Live analysis on loopback against the simulator: does ``cmppdissect -i lo`` keep up?

    sudo python bench/bench_live.py [--rates 2000,5000,8000] [--seconds 4] [--repeat 3]
                                    [--report-ratio 0]

For each target rate, ``--repeat`` times: the real command line captures on ``lo`` (kernel
filter on the session's port, ``--report json``, ``-w`` to a scratch file) while a simulator
ISMG and a simulator SP (separate processes) exchange ``rate x seconds`` SUBMITs. Then it prints,
as medians over the runs:

* the SUBMIT rate the simulator achieved (mean over the SP's session, from its log, and the
  busiest 1-second window, from the analyzer), and SUBMITs sent against SUBMITs analysed (the
  analyzer lost none when they are equal), with the PDUs of both directions likewise;
* packets the kernel dropped (reported apart: they are lost before the analyzer sees them);
* the analyzer's CPU time over the traffic's wall time (1.00 = one core busy), which includes
  draining whatever was still queued when the traffic ended;
* the reference run: the same traffic analysed from the ``-w`` file, and the headroom ratio
  (PDUs per CPU-second offline over PDUs per second arriving live).

Needs root (or CAP_NET_RAW). Runs three Python processes, so on a 2-core machine the analyzer
competes with the simulator for CPU; the figures are for exactly that situation.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PY = sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_line(proc: subprocess.Popen[bytes], prefix: str, timeout: float = 30) -> bytes:
    """Wait for a line on the child's stderr that contains ``prefix`` (its "ready" line);
    return what came."""
    assert proc.stderr is not None
    data = b""
    deadline = time.monotonic() + timeout
    while prefix.encode() not in data:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([proc.stderr], [], [], max(0.0, left))
        chunk = os.read(proc.stderr.fileno(), 4096) if ready else b""
        if not chunk:
            proc.kill()
            raise SystemExit(f"child did not start: {data.decode(errors='replace')!r}")
        data += chunk
    return data


def _reap(proc: subprocess.Popen[bytes]) -> float:
    """Wait for ``proc``; return the CPU seconds (user + system) it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc.wait(timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def one_run(rate: int, seconds: float, report_ratio: float, work: Path) -> dict[str, Any]:
    port = _free_port()
    pcap, sp_log, ismg_log = work / "live.pcap", work / "sp.json", work / "ismg.json"
    analyzer = subprocess.Popen(
        [PY, "-m", "cmppdissect", "-i", "lo", "-f", f"tcp port {port}", "-d", str(port),
         "-w", str(pcap), "--report", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_line(analyzer, "Capturing on")
    server = subprocess.Popen(
        [PY, "-m", "cmppdissect", "sim", "server", "--listen", f"127.0.0.1:{port}", "--quiet",
         "--report-delay", "0.2", "--log-json", str(ismg_log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_line(server, "listening")
    count = int(rate * seconds)
    started = time.monotonic()
    subprocess.run(
        [PY, "-m", "cmppdissect", "sim", "client", "--connect", f"127.0.0.1:{port}",
         "--sp-id", "901234", "--secret", "123456", "--rate", str(rate), "--count", str(count),
         "--long-ratio", "0", "--group-ratio", "0", "--report-ratio", str(report_ratio),
         "--linger", "0.5", "--quiet", "--log-json", str(sp_log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=600)
    traffic_s = time.monotonic() - started
    server.send_signal(signal.SIGINT)
    _reap(server)
    analyzer.send_signal(signal.SIGINT)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out, _err = analyzer.communicate(timeout=600)  # reaps it: its CPU time joins the children's
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    analyzer_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report = json.loads(out)
    sp = json.loads(sp_log.read_text())["SP client"]["connections"][0]
    ismg = json.loads(ismg_log.read_text())["ISMG server"]["connections"][0]
    sent_submits = sp["sent"].get("CMPP_SUBMIT", 0)
    sent_pdus = sum(sp["sent"].values()) + sum(ismg["sent"].values())
    offline = _offline(pcap, port)
    return {
        "target": rate,
        "achieved": sent_submits / sp["duration_s"],
        "sent_submits": sent_submits,
        "analysed_submits": report["commands"].get("CMPP_SUBMIT", {}).get("requests", 0),
        "sent_pdus": sent_pdus,
        "analysed_pdus": report["pdus"],
        "peak": max((s["peak_submits_per_s"] for s in report["sessions"]), default=0),
        "kernel_dropped": report["capture"]["kernel_dropped"],
        "frames": report["capture"]["frames"],
        "traffic_s": traffic_s,
        "analyzer_cpu_per_wall": analyzer_cpu / traffic_s,
        "offline_pdus_per_cpu_s": report["pdus"] / offline if offline else 0.0,
    }


def _offline(pcap: Path, port: int) -> float:
    """CPU seconds to analyse the written capture as a file: the reference run."""
    proc = subprocess.Popen([PY, "-m", "cmppdissect", str(pcap), "-d", str(port),
                             "--report", "json"], stdout=subprocess.DEVNULL)
    return _reap(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="2000,5000,8000",
                    help="target SUBMIT/s, comma separated")
    ap.add_argument("--seconds", type=float, default=4.0, help="traffic per run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--report-ratio", type=float, default=0.0,
                    help="share of SUBMITs asking for a status report (adds DELIVERs)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_live: needs root (AF_PACKET capture)", file=sys.stderr)
        return 2
    print(f"{'target':>7} {'achieved':>9} {'peak':>6} {'SUBMIT sent/analysed':>21} "
          f"{'PDUs sent/analysed':>19} {'drops':>6} {'CPU/wall':>8} {'headroom':>8}")
    ok = True
    for rate in (int(r) for r in args.rates.split(",")):
        runs = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(one_run(rate, args.seconds, args.report_ratio, Path(tmp)))
        ok &= _print_row(rate, runs)
    return 0 if ok else 1


def _print_row(rate: int, runs: list[dict[str, Any]]) -> bool:
    def med(key: str) -> float:
        return statistics.median(float(r[key]) for r in runs)

    lost = [r["sent_submits"] - r["analysed_submits"] for r in runs]
    lost_pdus = [r["sent_pdus"] - r["analysed_pdus"] for r in runs]
    live_rate = med("analysed_pdus") / med("traffic_s")
    headroom = med("offline_pdus_per_cpu_s") / live_rate if live_rate else 0.0
    print(f"{rate:>7} {med('achieved'):>9.0f} {med('peak'):>6.0f} "
          f"{int(med('sent_submits')):>10}/{int(med('analysed_submits')):<10} "
          f"{int(med('sent_pdus')):>9}/{int(med('analysed_pdus')):<9} "
          f"{int(med('kernel_dropped')):>6} {med('analyzer_cpu_per_wall'):>8.2f} "
          f"{headroom:>7.1f}x")
    if any(lost) or any(lost_pdus):
        print(f"        runs lost SUBMITs {lost}, PDUs {lost_pdus} "
              f"(kernel drops {[r['kernel_dropped'] for r in runs]})")
    return not any(lost)


if __name__ == "__main__":
    sys.exit(main())
