"""The merge of hosts' parts into one report, sans-IO (no Dask, no files).

Every host's chain went through the one engine (:mod:`cmppdissect.scale.parts`); what stays to
do is what the one engine would have done had it read every host's files as one stream:

* counters add (PDUs, per command, Results, Stats, rates per second, long SMS, sessions);
* latencies and report delays are exact samples (int64 ns, 8 bytes each) put together, so the
  percentiles are those of every sample (a mean of integer ns is exact while the sum stays
  under 2**53 ns, 104 days of latency added up: the order of the samples does not matter);
* the *loose ends* are tied by key, as the engine ties them: a status report that matched no
  SUBMIT on its host is matched by Msg_Id to a SUBMIT that another host saw awaiting a report
  at its end (if its SUBMIT_RESP, which brings the id, came first), exactly as the one engine
  over all the files would have (counted matched, on another connection, with its delay; a
  later report of that Msg_Id and recipient is then a duplicate). If that host matched a
  report of the id itself, later, the earlier one becomes the match and the host's own a
  duplicate; if earlier, the unmatched one is a duplicate of it. Whether a report that stays
  unmatched came early is decided again against the first time of all hosts, and its near
  miss looked for again: the keys the core's rules tried for it, in their order, against every
  host's Msg_Ids awaiting at its time (from their SUBMIT_RESP until a report matched them).
  "Came first" is the order of the one engine's stream (:data:`Moment`: time, then the
  hosts' order, then each host's own order of PDUs of one time).

The report itself is built by :func:`cmppdissect.output.report.build_report`, the one place
that words it, from a read-only stand-in of the engine holding the merged figures, so every
number is the same function of the same inputs as in a one-machine report.

What cannot be merged exactly is said, never guessed: the report's ``scale`` key lists the
sections equal to the one-engine run (``merged_sections``), those equal but for session ids
and frame numbers, which are each host's own (``host_local``), and those not merged, each with
why (``not_merged``). Some of these are decided on the data (a cap reached by a host, or by
the hosts' tables added up, an SP whose CONNECTs are on two hosts, a long SMS left
incomplete, a Msg_Id awaited on two hosts). ``tests/test_scale_random.py`` holds the merge to
the one engine on seeded random scenarios of several hosts.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from cmppdissect.core._engine import NEAR_NAMES, NEAR_OTHER_GATEWAY, OTHER_KEY, STORM_CONNECTS
from cmppdissect.engine import ExpertItem, SessionNames
from cmppdissect.engine.sketch import Sketches
from cmppdissect.output.reconcile import NO_SP, sp_name
from cmppdissect.output.report import build_report
from cmppdissect.protocol.expert import Severity
from cmppdissect.protocol.msgid import MSG_ID_GATEWAY_BITS

if TYPE_CHECKING:
    from cmppdissect.engine import Engine
    from cmppdissect.scale.parts import HostPart

__all__ = ["LISTINGS", "SECTIONS", "merge_parts"]

SECTIONS = ("pdus", "sessions", "sessions_dropped", "commands", "results", "reports",
            "reconciliation", "timeouts", "flow_control", "links", "long_sms", "over_time",
            "expert_counts", "expert")
"""The report's sections, in its order."""

HOST_LOCAL = ("sessions", "flow_control")
"""Sections whose session ids and frame numbers are each host's own (several hosts)."""

LISTINGS = ("reconciliation.never_reported.listed", "reconciliation.unmatched.listed",
            "reconciliation.duplicates.listed", "reconciliation.other_connection.listed",
            "reconciliation.near_misses.listed", "timeouts.listed", "expert")
"""What lists single PDUs by frame and session (several hosts: each host's own numbers,
and the one engine's bounded lists keep the first in the merged stream's order)."""

_NS_PER_HOUR = 3600 * 10**9

Moment = tuple[int, int, int]
"""(time ns, host, row): where a PDU comes in the one engine's stream of every host's files
merged by time (a tie in time goes to the earlier host's file, and a host's PDUs of one time
come in the order of their rows)."""
_FOREVER = 2**63 - 1


class _Expert:
    """The expert list's read side (``items``)."""

    def __init__(self, items: list[ExpertItem], max_expert: int) -> None:
        self.items = items
        self.max_expert = max_expert


