"""Helpers that build real frames and capture files for the tests.

Frames are assembled with ``struct`` (with correct IPv4 header checksums) so that tests can
produce every odd shape — VLAN stacks, IPv6 extension headers, fragments, truncated records —
that library writers refuse to emit. Plain pcap files can also be written by dpkt, so the reader
is checked against an independent writer.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import dpkt

ETHERNET = 1

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

Frame = bytes | tuple[int, bytes]  # raw frame, or (timestamp in ns, raw frame)
BASE_TS_NS = 1_700_000_000_123_456_000


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_header(
    sport: int, dport: int, seq: int, ack: int, flags: int, *, options: bytes = b""
) -> bytes:
    assert len(options) % 4 == 0
    offset = (20 + len(options)) // 4
    return struct.pack(
        "!HHIIHHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
        (offset << 12) | flags, 65535, 0, 0
    ) + options


def ipv4_packet(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    *,
    ident: int = 1,
    frag_offset: int = 0,
    more_fragments: bool = False,
    options: bytes = b"",
    total_length: int | None = None,
) -> bytes:
    assert len(options) % 4 == 0
    ihl = 5 + len(options) // 4
    total = ihl * 4 + len(payload) if total_length is None else total_length
    frag = (frag_offset // 8) | (0x2000 if more_fragments else 0)
    head = struct.pack(
        "!BBHHHBBH4s4s", 0x40 | ihl, 0, total, ident, frag, 64, proto, 0,
        ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed
    ) + options
    head = head[:10] + struct.pack("!H", checksum(head)) + head[12:]
    return head + payload


def ipv6_packet(
    src: str, dst: str, proto: int, payload: bytes, *, ext_headers: Sequence[tuple[int, bytes]] = ()
) -> bytes:
    """``ext_headers`` are (type, body) pairs; each body is padded to a multiple of 8 bytes."""
    chain = b""
    types = [t for t, _ in ext_headers] + [proto]
    for i, (_t, body) in enumerate(ext_headers):
        raw = bytes([types[i + 1], 0]) + body
        raw += b"\x00" * (-len(raw) % 8)
        chain += bytes([raw[0], len(raw) // 8 - 1]) + raw[2:]
    inner = chain + payload
    head = struct.pack(
        "!IHBB16s16s", 0x60000000, len(inner), types[0], 64,
        ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed
    )
    return head + inner


def tcp_packet(
    src_ip: str, sport: int, dst_ip: str, dport: int, seq: int, ack: int, flags: int,
    payload: bytes = b"", *, tcp_options: bytes = b"", ident: int = 1
) -> bytes:
    """An IPv4 or IPv6 packet (chosen by the address form) carrying one TCP segment."""
    seg = tcp_header(sport, dport, seq, ack, flags, options=tcp_options) + payload
    if ":" in src_ip:
        return ipv6_packet(src_ip, dst_ip, 6, seg)
    return ipv4_packet(src_ip, dst_ip, 6, seg, ident=ident)


def ethernet(packet: bytes, *, ethertype: int | None = None, vlans: Sequence[int] = ()) -> bytes:
    """Wrap an IP packet in Ethernet; ``vlans`` are TPIDs, outermost first (VLAN id 100+i)."""
    if ethertype is None:
        ethertype = 0x86DD if packet[0] >> 4 == 6 else 0x0800
    tags = b"".join(struct.pack("!HH", tpid, 100 + i) for i, tpid in enumerate(vlans))
    frame = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + tags
    frame += struct.pack("!H", ethertype) + packet
    return frame + b"\x00" * max(0, 60 - len(frame))  # minimum Ethernet frame: padding


def sll(packet: bytes, *, protocol: int | None = None) -> bytes:
    """Linux cooked capture v1 (LINKTYPE_LINUX_SLL): 16-byte pseudo header."""
    if protocol is None:
        protocol = 0x86DD if packet[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 6 + b"\0\0", protocol) + packet


def sll2(packet: bytes, *, protocol: int | None = None) -> bytes:
    """Linux cooked capture v2 (LINKTYPE_LINUX_SLL2): 20-byte pseudo header."""
    if protocol is None:
        protocol = 0x86DD if packet[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHIHBB8s", protocol, 0, 3, 1, 0, 6, b"\x02" * 6 + b"\0\0") + packet


def null_loopback(packet: bytes, family: int, *, big_endian: bool = False) -> bytes:
    """BSD loopback (LINKTYPE_NULL / LINKTYPE_LOOP): a 4-byte address family."""
    return struct.pack(">I" if big_endian else "<I", family) + packet


def tcp_frame(
    src_ip: str, sport: int, dst_ip: str, dport: int, seq: int, ack: int, flags: int,
    payload: bytes = b"", *, vlans: Sequence[int] = (), tcp_options: bytes = b"",
) -> bytes:
    """An Ethernet frame with IPv4/IPv6 and TCP: the everyday case."""
    pkt = tcp_packet(src_ip, sport, dst_ip, dport, seq, ack, flags, payload,
                     tcp_options=tcp_options)
    return ethernet(pkt, vlans=vlans)


def udp_frame(src_ip: str, sport: int, dst_ip: str, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return ethernet(ipv4_packet(src_ip, dst_ip, 17, udp))


def arp_frame() -> bytes:
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, b"\x02" * 6, b"\x0a\0\0\1",
                       b"\0" * 6, b"\x0a\0\0\2")
    return ethernet(body, ethertype=0x0806)


def _stamped(frames: Iterable[Frame]) -> list[tuple[int, bytes]]:
    out = []
    for i, item in enumerate(frames):
        if isinstance(item, tuple):
            out.append(item)
        else:
            out.append((BASE_TS_NS + i * 1_000_000, item))
    return out


def pcap_bytes(
    frames: Iterable[Frame],
    *,
    linktype: int = ETHERNET,
    nano: bool = False,
    big_endian: bool = False,
    snaplen: int = 65535,
    caplen_override: dict[int, int] | None = None,
) -> bytes:
    """A pcap file image; timestamps are truncated to microseconds unless ``nano``."""
    order = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for i, (ts, data) in enumerate(_stamped(frames)):
        sec, rest = divmod(ts, 1_000_000_000)
        frac = rest if nano else rest // 1000
        caplen = (caplen_override or {}).get(i, len(data))
        out.append(struct.pack(order + "IIII", sec, frac, caplen, len(data)) + data)
    return b"".join(out)


def write_pcap(
    path: Path,
    frames: Iterable[Frame],
    *,
    linktype: int = ETHERNET,
    nano: bool = False,
    big_endian: bool = False,
    snaplen: int = 65535,
) -> Path:
    path.write_bytes(
        pcap_bytes(frames, linktype=linktype, nano=nano, big_endian=big_endian, snaplen=snaplen)
    )
    return path


def write_pcap_dpkt(path: Path, frames: Iterable[Frame], *, linktype: int = ETHERNET,
                    nano: bool = False) -> Path:
    """The same as :func:`write_pcap`, but through dpkt's writer (an independent encoder)."""
    with path.open("wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=linktype, nano=nano)
        for ts, data in _stamped(frames):
            sec, rest = divmod(ts, 1_000_000_000)
            # dpkt takes float seconds; pass the fraction exactly representable at its precision
            writer.writepkt(data, ts=sec + (rest if nano else rest // 1000 * 1000) / 1e9)
    return path


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _block(order: str, btype: int, body: bytes) -> bytes:
    body = _pad4(body)
    length = 12 + len(body)
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def pcapng_bytes(
    interfaces: Sequence[tuple[int, int]],
    packets: Iterable[tuple[int, int, bytes]],
    *,
    big_endian: bool = False,
    tsoffset_s: int = 0,
    extra_blocks: Sequence[tuple[int, bytes]] = (),
) -> bytes:
    """A one-section pcapng image.

    ``interfaces`` are (linktype, if_tsresol byte) pairs; ``packets`` are (interface index,
    ts_ns, frame) and become Enhanced Packet Blocks with the timestamp in that interface's
    resolution. ``extra_blocks`` (type, body) are placed after the interface blocks.
    """
    order = ">" if big_endian else "<"
    out = [_block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))]
    units: list[tuple[int, int]] = []
    for linktype, resol in interfaces:
        opts = struct.pack(order + "HH", 9, 1) + _pad4(bytes([resol]))
        if tsoffset_s:
            opts += struct.pack(order + "HHq", 14, 8, tsoffset_s)
        opts += struct.pack(order + "HH", 0, 0)
        out.append(_block(order, 1, struct.pack(order + "HHI", linktype, 0, 0) + opts))
        units.append((resol & 0x7F, resol & 0x80))
    for btype, body in extra_blocks:
        out.append(_block(order, btype, body))
    for ifid, ts_ns, data in packets:
        power, binary = units[ifid]
        rel = ts_ns - tsoffset_s * 1_000_000_000
        raw = (rel << power) // 1_000_000_000 if binary else rel * 10**power // 1_000_000_000
        body = struct.pack(order + "IIIII", ifid, raw >> 32, raw & 0xFFFFFFFF, len(data),
                           len(data)) + data
        out.append(_block(order, 6, body))
    return b"".join(out)


def tcp_stream_frames(
    client: tuple[str, int],
    server: tuple[str, int],
    payloads: Sequence[bytes],
    *,
    isn: int = 1000,
    link=tcp_frame,
) -> list[bytes]:
    """Client -> server data segments after a handshake, each followed by the server's ACK."""
    (cip, cport), (sip, sport) = client, server
    frames = [
        link(cip, cport, sip, sport, isn, 0, SYN),
        link(sip, sport, cip, cport, 5000, isn + 1, SYN | ACK),
        link(cip, cport, sip, sport, isn + 1, 5001, ACK),
    ]
    seq = isn + 1
    for p in payloads:
        frames.append(link(cip, cport, sip, sport, seq, 5001, PSH | ACK, p))
        seq += len(p)
        frames.append(link(sip, sport, cip, cport, 5001, seq, ACK))
    return frames
