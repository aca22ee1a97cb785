"""The TUI with a cap on the PDUs it holds (``--max-pdus``): what it holds, what letting the
oldest go costs, against the same capture with no cap.

    python bench/bench_tui_cap.py [--file PCAP] [--frames N] [--max-pdus M] [--max-samples S]

The capture comes from ``bench/gen_capture.py`` (cached in the temp directory, as
``bench_tui.py`` does, or ``--file``). Each mode runs in a process of its own (so that its
peak resident memory is its own): the app headless at 120x40 reads the whole file with the PDU
list shown and a display filter applied (so every release renumbers a list, a filter's rows
and the cursor), and says:

* **index**: wall time to read the whole capture in the TUI;
* **held**: the most rows the store ever held, and the memory of the rows held at the end
  (columns and deflated bytes);
* **releases**: how many times rows went, and how long the UI thread took for each (the
  store's columns moved, every list renumbered): median and worst;
* **peak RSS** of the process: the rows, and the engine's own state (``--max-samples`` bounds
  its latency samples, as on a live capture; a file's are otherwise all kept, exact).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tui import SIZE, capture, until

from cmppdissect.tui.app import make_app
from cmppdissect.tui.source import FileSource
from cmppdissect.tui.views import FilteredRows
from cmppdissect.tui.widgets.filterbar import FilterBar
from cmppdissect.tui.widgets.pdulist import PduList

FILTER = 'command == "CMPP_SUBMIT"'


async def run(path: Path, max_pdus: int, max_samples: int) -> dict[str, Any]:
    app = make_app(FileSource(str(path)), max_pdus=max_pdus,
                   analyzer_kwargs={"max_samples": max_samples})
    indexer = app.indexer
    times: list[float] = []
    release = indexer.release_rows

    def timed() -> int:
        t0 = time.perf_counter()
        k = release()
        if k:
            times.append(time.perf_counter() - t0)
        return k

    indexer.release_rows = timed  # type: ignore[method-assign]
    out: dict[str, Any] = {"max_pdus": max_pdus}
    async with app.run_test(size=SIZE):
        await app.switch_mode("pdus")
        await until(lambda: bool(app.screen.query(PduList)))
        app.screen.query_one(FilterBar).apply(FILTER)
        await until(lambda: app.model.progress.done, 1800, poll_s=0.1)
        store, model = app.model.store, app.model
        view = app.screen.query_one(PduList).view
        assert isinstance(view, FilteredRows)
        await until(lambda: view.caught_up and not indexer.release_due(), 120, poll_s=0.1)
        out.update(index_s=model.progress.elapsed_s, pdus=model.released + model.count,
                   held=model.count, held_peak=store.held_peak, released=model.released,
                   releases=len(times), filtered=len(view),
                   held_mb=(store._capacity * 50 + store.blobs.stored_bytes) / 1e6,
                   release_median_ms=1000 * statistics.median(times) if times else 0.0,
                   release_max_ms=1000 * max(times) if times else 0.0)
        indexer.stop()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, help="capture to use (default: generate one)")
    ap.add_argument("--frames", type=int, default=1_150_000,
                    help="frames of the generated capture (default 1,150,000: 1.02M PDUs)")
    ap.add_argument("--max-pdus", type=int, default=200_000, help="the cap (default 200,000)")
    ap.add_argument("--max-samples", type=int, default=4_000_000,
                    help="the engine's latency samples held exactly (default 4,000,000, as "
                    "live; 0: all)")
    ap.add_argument("--one", type=int, metavar="MAX_PDUS", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    path = args.file or capture(args.frames)
    if args.one is not None:
        print(json.dumps(asyncio.run(run(path, args.one, args.max_samples))))
        return 0
    rows = []
    for cap in (args.max_pdus, 0):
        done = subprocess.run([sys.executable, __file__, "--file", str(path), "--one",
                               str(cap), "--max-samples", str(args.max_samples)],
                              capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{path.name}: {rows[0]['pdus']:,} PDUs, filter {FILTER}, "
          f"--max-samples {args.max_samples:,}")
    print("| cap | index | rows held at most | memory of the rows held | releases | "
          "UI thread per release (median, worst) | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cap = f"{r['max_pdus']:,}" if r["max_pdus"] else "none"
        print(f"| {cap} | {r['index_s']:.1f} s | {r['held_peak']:,} | {r['held_mb']:.0f} MB | "
              f"{r['releases']} | {r['release_median_ms']:.0f} ms, {r['release_max_ms']:.0f} ms "
              f"| {r['peak_rss_mb']:.0f} MB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