class _MergedCore:
    """The compiled core's read methods that the report calls, over merged figures."""

    cut_short = False
    in_flight_at_stop = 0

    def __init__(self) -> None:
        self.pdus = 0
        self.retired_sessions = 0
        self.timeout_ns = 0
        self.idle_ns = 0
        self._commands: dict[int, list[int]] = {}
        self._latency: dict[int, list[bytes]] = {}
        self._results: Counter[tuple[int, int]] = Counter()
        self._stats: Counter[bytes] = Counter()
        self.to_report: list[bytes] = []
        self._rates: tuple[Counter[int], Counter[int], dict[int, tuple[int, int]]] = (
            Counter(), Counter(), {})
        self._long: Counter[str] = Counter()
        self._links: dict[bytes, tuple[int, int, int]] = {}
        self.order: list[int] = []
        self.by_id: dict[int, dict[str, Any]] = {}
        self.recon: dict[str, Any] = {"awaiting": 0, "evicted": 0, "unmatched": 0,
                                      "duplicates": 0, "other_connection": 0,
                                      "near_misses": 0, "first_ns": 0, "last_ns": 0, "sp": {}}
        self.per_hour: Counter[tuple[bytes, int]] = Counter()
        self.awaiting: list[tuple[Any, ...]] = []
        self.lost_forgotten: Counter[tuple[bytes, int]] = Counter()
        self.lost_kept: Counter[tuple[bytes, int]] = Counter()
        self.lost_listed: list[tuple[Any, ...]] = []

    # -- what build_report reads --------------------------------------------------------------

    def commands(self) -> dict[int, tuple[int, ...]]:
        return {cmd: tuple(c) for cmd, c in self._commands.items()}

    def latency_samples(self, request_id: int) -> bytes:
        return b"".join(self._latency.get(request_id, ()))

    def result_counts(self) -> dict[tuple[int, int], int]:
        return dict(self._results)

    def report_stats(self) -> dict[bytes, int]:
        return dict(self._stats)

    def submit_to_report_samples(self) -> bytes:
        return b"".join(self.to_report)

    def rates(self) -> tuple[dict[int, int], dict[int, int], dict[int, tuple[int, int]]]:
        return dict(self._rates[0]), dict(self._rates[1]), dict(self._rates[2])

    def long_sms(self) -> dict[str, int]:
        return dict(self._long)

    def links(self) -> dict[bytes, tuple[int, int, int]]:
        return dict(self._links)

    def session_ids(self) -> list[int]:
        return list(self.order)

    def session(self, sid: int) -> dict[str, Any] | None:
        return self.by_id.get(sid)

    def reconciliation(self) -> dict[str, Any]:
        # As Core.reconciliation, no SP without a figure: one whose only report the merge
        # tied to another SP's SUBMIT has none left.
        return {**self.recon, "sp": {sp: f for sp, f in self.recon["sp"].items()
                                     if f["stats"] or any(f[k] for k in f if k != "stats")}}

    def unreported(self, limit: int) -> tuple[dict[tuple[bytes, int], int],
                                              list[tuple[Any, ...]]]:
        return {k: n for k, n in self.per_hour.items() if n}, self.awaiting[:limit]

    def lost_requests(self, limit: int) -> tuple[dict[tuple[bytes, int], int],
                                                 dict[tuple[bytes, int], int],
                                                 list[tuple[Any, ...]]]:
        shown: Counter[int] = Counter()
        listed = []
        for item in self.lost_listed:
            if shown[item[0]] < limit:
                shown[item[0]] += 1
                listed.append(item)
        return dict(self.lost_forgotten), dict(self.lost_kept), listed

    # -- adding a host ------------------------------------------------------------------------

    def add(self, part: HostPart, offset: int) -> None:
        self.pdus += part.pdus
        self.retired_sessions += part.retired_sessions
        self.timeout_ns = part.settings.get("timeout_ns", self.timeout_ns)
        self.idle_ns = part.settings.get("idle_ns", self.idle_ns)
        for cmd, counters in part.commands.items():
            into = self._commands.setdefault(cmd, [0] * len(counters))
            for i, n in enumerate(counters):
                into[i] += n
            self._latency.setdefault(cmd, []).append(part.latency.get(cmd, b""))
        self._results.update(part.result_counts)
        self._stats.update(part.report_stats)
        self.to_report.append(part.submit_to_report)
        pdu_rate, submit_rate, latency, _width, _peak_pdus, _peak_submits = part.rates
        self._rates[0].update(pdu_rate)
        self._rates[1].update(submit_rate)
        for sec, (total, n) in latency.items():
            was = self._rates[2].get(sec, (0, 0))
            self._rates[2][sec] = (was[0] + total, was[1] + n)
        self._long.update(part.long_sms)
        for sp, (connects, most, storms) in part.links.items():
            had = self._links.get(sp, (0, 0, 0))
            self._links[sp] = (had[0] + connects, max(had[1], most), had[2] + storms)
        self._add_recon(part.reconciliation)
        self.per_hour.update(part.unreported_per_hour)
        for entry in part.awaiting:
            self.awaiting.append((*entry[:3], entry[3] + offset, *entry[4:]))
        forgotten, kept, listed = part.lost
        self.lost_forgotten.update(forgotten)
        self.lost_kept.update(kept)
        for item in listed:
            answer_sid = item[9] + offset if item[8] else item[9]
            self.lost_listed.append((item[0], item[1] + offset, *item[2:9], answer_sid,
                                     *item[10:]))

    def _add_recon(self, totals: Mapping[str, Any]) -> None:
        if not totals:
            return
        r = self.recon
        for key in ("awaiting", "evicted", "unmatched", "duplicates", "other_connection",
                    "near_misses"):
            r[key] += totals[key]
        if totals["first_ns"] or totals["last_ns"]:
            r["first_ns"] = (totals["first_ns"] if not (r["first_ns"] or r["last_ns"])
                             else min(r["first_ns"], totals["first_ns"]))
            r["last_ns"] = max(r["last_ns"], totals["last_ns"])
        for sp, figures in totals["sp"].items():
            into = r["sp"].setdefault(sp, {"awaited": 0, "matched": 0, "other_connection": 0,
                                           "duplicates": 0, "unmatched": 0, "near_misses": 0,
                                           "stats": {}})
            for key in ("awaited", "matched", "other_connection", "duplicates", "unmatched",
                        "near_misses"):
                into[key] += figures[key]
            for stat, (count, delays) in figures["stats"].items():
                was_count, was_delays = into["stats"].get(stat, (0, b""))
                into["stats"][stat] = (was_count + count, was_delays + delays)


class _MergedEngine:
    """The engine's read side that the report calls (see :func:`build_report`)."""

    def __init__(self, core: _MergedCore, max_report_listed: int, report_delay_s: float,
                 max_expert: int) -> None:
        self.core = core
        self.max_report_listed = max_report_listed
        self.report_delay_s = report_delay_s
        self.sessions: dict[int, SessionNames] = {}
        self.counts: Counter[tuple[Severity, str]] = Counter()
        self.report_for = 0
        self.expert = _Expert([], max_expert)
        self.report_lists: dict[str, list[dict[str, Any]]] = {
            "unmatched": [], "duplicates": [], "other_connection": [], "near_misses": []}
        self.report_counts: Counter[str] = Counter()
        self.sketches = Sketches(0)  # the hosts' folded samples, merged

    @property
    def expert_counts(self) -> Counter[tuple[Severity, str]]:
        counts = Counter({k: n for k, n in self.counts.items() if n})
        if self.report_for:
            counts[(Severity.CHAT, "report-for")] += self.report_for
        return counts


class _Verdict:
    """Which sections are exact, and why the others are not."""

    def __init__(self) -> None:
        self.not_merged: dict[str, str] = {}

    def fail(self, sections: Iterable[str], why: str) -> None:
        for section in sections:
            self.not_merged.setdefault(section, why)
            if section.startswith("expert_counts"):  # each session counts its findings too
                self.not_merged.setdefault("sessions[].expert", why)


