"""Where did my reports go: status reports reconciled with their SUBMITs (issue 16, part 1).

The compiled core matches every status report to the SUBMIT its Msg_Id came from and keeps,
per SP, what matched (by Stat, with the delays), what came on another connection, what
repeated a report already matched, what matched nothing (and what came close: a near miss);
at the end, the Msg_Ids still awaiting a report are the SUBMITs never reported. The engine
lists the reports that did not simply match (bounded) and words their findings. This module
only arranges those figures into the report's ``reconciliation`` section, which the text
summary, the API (``Analysis.reconciliation()``) and the TUI show.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from cmppdissect.core._engine import OTHER_KEY
from cmppdissect.engine import Engine
from cmppdissect.engine.sketch import Sketches
from cmppdissect.engine.stats import summarize_ms
from cmppdissect.protocol.report import stat_class

__all__ = ["NO_SP", "OTHER", "reconciliation", "sp_name"]

NO_SP = "(no login seen)"
"""The SP of sessions whose login was not captured (here and in ``cmppdissect diff``)."""

OTHER = "(other)"
"""What came past the core's ``max_report_keys`` SPs and Stats, counted together."""

_NS_PER_HOUR = 3600 * 10**9


def sp_name(raw: bytes) -> str:
    """The core's SP key as the report names it (the SP id, or what stands for none)."""
    if raw == OTHER_KEY:
        return OTHER
    return raw.decode("ascii", "backslashreplace") if raw else NO_SP


def _stat_name(raw: bytes) -> str:
    return OTHER if raw == OTHER_KEY else raw.decode("ascii", "backslashreplace")


def _delays(stats: dict[str, dict[str, Any]],
            raw: Iterable[tuple[str, int, bytes, tuple[Any, ...]]]) -> None:
    """Add (Stat, count, delay samples, the key of their folded part) into ``stats``
    (Stat -> count, samples, keys)."""
    for stat, count, delays, key in raw:
        entry = stats.setdefault(stat, {"count": 0, "samples": [], "keys": []})
        entry["count"] += count
        entry["samples"].append(delays)
        entry["keys"].append(key)


def _stat_table(stats: dict[str, dict[str, Any]], sketches: Sketches
                ) -> dict[str, dict[str, Any]]:
    return {stat: {"count": e["count"], "class": stat_class(stat) if stat != OTHER else None,
                   "submit_to_report_ms": summarize_ms(e["samples"],
                                                       sketches.merged(e["keys"]))}
            for stat, e in sorted(stats.items())}


def _hour(hour: int) -> str:
    return dt.datetime.fromtimestamp(hour * 3600, dt.UTC).strftime("%Y-%m-%d %H:00Z")


def _ids_as_text(item: dict[str, Any]) -> dict[str, Any]:
    """Msg_Ids as decimal strings, as in every JSON output (a double keeps 53 bits)."""
    return {k: str(v) if k in ("msg_id", "submit_msg_id") else v for k, v in item.items()}


def reconciliation(engine: Engine) -> dict[str, Any]:
    """The ``reconciliation`` section: figures for the whole capture, per SP and per Stat,
    and the listings (each bounded by the engine's ``max_report_listed``; ``count`` is
    always the full number). Msg_Ids are decimal strings, as in every JSON output."""
    core = engine.core
    totals = core.reconciliation()
    limit = engine.max_report_listed
    per_hour, listing = core.unreported(limit)
    end_ns = totals["last_ns"]
    never_per_sp: dict[str, int] = {}
    hours = []
    for (raw_sp, hour), n in sorted(per_hour.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        sp = sp_name(raw_sp)
        never_per_sp[sp] = never_per_sp.get(sp, 0) + n
        hours.append({"hour": _hour(hour), "sp_id": sp, "count": n})
    never_count = sum(per_hour.values())
    never_listed = [
        {"msg_id": str(msg_id), "submit_frame": frame, "time": ts / 1e9,
         "age_s": (end_ns - ts) / 1e9, "session": sid, "sp_id": sp_name(sp),
         "recipient": recipient.decode("ascii", "backslashreplace"),
         "recipient_index": index, "recipients": count,
         "near_miss_frame": near or None}
        for msg_id, frame, ts, sid, sp, recipient, index, count, near, *_registered in listing]
    per_sp: dict[str, dict[str, Any]] = {}
    all_stats: dict[str, dict[str, Any]] = {}
    for raw_sp, figures in sorted(totals["sp"].items()):
        sp = sp_name(raw_sp)
        stats: dict[str, dict[str, Any]] = {}
        raw_stats = [(_stat_name(s), c, d, ("delays", raw_sp, s))
                     for s, (c, d) in figures["stats"].items()]
        _delays(stats, raw_stats)
        _delays(all_stats, raw_stats)
        per_sp[sp] = {
            "awaited": figures["awaited"], "matched": figures["matched"],
            "never_reported": never_per_sp.get(sp, 0),
            "other_connection": figures["other_connection"],
            "duplicates": figures["duplicates"], "unmatched": figures["unmatched"],
            "near_misses": figures["near_misses"],
            "submit_to_report_ms": summarize_ms(
                [d for e in stats.values() for d in e["samples"]],
                engine.sketches.merged(k for e in stats.values() for k in e["keys"])),
            "stat": _stat_table(stats, engine.sketches)}
    lists = {kind: [_ids_as_text(item) for item in items]
             for kind, items in engine.report_lists.items()}
    counts = engine.report_counts
    return {
        "report_delay_s": engine.report_delay_s,
        # -c: the rest of the capture was not read, so "never" means "not by then"
        "stopped_early": bool(core.cut_short),
        "capture_start": totals["first_ns"] / 1e9 if core.pdus else None,
        "capture_end": end_ns / 1e9 if core.pdus else None,
        "awaited": sum(f["awaited"] for f in totals["sp"].values()),
        "matched": sum(f["matched"] for f in totals["sp"].values()),
        "never_reported": {"count": never_count, "per_sp": dict(sorted(never_per_sp.items())),
                           "per_hour": hours, "forgotten_past_cap": totals["evicted"],
                           "listed": never_listed},
        "unmatched": {"count": totals["unmatched"],
                      "submit_may_predate_capture": counts["unmatched-early"],
                      "listed": lists["unmatched"]},
        "duplicates": {"count": totals["duplicates"], "listed": lists["duplicates"]},
        "other_connection": {"count": totals["other_connection"],
                             "listed": lists["other_connection"]},
        "near_misses": {"count": totals["near_misses"],
                        "by_rule": {r[5:]: n for r, n in sorted(counts.items())
                                    if r.startswith("near-")},
                        "listed": lists["near_misses"]},
        "per_sp": per_sp,
        "per_stat": _stat_table(all_stats, engine.sketches),
    }
