"""One host's share of a scaled-out analysis: its chain of files through the one engine, and
what of the result merges (:class:`HostPart`).

:func:`analyze_host` is the task a Dask worker runs: pure (the same files give the same
part, whichever worker and however often it runs) and idempotent in what it writes (the
Parquet files go to temporary names first and are renamed into place, so a retried task
leaves the same files). Its result is plain data (numbers, bytes, dicts) that pickles small:
the counters, the exact samples (int64 ns, 8 bytes each), the per-session figures, and the
*loose ends* that other hosts may tie: the Msg_Ids still awaiting a status report at the end,
the reports that matched no SUBMIT of this host, and the reports it matched (another host may
have had the same id's report earlier, or a copy of it later).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cmppdissect.api import analyze
from cmppdissect.engine import Engine, ExpertItem, SessionNames
from cmppdissect.engine.sketch import Sketches
from cmppdissect.output.tables import TABLES
from cmppdissect.scale.hosts import Host, first_timestamp

__all__ = ["LOOSE_ENDS", "HostPart", "analyze_host", "host_pdus"]

OTHER_TABLES = tuple(t for t in TABLES if t != "pdus")
"""What a host's own task writes when tasks of its files' shares write its PDU rows."""

LOOSE_ENDS = 200_000
"""The most unmatched status reports a host hands to the merge (the core's own bound on the
Msg_Ids awaiting a report is the same by default). Past it the merge says the report sections
are not merged rather than give wrong numbers."""


@dataclass(slots=True)
class HostPart:
    """What one host's run hands to the merge (:mod:`cmppdissect.scale.merge`)."""

    host: str
    paths: list[str]  # the chain, in time order (files that could not be read left out)
    first_ts: list[int | None]  # each file's first frame time (ns), None without frames
    unreadable: list[str] = field(default_factory=list)  # one line per damaged file
    pdus: int = 0
    retired_sessions: int = 0
    first_ns: int = 0  # the core's first and last time (connections and PDUs)
    last_ns: int = 0
    commands: dict[int, tuple[int, ...]] = field(default_factory=dict)
    latency: dict[int, bytes] = field(default_factory=dict)
    result_counts: dict[tuple[int, int], int] = field(default_factory=dict)
    report_stats: dict[bytes, int] = field(default_factory=dict)
    submit_to_report: bytes = b""
    # per slot: PDUs, SUBMITs, latency (sum, count); the slots' width (s); the peaks
    rates: tuple[dict[int, int], dict[int, int], dict[int, tuple[int, int]], int, int, int] = (
        field(default_factory=lambda: ({}, {}, {}, 1, 0, 0)))
    sketches: Sketches | None = None  # samples folded past the budget (max_samples), if any
    samples: int = 0  # latency and delay samples taken, held or folded (against the budget)
    long_sms: dict[str, int] = field(default_factory=dict)
    links: dict[bytes, tuple[int, int, int]] = field(default_factory=dict)
    sessions: list[dict[str, Any]] = field(default_factory=list)  # the core's, in order
    names: dict[int, SessionNames] = field(default_factory=dict)
    reconciliation: dict[str, Any] = field(default_factory=dict)
    unreported_per_hour: dict[tuple[bytes, int], int] = field(default_factory=dict)
    awaiting: list[tuple[Any, ...]] = field(default_factory=list)  # every one (loose ends)
    # the reports matched here that the core still remembers (Core.matched_reports): another
    # host may have had the same id's report first, or a later copy of it
    matched: list[tuple[Any, ...]] = field(default_factory=list)
    # files of the chain that start well before the end of the one before them: captured
    # side by side, not rotated (MergedSource.overlaps)
    overlaps: list[tuple[str, str, float]] = field(default_factory=list)
    lost: tuple[Any, ...] = ({}, {}, [])
    expert_counts: Counter[Any] = field(default_factory=Counter)
    expert_items: list[ExpertItem] = field(default_factory=list)
    report_lists: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # per unmatched report listed: its near-miss candidates, the one its host found, its row
    near: list[tuple[tuple[tuple[int, int], ...], int, int]] = field(default_factory=list)
    awaited_again: int = 0  # Msg_Ids brought again while awaiting (Core.awaited_again)
    # per table bounded over all sessions: the most it held, and its cap (Core.cap_marks)
    cap_marks: dict[str, tuple[int, int]] = field(default_factory=dict)
    report_counts: Counter[str] = field(default_factory=Counter)
    report_for: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    parquet_rows: dict[str, int] = field(default_factory=dict)
    # one line per share of its files whose PDU rows could not be written (host_pdus failed)
    dataset_failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def read(self) -> bool:
        """Whether anything was read (some file of the host could be)."""
        return bool(self.paths)


def chain(host: Host) -> tuple[list[str], list[int | None], list[str]]:
    """The host's readable files in time order (their first frame's time; a file without
    frames last, ties in the order given), their first times, and one line per file that
    cannot be read as a capture. Read as a chain, each file after the one before: a file
    may start earlier than the one before it ends (a clock that ran backwards across the
    rotation), and its frames still come after that file's, as the capture wrote them."""
    timed: list[tuple[int, int, str, int | None]] = []
    unreadable = []
    for index, path in enumerate(host.paths):
        ts, why = first_timestamp(path)
        if why is not None:
            unreadable.append(why)
            continue
        timed.append((0 if ts is not None else 1, index, path, ts))
    timed.sort(key=lambda t: (t[0], t[3] or 0, t[1]))
    return [t[2] for t in timed], [t[3] for t in timed], unreadable


