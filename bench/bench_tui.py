"""The TUI on a million PDUs: time to the first screen, and how fast keys are served while the
capture is still being indexed.

    python bench/bench_tui.py [--file PCAP] [--frames N] [--runs R] [--keys K]

Issue 5 asks for the first screen "within about a second" on a 1,000,000-PDU capture, with
indexing going on in a background worker and scrolling and selection staying responsive. The
capture comes from ``bench/gen_capture.py`` (cached in the temp directory, or ``--file``).

What is measured, each in the same process and as medians over ``--runs`` runs:

* **first screen**: from creating the app (opening the file included) until the Sessions
  screen has painted its first session row. Reference: the same measure for a bare Textual app
  with one label, so the ratio says what this app adds to Textual's own start-up.
* **key latency while indexing**: ``pagedown`` and ``down`` on the PDU list, from posting the
  key event to the end of the repaint that shows its effect (a ``call_after_refresh`` hook; the
  headless driver skips only the final write to the terminal). Reference: the same keys once
  indexing has finished, so the ratio is the cost of sharing the interpreter with the indexer.
* **indexing**: wall time to index the whole file in the TUI, against the statistics alone
  (``cmppdissect.analyze(path).run()``, what ``--report json`` does), and the store's memory
  per PDU.
* **filter and search** (issue 14): on the indexed capture, the time the PDU list's filter
  (a header-key filter, body-field filters) and ``/`` search (a text present, one absent)
  take to go through every row, as the TUI's worker does (slices of 20,000 rows, the column
  path first, the decode for the rows it leaves open); medians of ``--runs``, with the rows
  decoded. Reference: the row-by-row path of the same filter or search (what the TUI did
  before), timed over the first ``--ref-rows`` rows and scaled to the whole capture.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Label

import cmppdissect
from cmppdissect.query.dfilter import compile_filter
from cmppdissect.tui.app import CmppApp, make_app
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.screens.sessions import SessionsScreen
from cmppdissect.tui.search import search_masks, search_predicate
from cmppdissect.tui.source import FileSource
from cmppdissect.tui.views import AllRows, FilteredRows, filter_predicate, filtered_view
from cmppdissect.tui.widgets.pdulist import PduList
from cmppdissect.tui.widgets.tables import SessionList

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_capture import generate

SIZE = (120, 40)


def capture(frames: int) -> Path:
    path = Path(tempfile.gettempdir()) / f"cmppdissect-bench-{frames}.pcap"
    if not path.exists():
        print(f"generating {path} ({frames:,} frames)...", flush=True)
        tmp = path.with_suffix(".part")
        generate(tmp, frames=frames)
        tmp.rename(path)
    return path


class Bare(App[None]):
    def compose(self) -> ComposeResult:
        yield Label("hello")


async def until(check: Callable[[], bool], limit_s: float = 120.0, *,
                poll_s: float = 0.001) -> None:
    end = time.perf_counter() + limit_s
    while not check():
        if time.perf_counter() > end:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(poll_s)


async def repainted(app: App[Any]) -> None:
    done = asyncio.Event()
    app.screen.call_after_refresh(done.set)
    await done.wait()


async def bare_first_screen() -> float:
    t0 = time.perf_counter()
    app = Bare()
    async with app.run_test(size=SIZE):
        await until(lambda: bool(app.screen.query(Label)))
        await repainted(app)
        return time.perf_counter() - t0


class KeyTimer:
    """Posts a key as the terminal would and waits for the repaint that shows its effect.

    Both waits are events (a watcher on the list's cursor, then a post-refresh callback), not
    polls: a poll would take the GIL from the indexer and slow down what is being measured.
    """

    def __init__(self, app: CmppApp, pdus: PduList) -> None:
        self.app = app
        self.moved = asyncio.Event()
        app.watch(pdus, "cursor", lambda _old, _new: self.moved.set(), init=False)

    async def press(self, key: str) -> float:
        assert self.app._driver is not None
        self.moved.clear()
        t0 = time.perf_counter()
        self.app._driver.send_message(events.Key(key, None))
        await asyncio.wait_for(self.moved.wait(), 30)
        await repainted(self.app)
        return time.perf_counter() - t0


async def keys_on_list(app: CmppApp, count: int) -> tuple[list[float], list[float], int]:
    """``count`` pagedowns then ``count`` downs on the PDU list; also how far indexing went."""
    pdus = app.screen.query_one(PduList)
    timer = KeyTimer(app, pdus)
    pages: list[float] = []
    downs: list[float] = []
    indexed_before = app.model.count
    for _ in range(count):
        need = pdus.cursor + 2 * pdus.page_rows
        await until(lambda need=need: len(pdus.view) > need, 60, poll_s=0.05)  # type: ignore[misc]
        pages.append(await timer.press("pagedown"))
    for _ in range(count):
        downs.append(await timer.press("down"))
    return pages, downs, app.model.count - indexed_before


async def tui_run(path: Path, keys: int, *, to_the_end: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    app = make_app(FileSource(str(path)))
    out: dict[str, Any] = {}
    async with app.run_test(size=SIZE):
        await until(lambda: isinstance(app.screen, SessionsScreen)
                    and bool(app.screen.query(SessionList)))
        await repainted(app)
        out["screen_up_s"] = time.perf_counter() - t0
        await until(lambda: app.screen.query_one(SessionList).row_count() > 0)
        await repainted(app)
        out["first_screen_s"] = time.perf_counter() - t0
        out["pdus_at_first_screen"] = app.model.count
        await app.switch_mode("pdus")
        await until(lambda: bool(app.screen.query(PduList)))
        await repainted(app)
        out["busy"] = await keys_on_list(app, keys)
        out["busy_done"] = app.model.progress.done
        if to_the_end:
            # poll gently: a tight poll takes the GIL from the indexer a thousand times a second
            await until(lambda: app.model.progress.done, 900, poll_s=0.1)
            out["index_s"] = app.model.progress.elapsed_s
            app.screen.model_changed()
            await repainted(app)
            out["idle"] = await keys_on_list(app, keys)
            out["pdus"] = app.model.count
            out["model_bytes"] = model_bytes(app)
        app.indexer.stop()
    return out


def model_bytes(app: CmppApp) -> int:
    store = app.model.store
    return round(store.bytes_per_pdu * store.count)


def headless_index(path: Path) -> float:
    t0 = time.perf_counter()
    cmppdissect.analyze(path).run()
    return time.perf_counter() - t0


def indexed_model(path: Path) -> CaptureModel:
    app = make_app(FileSource(str(path)))
    app.indexer.run()  # the indexer's body, in this thread
    return app.model


def scan(view: FilteredRows) -> float:
    """The worker's loop over every row of the view: seconds until it has caught up."""
    t0 = time.perf_counter()
    while not view.caught_up:
        view.advance(20_000)
    return time.perf_counter() - t0


def row_by_row(model: CaptureModel, predicate: Callable[[int], bool], rows: int) -> float:
    """The reference: the predicate on each of the first ``rows`` rows, scaled to all."""
    rows = min(rows, model.count)
    t0 = time.perf_counter()
    for row in range(rows):
        predicate(row)
    return (time.perf_counter() - t0) * model.count / rows


def filter_and_search(path: Path, runs: int, ref_rows: int) -> list[tuple[str, float, int, int,
                                                                         float]]:
    """(what, median seconds, rows decoded, rows kept, reference seconds) per measure."""
    model = indexed_model(path)
    first_submit = next(r for r in range(model.count) if model.command_id[r] == 4)
    dest = model.record_dict(first_submit)["fields"]["Dest_terminal_Id"][0]
    filters = [("filter, header keys", "command == SUBMIT_RESP and latency_ms > 10"),
               ("filter, body field (number)", "Result != 0"),
               ("filter, body field (string)", f'Dest_terminal_Id == "{dest}"'),
               ("filter, report field", 'Registered_Delivery == 1 && report.Stat != "DELIVRD"')]
    needles = [("search, present (a result name)", "flow control"),
               ("search, present (a recipient)", dest),
               ("search, absent", "13999999999")]
    out = []
    for what, expression in filters:
        compiled = compile_filter(expression)
        times, view = [], None
        for _ in range(runs):
            view = filtered_view(model, AllRows(model), compiled, expression)
            times.append(scan(view))
        assert view is not None
        ref = row_by_row(model, filter_predicate(model, compiled), ref_rows)
        out.append((f"{what}: {expression}", statistics.median(times), view.decoded, len(view),
                    ref))
    for what, needle in needles:
        times, view = [], None
        for _ in range(runs):
            view = FilteredRows(AllRows(model), search_predicate(model, needle), needle,
                                masks=search_masks(model, needle))
            times.append(scan(view))
        assert view is not None
        ref = row_by_row(model, search_predicate(model, needle), ref_rows)
        out.append((f"{what}: /{needle}", statistics.median(times), view.decoded, len(view),
                    ref))
    return out


def suite_filters(frames: int, runs: int, ref_rows: int) -> int:
    """Filter and search over each capture of the suite (built once, cached like the other
    benchmarks'), each measure's median per capture, then its worst over the suite: a figure
    that holds only on the clean capture is not one."""
    from suite import build_suite

    cache = Path(tempfile.gettempdir()) / "cmppdissect-bench" / f"suite-{frames}"
    worst: dict[str, tuple[float, str]] = {}
    for name, path in build_suite(cache, frames=frames, seed=1).items():
        print(f"\n{name}: {path}", flush=True)
        for what, median, decoded, kept, ref in filter_and_search(path, runs, ref_rows):
            print(f"  {what}\n    {median:.2f} s, {decoded:,} rows decoded, {kept:,} kept; "
                  f"row by row {ref:.1f} s", flush=True)
            kind = what.split(":", 1)[0]
            if median > worst.get(kind, (-1.0, ""))[0]:
                worst[kind] = (median, name)
    print(f"\nworst over the suite (median of {runs} each):")
    for kind, (median, name) in worst.items():
        print(f"  {kind:<34} {median:.2f} s ({name})")
    return 0


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, help="capture to use (default: generate one)")
    ap.add_argument("--frames", type=int, default=1_150_000,
                    help="frames of the generated capture (1.15M frames hold ~1M PDUs)")
    ap.add_argument("--runs", type=int, default=5, help="start-up runs (median)")
    ap.add_argument("--keys", type=int, default=20, help="key presses of each kind per run")
    ap.add_argument("--ref-rows", type=int, default=20_000,
                    help="rows the row-by-row reference of filter and search is timed over")
    ap.add_argument("--only-filter", action="store_true",
                    help="measure filter and search only (not start-up, keys, indexing)")
    ap.add_argument("--suite", type=int, default=0, metavar="FRAMES",
                    help="filter and search over every capture of bench/suite.py at FRAMES "
                         "frames (irregular ones included), then the worst of each measure")
    args = ap.parse_args(argv)
    if args.suite:
        return suite_filters(args.suite, args.runs, args.ref_rows)
    path = args.file or capture(args.frames)
    print(f"capture: {path} ({path.stat().st_size / 1e6:.0f} MB)", flush=True)

    found = filter_and_search(path, args.runs, args.ref_rows)
    print(f"\nfilter and search over every row (median of {args.runs}; reference: row by row, "
          f"the first {args.ref_rows:,} rows scaled to the capture):")
    for what, median, decoded, kept, ref in found:
        print(f"  {what}\n    {median:.2f} s, {decoded:,} rows decoded, {kept:,} kept; "
              f"row by row {ref:.1f} s; ratio {ref / median:.0f}x")
    if args.only_filter:
        return 0

    bare = [asyncio.run(bare_first_screen()) for _ in range(args.runs)]
    runs = [asyncio.run(tui_run(path, args.keys, to_the_end=False)) for _ in range(args.runs)]
    before = headless_index(path)  # the reference runs on both sides of the full TUI run,
    full = asyncio.run(tui_run(path, args.keys, to_the_end=True))
    headless = (before + headless_index(path)) / 2  # so a neighbour's load hits both alike

    first = [r["first_screen_s"] for r in runs]
    busy_pages = [t for r in runs for t in r["busy"][0]]
    busy_downs = [t for r in runs for t in r["busy"][1]]
    idle_pages, idle_downs, _ = full["idle"]
    during = [r["busy"][2] for r in runs]
    med = statistics.median
    print(f"\nPDUs in the capture: {full['pdus']:,}")
    print(f"first screen (Sessions painted, median of {args.runs}): {ms(first)}   "
          f"bare Textual app: {ms(bare)}   ratio {med(first) / med(bare):.1f}x")
    print(f"  of which the empty screen (before the first session is known): "
          f"{ms([r['screen_up_s'] for r in runs])}; PDUs indexed when the first row appeared "
          f"(median): {med(r['pdus_at_first_screen'] for r in runs):,.0f}")
    p90 = statistics.quantiles(busy_pages, n=10)[-1] * 1000
    print(f"key latency while indexing (median of {len(busy_pages)} each): "
          f"pagedown {ms(busy_pages)}, down {ms(busy_downs)}; p90 pagedown {p90:.1f} ms")
    print(f"  indexing went on meanwhile: {med(during):,.0f} PDUs per run (median); "
          f"runs that finished indexing first: {sum(r['busy_done'] for r in runs)}")
    print(f"key latency after indexing: pagedown {ms(idle_pages)}, down {ms(idle_downs)}; "
          f"ratio busy/idle: pagedown {med(busy_pages) / med(idle_pages):.1f}x, "
          f"down {med(busy_downs) / med(idle_downs):.1f}x")
    print(f"indexing in the TUI: {full['index_s']:.1f} s   engine alone: {headless:.1f} s   "
          f"ratio {full['index_s'] / headless:.2f}x")
    print(f"model memory: {full['model_bytes'] / full['pdus']:.1f} bytes per PDU "
          f"({full['model_bytes'] / 1e6:.0f} MB); peak RSS of this process "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