def _sp_key(part: HostPart, sp_id: str | None) -> bytes:
    """The core's SP key of a session's SP as the engine named it (a report of the session
    counted under it), or, the host's SPs past ``max_report_keys``, the key they share."""
    name = sp_id if sp_id is not None else NO_SP
    for raw in part.reconciliation.get("sp", {}):
        if sp_name(raw) == name:
            return cast(bytes, raw)
    return OTHER_KEY


class _Reports:
    """Status reports of one host tied to SUBMITs of another (the loose ends)."""

    def __init__(self, engine: _MergedEngine, parts: Sequence[HostPart],
                 offsets: Sequence[int], verdict: _Verdict) -> None:
        self.engine = engine
        self.parts = parts
        self.offsets = offsets
        self.verdict = verdict
        self.reported: set[tuple[int, int]] = set()  # (Msg_Id, session) awaited, now tied
        self.tied = 0  # reports matched by the merge to a Msg_Id awaiting on another host
        self.near_gone: set[tuple[int, int]] = set()  # (frame, session) near misses undone
        self.near_found: list[dict[str, Any]] = []  # near misses of a SUBMIT on another host
        # Every Msg_Id awaited on a host, while it was: [host, its SUBMIT_RESP's moment, its
        # report's (None: never), SUBMIT frame, SUBMIT session, Msg_Id]; by Msg_Id, and by the
        # id without its gateway bits. A moment is (time, host, row): the order of the one
        # engine's merged stream, where a tie in time goes to the earlier host's file and PDUs
        # of one host and time (one segment, one clock tick) come in the order of their rows
        self.lives: dict[int, list[list[Any]]] = {}
        self.masked: dict[int, list[list[Any]]] = {}
        self.no_near: str | None = None  # why near misses cannot be looked for across hosts
        self.same_traffic = False  # a Msg_Id awaited or matched on two hosts (said once)
        # Per host: before this report time, a Msg_Id it matched may be forgotten
        # (Core.matched_reports keeps the newest); None: nothing forgotten
        self.forgot: list[int | None] = []
        # Per host: why its Msg_Ids may have awaited before the SUBMIT_RESP that last brought
        # them (brought again while awaiting; an earlier life forgotten); None: they did not
        self.earlier: list[str | None] = []

    def _drop_unmatched_finding(self, part: HostPart, item: dict[str, Any], sid: int) -> None:
        """Take back what the host's engine counted for a report it found unmatched."""
        e = self.engine
        sev = Severity.CHAT if item["submit_may_predate_capture"] else Severity.WARN
        e.counts[(sev, "report-unmatched")] -= 1
        if sev > Severity.CHAT:
            self._session_severity(sid, sev, -1)
        if item["submit_may_predate_capture"]:
            e.report_counts["unmatched-early"] -= 1
        key = _sp_key(part, item["sp_id"])
        recon = e.core.recon
        recon["unmatched"] -= 1
        recon["sp"][key]["unmatched"] -= 1
        if item.get("near_miss") is not None:  # the one engine matches first: no near miss
            self._near_undone(part, item, sid)

    def _near_undone(self, part: HostPart, item: dict[str, Any], sid: int) -> None:
        """Take back the near miss the host's engine found for report ``item``."""
        self._count_near(part, item, sid, -1)
        self.engine.report_counts[f"near-{item['near_miss']}"] -= 1
        self.near_gone.add((item["frame"], sid))

    def _count_near(self, part: HostPart, item: dict[str, Any], sid: int, n: int) -> None:
        """A near miss of report ``item`` counted (``n`` 1) or taken back (-1): in all, for
        the report's SP, as a finding, and in its session's severities."""
        e = self.engine
        recon = e.core.recon
        recon["near_misses"] += n
        recon["sp"][_sp_key(part, item["sp_id"])]["near_misses"] += n
        e.counts[(Severity.WARN, "report-near-miss")] += n
        self._session_severity(sid, Severity.WARN, n)

    def _session_severity(self, sid: int, severity: Severity, n: int) -> None:
        names = self.engine.sessions.get(sid)
        if names is not None:
            names.expert[severity.name] += n

    def _same_traffic(self, msg_id: int) -> None:
        """A Msg_Id (unique to one gateway's SUBMIT) awaited a report on two hosts: they saw
        the same traffic (two taps on one path), which no merge of partitions can read as the
        one engine does; long SMS, keyed by sender, recipients and reference, repeat too.
        Said of the first such id (a verdict keeps the first reason): copies of one traffic
        share every id, and saying each one took most of a merge of 16 such hosts."""
        if self.same_traffic:
            return
        self.same_traffic = True
        self.verdict.fail(("reports", "reconciliation", "expert_counts", "long_sms"),
                          f"Msg_Id {msg_id} awaited a report on two hosts: they saw the same "
                          "traffic")

    def tie(self) -> None:
        e = self.engine
        core = e.core
        awaited: dict[int, tuple[int, tuple[Any, ...]]] = {}
        for h, part in enumerate(self.parts):
            for entry in part.awaiting:
                if entry[0] in awaited and awaited[entry[0]][0] != h:
                    self._same_traffic(entry[0])
                awaited[entry[0]] = (h, entry)
        # The reports each host matched itself (those its core still remembers), by Msg_Id.
        matched_at: dict[int, tuple[int, tuple[Any, ...]]] = {}
        for h, part in enumerate(self.parts):
            for m in part.matched:
                other = matched_at.get(m[0])
                if (other is not None and other[0] != h) or (
                        m[0] in awaited and awaited[m[0]][0] != h):
                    self._same_traffic(m[0])
                matched_at[m[0]] = (h, m)
        self._lives(self._asked())
        unmatched = []
        for h, part in enumerate(self.parts):
            listed = part.report_lists.get("unmatched", [])
            if part.reconciliation.get("unmatched", 0) > len(listed):
                self.verdict.fail(("reports", "reconciliation", "expert_counts"),
                                  f"host {part.host}: more unmatched status reports than "
                                  "the merge takes")
            for item, (candidates, own, row) in zip(listed, part.near, strict=True):
                ts = part.first_ns + round(item["after_capture_start_s"] * 1e9)
                unmatched.append(((ts, h, row), item, candidates, own))
        unmatched.sort(key=lambda u: u[0])
        first_ns = core.recon["first_ns"]
        tied: dict[int, tuple[int, str, bytes]] = {}  # Msg_Id: report time, recipient, SP
        kept: list[dict[str, Any]] = []
        for when, item, candidates, own in unmatched:
            ts, h, _row = when
            part = self.parts[h]
            sid = item["session"] + self.offsets[h]
            msg_id = item["msg_id"]
            found = awaited.get(msg_id)
            brought = (found[1][9], found[0], found[1][10]) if found is not None else when
            if found is not None and found[0] != h:
                self._before_brought(found[0], brought, h, msg_id, when)
            # Awaiting from its SUBMIT_RESP on (the id comes in it), as in the one engine.
            if found is not None and found[0] != h and brought < when:
                self._match(part, item, sid, ts, found)
                self._ended(found[0], msg_id, when)
                del awaited[msg_id]
                tied[msg_id] = (ts, item["recipient"], found[1][4])
                continue
            done = tied.get(msg_id)
            if done is not None and done[1] == item["recipient"]:
                self._duplicate(part, item, sid, done)
                continue
            mine = matched_at.get(msg_id)
            if mine is not None and mine[0] != h:
                g, m = mine
                brought, reported = (m[8], g, m[11]), (m[4], g, m[12])
                self._before_brought(g, brought, h, msg_id, when)
            if mine is not None and mine[0] != h and brought < when:
                same = m[1].decode("ascii", "backslashreplace") == item["recipient"]
                if when < reported and same:
                    # Before the other host's own report of it: the one engine matches this
                    # one, and the other host's becomes a copy of it.
                    self._take_over(part, item, sid, ts, mine)
                    self._ended(g, msg_id, when)
                    del matched_at[msg_id]
                    tied[msg_id] = (ts, item["recipient"], m[2])
                    continue
                if when < reported:
                    self.verdict.fail(
                        ("reports", "reconciliation", "expert_counts"),
                        f"a status report of Msg_Id {msg_id} came on host {part.host} before "
                        f"host {self.parts[g].host} matched one to another recipient")
                elif same:  # a copy of a report the other host matched first
                    self._duplicate(part, item, sid, (m[4], item["recipient"], m[2]))
                    continue
            # Still unmatched: early or not, against the first time of every host.
            after = (ts - first_ns) / 1e9
            early = after < e.report_delay_s
            if early != item["submit_may_predate_capture"]:
                was = Severity.CHAT if not early else Severity.WARN
                now = Severity.CHAT if early else Severity.WARN
                e.counts[(was, "report-unmatched")] -= 1
                e.counts[(now, "report-unmatched")] += 1
                e.report_counts["unmatched-early"] += 1 if early else -1
                if was > Severity.CHAT:
                    self._session_severity(sid, was, -1)
                if now > Severity.CHAT:
                    self._session_severity(sid, now, 1)
            item = {**item, "session": sid, "after_capture_start_s": after,
                    "submit_may_predate_capture": early}
            self._near(item, when, candidates, own)
            kept.append(item)
        e.report_lists["unmatched"] = kept
        core.awaiting = [a for a in core.awaiting if (a[0], a[3]) not in self.reported]
        e.report_lists["near_misses"] = [n for n in e.report_lists["near_misses"]
                                         if (n["frame"], n["session"]) not in self.near_gone]
        e.report_lists["near_misses"] += self.near_found
        for rule in [r for r, n in e.report_counts.items() if r.startswith("near-") and not n]:
            del e.report_counts[rule]  # a rule whose one near miss moved to another

    def _asked(self) -> tuple[set[int], set[int]]:
        """The Msg_Ids whose lives the unmatched reports may ask about (their own, and their
        near-miss candidates), and the ids without their gateway's bits that the
        other-gateway rule asks about: only those lives are made (a host hands over 200,000
        awaited and matched ids by default, and a merge of four such hosts spent 0.75 s
        making every one of them, for a few unmatched reports)."""
        ids: set[int] = set()
        masked: set[int] = set()
        for part in self.parts:
            ids.update(item["msg_id"] for item in part.report_lists.get("unmatched", []))
            for candidates, _own, _row in part.near:
                for key, rule in candidates:
                    (masked if rule == NEAR_OTHER_GATEWAY else ids).add(key)
        return ids, masked

    def _lives(self, asked: tuple[set[int], set[int]]) -> None:
        """When each host's Msg_Ids awaited their reports, from the loose ends (awaiting at
        the end) and the reports each host matched itself (remembered), for the ids
        ``asked`` (:meth:`_asked`); what keeps them from being known exactly is a reason the
        near misses are not merged (``self.no_near``)."""
        ids, masked = asked
        for h, part in enumerate(self.parts):
            lives = [[h, (a[9], h, a[10]), None, a[1], a[3], a[0]] for a in part.awaiting
                     if a[0] in ids or a[0] & ~MSG_ID_GATEWAY_BITS in masked]
            lives += [[h, (m[8], h, m[11]), (m[4], h, m[12]), m[6], m[9], m[0]]
                      for m in part.matched
                      if m[0] in ids or m[0] & ~MSG_ID_GATEWAY_BITS in masked]
            for life in lives:
                self.lives.setdefault(life[5], []).append(life)
                self.masked.setdefault(life[5] & ~MSG_ID_GATEWAY_BITS, []).append(life)
            matched = sum(f.get("matched", 0) for f in part.reconciliation.get("sp", {}).values())
            if matched > len(part.matched):
                # Forgotten: the oldest (past the cap, matched before the oldest remembered),
                # or a Msg_Id's earlier match (its id brought again and matched anew: the core
                # keeps the newer, whose SUBMIT_RESP came after the earlier one's report).
                self.forgot.append(max(part.matched[0][4], *(m[8] for m in part.matched))
                                   if part.matched else _FOREVER)
                self.earlier.append(f"host {part.host} matched more status reports than it "
                                    "remembers")
            else:
                self.forgot.append(None)
                self.earlier.append(None)
            if part.awaited_again:
                self.earlier[-1] = (f"host {part.host} had Msg_Ids brought again while they "
                                    "awaited a report")
                if self.no_near is None:
                    self.no_near = f"{self.earlier[-1]}: when they began to await is not known"

    def _before_brought(self, g: int, brought: Moment, h: int, msg_id: int,
                        when: Moment) -> None:
        """Host ``h``'s report of Msg_Id ``msg_id`` (at ``when``) came before the SUBMIT_RESP
        that last brought that id on host ``g`` (at ``brought``): matched by nothing there,
        unless it awaited since an earlier SUBMIT_RESP that ``g`` handed over no trace of."""
        why = self.earlier[g]
        if why is not None and when < brought:
            self.verdict.fail(("reports", "reconciliation", "expert_counts"),
                              f"a status report of Msg_Id {msg_id} came on host "
                              f"{self.parts[h].host} before the SUBMIT_RESP that last brought "
                              f"it on host {self.parts[g].host}, and {why}: whether it "
                              "awaited a report then is not known")

    def _ended(self, h: int, msg_id: int, when: Moment) -> None:
        """The merge matched host ``h``'s Msg_Id to a report at ``when`` (of another host):
        the life awaiting then ends (a later one, the id brought again after, goes on)."""
        for life in self.lives.get(msg_id, ()):
            if life[0] == h and life[1] < when and (life[2] is None or life[2] > when):
                life[2] = when

    def _awaiting(self, key: int, rule: int, when: Moment) -> list[Any] | None:
        """The SUBMIT (its life) of any host that candidate ``key`` finds at ``when``, as the
        one core over every host's traffic would: by Msg_Id, or for the other-gateway rule
        through the core's one slot per id-without-gateway (the newest awaited, emptied when
        that one's report comes), replayed here."""
        if rule != NEAR_OTHER_GATEWAY:
            return next((life for life in self.lives.get(key, ())
                         if life[1] < when and (life[2] is None or life[2] > when)), None)
        events = []
        for life in self.masked.get(key, ()):
            if life[1] < when:
                events.append((life[1], 1, id(life), life))
            if life[2] is not None and life[2] < when:
                events.append((life[2], 0, id(life), life))
        slot = None
        for _when, starts, _key, life in sorted(events, key=lambda e: e[:3]):
            if starts:
                slot = life
            elif slot is life:
                slot = None
        return slot

    def _near(self, item: dict[str, Any], when: Moment,
              candidates: Sequence[tuple[int, int]], own: int) -> None:
        """The near miss of unmatched report ``item`` (at ``when``: its time, host and row)
        over every host's SUBMITs, as the one engine finds it: its candidates in the core's
        order (``Core._near_candidates``), the first that finds a SUBMIT awaiting then wins.
        Its host found candidate ``own`` (-1: none) over its own SUBMITs: a SUBMIT of another
        host may come first, and the one it found may have had its report on another host by
        then (a later candidate may then find another SUBMIT, of its own host too)."""
        ts, h, _row = when
        sections = ("reconciliation.near_misses", "reconciliation.per_sp.near_misses",
                    "expert_counts[report-near-miss]")
        if self.no_near is not None:
            self.verdict.fail(sections, self.no_near)
            return
        for g, before in enumerate(self.forgot):
            if before is not None and ts <= before:  # by time alone: ties included
                self.verdict.fail(sections, f"host {self.parts[g].host} matched more status "
                                  "reports than it remembers: the Msg_Ids it awaited before "
                                  "them are not known for near misses")
                return
        for j, (key, rule) in enumerate(candidates):
            life = self._awaiting(key, rule, when)
            if life is None:
                continue
            if life[0] == h and j == own:
                return
            if life[0] == h and not 0 <= own < j:
                # Its own host tried this candidate before the one it found (or found none):
                # never, if lives are right.
                self.verdict.fail(sections, f"host {self.parts[h].host}: a near miss "
                                  "its core did not find")
                return
            # Another host's SUBMIT; or one of its own host's that a later candidate finds,
            # the one its host found (an earlier candidate) having had its report elsewhere.
            self._near_found(h, item, life, str(NEAR_NAMES[rule]), own)
            return
        if own >= 0:  # its SUBMIT had its report on another host by then: no near miss
            self._near_undone(self.parts[h], item, item["session"])
            item["near_miss"] = None

    def _near_found(self, h: int, item: dict[str, Any], life: list[Any], rule: str,
                    own: int) -> None:
        """``item`` comes close (by ``rule``) to the SUBMIT that ``life`` says: a near miss, or
        this one in place of the one its own host found."""
        e = self.engine
        sid = item["session"]
        if own >= 0:  # one for another: the count stays
            e.report_counts[f"near-{item['near_miss']}"] -= 1
            self.near_gone.add((item["frame"], sid))
        else:
            self._count_near(self.parts[h], item, sid, 1)
        e.report_counts[f"near-{rule}"] += 1
        item["near_miss"] = rule
        g, _registered, _ended, frame, submit_sid, submit_msg_id = life
        self.near_found.append({"frame": item["frame"], "session": sid, "rule": rule,
                                "msg_id": item["msg_id"], "submit_msg_id": submit_msg_id,
                                "submit_frame": frame,
                                "submit_session": submit_sid + self.offsets[g]})

    def _take_over(self, part: HostPart, item: dict[str, Any], sid: int, ts: int,
                   mine: tuple[int, tuple[Any, ...]]) -> None:
        """``item`` (unmatched on its host) came before the report host ``mine[0]`` matched
        to the same SUBMIT: undo that match, match ``item`` instead, and count the other
        host's report as a duplicate of it (the one engine's reading of the merged stream)."""
        e = self.engine
        core = e.core
        g, m = mine
        (msg_id, _recipient, sp, report_frame, report_ts, report_sid, submit_frame, submitted,
         _registered, submit_sid, stat, *_rows) = m
        offset = self.offsets[g]
        other = self.parts[g]
        if self.parts[g].sketches is not None:
            self.verdict.fail(("reports", "reconciliation"),
                              f"host {other.host} folded its report delays into sketches: "
                              "a delay cannot be taken out of one")
        # Undo the other host's match.
        delay = report_ts - submitted
        folded = other.sketches is not None  # the delay may be in them: said above
        core.to_report = [_without(b"".join(core.to_report), delay, folded)]
        e.report_for -= 1
        recon = core.recon
        figures = recon["sp"][sp]
        figures["matched"] -= 1
        if stat not in figures["stats"]:  # counted past max_report_keys (a cap: said)
            stat = OTHER_KEY
        count, delays = figures["stats"][stat]
        if count > 1:
            figures["stats"][stat] = (count - 1, _without(delays, delay, folded))
        else:  # the core keeps a Stat once a report of it matched
            del figures["stats"][stat]
        if report_sid != submit_sid:
            figures["other_connection"] -= 1
            recon["other_connection"] -= 1
            e.counts[(Severity.CHAT, "report-other-connection")] -= 1
            e.report_lists["other_connection"] = [
                o for o in e.report_lists["other_connection"]
                if (o["frame"], o["session"]) != (report_frame, report_sid + offset)]
        # This report is the match (on another connection: another host).
        self._match(part, item, sid, ts,
                    (g, (msg_id, submit_frame, submitted, submit_sid, sp)), awaited=False)
        # And the other host's report a copy of it.
        recon["duplicates"] += 1
        figures["duplicates"] += 1
        e.counts[(Severity.WARN, "report-duplicate")] += 1
        self._session_severity(report_sid + offset, Severity.WARN, 1)
        names = e.sessions.get(report_sid + offset)
        e.report_lists["duplicates"].append({
            "frame": report_frame, "session": report_sid + offset,
            "sp_id": names.sp_id if names is not None else None, "msg_id": msg_id,
            "stat": stat.decode("ascii", "backslashreplace"), "first_frame": None,
            "submit_frame": None})

    def _match(self, part: HostPart, item: dict[str, Any], sid: int, ts: int,
               found: tuple[int, tuple[Any, ...]], *, awaited: bool = True) -> None:
        """``item`` (unmatched on its host) is the report of a SUBMIT of another host:
        ``found`` (host, (Msg_Id, SUBMIT frame, SUBMIT time, session, SP, ...)), which
        awaited it at that host's end (``awaited``) or was matched there later."""
        e = self.engine
        core = e.core
        h, entry = found
        msg_id, _frame, submitted, _sid, sp = entry[:5]
        self._drop_unmatched_finding(part, item, sid)
        delay = ts - submitted
        core.to_report.append(delay.to_bytes(8, "little", signed=True))
        e.report_for += 1
        recon = core.recon
        recon["other_connection"] += 1
        figures = recon["sp"][sp]
        figures["matched"] += 1
        figures["other_connection"] += 1
        stat = item["stat"].encode("ascii", "backslashreplace")
        count, delays = figures["stats"].get(stat, (0, b""))
        figures["stats"][stat] = (count + 1, delays + delay.to_bytes(8, "little", signed=True))
        if awaited:
            self.tied += 1
            recon["awaiting"] -= 1
            hour = submitted // _NS_PER_HOUR
            core.per_hour[(sp, hour)] -= 1
            self.reported.add((msg_id, entry[3] + self.offsets[h]))
        e.counts[(Severity.CHAT, "report-other-connection")] += 1
        e.report_lists["other_connection"].append({
            "frame": item["frame"], "session": sid, "msg_id": msg_id,
            "submit_frame": entry[1], "submit_session": entry[3] + self.offsets[h]})

    def _duplicate(self, part: HostPart, item: dict[str, Any], sid: int,
                   done: tuple[int, str, bytes]) -> None:
        e = self.engine
        self._drop_unmatched_finding(part, item, sid)
        recon = e.core.recon
        recon["duplicates"] += 1
        recon["sp"][done[2]]["duplicates"] += 1
        e.counts[(Severity.WARN, "report-duplicate")] += 1
        self._session_severity(sid, Severity.WARN, 1)
        e.report_lists["duplicates"].append({
            "frame": item["frame"], "session": sid, "sp_id": item["sp_id"],
            "msg_id": item["msg_id"], "stat": item["stat"], "first_frame": None,
            "submit_frame": None})


