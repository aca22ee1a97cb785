"""Is it really a timeout: what became of each request unanswered or resent (issue 16, part 4).

A client library logs "timeout" and resends; the gateway's log says it answered. The compiled
core keeps every request that was called unanswered (no answer within the timeout, or its
connection closed first) or sent again, until the capture tells what became of it (bounded by
``max_lost``; past it the oldest are counted as they were then):

* ``late``: the answer came after the timeout, on its connection;
* ``other-connection``: the answer came on another connection of the same SP;
* ``wrong-sequence``: no answer with its Sequence_Id, but an orphan answer to the same
  command came on its connection within the timeout (a peer that got the Sequence_Id wrong);
* ``never``: no answer at all;
* ``resent-answered``: sent again (within or after the timeout) and answered once;
* ``duplicate``: sent again and answered twice with Result 0: the gateway took it twice, a
  likely duplicate message to the handset;
* ``answered-twice``: sent again and answered twice, not both accepted;
* ``resent``: sent again after the timeout, the resend still in flight when reading stopped.
"""

from __future__ import annotations

from typing import Any

from cmppdissect.core._engine import LOST_NAMES
from cmppdissect.engine import Engine
from cmppdissect.output.reconcile import sp_name
from cmppdissect.protocol.commands import command_name

__all__ = ["OUTCOMES", "timeouts"]

OUTCOMES = ("never", "late", "other-connection", "wrong-sequence", "resent-answered",
            "duplicate", "answered-twice", "resent")
"""The outcomes in the order the report and the summary give them."""


def _count(into: dict[str, dict[str, int]], sp: str, kind: str, n: int) -> None:
    per = into.setdefault(sp, dict.fromkeys(OUTCOMES, 0))
    per[kind] += n


def timeouts(engine: Engine) -> dict[str, Any]:
    """The report's ``timeouts`` section: counts by outcome, for the capture and per SP, and
    the requests listed (at most ``max_report_listed`` of each outcome, oldest first)."""
    forgotten, kept, listed = engine.core.lost_requests(engine.max_report_listed)
    per_sp: dict[str, dict[str, int]] = {}
    for source in (forgotten, kept):
        for (raw_sp, kind), n in source.items():
            _count(per_sp, sp_name(raw_sp), str(LOST_NAMES[kind]), n)
    totals = dict.fromkeys(OUTCOMES, 0)
    for per in per_sp.values():
        for outcome, count in per.items():
            totals[outcome] += count
    items = []
    for (kind, sid, raw_sp, frame, ts, cmd, seq, sends, answer, answer_sid, first_answer,
         delay, result, result2) in listed:
        answered = kind not in (0, 4)  # never, resent: no answer to tell of
        items.append({
            "outcome": LOST_NAMES[kind], "session": sid, "sp_id": sp_name(raw_sp),
            "frame": frame, "time": ts / 1e9, "command": command_name(cmd),
            "sequence_id": seq, "sends": sends,
            "answer_frame": answer or None,
            "answer_session": answer_sid if answer else None,
            "first_answer_frame": first_answer or None,
            "answer_after_ms": delay / 1e6 if answered else None,
            "result": result if answered and result >= 0 else None,
            "second_result": result2 if result2 >= 0 else None})
    items.sort(key=lambda i: (OUTCOMES.index(i["outcome"]), i["frame"]))
    return {"requests": sum(totals.values()), "outcomes": totals,
            "forgotten": sum(forgotten.values()), "timeout_s": engine.core.timeout_ns / 1e9,
            "per_sp": dict(sorted(per_sp.items())), "listed": items}
