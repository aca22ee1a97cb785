"""The statistics of a capture as one JSON-ready document (``--report json``)."""

from __future__ import annotations

from typing import Any

from cmppdissect.analysis.engine import Analyzer
from cmppdissect.protocol.codes import code_name
from cmppdissect.protocol.report import stat_class

_RESULT_TABLE = {
    "CMPP_CONNECT_RESP": "connect_status", "CMPP_SUBMIT_RESP": "submit_result",
    "CMPP_DELIVER_RESP": "deliver_result", "CMPP_CANCEL_RESP": "cancel_result",
    "CMPP_FWD_RESP": "fwd_result",
}


def result_name(command: str, code: int) -> str | None:
    table = _RESULT_TABLE.get(command)
    return code_name(table, code) if table else None


def build_report(an: Analyzer) -> dict[str, Any]:
    st = an.stats
    sessions = []
    for s in an.sessions.values():
        sessions.append({
            "id": s.id, "client": s.client, "server": s.server, "sp_id": s.sp_id,
            "version": s.version.value if s.version else None,
            "version_source": s.version_source, "login": s.login,
            "start": s.start_ns / 1e9, "end": s.end_ns / 1e9,
            "pdus": s.total_pdus,
            "pdus_from_client": s.pdus[True], "pdus_from_server": s.pdus[False],
            "errors": s.errors, "unanswered": s.unanswered, "ended": s.ended,
            "max_window": max(s.pairer.max_window.values()),
        })
    results = [{"command": cmd, "code": code, "name": result_name(cmd, code), "count": n}
               for (cmd, code), n in sorted(st.results.items())]
    stats = {stat: {"count": n, "class": stat_class(stat)} for stat, n in sorted(st.stats.items())}
    return {
        "pdus": st.pdus,
        "sessions": sessions,
        "commands": {name: c.as_dict() for name, c in sorted(st.commands.items())},
        "results": results,
        "reports": {"stat": stats, "submit_to_report_ms": st.submit_to_report.summary_ms(),
                    "matched": len(st.submit_to_report)},
        "expert": [{"severity": str(e.severity), "frame": e.frame, "session": e.session,
                    "code": e.code, "message": e.message} for e in an.expert],
    }
