"""The indexing loop: a capture through the one driver into the store the TUI shows.

It runs in a worker thread so the first screen is up before the first PDU is read and the UI
stays live while a million PDUs go by. It reads the capture with
:class:`cmppdissect.api.Analysis`, as the command line does, publishes snapshots a few times a
second (not per batch: the UI only repaints that often anyway), builds the statistics report
only while someone looks at it, and honours pause and stop between batches.

**A cap on the rows held** (``max_pdus``; ``--max-pdus``, by default
:data:`LIVE_MAX_PDUS` for a live capture and none for a file): past it, the oldest rows go,
a tenth of the cap at a time (so it happens rarely: each time the rows left move, and every
list is renumbered), through :meth:`PduStore.release <cmppdissect.store.PduStore.release>`
as the streaming outputs let theirs go. The indexer asks for it between batches; the UI thread
does it (:meth:`release_rows`), with the indexer's lock held so no batch is being added, since
the UI's lists and screens hold row numbers that must move in the same instant
(:meth:`CaptureModel.release_oldest <cmppdissect.tui.model.CaptureModel.release_oldest>`).
Reading waits once half a chunk more than the cap is held, so the rows held never pass the cap
by more than a chunk. A request still awaiting its response once the cap less a chunk of rows
came after it stops holding the rows behind it (the store's ``window``): it goes with the
others, its late response still naming its frame. The first release adds the ``cap-tui-pdus``
finding. The statistics are the engine's and count every PDU.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cmppdissect.api import Analysis
from cmppdissect.engine.findings import cap_message
from cmppdissect.tui.model import CaptureModel, Progress
from cmppdissect.tui.source import CaptureSource

LIVE_MAX_PDUS = 2_000_000  # a live capture's default cap (about 130 MB of rows)
RELEASE_SHARE = 10  # a tenth of the cap goes at once


def release_chunk(max_pdus: int) -> int:
    """How many rows go at once under a cap of ``max_pdus``."""
    return max(1, max_pdus // RELEASE_SHARE)


class Indexer:
    def __init__(self, source: CaptureSource, analysis: Analysis, model: CaptureModel, *,
                 publish_every_s: float = 0.25, report_every_s: float = 1.0,
                 max_pdus: int = 0) -> None:
        if max_pdus < 0:
            raise ValueError(f"max_pdus must be >= 0 (0: no cap), not {max_pdus}")
        self.source = source
        self.analysis = analysis
        self.max_pdus = max_pdus
        self.chunk = release_chunk(max_pdus) if max_pdus else 0
        # What is kept after a release: a request waiting for its response holds no more.
        self.keep = max(1, max_pdus - self.chunk) if max_pdus else 0
        self.engine = analysis.start(keep_rows=True, window=self.keep)
        assert analysis.store is not None
        self.store = analysis.store
        self.store.capped = bool(max_pdus)
        self.model = model
        model.store = analysis.store
        model.max_pdus = max_pdus
        model.release_chunk = self.chunk
        # Called (from this thread) when rows should go: the app wakes its UI thread.
        self.on_release_due: Callable[[], None] | None = None
        self._released = threading.Event()
        self._noted_cap = False
        model.pair_timeout_ns = self.engine.timeout_ns
        model.capture_path = analysis.path
        model.capture_identity = getattr(source, "identity", None)
        self.publish_every_s = publish_every_s
        self.report_every_s = report_every_s
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._started = 0.0
        self._last_report = -1e9
        self._last_publish = 0.0
        self.idle_publish_s = 1.0
        self._lock = threading.Lock()  # held while the engine is fed, and while publishing
        self.finished = threading.Event()

    # -- control (any thread) -------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()
        self.model.set_progress(self._progress(done=False))

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        self.source.stop()

    # -- the loop (worker thread) ---------------------------------------------------------

    def _progress(self, *, done: bool, error: str | None = None) -> Progress:
        frac = 1.0 if done and not self.source.live else self.source.progress
        frames = self.engine.core.reader_stats["frames"]
        counters = self.source.counters() if self.source.live else (("frames", frames),)
        return Progress(frac, done, self.paused and not done, frames,
                        time.perf_counter() - self._started, counters, error,
                        live=self.source.live)

    def _publish(self, *, done: bool = False, error: str | None = None) -> None:
        now = time.perf_counter()
        self._last_publish = now
        report = done or (self.model.want_report.is_set()
                          and now - self._last_report >= self.report_every_s)
        if report:
            self._last_report = now
        self.model.publish(self.engine, self._progress(done=done, error=error), report=report)

    def run(self) -> None:
        self._started = time.perf_counter()
        model = self.model
        live = self.source.live
        # A live capture publishes more often: its rate is far lower, and a user watches it.
        publish_every = min(self.publish_every_s, 0.05) if live else self.publish_every_s
        last = 0.0
        known = 0
        sessions = self.engine.sessions
        running = self._running
        lock = self._lock
        analysis = self.analysis
        store = self.store
        capped = bool(self.max_pdus)
        try:
            self._publish()
            for chunk in self.source.chunks():  # blocks while a live wire is quiet
                if not running.is_set():
                    with lock:
                        self._publish()
                    running.wait()
                if self._stop.is_set():
                    return
                with lock:
                    analysis.feed(chunk)
                    if capped:
                        # Requests that waited past the rows kept are given up here, on the
                        # thread that writes the rows, not by whichever reader asks first.
                        _ = store.settled
                if capped and store.count > self.max_pdus:
                    self._wait_for_release()
                if live:
                    model.touch()
                now = time.perf_counter()
                if now - last >= publish_every or (len(sessions) != known and known < 64):
                    # A new link shows at once while the first screen fills; past that, a
                    # capture of short connections (one per message) must not publish per batch.
                    known = len(sessions)
                    with lock:
                        self._publish()
                    last = now
                if self.engine.stopped or self._stop.is_set():
                    break
            if self._stop.is_set():
                return
            with lock:
                analysis.finish()
                self._publish(done=True)
        except OSError as exc:
            with self._lock:
                self._publish(done=True, error=f"{self.source.name}: {exc.strerror or exc}")
        finally:
            self.source.close()
            self.finished.set()

    # -- the cap on rows held ------------------------------------------------------------

    def release_due(self) -> bool:
        return bool(self.max_pdus) and self.store.count > self.max_pdus

    def _wait_for_release(self) -> None:
        """Ask the UI thread to let rows go; past half a chunk over the cap, wait until it did
        (or the reading stops)."""
        self._released.clear()
        if self.on_release_due is not None:
            self.on_release_due()
        limit = self.max_pdus + max(1, self.chunk // 2)
        while self.store.count >= limit and not self._stop.is_set():
            if self._released.wait(0.1):
                self._released.clear()
            elif self.on_release_due is not None:
                self.on_release_due()  # asked again: the UI may have been busy

    def release_rows(self) -> int:
        """Let the oldest rows go if the cap is passed (the UI thread: the app's tick, or its
        answer to :attr:`on_release_due`); how many went. Waits for no one: when a worker is
        reading rows, the gate stays shut and the next call does it."""
        if not self.release_due():
            return 0
        model = self.model
        gate = model.rows_gate
        if not gate.shut():
            return 0
        store = self.store
        k = 0
        try:
            with self._lock:
                long_parts = self.engine.core.long_part_rows
                k = model.release_oldest(
                    lambda upto: store.release(upto, long_parts,
                                               at_least=max(1, self.chunk // 2)),
                    store.count - self.keep)
                if k and not self._noted_cap:
                    self._noted_cap = True
                    with self.analysis.lock:
                        self.engine.expert.cap("tui-pdus", None, None, cap_message(
                            "tui-pdus", {"max_pdus": self.max_pdus, "chunk": self.chunk}))
                    self._publish()  # the finding and the note show at once
        finally:
            gate.open()
        if k:
            self._released.set()
        return k

    def idle_publish(self) -> None:
        """Publish from the UI's tick while a live capture waits for packets.

        The indexer thread publishes only between batches, so on a quiet wire the sessions and
        statistics would freeze with the last packet (a link's end, its final TPS). The lock
        keeps this from running while the indexer is feeding the engine.
        """
        if not self.source.live or self.finished.is_set() or self.paused:
            return
        if time.perf_counter() - self._last_publish < self.idle_publish_s:
            return
        if self._lock.acquire(blocking=False):
            try:
                self._publish()
            finally:
                self._lock.release()


__all__ = ["LIVE_MAX_PDUS", "Indexer", "release_chunk"]
