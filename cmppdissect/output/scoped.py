"""The report's statistics over some rows of the store: a display filter's, or one session's.

``--report json`` reads the compiled core's counters, which count every PDU of the capture;
a scope the core never saw (the rows a filter keeps) is counted here, from the store's columns
and the core's own light fields of each row (:func:`cmppdissect.core._pdu.light`, the reader
the core counted with), and summarised by the same functions as the report
(:mod:`cmppdissect.engine.stats`). Over every row of a capture it gives the report's numbers
exactly; ``tests/test_scoped_report.py`` proves that on every sample and on the irregular
benchmark captures, so the two ways of counting cannot drift apart.

The sections are the report's: ``pdus``, ``commands`` (per request type: counters and the
latency summary), ``results``, ``reports`` (Stat counts, matched reports and the SUBMIT to
report delay) and ``over_time``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from cmppdissect.core._pdu import light
from cmppdissect.engine import Engine
from cmppdissect.engine.stats import over_time, summarize_ms
from cmppdissect.output.report import COUNTERS, result_list
from cmppdissect.protocol.commands import CommandId, command_name
from cmppdissect.protocol.layouts import LAYOUTS
from cmppdissect.protocol.report import stat_class
from cmppdissect.store import NO_PAIR, PduStore
from cmppdissect.store.store import RESEND, UNANSWERED, VERSION_OF_HINT

__all__ = ["filtered_report", "rows_report"]

_RESPONSE_BIT = 0x80000000
_NS = 1_000_000_000
# Requests whose layout may carry a status report in Msg_Content (DELIVER, FWD).
_MAY_REPORT = np.array(sorted({int(cid) for (cid, _v), layout in LAYOUTS.items()
                               if layout.content_rule is not None}), np.int64)
_SLICE = 20_000  # rows read between progress calls (and cancellation checks)


def rows_report(store: PduStore, rows: np.ndarray, *,
                progress: Callable[[float], bool] | None = None) -> dict[str, Any] | None:
    """The statistics of ``rows`` (ascending row numbers of ``store``) as the report's
    sections. ``progress`` is called with the fraction done between slices; returning False
    abandons the work (None is returned), so a UI worker can be cancelled."""
    rows = np.asarray(rows, dtype=np.int64)
    n = len(rows)
    cmd = store.command_id[rows].astype(np.int64)
    response = (cmd & _RESPONSE_BIT) != 0
    slot = (cmd & ~_RESPONSE_BIT) & 0x1F  # the core keeps its totals per request type
    pair = store.pair[rows]
    flags = store.flags[rows]
    latency = store.latency_ns[rows]
    ts = store.ts_ns[rows]
    paired = response & (pair != NO_PAIR)

    commands: dict[str, dict[str, Any]] = {}
    for request_id in np.unique(slot).tolist():
        mine = slot == request_id
        asked = mine & ~response
        answered = mine & response
        counts = (int(asked.sum()), int(answered.sum()), int((answered & paired).sum()),
                  int((asked & ((flags & UNANSWERED) != 0) & ((flags & RESEND) == 0)).sum()),
                  int((answered & ~paired).sum()), int((asked & ((flags & RESEND) != 0)).sum()))
        commands[command_name(request_id)] = {
            **dict(zip(COUNTERS, counts, strict=True)),
            "latency_ms": summarize_ms((latency[answered & paired],))}

    # Results and report Stats need the body: the light fields of responses and DELIVERs.
    results: Counter[tuple[int, int]] = Counter()
    stats: Counter[str] = Counter()
    readable = np.flatnonzero(response | np.isin(cmd, _MAY_REPORT))
    hints = store.hint[rows]
    for start in range(0, len(readable), _SLICE):
        if progress is not None and not progress(start / max(1, len(readable))):
            return None
        for i in readable[start:start + _SLICE].tolist():
            fields = light(store.raw(int(rows[i])), VERSION_OF_HINT.get(int(hints[i])))
            if response[i]:
                if fields["result"] is not None:
                    results[(int(cmd[i]), fields["result"])] += 1
            elif fields["report"] is not None:
                stat = fields["report"]["Stat"].decode("ascii", "backslashreplace")
                stats[stat] += 1

    matched, delays = _report_delays(store, rows)
    seconds = ts // _NS
    submits = (cmd == CommandId.CMPP_SUBMIT)
    submit_resp = paired & (cmd == CommandId.CMPP_SUBMIT_RESP)
    pdu_rate = Counter(seconds.tolist())
    submit_rate = Counter(seconds[submits].tolist())
    sums: dict[int, tuple[int, int]] = {}
    for sec, value in zip(seconds[submit_resp].tolist(), latency[submit_resp].tolist(),
                          strict=True):
        total, count = sums.get(sec, (0, 0))
        sums[sec] = (total + value, count + 1)
    return {
        "pdus": n,
        "commands": dict(sorted(commands.items())),
        "results": result_list(results),
        "reports": {"stat": {stat: {"count": count, "class": stat_class(stat)}
                             for stat, count in sorted(stats.items())},
                    "submit_to_report_ms": summarize_ms((delays,)),
                    "matched": matched},
        "over_time": over_time(pdu_rate, submit_rate, sums),
    }


def _report_delays(store: PduStore, rows: np.ndarray) -> tuple[int, np.ndarray]:
    """Status reports among ``rows`` matched to a SUBMIT, and each one's delay (ns) from the
    SUBMIT's frame, as the core measured it."""
    matched = store.report_for_between(0, store.count)
    if not matched:
        return 0, np.zeros(0, np.int64)
    report_rows = np.fromiter(matched.keys(), np.int64, len(matched))
    submit_frames = np.fromiter(matched.values(), np.int64, len(matched))
    keep = np.isin(report_rows, rows, assume_unique=True)
    report_rows, submit_frames = report_rows[keep], submit_frames[keep]
    if not len(report_rows):
        return 0, np.zeros(0, np.int64)
    frames = store.frame[:store.count]
    # Every PDU a frame completed has the frame's time: the first of them serves.
    first_frames, first_rows = np.unique(frames, return_index=True)
    where = np.searchsorted(first_frames, submit_frames)
    where = np.minimum(where, len(first_frames) - 1)
    found = first_frames[where] == submit_frames
    submit_ts = store.ts_ns[first_rows[where[found]]]
    delays = store.ts_ns[report_rows[found]] - submit_ts
    return len(report_rows), delays.astype(np.int64)