def _without(samples: bytes, value: int, folded: bool = False) -> bytes:
    """``samples`` (native int64) with one occurrence of ``value`` taken out; as they are
    if it is not there and may have been ``folded`` into sketches."""
    arr = np.frombuffer(samples, dtype=np.int64)
    at = np.flatnonzero(arr == value)
    if not at.size:
        if folded:
            return samples
        raise ValueError(f"no sample {value} to take out")
    return bytes(np.delete(arr, at[0]).tobytes())


def _shared_sps(parts: Sequence[HostPart]) -> dict[str, list[str]]:
    """Each SP (as the report names it) seen on two hosts or more: its hosts."""
    where: dict[str, list[str]] = {}
    for part in parts:
        names = {sp_name(raw) for raw in part.reconciliation.get("sp", {})}
        names |= {sp_name(raw) for raw in part.links}
        names |= {n.sp_id if n.sp_id is not None else NO_SP for n in part.names.values()}
        for name in names:
            where.setdefault(name, []).append(part.host)
    return {sp: hosts for sp, hosts in where.items() if len(hosts) > 1}


def _orphans(part: HostPart, sp: str) -> bool:
    """Whether a session of ``sp`` on the host had responses without a request."""
    for s in part.sessions:
        names = part.names.get(s["id"])
        if names is not None and (names.sp_id if names.sp_id is not None else NO_SP) == sp \
                and any(c[4] for c in s["commands"].values()):
            return True
    return False


