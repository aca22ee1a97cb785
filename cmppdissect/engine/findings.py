"""Expert findings: the list a capture's analysis shows, and the words of each finding.

The compiled core reports a finding as a code and its numbers; this module writes the sentence
(one place for each finding's wording) and keeps the list bounded: the first ``max_expert``
findings are listed, every finding is counted by severity and code, and a ``cap-*`` finding
(a state cap was reached) is always listed, even past the bound, since a cap that was hit must
never go unseen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from cmppdissect.core import reason_text
from cmppdissect.protocol.commands import WINDOW as SPEC_WINDOW
from cmppdissect.protocol.commands import command_name
from cmppdissect.protocol.expert import Finding, Severity

__all__ = ["ExpertItem", "ExpertList", "describe_long_sms", "long_sms_incomplete"]


@dataclass(slots=True)
class ExpertItem:
    """One listed finding. ``size``/``reason``/``head``: a skipped-bytes finding's running
    count, why, and the run's first bytes."""

    severity: Severity
    frame: int | None
    session: int | None
    message: str
    code: str
    size: int = 0
    reason: str = ""
    head: bytes = b""


class ExpertList(Sequence[ExpertItem]):
    """The listed findings (a sequence), the counts of all of them, and the per-session
    severity counts.

    ``on_session_note`` is told the session and severity of every finding that names a
    session, so the session table can show how many each session has.
    """

    def __init__(self, max_expert: int, on_session_note: Callable[[int, Severity], None]) -> None:
        self.max_expert = max_expert
        self.items: list[ExpertItem] = []
        self.counts: Counter[tuple[Severity, str]] = Counter()
        self._caps_listed = False
        self._on_session_note = on_session_note

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> ExpertItem: ...

    @overload
    def __getitem__(self, index: slice) -> list[ExpertItem]: ...

    def __getitem__(self, index: int | slice) -> ExpertItem | list[ExpertItem]:
        return self.items[index]

    def __iter__(self) -> Iterator[ExpertItem]:
        return iter(self.items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ExpertList):
            return self.items == other.items
        if isinstance(other, list):
            return self.items == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def note(self, severity: Severity, frame: int | None, session: int | None, code: str,
             message: str) -> ExpertItem | None:
        """Count a finding and list it while there is room; returns the listed item."""
        self.counts[(severity, code)] += 1
        if session is not None:
            self._on_session_note(session, severity)
        if len(self.items) < self.max_expert:
            item = ExpertItem(severity, frame, session, message, code)
            self.items.append(item)
            return item
        if not self._caps_listed:
            self._caps_listed = True
            self.counts[(Severity.NOTE, "cap-expert")] += 1
            self.items.append(ExpertItem(
                Severity.NOTE, frame, None, f"more than {self.max_expert} expert findings: "
                "the rest are counted by kind but not listed", "cap-expert"))
        return None

    def cap(self, what: str, frame: int | None, session: int | None, message: str) -> None:
        """A state cap was reached (the core says so once per kind): listed whatever the room."""
        if self.note(Severity.WARN, frame, session, f"cap-{what}", message) is None:
            self.items.append(ExpertItem(Severity.WARN, frame, session, message, f"cap-{what}"))


# -- the words -----------------------------------------------------------------------------------


def unanswered(command_id: int, sequence_id: int) -> str:
    return f"{command_name(command_id)} Sequence_Id {sequence_id} got no response"


def capture_gap(missing: int, from_client: bool) -> str:
    return f"{missing} bytes not captured ({'client' if from_client else 'server'} side)"


def retransmission(retransmitted: int, duplicates: int) -> str:
    return (f"{retransmitted} TCP segment(s) of this connection carried bytes already seen "
            f"({duplicates} an exact copy of the segment before, as in a loopback capture); "
            "each PDU was counted once")


def incomplete_pdu(size: int, from_client: bool, why: tuple[int, int, int]) -> str:
    return (f"{size} bytes at the end of the {'client' if from_client else 'server'} stream: "
            f"{reason_text(*why)}")


def orphan_response(command_id: int, sequence_id: int) -> str:
    return f"no request for this {command_name(command_id)} (Sequence_Id {sequence_id})"


def _s(ns: int) -> str:
    return f"{ns / 1e9:.3f} s"