def _engine_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`cmppdissect.analyze`'s settings of a host's engine: every unmatched report is a
    loose end the merge may tie to another host's SUBMIT, so all of them are listed."""
    limits = dict(settings)
    loose = int(limits.pop("max_loose_ends", LOOSE_ENDS))
    limits["max_report_listed"] = max(int(limits.get("max_report_listed", 1000)), loose)
    return limits


def analyze_host(host: Host, settings: Mapping[str, Any],
                 parquet: str | None = None, *, pdus: bool = True) -> HostPart:
    """Analyse one host's chain as one stream (the one engine), and hand over its part.

    ``settings`` are :func:`cmppdissect.analyze`'s, and ``max_loose_ends`` (default
    :data:`LOOSE_ENDS`); ``parquet``: also write the host's rows into that dataset directory
    (:mod:`cmppdissect.scale.dataset`): every table's, or without ``pdus`` the transactions
    and sessions only (:func:`host_pdus` tasks write the PDU rows, a share of the files
    each)."""
    started = time.perf_counter()
    paths, first, unreadable = chain(host)
    part = HostPart(host.name, paths, first, unreadable)
    if not paths:
        part.seconds = time.perf_counter() - started
        return part
    listed = int(settings.get("max_report_listed", 1000))
    analysis = analyze([paths], **_engine_settings(settings))  # one chain, file after file
    if parquet is not None:
        from cmppdissect.scale.dataset import write_host_tables

        part.parquet_rows = write_host_tables(analysis, host.name, parquet,
                                              tables=TABLES if pdus else OTHER_TABLES)
    analysis.run()
    part.overlaps = list(getattr(analysis.source, "overlaps", ()))
    engine = analysis.engine
    assert engine is not None
    _take(part, engine)
    part.settings["max_report_listed"] = listed
    part.seconds = time.perf_counter() - started
    return part


def host_pdus(host: Host, settings: Mapping[str, Any], parquet: str, first: int,
              stop: int) -> int:
    """Write the PDU table's rows of files ``first`` to ``stop`` of the host's chain (in its
    time order) into the dataset at ``parquet``; how many. The engine reads the whole chain,
    from its first file, so that each row is the one engine's (its session, its response
    and latency, its findings, the long message it completes); only the decoding of the
    rows, the bulk of the work, is this share's alone. A pure task, as :func:`analyze_host`
    (its files renamed into place at the end)."""
    from cmppdissect.scale.dataset import write_host_tables

    paths = chain(host)[0]
    if first >= len(paths):  # files left out (unreadable): this share has none
        return 0
    analysis = analyze([paths], **_engine_settings(settings))
    stop = min(stop, len(paths))
    return write_host_tables(analysis, host.name, parquet, tables=("pdus",),
                             files=None if (first, stop) == (0, len(paths)) else (first, stop)
                             )["pdus"]


def _take(part: HostPart, engine: Engine) -> None:
    """The engine's mergeable figures into ``part`` (copies: the engine goes away)."""
    core = engine.core
    part.pdus = core.pdus
    part.retired_sessions = core.retired_sessions
    part.first_ns, part.last_ns = core.first_ts, core.last_ts
    part.commands = dict(core.commands())
    part.latency = {cmd: bytes(core.latency_samples(cmd)) for cmd in part.commands}
    part.result_counts = dict(core.result_counts())
    part.report_stats = dict(core.report_stats())
    part.submit_to_report = bytes(core.submit_to_report_samples())
    part.rates = core.rates()
    part.sketches = engine.sketches if engine.sketches else None
    part.samples = core.samples_held + engine.sketches.folded
    part.long_sms = dict(core.long_sms())
    part.links = dict(core.links())
    for sid in core.session_ids():
        s = core.session(sid)
        names = engine.sessions.get(sid)
        if s is not None and names is not None:
            part.sessions.append(s)
            part.names[sid] = names
    part.reconciliation = core.reconciliation()
    per_hour, listing = core.unreported(core.awaiting_reports)
    part.unreported_per_hour = dict(per_hour)
    part.awaiting = list(listing)
    part.matched = core.matched_reports()
    part.lost = core.lost_requests(engine.max_report_listed)
    part.expert_counts = engine.expert.counts.copy()
    part.expert_items = list(engine.expert.items)
    part.report_lists = {k: list(v) for k, v in engine.report_lists.items()}
    part.near = list(engine.near_candidates)
    part.awaited_again = core.awaited_again
    part.cap_marks = core.cap_marks()
    part.report_counts = engine.report_counts.copy()
    part.report_for = core.report_for
    part.settings = {"timeout_ns": core.timeout_ns, "idle_ns": core.idle_ns,
                     "report_delay_s": engine.report_delay_s,
                     "max_expert": engine.expert.max_expert,
                     "max_samples": engine.sketches.budget}


def host_id(name: str) -> str:
    """A file-name-safe, stable tag of a host's name (its files in the dataset carry it)."""
    import hashlib

    base = "".join(c if c.isalnum() or c in "-_" else "_" for c in os.path.basename(name))
    return f"{base[:40] or 'host'}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
