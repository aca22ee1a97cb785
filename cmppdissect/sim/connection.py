"""One CMPP connection as a sans-IO object: bytes in, decoded PDUs out, requests tracked.

Both roles share it. It frames and decodes what the peer sent (with the project's
:class:`PduFramer` and :func:`decode_pdu`, so the simulator reads the wire exactly as the
analyzer does), numbers our requests, pairs the peer's responses with them and keeps the
sliding window: at most ``window`` traffic requests unanswered at once (reference §9, W = 16).
Heartbeats, CONNECT and TERMINATE are outside the window, so a full window never stops the
link from being kept alive or closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cmppdissect.core import FramedPdu, PduFramer
from cmppdissect.protocol.commands import (
    WINDOW,
    CommandId,
    is_response,
    pair_key,
    request_of,
    response_of,
)
from cmppdissect.protocol.decode import DecodedPdu, decode_pdu
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.layouts import result_of as layout_result
from cmppdissect.protocol.version import Version
from cmppdissect.sim.log import ConnectionLog, Pair

SEQUENCE_MAX = 0xFFFFFFFF

WINDOWED: frozenset[int] = frozenset({
    CommandId.CMPP_SUBMIT, CommandId.CMPP_DELIVER, CommandId.CMPP_QUERY, CommandId.CMPP_CANCEL,
    CommandId.CMPP_FWD,
})
"""Requests that carry traffic and so count against the window."""



@dataclass(slots=True, eq=False)
class Outstanding:
    """A request of ours waiting for its response; ``context`` is the role's own note on it."""

    command_id: int
    sequence_id: int
    data: bytes
    first_sent: float
    last_sent: float
    windowed: bool
    attempts: int = 1
    context: Any = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """A PDU from the peer. For a response, ``request`` is ours it answers (None: no such)."""

    pdu: DecodedPdu
    at: float
    request: Outstanding | None = None


@dataclass(frozen=True, slots=True)
class Garbage:
    """Bytes the framer had to skip, e.g. after an ACTIVE_TEST_RESP whose length lies."""

    size: int
    reason: str
    at: float


Event = Incoming | Garbage


def result_of(pdu: DecodedPdu) -> int | None:
    outcome = layout_result(pdu.fields)
    return None if outcome is None else outcome[1]


class Connection:
    """Framing, decoding, sequence numbers, pairing and the window of one connection."""

    def __init__(self, log: ConnectionLog, *, version: Version | None,
                 window: int = WINDOW) -> None:
        self.log = log
        self.version = version  # decode hint and encode layout; None until CONNECT decides
        self.window = window
        self._framer = PduFramer()
        self._sequence = 0
        self._outstanding: dict[tuple[int, int], Outstanding] = {}
        self._in_flight = 0
        self._peer_pending: set[tuple[int, int]] = set()

    # -- inbound --------------------------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> list[Event]:
        log = self.log
        log.record_read(data)
        events: list[Event] = []
        for item in self._framer.feed(data, 0, 0):
            if not isinstance(item, FramedPdu):
                log.skipped_bytes += item.size
                events.append(Garbage(item.size, item.reason, now))
                continue
            pdu = decode_pdu(item.data, self.version)
            log.record_pdu("received", item.data, now)
            cmd = pdu.Command_Id
            if is_response(cmd):
                events.append(Incoming(pdu, now, self._match(pdu, now)))
                continue
            if cmd in WINDOWED:
                self._peer_pending.add(pair_key(cmd, pdu.Sequence_Id))
                log.peer_max_in_flight = max(log.peer_max_in_flight, len(self._peer_pending))
            events.append(Incoming(pdu, now))
        return events

    def _match(self, pdu: DecodedPdu, now: float) -> Outstanding | None:
        request = self._outstanding.pop(pair_key(pdu.Command_Id, pdu.Sequence_Id), None)
        if request is None:
            self.log.unmatched[pdu.Command_Id] += 1
            return None
        if request.windowed:
            self._in_flight -= 1
            self.log.in_flight = self._in_flight
        self.log.record_pair(Pair(request.command_id, request.sequence_id,
                                  now - request.last_sent, request.attempts, result_of(pdu)),
                             pdu.Command_Id)
        return request

    def answered(self, request: DecodedPdu) -> None:
        """The response to a peer request is on the wire (or was dropped on purpose)."""
        self._peer_pending.discard(pair_key(request.Command_Id, request.Sequence_Id))

    # -- outbound -------------------------------------------------------------------------------

    def next_sequence(self) -> int:
        """1, 2, ... wrapping back to 1 after 2**32 - 1 (0 is left out: some peers treat it
        as "no sequence")."""
        self._sequence = self._sequence % SEQUENCE_MAX + 1
        return self._sequence

    def encode(self, command_id: int, sequence_id: int, fields: dict[str, Any]) -> bytes:
        return encode_pdu(command_id, sequence_id, fields, self.version or Version.V2_0)

    def request(self, command_id: int, fields: dict[str, Any], now: float, *,
                context: Any = None) -> Outstanding:
        sequence = self.next_sequence()
        windowed = command_id in WINDOWED
        request = Outstanding(command_id, sequence, self.encode(command_id, sequence, fields),
                              now, now, windowed, context=context)
        self._outstanding[(command_id, sequence)] = request
        if windowed:
            self._in_flight += 1
            self.log.in_flight = self._in_flight
            self.log.max_in_flight = max(self.log.max_in_flight, self._in_flight)
        return request

    def response(self, request: DecodedPdu, fields: dict[str, Any]) -> bytes:
        return self.encode(response_of(request.Command_Id), request.Sequence_Id, fields)

    # -- the window and timeouts ----------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def window_free(self) -> int:
        return self.window - self._in_flight

    def outstanding(self) -> list[Outstanding]:
        return list(self._outstanding.values())

    def waiting_for(self, command_id: int) -> bool:
        """Is a request with this Command_Id unanswered?"""
        command_id = request_of(command_id)
        return any(o.command_id == command_id for o in self._outstanding.values())

    def earliest_timeout(self, timeout: float) -> float | None:
        if not self._outstanding:
            return None
        return min(o.last_sent for o in self._outstanding.values()) + timeout

    def overdue(self, now: float, timeout: float) -> list[Outstanding]:
        return [o for o in self._outstanding.values() if now - o.last_sent >= timeout]

    def retransmit(self, request: Outstanding, now: float) -> bytes:
        """Send a request again with its Sequence_Id (reference §9: resend after T)."""
        request.attempts += 1
        request.last_sent = now
        return request.data

    def abandon(self, request: Outstanding) -> None:
        if self._outstanding.pop((request.command_id, request.sequence_id), None) is None:
            return
        if request.windowed:
            self._in_flight -= 1
            self.log.in_flight = self._in_flight
        self.log.unanswered[request.command_id] += 1

    def abandon_all(self) -> None:
        for request in list(self._outstanding.values()):
            self.abandon(request)
