"""The indexing loop: a capture through the one driver into the store the TUI shows.

It runs in a worker thread so the first screen is up before the first PDU is read and the UI
stays live while a million PDUs go by. It reads the capture with
:class:`cmppdissect.api.Analysis`, as the command line does, publishes snapshots a few times a
second (not per batch: the UI only repaints that often anyway), builds the statistics report
only while someone looks at it, and honours pause and stop between batches.
"""

from __future__ import annotations

import threading
import time

from cmppdissect.api import Analysis
from cmppdissect.tui.model import CaptureModel, Progress
from cmppdissect.tui.source import CaptureSource


class Indexer:
    def __init__(self, source: CaptureSource, analysis: Analysis, model: CaptureModel, *,
                 publish_every_s: float = 0.25, report_every_s: float = 1.0) -> None:
        self.source = source
        self.analysis = analysis
        self.engine = analysis.start(keep_rows=True)
        assert analysis.store is not None
        self.model = model
        model.store = analysis.store
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


__all__ = ["Indexer"]
