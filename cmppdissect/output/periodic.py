"""``--report-every S``: the ``--report json`` document of the analysis so far, every S seconds.

Two clocks, because the two kinds of input have different times:

* a capture file is reported on **capture time**: report k covers exactly the frames before
  the first frame's time plus k * S (:meth:`cmppdissect.api.Analysis.tick_every` cuts the
  reading there), so the series is the same however fast the file is read, and each report's
  ``period.time`` is that step;
* a live capture is reported on the **wall clock**, from a thread (:class:`WallClock`): report k
  is made k * S seconds after the capture started whether packets came or not (a quiet link is
  news too), built under :attr:`Analysis.lock <cmppdissect.api.Analysis.lock>` between two
  batches, as the metrics are read.

Each report goes to a new numbered file, ``FILE_00001_20261204235959.json`` (the ``-b`` ring's
names: a number counting from 1, the local time of the report), and replaces ``FILE`` itself,
so a log shipper can pick up the numbered files and a cron job read ``FILE``. Both are written
to a temporary file in the same directory and renamed over, so a reader sees a whole report or
the one before, never a part. ``-b files:N`` keeps the last N numbered reports (the oldest
deleted). The series ends with the final report, the one ``--report json`` prints once the
capture is over, marked ``"final": true``.

Every report carries ``period``: ``number``, ``clock`` (``"capture"`` or ``"wall"``),
``every_s``, ``time`` (seconds since 1970) and ``final``. A report that cannot be written is a
:class:`ReportError` (one line).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from cmppdissect.output.records import dump
from cmppdissect.sources.ring import Ring, RingSpec

__all__ = ["ReportError", "ReportSeries", "WallClock", "check_report_file", "write_report"]


class ReportError(Exception):
    """A periodic report cannot be written; the message is one line naming the file."""


class ReportSeries:
    """The reports of one run: each to ``FILE_NNNNN_TIME.EXT`` and to ``FILE``, atomically.

    ``keep``: how many numbered reports are kept (None: all).
    """

    def __init__(self, target: str, every_s: float, clock: str, *,
                 keep: int | None = None) -> None:
        self.target = target
        self.every_s = every_s
        self.clock = clock
        self.ring = Ring(target, RingSpec(files=keep), numbered=True)
        self.written = 0
        self.last: str | None = None
        self._lock = threading.Lock()  # the clock's thread and the final report
        self._mode = file_mode()  # read once, here, in the main thread

    def check(self) -> None:
        """Raise the OSError that writing next to ``FILE`` would (before reading)."""
        self.ring.check()

    def write(self, report: Mapping[str, Any], ts_ns: int, *, final: bool = False) -> str:
        """Write one report of time ``ts_ns`` (ns since 1970); its numbered file's name."""
        with self._lock:
            number = self.written + 1
            doc = {**report, "period": {"number": number, "clock": self.clock,
                                        "every_s": self.every_s, "time": ts_ns / 1e9,
                                        "final": final}}
            path = self.ring.advance(ts_ns)
            for where in (path, self.target):
                try:
                    self._atomic(where, doc)
                except OSError as exc:
                    raise ReportError(f"--report-every: {where}: {exc.strerror or exc}"
                                      ) from None
            self.written = number
            self.last = path
            return path

    def _atomic(self, path: str, doc: Mapping[str, Any]) -> None:
        write_report(path, doc, mode=self._mode)


def file_mode() -> int:
    """The mode ``open()`` would give a new file (read once: the umask is process-wide, so
    read it in the main thread)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def check_report_file(path: str) -> None:
    """Raise the OSError that writing the report to ``path`` would, before any work is done
    (a missing or read-only folder, a directory), making no file."""
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    with tempfile.TemporaryFile(dir=os.path.dirname(path) or "."):
        pass


def write_report(path: str, doc: Mapping[str, Any], *, mode: int | None = None) -> None:
    """Write ``doc`` (a report) to ``path`` atomically: to a temporary file beside it, renamed
    over it, so a reader (or a full disk) never sees part of one: the file holds the whole
    report or what it held before. ``mode``: :func:`file_mode` by default."""
    folder, name = os.path.split(path)
    fd, temp = tempfile.mkstemp(dir=folder or ".", prefix=f".{name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode() if mode is None else mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            dump(doc, out, indent=1)
            out.write("\n")
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


class WallClock:
    """Reports of a live capture on the wall clock: every ``series.every_s`` seconds after
    :meth:`start`, ``build()`` (None: nothing to report yet) is written to ``series`` from a
    thread. A report that cannot be written stops the clock, keeps the reason in
    :attr:`error` and calls ``on_error`` (the command line stops the capture)."""

    def __init__(self, series: ReportSeries, build: Callable[[], Mapping[str, Any] | None],
                 on_error: Callable[[], None] | None = None) -> None:
        self.series = series
        self.build = build
        self.on_error = on_error
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="report-every", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        start = time.monotonic()
        every = self.series.every_s
        step = 0
        while True:
            # The next step still to come: steps missed while the process could not run (a
            # host suspended, a stall) are skipped, not written in a burst of copies that a
            # ring (-b files:N) would keep instead of the reports before the stall.
            step = max(step + 1, int((time.monotonic() - start) // every) + 1)
            if self._stop.wait(max(0.0, start + step * every - time.monotonic())):
                return
            report = self.build()
            if report is None:
                continue
            try:
                self.series.write(report, time.time_ns())
            except ReportError as exc:
                self.error = str(exc)
                if self.on_error is not None:
                    self.on_error()
                return

    def stop(self) -> None:
        """Stop the clock (a report being written is finished first)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
