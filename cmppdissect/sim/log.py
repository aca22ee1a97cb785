"""What each simulator side sent and received, kept as Python objects.

Tests of the analyzer compare a capture with this record of what the simulator did, so it
counts PDUs as they were written to the socket (a duplicated response counts twice, a lost one
not at all) and as they were read. Everything that grows with traffic is bounded: counters are
fixed-size, and the per-PDU events and latency samples keep only the most recent entries.
"""

from __future__ import annotations

import math
import struct
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Literal

from cmppdissect.options import format_hostport
from cmppdissect.protocol.commands import HEADER_LEN, command_name
from cmppdissect.protocol.version import Version

_HEADER = struct.Struct(">III")

Direction = Literal["sent", "received"]

DEFAULT_MAX_EVENTS = 100_000
_LATENCY_SAMPLES = 10_000


@dataclass(frozen=True, slots=True)
class PduEvent:
    """One PDU written or read. ``data`` is kept only when the log was asked to keep bytes.

    ``fault`` names what the simulator did to a PDU it wrote on purpose (``duplicate``,
    ``wrong_seq``, ``bad_length``, ``retransmit``), so a test can tell injected damage from a
    bug.
    """

    at: float
    direction: Direction
    command_id: int
    sequence_id: int
    length: int
    fault: str | None = None
    data: bytes | None = None

    @property
    def command(self) -> str:
        return command_name(self.command_id)


@dataclass(frozen=True, slots=True)
class Pair:
    """A request this side sent and the response that answered it."""

    command_id: int
    sequence_id: int
    latency: float  # seconds from the last transmission of the request to the response
    attempts: int
    result: int | None  # Status / Result / Success_Id of the response, if it has one


class Latencies:
    """Running count/min/max/mean plus the latest samples for percentiles."""

    __slots__ = ("_samples", "count", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = 0.0
        self._samples: deque[float] = deque(maxlen=_LATENCY_SAMPLES)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        self._samples.append(value)

    def merge(self, other: Latencies) -> None:
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self._samples.extend(other._samples)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def percentile(self, p: float) -> float | None:
        """The percentile over the kept samples (the latest 10,000), interpolated linearly
        between ranks as the analyzer's statistics are (``numpy.percentile``'s default), so
        that the simulator's log and ``cmppdissect --report`` of its capture agree."""
        if not self._samples:
            return None
        import numpy as np

        return float(np.percentile(np.fromiter(self._samples, dtype=float), p))

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "count": self.count,
            "min_ms": _ms(self.minimum if self.count else None),
            "mean_ms": _ms(self.mean),
            "p50_ms": _ms(self.percentile(50)),
            "p90_ms": _ms(self.percentile(90)),
            "max_ms": _ms(self.maximum if self.count else None),
        }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


def _names(counter: Counter[int]) -> dict[str, int]:
    return {command_name(k): v for k, v in sorted(counter.items())}


