"""Summaries of the core's statistics: latency percentiles and rates over time (sans-IO).

The core keeps latencies as exact samples (8 bytes per paired response, in the session that saw
it) and counts per capture second; numpy turns them into what the report shows, without a
Python list of millions of ints. Percentiles are numpy's default (linear interpolation between
ranks), so a file's figures are exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

if TYPE_CHECKING:
    from array import array

    from cmppdissect.engine.sketch import Folded

SUMMARY_KEYS = ("min", "mean", "p50", "p90", "p99", "max")
Buffer: TypeAlias = "bytes | bytearray | memoryview | array[int]"  # int64 samples


def samples(raw: Buffer) -> np.ndarray:
    """The core's samples (native int64 bytes, or any int64 buffer) as an array, no copy."""
    return np.frombuffer(raw, dtype=np.int64)


def summarize_ms(parts: Iterable[Buffer | np.ndarray], folded: Folded | None = None
                 ) -> dict[str, float | None]:
    """min/mean/p50/p90/p99/max in ms over the samples (ns) of several parts, in order, and
    the samples ``folded`` into a sketch past the budget, if any (engine/sketch.py): then
    the percentiles are the sketch's, within its relative accuracy."""
    chunks = [p if isinstance(p, np.ndarray) else samples(p) for p in parts if len(p)]
    if folded is not None and folded.count:
        return _summarize_folded(chunks, folded)
    if not chunks:
        return dict.fromkeys(SUMMARY_KEYS)
    values = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    ms = 1e6
    return {"min": float(values.min()) / ms, "mean": float(values.mean()) / ms,
            "p50": float(p50) / ms, "p90": float(p90) / ms, "p99": float(p99) / ms,
            "max": float(values.max()) / ms}


def _summarize_folded(chunks: list[np.ndarray], folded: Folded) -> dict[str, float | None]:
    every = folded.copy()
    for chunk in chunks:
        every.add(chunk)
    ms = 1e6
    return {"min": every.min / ms, "mean": every.sketch.sum / every.count / ms,
            "p50": every.quantile(0.5) / ms, "p90": every.quantile(0.9) / ms,
            "p99": every.quantile(0.99) / ms, "max": every.max / ms}


def bucket_for(seconds: int, max_points: int = 600) -> int:
    """The bucket width (s) that keeps a series of ``seconds`` under ``max_points`` points."""
    return max(1, -(-seconds // max_points))


def _series(per_second: Mapping[int, int], start: int, end: int, bucket: int) -> list[float]:
    """Mean events per second in each ``bucket``-second slot from ``start`` to ``end``."""
    totals = [0] * ((end - start) // bucket + 1)
    for sec, n in per_second.items():
        if start <= sec <= end:
            totals[(sec - start) // bucket] += n
    return [t / bucket for t in totals]


def _latency_series(sums: Mapping[int, tuple[int, int]], start: int, end: int,
                    bucket: int) -> list[float | None]:
    acc = [[0, 0] for _ in range((end - start) // bucket + 1)]
    for sec, (total, n) in sums.items():
        if start <= sec <= end:
            a = acc[(sec - start) // bucket]
            a[0] += total
            a[1] += n
    return [t / n / 1e6 if n else None for t, n in acc]


def over_time(pdu_rate: Mapping[int, int], submit_rate: Mapping[int, int],
              submit_latency: Mapping[int, tuple[int, int]], width: int = 1,
              peak_pdus: int | None = None, peak_submits: int | None = None
              ) -> dict[str, Any]:
    """TPS and mean SUBMIT latency per bucket, for the report and the TUI's charts.

    The maps are keyed by the first second of slots ``width`` seconds wide (the core widens
    them on a long capture), so a bucket is a whole number of slots; the peaks are the most
    in one second (worked out from the maps when they are single seconds)."""
    if not pdu_rate:
        return {"start": None, "bucket_s": 1, "pdus_per_s": [], "submits_per_s": [],
                "submit_latency_ms": [], "peak_pdus_per_s": 0, "peak_submits_per_s": 0}
    start, end = min(pdu_rate), max(pdu_rate) + width - 1
    bucket = -(-bucket_for(end - start + 1) // width) * width
    return {"start": start, "bucket_s": bucket,
            "pdus_per_s": _series(pdu_rate, start, end, bucket),
            "submits_per_s": _series(submit_rate, start, end, bucket),
            "submit_latency_ms": _latency_series(submit_latency, start, end, bucket),
            "peak_pdus_per_s": (max(pdu_rate.values(), default=0)
                                if peak_pdus is None else peak_pdus),
            "peak_submits_per_s": (max(submit_rate.values(), default=0)
                                   if peak_submits is None else peak_submits)}
