"""Plain records passed between the capture reader, the TCP tracker and the engine.

Everything here is an immutable value so that records can be queued, compared in tests and
shared between layers without anyone worrying about who may change them.

Construction speed matters: a frozen dataclass ``__init__`` goes through
``object.__setattr__`` once per field, which costs about 1.4 µs for the twelve fields of a
:class:`TcpSegment`, more than the whole per-frame budget of the reader. The hot paths therefore
build records through mutable twins (see :func:`_mutable_twin`), which produce genuine frozen
instances about three times faster.
"""

from __future__ import annotations

import dataclasses
import socket
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, TypeAlias

FIN: Final = 0x01
SYN: Final = 0x02
RST: Final = 0x04
PSH: Final = 0x08
ACK: Final = 0x10


class CaptureFormatError(Exception):
    """The input is not a capture this reader understands (raised before any record is read).

    The message is a single line meant to be shown to the user as it is.
    """


@dataclass(frozen=True, slots=True)
class TcpSegment:
    """One TCP segment as captured; ``payload`` may be empty (pure ACK, SYN, FIN, RST)."""

    frame: int
    ts_ns: int
    src: str
    dst: str
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    seq: int
    ack: int
    flags: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class CaptureNote:
    """A reader-level finding that is not worth an exception (the capture still gets read).

    ``severity`` uses the expert-info names of :mod:`cmppdissect.protocol.expert`
    ("chat", "note", "warn", "error") so the engine can merge both kinds of findings.
    """

    frame: int | None
    message: str
    severity: str = "warn"


@dataclass(frozen=True, slots=True)
class ConnStats:
    """Per-connection counters, a snapshot taken when asked for or when the connection closed.

    ``retransmissions`` counts segments whose bytes had all (or partly) been seen already,
    ``duplicates`` the subset that repeated the latest in-order segment exactly (typical of
    loopback captures, which hold every packet twice).
    """

    frames: int = 0
    bytes_from_client: int = 0
    bytes_from_server: int = 0
    retransmissions: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    gaps: int = 0
    gap_bytes: int = 0


@dataclass(frozen=True, slots=True)
class ConnectionOpened:
    conn: int
    client: str
    server: str
    frame: int
    ts_ns: int
    saw_syn: bool


@dataclass(frozen=True, slots=True)
class StreamData:
    """In-order bytes of one direction; ``frame`` is the frame that made them deliverable."""

    conn: int
    from_client: bool
    data: bytes
    frame: int
    ts_ns: int


@dataclass(frozen=True, slots=True)
class StreamGap:
    """``missing`` bytes of one direction were never captured; later data follows the gap."""

    conn: int
    from_client: bool
    missing: int
    frame: int
    ts_ns: int


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """``how`` is "fin", "rst", "reused", "evicted" or "end-of-capture".

    ``stats`` is left out of comparisons so tests and callers can match on the first four
    fields without reproducing every counter.
    """

    conn: int
    how: str
    frame: int | None
    ts_ns: int | None
    stats: ConnStats | None = field(default=None, compare=False)


StreamEvent: TypeAlias = ConnectionOpened | StreamData | StreamGap | ConnectionClosed

def _mutable_twin(cls: type[Any]) -> Any:
    """Build a mutable twin of a frozen slotted dataclass, for the hot paths.

    The twin has the very same ``__slots__`` (it is made by ``dataclasses`` from the same
    field list) and a plain ``__init__``. Hot loops build ``twin(...)`` and then re-label it
    with ``obj.__class__ = cls``: CPython allows ``__class__`` assignment between heap types of
    identical layout, and the result is indistinguishable from a normally built instance
    (equality, hashing, frozenness), at a third of the cost of the frozen ``__init__``.
    """
    names = [f.name for f in dataclasses.fields(cls)]
    twin: Any = dataclasses.make_dataclass(
        f"_Mutable{cls.__name__}", names, slots=True, eq=False, repr=False
    )
    probe = twin(*range(len(names)))
    probe.__class__ = cls  # fails loudly at import if an interpreter refuses the re-labelling
    if tuple(twin.__slots__) != tuple(cls.__slots__) or probe != cls(*range(len(names))):
        raise RuntimeError(f"cannot build a fast constructor for {cls.__name__}")
    return twin


SegmentTwin: Final[Any] = _mutable_twin(TcpSegment)
DataTwin: Final[Any] = _mutable_twin(StreamData)


def new_segment(
    frame: int,
    ts_ns: int,
    src: str,
    dst: str,
    src_ip: str,
    src_port: int,
    dst_ip: str,
    dst_port: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes,
) -> TcpSegment:
    """Build a :class:`TcpSegment` the fast way (same result as the normal constructor)."""
    obj = SegmentTwin(
        frame, ts_ns, src, dst, src_ip, src_port, dst_ip, dst_port, seq, ack, flags, payload
    )
    obj.__class__ = TcpSegment
    return obj  # type: ignore[no-any-return]


def format_ip(addr: bytes) -> str:
    """Text form of a packed address (dotted quad or RFC 5952 IPv6)."""
    if len(addr) == 4:
        return socket.inet_ntoa(addr)
    return socket.inet_ntop(socket.AF_INET6, addr)


def format_endpoint(addr: bytes, port: int) -> str:
    """``ip:port``, with IPv6 addresses in brackets so the port stays unambiguous."""
    if len(addr) == 4:
        return f"{socket.inet_ntoa(addr)}:{port}"
    return f"[{socket.inet_ntop(socket.AF_INET6, addr)}]:{port}"


class FramedPdu(NamedTuple):
    """One complete PDU's bytes, as the framer cut them.

    ``frame`` completed the PDU; ``first_frame`` brought its first byte.
    """

    data: bytes
    frame: int
    ts_ns: int
    first_frame: int


@dataclass(frozen=True, slots=True)
class Skipped:
    """Bytes that are not part of any PDU: how many, where the framer picked up again, why."""

    size: int
    frame: int
    ts_ns: int
    reason: str


FramerEvent: TypeAlias = FramedPdu | Skipped
