"""Read TCP segments out of pcap / pcapng files (plain or gzip), or out of a pipe.

This is the only module of the capture layer that touches files. It streams: the input is
read in chunks and records are decoded in place with ``struct.unpack_from`` on the chunk, so
nothing is copied before a frame is known to carry TCP and memory stays flat on any file size.
Reading the containers ourselves (instead of through dpkt) is what makes multi-interface pcapng
work, and what makes the reader fast enough: the everyday frame (IPv4 or IPv6 TCP behind
Ethernet, one VLAN tag, Linux cooked capture or raw IP) is decoded inline in the read loop, at
about the cost of dpkt merely listing the records; every other shape goes through
:mod:`.linklayer`.

Nothing in the capture aborts iteration with an exception: malformed frames are counted in
:class:`SourceStats` and reported as :class:`CaptureNote` records. Only an input that is not a
capture at all raises :class:`CaptureFormatError`, and it does so when the source is opened,
before anything is yielded.
"""

from __future__ import annotations

import os
import stat
import struct
import sys
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from .ipfrag import Ipv4Reassembler
from .linklayer import (
    IPPROTO_TCP,
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    LINKTYPE_RAW_BSD,
    LINKTYPE_RAW_OPENBSD,
    MALFORMED,
    NOT_IP,
    SUPPORTED_LINKTYPES,
    IpPacket,
    format_endpoint,
    format_ip,
    locate_ip,
    parse_ip,
)
from .records import CaptureFormatError, CaptureNote, SegmentTwin, TcpSegment

__all__ = [
    "CaptureFormatError",
    "CaptureNote",
    "PcapSource",
    "SourceStats",
    "iter_segments",
]

CHUNK_SIZE: Final = 256 * 1024
# No real link carries frames this large; a bigger length means a corrupt record header, and
# honouring it would make us buffer arbitrary amounts of memory.
MAX_CAPLEN: Final = 256 * 1024
# Non-packet pcapng blocks (name resolution, decryption secrets…) may legitimately be larger
# than a frame; beyond this they are skipped without being buffered.
MAX_BLOCK: Final = 4 * 1024 * 1024
# Per-frame findings past this many are only counted, so a damaged file cannot flood the user.
MAX_FRAME_NOTES: Final = 100
_GZIP_MAGIC: Final = b"\x1f\x8b"
_GZIP_OUT_MAX: Final = 4 * CHUNK_SIZE

_PCAP_MAGICS: Final[dict[bytes, tuple[str, int, int]]] = {
    # stored magic -> (byte order, ns per fraction unit, record header length)
    b"\xd4\xc3\xb2\xa1": ("<", 1000, 16),
    b"\xa1\xb2\xc3\xd4": (">", 1000, 16),
    b"\x4d\x3c\xb2\xa1": ("<", 1, 16),
    b"\xa1\xb2\x3c\x4d": (">", 1, 16),
    # Alexey Kuznetzov's patched libpcap: 8 more bytes per record header.
    b"\x34\xcd\xb2\xa1": ("<", 1000, 24),
    b"\xa1\xb2\xcd\x34": (">", 1000, 24),
}
_PCAPNG_SHB: Final = 0x0A0D0D0A
_PCAPNG_BOM_LE: Final = b"\x4d\x3c\x2b\x1a"
_PCAPNG_BOM_BE: Final = b"\x1a\x2b\x3c\x4d"
_IDB: Final = 1
_PB: Final = 2
_SPB: Final = 3
_EPB: Final = 6

# IPv4 version/IHL, total length, flags+offset, protocol, both addresses as one number, then
# (assuming a 20-byte IPv4 header) both TCP ports as one number, seq, ack, and the data offset +
# flags word: one unpack for everything the inline decoder needs.
_IP4_TCP = struct.Struct(">BxHxxHxBxxQIIIH").unpack_from
# The same from byte 4 of an IPv6 header: payload length, next header, both addresses (one
# bytes object), then the TCP fields as above.
_IP6_TCP = struct.Struct(">HBx32sIIIH").unpack_from
_TCP_HDR = struct.Struct(">HHIIH").unpack_from  # ports, seq, ack, offset+flags
_IP4_PACK = struct.Struct(">I").pack
_ENDPOINT_CACHE_MAX: Final = 1 << 16
# src, dst, src_ip, src_port, dst_ip, dst_port: the per-flow fields of a TcpSegment
_Endpoints = tuple[str, str, str, int, str, int]


