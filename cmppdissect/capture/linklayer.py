"""Link-layer and IP header walking on raw frame buffers (the general, slower path).

The reader inlines the overwhelmingly common Ethernet/IPv4/TCP case; every other frame comes
here. Functions work on ``(buf, off, end)`` views of a larger buffer so that no frame is copied
before we know it carries TCP, and they return plain values instead of raising, because a
malformed frame must only ever be skipped and counted.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Final

LINKTYPE_NULL: Final = 0
LINKTYPE_ETHERNET: Final = 1
LINKTYPE_RAW_BSD: Final = 12  # DLT_RAW as some BSDs numbered it in files
LINKTYPE_RAW_OPENBSD: Final = 14
LINKTYPE_RAW: Final = 101
LINKTYPE_LOOP: Final = 108
LINKTYPE_LINUX_SLL: Final = 113
LINKTYPE_IPV4: Final = 228
LINKTYPE_IPV6: Final = 229
LINKTYPE_LINUX_SLL2: Final = 276

LINKTYPE_NAMES: Final[dict[int, str]] = {
    LINKTYPE_NULL: "BSD loopback",
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_RAW_BSD: "raw IP",
    LINKTYPE_RAW_OPENBSD: "raw IP",
    LINKTYPE_RAW: "raw IP",
    LINKTYPE_LOOP: "OpenBSD loopback",
    LINKTYPE_LINUX_SLL: "Linux cooked (SLL)",
    LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2 (SLL2)",
}
SUPPORTED_LINKTYPES: Final = frozenset(LINKTYPE_NAMES)

ETH_IPV4: Final = 0x0800
ETH_IPV6: Final = 0x86DD
VLAN_TPIDS: Final = frozenset((0x8100, 0x88A8, 0x9100))
# BSD AF_INET6 differs per system (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS, 10 Linux).
AF_INET: Final = 2
AF_INET6_VALUES: Final = frozenset((10, 24, 28, 30))

IPPROTO_TCP: Final = 6
_IPV6_SKIPPABLE: Final = frozenset((0, 43, 60))  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT: Final = 44
_IPV6_AH: Final = 51

NOT_IP: Final = 0
MALFORMED: Final = -1

_u16 = struct.Struct(">H").unpack_from
_u32le = struct.Struct("<I").unpack_from
_ipv4 = struct.Struct(">BxHHHxB").unpack_from
_ipv6 = struct.Struct(">HBB").unpack_from  # payload length, next header, hop limit at +4


def locate_ip(linktype: int, buf: bytes, off: int, end: int) -> tuple[int, int]:
    """Find the IP header of a frame: ``(version, offset)``.

    ``version`` is 4 or 6, :data:`NOT_IP` for frames that carry something else (ARP, LLDP…),
    or :data:`MALFORMED` when the link header itself is cut short.
    """
    if linktype == LINKTYPE_ETHERNET:
        if end - off < 14:
            return MALFORMED, off
        return _after_ethertype(buf, off + 12, end)
    if linktype == LINKTYPE_LINUX_SLL:
        if end - off < 16:
            return MALFORMED, off
        return _after_ethertype(buf, off + 14, end)
    if linktype == LINKTYPE_LINUX_SLL2:
        if end - off < 20:
            return MALFORMED, off
        # SLL2 puts the protocol first; the address fields follow, 20 bytes in all.
        etype = _u16(buf, off)[0]
        return _ethertype_version(buf, etype, off + 20, end)
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if end - off < 4:
            return MALFORMED, off
        family = _u32le(buf, off)[0]
        if family > 0xFFFF:  # written in the other byte order than we guessed
            family = int.from_bytes(buf[off : off + 4], "big")
        if family == AF_INET:
            return 4, off + 4
        if family in AF_INET6_VALUES:
            return 6, off + 4
        return NOT_IP, off
    if linktype in (LINKTYPE_RAW, LINKTYPE_RAW_BSD, LINKTYPE_RAW_OPENBSD):
        if end <= off:
            return MALFORMED, off
        version = buf[off] >> 4
        return (version, off) if version in (4, 6) else (NOT_IP, off)
    if linktype == LINKTYPE_IPV4:
        return 4, off
    if linktype == LINKTYPE_IPV6:
        return 6, off
    return NOT_IP, off


def _after_ethertype(buf: bytes, at: int, end: int) -> tuple[int, int]:
    """Read the EtherType at ``at`` and the IP header offset after it."""
    return _ethertype_version(buf, _u16(buf, at)[0], at + 2, end)


def _ethertype_version(buf: bytes, etype: int, at: int, end: int) -> tuple[int, int]:
    """Step over any stack of 802.1Q / 802.1ad tags (a loop: hostile stacks can be long)."""
    while etype in VLAN_TPIDS:
        if end - at < 4:
            return MALFORMED, at
        etype = _u16(buf, at + 2)[0]
        at += 4
    if etype == ETH_IPV4:
        return 4, at
    if etype == ETH_IPV6:
        return 6, at
    return NOT_IP, at


@dataclass(slots=True)
class IpPacket:
    """The parts of an IPv4/IPv6 header that the TCP layer needs.

    ``start``/``end`` delimit the upper-layer bytes inside the frame buffer; ``end`` is cut to
    what was captured, and ``truncated`` says so when the snapshot length cut the packet.
    ``frag_id`` is -1 unless this is an IPv4 fragment.
    """

    version: int
    src: bytes
    dst: bytes
    proto: int
    start: int
    end: int
    truncated: bool
    frag_id: int = -1
    frag_offset: int = 0
    more_fragments: bool = False


def parse_ip(version: int, buf: bytes, off: int, end: int) -> IpPacket | str:
    """Parse the IP header at ``off``; a ``str`` result is the reason the packet is malformed."""
    if end - off < 1 or buf[off] >> 4 != version:
        return f"IPv{version} header expected, found version {buf[off] >> 4 if end > off else '?'}"
    return _parse_ipv4(buf, off, end) if version == 4 else _parse_ipv6(buf, off, end)


def _parse_ipv4(buf: bytes, off: int, end: int) -> IpPacket | str:
    if end - off < 20:
        return "IPv4 header truncated"
    vihl, total, ident, frag, proto = _ipv4(buf, off)
    ihl = (vihl & 0x0F) * 4
    if ihl < 20:
        return f"IPv4 header length {ihl} < 20"
    if off + ihl > end:
        return "IPv4 options truncated"
    if total == 0:
        # TCP segmentation offload: the NIC fills the length in after the capture point.
        ip_end, truncated = end, False
    elif total < ihl:
        return f"IPv4 total length {total} < header length {ihl}"
    else:
        ip_end = off + total
        truncated = ip_end > end
        if truncated:
            ip_end = end
    pkt = IpPacket(4, buf[off + 12 : off + 16], buf[off + 16 : off + 20], proto, off + ihl,
                   ip_end, truncated)
    if frag & 0x3FFF:
        pkt.frag_id = ident
        pkt.frag_offset = (frag & 0x1FFF) * 8
        pkt.more_fragments = bool(frag & 0x2000)
    return pkt


def _parse_ipv6(buf: bytes, off: int, end: int) -> IpPacket | str:
    if end - off < 40:
        return "IPv6 header truncated"
    plen, nxt, _hops = _ipv6(buf, off + 4)
    if plen == 0:  # jumbogram or offloaded length: trust the captured bytes
        ip_end, truncated = end, False
    else:
        ip_end = off + 40 + plen
        truncated = ip_end > end
        if truncated:
            ip_end = end
    at = off + 40
    while nxt in _IPV6_SKIPPABLE or nxt == _IPV6_AH:
        if at + 2 > ip_end:
            return "IPv6 extension header truncated"
        hlen = (buf[at + 1] + 2) * 4 if nxt == _IPV6_AH else (buf[at + 1] + 1) * 8
        nxt = buf[at]
        at += hlen
        if at > ip_end:
            return "IPv6 extension header truncated"
    if nxt == _IPV6_FRAGMENT:
        return "IPv6 fragment (IPv6 reassembly is not supported)"
    return IpPacket(6, buf[off + 8 : off + 24], buf[off + 24 : off + 40], nxt, at, ip_end,
                    truncated)


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
