"""``-T fields`` against ``tshark -T fields`` on the same file, over the capture suite.

    python bench/bench_fields.py [--frames N] [--runs R] [--only NAME,...]

Issue 15 asks for ``-T fields`` throughput against tshark's. Both print the same columns of
every CMPP PDU: the frame number, Command_Id, Sequence_Id, Msg_Id and a response's Result
(tshark: ``frame.number cmpp.Command_Id cmpp.Sequence_Id cmpp.Msg_Id
cmpp.submit_resp.Result`` with ``-Y cmpp``, the port given with ``-d``). Reference runs in the
same rounds: tshark, and ``cat FILE`` (reading the bytes at all, from the page cache). Each
capture of ``bench/suite.py`` (clean, irregular, jitter, loopback, ipv6, multi-if,
mixed-versions; 200,000 frames each by default) runs every contender in turn in each of
``--runs`` rounds; the table shows medians, and the ratios tshark/ours in wall time and in CPU
time (user + system of the child: ours may use a worker per spare core for records).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite
from bench_engine import Timing, ours, timed

FIELDS = ["frame", "command_id", "sequence_id", "Msg_Id", "Result"]
TSHARK_FIELDS = ["frame.number", "cmpp.Command_Id", "cmpp.Sequence_Id", "cmpp.Msg_Id",
                 "cmpp.submit_resp.Result"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=200_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--only", default="")
    args = p.parse_args(argv)
    tshark = shutil.which("tshark")
    if tshark is None:
        print("tshark is not installed: only cat is the reference", file=sys.stderr)
    directory = Path(tempfile.gettempdir()) / "cmppdissect-bench" / f"suite-{args.frames}"
    captures = suite.build_suite(directory, frames=args.frames, seed=1)
    wanted = [n for n in args.only.split(",") if n] or list(captures)
    print(f"load average {os.getloadavg()[0]:.2f}, {args.runs} rounds, "
          f"{args.frames:,} frames per capture")
    print(f"{'capture':<16} {'cat s':>7} {'ours s':>8} {'tshark s':>9} {'ts/ours wall':>13} "
          f"{'ts/ours cpu':>12} {'ours/cat':>9}")
    wall_ratios, cpu_ratios = [], []
    for name in wanted:
        path = str(captures[name])
        cmd_ours = ours("-T", "fields", *[x for f in FIELDS for x in ("-e", f)], path)
        cmd_tshark = [tshark, "-r", path, "-d", "tcp.port==7890,cmpp", "-Y", "cmpp",
                      "-T", "fields", *[x for f in TSHARK_FIELDS for x in ("-e", f)]] \
            if tshark else None
        timed(["cat", path])  # into the page cache first
        runs: dict[str, list[Timing]] = {"cat": [], "ours": [], "tshark": []}
        for _ in range(args.runs):
            runs["cat"].append(timed(["cat", path]))
            runs["ours"].append(timed(cmd_ours))
            if cmd_tshark:
                runs["tshark"].append(timed(cmd_tshark, timeout_s=1800))
        for label, timings in runs.items():
            bad = [t for t in timings if t.rc]
            if bad:
                print(f"{name}: {label} failed: {bad[0].err}", file=sys.stderr)
                return 1
        med = {k: (statistics.median(t.wall_s for t in v), statistics.median(t.cpu_s for t in v))
               for k, v in runs.items() if v}
        ts = med.get("tshark")
        wall = ts[0] / med["ours"][0] if ts else None
        cpu = ts[1] / med["ours"][1] if ts else None
        if wall is not None and cpu is not None:
            wall_ratios.append(wall)
            cpu_ratios.append(cpu)
        print(f"{name:<16} {med['cat'][0]:>7.3f} {med['ours'][0]:>8.3f} "
              f"{(f'{ts[0]:.2f}' if ts else '-'):>9} {(f'{wall:.1f}x' if wall else '-'):>13} "
              f"{(f'{cpu:.1f}x' if cpu else '-'):>12} "
              f"{med['ours'][0] / med['cat'][0]:>8.0f}x")
    if wall_ratios:
        print(f"median over captures: tshark/ours {statistics.median(wall_ratios):.1f}x wall, "
              f"{statistics.median(cpu_ratios):.1f}x CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