def _check(parts: Sequence[HostPart], verdict: _Verdict) -> None:
    """The conditions, read on the data, under which several hosts merge exactly."""
    for part in parts:
        caps = sorted(code for (_sev, code), n in part.expert_counts.items()
                      if n and code.startswith("cap-") and code not in ("cap-expert",
                                                                        "cap-samples"))
        if caps:
            verdict.fail(_capped(*caps), f"host {part.host} reached a cap ({', '.join(caps)}): "
                         "the one engine's caps bound all hosts together")
    # One core over every host holds in each table what each host's held (sessions and
    # connections are each host's own): past a cap together, it may have evicted.
    for name, (total, cap) in _cap_marks(parts).items():
        if name not in ("reported-ids", "report-keys") and total > cap:
            _past_cap(verdict, name, total, cap)
    shared = _shared_sps(parts)
    links_of: dict[str, list[tuple[str, tuple[int, int, int]]]] = {}
    for part in parts:
        for raw, figures in part.links.items():
            links_of.setdefault(sp_name(raw), []).append((part.host, figures))
    for sp, seen in sorted(links_of.items()):
        if len(seen) > 1:
            verdict.fail(("links",), f"SP {sp} sent CONNECTs on hosts "
                         f"{', '.join(h for h, _ in seen)}: CONNECTs per minute are counted "
                         "per host")
            if sum(f[1] for _h, f in seen) >= STORM_CONNECTS:
                verdict.fail(("expert_counts[reconnect-storm]",),
                             f"SP {sp}: a reconnect storm across hosts is not looked for")
    for sp, hosts in sorted(shared.items()):
        lost = {p.host for p in parts if p.host in hosts and any(
            sp_name(raw) == sp and n for (raw, _kind), n in p.lost[1].items())}
        orphans = {p.host for p in parts if p.host in hosts and _orphans(p, sp)}
        if any(orphans - {host} for host in lost):
            verdict.fail(("timeouts", "expert_counts[answer-other-connection]",
                          "expert_counts[orphan-response]"),
                         f"SP {sp}: requests unanswered on one host and answers without a "
                         "request on another: answers on another connection are looked for "
                         "within a host only")
    for part in parts:
        if part.sketches is not None:
            verdict.fail(("commands", "reports", "reconciliation", "sessions"),
                         f"host {part.host} folded its samples into DDSketches (max_samples): "
                         "percentiles merged as sketches, within 1% of the one engine's")
        if part.rates[3] > 1:
            verdict.fail(("over_time",), f"host {part.host} spans more than a day of rate "
                         "slots: its series is in wider slots")
    for part in parts:
        long = part.long_sms
        if long.get("incomplete") or long.get("assembling"):
            # Joined, a part may also turn out sent twice, or again once its message was
            # complete (a resend).
            verdict.fail(("long_sms", *(f"expert_counts[long-sms-{code}]"
                                        for code in ("incomplete", "duplicate", "resent"))),
                         f"host {part.host} has long SMS left incomplete: parts on other "
                         "hosts are not joined")


