"""Frames read again from a capture file, decoded for show, and written out (dpkt).

The compiled core never keeps a frame: it walks the capture once and remembers, per PDU, where
its frame's record starts in the file (``PduStore.offset``), plus what reading a record needs
(:class:`~cmppdissect.core.records.CaptureLayout`: byte order, link types and timestamp
resolutions per section and interface). That is enough to come back later:

* :class:`FrameFile` reads one record at an offset, with bounded reads, and says in one line
  what is wrong when the file was truncated or changed since it was analysed;
* :func:`frame_layers` decodes a frame with dpkt into Wireshark-like summary layers (Frame,
  the link layer, IPv4/IPv6, TCP) for the TUI's detail; a malformed frame gives a layer that
  says what is wrong, never an exception;
* :class:`FrameWriter` writes frames with dpkt's writers (pcapng, or classic pcap), keeping
  their timestamps as stored, their link types and their lengths on the wire (``-w``).

This module does file I/O on the capture file it is given; it knows nothing of CMPP.
"""

from __future__ import annotations

import io
import os
import re
import socket
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Final

import dpkt

from cmppdissect.core import LINKTYPE_NAMES, MAX_CAPLEN, FrameReader
from cmppdissect.core.records import CaptureLayout, CaptureNote, InterfaceLayout, SectionLayout
from cmppdissect.sources.file import FileIdentity
from cmppdissect.sources.wholefile import RecordsCutError, WholeRecords

__all__ = ["Frame", "FrameError", "FrameFile", "FrameWriter", "Layer", "frame_layers"]

_NS: Final = 1_000_000_000


class FrameError(Exception):
    """A frame cannot be read (again) or written; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame as its record holds it.

    ``ts`` is in ns since the epoch, ``if_tsoffset`` included (None for a pcapng Simple Packet
    Block, which has no time); ``raw_ts`` is the timestamp as stored, in units of the
    interface's ``tsresol`` and without its ``tsoffset``, so a writer can copy it unchanged.
    """

    linktype: int
    data: bytes
    wire_length: int
    ts: int | None
    offset: int = -1
    interface: InterfaceLayout | None = None
    raw_ts: int | None = None


def _pow10(n: int) -> int:
    return int(10 ** n)


def ns_to_raw(ns: int, tsresol: int, tsoffset: int = 0) -> int:
    """A time in ns since the epoch as an interface stores it: ``if_tsresol`` units, without
    its ``if_tsoffset`` (rounded down where the resolution is coarser), for the writer."""
    ns -= tsoffset * _NS
    if tsresol & 0x80:
        return (ns << (tsresol & 0x7F)) // _NS
    if tsresol <= 9:
        return ns // _pow10(9 - tsresol)
    return ns * _pow10(tsresol - 9)


def _u32(data: bytes, big: bool) -> int:
    value: int = struct.unpack(">I" if big else "<I", data[:4])[0]
    return value


def _reason(notes: list[CaptureNote]) -> str:
    """What the walk of one record found wrong, without its frame number (the record's own)."""
    return re.sub(r"^(frame|record) \d+: ", "", notes[0].message)


