"""Peak memory of the one-pass outputs at two capture sizes, over the capture suite.

    python bench/bench_memory.py [--small 200000] [--large 600000] [--only clean,irregular]

Issue 15: ``-T`` records, ``-T transactions`` and ``--parquet`` are written as the engine
streams, so their memory must not grow with the capture beyond what the statistics themselves
grow by. For every capture of ``bench/suite.py`` (clean, irregular, jitter, loopback, ipv6,
multi-if, mixed-versions; built once and cached under ``$TMPDIR/cmppdissect-bench``) at two
sizes, each command runs in its own process and its peak RSS is read from the kernel
(``resource.getrusage(RUSAGE_CHILDREN)`` after it). The reference is ``--report json`` on the
same file: what an output holds beyond it is the output's own memory, and the figure printed is
how much that grew from the small capture to the large one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite import build_suite

COMMANDS = {
    "--report json": ["--report", "json"],
    "-T jsonl": ["-T", "jsonl"],
    "-T transactions": ["-T", "transactions"],
    "--parquet": ["--parquet", "{tmp}"],
}


def peak_mb(args: list[str], path: Path) -> float:
    """Peak RSS of one run of the command line on ``path``, in MB."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = [a.replace("{tmp}", str(Path(tmp) / "out")) for a in args]
        code = (
            "import resource, subprocess, sys; "
            "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        out = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "cmppdissect",
                              *argv, str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=200_000, help="frames of the small suite")
    ap.add_argument("--large", type=int, default=600_000, help="frames of the large suite")
    ap.add_argument("--only", default=None, help="captures of the suite, e.g. clean,irregular")
    args = ap.parse_args(argv)
    cache = Path(tempfile.gettempdir()) / "cmppdissect-bench"
    sizes = (args.small, args.large)
    suites = {n: build_suite(cache / f"suite-{n}", frames=n, seed=1, only=args.only)
              for n in sizes}
    print(f"peak RSS in MB at {sizes[0]:,} / {sizes[1]:,} frames; growth beyond --report json's")
    worst: dict[str, float] = {}
    for name in suites[sizes[0]]:
        peaks = {cmd: [peak_mb(a, suites[n][name]) for n in sizes]
                 for cmd, a in COMMANDS.items()}
        ref = peaks["--report json"]
        print(f"{name}:")
        for cmd, (small, large) in peaks.items():
            grew = (large - ref[1]) - (small - ref[0])
            extra = "" if cmd == "--report json" else f"   own memory grew {grew:+.1f} MB"
            print(f"  {cmd:<16} {small:7.1f} {large:7.1f}{extra}", flush=True)
            if cmd != "--report json":
                worst[cmd] = max(worst.get(cmd, grew), grew)
    print("worst growth over the suite (large minus small, beyond --report json):")
    for cmd, grew in worst.items():
        print(f"  {cmd:<16} {grew:+.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