def _cap_marks(parts: Sequence[HostPart]) -> dict[str, tuple[int, int]]:
    """Per capped table (Core.cap_marks): the hosts' marks added up, and the cap."""
    marks: dict[str, tuple[int, int]] = {}
    for part in parts:
        for name, (mark, cap) in part.cap_marks.items():
            marks[name] = (marks.get(name, (0, cap))[0] + mark, cap)
    return marks


LOSES_PDUS = ("connections", "tcp-buffered", "tcp-pieces", "sessions")
"""Caps past which PDUs go unread (a connection evicted, a hole given up as a gap, a session
retired: its connection's later bytes): the PDU count is the one engine's only if no host,
nor the hosts together, reached one."""


def _capped(*caps: str) -> list[str]:
    """The sections a cap reached makes unlike the one engine's (its caps bound all hosts
    together): every one, but the PDU count unless PDUs went unread."""
    return [s for s in SECTIONS if s != "pdus" or any(
        c.removeprefix("cap-") in LOSES_PDUS for c in caps)]


def _past_cap(verdict: _Verdict, name: str, total: int, cap: int) -> None:
    if name == "long-sms-done":  # forgotten without a finding: what a resent part is
        verdict.fail(("long_sms", "expert_counts[long-sms-resent]",
                      "expert_counts[long-sms-incomplete]"),
                     f"the hosts' completed long SMS remembered add up to {total}, past "
                     f"max_long_sms ({cap}): the one engine forgets the oldest, and a part of "
                     "one sent again starts a new message there")
        return
    verdict.fail(_capped(name), f"the hosts' {name} add up to {total}, past its cap of "
                 f"{cap}: the one engine's caps bound all hosts together")