class FrameFile:
    """A capture file opened to read frames again at the offsets its analysis recorded.

    ``layout`` is what the analysis saw (:meth:`cmppdissect.engine.Engine.capture_layout`); it
    may be replaced by a newer one while the file is still being analysed. ``identity`` (from
    :attr:`cmppdissect.sources.file.FileSource.identity`) lets a read tell a file that was
    replaced, truncated or rewritten since; a file that only grew is still the same capture.
    """

    def __init__(self, path: str | os.PathLike[str], layout: CaptureLayout, *,
                 identity: FileIdentity | None = None) -> None:
        self.path = os.fspath(path)
        self.layout = layout
        self.identity = identity
        self._file: IO[bytes] | None = None

    def _open(self) -> IO[bytes]:
        f = self._file
        if f is None:
            try:
                f = self._file = open(self.path, "rb")  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise FrameError(f"{self.path}: {exc.strerror or exc}") from None
        if self.identity is not None:
            st = os.fstat(f.fileno())
            was = self.identity
            if (st.st_dev, st.st_ino) != (was.device, was.inode):
                raise FrameError(f"{self.path}: replaced since it was read")
            if st.st_size < was.size:
                raise FrameError(f"{self.path}: truncated since it was read "
                                 f"({st.st_size} bytes, was {was.size})")
            if st.st_size == was.size and st.st_mtime_ns != was.mtime_ns:
                raise FrameError(f"{self.path}: changed since it was read")
        return f

    def _read(self, f: IO[bytes], offset: int, size: int, what: str) -> bytes:
        try:
            f.seek(offset)
            data = f.read(size)
        except OSError as exc:
            raise FrameError(f"{self.path}: {exc.strerror or exc}") from None
        if len(data) < size:
            raise FrameError(f"{self.path}: {what} at offset {offset} is cut short "
                             f"({len(data)} of {size} bytes): the file is truncated")
        return data

    def _section(self, offset: int) -> SectionLayout:
        if offset < 0:
            raise FrameError("the frame's offset is unknown (not read from a regular file)")
        section = self.layout.section_at(offset)
        if section is None:
            raise FrameError(f"{self.path}: no known capture layout at offset {offset}")
        return section

    def _interface(self, section: SectionLayout, index: int, offset: int) -> InterfaceLayout:
        if index >= len(section.interfaces):
            raise FrameError(f"{self.path}: the packet block at offset {offset} names interface "
                             f"{index}, which its section does not declare (file changed?)")
        return section.interfaces[index]

    def interface_at(self, offset: int) -> InterfaceLayout:
        """The interface a frame's record was captured on (read only when its section has
        several)."""
        section = self._section(offset)
        if self.layout.format == "pcap" or len(section.interfaces) == 1:
            return self._interface(section, 0, offset)
        frame = self.read(offset)
        assert frame.interface is not None
        return frame.interface

    def read(self, offset: int) -> Frame:
        """The frame whose record starts at ``offset``; :class:`FrameError` if there is none.

        The record is read with bounded reads (its header, then as many bytes as the core
        says the record takes) and walked by the compiled core
        (:class:`~cmppdissect.core.FrameReader`, started at ``offset`` with the section's byte
        order and interfaces): the same checks and timestamps as the analysis had."""
        section = self._section(offset)
        f = self._open()
        pcap = self.layout.format == "pcap"
        notes: list[CaptureNote] = []
        reader = FrameReader(notes)
        reader.start_at(self.layout, section, offset)
        head = self._read(f, offset, self.layout.record_header if pcap else 12,
                          "record header" if pcap else "block header")
        size = reader.needed(head)
        data = head
        if size > len(head):
            data += self._read(f, offset + len(head), size - len(head),
                               "record" if pcap else "packet block")
        reader.feed(data)
        got = reader.frame()
        if got is None:
            reader.finish()
            what = "frame record" if pcap else "packet block"
            why = _reason(notes) if notes else (
                "" if pcap else f"block type 0x{_u32(head, section.big_endian):08X}")
            raise FrameError(f"{self.path}: no {what} at offset {offset}"
                             + (f" ({why})" if why else "")
                             + ": the file changed since it was read?")
        if not pcap and _u32(data[-4:], section.big_endian) != len(data):
            raise FrameError(f"{self.path}: damaged packet block at offset {offset} (its two "
                             "lengths differ)")
        _at, iface, ts, raw, wire, payload = got
        return Frame(iface.linktype, payload, wire, None if raw is None else ts, offset, iface,
                     raw)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> FrameFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- layers -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layer:
    """One protocol layer of a frame, as Wireshark's packet details show it: a title line
    (``name`` and ``summary``) over (name, value) rows. ``malformed``: decoding stopped here,
    and ``summary`` says why."""

    name: str
    summary: str = ""
    rows: tuple[tuple[str, str], ...] = ()
    malformed: bool = False

    @property
    def title(self) -> str:
        """``Frame 4: 93 bytes on wire...``, ``Internet Protocol Version 4, Src: ...``."""
        if not self.summary:
            return self.name
        sep = ": " if self.name.startswith("Frame") or self.malformed else ", "
        return f"{self.name}{sep}{self.summary}"


