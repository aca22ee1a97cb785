"""Counters and latency samples, per command and per session (sans-IO, no numpy).

Latency samples are kept exactly (``array('q')``: 8 bytes per answered request) so
percentiles on files are exact, interpolated between ranks as ``numpy.percentile`` does by
default (linear). Everything else is a counter, so memory stays flat for any capture size.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * p / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


@dataclass(slots=True)
class Latency:
    samples_ns: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]

    def add(self, ns: int) -> None:
        self.samples_ns.append(ns)

    def summary_ms(self) -> dict[str, float | None]:
        if not self.samples_ns:
            return {k: None for k in ("min", "mean", "p50", "p90", "p99", "max")}
        values = sorted(self.samples_ns)
        ms = 1e6
        return {
            "min": values[0] / ms,
            "mean": sum(values) / len(values) / ms,
            "p50": percentile(values, 50) / ms,
            "p90": percentile(values, 90) / ms,
            "p99": percentile(values, 99) / ms,
            "max": values[-1] / ms,
        }

    def __len__(self) -> int:
        return len(self.samples_ns)


@dataclass(slots=True)
class CommandStats:
    requests: int = 0
    responses: int = 0
    paired: int = 0
    unanswered: int = 0
    orphan_responses: int = 0
    retransmitted: int = 0
    latency: Latency = field(default_factory=Latency)

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "responses": self.responses,
            "paired": self.paired,
            "unanswered": self.unanswered,
            "orphan_responses": self.orphan_responses,
            "retransmitted": self.retransmitted,
            "latency_ms": self.latency.summary_ms(),
        }


@dataclass(slots=True)
class Statistics:
    pdus: int = 0
    commands: dict[str, CommandStats] = field(default_factory=dict)  # by request name
    results: Counter[tuple[str, int]] = field(default_factory=Counter)  # (response, code)
    stats: Counter[str] = field(default_factory=Counter)  # report Stat values
    submit_to_report: Latency = field(default_factory=Latency)
    per_second: Counter[int] = field(default_factory=Counter)  # PDUs per capture second

    def command(self, name: str) -> CommandStats:
        entry = self.commands.get(name)
        if entry is None:
            entry = self.commands[name] = CommandStats()
        return entry
