"""The engine's counters in the Prometheus exposition format (``--metrics ADDR:PORT``).

:class:`EngineCollector` is a ``prometheus_client`` collector whose :meth:`collect` reads the
engine's own numbers when Prometheus scrapes: the compiled core's per-command counters,
latency samples, Result and Stat counts, reconciliation and table sizes, the Python engine's
logins, and the capture's kernel counters. Nothing is counted a second time here, so the
metrics cannot drift from ``--report json``.

The engine is fed in another thread than the HTTP server's: the collector takes the lock the
driver holds while it feeds a batch (``Analysis.lock``), copies what it needs, lets go, and
works the families out from the copy.

Label values are bounded and safe. SP ids come from the wire: each is made of
``[0-9A-Za-z._:-]`` (any other character percent-encoded as UTF-8, at most 32 characters); the first
``max_sp`` SP ids seen keep their own label, every later one is folded into ``sp="other"``,
and the engine gets a ``metrics-sp-cap`` finding the first time. ``sp="none"`` is a session
whose login was not seen; ``sp="retired"`` holds what sessions dropped from the engine's list
past ``max_sessions`` counted (the core keeps their totals per command, not per SP), so that
each family summed over ``sp`` is the capture's total. Result and Status codes above 255 are
``other``; report Stats past ``max_stats`` distinct ones are ``other``. Serving them (the HTTP
server) is the command line's business; this module does no I/O.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

import numpy as np
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from cmppdissect.core._engine import OTHER_KEY
from cmppdissect.engine import Engine
from cmppdissect.engine.sketch import Folded
from cmppdissect.protocol.commands import command_name
from cmppdissect.protocol.expert import Severity
from cmppdissect.protocol.report import stat_class

__all__ = ["LATENCY_BUCKETS_S", "MAX_SP_LABELS", "REPORT_BUCKETS_S", "EngineCollector",
           "LabelCap", "label_value"]

# Response times: a gateway answers in milliseconds; the spec's timeout is 60 s.
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                     10.0, 30.0, 60.0)
# SUBMIT to status report: seconds to hours (a report may wait for the handset).
REPORT_BUCKETS_S = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
                    86400.0)
MAX_SP_LABELS = 100
MAX_STAT_LABELS = 64
MAX_LABEL_CHARS = 32
OTHER, NONE, RETIRED = "other", "none", "retired"
_RESERVED = frozenset((OTHER, NONE, RETIRED))
_SAFE = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._:-")
_RESPONSE = 0x80000000
_COUNTERS = ("requests", "responses", "paired", "unanswered", "orphan_responses",
             "retransmitted")


def label_value(text: str) -> str:
    """Wire text as a label value: ``[0-9A-Za-z._:-]`` kept, anything else percent-encoded
    (UTF-8), at most ``MAX_LABEL_CHARS`` characters (then ``~``). A value that would read as
    one of the reserved labels (other, none, retired) has its first character encoded, so no
    SP can pass for them."""
    out = "".join(c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode("utf-8",
                                                                             "replace"))
                  for c in text)
    if out in _RESERVED:
        out = f"%{ord(out[0]):02X}{out[1:]}"
    if len(out) > MAX_LABEL_CHARS:
        out = out[:MAX_LABEL_CHARS - 1] + "~"
    return out


def code_label(code: int) -> str:
    """A Result or Status code as a label: the number up to 255, ``other`` above (a 3.0
    gateway's 4-byte codes could otherwise make any number of series)."""
    return str(code) if 0 <= code <= 255 else OTHER


class LabelCap:
    """Label values for wire text: the first ``cap`` distinct values keep their own (made
    safe), every later one is ``other``. ``on_fold`` is called once, the first time."""

    def __init__(self, cap: int, on_fold: Callable[[int], None] | None = None) -> None:
        if cap < 1:
            raise ValueError("a label cap is at least 1")
        self.cap = cap
        self.kept: dict[str, str] = {}
        self.folded = False
        self.on_fold = on_fold

    def __call__(self, value: str) -> str:
        label = self.kept.get(value)
        if label is not None:
            return label
        if len(self.kept) < self.cap:
            label = self.kept[value] = label_value(value)
            return label
        if not self.folded:
            self.folded = True
            if self.on_fold is not None:
                self.on_fold(self.cap)
        return OTHER


def _histogram(samples: Iterable[bytes], edges_ns: np.ndarray,
               folded: Iterable[Folded] = ()) -> tuple[np.ndarray, float]:
    """Cumulative bucket counts (each edge, then +Inf) and the sum in seconds of int64 ns
    samples, and of the samples ``folded`` into sketches past the budget (counted to the
    sketch's resolution: engine/sketch.py)."""
    arrays = [np.frombuffer(b, np.int64) for b in samples if b]
    counts = np.zeros(len(edges_ns) + 1, np.int64)
    total = 0.0
    if arrays:
        values = np.sort(np.concatenate(arrays))
        counts[:-1] = np.searchsorted(values, edges_ns, side="right")
        counts[-1] = len(values)
        total = float(values.sum()) / 1e9
    for sketch in folded:
        counts += [*(sketch.count_at_most(e) for e in edges_ns.tolist()), sketch.count]
        total += sketch.sketch.sum / 1e9
    return counts, total


def _family(name: str, doc: str, edges: tuple[float, ...], labels: list[str],
            series: Mapping[tuple[str, ...], tuple[np.ndarray, float]]) -> HistogramMetricFamily:
    fam = HistogramMetricFamily(name, doc, labels=labels)
    les = [*(repr(e) for e in edges), "+Inf"]
    for key, (counts, total) in sorted(series.items()):
        if counts[-1]:
            fam.add_metric(list(key), list(zip(les, counts.tolist(), strict=True)), total)
    return fam


class Analysed(Protocol):
    """What the collector reads: an engine (None before the analysis started) and the lock
    its driver holds while feeding it (``cmppdissect.api.Analysis`` is one)."""

    @property
    def engine(self) -> Engine | None: ...

    @property
    def lock(self) -> threading.Lock: ...


class EngineCollector(Collector):
    """Metric families from one engine, worked out at each scrape.

    ``analysis`` gives what is being analysed (None before it is opened); ``capture`` gives
    the live capture's counters (``kernel_received``, ``kernel_dropped``), or None for a file
    (or is None itself): a file has no kernel counters to export, not counters of 0.
    """

    def __init__(self, analysis: Callable[[], Analysed | None], *,
                 capture: Callable[[], Mapping[str, Any] | None] | None = None,
                 max_sp: int = MAX_SP_LABELS, max_stats: int = MAX_STAT_LABELS) -> None:
        self.analysis = analysis
        self.capture = capture
        self.sp = LabelCap(max_sp, self._sp_folded)
        self.stats = LabelCap(max_stats)
        self._latency_edges = np.array([round(e * 1e9) for e in LATENCY_BUCKETS_S], np.int64)
        self._report_edges = np.array([round(e * 1e9) for e in REPORT_BUCKETS_S], np.int64)
        self._engine: Engine | None = None

    def _sp_folded(self, cap: int) -> None:
        if self._engine is not None:  # called under the lock, while the snapshot is taken
            self._engine.expert.note(
                Severity.NOTE, None, None, "metrics-sp-cap",
                f"more than {cap} SP ids: the metrics count the rest under sp=\"other\"")

    def _sp_of(self, sp_id: str | None) -> str:
        return NONE if not sp_id else self.sp(sp_id)

    def _sp_key(self, key: bytes) -> str:
        if key == OTHER_KEY:
            return OTHER
        return NONE if not key else self.sp(key.decode("ascii", "backslashreplace"))

    def _snapshot(self, engine: Engine) -> dict[str, Any]:
        """Everything the families need, copied from the engine (called under the lock)."""
        core = engine.core
        self._engine = engine
        sessions = []
        for sid in core.session_ids():
            s = core.session(sid)
            names = engine.sessions.get(sid)
            if s is None:
                continue
            sessions.append((self._sp_of(names.sp_id if names is not None else None), s))
        totals = core.commands()
        recon = core.reconciliation()
        snap = {
            "totals": totals,
            "latency": {rid: core.latency_samples(rid) for rid in totals},
            # the samples folded past the budget (-i), copied: the engine goes on folding
            "folded": {key: f.copy() for key, f in engine.sketches.by_key.items()},
            "results": core.result_counts(),
            "stats": core.report_stats(),
            "to_report": [(self._sp_key(key), key, entry["stats"])
                          for key, entry in recon["sp"].items()],
            "sessions": sessions,
            "logins": [(self._sp_of(sp), status, n) for (sp, status), n in
                       engine.logins.items()] + [(OTHER, status, n) for status, n in
                                                 engine.logins_folded.items()],
            "tables": core.table_sizes(),
            "samples_held": core.samples_held,
            "sketches": len(engine.sketches.by_key),
            "pdus": core.pdus,
            "opened": len(sessions) + core.retired_sessions,
            "retired": core.retired_sessions,
            "skipped": core.skipped_bytes,
            "reader": core.reader_stats,
            "stat_labels": {stat: self.stats(stat.decode("ascii", "backslashreplace"))
                            for stat in core.report_stats()},
        }
        self._engine = None
        return snap

    def collect(self) -> Iterator[Metric]:
        analysis = self.analysis()
        snap = None
        if analysis is not None and analysis.engine is not None:
            with analysis.lock:
                snap = self._snapshot(analysis.engine)
        counters = self.capture() if self.capture is not None else None
        yield from self._families(snap, dict(counters) if counters is not None else None)

    # -- the families ---------------------------------------------------------------------------

    def _families(self, snap: dict[str, Any] | None,
                  capture: dict[str, Any] | None) -> Iterator[Metric]:
        if capture is not None:
            for key, doc in (("kernel_received", "Packets the kernel passed to the capture"),
                             ("kernel_dropped", "Packets the kernel dropped (analyzer too "
                                                "slow), lost before analysis")):
                fam = CounterMetricFamily(f"cmpp_{key.replace('kernel_', 'kernel_packets_')}",
                                          doc)
                fam.add_metric([], int(capture.get(key, 0)))
                yield fam
        if snap is None:
            return
        yield from self._commands(snap)
        yield from self._results(snap)
        yield from self._reports(snap)
        yield from self._sessions(snap)
        reader = snap["reader"]
        for name, value, doc in (
                ("cmpp_capture_frames", reader["frames"], "Frames read from the capture"),
                ("cmpp_skipped_bytes", snap["skipped"],
                 "Bytes of CMPP streams skipped (no valid header: resynchronised)")):
            fam = CounterMetricFamily(name, doc)
            fam.add_metric([], value)
            yield fam
        gauge = GaugeMetricFamily("cmpp_awaiting_reports",
                                "SUBMITted Msg_Ids waiting for their status report")
        gauge.add_metric([], snap["tables"]["awaiting_reports"])
        yield gauge
        # Every table of the engine, each under its cap: what an operator watches to see a
        # capture's state stay bounded over days (and bench/bench_soak.py reads).
        gauge = GaugeMetricFamily("cmpp_state_entries",
                                  "Entries the analyzer holds now, per table (each capped)",
                                  labels=["table"])
        for table, n in sorted(snap["tables"].items()):
            gauge.add_metric([table], n)
        gauge.add_metric(["samples"], snap["samples_held"])
        gauge.add_metric(["sketches"], snap["sketches"])
        yield gauge
        gauge = GaugeMetricFamily("cmpp_metrics_sp_labels",
                                "SP ids with a label of their own (the rest are sp=\"other\")",
                                labels=["cap", "folded"])
        gauge.add_metric([str(self.sp.cap), str(self.sp.folded).lower()], len(self.sp.kept))
        yield gauge

    def _commands(self, snap: dict[str, Any]) -> Iterator[Metric]:
        per: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0] * 6)
        lat: dict[tuple[int, str], list[bytes]] = defaultdict(list)
        folded = snap["folded"]
        lat_folded: dict[tuple[int, str], list[Folded]] = defaultdict(list)
        for sp, s in snap["sessions"]:
            for rid, (*counters, samples) in s["commands"].items():
                row = per[(rid, sp)]
                for i, v in enumerate(counters):
                    row[i] += v
                lat[(rid, sp)].append(samples)
                mine = folded.get(("latency", s["id"], rid))
                if mine is not None:
                    lat_folded[(rid, sp)].append(mine)
        hist: dict[tuple[str, ...], tuple[np.ndarray, float]] = {}
        edges = self._latency_edges
        for (rid, sp), samples in lat.items():
            hist[(command_name(rid), sp)] = _histogram(samples, edges,
                                                       lat_folded.get((rid, sp), ()))
        for rid, totals in snap["totals"].items():
            # What retired sessions counted: the capture's totals less the listed sessions'.
            listed = [sum(row[i] for (r, _), row in per.items() if r == rid) for i in range(6)]
            retired = [t - n for t, n in zip(totals, listed, strict=True)]
            if any(retired):
                per[(rid, RETIRED)] = [max(0, v) for v in retired]
            counts, total = _histogram(
                (snap["latency"][rid],), edges,
                [f for k, f in folded.items() if k[0] == "latency" and k[2] & 0x1F == rid])
            name = command_name(rid)
            for (r, _sp), (c, t) in list(hist.items()):
                if r == name:
                    counts, total = counts - c, total - t
            if counts[-1] > 0:
                hist[(name, RETIRED)] = (counts, total)
        docs = ("Requests seen (resent ones included)", "Responses seen (orphans included)",
                "Requests answered", "Requests that timed out or whose session ended first",
                "Responses that matched no request", "Requests sent again")
        for i, (what, doc) in enumerate(zip(_COUNTERS, docs, strict=True)):
            fam = CounterMetricFamily(f"cmpp_{what}", f"{doc}, per request type and SP",
                                      labels=["command", "sp"])
            for (rid, sp), row in sorted(per.items()):
                fam.add_metric([command_name(rid), sp], row[i])
            yield fam
        fam = CounterMetricFamily("cmpp_pdus", "PDUs per Command_Id and SP",
                                  labels=["command", "sp"])
        for (rid, sp), row in sorted(per.items()):
            fam.add_metric([command_name(rid), sp], row[0])
            fam.add_metric([command_name(rid | _RESPONSE), sp], row[1])
        yield fam
        yield _family("cmpp_response_time_seconds",
                      "Request to response time, per request type and SP", LATENCY_BUCKETS_S,
                      ["command", "sp"], hist)
        gauge = GaugeMetricFamily("cmpp_requests_in_flight",
                                "Requests waiting for their response now, per SP",
                                labels=["sp"])
        pending: dict[str, int] = defaultdict(int)
        for sp, s in snap["sessions"]:
            pending[sp] += s["pending"]
        for sp, n in sorted(pending.items()):
            gauge.add_metric([sp], n)
        yield gauge

    def _results(self, snap: dict[str, Any]) -> Iterator[Metric]:
        per: dict[tuple[str, str, str], int] = defaultdict(int)
        listed: dict[tuple[int, int], int] = defaultdict(int)
        for sp, s in snap["sessions"]:
            for (cmd, code), n in s["results"].items():
                per[(command_name(cmd), code_label(code), sp)] += n
                listed[(cmd, code)] += n
        for (cmd, code), n in snap["results"].items():
            if n > listed[(cmd, code)]:
                per[(command_name(cmd), code_label(code), RETIRED)] += n - listed[(cmd, code)]
        fam = CounterMetricFamily("cmpp_responses_by_result",
                                  "Responses by Command_Id and Result (Status, Success_Id) "
                                  "code, per SP", labels=["command", "result", "sp"])
        for key, n in sorted(per.items()):
            fam.add_metric(list(key), n)
        yield fam
        logins: dict[tuple[str, str], int] = defaultdict(int)
        for sp, status, n in snap["logins"]:
            logins[(sp, code_label(status))] += n
        fam = CounterMetricFamily("cmpp_logins", "CONNECT_RESPs by SP and Status (0: logged "
                                  "in)", labels=["sp", "result"])
        for login, n in sorted(logins.items()):
            fam.add_metric(list(login), n)
        yield fam

    def _reports(self, snap: dict[str, Any]) -> Iterator[Metric]:
        stats: dict[tuple[str, str], int] = defaultdict(int)
        for stat, n in snap["stats"].items():
            text = stat.decode("ascii", "backslashreplace")
            stats[(snap["stat_labels"][stat], stat_class(text))] += n
        fam = CounterMetricFamily("cmpp_reports", "Status reports by Stat",
                                  labels=["stat", "class"])
        for key, n in sorted(stats.items()):
            fam.add_metric(list(key), n)
        yield fam
        delays: dict[tuple[str, ...], list[bytes]] = defaultdict(list)
        delays_folded: dict[tuple[str, ...], list[Folded]] = defaultdict(list)
        for sp, raw_sp, by_stat in snap["to_report"]:
            for stat, (_count, samples) in by_stat.items():
                delays[(sp,)].append(samples)
                mine = snap["folded"].get(("delays", raw_sp, stat))
                if mine is not None:
                    delays_folded[(sp,)].append(mine)
        edges = self._report_edges
        yield _family("cmpp_submit_to_report_seconds",
                      "SUBMIT to its status report, per SP", REPORT_BUCKETS_S, ["sp"],
                      {key: _histogram(samples, edges, delays_folded.get(key, ()))
                       for key, samples in delays.items()})

    def _sessions(self, snap: dict[str, Any]) -> Iterator[Metric]:
        up: dict[str, int] = defaultdict(int)
        for sp, s in snap["sessions"]:
            up[sp] += s["ended"] is None  # 0 for an SP whose sessions all ended
        gauge = GaugeMetricFamily("cmpp_sessions_up", "Sessions open now, per SP", labels=["sp"])
        for sp, n in sorted(up.items()):
            gauge.add_metric([sp], n)
        yield gauge
        fam = CounterMetricFamily("cmpp_sessions_opened", "Sessions seen (TCP connections "
                                  "analysed as CMPP)")
        fam.add_metric([], snap["opened"])
        yield fam