_ETHERTYPES: Final = {0x0800: "IPv4", 0x86DD: "IPv6", 0x0806: "ARP", 0x8100: "802.1Q VLAN",
                      0x88A8: "802.1ad VLAN", 0x9100: "802.1Q-in-Q VLAN", 0x8864: "PPPoE",
                      0x8847: "MPLS"}
_VLAN_TYPES: Final = frozenset((0x8100, 0x88A8, 0x9100))
_SLL_TYPES: Final = {0: "unicast to us", 1: "broadcast", 2: "multicast",
                     3: "unicast to another host", 4: "sent by us"}
_FAMILIES: Final = {2: "IPv4", 10: "IPv6 (Linux)", 24: "IPv6 (NetBSD, OpenBSD)",
                    28: "IPv6 (FreeBSD, DragonFly)", 30: "IPv6 (macOS)"}
_IP_PROTOCOLS: Final = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP"}
_TCP_FLAGS: Final = ((0x01, "FIN"), (0x02, "SYN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"),
                     (0x20, "URG"), (0x40, "ECE"), (0x80, "CWR"), (0x100, "AE"))
_IPV6_EXTENSIONS: Final = {0: "hop-by-hop options", 43: "routing", 60: "destination options",
                           51: "authentication"}


def _bits(n: int) -> str:
    return f"{n} bytes ({n * 8} bits)"


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def _ethertype(t: int) -> str:
    return f"0x{t:04x} ({_ETHERTYPES.get(t, 'unknown')})"


def _when(ts: int) -> str:
    sec, ns = divmod(ts, _NS)
    try:
        day = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return f"{sec}.{ns:09d} s since the epoch"
    return f"{day}.{ns:09d} UTC"


def _malformed(name: str, why: str) -> Layer:
    return Layer(name, f"malformed: {why}", malformed=True)


def frame_layers(frame: Frame, number: int | None = None) -> list[Layer]:
    """The frame's layers, outermost first: Frame, the link layer, IP, TCP.

    Decoding stops at the first layer that is malformed (its layer says what is wrong) or that
    is not IP/TCP; it never raises.
    """
    layers = [_frame_layer(frame, number)]
    try:
        _link(frame, layers)
    except Exception as exc:  # dpkt raises many kinds; a bad frame is shown, never raised
        layers.append(_malformed("Frame", f"cannot be decoded ({type(exc).__name__}: {exc})"))
    return layers


def _frame_layer(frame: Frame, number: int | None) -> Layer:
    captured = len(frame.data)
    name = f"Frame {number}" if number is not None else "Frame"
    rows: list[tuple[str, str]] = []
    if number is not None:
        rows.append(("Frame number", str(number)))
    if frame.ts is not None:
        rows.append(("Arrival time", _when(frame.ts)))
        sec, ns = divmod(frame.ts, _NS)
        rows.append(("Epoch time", f"{sec}.{ns:09d} s"))
    else:
        rows.append(("Arrival time", "not recorded (pcapng simple packet block)"))
    rows.append(("Frame length", _bits(frame.wire_length)))
    cut = " (cut short by the snapshot length)" if captured < frame.wire_length else ""
    rows.append(("Capture length", _bits(captured) + cut))
    rows.append(("Link type", f"{LINKTYPE_NAMES.get(frame.linktype, 'unknown')} "
                              f"({frame.linktype})"))
    if frame.offset >= 0:
        rows.append(("Record offset", f"{frame.offset} (0x{frame.offset:x})"))
    return Layer(name, f"{frame.wire_length} bytes on wire ({frame.wire_length * 8} bits), "
                       f"{captured} bytes captured ({captured * 8} bits)", tuple(rows))


