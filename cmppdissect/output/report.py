"""The statistics of a capture as one JSON-ready document (``--report json``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from cmppdissect.analysis.engine import Analyzer, Session
from cmppdissect.protocol.codes import code_name
from cmppdissect.protocol.commands import command_id_of
from cmppdissect.protocol.layouts import LAYOUTS, RESULT_FIELDS
from cmppdissect.protocol.report import stat_class
from cmppdissect.protocol.version import Version


def result_name(command: str, code: int) -> str | None:
    """The name of a response's Result/Status code, from the code table its layout names."""
    try:
        command_id = command_id_of(command)
    except (KeyError, ValueError):
        return None
    for version in (Version.V3_0, Version.V2_0):
        layout = LAYOUTS.get((command_id, version))
        if layout is None:
            continue
        for f in layout.fields:
            if f.name in RESULT_FIELDS and f.codes:
                return code_name(f.codes, code, version)
    return None


def _results(counter: dict[tuple[str, int], int]) -> list[dict[str, Any]]:
    return [{"command": cmd, "code": code, "name": result_name(cmd, code), "count": n}
            for (cmd, code), n in sorted(counter.items())]


def session_dict(s: Session) -> dict[str, Any]:
    """One session with its own per-command table (the per-session view of the report)."""
    return {
        "id": s.id, "client": s.client, "server": s.server, "sp_id": s.sp_id,
        "version": s.version.value if s.version else None,
        "version_source": s.version_source, "login": s.login,
        "start": s.start_ns / 1e9, "end": s.end_ns / 1e9, "duration_s": s.duration_s,
        "pdus": s.total_pdus,
        "pdus_from_client": s.pdus[True], "pdus_from_server": s.pdus[False],
        "tps": s.tps, "peak_pdus_per_s": s.pdu_peak.peak,
        "peak_submits_per_s": s.submit_peak.peak,
        "errors": s.errors, "unanswered": s.unanswered, "ended": s.ended,
        "cmpp": not s.not_cmpp, "skipped_bytes": s.skipped_bytes,
        "tcp": asdict(s.tcp) if s.tcp is not None else None,
        "max_window": max(s.pairer.max_window.values()),
        "expert": dict(s.expert),
        "commands": {name: c.as_dict() for name, c in sorted(s.stats.commands.items())},
        "results": _results(s.stats.results),
    }


def build_report(an: Analyzer, *, details: bool = True) -> dict[str, Any]:
    """The whole report; ``details=False`` leaves out the per-session tables and the listed
    findings (the TUI's statistics screen rebuilds the rest every second while it is open,
    and those two parts cost the most with thousands of sessions)."""
    st = an.stats
    stats = {stat: {"count": n, "class": stat_class(stat)} for stat, n in sorted(st.stats.items())}
    joiner = an.long_sms
    return {
        "pdus": st.pdus,
        "sessions": [session_dict(s) for s in an.sessions.values()] if details else [],
        "sessions_dropped": an.retired_sessions,
        "commands": an.command_summary(),
        "results": _results(st.results),
        "reports": {"stat": stats, "submit_to_report_ms": st.submit_to_report.summary_ms(),
                    "matched": len(st.submit_to_report)},
        "long_sms": {"complete": joiner.complete, "incomplete": joiner.incomplete,
                     "parts": joiner.parts, "assembling": len(joiner)},
        "over_time": st.over_time(),
        "expert_counts": [{"severity": str(sev), "code": code, "count": n}
                          for (sev, code), n in sorted(an.expert_counts.items(),
                                                       key=lambda kv: (-kv[1], kv[0][1]))],
        "expert": [{"severity": str(e.severity), "frame": e.frame, "session": e.session,
                    "code": e.code, "message": e.message} for e in an.expert] if details else [],
    }