def filtered_report(engine: Engine, store: PduStore, rows: np.ndarray,
                    expression: str) -> dict[str, Any]:
    """``--report json -Y EXPR``: the report's statistics over the PDUs the filter keeps, with
    the filter named, the sessions they belong to (how many of each session's PDUs matched),
    and the findings about them."""
    counted = rows_report(store, rows)
    assert counted is not None  # no progress callback: never abandoned
    frames = set(np.unique(store.frame[rows]).tolist())
    items = [e for e in engine.expert.items if e.frame is not None and e.frame in frames]
    counts = Counter((str(e.severity), e.code) for e in items)
    per_session = Counter(store.session[rows].tolist())
    sessions = []
    for sid, matched in sorted(per_session.items()):
        names = engine.sessions.get(sid)
        sessions.append({"id": sid, "client": names.client if names else None,
                         "server": names.server if names else None,
                         "sp_id": names.sp_id if names else None, "pdus": matched})
    return {
        "display_filter": expression,
        **counted,
        "sessions": sessions,
        "expert_counts": [{"severity": sev, "code": code, "count": n}
                          for (sev, code), n in sorted(counts.items(),
                                                       key=lambda kv: (-kv[1], kv[0][1]))],
        "expert": [{"severity": str(e.severity), "frame": e.frame, "session": e.session,
                    "code": e.code, "message": e.message} for e in items],
    }