def _link(frame: Frame, layers: list[Layer]) -> None:
    data, lt = frame.data, frame.linktype
    if lt == 1:
        _ethernet(data, layers)
    elif lt == 113:
        _sll(data, layers)
    elif lt == 276:
        _sll2(data, layers)
    elif lt in (0, 108):
        _loopback(data, lt, layers)
    elif lt in (12, 14, 101):
        if not data:
            layers.append(_malformed("Raw IP", "no bytes captured"))
            return
        layers.append(Layer("Raw packet data", "no link-layer header"))
        _ip(data, data[0] >> 4, layers)
    elif lt == 228:
        layers.append(Layer("Raw packet data", "IPv4"))
        _ip(data, 4, layers)
    elif lt == 229:
        layers.append(Layer("Raw packet data", "IPv6"))
        _ip(data, 6, layers)
    else:
        layers.append(Layer(f"Link type {lt}", "not decoded"))


def _ethernet(data: bytes, layers: list[Layer]) -> None:
    name = "Ethernet II"
    if len(data) < 14:
        layers.append(_malformed(name, f"header truncated ({len(data)} of 14 bytes)"))
        return
    dst, src = _mac(data[0:6]), _mac(data[6:12])
    rows = [("Destination", dst), ("Source", src)]
    etype = struct.unpack(">H", data[12:14])[0]
    at = 14
    vlans: list[str] = []
    summary = f"Src: {src}, Dst: {dst}"
    while etype in _VLAN_TYPES:  # 802.1Q / 802.1ad tags, a stack of any depth (QinQ and more)
        if len(data) - at < 4:
            layers.append(Layer(name, summary, tuple(rows)))
            layers.append(_malformed("802.1Q Virtual LAN", "tag truncated"))
            return
        tag = dpkt.ethernet.VLANtag8021Q(data[at:at + 4])
        vlans.append(str(tag.id))
        rows.append((f"VLAN tag {len(vlans)}", f"{_ethertype(etype)}: ID {tag.id}, priority "
                                               f"{tag.pri}, DEI {tag.cfi}"))
        etype, at = tag.type, at + 4
    if etype <= 1500:
        rows.append(("Length", str(etype)))
        layers.append(Layer("IEEE 802.3 Ethernet", summary, tuple(rows)))
        layers.append(Layer("Logical-Link Control", "not decoded"))
        return
    rows.append(("Type", _ethertype(etype)))
    if vlans:
        summary += f", VLAN {'/'.join(vlans)}"
    layers.append(Layer(name, summary, tuple(rows)))
    _ethertype_payload(data[at:], etype, layers)


def _ethertype_payload(data: bytes, etype: int, layers: list[Layer]) -> None:
    if etype == 0x0800:
        _ip(data, 4, layers)
    elif etype == 0x86DD:
        _ip(data, 6, layers)
    else:
        layers.append(Layer(_ETHERTYPES.get(etype, f"EtherType 0x{etype:04x}"), "not decoded"))


def _sll(data: bytes, layers: list[Layer]) -> None:
    name = "Linux cooked capture v1"
    if len(data) < 16:
        layers.append(_malformed(name, f"header truncated ({len(data)} of 16 bytes)"))
        return
    sll = dpkt.sll.SLL(data[:16])
    address = sll.hdr[:min(sll.hlen, 8)]
    rows = (("Packet type", f"{_SLL_TYPES.get(sll.type, 'unknown')} ({sll.type})"),
            ("Link-layer address type", str(sll.hrd)),
            ("Link-layer address length", str(sll.hlen)),
            ("Source", _mac(address) or "(none)"),
            ("Protocol", _ethertype(sll.ethtype)))
    layers.append(Layer(name, f"{_SLL_TYPES.get(sll.type, 'unknown')}, Src: "
                              f"{_mac(address) or '(none)'}", rows))
    _ethertype_payload(data[16:], sll.ethtype, layers)


