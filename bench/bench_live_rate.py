"""Live capture at 100,000 PDUs/s and beyond: a generated capture replayed onto ``lo``.

    sudo python bench/bench_live_rate.py [--rates 50000,100000,150000,200000,top]
                                         [--seconds 3] [--repeat 3] [--python PY]
                                         [--args '-B 64'] [--sessions 8] [--records jsonl]

The simulator tops out near 8,000 SUBMIT/s (``bench/bench_live.py``), so here the traffic is a
capture written by ``bench/gen_capture.py`` (a busy SP link: SUBMIT bursts, status reports,
long SMS, group sends; 18% of the data segments carry two PDUs or more, 3% of the PDUs are
split over two segments, a quarter of the frames are bare ACKs) and sent onto the loopback
interface by tcpreplay (Debian's package) at a target rate in PDUs/s (tcpreplay ``--pps``, the
capture's frames per PDU applied; ``top`` is ``--topspeed``). For each target and
``--repeat`` times, the real command line captures while tcpreplay sends:

    cmppdissect -i lo -f 'host 198.51.100.7 and tcp port 7890' --report json -q

(``--records FMT``: ``-T FMT`` to ``/dev/null`` instead of ``-q``, the report to a file) and
the report is compared with the same file analysed offline, ``cmppdissect -r FILE
--report json`` (PDUs in all and requests/responses per command must be equal: no PDU lost
inside the analyzer). Printed as medians over the runs: tcpreplay's own achieved packet rate
and the PDU rate it means, PDUs in the capture against PDUs analysed, the kernel's counters
(``PACKET_STATISTICS``: packets received, dropped because the capture fell behind, and the
times the ring was full), the loopback backlog's drops (``/proc/net/softnet_stat``: packets the
kernel lost before any capture point), the analyzer's CPU time from "Capturing on" to its exit
(its start-up left out) and that over the replay's duration, and how long after the replay the
report came out (the drain). The reference runs, medians of ``--repeat``: the offline analysis
(wall and CPU) and ``cat FILE > /dev/null`` (wall).

The frames' MAC addresses are not lo's, so the kernel's IP stack drops them after the capture
point: the replay talks to nobody. On lo each frame passes the capture point leaving and
arriving; the capture keeps one copy (its BPF prologue drops ``PACKET_OUTGOING``), so the
kernel's received count equals the frames of the capture when nothing was lost.

``--python`` runs another checkout's interpreter (its venv, with the package installed in
development mode) to compare versions on the same captures in the same script; the commands
run in the scratch directory, so that ``python -m`` does not pick up the checkout it is run
from. Needs root and
tcpreplay.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_live import _wait_line
from gen_capture import SERVER_IP, SERVER_PORT, Tally, generate

FILTER = f"host {SERVER_IP} and tcp port {SERVER_PORT}"


def _softnet_dropped() -> int:
    """Packets the kernel's per-CPU input queues dropped (loopback delivers through them)."""
    with open("/proc/net/softnet_stat") as fh:
        return sum(int(line.split()[1], 16) for line in fh)


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