def _caps_after_ties(parts: Sequence[HostPart], core: _MergedCore, tied: int,
                     verdict: _Verdict) -> None:
    """The caps whose tables the merge's ties add to. The one core remembers each report it
    matched: the hosts' own and those the merge tied. It counts a key per SP and per SP and
    Stat that has figures: the merged ones (a report tied to another SP's SUBMIT counts
    under that SP), and those a host keeps without figures (an id brought again under
    another SP took its awaited along)."""
    marks = _cap_marks(parts)
    total, cap = marks.get("reported-ids", (0, 0))
    if total + tied > cap > 0:
        _past_cap(verdict, "reported-ids", total + tied, cap)
    hidden = sum(p.cap_marks["report-keys"][0] - _keys(p.reconciliation.get("sp", {}))
                 for p in parts if "report-keys" in p.cap_marks)
    total = _keys(core.reconciliation()["sp"]) + hidden
    cap = marks.get("report-keys", (0, 0))[1]
    if total > cap > 0:
        _past_cap(verdict, "report-keys", total, cap)


def _samples(engine: _MergedEngine, parts: Sequence[HostPart], tied: int,
             verdict: _Verdict) -> None:
    """Past the sample budget (``max_samples``), the one engine folds the latency and delay
    samples it holds into DDSketches, once it ends a batch of PDUs with more than that: with
    every host's samples, and two for each report the merge tied (its delay, and its Stat's),
    more than the budget means it did, whether any host did or not. It says so once."""
    budget = int(parts[0].settings.get("max_samples", 0))
    total = sum(p.samples for p in parts) + 2 * tied
    folded = total > budget > 0
    engine.counts[(Severity.WARN, "cap-samples")] = int(folded)
    if not folded:
        return
    why = (f"the hosts' latency and delay samples add up to {total}, past the budget of "
           f"{budget} (max_samples): the one engine folded them into DDSketches")
    if not any(p.sketches is not None for p in parts):  # its percentiles within 1% of these
        verdict.fail(("commands", "reports", "reconciliation", "sessions"), why)
    verdict.fail(("samples",), f"{why}, as many as it held where a batch of PDUs ended")


def _keys(sps: Mapping[bytes, Mapping[str, Any]]) -> int:
    """The core's report keys of its reconciliation's SPs: each SP, and each of its Stats."""
    return sum(1 + len(f["stats"]) for f in sps.values())


