"""``-z``: tshark-style statistics tables, printed after the records (alone with ``-q``).

Each table is one of the report's sections, counted over the PDUs its own filter keeps (all
of them without one) by :func:`cmppdissect.output.scoped.rows_report`, the function whose
numbers over every row are the report's. ``-z`` filters are independent of ``-Y``, as in
tshark: ``-Y`` chooses the records shown, ``-z srt,FILTER`` what one table counts.

    -z srt[,FILTER]               service response time per request type
    -z results[,FILTER]           responses by Result code
    -z reports[,FILTER]           status reports by Stat, SUBMIT-to-report delay
    -z conv[,FILTER]              sessions (TCP conversations carrying CMPP)
    -z io,stat,INTERVAL[,FILTER]  PDUs, SUBMITs and mean SUBMIT latency per interval (s)
    -z expert[,FILTER]            findings by severity and kind, then each one
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cmppdissect.engine.stats import SUMMARY_KEYS
from cmppdissect.output.sanitize import safe_text
from cmppdissect.output.scoped import filtered_report, rows_report
from cmppdissect.output.text import result_lines, srt_lines
from cmppdissect.protocol.commands import CommandId
from cmppdissect.store import NO_PAIR, RESEND, PduStore

__all__ = ["KINDS", "ZStat", "parse_zstat", "zstat_text"]

KINDS = ("srt", "results", "reports", "conv", "io,stat", "expert")
_RULE = "=" * 78


@dataclass(frozen=True, slots=True)
class ZStat:
    """One ``-z`` request: which table, over which PDUs (``expression``; None: all)."""

    kind: str
    expression: str | None = None
    interval_s: float = 1.0  # io,stat


def parse_zstat(text: str) -> ZStat:
    """``-z`` text as a :class:`ZStat`; ValueError with the reason for a bad one. The filter
    is everything after the kind's own commas (it may hold commas itself)."""
    if text.startswith("io,stat,"):
        rest = text[len("io,stat,"):]
        interval, _, expression = rest.partition(",")
        try:
            seconds = float(interval)
        except ValueError:
            raise ValueError(f"-z io,stat,INTERVAL: {interval!r} is not a number of "
                             "seconds") from None
        if not 0.001 <= seconds <= 86400 * 366:
            raise ValueError(f"-z io,stat,INTERVAL: {interval} s is outside 0.001 s to a year")
        return ZStat("io,stat", _expression(expression), seconds)
    if text in ("io,stat", "io"):
        raise ValueError("-z io,stat needs an interval: -z io,stat,1 (seconds)")
    kind, _, expression = text.partition(",")
    if kind not in KINDS:
        raise ValueError(f"-z {text}: unknown statistic (one of: {', '.join(KINDS)})")
    return ZStat(kind, _expression(expression))


