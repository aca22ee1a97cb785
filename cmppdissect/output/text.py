"""The human summary printed when stdout is not a terminal (sessions, SRT, results, expert)."""

from __future__ import annotations

from collections import Counter
from typing import Any, TextIO

from cmppdissect.output.sanitize import safe_text


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def write_summary(report: dict[str, Any], out: TextIO, *, max_expert: int = 50) -> None:
    w = out.write
    w(f"CMPP PDUs: {report['pdus']}   sessions: {len(report['sessions'])}\n\n")
    w("Sessions\n")
    w(f"  {'id':>3} {'client':<22} {'server':<22} {'SP id':<8} {'ver':<4} {'login':<10} "
      f"{'PDUs':>7} {'err':>5} {'unans':>5} ended\n")
    for s in report["sessions"]:
        w(f"  {s['id']:>3} {safe_text(s['client']):<22} {safe_text(s['server']):<22} "
          f"{safe_text(s['sp_id'] or '-'):<8} {s['version'] or '?':<4} "
          f"{safe_text(s['login'] or '-')[:10]:<10} {s['pdus']:>7} {s['errors']:>5} "
          f"{s['unanswered']:>5} {s['ended']}\n")
    w("\nService response time (ms)\n")
    w(f"  {'command':<26} {'req':>7} {'resp':>7} {'paired':>7} {'unans':>6} {'orphan':>6} "
      f"{'min':>8} {'mean':>8} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}\n")
    for name, c in report["commands"].items():
        lat = c["latency_ms"]
        w(f"  {name:<26} {c['requests']:>7} {c['responses']:>7} {c['paired']:>7} "
          f"{c['unanswered']:>6} {c['orphan_responses']:>6} "
          + " ".join(f"{_ms(lat[k]):>8}" for k in ("min", "mean", "p50", "p90", "p99", "max"))
          + "\n")
    if report["results"]:
        w("\nResult codes\n")
        for r in report["results"]:
            w(f"  {r['command']:<26} {r['code']:>5} {r['name'] or '':<32} {r['count']:>7}\n")
    reports = report["reports"]
    if reports["stat"]:
        w("\nStatus reports\n")
        for stat, info in reports["stat"].items():
            w(f"  {safe_text(stat):<10} {info['class']:<10} {info['count']:>7}\n")
        lat = reports["submit_to_report_ms"]
        w(f"  submit-to-report (ms): matched {reports['matched']}  p50 {_ms(lat['p50'])}  "
          f"p90 {_ms(lat['p90'])}  max {_ms(lat['max'])}\n")
    expert = report["expert"]
    if expert:
        w("\nExpert findings\n")
        by_code = Counter((e["severity"], e["code"]) for e in expert)
        for (sev, code), n in sorted(by_code.items(), key=lambda kv: (-kv[1], kv[0])):
            w(f"  {sev:<5} {code:<26} {n:>7}\n")
        for e in expert[:max_expert]:
            w(f"  frame {e['frame'] or '-':>7} {e['severity']:<5} {safe_text(e['message'])}\n")
        if len(expert) > max_expert:
            w(f"  ... {len(expert) - max_expert} more (use --report json for all)\n")
