"""Two captures side by side (``cmppdissect diff A B``): "before and after the gateway change",
"gateway 1 against gateway 2".

What is compared is what an SMS engineer looks at first: response-time percentiles per request
type, Result codes per response type, status reports by Stat with the SUBMIT-to-report delay,
and rates; for the whole capture and for each SP (the ``Source_Addr`` its CONNECT logged in
with). Every figure of one side is counted by :func:`cmppdissect.output.scoped.rows_report`
over that side's rows (all of them, or one SP's sessions'), so the whole-capture column equals
the side's own ``--report json``. No I/O here: the caller reads the captures.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

import numpy as np

from cmppdissect.output.reconcile import NO_SP
from cmppdissect.output.sanitize import safe_text
from cmppdissect.output.scoped import rows_report
from cmppdissect.store import PduStore

__all__ = ["GROUPS", "capture_figures", "compare", "format_change", "format_value", "judgement",
           "metric_group", "write_comparison"]

_LATENCY = ("p50", "p90", "p99", "max", "mean")


def capture_figures(store: PduStore, sp_of_session: Mapping[int, str | None],
                    duration_s: float) -> dict[str, Any]:
    """One side's figures: ``all`` and one entry per SP, each a flat {metric: value}."""
    rows = np.arange(store.count, dtype=np.int64)
    out: dict[str, Any] = {"all": _figures(store, rows, duration_s), "sp": {}}
    by_sp: dict[str, list[int]] = {}
    for sid, sp in sp_of_session.items():
        by_sp.setdefault(sp or NO_SP, []).append(sid)
    sessions = store.session[:store.count]
    for sp, sids in sorted(by_sp.items()):
        mine = np.flatnonzero(np.isin(sessions, sids)).astype(np.int64)
        if len(mine):
            out["sp"][sp] = _figures(store, mine, duration_s)
    return out


def _figures(store: PduStore, rows: np.ndarray, duration_s: float) -> dict[str, float | None]:
    report = rows_report(store, rows)
    assert report is not None
    flat: dict[str, float | None] = {"PDUs": report["pdus"]}
    over = report["over_time"]
    flat["PDUs/s mean"] = report["pdus"] / duration_s if duration_s > 0 else None
    flat["PDUs/s peak"] = over["peak_pdus_per_s"]
    flat["SUBMITs/s peak"] = over["peak_submits_per_s"]
    for name, c in report["commands"].items():
        short = name.removeprefix("CMPP_")
        flat[f"{short} requests"] = c["requests"]
        flat[f"{short} unanswered"] = c["unanswered"]
        for k in _LATENCY:
            flat[f"{short} latency {k} ms"] = c["latency_ms"][k]
    for r in report["results"]:
        flat[f"{r['command'].removeprefix('CMPP_')} Result {r['code']}"
             + (f" ({r['name']})" if r["name"] else "")] = r["count"]
    reports = report["reports"]
    for stat, info in reports["stat"].items():
        flat[f"reports Stat {stat}"] = info["count"]
    for k in ("p50", "p90", "max"):
        flat[f"SUBMIT to report {k} ms"] = reports["submit_to_report_ms"][k]
    return flat