def _expression(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    from cmppdissect.query import compile_filter

    compile_filter(text)  # a FilterError (a ValueError) says what is wrong, with its column
    return text


def zstat_text(stat: ZStat, store: PduStore, engine: Any,
               matching: Callable[[str | None], np.ndarray]) -> str:
    """The table of one ``-z`` request; ``matching`` gives the rows a filter keeps."""
    rows = matching(stat.expression)
    scope = f"Filter: {safe_text(stat.expression)}" if stat.expression else "Filter: none"
    if stat.kind == "conv":
        return _conv(store, engine, rows, scope)
    if stat.kind == "expert":
        return _expert(store, engine, rows if stat.expression else None, scope)
    if stat.kind == "io,stat":
        return _io(store, rows, stat.interval_s, scope)
    report = rows_report(store, rows)
    assert report is not None
    return {"srt": _srt, "results": _results, "reports": _reports}[stat.kind](report, scope)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _frame(title: str, scope: str, lines: list[str]) -> str:
    return "\n".join([_RULE, title, scope, _RULE, *lines, _RULE]) + "\n"


def _srt(report: dict[str, Any], scope: str) -> str:
    return _frame(f"CMPP Service Response Time (ms) over {report['pdus']} PDUs", scope,
                  srt_lines(report["commands"]))


def _results(report: dict[str, Any], scope: str) -> str:
    header = f"{'Response':<32} {'Code':>5} {'Meaning':<32} {'Count':>7}"
    return _frame("CMPP Result codes", scope, [header, *result_lines(report["results"])])


def _reports(report: dict[str, Any], scope: str) -> str:
    reports = report["reports"]
    lines = [f"{'Stat':<10} {'Class':<12} {'Count':>8}"]
    for stat, info in reports["stat"].items():
        lines.append(f"{safe_text(stat):<10} {info['class']:<12} {info['count']:>8}")
    delay = reports["submit_to_report_ms"]
    lines.append(f"SUBMIT to report (ms): {reports['matched']} matched  "
                 + "  ".join(f"{k} {_ms(delay[k])}" for k in SUMMARY_KEYS))
    return _frame("CMPP Status reports", scope, lines)


def _conv(store: PduStore, engine: Any, rows: np.ndarray, scope: str) -> str:
    from cmppdissect.output.report import session_dict

    per_session = Counter(store.session[rows].tolist())
    lines = [f"{'Id':>4} {'Client':<24} {'Server':<24} {'SP id':<8} {'Ver':<4} "
             f"{'PDUs':>8} {'Duration s':>10} {'Ended':<10}"]
    for sid, count in sorted(per_session.items()):
        s = session_dict(engine, sid)
        if s is None:  # retired past the session cap: only its rows are left
            lines.append(f"{sid:>4} {'?':<24} {'?':<24} {'-':<8} {'?':<4} {count:>8}")
            continue
        lines.append(f"{sid:>4} {safe_text(s['client']):<24} {safe_text(s['server']):<24} "
                     f"{safe_text(s['sp_id'] or '-'):<8} {s['version'] or '?':<4} "
                     f"{count:>8} {s['duration_s']:>10.3f} {s['ended']:<10}")
    return _frame("CMPP Conversations (sessions)", scope, lines)


def _io(store: PduStore, rows: np.ndarray, interval_s: float, scope: str) -> str:
    """PDUs, SUBMITs and the mean SUBMIT latency (of the responses that arrived) per
    interval, counted from the first PDU of the capture, as tshark's io,stat does."""
    lines = [f"{'Interval (s)':>23} {'PDUs':>8} {'SUBMITs':>8} {'SUBMIT latency ms':>18}"]
    if len(rows) and store.count:
        first = int(store.ts_ns[0])
        step = round(interval_s * 1e9)
        ts = store.ts_ns[rows]
        slot = (ts - first) // step
        cmd = store.command_id[rows]
        pair = store.pair[rows]
        submits = cmd == CommandId.CMPP_SUBMIT
        # An exchange counts once, in the interval of whichever of its PDUs the filter kept
        # first: the SUBMIT (its latency is on its row too), else its response.
        # A resend's row has its own (shorter) latency: the exchange counts from its first
        # send, as srt and the report count it.
        first_send = (store.flags[rows] & RESEND) == 0
        answered = (submits & first_send & (pair != NO_PAIR)) | (
            (cmd == CommandId.CMPP_SUBMIT_RESP) & (pair != NO_PAIR) & ~np.isin(pair, rows))
        latency = store.latency_ns[rows]
        for k in range(int(slot.max()) + 1):
            here = slot == k
            lat = latency[here & answered]
            mean = f"{lat.mean() / 1e6:.2f}" if len(lat) else "-"
            start = k * interval_s
            lines.append(f"{start:>10.3f} <> {start + interval_s:>9.3f} "
                         f"{int(here.sum()):>8} {int((here & submits).sum()):>8} {mean:>18}")
    return _frame(f"CMPP IO statistics, {interval_s:g} s intervals", scope, lines)


def _expert(store: PduStore, engine: Any, rows: np.ndarray | None, scope: str) -> str:
    """Every finding (those about the capture too) without a filter; with one, those about
    the PDUs it keeps."""
    if rows is None:
        from cmppdissect.output.report import build_report

        report = build_report(engine)
    else:
        report = filtered_report(engine, store, rows, "")
    lines = [f"{'Severity':<8} {'Kind':<28} {'Count':>8}"]
    lines += [f"{c['severity']:<8} {c['code']:<28} {c['count']:>8}"
              for c in report["expert_counts"]]
    lines.append("")
    lines += [f"frame {e['frame'] or '-':>8} {e['severity']:<5} {safe_text(e['message'])}"
              for e in report["expert"]]
    return _frame("CMPP Expert findings", scope, lines)