_ACTUAL = re.compile(r"Actual: (\d+) packets \((\d+) bytes\) sent in ([\d.]+) seconds")
_RATED = re.compile(r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps")
_FAILED = re.compile(r"Failed packets:\s+(\d+)")


def replay(path: Path, pps: float | None) -> dict[str, float]:
    """tcpreplay the file onto lo (preloaded in memory); what it says it achieved."""
    speed = ["--topspeed"] if pps is None else [f"--pps={pps:.0f}"]
    res = subprocess.run(["tcpreplay", "-i", "lo", "-K", *speed, str(path)],
                         capture_output=True, text=True, timeout=600, check=False)
    actual, rated = _ACTUAL.search(res.stdout), _RATED.search(res.stdout)
    if res.returncode != 0 or actual is None or rated is None:
        raise SystemExit(f"tcpreplay failed ({res.returncode}): {res.stdout}{res.stderr}")
    failed = _FAILED.search(res.stdout)
    return {"sent": int(actual.group(1)), "seconds": float(actual.group(3)),
            "pps": float(rated.group(1)), "failed": int(failed.group(1)) if failed else 0}


def capture_command(py: str, extra: list[str], records: str | None, work: Path) -> list[str]:
    """The command line measured: statistics only (``-q``), or records to stdout (``-T``)
    with the report in a file."""
    shown = ["-q"] if records is None else ["-T", records, "--report-file",
                                             str(work / "report.json")]
    return [py, "-m", "cmppdissect", "-i", "lo", "-f", FILTER, "--report", "json", *shown,
            *extra]


def one_run(command: list[str], path: Path, pps: float | None,
            expected: dict[str, Any]) -> dict[str, Any]:
    report_file = Path(command[command.index("--report-file") + 1]) \
        if "--report-file" in command else None
    analyzer = subprocess.Popen(
        command, stdout=subprocess.PIPE if report_file is None else subprocess.DEVNULL,
        stderr=subprocess.PIPE, cwd=path.parent)
    _wait_line(analyzer, "Capturing on")
    startup = _process_cpu(analyzer.pid)  # the interpreter and imports: not the capture's
    softnet = _softnet_dropped()
    sent = replay(path, pps)
    ended = time.monotonic()
    time.sleep(0.2)  # the last frames reach the capture point; then stop as an operator would
    analyzer.send_signal(signal.SIGINT)
    before = _children_cpu()
    out, err = analyzer.communicate(timeout=600)  # reaps it: its CPU joins the children's
    cpu = _children_cpu() - before - startup
    if analyzer.returncode != 0:
        raise SystemExit(f"the capture failed: {err.decode(errors='replace')}")
    report = json.loads(out if report_file is None else report_file.read_bytes())
    cap = report["capture"]
    commands = {name: (c["requests"], c["responses"]) for name, c in report["commands"].items()}
    return {
        "pps": sent["pps"], "replay_s": sent["seconds"], "sent": sent["sent"] - sent["failed"],
        "pdus_per_s": expected["pdus"] / sent["seconds"],
        "analysed": report["pdus"], "same_commands": commands == expected["commands"],
        "frames": cap["frames"], "received": cap["kernel_received"],
        "dropped": cap["kernel_dropped"], "ring_full": cap.get("kernel_ring_full", 0),
        "softnet": _softnet_dropped() - softnet,
        "cpu": cpu, "cpu_per_s": cpu / sent["seconds"], "drain_s": time.monotonic() - ended,
    }


def reference(py: str, path: Path, repeat: int) -> dict[str, Any]:
    """The same file analysed offline (what the live runs must match), and ``cat``."""
    walls, cpus, cats = [], [], []
    report: dict[str, Any] = {}
    for _ in range(repeat):
        before, start = _children_cpu(), time.perf_counter()
        res = subprocess.run([py, "-m", "cmppdissect", "-r", str(path), "--report", "json"],
                             capture_output=True, check=True, timeout=600, cwd=path.parent)
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - before)
        report = json.loads(res.stdout)
        start = time.perf_counter()
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
        cats.append(time.perf_counter() - start)
    return {"pdus": report["pdus"],
            "commands": {name: (c["requests"], c["responses"])
                         for name, c in report["commands"].items()},
            "wall": statistics.median(walls), "cpu": statistics.median(cpus),
            "cat": statistics.median(cats)}