def merge_parts(parts: Sequence[HostPart], *, failed: Mapping[str, str] | None = None,
                max_report_listed: int = 1000) -> dict[str, Any]:
    """The report of all the hosts' parts, with its ``scale`` key (see the module).

    ``failed``: hosts whose task failed for good ({host: why}); they are findings, and every
    section then says it is not merged."""
    failed = dict(failed or {})
    read = [p for p in parts if p.read]
    settings = read[0].settings if read else {}
    core = _MergedCore()
    engine = _MergedEngine(core, max_report_listed,
                           float(settings.get("report_delay_s", 600.0)),
                           int(settings.get("max_expert", 100_000)))
    offsets = []
    offset = 0
    for part in read:
        offsets.append(offset)
        core.add(part, offset)
        if part.sketches is not None:
            engine.sketches.absorb(part.sketches, offset)
        offset += max((s["id"] for s in part.sessions), default=-1) + 1
    _sessions(engine, read, offsets)
    _expert(engine, read, offsets)
    verdict = _Verdict()
    if len(read) > 1:
        _check(read, verdict)
        reports = _Reports(engine, read, offsets, verdict)
        reports.tie()
        _caps_after_ties(read, core, reports.tied, verdict)
        _samples(engine, read, reports.tied, verdict)
    if len(read) > 1:
        core.awaiting.sort(key=lambda a: a[2])
    for names in engine.sessions.values():
        for severity in [k for k, n in names.expert.items() if n <= 0]:
            del names.expert[severity]
    for kind, items in engine.report_lists.items():
        engine.report_lists[kind] = items[:max_report_listed]
    for part in parts:
        for why in part.unreadable:
            _finding(engine, Severity.ERROR, "capture", f"{part.host}: {why}")
    for host, why in failed.items():
        _finding(engine, Severity.ERROR, "host-failed", f"host {host}: {why}")
        verdict.fail(SECTIONS, f"host {host} could not be analysed")
    for part in parts:  # the report stands; the dataset lacks these rows
        for why in part.dataset_failed:
            _finding(engine, Severity.ERROR, "host-failed", f"host {part.host}: {why}")
    for part in read:
        for first, then, seconds in part.overlaps:
            verdict.fail(SECTIONS, f"host {part.host}: {then} starts {seconds:.1f} s before the "
                         f"end of {first}: files captured side by side were read one after "
                         "the other as one capture's pieces; give them as separate hosts, or "
                         "merge them by time first (mergecap -w)")
    report = build_report(cast("Engine", engine))
    hosts_of = {}
    for part, off in zip(read, offsets, strict=True):
        for s in part.sessions:
            hosts_of[s["id"] + off] = part.host
    if len(read) > 1:
        for s in report["sessions"]:
            s["host"] = hosts_of.get(s["id"])
    several = len(read) > 1
    not_merged = dict(verdict.not_merged)
    if several:
        for listing in LISTINGS:
            not_merged.setdefault(listing, "lists single PDUs by frame and session, numbered "
                                  "by each host")
    host_local = [s for s in HOST_LOCAL if several and s not in not_merged]
    report["scale"] = {
        "hosts": [{"name": p.host, "files": p.paths, "unreadable": p.unreadable,
                   "pdus": p.pdus, "seconds": round(p.seconds, 3),
                   "session_id_offset": offsets[read.index(p)] if p in read else None,
                   **({"failed": "; ".join(p.dataset_failed)} if p.dataset_failed else {})}
                  for p in parts] + [{"name": h, "failed": why} for h, why in failed.items()],
        "merged_sections": [s for s in SECTIONS
                            if s not in not_merged and s not in host_local],
        "host_local": host_local,
        "not_merged": [{"section": s, "why": why} for s, why in not_merged.items()],
    }
    return report


def _sessions(engine: _MergedEngine, parts: Sequence[HostPart],
              offsets: Sequence[int]) -> None:
    """Every host's sessions, ids shifted by the host's offset, in the order they opened."""
    core = engine.core
    order = []
    for h, (part, off) in enumerate(zip(parts, offsets, strict=True)):
        for k, s in enumerate(part.sessions):
            sid = s["id"] + off
            core.by_id[sid] = {**s, "id": sid}
            names = part.names[s["id"]]
            engine.sessions[sid] = dataclasses.replace(names, expert=Counter(names.expert))
            order.append((s["start_ns"], h, k, sid))
    if len(parts) > 1:  # one host: the order its engine opened them in
        order.sort()
    core.order = [sid for *_, sid in order]


def _expert(engine: _MergedEngine, parts: Sequence[HostPart], offsets: Sequence[int]) -> None:
    """Findings counted over every host; the listed ones each host's, in host order."""
    if len(parts) == 1:  # the host's own, as they are
        part = parts[0]
        engine.counts.update(part.expert_counts)
        engine.report_for = part.report_for
        engine.expert.items.extend(part.expert_items)
        for kind, items in part.report_lists.items():
            engine.report_lists[kind].extend(items)
        engine.report_counts.update(part.report_counts)
        return
    notes = 0
    for part, off in zip(parts, offsets, strict=True):
        for key, n in part.expert_counts.items():
            if key[1] != "cap-expert":
                engine.counts[key] += n
                notes += n if key[0] > Severity.CHAT else 0
        engine.report_for += part.report_for
        for item in part.expert_items:
            if item.code == "cap-expert":
                continue
            session = item.session + off if item.session is not None else None
            engine.expert.items.append(dataclasses.replace(item, session=session))
        for kind, items in part.report_lists.items():
            engine.report_lists[kind].extend(_shifted(i, off) for i in items)
        engine.report_counts.update(part.report_counts)
    if notes > engine.expert.max_expert:
        engine.counts[(Severity.NOTE, "cap-expert")] += 1
        del engine.expert.items[engine.expert.max_expert:]
        engine.expert.items.append(ExpertItem(
            Severity.NOTE, None, None, f"more than {engine.expert.max_expert} expert "
            "findings: the rest are counted by kind but not listed", "cap-expert"))


def _shifted(item: dict[str, Any], offset: int) -> dict[str, Any]:
    out = dict(item)
    for key in ("session", "submit_session"):
        if out.get(key) is not None:
            out[key] += offset
    return out


def _finding(engine: _MergedEngine, severity: Severity, code: str, message: str) -> None:
    engine.counts[(severity, code)] += 1
    engine.expert.items.append(ExpertItem(severity, None, None, message, code))

