"""The knobs both roles share: timing, window, wire chunking and misbehaviour.

Misbehaviour applies to the responses a side sends (an ISMG's SUBMIT_RESP, an SP's
DELIVER_RESP, either side's ACTIVE_TEST_RESP), never to CONNECT_RESP or TERMINATE_RESP, which
decide whether there is a session at all. Every rate is a probability per response, drawn
from the side's seeded random generator so a run can be repeated.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from cmppdissect.protocol.commands import WINDOW, CommandId

WRONG_SEQ_OFFSET = 1_000_000
"""A response with a wrong Sequence_Id carries the request's Sequence_Id plus this (mod 2**32)."""


def _rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, not {value}")


def _nonnegative(name: str, value: float) -> None:
    if value < 0:
        raise ValueError(f"{name} must not be negative, not {value}")


@dataclass(frozen=True, slots=True)
class Faults:
    """Probabilities of misbehaving on each response (0 = never, 1 = always)."""

    lost: float = 0.0  # never send the response
    duplicate: float = 0.0  # send it twice
    wrong_seq: float = 0.0  # Sequence_Id + WRONG_SEQ_OFFSET
    slow: float = 0.0  # add ``slow_delay`` to the latency
    slow_delay: float = 2.0
    bad_active_test_resp: float = 0.0  # pycmpp's 16-byte ACTIVE_TEST_RESP claiming 13 bytes

    def __post_init__(self) -> None:
        for name in ("lost", "duplicate", "wrong_seq", "slow", "bad_active_test_resp"):
            _rate(name, getattr(self, name))
        _nonnegative("slow_delay", self.slow_delay)

    @property
    def any(self) -> bool:
        return bool(self.lost or self.duplicate or self.wrong_seq or self.slow
                    or self.bad_active_test_resp)


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How one side times, sizes and damages what it sends.

    Defaults follow the reference (§9): ACTIVE_TEST after C = 180 s without a request of our
    own, a request unanswered for T = 60 s is sent again, N = 3 transmissions in all (so 2
    retries), window W = 16.
    """

    latency: float = 0.0  # seconds before each response is written
    jitter: float = 0.0  # plus a uniform 0..jitter
    heartbeat: float = 180.0  # idle seconds before ACTIVE_TEST; 0 = never
    timeout: float = 60.0
    retries: int = 2
    window: int = WINDOW
    chunk: int = 0  # write each PDU in pieces of at most this many bytes; 0 = whole
    chunk_gap: float = 0.0  # pause between pieces
    error_rate: float = 0.0  # share of Result-bearing responses with a non-zero Result
    error_codes: tuple[int, ...] = (8,)
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        for name in ("latency", "jitter", "heartbeat", "chunk_gap"):
            _nonnegative(name, getattr(self, name))
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, not {self.timeout}")
        if self.retries < 0:
            raise ValueError(f"retries must not be negative, not {self.retries}")
        if not 1 <= self.window <= 0xFFFF:
            raise ValueError(f"window must be between 1 and 65535, not {self.window}")
        if self.chunk < 0:
            raise ValueError(f"chunk must not be negative, not {self.chunk}")
        _rate("error_rate", self.error_rate)
        if not self.error_codes or any(not 0 < c < 1 << 32 for c in self.error_codes):
            raise ValueError("error_codes must be non-zero 32-bit values")


def pycmpp_active_test_resp(sequence_id: int) -> bytes:
    """The ACTIVE_TEST_RESP pycmpp writes: Total_Length 13, then the four ASCII bytes ``0x00``.

    Three bytes more than the header announces, so the peer's stream desynchronises
    (reference §11, D13).
    """
    return struct.pack(">III", 13, CommandId.CMPP_ACTIVE_TEST_RESP, sequence_id) + b"0x00"


def with_sequence(pdu: bytes, sequence_id: int) -> bytes:
    return pdu[:8] + struct.pack(">I", sequence_id & 0xFFFFFFFF) + pdu[12:]