def late_response(request_frame: int, delay_ns: int, sends: int, timeout_ns: int) -> str:
    sent = f" (sent {sends} times)" if sends > 1 else ""
    return (f"late answer to the request in frame {request_frame}{sent}, {_s(delay_ns)} after "
            f"it was sent: past the timeout ({_s(timeout_ns)}), so it was called unanswered; "
            f"the peer answers late, not never")


def answer_other_connection(request_frame: int, session: int, delay_ns: int) -> str:
    return (f"answers the request in frame {request_frame} of session {session} (the same SP), "
            f"{_s(delay_ns)} after it: the answer came on another connection")


def answered_twice(request_frame: int, first_frame: int, first: int, second: int) -> str:
    if first == 0 and second == 0:
        return (f"a second Result 0 for the resent request in frame {request_frame} (the "
                f"first in frame {first_frame}): likely a duplicate message to the handset")
    return (f"a second answer (Result {second}) to the resent request in frame "
            f"{request_frame} (the first, Result {first}, in frame {first_frame})")


def idle_gap(gap_ns: int, before_frame: int, idle_ns: int) -> str:
    return (f"no PDU on this connection for {_s(gap_ns)} (since frame {before_frame}): longer "
            f"than the heartbeat interval and its answer ({_s(idle_ns)})")


def reconnect_storm(sp_id: str | None, connects: int, storms: int) -> str:
    who = f"SP {sp_id!r}" if sp_id else "one SP"
    nth = f" (storm {storms} of this SP)" if storms > 1 else ""
    return f"{connects} CONNECTs from {who} within a minute: a reconnect storm{nth}"


def sequence_reused(earlier_frame: int, command_id: int, sequence_id: int) -> str:
    return (f"Sequence_Id {sequence_id} reused while frame {earlier_frame}'s "
            f"{command_name(command_id)} is still unanswered (retransmission?)")


def _side(from_client: bool) -> str:
    return "client" if from_client else "server"


def heartbeat_missed(in_row: int, from_client: bool) -> str:
    return (f"{in_row} ACTIVE_TESTs in a row from the {_side(from_client)} got no response: "
            f"the spec drops a link after {in_row} (C={in_row})")


def heartbeat_never(sent: int, from_client: bool) -> str:
    return (f"the {_side(not from_client)} answered none of the {sent} ACTIVE_TESTs from the "
            f"{_side(from_client)} (a peer that never sends ACTIVE_TEST_RESP; reference D23)")


def sequence_backwards(earlier_frame: int, earlier_command: int, earlier_sequence: int,
                       command_id: int, sequence_id: int) -> str:
    return (f"{command_name(command_id)} Sequence_Id {sequence_id} is lower than the "
            f"{earlier_sequence} of the {command_name(earlier_command)} before it from this side "
            f"(frame {earlier_frame}): Sequence_Ids need not grow, responses are paired by value "
            "(reference D26)")


def sequence_both_ways(other_frame: int, other_command: int, sequence_id: int,
                       command_id: int) -> str:
    return (f"Sequence_Id {sequence_id} of this {command_name(command_id)} is also in flight the "
            f"other way (the {command_name(other_command)} of frame {other_frame}): responses "
            "are paired by command and direction as well as Sequence_Id (reference D25)")


WINDOW = f"more than {SPEC_WINDOW} requests in flight (spec window W={SPEC_WINDOW})"


def report_for(stat: bytes, submit_frame: int) -> str:
    from cmppdissect.protocol.report import stat_class

    text = stat.decode("ascii", "backslashreplace")
    return (f"status report {text} ({stat_class(text)}) for the SUBMIT in frame "
            f"{submit_frame}")


def report_for_finding(stat: bytes, submit_frame: int) -> Finding:
    """The chat a status report matched to its SUBMIT carries."""
    return Finding(Severity.CHAT, "report-for", report_for(stat, submit_frame),
                   frame=submit_frame)


def _msg_id(value: int) -> str:
    return f"Msg_Id {value}"


NEAR_MISS_PHRASES = {
    "byte-reversed": "read byte-reversed it is",
    "other-gateway": "its time fields and sequence (with another gateway code) are those of",
    "decimal-text": "the report carries as decimal text",
    "hex-text": "the report carries as hex text",
}
"""What each near-miss rule found, as the finding says it."""


