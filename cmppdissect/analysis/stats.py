"""Counters, latency samples and rates, per command and per session (sans-IO).

Latency samples are kept exactly, as ``array('q')`` (8 bytes per answered request, stored once,
in the session that saw it), so percentiles on files are exact. They are computed by
``numpy.percentile`` itself, whose default (linear interpolation between ranks) is the one the
issue asks for, without ever building a Python list of millions of ints. Everything else is a
counter, so memory stays flat for any capture size apart from those 8 bytes per sample.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

SUMMARY_KEYS = ("min", "mean", "p50", "p90", "p99", "max")


def summarize_ms(parts: Iterable[array[int]]) -> dict[str, float | None]:
    """min/mean/p50/p90/p99/max in ms over the samples (ns) of several arrays."""
    import numpy as np

    chunks = [np.frombuffer(p, dtype=np.int64) for p in parts if len(p)]
    if not chunks:
        return dict.fromkeys(SUMMARY_KEYS)
    values = np.concatenate(chunks) if len(chunks) > 1 else chunks[0].copy()
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    ms = 1e6
    return {"min": float(values.min()) / ms, "mean": float(values.mean()) / ms,
            "p50": float(p50) / ms, "p90": float(p90) / ms, "p99": float(p99) / ms,
            "max": float(values.max()) / ms}


@dataclass(slots=True)
class Latency:
    samples_ns: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]

    def add(self, ns: int) -> None:
        self.samples_ns.append(ns)

    def summary_ms(self) -> dict[str, float | None]:
        return summarize_ms((self.samples_ns,))

    def __len__(self) -> int:
        return len(self.samples_ns)


@dataclass(slots=True)
class CommandStats:
    """One request type (keyed by the request's name; its response counts here too)."""

    requests: int = 0
    responses: int = 0
    paired: int = 0
    unanswered: int = 0
    orphan_responses: int = 0
    retransmitted: int = 0
    latency: Latency = field(default_factory=Latency)

    def counters(self) -> dict[str, int]:
        return {"requests": self.requests, "responses": self.responses, "paired": self.paired,
                "unanswered": self.unanswered, "orphan_responses": self.orphan_responses,
                "retransmitted": self.retransmitted}

    def as_dict(self) -> dict[str, object]:
        return {**self.counters(), "latency_ms": self.latency.summary_ms()}

    def absorb(self, other: CommandStats) -> None:
        """Add ``other``'s counters and samples (a session folded into the totals)."""
        self.requests += other.requests
        self.responses += other.responses
        self.paired += other.paired
        self.unanswered += other.unanswered
        self.orphan_responses += other.orphan_responses
        self.retransmitted += other.retransmitted
        self.latency.samples_ns.extend(other.latency.samples_ns)


@dataclass(slots=True)
class Rate:
    """Events per capture second: the series for TPS charts, and the peak second."""

    per_second: Counter[int] = field(default_factory=Counter)

    def add(self, ts_ns: int) -> None:
        self.per_second[ts_ns // 1_000_000_000] += 1

    def add_runs(self, seconds: Iterable[int], counts: Iterable[int]) -> None:
        for sec, n in zip(seconds, counts, strict=True):
            self.per_second[sec] += n

    @property
    def peak(self) -> int:
        return max(self.per_second.values(), default=0)

    def series(self, start: int, end: int, bucket: int) -> list[float]:
        """Mean events per second in each ``bucket``-second slot from ``start`` to ``end``."""
        out = [0.0] * ((end - start) // bucket + 1)
        for sec, n in self.per_second.items():
            if start <= sec <= end:
                out[(sec - start) // bucket] += n / bucket
        return out


@dataclass(slots=True)
class PeakRate:
    """The busiest second of a stream that arrives in time order, in constant memory.

    Sessions use this instead of :class:`Rate`: a series per session would cost memory per
    session and second, and the per-session view only needs the peak and the mean.
    """

    second: int = -1
    count: int = 0
    peak: int = 0

    def add(self, ts_ns: int) -> None:
        sec = ts_ns // 1_000_000_000
        if sec == self.second:
            self.count += 1
        else:
            self.second, self.count = sec, 1
        if self.count > self.peak:
            self.peak = self.count

    def add_runs(self, seconds: Iterable[int], counts: Iterable[int]) -> None:
        """As ``add`` for ``counts[i]`` events in each of ``seconds`` (ascending, distinct)."""
        for sec, n in zip(seconds, counts, strict=True):
            if sec == self.second:
                self.count += n
            else:
                self.second, self.count = sec, n
            if self.count > self.peak:
                self.peak = self.count


@dataclass(slots=True)
class SecondLatency:
    """Sum and count of latencies per capture second: mean latency over time, flat memory."""

    sums: dict[int, list[int]] = field(default_factory=dict)

    def add(self, ts_ns: int, latency_ns: int) -> None:
        slot = self.sums.get(ts_ns // 1_000_000_000)
        if slot is None:
            self.sums[ts_ns // 1_000_000_000] = [latency_ns, 1]
        else:
            slot[0] += latency_ns
            slot[1] += 1

    def add_many(self, ts_ns: list[int], latency_ns: list[int]) -> None:
        """As ``add`` for each pair (times ascending), summed per second with numpy."""
        if not ts_ns:
            return
        import numpy as np

        secs = np.asarray(ts_ns, dtype=np.int64) // 1_000_000_000
        lat = np.asarray(latency_ns, dtype=np.int64)
        starts = np.flatnonzero(np.concatenate(([True], secs[1:] != secs[:-1])))
        totals = np.add.reduceat(lat, starts).tolist()
        counts = np.diff(np.append(starts, len(secs))).tolist()
        for sec, total, n in zip(secs[starts].tolist(), totals, counts, strict=True):
            slot = self.sums.get(sec)
            if slot is None:
                self.sums[sec] = [total, n]
            else:
                slot[0] += total
                slot[1] += n

    def series_ms(self, start: int, end: int, bucket: int) -> list[float | None]:
        acc = [[0, 0] for _ in range((end - start) // bucket + 1)]
        for sec, (total, n) in self.sums.items():
            if start <= sec <= end:
                a = acc[(sec - start) // bucket]
                a[0] += total
                a[1] += n
        return [t / n / 1e6 if n else None for t, n in acc]


def bucket_for(seconds: int, max_points: int = 600) -> int:
    """The bucket width (s) that keeps a series of ``seconds`` under ``max_points`` points."""
    return max(1, -(-seconds // max_points))


@dataclass(slots=True)
class Statistics:
    """Totals of a capture or of one session. Samples live in the per-session instances."""

    pdus: int = 0
    commands: dict[str, CommandStats] = field(default_factory=dict)  # by request name
    results: Counter[tuple[str, int]] = field(default_factory=Counter)  # (response, code)
    stats: Counter[str] = field(default_factory=Counter)  # report Stat values
    submit_to_report: Latency = field(default_factory=Latency)
    pdu_rate: Rate = field(default_factory=Rate)
    submit_rate: Rate = field(default_factory=Rate)
    submit_latency: SecondLatency = field(default_factory=SecondLatency)

    def command(self, name: str) -> CommandStats:
        entry = self.commands.get(name)
        if entry is None:
            entry = self.commands[name] = CommandStats()
        return entry

    def over_time(self) -> dict[str, Any]:
        """TPS and mean SUBMIT latency per bucket, for the report and the TUI's sparklines."""
        seconds = self.pdu_rate.per_second
        if not seconds:
            return {"start": None, "bucket_s": 1, "pdus_per_s": [], "submits_per_s": [],
                    "submit_latency_ms": [], "peak_pdus_per_s": 0, "peak_submits_per_s": 0}
        start, end = min(seconds), max(seconds)
        bucket = bucket_for(end - start + 1)
        return {"start": start, "bucket_s": bucket,
                "pdus_per_s": self.pdu_rate.series(start, end, bucket),
                "submits_per_s": self.submit_rate.series(start, end, bucket),
                "submit_latency_ms": self.submit_latency.series_ms(start, end, bucket),
                "peak_pdus_per_s": self.pdu_rate.peak,
                "peak_submits_per_s": self.submit_rate.peak}