def _sll2(data: bytes, layers: list[Layer]) -> None:
    name = "Linux cooked capture v2"
    if len(data) < 20:
        layers.append(_malformed(name, f"header truncated ({len(data)} of 20 bytes)"))
        return
    sll = dpkt.sll2.SLL2(data[:20])
    address = sll.hdr[:min(sll.hlen, 8)]
    rows = (("Protocol", _ethertype(sll.ethtype)), ("Interface index", str(sll.intindex)),
            ("Link-layer address type", str(sll.hrd)),
            ("Packet type", f"{_SLL_TYPES.get(sll.type, 'unknown')} ({sll.type})"),
            ("Link-layer address length", str(sll.hlen)),
            ("Source", _mac(address) or "(none)"))
    layers.append(Layer(name, f"{_SLL_TYPES.get(sll.type, 'unknown')}, interface "
                              f"{sll.intindex}", rows))
    _ethertype_payload(data[20:], sll.ethtype, layers)


def _loopback(data: bytes, linktype: int, layers: list[Layer]) -> None:
    name = "Null/Loopback" if linktype == 0 else "OpenBSD loopback"
    if len(data) < 4:
        layers.append(_malformed(name, f"header truncated ({len(data)} of 4 bytes)"))
        return
    # The family is in the writer's byte order (DLT_NULL) or big endian (DLT_LOOP): a value
    # past 16 bits was read the wrong way round (as the core reads it).
    family = struct.unpack("<I", data[:4])[0]
    if family > 0xFFFF:
        family = struct.unpack(">I", data[:4])[0]
    what = _FAMILIES.get(family, "unknown")
    layers.append(Layer(name, f"Family: {what}", (("Family", f"{family} ({what})"),)))
    if family == 2:
        _ip(data[4:], 4, layers)
    elif family in (10, 24, 28, 30):
        _ip(data[4:], 6, layers)
    else:
        layers.append(Layer(f"Address family {family}", "not decoded"))


def _ip(data: bytes, version: int, layers: list[Layer]) -> None:
    if version == 4:
        _ipv4(data, layers)
    elif version == 6:
        _ipv6(data, layers)
    else:
        layers.append(_malformed("Internet Protocol", f"version {version} is not IP"))


def _ipv4(data: bytes, layers: list[Layer]) -> None:
    name = "Internet Protocol Version 4"
    if len(data) < 20:
        layers.append(_malformed(name, f"header truncated ({len(data)} of 20 bytes)"))
        return
    if data[0] >> 4 != 4:
        layers.append(_malformed(name, f"version field is {data[0] >> 4}"))
        return
    ihl = (data[0] & 0x0F) * 4
    if ihl < 20:
        layers.append(_malformed(name, f"header length {ihl} < 20"))
        return
    if ihl > len(data):
        layers.append(_malformed(name, f"options truncated ({len(data)} of {ihl} bytes)"))
        return
    ip = dpkt.ip.IP(data[:ihl])
    src, dst = socket.inet_ntop(socket.AF_INET, ip.src), socket.inet_ntop(socket.AF_INET, ip.dst)
    flags = [f for f, on in (("reserved", ip.rf), ("don't fragment", ip.df),
                             ("more fragments", ip.mf)) if on]
    total = ip.len
    length = f"{total}"
    if total == 0:
        length = "0 (set by the NIC after capture: segmentation offload)"
        end = len(data)
    elif total < ihl:
        layers.append(_malformed(name, f"total length {total} < header length {ihl}"))
        return
    else:
        end = min(total, len(data))
        if total > len(data):
            length += f" ({len(data)} captured)"
    proto = ip.p
    rows = (("Version", "4"), ("Header length", f"{ihl} bytes"),
            ("Differentiated services", f"0x{ip.tos:02x}"), ("Total length", length),
            ("Identification", f"0x{ip.id:04x} ({ip.id})"),
            ("Flags", ", ".join(flags) or "none"),
            ("Fragment offset", f"{ip.offset * 8} bytes"), ("Time to live", str(ip.ttl)),
            ("Protocol", f"{_IP_PROTOCOLS.get(proto, 'unknown')} ({proto})"),
            ("Header checksum", f"0x{ip.sum:04x}"), ("Source address", src),
            ("Destination address", dst))
    layers.append(Layer(name, f"Src: {src}, Dst: {dst}", rows))
    if ip.offset:  # dpkt gives the field: 8-byte units
        layers.append(Layer("Fragment", f"offset {ip.offset * 8} of a fragmented datagram: "
                                        "its TCP header is in the first fragment"))
        return
    _transport(data[ihl:end], proto, bool(total) and total > len(data), layers)