@dataclass(slots=True)
class SourceStats:
    """Running counters of a :class:`PcapSource`.

    ``bytes_read`` counts bytes of the underlying file (compressed bytes for gzip), so
    ``bytes_read / file_size`` is the progress fraction. Counters are refreshed once per chunk
    read (every 256 KiB) and are exact once iteration ends.
    """

    file_size: int | None = None
    bytes_read: int = 0
    frames: int = 0
    tcp_segments: int = 0
    non_tcp: int = 0
    malformed: int = 0
    truncated_frames: int = 0
    unsupported_link: int = 0
    ip_fragments: int = 0
    reassembled: int = 0


@dataclass(slots=True)
class _Interface:
    linktype: int
    snaplen: int
    ts_mul: int  # ts_ns = ((raw * ts_mul) >> ts_shift) // ts_div + ts_off_ns
    ts_shift: int
    ts_div: int
    ts_off_ns: int
    simple_ts: bool = False  # ts_shift == 0 and ts_div == 1: the read loop's cheap case
    fast: tuple[int, int, int] = (0, 0, 0)  # _fast_link() of the link type
    supported: bool = False

    def __post_init__(self) -> None:
        self.simple_ts = self.ts_shift == 0 and self.ts_div == 1
        self.fast = _fast_link(self.linktype)
        self.supported = self.linktype in SUPPORTED_LINKTYPES


class _Input:
    """Chunks of the (decompressed) capture bytes, with the raw byte count for progress."""

    def __init__(self, fileobj: IO[bytes], stats: SourceStats, note: Callable[..., None]) -> None:
        read1 = getattr(fileobj, "read1", None)
        # read1 returns what a pipe has now instead of waiting for a full chunk, which keeps
        # `tcpdump -w - | cmppdissect -` responsive.
        self._raw_read: Callable[[int], bytes] = read1 if callable(read1) else fileobj.read
        self._stats = stats
        self._note = note
        self._prefix = b""
        self._dec: Any = None  # zlib decompressor when the input is gzip
        self._dec_fed = False
        self._dec_tail = b""
        self._done = False
        self.compressed = False
        self.error: OSError | None = None  # the read error that ended the input, if any

    def _raw(self) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix, b""
            return data
        try:
            data = self._raw_read(CHUNK_SIZE)
        except OSError as exc:
            self.error = exc
            self._note(None, f"read error, capture ends here: {exc}", "error")
            return b""
        self._stats.bytes_read += len(data)
        return data or b""

    def sniff_gzip(self) -> None:
        """Switch to decompression when the file starts with the gzip magic (not by name)."""
        head = b""
        while len(head) < 2:
            data = self._raw()
            if not data:
                break
            head += data
        self._prefix = head
        if head.startswith(_GZIP_MAGIC):
            self.compressed = True
            self._dec = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def read(self) -> bytes:
        """The next chunk of capture bytes; ``b""`` at the end (after any note about why)."""
        if self._done:
            return b""
        if self._dec is None:
            data = self._raw()
            if not data:
                self._done = True
            return data
        return self._read_gzip()

    def _read_gzip(self) -> bytes:
        while True:
            if self._dec_tail:
                data, self._dec_tail = self._dec_tail, b""
            else:
                data = self._raw()
                if not data:
                    self._done = True
                    if self._dec_fed and not self._dec.eof:
                        self._note(None, "gzip stream ends early (file truncated?)", "warn")
                    return b""
            self._dec_fed = True
            try:
                out: bytes = self._dec.decompress(data, _GZIP_OUT_MAX)
            except zlib.error as exc:
                self._done = True
                self._note(None, f"gzip data corrupt, capture ends here ({exc})", "error")
                return b""
            self._dec_tail = self._dec.unconsumed_tail
            if self._dec.eof:
                rest = self._dec.unused_data
                self._dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._dec_fed = False
                if rest.startswith(_GZIP_MAGIC):  # another member (concatenated .gz files)
                    self._dec_tail = rest
                elif rest.strip(b"\x00"):
                    self._note(None, "ignored non-gzip data after the gzip stream", "note")
                    self._done = True
                    return out
                else:
                    self._dec_tail = b""
            if out:
                return out


