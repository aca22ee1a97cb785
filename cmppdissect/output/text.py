"""The human summary printed when stdout is not a terminal (sessions, SRT, results, expert)."""

from __future__ import annotations

from typing import Any, TextIO

from cmppdissect.engine.stats import SUMMARY_KEYS
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


def write_reconciliation(rec: dict[str, Any], out: TextIO, *, max_listed: int = 10) -> None:
    """"Where did my reports go": per SP what awaited a report, what came (by Stat, with the
    delay), and what did not; then the reports that matched no SUBMIT, repeated one, came
    on another connection or nearly matched; then the oldest SUBMITs never reported."""
    w = out.write
    if not (rec["awaited"] or rec["unmatched"]["count"] or rec["duplicates"]["count"]):
        return
    never = rec["never_reported"]
    w("\nReport reconciliation (Registered_Delivery SUBMITs accepted, Result 0)\n")
    w(f"  {'SP id':<16} {'awaited':>7} {'reported':>8} {'never':>6} {'other conn':>10} "
      f"{'dup':>5} {'unmatched':>9} {'near':>5} {'delay p50 ms':>12} {'p99 ms':>9}\n")
    for sp, f in rec["per_sp"].items():
        lat = f["submit_to_report_ms"]
        w(f"  {safe_text(sp):<16} {f['awaited']:>7} {f['matched']:>8} {f['never_reported']:>6} "
          f"{f['other_connection']:>10} {f['duplicates']:>5} {f['unmatched']:>9} "
          f"{f['near_misses']:>5} {_ms(lat['p50']):>12} {_ms(lat['p99']):>9}\n")
        for stat, info in f["stat"].items():
            slat = info["submit_to_report_ms"]
            w(f"    {safe_text(stat):<14} {info['class'] or '-':<10} {info['count']:>7}  delay "
              f"p50 {_ms(slat['p50'])} ms  max {_ms(slat['max'])} ms\n")
    if never["count"]:
        where = ("when reading stopped (-c)" if rec["stopped_early"]
                 else "by the end of the capture")
        w(f"  Never reported {where}: {never['count']}")
        if never["forgotten_past_cap"]:
            w(f" (and {never['forgotten_past_cap']} forgotten past the awaiting cap)")
        w("\n")
        for h in never["per_hour"]:
            w(f"    {h['hour']}  {safe_text(h['sp_id']):<16} {h['count']:>7}\n")
        for e in never["listed"][:max_listed]:
            which = (f" (recipient {e['recipient_index'] + 1} of {e['recipients']})"
                     if e["recipients"] > 1 else "")
            near = (f"; near miss: the report in frame {e['near_miss_frame']}"
                    if e["near_miss_frame"] else "")
            w(f"    frame {e['submit_frame']:>7} Msg_Id {e['msg_id']} to "
              f"{safe_text(e['recipient']) or '?'}{which}, age {e['age_s']:.1f} s{near}\n")
        if never["count"] > max_listed:
            w(f"    ... {never['count'] - min(max_listed, len(never['listed']))} more\n")
    unmatched = rec["unmatched"]
    if unmatched["count"]:
        w(f"  Reports matching no SUBMIT_RESP: {unmatched['count']} "
          f"({unmatched['submit_may_predate_capture']} within {rec['report_delay_s']:g} s of "
          "the capture's start: their SUBMIT may predate it)\n")
    for key, label in (("duplicates", "Duplicate reports"),
                       ("other_connection", "Reports on another connection than the SUBMIT")):
        if rec[key]["count"]:
            w(f"  {label}: {rec[key]['count']}\n")
    near = rec["near_misses"]
    if near["count"]:
        rules = ", ".join(f"{rule} {n}" for rule, n in near["by_rule"].items())
        w(f"  Near misses: {near['count']} ({rules})\n")
        for e in near["listed"][:max_listed]:
            w(f"    frame {e['frame']:>7} Msg_Id {e['msg_id']} ~ {e['submit_msg_id']} of the "
              f"SUBMIT in frame {e['submit_frame']} ({e['rule']})\n")




def write_timeouts(section: dict[str, Any], out: TextIO, *, max_listed: int = 10) -> None:
    """"Is it really a timeout": what became of each request unanswered or resent."""
    if not section["requests"]:
        return
    w = out.write
    outcomes = ", ".join(f"{k} {n}" for k, n in section["outcomes"].items() if n)
    w(f"\nUnanswered or resent requests (timeout {section['timeout_s']:g} s): "
      f"{section['requests']} ({outcomes})\n")
    if len(section["per_sp"]) > 1:
        for sp, per in section["per_sp"].items():
            counts = ", ".join(f"{k} {n}" for k, n in per.items() if n)
            w(f"  {safe_text(sp):<16} {counts}\n")
    for e in section["listed"][:max_listed]:
        sends = f" sent {e['sends']}x" if e["sends"] > 1 else ""
        tail = ""
        if e["answer_frame"]:
            where = (f" on session {e['answer_session']}"
                     if e["answer_session"] != e["session"] else "")
            after = (f" after {e['answer_after_ms']:.1f} ms"
                     if e["answer_after_ms"] is not None else "")
            first = (f" (first answer frame {e['first_answer_frame']})"
                     if e["first_answer_frame"] else "")
            tail = f": answer in frame {e['answer_frame']}{where}{after}{first}"
        w(f"  frame {e['frame']:>7} {e['command']:<18} seq {e['sequence_id']:<10}{sends} "
          f"{e['outcome']}{tail}\n")
    if section["requests"] > max_listed:
        w(f"  ... {section['requests'] - min(max_listed, len(section['listed']))} more "
          "(use --report json for all)\n")