def report_unmatched(msg_id: int, stat: bytes, recipient: bytes, after_start_s: float,
                     delay_s: float) -> str:
    """A report for no SUBMIT_RESP seen; whether its SUBMIT may predate the capture (it came
    within the delay a report may take of the capture's start) is what the reader asks next."""
    to = f" to {_text(recipient)}" if recipient else ""
    head = (f"status report {_text(stat)} for {_msg_id(msg_id)}{to} matches no SUBMIT_RESP "
            f"seen; it came {after_start_s:.3f} s after the capture started")
    if after_start_s < delay_s:
        return (f"{head}, within the {delay_s:g} s a report may take: its SUBMIT may have been "
                "sent before the capture")
    return (f"{head}, later than the {delay_s:g} s a report may take: its SUBMIT_RESP should "
            "be in the capture")


def report_duplicate(msg_id: int, first_frame: int, submit_frame: int, stat: bytes) -> str:
    return (f"status report {_text(stat)} for {_msg_id(msg_id)} again: its first report came "
            f"in frame {first_frame} (SUBMIT in frame {submit_frame})")


def report_other_connection(submit_frame: int, submit_session: int, msg_id: int) -> str:
    return (f"status report for {_msg_id(msg_id)} came on another connection than the "
            f"SUBMIT in frame {submit_frame} (session {submit_session})")


def report_near_miss(rule: str, msg_id: int, submit_msg_id: int, submit_frame: int) -> str:
    return (f"status report {_msg_id(msg_id)} matches no SUBMIT_RESP, but "
            f"{NEAR_MISS_PHRASES[rule]} {_msg_id(submit_msg_id)} of the SUBMIT in frame "
            f"{submit_frame} (near miss: {rule})")


def unanswered_finding(command_id: int, sequence_id: int) -> Finding:
    """The warning a request that never got its response carries."""
    return Finding(Severity.WARN, "unanswered", unanswered(command_id, sequence_id))


def not_waited(command_id: int, sequence_id: int, window: int, *, capped: bool = False) -> str:
    if capped:
        return (f"{command_name(command_id)} Sequence_Id {sequence_id} still awaited its "
                f"response when {window} PDUs had come after it: the TUI, which holds a "
                "capped number of PDUs (--max-pdus), may let it go before the response comes "
                "(the response still names its frame)")
    return (f"{command_name(command_id)} Sequence_Id {sequence_id} was written before its "
            f"response came: {window} PDUs waited behind it, the most a streaming output holds")


def not_waited_finding(command_id: int, sequence_id: int, window: int, *,
                       capped: bool = False) -> Finding:
    """The warning on a request that a streaming output wrote without waiting longer for its
    response (the rows held behind it reached the store's ``window``); ``capped``: the store
    is the TUI's, which lets its oldest rows go past ``--max-pdus``."""
    return Finding(Severity.WARN, "not-waited",
                   not_waited(command_id, sequence_id, window, capped=capped))


def skipped(size: int, reason: str, head: bytes = b"") -> str:
    """A run of skipped bytes, and its first bytes as text and hex (what a lying Total_Length
    left behind is best recognised by eye: pycmpp's ``x00``)."""
    if not head:
        return f"{size} bytes skipped: {reason}"
    more = "…" if size > len(head) else ""
    return (f"{size} bytes skipped: {reason}; the bytes: '{_text(head)}{more}' "
            f"({head.hex(' ')}{more})")


NOT_CMPP = "no CMPP header here: the connection is not CMPP, not decoded"


def not_cmpp_reason(why: int, a: int, b: int) -> str:
    return f"{reason_text(why, a, b)}; the connection is not CMPP, not decoded"


def _text(value: bytes) -> str:
    return value.decode("ascii", "backslashreplace")


LongInfo = tuple[int, bytes, bytes, Sequence[bytes], int, int, Sequence[tuple[int, int]]]


def describe_long_sms(info: LongInfo) -> str:
    """``long SMS ref R (T parts) from SENDER to RECIPIENTS`` from the core's message info."""
    _cmd, sender, msg_src, recipients, reference, total, _parts = info
    who = _text(sender)
    if msg_src:
        who = f"{_text(msg_src)}/{who}"
    names = [_text(r) for r in recipients]
    to = ",".join(names[:3]) + ("..." if len(names) > 3 else "")
    return f"long SMS ref {reference} ({total} parts) from {who} to {to}"