def _ipv6(data: bytes, layers: list[Layer]) -> None:
    name = "Internet Protocol Version 6"
    if len(data) < 40:
        layers.append(_malformed(name, f"header truncated ({len(data)} of 40 bytes)"))
        return
    if data[0] >> 4 != 6:
        layers.append(_malformed(name, f"version field is {data[0] >> 4}"))
        return
    # The fixed header only ("no next header"): the extension headers are walked below, with
    # every length checked, and dpkt would stop at the first bad one.
    fixed = bytearray(data[:40])
    fixed[6] = 59
    ip6 = dpkt.ip6.IP6(bytes(fixed))
    src = socket.inet_ntop(socket.AF_INET6, ip6.src)
    dst = socket.inet_ntop(socket.AF_INET6, ip6.dst)
    plen, nxt = ip6.plen, data[6]
    end = len(data) if plen == 0 else min(40 + plen, len(data))
    length = str(plen) + (f" ({len(data) - 40} captured)" if 40 + plen > len(data) else "")
    rows = [("Version", "6"), ("Traffic class", f"0x{ip6.fc:02x}"),
            ("Flow label", f"0x{ip6.flow:05x}"), ("Payload length", length),
            ("Next header", f"{_IP_PROTOCOLS.get(nxt, _IPV6_EXTENSIONS.get(nxt, 'unknown'))} "
                            f"({nxt})"),
            ("Hop limit", str(ip6.hlim)), ("Source address", src),
            ("Destination address", dst)]
    at = 40
    while nxt in _IPV6_EXTENSIONS:
        if at + 2 > end:
            layers.append(Layer(name, f"Src: {src}, Dst: {dst}", tuple(rows)))
            layers.append(_malformed("IPv6 extension header", "truncated"))
            return
        size = (data[at + 1] + 2) * 4 if nxt == 51 else (data[at + 1] + 1) * 8
        rows.append(("Extension header", f"{_IPV6_EXTENSIONS[nxt]}, {size} bytes"))
        nxt = data[at]
        at += size
        if at > end:
            layers.append(Layer(name, f"Src: {src}, Dst: {dst}", tuple(rows)))
            layers.append(_malformed("IPv6 extension header", "runs past the packet"))
            return
    layers.append(Layer(name, f"Src: {src}, Dst: {dst}", tuple(rows)))
    if nxt == 44:
        layers.append(Layer("Fragment", "an IPv6 fragment (not reassembled here)"))
        return
    _transport(data[at:end], nxt, plen != 0 and 40 + plen > len(data), layers)