def write_flow(section: dict[str, Any], out: TextIO, *, max_listed: int = 10) -> None:
    """"Why was I throttled": the sessions whose window or gateway bound the rate."""
    rows = section["sessions"]
    if not rows:
        return
    w = out.write
    w(f"\nFlow control (window W = {section['window']})\n")
    w(f"  {'session':>7} {'SP id':<10} {'side':<11} {'in flight':>9} {'over W':>6} "
      f"{'max/s':>6} {'refusal runs':>12}  time bound by\n")
    for r in rows[:max_listed]:
        bound = ", ".join(f"{k} {v:g} s" for k, v in r["verdict_seconds"].items())
        w(f"  {r['session']:>7} {safe_text(r['sp_id'] or '-'):<10} {r['side']:<11} "
          f"{r['max_in_flight']:>9} {r['sends_over_window']:>6} {r['max_sends_per_s']:>6} "
          f"{r['refusal_runs']:>12}  {bound}\n")
        first = r["first_refusal"]
        if first:
            w(f"          first refusal frame {first['frame']}: Result {first['result']} "
              f"({first['name'] or '?'}) at {first['sends_per_s']} sends/s with "
              f"{first['in_flight']} in flight\n")
    if len(rows) > max_listed:
        w(f"  ... {len(rows) - max_listed} more sessions\n")


def write_links(section: dict[str, Any], out: TextIO) -> None:
    """Link lifecycle per SP: sessions, logins, CONNECTs per minute, storms, closes."""
    per_sp = section["per_sp"]
    if not per_sp:
        return
    w = out.write
    w("\nLinks per SP\n")
    w(f"  {'SP id':<16} {'sessions':>8} {'CONNECTs':>8} {'max/min':>7} {'storms':>6} "
      f"{'idle gaps':>9}  logins; closed\n")
    for sp, e in per_sp.items():
        logins = ", ".join(f"{k} {n}" for k, n in e["logins"].items())
        closed = ", ".join(f"{k} {n}" for k, n in e["closed"].items())
        w(f"  {safe_text(sp):<16} {e['sessions']:>8} {e['connects']:>8} "
          f"{e['max_connects_per_minute']:>7} {e['storms']:>6} {e['idle_gaps']:>9}  "
          f"{safe_text(logins)}; {closed}\n")


def srt_lines(commands: dict[str, Any]) -> list[str]:
    """The service-response-time table of a report's ``commands``: a header, a line per
    request type (the summary's table and ``-z srt``'s)."""
    lines = [f"{'command':<26} {'req':>7} {'resent':>6} {'resp':>7} {'paired':>7} "
             f"{'unans':>6} {'orphan':>6} " + " ".join(f"{k:>8}" for k in SUMMARY_KEYS)]
    for name, c in commands.items():
        lat = c["latency_ms"]
        lines.append(f"{name:<26} {c['requests']:>7} {c['retransmitted']:>6} "
                     f"{c['responses']:>7} {c['paired']:>7} {c['unanswered']:>6} "
                     f"{c['orphan_responses']:>6} "
                     + " ".join(f"{_ms(lat[k]):>8}" for k in SUMMARY_KEYS))
    return lines


def result_lines(results: list[dict[str, Any]]) -> list[str]:
    """A line per (response, Result code) of a report's ``results``, with the code's name
    (the summary's table and ``-z results``')."""
    return [f"{r['command']:<32} {r['code']:>5} {r['name'] or '':<32} {r['count']:>7}"
            for r in results]


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
    for line in srt_lines(report["commands"]):
        w(f"  {line}\n")
    if report["results"]:
        w("\nResult codes\n")
        for line in result_lines(report["results"]):
            w(f"  {line}\n")
    reports = report["reports"]
    if reports["stat"]:
        w("\nStatus reports\n")
        for stat, info in reports["stat"].items():
            w(f"  {safe_text(stat):<10} {info['class']:<10} {info['count']:>7}\n")
        lat = reports["submit_to_report_ms"]
        w(f"  submit-to-report (ms): matched {reports['matched']}  p50 {_ms(lat['p50'])}  "
          f"p90 {_ms(lat['p90'])}  max {_ms(lat['max'])}\n")
    if report.get("reconciliation"):
        write_reconciliation(report["reconciliation"], out)
    if report.get("timeouts"):
        write_timeouts(report["timeouts"], out)
    if report.get("flow_control"):
        write_flow(report["flow_control"], out)
    if report.get("links") and "display_filter" not in report:
        write_links(report["links"], out)
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