class PcapSource:
    """A capture file opened for streaming its TCP segments.

    ``source`` is a path, ``"-"`` for standard input, or a binary file object (which is not
    closed by us). Opening reads the file header and raises :class:`CaptureFormatError` if the
    input is not a pcap/pcapng capture. Iterate the source (once) for :class:`TcpSegment`
    records; ``stats`` and ``notes`` fill up along the way, ``progress`` is the fraction of the
    file consumed when its size is known.
    """

    # Tests turn this off to check the inline decoder of the read loop against the general one.
    _fast_path: bool = True

    def __init__(
        self,
        source: str | os.PathLike[str] | IO[bytes],
        *,
        notes: list[CaptureNote] | None = None,
    ) -> None:
        self.notes: list[CaptureNote] = notes if notes is not None else []
        self.stats = SourceStats()
        self.name: str
        self._owned: IO[bytes] | None = None
        self._frame_notes = 0
        self._endpoints: dict[Any, _Endpoints] = {}
        self._frag = Ipv4Reassembler()
        self._started = False
        fileobj = self._open(source)
        self._input = _Input(fileobj, self.stats, self._note)
        try:
            self._input.sniff_gzip()
            self._buf = self._read_at_least(28)
            self.format = self._read_header()
        except BaseException:
            self.close()
            raise

    # -- opening ---------------------------------------------------------------------------

    def _open(self, source: str | os.PathLike[str] | IO[bytes]) -> IO[bytes]:
        if isinstance(source, (str, os.PathLike)):
            if str(source) == "-":
                self.name = "<stdin>"
                fileobj: IO[bytes] = sys.stdin.buffer
            else:
                self.name = str(source)
                fileobj = open(Path(source), "rb", buffering=0)  # noqa: SIM115 - closed in close()
                self._owned = fileobj
        else:
            fileobj = source
            self.name = str(getattr(source, "name", "<stream>"))
        try:
            st = os.fstat(fileobj.fileno())
            if stat.S_ISREG(st.st_mode):
                # A file object may already be past its start; progress counts from there.
                try:
                    here = fileobj.tell() if fileobj.seekable() else 0
                except OSError:
                    here = 0
                self.stats.file_size = st.st_size - here
        except (OSError, AttributeError, ValueError):
            pass
        return fileobj

    def _read_at_least(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            more = self._input.read()
            if not more:
                break
            data += more
        return data

    def _read_header(self) -> str:
        buf = self._buf
        what = "gzip-compressed file" if self._input.compressed else "file"
        if not buf:
            if self._input.error is not None:  # e.g. EIO: say so, it is not an empty file
                err = self._input.error
                raise CaptureFormatError(f"{self.name}: cannot read: {err.strerror or err}")
            raise CaptureFormatError(f"{self.name}: empty {what}, not a pcap/pcapng capture")
        magic = buf[:4]
        if magic in _PCAP_MAGICS:
            if len(buf) < 24:
                raise CaptureFormatError(f"{self.name}: pcap file header truncated")
            order, self._ts_mul, self._rec_len = _PCAP_MAGICS[magic]
            self._order = order
            snaplen, network = struct.unpack_from(order + "II", buf, 16)
            # The upper bits of the link-type field carry FCS information, not the type.
            self._linktype = network & 0xFFFF
            self._snaplen = snaplen
            self._pos = 24
            self._check_linktype(self._linktype, None)
            return "pcap"
        if len(buf) >= 4 and struct.unpack_from("<I", buf)[0] == _PCAPNG_SHB:
            if len(buf) < 12 or buf[8:12] not in (_PCAPNG_BOM_LE, _PCAPNG_BOM_BE):
                raise CaptureFormatError(
                    f"{self.name}: corrupt pcapng section header (bad byte-order magic)"
                )
            self._pos = 0
            # Unused by pcapng, but the read loop binds them all once.
            self._order, self._ts_mul, self._rec_len = "<", 0, 16
            self._linktype, self._snaplen = -1, 0
            return "pcapng"
        hint = ""
        if self._input.compressed:
            hint = " inside the gzip data"
        elif buf[:1] in (b"<", b"{", b"#") or (buf[:5].isascii() and buf[:5].isalpha()):
            hint = " (looks like text)"
        raise CaptureFormatError(
            f"{self.name}: not a pcap or pcapng capture{hint} (starts with {buf[:4].hex()})"
        )

    def _check_linktype(self, linktype: int, iface: int | None) -> None:
        if linktype not in SUPPORTED_LINKTYPES:
            where = "" if iface is None else f"interface {iface}: "
            self._note(
                None,
                f"{where}link type {linktype} is not supported; its frames are skipped",
                "error",
            )

    # -- public surface --------------------------------------------------------------------

    @property
    def progress(self) -> float | None:
        """Fraction of the input file consumed so far, or ``None`` when its size is unknown."""
        size = self.stats.file_size
        if not size:
            return None
        return min(1.0, self.stats.bytes_read / size)

    def fileno(self) -> int | None:
        """The descriptor of the file this source opened itself (None for streams it was given)."""
        return self._owned.fileno() if self._owned is not None else None

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __enter__(self) -> PcapSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[TcpSegment]:
        if self._started:
            raise RuntimeError("a PcapSource can be iterated only once")
        self._started = True
        inner = self._iter_frames()
        try:
            yield from inner
        finally:
            inner.close()
            self._finish()

    # -- findings --------------------------------------------------------------------------

    def _note(self, frame: int | None, message: str, severity: str = "warn") -> None:
        self.notes.append(CaptureNote(frame, message, severity))

    def _frame_note(self, frame: int, message: str) -> None:
        self._frame_notes += 1
        if self._frame_notes <= MAX_FRAME_NOTES:
            self._note(frame, message, "warn")
        elif self._frame_notes == MAX_FRAME_NOTES + 1:
            self._note(frame, "more malformed frames follow; only their count is kept", "note")

    def _finish(self) -> None:
        st = self.stats
        if st.truncated_frames:
            self._note(
                None,
                f"{st.truncated_frames} frame(s) were cut short by the snapshot length; "
                "their missing bytes show up as stream gaps",
                "warn",
            )
        if st.unsupported_link:
            self._note(None, f"{st.unsupported_link} frame(s) on unsupported link types", "warn")
        lost = self._frag.flush()
        if lost or self._frag.malformed:
            self._note(
                None,
                f"{lost} incomplete and {self._frag.malformed} malformed IPv4 fragmented "
                "datagram(s) dropped",
                "warn",
            )
        if self._frame_notes > MAX_FRAME_NOTES:
            self._note(None, f"{self._frame_notes} malformed frames in all", "warn")
        self.close()

    # -- the read loop ---------------------------------------------------------------------

    def _iter_frames(self) -> Generator[TcpSegment, None, None]:
        """Walk the records of either container and decode each frame.

        One loop serves pcap and pcapng so that the inline decoder exists once: it handles
        IPv4 (20-byte header, not fragmented) and IPv6 (no extension header) TCP behind
        Ethernet with at most one VLAN tag, Linux cooked v1/v2, or raw IP, reading the IP and
        TCP headers with a single unpack. Anything else, and anything that fails a check,
        goes to the general decoder, which also produces the notes.
        """
        stats = self.stats
        read = self._input.read
        slow = self._decode_frame
        hdr4 = _IP4_TCP
        hdr6 = _IP6_TCP
        cache = self._endpoints
        endpoints4 = self._fast_endpoints4
        endpoints6 = self._fast_endpoints6
        new = object.__new__
        twin = SegmentTwin
        seg_cls = TcpSegment
        ng = self.format == "pcapng"
        # pcap: one link type and one timestamp unit for the whole file
        rec = struct.Struct(self._order + "IIII").unpack_from
        rec_len = self._rec_len
        mul = self._ts_mul
        linktype = self._linktype
        supported = linktype in SUPPORTED_LINKTYPES
        fast_min, et_at, ip_at = _fast_link(linktype) if self._fast_path else _NO_FAST
        snaplen = self._snaplen
        limit = snaplen if 0 < snaplen < MAX_CAPLEN else MAX_CAPLEN
        # pcapng: per-section byte order, per-interface link type and timestamp unit
        ifaces: list[_Interface] = []
        order = "<"
        head = struct.Struct("<II").unpack_from
        epb = struct.Struct("<IIIIIII").unpack_from
        skip = 0  # bytes of an oversized block still to be discarded
        last_ts = 0
        cur_if = -1  # interface whose settings are loaded in the locals below
        ts_mul = ts_off = 0
        buf = self._buf
        pos = self._pos
        n = len(buf)
        frame = 0
        nseg = 0
        try:
            while True:
                start = -1
                if not ng:
                    if n - pos >= rec_len:
                        sec, frac, caplen, _wire = rec(buf, pos)
                        if pos + rec_len + caplen <= n and caplen <= limit:
                            start = pos + rec_len
                            pos = start + caplen
                            frame += 1
                            ts = sec * 1_000_000_000 + frac * mul
                        elif caplen > MAX_CAPLEN:
                            self._note(
                                frame + 1,
                                f"record {frame + 1}: captured length {caplen} is not "
                                "plausible; the file is corrupt from here on and reading stops",
                                "error",
                            )
                            return
                        elif caplen > limit:
                            self._note(
                                frame + 1,
                                f"record {frame + 1}: captured length {caplen} exceeds the "
                                f"snapshot length {snaplen}; reading on",
                                "warn",
                            )
                            limit = MAX_CAPLEN
                            continue
                elif skip:
                    avail = n - pos
                    if avail >= skip:
                        pos += skip
                        skip = 0
                        continue
                    skip -= avail
                    pos = n
                elif n - pos >= 12:
                    avail = n - pos
                    if avail >= 28:
                        btype, blen, ifid, tsh, tsl, caplen, _wire = epb(buf, pos)
                        if btype == _EPB and caplen + 32 <= blen <= avail and ifid < len(ifaces):
                            start = pos + 28
                            pos += blen
                            frame += 1
                            if ifid != cur_if:  # most files have one interface: load it once
                                cur_if = ifid
                                iface = ifaces[ifid]
                                linktype = iface.linktype
                                supported = iface.supported
                                fast_min, et_at, ip_at = iface.fast
                                ts_mul = iface.ts_mul if iface.simple_ts else 0
                                ts_off = iface.ts_off_ns
                            if ts_mul:
                                ts = ((tsh << 32) | tsl) * ts_mul + ts_off
                            else:
                                ts = _convert_ts((tsh << 32) | tsl, ifaces[ifid])
                            last_ts = ts
                    if start < 0:
                        # Any other block: rare, so decoded step by step.
                        btype, blen = head(buf, pos)
                        if btype == _PCAPNG_SHB:
                            bom = buf[pos + 8 : pos + 12]
                            if bom not in (_PCAPNG_BOM_LE, _PCAPNG_BOM_BE):
                                self._note(frame + 1, "corrupt pcapng section header; "
                                           "reading stops", "error")
                                return
                            order = "<" if bom == _PCAPNG_BOM_LE else ">"
                            head = struct.Struct(order + "II").unpack_from
                            epb = struct.Struct(order + "IIIIIII").unpack_from
                            blen = head(buf, pos)[1]
                            if blen <= avail:
                                ifaces = []  # a new section starts a new interface list
                                cur_if = -1
                        if blen < 12 or blen & 3:
                            self._note(frame + 1, f"corrupt pcapng block (length {blen}); "
                                       "reading stops", "error")
                            return
                        if blen <= avail:
                            block = pos
                            pos += blen
                            if btype in (_EPB, _SPB, _PB):
                                frame += 1
                                found = self._other_packet_block(
                                    buf, block, blen, btype, order, ifaces, frame, last_ts
                                )
                                if found is None:
                                    continue
                                start, caplen, iface, ts = found
                                last_ts = ts
                                linktype = iface.linktype
                                supported = iface.supported
                                fast_min, et_at, ip_at = _NO_FAST
                                cur_if = -1
                            else:
                                if btype == _IDB:
                                    self._interface_block(buf, block, blen, order, ifaces)
                                continue
                        elif blen > MAX_BLOCK:
                            if btype in (_EPB, _SPB, _PB):
                                frame += 1
                                stats.malformed += 1
                                self._frame_note(frame, f"frame {frame}: pcapng block of "
                                                 f"{blen} bytes is not plausible; skipped")
                            skip = blen - avail
                            pos = n
                if start < 0:
                    stats.frames = frame
                    stats.tcp_segments = nseg
                    more = read()
                    if not more:
                        break
                    buf = buf[pos:] + more if pos < n else more
                    pos = 0
                    n = len(buf)
                    continue

                # A frame occupies buf[start:start + caplen].
                if not supported:
                    stats.unsupported_link += 1
                    continue
                end = start + caplen
                if caplen >= fast_min:
                    ip = start + ip_at
                    if et_at >= 0:
                        et = start + et_at
                        e0 = buf[et]
                        if e0 == 8 and buf[et + 1] == 0:
                            version = 4
                        elif e0 == 0x86 and buf[et + 1] == 0xDD:
                            version = 6
                        elif e0 == 0x81 and buf[et + 1] == 0:
                            # One 802.1Q tag: tag control, then the inner EtherType.
                            et = ip + 2
                            ip += 4
                            e0 = buf[et]
                            if e0 == 8 and buf[et + 1] == 0:
                                version = 4
                            elif e0 == 0x86 and buf[et + 1] == 0xDD:
                                version = 6
                            else:
                                version = 0
                        else:
                            version = 0
                    else:  # raw IP: any version (-1), IPv4 only (-2), IPv6 only (-3)
                        version = buf[ip] >> 4 if et_at == -1 else 4 if et_at == -2 else 6
                    # One segment builder serves both IP versions: sharing it costs nothing
                    # measurable against a copy per version (reader alone, 500k frames: 0.99x
                    # for IPv4 and for IPv6; docs/performance.md), so there is one copy.
                    make: Callable[[Any, int], _Endpoints] | None = None  # set: inline decoder
                    if version == 4:
                        if end - ip >= 40:
                            (vihl, total, frag, proto, addrs, ports, seq, ack,
                             offfl) = hdr4(buf, ip)
                            # Only a 20-byte header is taken here; options go the long way.
                            if vihl == 0x45 and proto != IPPROTO_TCP:
                                stats.non_tcp += 1
                                continue
                            data = ip + 20 + (offfl >> 12) * 4
                            ip_end = ip + total
                            if (
                                vihl == 0x45
                                and not frag & 0x3FFF
                                and 40 <= total <= end - ip
                                and ip + 40 <= data <= ip_end
                            ):
                                make = endpoints4
                    elif version == 6 and buf[ip] >> 4 == 6 and end - ip >= 60:
                        plen, nxt, addrs, ports, seq, ack, offfl = hdr6(buf, ip + 4)
                        if nxt == IPPROTO_TCP and 20 <= plen <= end - ip - 40:
                            data = ip + 40 + (offfl >> 12) * 4
                            ip_end = ip + 40 + plen
                            if ip + 60 <= data <= ip_end:
                                make = endpoints6
                    if make is not None:
                        ep = cache.get((addrs, ports))
                        if ep is None:
                            ep = make(addrs, ports)
                        seg = new(twin)
                        seg.frame = frame
                        seg.ts_ns = ts
                        (seg.src, seg.dst, seg.src_ip, seg.src_port, seg.dst_ip,
                         seg.dst_port) = ep
                        seg.seq = seq
                        seg.ack = ack
                        seg.flags = offfl & 0x0FFF
                        seg.payload = buf[data:ip_end]
                        seg.__class__ = seg_cls
                        nseg += 1
                        yield seg
                        continue
                seg = slow(buf, start, end, linktype, frame, ts)
                if seg is not None:
                    nseg += 1
                    yield seg
            if pos < n or skip:
                left = n - pos
                what = ("pcapng block" if ng else
                        "record header" if left < rec_len else "record")
                self._note(
                    frame + 1,
                    f"file is truncated: the last {what} is incomplete ({left} bytes "
                    "ignored); everything before it was read",
                    "warn",
                )
        finally:
            stats.frames = frame
            stats.tcp_segments = nseg

    def _interface_block(
        self, buf: bytes, block: int, blen: int, order: str, ifaces: list[_Interface]
    ) -> None:
        number = len(ifaces)
        if blen < 20:
            self._note(None, f"interface {number}: description block too short", "error")
            ifaces.append(_Interface(-1, 0, 1000, 0, 1, 0))
            return
        linktype, snaplen, resol, offset_s = interface_fields(buf, block, blen, order)
        if resol & 0x80:
            mul, shift, div = 1_000_000_000, resol & 0x7F, 1
        elif resol <= 9:
            mul, shift, div = 10 ** (9 - resol), 0, 1
        else:
            mul, shift, div = 1, 0, 10 ** (resol - 9)
        iface = _Interface(linktype, snaplen, mul, shift, div, offset_s * 1_000_000_000)
        if not self._fast_path:
            iface.fast = _NO_FAST
        ifaces.append(iface)
        self._check_linktype(linktype, number)

    def _other_packet_block(
        self,
        buf: bytes,
        block: int,
        blen: int,
        btype: int,
        order: str,
        ifaces: list[_Interface],
        frame: int,
        last_ts: int,
    ) -> tuple[int, int, _Interface, int] | None:
        """Packet blocks the read loop did not take: SPB, obsolete PB, and odd EPBs.

        Returns ``None`` for an unusable block (already noted), else where the frame is:
        ``(start, caplen, interface, ts_ns)``.
        """
        if btype == _SPB:
            if blen < 16 or not ifaces:
                self._bad_block(frame, "simple packet block without interface")
                return None
            iface = ifaces[0]
            wire = struct.unpack_from(order + "I", buf, block + 8)[0]
            caplen = min(wire, blen - 16)
            if iface.snaplen:
                caplen = min(caplen, iface.snaplen)
            start = block + 12
            ts = last_ts  # SPBs carry no time; the previous frame's is the best guess
        else:
            if blen < 32:
                self._bad_block(frame, "packet block too short")
                return None
            if btype == _PB:
                ifid, _drops, tsh, tsl, caplen, _wire = struct.unpack_from(
                    order + "HHIIII", buf, block + 8
                )
            else:
                ifid, tsh, tsl, caplen, _wire = struct.unpack_from(order + "IIIII", buf, block + 8)
            if ifid >= len(ifaces):
                self._bad_block(frame, f"packet on undeclared interface {ifid}")
                return None
            if caplen > blen - 32:
                self._bad_block(frame, f"captured length {caplen} overruns its block")
                return None
            iface = ifaces[ifid]
            start = block + 28
            ts = _convert_ts((tsh << 32) | tsl, iface)
        return start, caplen, iface, ts

    def _bad_block(self, frame: int, why: str) -> None:
        self.stats.malformed += 1
        self._frame_note(frame, f"frame {frame}: {why}; skipped")

    # -- frame decoding (general path) -----------------------------------------------------

    def _fast_endpoints4(self, addrs: int, ports: int) -> _Endpoints:
        """Format and remember the address strings of an IPv4 4-tuple met on the inline path.

        The key is the two address words and the two port words as read by the inline
        decoder, so a cache hit costs one small-tuple hash and no formatting.
        """
        return self._remember((addrs, ports), _IP4_PACK(addrs >> 32),
                              _IP4_PACK(addrs & 0xFFFFFFFF), ports)

    def _fast_endpoints6(self, addrs: bytes, ports: int) -> _Endpoints:
        return self._remember((addrs, ports), addrs[:16], addrs[16:], ports)

    def _remember(self, key: Any, src: bytes, dst: bytes, ports: int) -> _Endpoints:
        cache = self._endpoints
        if len(cache) >= _ENDPOINT_CACHE_MAX:
            cache.clear()
        sport, dport = ports >> 16, ports & 0xFFFF
        ep = (format_endpoint(src, sport), format_endpoint(dst, dport), format_ip(src), sport,
              format_ip(dst), dport)
        cache[key] = ep
        return ep

    def _decode_frame(
        self, buf: bytes, start: int, end: int, linktype: int, frame: int, ts: int
    ) -> TcpSegment | None:
        """Any supported link type, IPv4 with options or fragments, IPv6 with extensions."""
        stats = self.stats
        version, at = locate_ip(linktype, buf, start, end)
        if version == NOT_IP:
            stats.non_tcp += 1
            return None
        if version == MALFORMED:
            stats.malformed += 1
            self._frame_note(frame, f"frame {frame}: link-layer header truncated")
            return None
        pkt = parse_ip(version, buf, at, end)
        if isinstance(pkt, str):
            stats.malformed += 1
            self._frame_note(frame, f"frame {frame}: {pkt}")
            return None
        if pkt.proto != IPPROTO_TCP:
            stats.non_tcp += 1
            return None
        if pkt.frag_id >= 0:
            return self._fragment(buf, pkt, frame, ts)
        return self._tcp(buf, pkt.start, pkt.end, pkt, frame, ts)

    def _fragment(self, buf: bytes, pkt: IpPacket, frame: int, ts: int) -> TcpSegment | None:
        self.stats.ip_fragments += 1
        if pkt.truncated:
            self.stats.truncated_frames += 1
            self._frame_note(frame, f"frame {frame}: IPv4 fragment cut by the snapshot length")
            return None
        whole = self._frag.add(
            (pkt.src, pkt.dst, pkt.proto, pkt.frag_id),
            pkt.frag_offset,
            pkt.more_fragments,
            buf[pkt.start : pkt.end],
            ts,
        )
        if whole is None:
            return None
        self.stats.reassembled += 1
        return self._tcp(whole, 0, len(whole), pkt, frame, ts)

    def _tcp(
        self, buf: bytes, start: int, end: int, pkt: IpPacket, frame: int, ts: int
    ) -> TcpSegment | None:
        stats = self.stats
        if end - start < 20:
            if pkt.truncated:
                stats.truncated_frames += 1
            stats.malformed += 1
            self._frame_note(frame, f"frame {frame}: TCP header truncated")
            return None
        sport, dport, seq, ack, offfl = _TCP_HDR(buf, start)
        data = start + (offfl >> 12) * 4
        if data < start + 20 or data > end:
            if pkt.truncated:
                stats.truncated_frames += 1
            stats.malformed += 1
            self._frame_note(frame, f"frame {frame}: bad TCP data offset {offfl >> 12}")
            return None
        if pkt.truncated:
            stats.truncated_frames += 1
        key = (pkt.src, pkt.dst, sport, dport)
        ep = self._endpoints.get(key)
        if ep is None:
            if len(self._endpoints) >= _ENDPOINT_CACHE_MAX:
                self._endpoints.clear()
            ep = (format_endpoint(pkt.src, sport), format_endpoint(pkt.dst, dport),
                  format_ip(pkt.src), sport, format_ip(pkt.dst), dport)
            self._endpoints[key] = ep
        return TcpSegment(frame, ts, *ep, seq, ack, offfl & 0x0FFF, buf[data:end])


_NO_FAST: Final = (1 << 62, 0, 0)
FAST_LINKS: Final[dict[int, tuple[int, int, int]]] = {
    LINKTYPE_ETHERNET: (14 + 40, 12, 14),
    LINKTYPE_LINUX_SLL: (16 + 40, 14, 16),
    LINKTYPE_LINUX_SLL2: (20 + 40, 0, 20),
    LINKTYPE_RAW: (40, -1, 0),
    LINKTYPE_RAW_BSD: (40, -1, 0),
    LINKTYPE_RAW_OPENBSD: (40, -1, 0),
    LINKTYPE_IPV4: (40, -2, 0),
    LINKTYPE_IPV6: (60, -3, 0),
}


def interface_fields(buf: bytes, block: int, blen: int, order: str) -> tuple[int, int, int, int]:
    """An Interface Description Block of at least 20 bytes: link type, snapshot length, the
    ``if_tsresol`` byte (6, microseconds, when absent) and ``if_tsoffset`` in seconds."""
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", buf, block + 8)
    resol = 6
    offset_s = 0
    at = block + 16
    stop = block + blen - 4
    while at + 4 <= stop:
        code, length = struct.unpack_from(order + "HH", buf, at)
        at += 4
        if code == 0 or at + length > stop:
            break
        if code == 9 and length >= 1:
            resol = buf[at]
        elif code == 14 and length >= 8:
            offset_s = struct.unpack_from(order + "q", buf, at)[0]
        at += (length + 3) & ~3
    return linktype, snaplen, resol, offset_s


def _fast_link(linktype: int) -> tuple[int, int, int]:
    """How the inline decoder finds an IPv4 header: ``(min caplen, EtherType at, IP at)``.

    "EtherType at" is where the frame must hold 0x0800 or 0x86DD (or 0x8100 with one of them
    four bytes on, for one VLAN tag); negative values mark raw-IP links: -1 any version (the
    version nibble decides), -2 IPv4 only, -3 IPv6 only.
    Link types without an entry (and any unusual frame) go through the general decoder.
    """
    return FAST_LINKS.get(linktype, _NO_FAST)


def _convert_ts(raw: int, iface: _Interface) -> int:
    return ((raw * iface.ts_mul) >> iface.ts_shift) // iface.ts_div + iface.ts_off_ns


def iter_segments(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    notes: list[CaptureNote] | None = None,
) -> Iterator[TcpSegment]:
    """Yield every TCP segment of a capture, in file order.

    The header is checked right away: a non-capture raises :class:`CaptureFormatError` from
    this call itself, not from the first ``next()``. Findings are appended to ``notes``.
    """
    src = PcapSource(source, notes=notes)
    return iter(src)
