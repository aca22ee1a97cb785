"""Latency and delay statistics past a budget of samples: DDSketches (sans-IO).

The core keeps every latency and SUBMIT-to-report delay as an exact sample, 8 bytes each, so
a file's percentiles are exact. A capture that runs for days (``-i``) or a statistic merged
from many partitions cannot keep every sample, so the engine may be given a budget
(``max_samples``): once the core holds more samples than that, they are drained into
:class:`Folded` summaries (a DDSketch each, from the ``ddsketch`` package, plus the exact
count, sum, min and max), one per statistic (a session's request type, the SUBMIT-to-report
delay, an SP's Stat). From then on a figure is read from the sketch merged with the samples
the core still holds: the percentiles within :data:`RELATIVE_ACCURACY` of the exact ones (a
relative error on the value), count, min, max and mean exact. The sketches are bounded (a
DDSketch at 1% covers 1 ns to hours in about 2,500 buckets) and merge exactly, which is what
scale-out needs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
from ddsketch.ddsketch import BaseDDSketch
from ddsketch.mapping import LogarithmicMapping
from ddsketch.store import DenseStore

__all__ = ["RELATIVE_ACCURACY", "Folded", "Sketches"]

#: The DDSketch's relative accuracy: a quantile read from a sketch is within 1% of the value
#: of the exact sample at that rank.
RELATIVE_ACCURACY = 0.01


class Folded:
    """Samples (ns) folded into a DDSketch, with their exact count, sum, min and max."""

    __slots__ = ("_mapping", "_negative", "_positive", "max", "min", "sketch")

    def __init__(self) -> None:
        self._mapping = LogarithmicMapping(RELATIVE_ACCURACY)
        self._positive, self._negative = DenseStore(), DenseStore()
        self.sketch = BaseDDSketch(self._mapping, self._positive, self._negative, 0.0)
        self.min = math.inf
        self.max = -math.inf

    @property
    def count(self) -> int:
        return int(self.sketch.count)

    def add(self, values: np.ndarray) -> None:
        if not len(values):
            return
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))
        add = self.sketch.add
        for value in values.tolist():
            add(value)

    def merge(self, other: Folded) -> None:
        self.sketch.merge(other.sketch)
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)

    def copy(self) -> Folded:
        out = Folded()
        out.merge(self)
        return out

    def quantile(self, q: float) -> float:
        value = self.sketch.get_quantile_value(q)
        return float("nan") if value is None else min(max(value, self.min), self.max)

    def count_at_most(self, bound: float) -> int:
        """How many samples are at most ``bound``, to the sketch's resolution (a sample in
        the bucket holding ``bound`` counts): what a Prometheus histogram's bucket wants."""
        below = 0.0
        mapping = self._mapping
        if bound >= 0:
            # every negative, and the zeros (what neither store holds)
            below += self.sketch.count - self._positive.count
            if self._positive.count and bound > 0:
                key = mapping.key(bound)
                below += sum(self._positive.bins[:max(0, key - self._positive.offset + 1)])
        elif self._negative.count:  # negatives are stored by magnitude
            key = mapping.key(-bound)
            below += sum(self._negative.bins[max(0, key - self._negative.offset):])
        return round(below)


class Sketches:
    """The folded statistics of one capture, by the keys of ``Core.drain_samples``."""

    def __init__(self, budget: int) -> None:
        self.budget = budget  # samples the core may hold (0: no budget, every sample exact)
        self.by_key: dict[tuple[Any, ...], Folded] = {}
        self.folded = 0  # samples folded so far
        self.drains = 0

    def __bool__(self) -> bool:
        return bool(self.folded)

    def fold(self, drained: Mapping[tuple[Any, ...], bytes]) -> None:
        for key, raw in drained.items():
            values = np.frombuffer(raw, dtype=np.int64)
            into = self.by_key.get(key)
            if into is None:
                into = self.by_key[key] = Folded()
            into.add(values)
            self.folded += len(values)
        self.drains += 1

    def retire(self, session: int) -> None:
        """A session dropped from the list: its latencies join the retired sessions', as the
        core's own samples do."""
        for key in [k for k in self.by_key if k[0] == "latency" and k[1] == session]:
            folded = self.by_key.pop(key)
            into = self.by_key.setdefault(("latency", -1, key[2] & 0x1F), Folded())
            into.merge(folded)

    def absorb(self, other: Sketches, session_offset: int = 0) -> None:
        """Add another capture's folded statistics (scale-out: a host's part), its sessions
        numbered from ``session_offset`` on: sketches merge losslessly."""
        for key, folded in other.by_key.items():
            if key[0] == "latency" and key[1] >= 0:
                key = ("latency", key[1] + session_offset, key[2])
            into = self.by_key.get(key)
            if into is None:
                self.by_key[key] = folded.copy()
            else:
                into.merge(folded)
        self.folded += other.folded
        self.drains += other.drains
        self.budget = max(self.budget, other.budget)

    def get(self, key: tuple[Any, ...]) -> Folded | None:
        return self.by_key.get(key)

    def merged(self, keys: Iterable[tuple[Any, ...]]) -> Folded | None:
        """The sketches of ``keys`` merged (a new one), None when none has any."""
        found = [self.by_key[k] for k in keys if k in self.by_key]
        if not found:
            return None
        out = found[0].copy()
        for other in found[1:]:
            out.merge(other)
        return out

    def keys(self, kind: str) -> Iterator[tuple[Any, ...]]:
        return (k for k in self.by_key if k[0] == kind)

    def latency(self, index: int) -> Folded | None:
        """One request type's latencies over every session (``Command_Id & 0x1F``, as the
        core's ``latency_samples``)."""
        return self.merged(k for k in self.keys("latency") if k[2] & 0x1F == index)

    def describe(self) -> dict[str, Any]:
        """What the report says about it (only once samples were folded)."""
        return {"exact": False, "sketch": "DDSketch", "relative_accuracy": RELATIVE_ACCURACY,
                "max_samples": self.budget, "bytes_per_sample": 8,
                "samples_folded": self.folded}
