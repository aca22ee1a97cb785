"""The statistics of a capture as one JSON-ready document (``--report json``).

Everything comes from the engine: the compiled core's counters, samples and rates, and the
Python engine's session names and findings. Nothing here walks PDUs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cmppdissect.engine import Engine
from cmppdissect.engine.stats import over_time, summarize_ms
from cmppdissect.output.flow import flow_dict, flow_summary
from cmppdissect.output.links import lifecycle_dict, links
from cmppdissect.output.reconcile import reconciliation
from cmppdissect.output.timeouts import timeouts
from cmppdissect.protocol.commands import command_name
from cmppdissect.protocol.report import stat_class
from cmppdissect.protocol.results import result_name

COUNTERS = ("requests", "responses", "paired", "unanswered", "orphan_responses",
             "retransmitted")


def result_list(counter: Mapping[tuple[int, int], int]) -> list[dict[str, Any]]:
    """{(response Command_Id, code): count} as the report lists them, with the code's name."""
    named = sorted(((command_name(cmd), code), n) for (cmd, code), n in counter.items())
    return [{"command": cmd, "code": code, "name": result_name(cmd, code), "count": n}
            for (cmd, code), n in named]


def heartbeats(beats: tuple[int, int, int, int, int, int, int]) -> dict[str, Any]:
    """One side's ACTIVE_TESTs: how many were sent and answered, the most that went
    unanswered in a row (the spec drops a link at C=3), and how often they were sent."""
    sent, answered, unanswered, in_row, first_ns, last_ns, max_gap_ns = beats
    return {"sent": sent, "answered": answered, "unanswered": unanswered,
            "max_unanswered_in_row": in_row,
            "interval_s": (last_ns - first_ns) / (sent - 1) / 1e9 if sent > 1 else None,
            "max_interval_s": max_gap_ns / 1e9 if sent > 1 else None}


def session_dict(engine: Engine, sid: int) -> dict[str, Any] | None:
    """One session with its own per-command table (the per-session view of the report)."""
    s = engine.core.session(sid)
    names = engine.sessions.get(sid)
    if s is None or names is None:
        return None
    duration = (s["end_ns"] - s["start_ns"]) / 1e9
    pdus = s["pdus_from_client"] + s["pdus_from_server"]
    tcp = s["tcp"]
    commands = {}
    for request_id, (*counters, latency) in s["commands"].items():
        commands[command_name(request_id)] = {
            **dict(zip(COUNTERS, counters, strict=True)),
            "latency_ms": summarize_ms((latency,),
                                       engine.sketches.get(("latency", sid, request_id)))}
    return {
        "id": sid, "client": names.client, "server": names.server, "sp_id": names.sp_id,
        "version": s["version"], "version_source": s["version_source"], "login": names.login,
        "start": s["start_ns"] / 1e9, "end": s["end_ns"] / 1e9, "duration_s": duration,
        "pdus": pdus, "pdus_from_client": s["pdus_from_client"],
        "pdus_from_server": s["pdus_from_server"], "tps": pdus / max(duration, 1.0),
        "peak_pdus_per_s": s["peak_pdus_per_s"], "peak_submits_per_s": s["peak_submits_per_s"],
        "errors": s["errors"], "unanswered": s["unanswered"], "ended": s["ended"],
        "cmpp": s["cmpp"], "skipped_bytes": s["skipped_bytes"],
        "tcp": None if tcp is None else {
            "frames": tcp.frames, "bytes_from_client": tcp.bytes_from_client,
            "bytes_from_server": tcp.bytes_from_server, "retransmissions": tcp.retransmissions,
            "duplicates": tcp.duplicates, "out_of_order": tcp.out_of_order, "gaps": tcp.gaps,
            "gap_bytes": tcp.gap_bytes},
        "max_window": s["max_window"],
        "heartbeats": {"from_client": heartbeats(s["heartbeats"][0]),
                       "from_server": heartbeats(s["heartbeats"][1])},
        "flow": flow_dict(s),
        "lifecycle": lifecycle_dict(engine, s),
        "expert": dict(names.expert),
        "commands": dict(sorted(commands.items())),
        "results": result_list(s["results"]),
    }


def session_dicts(engine: Engine) -> list[dict[str, Any]]:
    out = []
    for sid in engine.core.session_ids():
        d = session_dict(engine, sid)
        if d is not None:
            out.append(d)
    return out


def command_summary(engine: Engine) -> dict[str, dict[str, Any]]:
    """Per request type: the counters and the latency summary over every session."""
    core = engine.core
    out = {}
    for request_id, counters in core.commands().items():
        out[command_name(request_id)] = {
            **dict(zip(COUNTERS, counters, strict=True)),
            "latency_ms": summarize_ms((core.latency_samples(request_id),),
                                       engine.sketches.latency(request_id))}
    return dict(sorted(out.items()))


def build_report(engine: Engine, *, details: bool = True,
                 diagnosis: bool | None = None) -> dict[str, Any]:
    """The whole report; ``details=False`` leaves out the per-session tables and the listed
    findings (the TUI's statistics screen rebuilds the rest every second while it is open,
    and those two parts cost the most with thousands of sessions). ``diagnosis`` (by default
    as ``details``) works out the ``flow_control`` and ``links`` sections, which need every
    session's figures even when the per-session tables are left out (the TUI asks for them
    while its Diagnosis tab is in view)."""
    core = engine.core
    stats: dict[str, int] = {}
    for stat, n in core.report_stats().items():
        text = stat.decode("ascii", "backslashreplace")
        stats[text] = stats.get(text, 0) + n
    to_report = core.submit_to_report_samples()
    to_report_folded = engine.sketches.get(("to_report",))
    counts = engine.expert_counts
    stopped = ({"stopped_early": {"pdus": core.pdus,
                                  "requests_in_flight": core.in_flight_at_stop}}
               if core.cut_short else {})
    sessions = session_dicts(engine) if details else []
    if diagnosis is None:
        diagnosis = details
    of_sessions = sessions if details or not diagnosis else session_dicts(engine)
    return {
        "pdus": core.pdus,
        **stopped,
        "sessions": sessions,
        "sessions_dropped": core.retired_sessions,
        "commands": command_summary(engine),
        "results": result_list(core.result_counts()),
        "reports": {"stat": {stat: {"count": n, "class": stat_class(stat)}
                             for stat, n in sorted(stats.items())},
                    "submit_to_report_ms": summarize_ms((to_report,), to_report_folded),
                    "matched": len(to_report) // 8 + (to_report_folded.count
                                                      if to_report_folded else 0)},
        "reconciliation": reconciliation(engine),
        "timeouts": timeouts(engine),
        "flow_control": flow_summary(of_sessions),
        "links": links(engine, of_sessions),
        "long_sms": core.long_sms(),
        # Only past the sample budget (-i, --max-samples): how the percentiles were read.
        **({"samples": engine.sketches.describe()} if engine.sketches else {}),
        "over_time": over_time(*core.rates()),
        # Most first, then by code, then the worse first: an order of the counts alone (the
        # order findings came in is not one a merge of hosts' parts can know).
        "expert_counts": [{"severity": str(sev), "code": code, "count": n}
                          for (sev, code), n in sorted(counts.items(),
                                                       key=lambda kv: (-kv[1], kv[0][1],
                                                                       -kv[0][0]))],
        "expert": [{"severity": str(e.severity), "frame": e.frame, "session": e.session,
                    "code": e.code, "message": e.message}
                   for e in engine.expert.items] if details else [],
    }