def long_sms_incomplete(info: LongInfo, when: int, timeout_ns: int) -> str:
    parts = info[6]
    present = {n for n, _frame in parts}
    missing = [n for n in range(1, info[5] + 1) if n not in present]
    shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
    frames = ", ".join(str(frame) for _n, frame in parts[:10])
    phrase = (f"within {timeout_ns / 1e9:g} s" if when == 0 else
              "when the assembly cap was reached" if when == 1 else "at the end of the capture")
    return (f"{describe_long_sms(info)}: part(s) {shown} never seen {phrase} "
            f"(have frames {frames})")


def long_sms_resent(info: LongInfo, first_frame: int, sequence_id: int) -> str:
    part = info[6][0][0]
    return (f"{describe_long_sms(info)}: part {part} sent again with Sequence_Id {sequence_id} "
            f"after the message was complete (first sent in frame {first_frame}): a resend, "
            "not a new message")


def long_sms_duplicate(info: LongInfo, duplicates: int) -> str:
    return f"{describe_long_sms(info)}: {duplicates} part(s) sent more than once"


def cap_message(what: str, settings: dict[str, Any]) -> str:
    if what == "samples":
        return (f"more than {settings['max_samples']} latency and delay samples (8 bytes each) "
                "held: they are folded into DDSketches, so percentiles from here on are within "
                "1% of the exact values (count, min, max and mean stay exact)")
    if what == "pending":
        return (f"more than {settings['max_pending']} requests in flight in one session: the "
                "oldest are counted as unanswered and forgotten")
    if what == "awaiting-reports":
        return (f"more than {settings['max_awaiting_reports']} Msg_Ids await a status report; "
                "the oldest are forgotten (their reports will not match)")
    if what == "reported-ids":
        return (f"more than {settings['max_awaiting_reports']} matched Msg_Ids remembered to "
                "know duplicate reports; the oldest are forgotten (a duplicate of theirs "
                "counts as unmatched)")
    if what == "report-keys":
        return (f"more than {settings['max_report_keys']} SPs and Stats counted for report "
                "reconciliation; the rest are counted together as '(other)'")
    if what == "lost-requests":
        return (f"more than {settings['max_lost']} requests unanswered or resent remembered to "
                "tell what became of them; the oldest are counted as they were then")
    if what == "long-sms":
        return (f"more than {settings['max_long_sms']} long SMS being assembled; the oldest "
                "are given up")
    if what == "connections":
        return (f"more than {settings['max_connections']} TCP connections at once: the least "
                "recently active are no longer followed (their sessions end as evicted; a "
                "connection seen again counts as a new one)")
    if what == "tcp-buffered":
        return (f"more than {settings['max_buffered_total']} bytes (or "
                f"{settings['max_pieces_total']} pieces) of out-of-order TCP data held by all "
                "connections together: the connections that held theirs the longest gave up "
                "their holes as capture gaps")
    if what == "transaction-reports":
        return (f"more than {settings['max_waiting']} recipients of SUBMITs awaited their status "
                f"report in the transactions table: {settings['rows']} rows were written "
                "without the rest (reports_given_up)")
    if what == "transaction-long-parts":
        return (f"more than {settings['max_waiting']} parts of long SMS awaited their message "
                f"in the transactions table: {settings['parts']} were written without it (their "
                "message's long_outcome counts them as not known)")
    if what == "tui-pdus":
        return (f"more than {settings['max_pdus']:,} PDUs held by the TUI (--max-pdus): the "
                f"oldest are let go {settings['chunk']:,} at a time, with their bytes and "
                "their findings; the statistics, the sessions and the expert findings still "
                "count every PDU")
    if what == "held-rows":
        return (f"a request awaited its response while {settings['window']} PDUs came after "
                "it: the output wrote it without its response (finding not-waited) rather than "
                "hold more")
    return (f"more than {settings['max_sessions']} sessions: the oldest are dropped from the "
            "session list (their PDUs still count in the totals)")


def as_finding(item: ExpertItem) -> Finding:
    return Finding(item.severity, item.code, item.message)
