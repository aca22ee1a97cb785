"""Stage 1: container walk (pcap, pcapng), link layers, IPv4 (fragments), IPv6; the same walk
handing over frames (FrameReader: a merge of several inputs, a frame read again)."""



from collections.abc import Callable

from cmppdissect.core._types import SegmentSink
from cmppdissect.core.records import (
    CaptureLayout,
    CaptureNote,
    InterfaceLayout,
    SectionLayout,
    TcpSegment,
)

LINKTYPE_NULL: int
LINKTYPE_ETHERNET: int
LINKTYPE_RAW_BSD: int
LINKTYPE_RAW_OPENBSD: int
LINKTYPE_RAW: int
LINKTYPE_LOOP: int
LINKTYPE_LINUX_SLL: int
LINKTYPE_IPV4: int
LINKTYPE_IPV6: int
LINKTYPE_LINUX_SLL2: int
LINKTYPE_NAMES: dict[int, str]
SUPPORTED_LINKTYPES: frozenset[int]
MAX_CAPLEN: int
MAX_BLOCK: int
MAX_FRAME_NOTES: int
MAX_DATAGRAM: int
MAX_PIECES: int
MAX_LAYOUT_ENTRIES: int
PCAP_MAGICS: dict[bytes, tuple[bool, int, int]]
PCAPNG_BOM_LE: bytes
PCAPNG_BOM_BE: bytes

def sniff(head: bytes) -> tuple[str | None, str | None]: ...

class Ipv4Reassembler:
    max_datagrams: int
    max_bytes: int
    timeout_ns: int
    @property
    def completed(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def malformed(self) -> int: ...
    def __init__(self, *, max_datagrams: int = ..., max_bytes: int = ...,
                 timeout_ns: int = ...) -> None: ...
    def __len__(self) -> int: ...
    def add(self, key: tuple[bytes, bytes, int, int], offset: int, more: bool, data: bytes,
            ts_ns: int) -> bytes | None: ...
    def flush(self) -> int: ...

class CaptureReader:
    notes: list[CaptureNote]
    keep_fragments: bool
    @property
    def fragment_records(self) -> dict[int, tuple[int, ...]]: ...
    @property
    def frames(self) -> int: ...
    @property
    def tcp_segments(self) -> int: ...
    @property
    def non_tcp(self) -> int: ...
    @property
    def malformed(self) -> int: ...
    @property
    def truncated_frames(self) -> int: ...
    @property
    def unsupported_link(self) -> int: ...
    @property
    def ip_fragments(self) -> int: ...
    @property
    def reassembled(self) -> int: ...
    @property
    def format(self) -> str | None: ...
    @property
    def pending_peak(self) -> int: ...
    def __init__(self, sink: SegmentSink, notes: list[CaptureNote] | None = None) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview) -> None: ...
    def finish(self) -> None: ...
    def capture_layout(self) -> CaptureLayout | None: ...

# (record offset, interface, ts_ns, time as stored or None, length on the wire, captured bytes)
FrameTuple = tuple[int, InterfaceLayout, int, int | None, int, bytes]

class FrameReader(CaptureReader):
    def __init__(self, notes: list[CaptureNote] | None = None,
                 declare: Callable[[InterfaceLayout], tuple[int, bytes]] | None = None) -> None: ...
    @property
    def ready(self) -> bool: ...
    @property
    def ts(self) -> int: ...
    def next(self) -> bool: ...
    def frame(self) -> FrameTuple | None: ...
    def needed(self, head: bytes) -> int: ...
    def start_at(self, layout: CaptureLayout, section: SectionLayout, offset: int) -> None: ...
    def blocks(self, until: int | None = None, inclusive: bool = False, room: int = ...,
               positions: list[int] | None = None) -> bytes: ...

class SegmentList(SegmentSink):
    items: list[TcpSegment]
    def __init__(self) -> None: ...
