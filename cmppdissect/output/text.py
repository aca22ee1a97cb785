"""The human summary printed when stdout is not a terminal (sessions, SRT, results, expert)."""

from __future__ import annotations

from typing import Any, TextIO

from cmppdissect.output.sanitize import safe_text


def _login(login: str | None) -> str:
    """"failed (3: authentication error)" as "failed (3)": the table has 10 columns for it."""
    if not login:
        return "-"
    if login.startswith("failed (") and ":" in login:
        return login.split(":", 1)[0] + ")"
    return safe_text(login)[:10]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _heartbeats(sessions: list[dict[str, Any]], w: Any) -> None:
    """ACTIVE_TEST per session and side, when any was sent: answered, unanswered in a row
    (three is the spec's C), and the interval."""
    rows = [(s["id"], side, b) for s in sessions for side, b in
            (("client", s["heartbeats"]["from_client"]), ("server", s["heartbeats"]["from_server"]))
            if b["sent"]]
    if not rows:
        return
    w("\nHeartbeats (ACTIVE_TEST)\n")
    w(f"  {'id':>3} {'from':<6} {'sent':>6} {'answered':>8} {'unans':>6} {'in a row':>8} "
      f"{'every s':>8} {'max gap s':>9}\n")
    for sid, side, b in rows:
        w(f"  {sid:>3} {side:<6} {b['sent']:>6} {b['answered']:>8} {b['unanswered']:>6} "
          f"{b['max_unanswered_in_row']:>8} {_seconds(b['interval_s']):>8} "
          f"{_seconds(b['max_interval_s']):>9}\n")


def _sessions(report: dict[str, Any], w: Any) -> None:
    w("Sessions\n")
    w(f"  {'id':>3} {'client':<22} {'server':<22} {'SP id':<8} {'ver':<4} {'login':<10} "
      f"{'dur s':>7} {'PDUs':>7} {'TPS':>6} {'SUB p50':>7} {'SUB p99':>7} {'err':>5} "
      f"{'unans':>5} ended\n")
    for s in report["sessions"]:
        sub = s["commands"].get("CMPP_SUBMIT", {}).get("latency_ms", {})
        w(f"  {s['id']:>3} {safe_text(s['client']):<22} {safe_text(s['server']):<22} "
          f"{safe_text(s['sp_id'] or '-'):<8} {s['version'] or '?':<4} "
          f"{_login(s['login']):<10} {s['duration_s']:>7.1f} {s['pdus']:>7} "
          f"{s['tps']:>6.1f} {_ms(sub.get('p50')):>7} {_ms(sub.get('p99')):>7} "
          f"{s['errors']:>5} {s['unanswered']:>5} {s['ended']}\n")
    if report.get("sessions_dropped"):
        w(f"  ... and {report['sessions_dropped']} older sessions (session cap reached)\n")
    _heartbeats(report["sessions"], w)


def _filtered_sessions(report: dict[str, Any], w: Any) -> None:
    """With -Y: the filter, and how many PDUs of each session it kept (the tables below
    count those PDUs only)."""
    w(f"Display filter: {safe_text(report['display_filter'])}\n\n")
    w("Sessions with matching PDUs\n")
    w(f"  {'id':>3} {'client':<22} {'server':<22} {'SP id':<8} {'PDUs':>7}\n")
    for s in report["sessions"]:
        w(f"  {s['id']:>3} {safe_text(s['client'] or '?'):<22} "
          f"{safe_text(s['server'] or '?'):<22} {safe_text(s['sp_id'] or '-'):<8} "
          f"{s['pdus']:>7}\n")


def write_summary(report: dict[str, Any], out: TextIO, *, max_expert: int = 50) -> None:
    w = out.write
    w(f"CMPP PDUs: {report['pdus']}   sessions: {len(report['sessions'])}\n")
    stopped = report.get("stopped_early")
    if stopped:
        w(f"Reading stopped after {stopped['pdus']} PDUs (-c): {stopped['requests_in_flight']} "
          "requests were still in flight (their responses were not read; not unanswered)\n")
    w("\n")
    if "display_filter" in report:
        _filtered_sessions(report, w)
    else:
        _sessions(report, w)
    rate = report["over_time"]
    w(f"\nPeak rate: {rate['peak_pdus_per_s']} PDUs/s, {rate['peak_submits_per_s']} SUBMIT/s\n")
    w("\nService response time (ms)\n")
    w(f"  {'command':<26} {'req':>7} {'resent':>6} {'resp':>7} {'paired':>7} {'unans':>6} "
      f"{'orphan':>6} {'min':>8} {'mean':>8} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}\n")
    for name, c in report["commands"].items():
        lat = c["latency_ms"]
        w(f"  {name:<26} {c['requests']:>7} {c['retransmitted']:>6} {c['responses']:>7} "
          f"{c['paired']:>7} {c['unanswered']:>6} {c['orphan_responses']:>6} "
          + " ".join(f"{_ms(lat[k]):>8}" for k in ("min", "mean", "p50", "p90", "p99", "max"))
          + "\n")
    if report["results"]:
        w("\nResult codes\n")
        for r in report["results"]:
            w(f"  {r['command']:<32} {r['code']:>5} {r['name'] or '':<32} {r['count']:>7}\n")
    reports = report["reports"]
    if reports["stat"]:
        w("\nStatus reports\n")
        for stat, info in reports["stat"].items():
            w(f"  {safe_text(stat):<10} {info['class']:<10} {info['count']:>7}\n")
        lat = reports["submit_to_report_ms"]
        w(f"  submit-to-report (ms): matched {reports['matched']}  p50 {_ms(lat['p50'])}  "
          f"p90 {_ms(lat['p90'])}  max {_ms(lat['max'])}\n")
    long_sms = report.get("long_sms")
    if long_sms and long_sms["parts"]:
        w(f"\nLong SMS: {long_sms['complete']} complete, {long_sms['incomplete']} incomplete "
          f"({long_sms['parts']} parts)\n")
    expert = report["expert"]
    if expert:
        w("\nExpert findings\n")
        for item in report["expert_counts"]:
            w(f"  {item['severity']:<5} {item['code']:<26} {item['count']:>7}\n")
        for e in expert[:max_expert]:
            w(f"  frame {e['frame'] or '-':>7} {e['severity']:<5} {safe_text(e['message'])}\n")
        if len(expert) > max_expert:
            w(f"  ... {len(expert) - max_expert} more (use --report json for all)\n")
