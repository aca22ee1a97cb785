"""The one engine over the capture suite: ``--report json``, ``-T jsonl`` and the TUI's indexing
against tshark, ``cat`` and each other, plus peak memory.

    python bench/bench_engine.py [--frames N] [--runs R] [--tshark-runs T] [--skip-tshark]
                                 [--big-frames M] [--only NAME,...] [--json OUT]

Issue 11 ("One engine, compiled where it is hot") asks for these, on every capture of the suite
``bench/suite.py`` builds (clean, irregular, jitter, loopback, ipv6, multi-if, mixed-versions;
600,000 frames each by default, cached under ``$TMPDIR/cmppdissect-bench/suite-<frames>``):

* ``cmppdissect --report json FILE`` at least **20x faster** than the reference
  ``tshark -r FILE -d tcp.port==7890,cmpp -T fields -e cmpp.Command_Id -e cmpp.Sequence_Id``,
  in wall time **and** in CPU time (user + system of the child): the engine is one process
  with one analysis thread, so it cannot win the ratio by using the second core;
* ``cmppdissect -T jsonl FILE`` (a JSON record per PDU) at least **2x faster** than tshark;
* the TUI indexing a file in **at most 1.5x** the time ``--report json`` takes on it (the TUI
  drives the same engine, keeping every PDU in its store);
* the TUI's store at **most 67.5 bytes per PDU**;
* ``--report json`` peaking **under 300 MB** of RSS on a 2,000,000-frame capture
  (``--big-frames``: the clean capture built at that size only).

Each capture's contenders run in turn in every round (so a busy neighbour slows them alike):
tshark (only in the first ``--tshark-runs`` rounds: 15-30 s per capture, 110-250 s on
``loopback.pcap``, whose duplicated packets it handles badly), ``cat FILE > /dev/null`` (the
floor: reading the bytes at all, from the page cache: an untimed ``cat`` goes first),
``--report json`` and ``-T jsonl`` with stdout to ``/dev/null``, then the TUI in a child
process: the app is built as ``bench/bench_tui.py`` builds it, run headless at 120x40 until
the indexer is done; it reports the time to the first paint of the Sessions screen with a row
in it and the indexer's own elapsed time (from its thread's start, so without the interpreter's
start-up and imports, which the ``--report json`` time includes). Times are
medians of ``--runs`` rounds. Ratios between contenders of the same round (ours/cat, TUI/report)
are medians of the per-round ratios; ratios to tshark are ratios of the medians, since tshark
may have fewer rounds, or none in this invocation: ``--skip-tshark`` reuses the tshark timings
cached in ``tshark-times.json`` beside the captures (kept per capture, checked against the
file's size and build), so re-measuring ours is cheap.

Peak memory is measured in one more child per round, which runs the same command through a
tiny wrapper that reads its own ``VmHWM`` from ``/proc/self/status`` as it exits (a child's
``ru_maxrss`` seen from here would include this script's memory, which the kernel carries over
at exec, and ``RUSAGE_CHILDREN`` is a maximum over every child ever waited for); the wrapper
adds the peak of any process it forked. While it runs, its thread count is sampled from
``/proc`` (numpy's OpenBLAS starts one idle thread per extra core on import, so 2 threads on a
2-core machine is one working thread); CPU/wall says how many cores the engine keeps busy.
The load average is printed, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite

TSHARK_ARGS = ["-d", "tcp.port==7890,cmpp", "-T", "fields", "-e", "cmpp.Command_Id", "-e",
               "cmpp.Sequence_Id"]
TSHARK_CACHE = "tshark-times.json"
SIZE = (120, 40)

# The issue's targets.
REPORT_VS_TSHARK = 20.0  # tshark / --report json, wall and CPU, at least
JSONL_VS_TSHARK = 2.0  # tshark / -T jsonl, at least
TUI_VS_REPORT = 1.5  # TUI indexing / --report json wall, at most
BYTES_PER_PDU = 67.5  # TUI store, at most
RSS_LIMIT_MB = 300.0  # --report json on --big-frames, under

# Runs ``python -m cmppdissect ARGS`` and, as the interpreter exits, writes to argv[1] its own
# peak RSS (VmHWM, kB), the peak of any child it waited for, and its thread count then.
_PEAK_WRAPPER = """
import atexit, json, resource, runpy, sys
out = sys.argv[1]
def peak():
    status = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                status[key] = value.split()[0] if value.split() else ""
    except OSError:
        pass
    own = int(status.get("VmHWM", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with open(out, "w") as f:
        json.dump({"vmhwm_kb": own, "children_maxrss_kb": kids,
                   "threads_at_exit": int(status.get("Threads", 0))}, f)
atexit.register(peak)
sys.argv = ["cmppdissect", *sys.argv[2:]]
runpy.run_module("cmppdissect", run_name="__main__", alter_sys=True)
"""


# -- running children ------------------------------------------------------------------------


@dataclass
class Timing:
    wall_s: float
    cpu_s: float  # user + system of the child (and of any child it waited for)
    rc: int = 0
    timed_out: bool = False
    err: str = ""


def timed(argv: Sequence[str], *, stdout: str = os.devnull, timeout_s: float | None = None,
          watch: Callable[[int], None] | None = None) -> Timing:
    """Run ``argv`` with stdout to ``stdout``: wall time and the child's own rusage (wait4).

    ``watch(pid)``, if given, runs in a thread while the child runs (it must return when the
    child is gone).
    """
    with open(stdout, "wb") as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err)
        fired = threading.Event()

        def kill() -> None:
            fired.set()
            proc.kill()

        killer = threading.Timer(timeout_s, kill) if timeout_s else None
        if killer:
            killer.start()
        watcher = threading.Thread(target=watch, args=(proc.pid,), daemon=True) if watch else None
        if watcher:
            watcher.start()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if killer:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if watcher:
            watcher.join()
        err.seek(0)
        text = err.read().decode(errors="replace").strip()
    return Timing(wall, usage.ru_utime + usage.ru_stime, proc.returncode, fired.is_set(),
                  text[-800:] if proc.returncode else "")


class ThreadSampler:
    """Samples a process's thread count from /proc every few ms until it is gone."""

    def __init__(self, every_s: float = 0.005) -> None:
        self.every_s = every_s
        self.max_threads = 0

    def __call__(self, pid: int) -> None:
        path = f"/proc/{pid}/status"
        while True:
            try:
                with open(path) as fh:
                    text = fh.read()
            except OSError:
                return
            if "\nState:\tZ" in text:
                return
            for line in text.splitlines():
                if line.startswith("Threads:"):
                    self.max_threads = max(self.max_threads, int(line.split()[1]))
            time.sleep(self.every_s)


def ours(*args: str) -> list[str]:
    return [sys.executable, "-m", "cmppdissect", *args]


@dataclass
class Peak:
    rss_mb: float  # VmHWM of the process, plus the peak of any child it forked
    own_mb: float
    children_mb: float
    threads_sampled: int  # most threads seen while it ran
    wall_s: float
    cpu_s: float
    pdus: int | None


def peak_run(path: Path, scratch: Path) -> Peak:
    """``--report json`` through the wrapper: peak RSS, threads, and the report's PDU count."""
    peak_file, report_file = scratch / "peak.json", scratch / "report.json"
    peak_file.unlink(missing_ok=True)
    sampler = ThreadSampler()
    t = timed([sys.executable, "-c", _PEAK_WRAPPER, str(peak_file), "--report", "json",
               str(path)], stdout=str(report_file), watch=sampler)
    if t.rc != 0:
        raise RuntimeError(f"--report json failed ({t.rc}): {t.err}")
    info = json.loads(peak_file.read_text())
    try:
        pdus: int | None = int(json.loads(report_file.read_text())["pdus"])
    except (ValueError, KeyError):
        pdus = None
    own, kids = info["vmhwm_kb"] / 1024, info["children_maxrss_kb"] / 1024
    return Peak(own + kids, own, kids, max(sampler.max_threads, info["threads_at_exit"]),
                t.wall_s, t.cpu_s, pdus)


# -- the TUI, in its own process ---------------------------------------------------------------


async def _until(check: Callable[[], bool], limit_s: float, poll_s: float) -> None:
    end = time.perf_counter() + limit_s
    while not check():
        if time.perf_counter() > end:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(poll_s)


async def _tui_measure(path: str, limit_s: float) -> dict[str, Any]:
    t_import = time.perf_counter()
    from textual.app import App

    from cmppdissect.tui.app import make_app
    from cmppdissect.tui.screens.sessions import SessionsScreen
    from cmppdissect.tui.source import FileSource
    from cmppdissect.tui.widgets.tables import SessionList

    async def repainted(app: App[Any]) -> None:
        done = asyncio.Event()
        app.screen.call_after_refresh(done.set)
        await done.wait()

    t0 = time.perf_counter()
    out: dict[str, Any] = {"import_s": t0 - t_import}
    app = make_app(FileSource(path))
    try:
        async with app.run_test(size=SIZE):
            await _until(lambda: isinstance(app.screen, SessionsScreen)
                         and bool(app.screen.query(SessionList)), 60, 0.001)
            await _until(lambda: app.screen.query_one(SessionList).row_count() > 0, 60, 0.001)
            await repainted(app)
            out["first_paint_s"] = time.perf_counter() - t0
            # Poll gently: a tight poll would take the GIL from the indexer thread.
            await _until(lambda: app.model.progress.done, limit_s, 0.05)
            out["done_after_s"] = time.perf_counter() - t0
            progress = app.model.progress
            out["index_s"] = progress.elapsed_s
            out["error"] = progress.error
            out["pdus"] = app.model.store.count
            out["bytes_per_pdu"] = app.model.store.bytes_per_pdu
            app.indexer.stop()
    except Exception:  # the app failed (while indexing, or as it shut down): say so, keep going
        out["app_exception"] = traceback.format_exc()[-3000:]
    with open("/proc/self/status") as fh:
        hwm = next((int(line.split()[1]) for line in fh if line.startswith("VmHWM:")), 0)
    out["peak_rss_mb"] = hwm / 1024
    return out


def tui_child_main(path: str, limit_s: float) -> int:
    result = asyncio.run(_tui_measure(path, limit_s))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


def tui_run(path: Path, scratch: Path, limit_s: float) -> dict[str, Any]:
    out_file = scratch / "tui.json"
    t = timed([sys.executable, str(Path(__file__).resolve()), "--tui-child", str(path),
               "--tui-timeout", str(limit_s)], stdout=str(out_file), timeout_s=limit_s + 60)
    try:
        result: dict[str, Any] = json.loads(out_file.read_text())
    except ValueError:
        result = {}
    if t.rc != 0:
        result["app_exception"] = f"child exited with {t.rc}: {t.err}"
    result["process_wall_s"] = t.wall_s
    result["process_cpu_s"] = t.cpu_s
    return result


# -- tshark timings, cached beside the captures ---------------------------------------------


def tshark_version(tshark: str) -> str:
    try:
        out = subprocess.run([tshark, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.splitlines()[0] if out.stdout else "?"


def capture_key(directory: Path, name: str) -> dict[str, Any]:
    """What the cached tshark timings of a capture must match: its file, size and build."""
    path = directory / suite.FILES[name]
    meta = json.loads((directory / f"{name}.json").read_text())
    return {"file": path.name, "size": path.stat().st_size, "code": meta.get("code"),
            "frames_requested": meta.get("frames_requested"), "seed": meta.get("seed")}


def load_tshark_cache(directory: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((directory / TSHARK_CACHE).read_text())
    except (OSError, ValueError):
        return {}
    return data


def cached_tshark(cache: dict[str, Any], directory: Path, name: str) -> list[Timing] | None:
    entry = cache.get(name)
    if not entry or entry.get("capture") != capture_key(directory, name):
        return None
    return [Timing(r["wall_s"], r["cpu_s"], r.get("rc", 0), r.get("timed_out", False))
            for r in entry["runs"]]


def store_tshark(directory: Path, name: str, runs: list[Timing], version: str) -> None:
    cache = load_tshark_cache(directory)  # re-read: another capture may have been stored
    cache[name] = {"capture": capture_key(directory, name), "tshark": version,
                   "argv": ["tshark", "-r", "FILE", *TSHARK_ARGS],
                   "measured": now_iso(), "load_avg": list(os.getloadavg()),
                   "runs": [asdict(r) for r in runs]}
    tmp = directory / (TSHARK_CACHE + ".part")
    tmp.write_text(json.dumps(cache, indent=1) + "\n")
    os.replace(tmp, directory / TSHARK_CACHE)


# -- one capture -------------------------------------------------------------------------------


@dataclass
class CaptureResult:
    name: str
    path: str
    size_mb: float
    frames: int
    pdus: int | None = None
    tshark: list[Timing] = field(default_factory=list)
    tshark_cached: bool = False
    cat: list[Timing] = field(default_factory=list)
    report: list[Timing] = field(default_factory=list)
    jsonl: list[Timing] = field(default_factory=list)
    peaks: list[Peak] = field(default_factory=list)
    tui: list[dict[str, Any]] = field(default_factory=list)  # runs that finished indexing
    tui_failures: list[dict[str, Any]] = field(default_factory=list)  # runs that raised
    load: list[float] = field(default_factory=list)  # 1-minute load average before each round

    # medians and ratios (None where a contender was skipped or failed)
    def med(self, runs: list[Timing], attr: str = "wall_s") -> float | None:
        ok = [getattr(r, attr) for r in runs if r.rc == 0 or r.timed_out]
        return statistics.median(ok) if ok else None

    def shark_over(self, runs: list[Timing], attr: str) -> float | None:
        s, o = self.med(self.tshark, attr), self.med(runs, attr)
        return s / o if s is not None and o else None

    def per_round(self, num: list[float], den: list[float]) -> float | None:
        pairs = [a / b for a, b in zip(num, den, strict=False) if b]
        return statistics.median(pairs) if pairs else None

    def summary(self) -> dict[str, Any]:
        tui_index = [t["index_s"] for t in self.tui]
        return {
            "tshark_wall_s": self.med(self.tshark), "tshark_cpu_s": self.med(self.tshark, "cpu_s"),
            "tshark_timed_out": any(t.timed_out for t in self.tshark),
            "cat_wall_s": self.med(self.cat),
            "report_wall_s": self.med(self.report), "report_cpu_s": self.med(self.report, "cpu_s"),
            "jsonl_wall_s": self.med(self.jsonl), "jsonl_cpu_s": self.med(self.jsonl, "cpu_s"),
            "tui_index_s": statistics.median(tui_index) if tui_index else None,
            "tui_first_paint_s": (statistics.median([t["first_paint_s"] for t in self.tui])
                                  if self.tui else None),
            "tui_failures": len(self.tui_failures),
            "tui_bytes_per_pdu": max((t["bytes_per_pdu"] for t in self.tui), default=None),
            "tui_peak_rss_mb": max((t["peak_rss_mb"] for t in self.tui), default=None),
            "report_peak_rss_mb": max((p.rss_mb for p in self.peaks), default=None),
            "report_threads": max((p.threads_sampled for p in self.peaks), default=None),
            "report_vs_tshark_wall": self.shark_over(self.report, "wall_s"),
            "report_vs_tshark_cpu": self.shark_over(self.report, "cpu_s"),
            "jsonl_vs_tshark_wall": self.shark_over(self.jsonl, "wall_s"),
            "jsonl_vs_tshark_cpu": self.shark_over(self.jsonl, "cpu_s"),
            "report_over_cat": self.per_round([r.wall_s for r in self.report],
                                              [c.wall_s for c in self.cat]),
            "report_cpu_over_wall": self.per_round([r.cpu_s for r in self.report],
                                                   [r.wall_s for r in self.report]),
            "tui_over_report": self.per_round(tui_index, [r.wall_s for r in self.report]),
        }


def indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.strip().splitlines())


def check(label: str, t: Timing) -> Timing:
    if t.rc != 0 and not t.timed_out:
        print(f"    ! {label} exited with {t.rc}: {t.err[-300:]}", flush=True)
    if t.timed_out:
        print(f"    ! {label} timed out after {t.wall_s:.0f} s", flush=True)
    return t


def measure(name: str, path: Path, args: argparse.Namespace, tshark: str | None,
            cache: dict[str, Any], version: str, scratch: Path) -> CaptureResult:
    meta = json.loads((path.parent / f"{name}.json").read_text())
    res = CaptureResult(name, str(path), path.stat().st_size / 1e6, int(meta["frames"]))
    shark_rounds = min(args.tshark_runs, args.runs) if tshark and not args.skip_tshark else 0
    if not shark_rounds or args.reuse_tshark:
        got = cached_tshark(cache, path.parent, name)
        if got is not None:
            res.tshark, res.tshark_cached, shark_rounds = got, True, 0
        elif not shark_rounds:
            print("    (no cached tshark timings for this capture)")
    for i in range(args.runs):
        res.load.append(os.getloadavg()[0])
        parts: list[str] = []
        if i < shark_rounds:
            assert tshark is not None
            res.tshark.append(check("tshark", timed([tshark, "-r", str(path), *TSHARK_ARGS],
                                                    timeout_s=args.tshark_timeout)))
            parts.append(f"tshark {res.tshark[-1].wall_s:6.1f} s")
            store_tshark(path.parent, name, res.tshark, version)  # kept even if a later step fails
        # Untimed first: on this VM the page cache gives up a file that went unread for a
        # minute or two (loopback's tshark run), and every contender should read cached bytes.
        timed(["cat", str(path)])
        res.cat.append(check("cat", timed(["cat", str(path)])))
        parts.append(f"cat {res.cat[-1].wall_s:5.2f} s")
        res.report.append(check("--report json", timed(ours("--report", "json", str(path)))))
        parts.append(f"report {res.report[-1].wall_s:5.2f} s (CPU {res.report[-1].cpu_s:.2f})")
        if not args.skip_jsonl:
            res.jsonl.append(check("-T jsonl", timed(ours("-T", "jsonl", str(path)))))
            parts.append(f"jsonl {res.jsonl[-1].wall_s:5.1f} s")
        if not args.skip_tui:
            tui = tui_run(path, scratch, args.tui_timeout)
            if "app_exception" in tui:
                res.tui_failures.append(tui)
                print(f"    ! the TUI failed:\n{indent(tui['app_exception'])}", flush=True)
            if "index_s" in tui:
                res.tui.append(tui)
                parts.append(f"TUI index {tui['index_s']:5.2f} s")
        res.peaks.append(peak_run(path, scratch))
        res.pdus = res.peaks[-1].pdus
        print(f"  {name} round {i + 1}/{args.runs} (load {res.load[-1]:.2f}): "
              + ", ".join(parts), flush=True)
    for t in res.tui:
        if t.get("error"):
            print(f"    ! TUI indexing ended with an error: {t['error']}")
        if res.pdus is not None and t["pdus"] != res.pdus:
            print(f"    ! the TUI stored {t['pdus']:,} PDUs, --report json counted {res.pdus:,}")
    return res


# -- printing ----------------------------------------------------------------------------------


def fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def print_tables(results: list[CaptureResult]) -> None:
    print("\nTimes (medians; stdout to /dev/null; CPU = user + sys of the child):\n")
    print("| capture | frames | PDUs | MB | tshark wall / CPU | cat | --report json wall / CPU "
          "| -T jsonl wall / CPU | TUI index | TUI first paint |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        s = r.summary()
        shark = f"{fmt(s['tshark_wall_s'], '.1f')} / {fmt(s['tshark_cpu_s'], '.1f')} s"
        if s["tshark_timed_out"]:
            shark = ">= " + shark + " (timed out)"
        elif r.tshark_cached:
            shark += " (cached)"
        print(f"| {r.name} | {r.frames:,} | {fmt(r.pdus, ',')} | {r.size_mb:.0f} | {shark} "
              f"| {fmt(s['cat_wall_s'], '.3f')} s "
              f"| {fmt(s['report_wall_s'])} / {fmt(s['report_cpu_s'])} s "
              f"| {fmt(s['jsonl_wall_s'], '.1f')} / {fmt(s['jsonl_cpu_s'], '.1f')} s "
              f"| {fmt(s['tui_index_s'])} s | {fmt(s['tui_first_paint_s'], '.2f')} s |")
    print("\nRatios and memory (targets: tshark/report >= 20x wall and CPU, report/cat "
          "reported only, tshark/jsonl >= 2x, TUI/report <= 1.5x, store <= 67.5 B/PDU):\n")
    print("| capture | tshark / report wall | tshark / report CPU | report / cat "
          "| tshark / jsonl wall | tshark / jsonl CPU | TUI index / report | report CPU/wall "
          "| report threads | report peak RSS | TUI B/PDU | TUI peak RSS |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        s = r.summary()
        print(f"| {r.name} | {fmt(s['report_vs_tshark_wall'], '.1f', 'x')} "
              f"| {fmt(s['report_vs_tshark_cpu'], '.1f', 'x')} "
              f"| {fmt(s['report_over_cat'], '.1f', 'x')} "
              f"| {fmt(s['jsonl_vs_tshark_wall'], '.2f', 'x')} "
              f"| {fmt(s['jsonl_vs_tshark_cpu'], '.2f', 'x')} "
              f"| {fmt(s['tui_over_report'], '.2f', 'x')} "
              f"| {fmt(s['report_cpu_over_wall'], '.2f')} "
              f"| {fmt(s['report_threads'], 'd')} "
              f"| {fmt(s['report_peak_rss_mb'], '.1f', ' MB')} "
              f"| {fmt(s['tui_bytes_per_pdu'], '.1f')} "
              f"| {fmt(s['tui_peak_rss_mb'], '.0f', ' MB')} |")
    failed = [f"{r.name} {len(r.tui_failures)}" for r in results if r.tui_failures]
    if failed:
        print(f"\nTUI runs that raised (see the log above): {', '.join(failed)}")
    print("\n(report threads: the most seen in /proc while it ran, numpy's idle OpenBLAS thread "
          "included; report CPU/wall near 1 means one busy core. Ratios to tshark are ratios "
          "of medians; report/cat and TUI/report are medians of per-round ratios.)")


def verdicts(results: list[CaptureResult], big: Peak | None) -> dict[str, Any]:
    """The worst case over the captures of each requirement, and whether it meets the target."""

    def worst(key: str, pick: Callable[[list[float]], float]) -> tuple[float | None, str | None]:
        vals = [(r.summary()[key], r.name) for r in results if r.summary()[key] is not None]
        if not vals:
            return None, None
        value = pick([v for v, _ in vals])
        return value, next(n for v, n in vals if v == value)

    out: dict[str, Any] = {}

    def add(key: str, label: str, target: float, at_least: bool) -> None:
        value, where = worst(key, min if at_least else max)
        met = None if value is None else (value >= target if at_least else value <= target)
        out[key] = {"worst": value, "capture": where, "target": target,
                    "at_least": at_least, "met": met}
        sign = ">=" if at_least else "<="
        verdict = "n/a" if met is None else ("met" if met else "MISSED")
        print(f"  {label:<34} {fmt(value, '.2f'):>8}  ({where or '-'}; target {sign} "
              f"{target:g}: {verdict})")

    print("\nSummary: the worst capture for each requirement")
    add("report_vs_tshark_wall", "--report json vs tshark, wall", REPORT_VS_TSHARK, True)
    add("report_vs_tshark_cpu", "--report json vs tshark, CPU", REPORT_VS_TSHARK, True)
    add("jsonl_vs_tshark_wall", "-T jsonl vs tshark, wall", JSONL_VS_TSHARK, True)
    add("jsonl_vs_tshark_cpu", "-T jsonl vs tshark, CPU", JSONL_VS_TSHARK, True)
    add("tui_over_report", "TUI indexing / --report json", TUI_VS_REPORT, False)
    add("tui_bytes_per_pdu", "TUI store, bytes per PDU", BYTES_PER_PDU, False)
    value, where = worst("report_over_cat", max)
    out["report_over_cat"] = {"worst": value, "capture": where}
    print(f"  {'--report json / cat (no target)':<34} {fmt(value, '.2f'):>8}  ({where or '-'})")
    if big is not None:
        met = big.rss_mb < RSS_LIMIT_MB
        out["big_report_peak_rss_mb"] = {"value": big.rss_mb, "target": RSS_LIMIT_MB,
                                         "met": met}
        print(f"  {'--report json peak RSS, big file':<34} {big.rss_mb:8.1f}  (MB; target < "
              f"{RSS_LIMIT_MB:g}: {'met' if met else 'MISSED'})")
    return out


def code_state() -> str:
    """The commit, whether cmppdissect/ differs from it, and when the compiled core was built
    (read-only git commands: this script never changes the tree)."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, text=True,
                              capture_output=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "cmppdissect"], cwd=repo,
                               text=True, capture_output=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head, dirty = "?", ""
    built = max((p.stat().st_mtime for p in (repo / "cmppdissect" / "core").glob("*.so")),
                default=0.0)
    stamp = datetime.datetime.fromtimestamp(built).astimezone().isoformat(timespec="seconds")
    return (f"commit {head or '?'}{' + uncommitted changes in cmppdissect/' if dirty else ''}, "
            f"core built {stamp}")


def now_iso() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def load_str() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    first = (__doc__ or "").split("\n\n", 1)[0]
    ap = argparse.ArgumentParser(description=" ".join(first.split()))
    ap.add_argument("--frames", type=int, default=600_000,
                    help="frames per suite capture (default 600,000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", type=Path,
                    help="where the suite is cached (default $TMPDIR/cmppdissect-bench/"
                         "suite-FRAMES)")
    ap.add_argument("--only", metavar="NAME,...",
                    help=f"measure only these captures ({', '.join(suite.NAMES)})")
    ap.add_argument("--runs", type=int, default=3, help="rounds per capture (default 3)")
    ap.add_argument("--tshark-runs", type=int, default=1,
                    help="rounds that also run tshark (default 1)")
    ap.add_argument("--skip-tshark", action="store_true",
                    help=f"do not run tshark: reuse the timings in DIR/{TSHARK_CACHE}")
    ap.add_argument("--reuse-tshark", action="store_true",
                    help="reuse cached tshark timings where there are some, run tshark for "
                         "the other captures")
    ap.add_argument("--tshark-timeout", type=float, default=1800.0,
                    help="seconds before a tshark run is killed (default 1800)")
    ap.add_argument("--skip-jsonl", action="store_true", help="do not time -T jsonl")
    ap.add_argument("--skip-tui", action="store_true", help="do not time the TUI")
    ap.add_argument("--tui-timeout", type=float, default=900.0,
                    help="seconds to wait for the TUI's indexing (default 900)")
    ap.add_argument("--big-frames", type=int, default=2_000_000,
                    help="frames of the clean capture for the peak-RSS check (0: skip)")
    ap.add_argument("--json", type=Path, metavar="OUT", help="write every number here")
    ap.add_argument("--tui-child", metavar="PCAP", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.tui_child:
        return tui_child_main(args.tui_child, args.tui_timeout)
    if args.runs < 1 or args.tshark_runs < 0 or args.frames < 1:
        ap.error("--runs and --frames must be at least 1, --tshark-runs at least 0")

    root = Path(tempfile.gettempdir()) / "cmppdissect-bench"
    directory = args.dir or root / f"suite-{args.frames}"
    started = time.perf_counter()
    print(f"{now_iso()}: {Path(sys.argv[0]).name} {' '.join(sys.argv[1:])}")
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
          f"{platform.python_version()}; load average {load_str()}")
    paths = suite.build_suite(directory, args.frames, args.seed, args.only,
                              log=lambda msg: print("  " + msg, flush=True))
    print(f"captures: {directory}")
    tshark = shutil.which("tshark")
    version = tshark_version(tshark) if tshark else "not installed"
    if tshark is None and not args.skip_tshark:
        print("tshark not found: no tshark comparison (apt-get install tshark)")
    print(f"tshark: {version}; "
          + (f"timings reused from {directory / TSHARK_CACHE}" if args.skip_tshark
             else f"{min(args.tshark_runs, args.runs)} run(s) per capture"
                  + (" where not cached" if args.reuse_tshark else "")
                  + f", cached in {directory / TSHARK_CACHE}"), flush=True)
    code_before = code_state()
    print(f"code: {code_before}", flush=True)
    cache = load_tshark_cache(directory)

    results: list[CaptureResult] = []
    big: Peak | None = None
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for name, path in paths.items():
            print(f"\n{name}: {path.name}, {path.stat().st_size / 1e6:.0f} MB", flush=True)
            results.append(measure(name, path, args, tshark, cache, version, scratch))
        if args.big_frames > 0:
            big_dir = root / f"suite-{args.big_frames}"
            print(f"\nbig file: clean at {args.big_frames:,} frames in {big_dir}", flush=True)
            big_path = suite.build_suite(big_dir, args.big_frames, args.seed, ["clean"],
                                         log=lambda msg: print("  " + msg, flush=True))["clean"]
            timed(["cat", str(big_path)])
            big = peak_run(big_path, scratch)
            print(f"  --report json: {big.wall_s:.2f} s wall, {big.cpu_s:.2f} s CPU, "
                  f"{fmt(big.pdus, ',')} PDUs, peak RSS {big.rss_mb:.1f} MB "
                  f"(own {big.own_mb:.1f}, children {big.children_mb:.1f}), "
                  f"{big.threads_sampled} thread(s)")

    print_tables(results)
    verdict = verdicts(results, big)
    took = time.perf_counter() - started
    print(f"\nfinished {now_iso()} after {took / 60:.1f} min; load average {load_str()}")
    code_after = code_state()
    if code_after != code_before:
        print(f"WARNING: the code changed during the run; now {code_after}")
    if args.json:
        doc = {
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]], "finished": now_iso(),
            "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                        "load_avg_end": list(os.getloadavg())},
            "code_before": code_before, "code_after": code_after,
            "tshark": version, "suite_dir": str(directory), "frames": args.frames,
            "seed": args.seed, "runs": args.runs, "tshark_runs": args.tshark_runs,
            "captures": {r.name: {"summary": r.summary(), **asdict(r)} for r in results},
            "big": asdict(big) if big else None, "verdicts": verdict,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
