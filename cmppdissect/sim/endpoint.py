"""What both roles do alike, as a sans-IO session: heartbeats, TERMINATE, timeouts, faults.

A session takes bytes and the time, and returns actions (bytes to write, or close). The
driver in :mod:`cmppdissect.sim.transport` only moves bytes and keeps time; everything CMPP
happens here and in the two role classes, so a test can run an SP against an ISMG in memory.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from cmppdissect.protocol.commands import CommandId, is_response, response_of
from cmppdissect.protocol.decode import DecodedPdu
from cmppdissect.protocol.layouts import result_of
from cmppdissect.protocol.version import Version
from cmppdissect.sim.behaviour import (
    WRONG_SEQ_OFFSET,
    Behaviour,
    pycmpp_active_test_resp,
    with_sequence,
)
from cmppdissect.sim.connection import Connection, Garbage, Incoming, Outstanding
from cmppdissect.sim.log import ConnectionLog
from cmppdissect.sim.timeline import Timeline

C = CommandId
Clock = Callable[[], datetime]

_UNFAULTED = frozenset({C.CMPP_CONNECT_RESP, C.CMPP_TERMINATE_RESP})
TERMINATE_GRACE = 2.0  # seconds to wait for TERMINATE_RESP before closing anyway


@dataclass(frozen=True, slots=True)
class Write:
    """PDU bytes to send. ``at`` and ``fault`` are for the log, which records the PDU as sent
    only once the transport says it reached the socket (:meth:`Endpoint.sent`)."""

    data: bytes
    at: float = 0.0
    fault: str | None = None


@dataclass(frozen=True, slots=True)
class Close:
    reason: str


Action = Write | Close


class State(Enum):
    CONNECTING = "connecting"  # before a successful CONNECT/CONNECT_RESP
    OPEN = "open"
    CLOSING = "closing"  # TERMINATE sent, waiting for its response
    CLOSED = "closed"


class Endpoint:
    """The shared part of an SP or ISMG session. Subclasses fill in the ``_on_*`` hooks."""

    def __init__(self, log: ConnectionLog, *, version: Version | None, behaviour: Behaviour,
                 rng: random.Random, clock: Clock = datetime.now) -> None:
        self.log = log
        self.behaviour = behaviour
        self.rng = rng
        self.clock = clock
        self.conn = Connection(log, version=version, window=behaviour.window)
        self.timeline = Timeline()
        self.state = State.CONNECTING
        self._actions: list[Action] = []
        self._last_request = 0.0

    # -- the driver's interface -----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def version(self) -> Version | None:
        return self.conn.version

    def start(self, now: float) -> list[Action]:
        self.log.opened_at = now
        self._last_request = now
        self._on_start(now)
        return self._flush(now)

    def receive(self, data: bytes, now: float) -> list[Action]:
        if self.closed:
            return []
        for event in self.conn.receive(data, now):
            if self.closed:
                break
            if isinstance(event, Incoming):
                self._dispatch(event, now)
            else:
                self._on_garbage(event, now)
        return self._flush(now)

    def handle_timer(self, now: float) -> list[Action]:
        if self.closed:
            return []
        self.timeline.run_due(now)
        if not self.closed:
            self._check_timeouts(now)
        if self.state is State.OPEN:
            self._check_heartbeat(now)
        return self._flush(now)

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` next has something to do; None: only input can help."""
        if self.closed:
            return None
        candidates = [self.timeline.next_deadline(),
                      self.conn.earliest_timeout(self.behaviour.timeout),
                      self._heartbeat_due(), self._role_deadline()]
        due = [t for t in candidates if t is not None]
        return min(due) if due else None

    def stop(self, now: float, reason: str = "stopped") -> list[Action]:
        """End the session politely: TERMINATE, then close on its response or after a grace."""
        if self.state is State.OPEN:
            self._terminate(now)
        elif self.state is State.CONNECTING:
            self._close(reason, now)
        return self._flush(now)

    def connection_lost(self, now: float, reason: str) -> None:
        self._shut(now, reason, close_socket=False)

    # -- hooks for the roles --------------------------------------------------------------------

    def _on_start(self, now: float) -> None:
        """Called once when the TCP connection is up."""

    def _on_request(self, pdu: DecodedPdu, now: float) -> None:
        """A request from the peer other than ACTIVE_TEST and TERMINATE."""

    def _on_response(self, pdu: DecodedPdu, request: Outstanding, now: float) -> None:
        """A response that answers one of our requests."""

    def _on_abandoned(self, request: Outstanding, now: float) -> None:
        """A traffic request got no response after every retry."""

    def _on_garbage(self, garbage: Garbage, now: float) -> None:
        """Bytes the framer skipped."""

    def _on_idle(self, now: float) -> None:
        """Called after every input and timer: a chance to send more (the window may be free)."""

    def _on_closed(self, now: float) -> None:
        """The session is over."""

    def _role_deadline(self) -> float | None:
        return None

    # -- helpers for the roles ------------------------------------------------------------------

    def _flush(self, now: float) -> list[Action]:
        if self.state is State.OPEN:
            self._on_idle(now)
        actions, self._actions = self._actions, []
        return actions

    def _emit(self, data: bytes, now: float, fault: str | None = None) -> None:
        self._actions.append(Write(data, now, fault))

    def sent(self, write: Write) -> None:
        """The transport handed ``write`` to the socket: only now is it logged as sent (a
        write that failed, the peer having reset the connection, never was)."""
        self.log.record_pdu("sent", write.data, write.at, write.fault)

    def _request(self, command_id: int, fields: dict[str, Any], now: float, *,
                 context: Any = None) -> Outstanding:
        request = self.conn.request(command_id, fields, now, context=context)
        self._emit(request.data, now)
        self._last_request = now
        return request

    def _respond(self, request: DecodedPdu, fields: dict[str, Any], now: float) -> float | None:
        """Answer ``request``, misbehaving as the knobs say.

        Returns the delay after which the response goes out, or None if it is lost, so a
        role can time what follows it (a status report after its SUBMIT_RESP).
        """
        data = self.conn.response(request, fields)
        response_id = response_of(request.Command_Id)
        outcome = result_of(fields)
        if outcome is not None:
            self.log.results_sent[(response_id, outcome[1])] += 1
        b = self.behaviour
        if response_id in _UNFAULTED:
            self.conn.answered(request)
            self._emit(data, now)
            return 0.0
        f = b.faults
        rng = self.rng
        faults: list[str] = []
        if f.lost and rng.random() < f.lost:
            self.log.faults["lost"] += 1
            self.conn.answered(request)
            return None
        if (response_id == C.CMPP_ACTIVE_TEST_RESP and f.bad_active_test_resp
                and rng.random() < f.bad_active_test_resp):
            data = pycmpp_active_test_resp(request.Sequence_Id)
            faults.append("bad_length")
        if f.wrong_seq and rng.random() < f.wrong_seq:
            data = with_sequence(data, request.Sequence_Id + WRONG_SEQ_OFFSET)
            faults.append("wrong_seq")
        copies = 1
        if f.duplicate and rng.random() < f.duplicate:
            copies = 2
            faults.append("duplicate")
        delay = b.latency + (b.jitter * rng.random() if b.jitter else 0.0)
        if f.slow and rng.random() < f.slow:
            delay += f.slow_delay
            faults.append("slow")
        for name in faults:
            self.log.faults[name] += 1
        tag = "+".join(faults) or None
        if delay <= 0:
            self._write_response(request, data, copies, tag, now)
        else:
            self.timeline.call_at(
                now + delay, lambda t: self._write_response(request, data, copies, tag, t))
        return delay

    def _write_response(self, request: DecodedPdu, data: bytes, copies: int, tag: str | None,
                        now: float) -> None:
        if self.closed:
            return
        self.conn.answered(request)
        for _ in range(copies):
            self._emit(data, now, tag)

    def _result(self) -> int:
        """0, or one of the configured error codes at the configured rate."""
        b = self.behaviour
        if b.error_rate and self.rng.random() < b.error_rate:
            return self.rng.choice(b.error_codes)
        return 0

    def _close(self, reason: str, now: float) -> None:
        self._shut(now, reason, close_socket=True)

    def _shut(self, now: float, reason: str, *, close_socket: bool) -> None:
        """The end of the session, whoever ended it; ``close_socket`` when we are closing."""
        if self.closed:
            return
        self.state = State.CLOSED
        self.conn.abandon_all()
        self.timeline.clear()
        self.log.closed_at = now
        self.log.close_reason = reason
        if close_socket:
            self._actions.append(Close(reason))
        self._on_closed(now)

    def _terminate(self, now: float) -> None:
        self.state = State.CLOSING
        self._request(C.CMPP_TERMINATE, {}, now)
        self.timeline.call_at(now + min(TERMINATE_GRACE, self.behaviour.timeout),
                              lambda t: self._close("no TERMINATE_RESP", t))

    # -- what both roles do alike ---------------------------------------------------------------

    def _dispatch(self, event: Incoming, now: float) -> None:
        pdu = event.pdu
        cmd = pdu.Command_Id
        if is_response(cmd):
            request = event.request
            if request is None:
                return  # a duplicate or a wrong Sequence_Id: counted by the connection
            if cmd == C.CMPP_TERMINATE_RESP:
                self._close("terminated", now)
            elif cmd != C.CMPP_ACTIVE_TEST_RESP:
                self._on_response(pdu, request, now)
            return
        if cmd == C.CMPP_ACTIVE_TEST:
            self._respond(pdu, {"Reserved": 0}, now)
        elif cmd == C.CMPP_TERMINATE:
            self._respond(pdu, {}, now)
            self._close("terminated by peer", now)
        else:
            # Also while our TERMINATE is on its way: a DELIVER that crossed it still gets
            # its response, so a capture shows no request left unanswered.
            self._on_request(pdu, now)

    def _check_timeouts(self, now: float) -> None:
        b = self.behaviour
        for request in self.conn.overdue(now, b.timeout):
            if request.attempts <= b.retries:
                self.log.retransmits[request.command_id] += 1
                self._emit(self.conn.retransmit(request, now), now, "retransmit")
                continue
            self.conn.abandon(request)
            cmd = request.command_id
            if cmd == C.CMPP_ACTIVE_TEST:
                self._close(f"no ACTIVE_TEST_RESP after {request.attempts} attempts", now)
            elif cmd == C.CMPP_CONNECT:
                self._close("no CONNECT_RESP", now)
            elif cmd == C.CMPP_TERMINATE:
                self._close("no TERMINATE_RESP", now)
            else:
                self._on_abandoned(request, now)
            if self.closed:
                return

    def _heartbeat_due(self) -> float | None:
        hb = self.behaviour.heartbeat
        if self.state is not State.OPEN or not hb or self.conn.waiting_for(C.CMPP_ACTIVE_TEST):
            return None
        return self._last_request + hb

    def _check_heartbeat(self, now: float) -> None:
        due = self._heartbeat_due()
        if due is not None and now >= due:
            self._request(C.CMPP_ACTIVE_TEST, {}, now)
