"""The records the compiled stages hand to Python, as values.

The hot path passes C structs between the stages and builds none of these: they are what the
stages' Python-facing methods return (``TcpTracker.feed``, ``PduFramer.feed``, a segment list of
the reader), for tests and tools, and the findings the reader notes. Each is an immutable value,
so it can be queued, compared in tests and shared without anyone worrying who may change it.
"""

from __future__ import annotations

import bisect
import socket
from dataclasses import dataclass, field
from typing import Final, NamedTuple, TypeAlias

from cmppdissect.options import format_hostport

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
    """One TCP segment as captured; ``payload`` may be empty (pure ACK, SYN, FIN, RST).

    ``offset`` is where the frame's record starts in the capture bytes (-1: unknown); it says
    where the segment came from, not what it is, so comparisons leave it out.
    """

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
    offset: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class InterfaceLayout:
    """One interface of a capture as its records need it to be read again.

    ``tsresol`` is the pcapng ``if_tsresol`` byte as stored (6: microseconds, 9: nanoseconds,
    ``0x80 | n``: units of 2**-n s); a pcap file has 6 or 9 by its magic. ``tsoffset`` is
    ``if_tsoffset``, seconds added to every timestamp. ``linktype`` is -1 for an interface
    description block too short to use.
    """

    linktype: int
    snaplen: int
    tsresol: int = 6
    tsoffset: int = 0


@dataclass(frozen=True, slots=True)
class SectionLayout:
    """A pcapng section (a pcap file has one): where it starts, its byte order, and its
    interfaces in declaration order (an Enhanced Packet Block names one by index)."""

    offset: int
    big_endian: bool
    interfaces: tuple[InterfaceLayout, ...]


@dataclass(frozen=True, slots=True)
class CaptureLayout:
    """What reading a frame's record again needs, given where the record starts.

    ``record_header`` is the pcap record header's length (16, or 24 in the format of Alexey
    Kuznetzov's patched libpcap). Sections are in file order; a record belongs to the last
    section that starts before it. Past ``known_until`` (a capture declaring more sections and
    interfaces than the reader keeps) no record's layout is known.
    """

    format: str  # "pcap" or "pcapng"
    record_header: int
    sections: tuple[SectionLayout, ...]
    known_until: int | None = None

    def section_at(self, offset: int) -> SectionLayout | None:
        """The section a record at ``offset`` belongs to (None: before the first, or past
        ``known_until``)."""
        if self.known_until is not None and offset >= self.known_until:
            return None
        i = bisect.bisect_right(self.sections, offset, key=_section_offset) - 1
        return self.sections[i] if i >= 0 else None


def _section_offset(section: SectionLayout) -> int:
    return section.offset


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
    """In-order bytes of one direction; ``frame`` is the frame that made them deliverable,
    ``offset`` where that frame's record starts (-1: unknown; left out of comparisons)."""

    conn: int
    from_client: bool
    data: bytes
    frame: int
    ts_ns: int
    offset: int = field(default=-1, compare=False)


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

def format_ip(addr: bytes) -> str:
    """Text form of a packed address (dotted quad or RFC 5952 IPv6)."""
    if len(addr) == 4:
        return socket.inet_ntoa(addr)
    return socket.inet_ntop(socket.AF_INET6, addr)


def format_endpoint(addr: bytes, port: int) -> str:
    """``ip:port``, with IPv6 addresses in brackets so the port stays unambiguous."""
    return format_hostport(format_ip(addr), port)


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
    """Bytes that are not part of any PDU: how many, where the framer picked up again, why.

    ``first_frame`` brought the run's first byte (where a finding about them belongs) and
    ``head`` holds its first bytes (at most 32), for the finding to show.
    """

    size: int
    frame: int
    ts_ns: int
    reason: str
    first_frame: int = 0
    head: bytes = b""


FramerEvent: TypeAlias = FramedPdu | Skipped