@dataclass(eq=False)
class ConnectionLog:
    """One TCP connection as seen by one side (``role`` is ``"sp"`` or ``"ismg"``)."""

    role: str
    keep_bytes: bool = False
    max_events: int = DEFAULT_MAX_EVENTS
    local: tuple[str, int] | None = None
    peer: tuple[str, int] | None = None
    sp_id: str | None = None
    version: Version | None = None
    login_status: int | None = None
    auth_check: str | None = None  # the SP's verdict on AuthenticatorISMG
    opened_at: float | None = None
    closed_at: float | None = None
    close_reason: str | None = None
    sent: Counter[int] = field(default_factory=Counter)
    received: Counter[int] = field(default_factory=Counter)
    sent_bytes: int = 0
    received_bytes: int = 0
    pairs: deque[Pair] = field(default_factory=deque)
    latencies: dict[int, Latencies] = field(default_factory=dict)
    results: Counter[tuple[int, int]] = field(default_factory=Counter)  # (response id, result)
    results_sent: Counter[tuple[int, int]] = field(default_factory=Counter)  # in our responses
    unmatched: Counter[int] = field(default_factory=Counter)  # responses to no request of ours
    retransmits: Counter[int] = field(default_factory=Counter)
    unanswered: Counter[int] = field(default_factory=Counter)  # requests given up on
    faults: Counter[str] = field(default_factory=Counter)
    reports_sent: Counter[str] = field(default_factory=Counter)  # by Stat
    reports_received: Counter[str] = field(default_factory=Counter)
    reports_unmatched: int = 0  # reports whose Msg_Id this SP never got in a SUBMIT_RESP
    mo_sent: int = 0
    mo_received: int = 0
    skipped_bytes: int = 0  # bytes read that were not part of any PDU
    in_flight: int = 0  # our windowed requests unanswered right now
    max_in_flight: int = 0  # most of our windowed requests unanswered at once
    peer_max_in_flight: int = 0  # most of the peer's windowed requests we had not yet answered
    events: deque[PduEvent] = field(default_factory=deque)
    stream: bytearray = field(default_factory=bytearray)  # every byte read (keep_bytes only)
    read_sizes: list[int] = field(default_factory=list)  # size of each read (keep_bytes only)

    def __post_init__(self) -> None:
        self.events = deque(maxlen=self.max_events)
        self.pairs = deque(maxlen=self.max_events)

    # -- recording (called by the connection and the driver) ------------------------------------

    def record_read(self, data: bytes) -> None:
        self.received_bytes += len(data)
        if self.keep_bytes:
            self.stream += data
            self.read_sizes.append(len(data))

    def record_pdu(self, direction: Direction, data: bytes, at: float,
                   fault: str | None = None) -> None:
        """Count a whole PDU; the header is read from ``data`` as it is on the wire."""
        if len(data) >= HEADER_LEN:
            _total, cmd, seq = _HEADER.unpack_from(data, 0)
        else:
            cmd = seq = 0
        if direction == "sent":
            self.sent[cmd] += 1
            self.sent_bytes += len(data)
        else:
            self.received[cmd] += 1
        if self.max_events:
            self.events.append(PduEvent(at, direction, cmd, seq, len(data), fault,
                                        bytes(data) if self.keep_bytes else None))

    def record_pair(self, pair: Pair, response_id: int) -> None:
        self.pairs.append(pair)
        stats = self.latencies.get(pair.command_id)
        if stats is None:
            stats = self.latencies[pair.command_id] = Latencies()
        stats.add(pair.latency)
        if pair.result is not None:
            self.results[(response_id, pair.result)] += 1

    # -- reading --------------------------------------------------------------------------------

    def sent_by_name(self) -> dict[str, int]:
        return _names(self.sent)

    def received_by_name(self) -> dict[str, int]:
        return _names(self.received)

    def events_of(self, direction: Direction, command_id: int) -> list[PduEvent]:
        return [e for e in self.events if e.direction == direction and e.command_id == command_id]

    @property
    def logged_in(self) -> bool:
        return self.login_status == 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready digest (no per-PDU events)."""
        return {
            "role": self.role,
            "local": _addr(self.local),
            "peer": _addr(self.peer),
            "sp_id": self.sp_id,
            "version": None if self.version is None else str(self.version),
            "login_status": self.login_status,
            "auth_check": self.auth_check,
            "close_reason": self.close_reason,
            "duration_s": (None if self.opened_at is None or self.closed_at is None
                           else round(self.closed_at - self.opened_at, 6)),
            "sent": self.sent_by_name(),
            "received": self.received_by_name(),
            "sent_bytes": self.sent_bytes,
            "received_bytes": self.received_bytes,
            "latency": {command_name(k): v.as_dict() for k, v in sorted(self.latencies.items())},
            "results": {f"{command_name(c)}={r}": n for (c, r), n in sorted(self.results.items())},
            "results_sent": {f"{command_name(c)}={r}": n
                             for (c, r), n in sorted(self.results_sent.items())},
            "unmatched_responses": _names(self.unmatched),
            "retransmits": _names(self.retransmits),
            "unanswered": _names(self.unanswered),
            "faults": dict(sorted(self.faults.items())),
            "reports_sent": dict(sorted(self.reports_sent.items())),
            "reports_received": dict(sorted(self.reports_received.items())),
            "reports_unmatched": self.reports_unmatched,
            "mo_sent": self.mo_sent,
            "mo_received": self.mo_received,
            "skipped_bytes": self.skipped_bytes,
            "max_in_flight": self.max_in_flight,
            "peer_max_in_flight": self.peer_max_in_flight,
        }


def _addr(addr: tuple[str, int] | None) -> str | None:
    if addr is None:
        return None
    return format_hostport(*addr)


class SimLog:
    """All connections of one simulator side (one for a client, any number for a server)."""

    def __init__(self, role: str, *, keep_bytes: bool = False,
                 max_events: int = DEFAULT_MAX_EVENTS) -> None:
        self.role = role
        self.keep_bytes = keep_bytes
        self.max_events = max_events
        self.connections: list[ConnectionLog] = []
        self.errors: list[str] = []  # one line each: what went wrong outside any PDU

    def new_connection(self) -> ConnectionLog:
        log = ConnectionLog(self.role, keep_bytes=self.keep_bytes, max_events=self.max_events)
        self.connections.append(log)
        return log

    def total(self, attr: str) -> Counter[Any]:
        """Sum of one Counter attribute (``sent``, ``faults``, ...) over all connections."""
        out: Counter[Any] = Counter()
        for c in self.connections:
            out.update(getattr(c, attr))
        return out

    def latency(self, command_id: int) -> Latencies:
        """Latencies of one request command merged over all connections."""
        merged = Latencies()
        for c in self.connections:
            stats = c.latencies.get(command_id)
            if stats is not None:
                merged.merge(stats)
        return merged

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "errors": list(self.errors),
                "connections": [c.as_dict() for c in self.connections]}