def _transport(data: bytes, proto: int, cut: bool, layers: list[Layer]) -> None:
    if proto != 6:
        layers.append(Layer(_IP_PROTOCOLS.get(proto, f"IP protocol {proto}"), "not decoded"))
        return
    name = "Transmission Control Protocol"
    if len(data) < 20:
        layers.append(_malformed(name, f"header truncated ({len(data)} of 20 bytes)"))
        return
    offset = (data[12] >> 4) * 4
    if offset < 20:
        layers.append(_malformed(name, f"header length {offset} < 20"))
        return
    if offset > len(data):
        layers.append(_malformed(name, f"header length {offset} exceeds the {len(data)} "
                                       "bytes there are"))
        return
    tcp = dpkt.tcp.TCP(data[:offset])
    flags_value = ((data[12] & 0x01) << 8) | data[13]
    names = [n for bit, n in _TCP_FLAGS if flags_value & bit]
    payload = len(data) - offset
    captured = " (cut short: the rest was not captured)" if cut else ""
    rows = (("Source port", str(tcp.sport)), ("Destination port", str(tcp.dport)),
            ("Sequence number", str(tcp.seq)), ("Acknowledgment number", str(tcp.ack)),
            ("Header length", f"{offset} bytes"),
            ("Flags", f"0x{flags_value:03x} ({', '.join(names) or 'none'})"),
            ("Window", str(tcp.win)), ("Checksum", f"0x{tcp.sum:04x}"),
            ("Urgent pointer", str(tcp.urp)), ("Payload", f"{payload} bytes{captured}"))
    layers.append(Layer(name, f"Src Port: {tcp.sport}, Dst Port: {tcp.dport}, Seq: {tcp.seq}, "
                              f"Ack: {tcp.ack}, Len: {payload}", rows))


# -- writing ------------------------------------------------------------------------------------

_LITTLE: Final = sys.byteorder == "little"


def _key(iface: InterfaceLayout) -> tuple[int, int, int, int]:
    return (iface.linktype, iface.snaplen, iface.tsresol, iface.tsoffset)


