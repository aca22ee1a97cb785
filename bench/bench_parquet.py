"""``--parquet DIR`` throughput against a reference on the same captures.

    python bench/bench_parquet.py [--frames N] [--runs R] [--only NAME,...]

Over the captures of ``bench/suite.py`` (built once, cached under
``$TMPDIR/cmppdissect-bench/suite-<frames>``), each round runs, in turn and with output to
``/dev/null`` or a scratch directory:

* ``cmppdissect --parquet DIR FILE`` (the three tables, every field of every PDU);
* the reference: ``tshark -r FILE -d tcp.port==7890,cmpp -T fields -e frame.number
  -e cmpp.Msg_Id`` when tshark is installed (two fields of every PDU), else ``cat FILE``
  (reading the bytes at all).

Times are medians of ``--runs`` rounds (wall time of the child); the ratio is the median of
the per-round ratios reference / ours (above 1: ``--parquet`` is faster). PDUs per second are
the PDUs written over our median time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite import build_suite


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default=None, help="captures of the suite, e.g. clean,irregular")
    args = ap.parse_args(argv)
    cache = Path(tempfile.gettempdir()) / "cmppdissect-bench" / f"suite-{args.frames}"
    captures = build_suite(cache, frames=args.frames, seed=1, only=args.only,
                           log=lambda m: print(m, file=sys.stderr))
    tshark = shutil.which("tshark")
    ref_name = "tshark -T fields" if tshark else "cat"
    ours_cmd = [sys.executable, "-m", "cmppdissect", "--parquet"]
    print(f"{'capture':<18} {'PDUs':>9} {'--parquet s':>12} {ref_name + ' s':>20} "
          f"{'ref/ours':>9} {'PDUs/s':>10}")
    ratios_all = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, path in captures.items():
            ref = ([tshark, "-r", str(path), "-d", "tcp.port==7890,cmpp", "-T", "fields",
                    "-e", "frame.number", "-e", "cmpp.Msg_Id"] if tshark
                   else ["cat", str(path)])
            ours: list[float] = []
            theirs: list[float] = []
            ratios: list[float] = []
            out = Path(scratch) / name
            for _ in range(args.runs):
                theirs.append(_timed(ref))
                ours.append(_timed([*ours_cmd, str(out), str(path)]))
                ratios.append(theirs[-1] / ours[-1])
            pdus = pq.read_metadata(out / "pdus.parquet").num_rows
            mine = statistics.median(ours)
            ratio = statistics.median(ratios)
            ratios_all.append(ratio)
            print(f"{name:<18} {pdus:>9} {mine:>12.2f} {statistics.median(theirs):>20.2f} "
                  f"{ratio:>9.2f} {pdus / mine:>10.0f}", flush=True)
    print(f"median ratio {ref_name} / --parquet over {len(ratios_all)} captures: "
          f"{statistics.median(ratios_all):.2f} ({os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