def _change(a: float | None, b: float | None) -> tuple[float | None, float | None]:
    """(B - A, (B - A) / A) with None where a side has no value (or A is 0 for the ratio)."""
    if a is None or b is None:
        return None, None
    delta = b - a
    return delta, (delta / a if a else None)


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Side by side: for ``all`` and every SP seen on either side, every metric of either
    with A, B, the change and the relative change."""
    def rows(x: Mapping[str, Any], y: Mapping[str, Any]) -> list[dict[str, Any]]:
        names = list(dict.fromkeys([*x, *y]))
        out = []
        for name in names:
            va, vb = x.get(name), y.get(name)
            if va is None and vb is None:
                continue
            delta, ratio = _change(va, vb)
            out.append({"metric": name, "a": va, "b": vb, "change": delta, "relative": ratio})
        return out

    sps = sorted(set(a["sp"]) | set(b["sp"]))
    return {"all": rows(a["all"], b["all"]),
            "sp": {sp: rows(a["sp"].get(sp, {}), b["sp"].get(sp, {})) for sp in sps}}


GROUPS = {
    "latency": "Response times (ms)",
    "requests": "Requests",
    "results": "Result codes",
    "reports": "Status reports",
    "rates": "Rates",
}
"""The groups of metrics a reader looks at apart (the TUI's tables), in that order."""

_LATENCY_RE = re.compile(r"\S+ latency (?:" + "|".join(_LATENCY) + r") ms")
_RESULT_RE = re.compile(r"(\S+) Result (-?\d+)(?: \(.*\))?", re.DOTALL)
_REQUESTS_RE = re.compile(r"\S+ (?:requests|unanswered)")
_RATES = frozenset({"PDUs", "PDUs/s mean", "PDUs/s peak", "SUBMITs/s peak"})


def metric_group(metric: str) -> str:
    """Which of :data:`GROUPS` a metric of :func:`_figures` belongs to, by the name it was
    given there (a Stat from the wire may hold anything: its prefix is read first)."""
    if metric.startswith("reports Stat ") or metric.startswith("SUBMIT to report "):
        return "reports"
    if metric in _RATES:
        return "rates"
    if _LATENCY_RE.fullmatch(metric):
        return "latency"
    if _RESULT_RE.fullmatch(metric):
        return "results"
    if _REQUESTS_RE.fullmatch(metric):
        return "requests"
    raise ValueError(f"not a metric of a comparison: {metric!r}")


def judgement(row: Mapping[str, Any]) -> int:
    """Whether a row of :func:`compare` changed for the worse (1), the better (-1), or
    neither (0): a rise in a response time or the SUBMIT-to-report delay, in unanswered
    requests, in a non-zero Result or in status reports other than DELIVRD is worse (a count
    missing on one side is 0 there), a fall better; volumes and rates are neither."""
    metric = row["metric"]
    group = metric_group(metric)
    a, b = row["a"], row["b"]
    if group == "latency" or metric.startswith("SUBMIT to report "):
        if a is None or b is None:
            return 0
    elif metric.endswith(" unanswered") and group == "requests":
        a, b = a or 0, b or 0
    elif group == "results":
        match = _RESULT_RE.fullmatch(metric)
        if match is None or int(match.group(2)) == 0:
            return 0
        a, b = a or 0, b or 0
    elif metric.startswith("reports Stat "):
        if metric == "reports Stat DELIVRD":
            return 0
        a, b = a or 0, b or 0
    else:
        return 0
    return int(b > a) - int(b < a)


def format_value(value: float | None) -> str:
    """A figure as the text comparison writes it: counts with thousands separators, other
    numbers with two decimals, ``-`` for none."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.2f}"


def format_change(row: Mapping[str, Any]) -> tuple[str, str]:
    """(change, relative change) of a row of :func:`compare` as the text writes them."""
    rel = row["relative"]
    pct = f"{rel * 100:+.0f}%" if rel is not None else ""
    change = row["change"]
    sign = "+" if change is not None and change > 0 else ""
    return (sign + format_value(change)) if change is not None else "-", pct


def _lines(rows: list[dict[str, Any]]) -> Iterator[str]:
    yield f"  {'':<44} {'A':>12} {'B':>12} {'change':>12} {'':>8}"
    for r in rows:
        change, pct = format_change(r)
        yield (f"  {safe_text(r['metric'])[:44]:<44} {format_value(r['a']):>12} "
               f"{format_value(r['b']):>12} {change:>12} {pct:>8}")


def write_comparison(result: Mapping[str, Any], names: tuple[str, str], out: TextIO) -> None:
    """The comparison as text: the whole captures, then each SP."""
    out.write(f"A: {safe_text(names[0])}\nB: {safe_text(names[1])}\n\nWhole capture\n")
    for line in _lines(result["all"]):
        out.write(line + "\n")
    for sp, rows in result["sp"].items():
        out.write(f"\nSP {safe_text(sp)}\n")
        for line in _lines(rows):
            out.write(line + "\n")