class FrameWriter:
    """Frames to a capture file with dpkt's writers, each as it was captured.

    ``fmt`` is ``"pcapng"`` or ``"pcap"``; ``interfaces`` the interfaces of every frame that
    will be written (:meth:`FrameFile.interface_at`). pcapng gets one interface description
    per distinct interface (link type, snapshot length, timestamp resolution and offset), so
    the stored timestamps are copied unchanged; classic pcap holds one link type, so frames of
    several raise :class:`FrameError` before anything is written, and its timestamps are in
    microseconds, or nanoseconds when any frame's resolution is finer.

    The file only ever ends on a whole record: records are gathered here and handed to ``out``
    (best unbuffered) in batches, and when a write fails (a full disk) a regular file is cut
    back to the last record that reached it whole, and :class:`FrameError` says how many
    frames it holds. :meth:`flush` writes what is gathered.
    """

    BATCH = 1 << 16  # bytes gathered before they are written

    def __init__(self, out: IO[bytes], fmt: str, interfaces: Sequence[InterfaceLayout]) -> None:
        if fmt not in ("pcap", "pcapng"):
            raise ValueError(f"unknown capture format {fmt!r}")
        self.out = out
        self.fmt = fmt
        self.frames = 0
        self._last_ns = 0
        self._buf = bytearray()
        self._ends: list[int] = []  # where each record gathered ends in _buf
        self._frames_at: list[int] = []  # frames written through each of them
        self._frames_written = 0
        self._file = WholeRecords(out)
        header = io.BytesIO()  # dpkt's writers put the file header here, then it is a record
        self.out = header
        self._ids: dict[tuple[int, int, int, int], int] = {}
        unique: list[InterfaceLayout] = []
        for iface in interfaces:
            if _key(iface) not in self._ids:
                self._ids[_key(iface)] = len(unique)
                unique.append(iface)
        if fmt == "pcap":
            self._start_pcap(unique)
        else:
            self._start_pcapng(unique)
        self.out = out
        self._record(header.getvalue())

    @property
    def size(self) -> int:
        """The file's size so far: the bytes written and those gathered to be."""
        return self._file.size + len(self._buf)

    def _record(self, data: bytes | bytearray) -> None:
        self._buf += data
        self._ends.append(len(self._buf))
        self._frames_at.append(self.frames)
        if len(self._buf) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        """Write every record gathered (and flush ``out``)."""
        try:
            self._file.write(bytes(self._buf), self._ends)
        except RecordsCutError as cut:
            frames = self._frames_at[cut.kept - 1] if cut.kept else self._frames_written
            raise FrameError(f"{cut}: the file ends with the last whole frame written "
                             f"({frames} frames)") from None
        finally:
            frames_at, self._frames_at = self._frames_at, []
            self._buf.clear()
            self._ends.clear()
        if frames_at:
            self._frames_written = frames_at[-1]

    def _start_pcap(self, interfaces: list[InterfaceLayout]) -> None:
        linktypes = sorted({i.linktype for i in interfaces})
        if len(linktypes) > 1:
            names = ", ".join(f"{LINKTYPE_NAMES.get(t, 'link type')} ({t})" for t in linktypes)
            raise FrameError(f"the frames have several link types ({names}) and classic pcap "
                             "holds one: write pcapng (-F pcapng)")
        snaplens = [i.snaplen for i in interfaces]
        snaplen = max(snaplens) if snaplens and all(snaplens) else MAX_CAPLEN
        self._nano = any(i.tsresol != 6 for i in interfaces)
        self._pkthdr: Any = dpkt.pcap.LEPktHdr if _LITTLE else dpkt.pcap.PktHdr
        dpkt.pcap.Writer(self.out, snaplen=snaplen, linktype=linktypes[0] if linktypes else 1,
                         nano=self._nano)

    def _start_pcapng(self, interfaces: list[InterfaceLayout]) -> None:
        png = dpkt.pcapng
        idb_class = png.InterfaceDescriptionBlockLE if _LITTLE else png.InterfaceDescriptionBlock
        option = png.PcapngOptionLE if _LITTLE else png.PcapngOption
        order = "<" if _LITTLE else ">"
        idbs = []
        for iface in interfaces or [InterfaceLayout(1, 0)]:
            opts = []
            if iface.tsresol != 6:
                opts.append(option(code=png.PCAPNG_OPT_IF_TSRESOL, data=bytes([iface.tsresol])))
            if iface.tsoffset:
                opts.append(option(code=png.PCAPNG_OPT_IF_TSOFFSET,
                                   data=struct.pack(order + "q", iface.tsoffset)))
            idb = idb_class(linktype=iface.linktype, snaplen=iface.snaplen)
            if opts:
                idb.opts = [*opts, option(code=png.PCAPNG_OPT_ENDOFOPT)]
            idbs.append(idb)
        self._epb: Any = png.EnhancedPacketBlockLE if _LITTLE else png.EnhancedPacketBlock
        self._order = order
        png.Writer(self.out, idb=idbs)

    def write(self, frame: Frame) -> None:
        """Append one frame (its interface must be among those given at creation)."""
        iface = frame.interface or InterfaceLayout(frame.linktype, 0)
        ns = frame.ts if frame.ts is not None else self._last_ns  # as the reader guesses
        self._last_ns = ns
        if self.fmt == "pcap":
            unit = _NS if self._nano else 1_000_000
            sec, frac = divmod(ns * unit // _NS, unit)
            sec = min(max(sec, 0), 0xFFFFFFFF)  # pcap's seconds are unsigned 32-bit
            head = self._pkthdr(tv_sec=sec, tv_usec=frac, caplen=len(frame.data),
                                len=max(frame.wire_length, len(frame.data)))
            self.frames += 1
            self._record(bytes(head) + frame.data)
        else:
            index = self._ids.get(_key(iface))
            if index is None:
                raise FrameError(f"frame at offset {frame.offset}: its interface was not "
                                 "declared to the writer")
            raw = frame.raw_ts if frame.raw_ts is not None else ns_to_raw(
                ns, iface.tsresol, iface.tsoffset)
            raw &= 0xFFFFFFFFFFFFFFFF
            epb = self._epb(iface_id=index, ts_high=raw >> 32, ts_low=raw & 0xFFFFFFFF,
                            pkt_data=frame.data)
            block = bytearray(bytes(epb))
            # dpkt sets the original length to the captured one: put the wire length back.
            struct.pack_into(self._order + "I", block, 24,
                             max(frame.wire_length, len(frame.data)))
            self.frames += 1
            self._record(block)