def _capture_for(work: Path, frames: int, sessions: int,
                 cache: dict[int, tuple[Path, Tally]]) -> tuple[Path, Tally]:
    if frames not in cache:
        path = work / f"replay-{frames}.pcap"
        cache[frames] = (path, generate(path, frames=frames, seed=1, sessions=sessions))
    return cache[frames]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="50000,100000,150000,200000,top",
                    help="target PDUs/s, comma separated; top: tcpreplay --topspeed")
    ap.add_argument("--seconds", type=float, default=3.0, help="replay length at the target")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sessions", type=int, default=8, help="concurrent links in the capture")
    ap.add_argument("--python", default=sys.executable,
                    help="the interpreter whose cmppdissect captures (another checkout's venv)")
    ap.add_argument("--args", default="", help="more options for the capture, e.g. '-B 64'")
    ap.add_argument("--records", metavar="FORMAT",
                    help="-T FORMAT records to stdout (/dev/null) instead of -q, the report "
                         "to a file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_live_rate: needs root (AF_PACKET capture, tcpreplay)", file=sys.stderr)
        return 2
    extra = shlex.split(args.args)
    rates = [None if r == "top" else int(r) for r in args.rates.split(",")]
    top = max((r for r in rates if r is not None), default=100_000)
    cache: dict[int, tuple[Path, Tally]] = {}
    refs: dict[Path, dict[str, Any]] = {}
    ok = True
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        command = capture_command(args.python, extra, args.records, Path(tmp))
        print(f"capture: {shlex.join(command)}")
        for rate in rates:
            # About 1.13 frames per PDU in this mix (bare ACKs, and PDUs that share a segment).
            want = int((rate or top) * args.seconds * 1.13)
            path, tally = _capture_for(Path(tmp), want, args.sessions, cache)
            if path not in refs:
                refs[path] = ref = reference(args.python, path, args.repeat)
                print(f"\n{path.name}: {tally.frames:,} frames, {tally.pdus:,} PDUs "
                      f"({tally.data_segments:,} data segments, {tally.multi_pdu_segments:,} "
                      f"with several PDUs, {tally.split_pdus:,} PDUs split, "
                      f"{tally.bare_acks:,} bare ACKs); offline -r --report json: "
                      f"{ref['wall']:.2f} s wall, {ref['cpu']:.2f} s CPU "
                      f"({ref['pdus'] / ref['cpu']:,.0f} PDUs per CPU-second); "
                      f"cat: {ref['cat'] * 1000:.1f} ms")
                if ref["pdus"] != tally.pdus:
                    print(f"  offline analysis found {ref['pdus']} PDUs, the generator wrote "
                          f"{tally.pdus}")
                    ok = False
            ref = refs[path]
            pps = None if rate is None else rate * tally.frames / tally.pdus
            runs = [one_run(command, path, pps, ref) for _ in range(args.repeat)]
            ok &= _print_row(rate, tally, runs)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


_HEAD = (f"{'target':>8} {'pps':>9} {'PDUs/s':>9} {'PDUs capture/analysed':>22} "
         f"{'kernel rcvd/drop/full':>23} {'softnet':>7} {'CPU s':>6} {'CPU/s':>6} {'drain':>6}")


def _print_row(rate: int | None, tally: Tally, runs: list[dict[str, Any]]) -> bool:
    def med(key: str) -> float:
        return statistics.median(float(r[key]) for r in runs)

    print(_HEAD)
    print(f"{rate if rate else 'top':>8} {med('pps'):>9,.0f} {med('pdus_per_s'):>9,.0f} "
          f"{tally.pdus:>10,}/{med('analysed'):<11,.0f} "
          f"{med('received'):>9,.0f}/{med('dropped'):,.0f}/{med('ring_full'):<6,.0f} "
          f"{med('softnet'):>7,.0f} {med('cpu'):>6.2f} {med('cpu_per_s'):>6.2f} "
          f"{med('drain_s'):>6.2f}")
    whole = all(r["analysed"] == tally.pdus and r["same_commands"] for r in runs)
    # What the kernel handed over and the analyzer did not read: loss inside the analyzer.
    inside = [r["received"] - r["dropped"] - r["frames"] for r in runs]
    if not whole or any(inside):
        print(f"         per run: analysed {[r['analysed'] for r in runs]}, same commands "
              f"{[r['same_commands'] for r in runs]}, kernel drops "
              f"{[r['dropped'] for r in runs]}, softnet drops {[r['softnet'] for r in runs]}, "
              f"handed over but not read {inside}")
    # A PDU may be missing only where the kernel says it lost packets.
    return not any(inside) and all(
        (r["analysed"] == tally.pdus and r["same_commands"]) or r["dropped"] or r["softnet"]
        for r in runs)


if __name__ == "__main__":
    sys.exit(main())
