"""Why was I throttled: flow control and the window, per session and side (issue 16, part 3).

The compiled core keeps, per session and side (requests from the client, from the server),
time slots (one second, widened past ``FLOW_SLOTS`` so a session of any length keeps a
bounded number) with the sends, the most requests in flight at a send, the answers with their
latency, and the refusals (Result 8, flow control) and other errors; the most sends within a
second (sliding); the sends made with more than the spec's window W in flight; and the runs
of refusals, each with what its request met when it was sent (the requests in flight and the
send rate). This module words a verdict for each slot and joins equal neighbours into periods:

* **gateway**: the gateway refused (Result 8);
* **window**: W requests were in flight at a send: the rate is what the window allows,
  W / latency (the figure given beside the rate); ``latency_rising`` says whether the
  gateway's slower answers are what made the window bind;
* **gateway** again: the window was not full but the latency rose (a slot's mean latency at
  least twice the side's usual, the slots' 25th percentile, and 5 ms more);
* **sender**: the window was never full and the gateway answered promptly: the sender sent
  no faster.
"""

from __future__ import annotations

from typing import Any

from cmppdissect.protocol.commands import WINDOW as SPEC_WINDOW
from cmppdissect.protocol.commands import command_name
from cmppdissect.protocol.results import result_name

__all__ = ["MAX_PERIODS", "flow_dict", "flow_summary", "verdicts"]

MAX_PERIODS = 100
"""Periods listed per session and side (``periods`` counts them all)."""

_RISE = 2.0        # a slot's latency this many times the usual ...
_RISE_NS = 5e6     # ... and this much more is "rising latency"
_SIDES = ("from_client", "from_server")


def _baseline(slots: list[tuple[int, ...]]) -> float | None:
    means = sorted(lat / n for (_, _, _, n, lat, _, _) in slots if n)
    return means[len(means) // 4] if means else None


def verdict_of(slot: tuple[int, ...], baseline: float | None, window: int = SPEC_WINDOW) -> str:
    """One slot's verdict (see the module's docs); "idle" when nothing was sent or answered."""
    _, sends, max_in_flight, answered, _, refused, _ = slot
    if not sends and not answered:
        return "idle"
    if refused:
        return "gateway"
    if max_in_flight >= window:
        return "window"
    if _rising(slot, baseline):
        return "gateway"
    return "sender"


def _rising(slot: tuple[int, ...], baseline: float | None) -> bool:
    answered, latency_sum = slot[3], slot[4]
    if not answered or baseline is None:
        return False
    mean = latency_sum / answered
    return mean >= _RISE * baseline and mean - baseline >= _RISE_NS


def verdicts(flow: dict[str, Any], window: int = SPEC_WINDOW) -> list[dict[str, Any]]:
    """The side's periods: neighbouring slots with one verdict (idle slots end a period),
    with the figures behind the verdict."""
    width = flow["width_ns"]
    slots = flow["slots"]
    baseline = _baseline(slots)
    periods: list[dict[str, Any]] = []
    acc: dict[str, Any] | None = None
    last = 0
    for slot in slots:
        verdict = verdict_of(slot, baseline, window)
        index, sends, max_in_flight, answered, latency_sum, refused, errors = slot
        if verdict == "idle" or acc is None or acc["verdict"] != verdict or index != last + 1:
            if acc is not None:
                periods.append(acc)
            acc = None
            if verdict != "idle":
                acc = {"verdict": verdict, "first": index, "slots": 0, "sends": 0,
                       "max_in_flight": 0, "answered": 0, "latency_sum": 0, "refused": 0,
                       "errors": 0, "rising": False}
        last = index
        if acc is None:
            continue
        acc["slots"] += 1
        acc["sends"] += sends
        acc["max_in_flight"] = max(acc["max_in_flight"], max_in_flight)
        acc["answered"] += answered
        acc["latency_sum"] += latency_sum
        acc["refused"] += refused
        acc["errors"] += errors
        acc["rising"] = acc["rising"] or _rising(slot, baseline)
    if acc is not None:
        periods.append(acc)
    out = []
    for p in periods:
        seconds = p["slots"] * width / 1e9
        mean_ms = p["latency_sum"] / p["answered"] / 1e6 if p["answered"] else None
        out.append({
            "verdict": p["verdict"], "from": p["first"] * width / 1e9,
            "to": (p["first"] + p["slots"]) * width / 1e9, "sends": p["sends"],
            "sends_per_s": p["sends"] / seconds, "max_in_flight": p["max_in_flight"],
            "latency_ms": mean_ms,
            "window_allows_per_s": window / (mean_ms / 1e3) if mean_ms else None,
            "latency_rising": p["rising"], "refused": p["refused"], "errors": p["errors"]})
    return out


def _side(flow: dict[str, Any], max_in_flight: int) -> dict[str, Any]:
    periods = verdicts(flow)
    seconds: dict[str, float] = {}
    for p in periods:
        seconds[p["verdict"]] = seconds.get(p["verdict"], 0.0) + p["to"] - p["from"]
    onsets = []
    for frame, request_frame, ts, cmd, result, in_flight, rate in flow["first_onsets"]:
        name = command_name(cmd)
        onsets.append({"frame": frame, "request_frame": request_frame, "time": ts / 1e9,
                       "command": name, "result": result, "name": result_name(name, result),
                       "in_flight": in_flight, "sends_per_s": rate})
    return {
        "window": SPEC_WINDOW, "max_in_flight": max_in_flight,
        "sends_over_window": flow["over_window"], "max_sends_per_s": flow["max_rate"],
        "slot_s": flow["width_ns"] / 1e9,
        "refusals": {"runs": flow["onsets"], "first": onsets},
        "verdict_seconds": dict(sorted(seconds.items())),
        "periods": len(periods), "listed": periods[:MAX_PERIODS]}


def flow_dict(session: dict[str, Any]) -> dict[str, Any]:
    """A session's ``flow`` (of the core's ``session()`` dict): each side that sent requests."""
    out = {}
    for name, flow in zip(_SIDES, session["flow"], strict=True):
        if not flow["slots"]:
            continue
        most = max((s[2] for s in flow["slots"]), default=0)
        out[name] = _side(flow, most)
    return out


def flow_summary(sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's ``flow_control`` section: the sessions whose flow says something (a
    window violation, a refusal, time bound by the window or the gateway), worst first."""
    rows = []
    for s in sessions:
        for side, f in s.get("flow", {}).items():
            secs = f["verdict_seconds"]
            if not (f["sends_over_window"] or f["refusals"]["runs"] or secs.get("window")
                    or secs.get("gateway")):
                continue
            rows.append({"session": s["id"], "sp_id": s["sp_id"], "side": side,
                         "max_in_flight": f["max_in_flight"],
                         "sends_over_window": f["sends_over_window"],
                         "max_sends_per_s": f["max_sends_per_s"],
                         "refusal_runs": f["refusals"]["runs"],
                         "first_refusal": (f["refusals"]["first"] or [None])[0],
                         "verdict_seconds": secs})
    rows.sort(key=lambda r: (-r["refusal_runs"], -r["sends_over_window"],
                             -r["verdict_seconds"].get("gateway", 0.0), r["session"]))
    return {"window": SPEC_WINDOW, "sessions": rows}
