"""The TUI's Messages screen (one row per request) on a big capture: how long its rows take to
build, what they cost in memory, and how long its filters take.

    python bench/bench_messages.py [--file PCAP] [--frames N] [--runs R]

The capture comes from ``bench/gen_capture.py`` (cached in the temp directory, or ``--file``).
What is measured, in one process:

* **build**: the rows built from an indexed capture (:class:`~cmppdissect.tui.transactions.
  TransactionTable` over the store the indexer filled, as the screen's worker does once the
  file has been read), and the indexing alone for reference; then both at once, in two
  threads, as when the screen is opened at the start (wall time to the last row).
  Reference: ``-T transactions`` over the same file (``Analysis.transaction_rows``, the same
  rows as dicts, streamed once).
* **memory**: the Arrow bytes the rows hold, per row.
* **filters**: the presets and a few typed filters over every row (slices of 20,000, the
  column path first, each row's record for what it leaves open, as the screen's filter
  worker does), medians of ``--runs``, with the rows read as records.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tui import capture

import cmppdissect
from cmppdissect.query.dfilter import compile_filter
from cmppdissect.tui.app import make_app
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.source import FileSource
from cmppdissect.tui.transactions import PRESETS, TX_NAMES, TransactionTable, TxFilter

FILTERS = (*(expr for expr, _what in PRESETS.values()), 'command == "SUBMIT"',
           "latency_ms > 50", 'long_outcome contains "rejected"',
           'recipients.report_stat == "EXPIRED"')


def indexed(path: Path) -> tuple[CaptureModel, float]:
    app = make_app(FileSource(str(path)))
    t0 = time.perf_counter()
    app.indexer.run()  # the indexer's body, in this thread
    return app.model, time.perf_counter() - t0


def built(model: CaptureModel) -> tuple[TransactionTable, float]:
    table = TransactionTable(model)
    t0 = time.perf_counter()
    table.run(lambda: False, poll_s=0.01)
    return table, time.perf_counter() - t0


def together(path: Path) -> tuple[TransactionTable, float]:
    """Indexing and building in two threads, as the app runs them: to the last row."""
    app = make_app(FileSource(str(path)))
    table = TransactionTable(app.model)
    t0 = time.perf_counter()
    worker = threading.Thread(target=table.run, args=(lambda: False,))
    worker.start()
    app.indexer.run()
    worker.join()
    return table, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--file", type=Path, help="capture to use (default: generate one)")
    ap.add_argument("--frames", type=int, default=500_000)
    ap.add_argument("--runs", type=int, default=3, help="runs of each filter (median)")
    args = ap.parse_args(argv)
    path = args.file or capture(args.frames)
    model, index_s = indexed(path)
    table, build_s = built(model)
    snapshot = table.snapshot
    _both, both_s = together(path)
    t0 = time.perf_counter()
    rows = sum(1 for _ in cmppdissect.analyze(path).transaction_rows())
    cli_s = time.perf_counter() - t0
    assert rows == snapshot.count, (rows, snapshot.count)
    print(f"capture: {path.name}, {model.count:,} PDUs, {snapshot.count:,} requests")
    print(f"index alone {index_s:.2f} s; rows built from the indexed store {build_s:.2f} s; "
          f"both at once {both_s:.2f} s; -T transactions (rows as dicts) {cli_s:.2f} s")
    print(f"rows: {snapshot.table.nbytes / 1e6:.1f} MB of Arrow columns, "
          f"{snapshot.table.nbytes / snapshot.count:.0f} B a row, "
          f"{snapshot.table.column(0).num_chunks} chunks")
    print(f"{'filter':45} {'kept':>8} {'records':>8} {'median s':>9}")
    for expression in FILTERS:
        compiled = compile_filter(expression, TX_NAMES)
        times = []
        for _ in range(args.runs):
            flt = TxFilter(compiled, expression)
            t0 = time.perf_counter()
            flt.advance(snapshot)
            times.append(time.perf_counter() - t0)
        kept = len(flt.order(snapshot))
        print(f"{expression:45} {kept:>8,} {flt.decoded:>8,} {statistics.median(times):>9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
