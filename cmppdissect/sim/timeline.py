"""Timers for the sans-IO sessions: things to do at a given time, run when the driver says so.

The session never sleeps. It tells the driver its next deadline and the driver calls back
when that time has come (the aioquic ``get_timer``/``handle_timer`` pattern), so tests can run
a session on a made-up clock and the asyncio code stays a thin loop.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

Callback = Callable[[float], None]


class Timeline:
    """A heap of callbacks keyed by time; equal times run in the order they were added."""

    __slots__ = ("_heap", "_order")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callback]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def call_at(self, when: float, callback: Callback) -> None:
        heapq.heappush(self._heap, (when, next(self._order), callback))

    def next_deadline(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def run_due(self, now: float) -> None:
        """Run every callback due by ``now``, including ones that due callbacks add."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _when, _n, callback = heapq.heappop(heap)
            callback(now)

    def clear(self) -> None:
        self._heap.clear()
