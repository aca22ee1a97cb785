"""Helpers that build real frames and capture files for the tests.

Frames are assembled with ``struct`` (with correct IPv4 header checksums) so that tests can
produce every odd shape — VLAN stacks, IPv6 extension headers, fragments, truncated records —
that library writers refuse to emit. Plain pcap files can also be written by dpkt, so the reader
is checked against an independent writer.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import os
import struct
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import dpkt
import pytest

from cmppdissect.api import Analysis
from cmppdissect.engine import Engine
from cmppdissect.protocol.auth import authenticator_ismg, authenticator_source
from cmppdissect.protocol.commands import DEFAULT_PORTS, CommandId
from cmppdissect.protocol.encode import encode_fields, encode_pdu
from cmppdissect.protocol.layouts import REPORT_60, REPORT_71
from cmppdissect.protocol.msgid import make_msg_id
from cmppdissect.protocol.version import Version
from cmppdissect.sources.file import FileSource

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


def tpacket3_block(frames: Iterable[Frame], *, size: int = 1 << 16, status: int = 1,
                   mac: int = 82, wire_extra: Sequence[int] = ()) -> bytes:
    """A TPACKET_V3 ring block (linux/if_packet.h) holding ``frames``, as a kernel fills one.

    A 48-byte ``tpacket_block_desc``, then each packet behind a 48-byte ``tpacket3_hdr``
    whose frame starts ``mac`` bytes after it (the kernel leaves room for a
    ``sockaddr_ll``), each packet's slot rounded up to 16 bytes and linked by
    ``tp_next_offset`` (0 on the last). ``wire_extra[i]``: frame ``i`` was that much longer
    on the wire (its ``tp_len``). Raises if the frames do not fit in ``size`` bytes.
    """
    block = bytearray(size)
    stamped = _stamped(frames)
    pos = 48
    for i, (ts, data) in enumerate(stamped):
        slot = (mac + len(data) + 15) // 16 * 16
        if pos + slot > size:
            raise ValueError(f"{len(stamped)} frames do not fit in a block of {size} bytes")
        sec, nsec = divmod(ts, 1_000_000_000)
        wire = len(data) + (wire_extra[i] if i < len(wire_extra) else 0)
        nxt = slot if i + 1 < len(stamped) else 0
        struct.pack_into("=IIIIIIHH", block, pos, nxt, sec, nsec, len(data), wire, 1, mac, mac)
        block[pos + mac:pos + mac + len(data)] = data
        pos += slot
    struct.pack_into("=IIIII", block, 4, 0, status, len(stamped), 48, pos)
    struct.pack_into("=I", block, 0, 1)  # tpacket_block_desc.version
    return bytes(block)


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


# -- whole TCP conversations and engine runs (for the engine, pairing and output tests) ---------


def split_sizes(data: bytes, sizes: Sequence[int]) -> list[bytes]:
    """``data`` cut into pieces of ``sizes`` bytes, the rest (if any) in one last piece."""
    out, off = [], 0
    for size in sizes:
        out.append(data[off:off + size])
        off += size
    if off < len(data):
        out.append(data[off:])
    return [p for p in out if p]


class Conversation:
    """The frames of one TCP connection, with sequence and acknowledgement numbers kept right.

    Methods return raw frames and do not stamp them: a test may drop, repeat or reorder them,
    and :func:`write_pcap` then stamps the i-th frame of the file at ``BASE_TS_NS + i`` ms, so
    frame N (1-based, as the reader counts) has the time :func:`frame_ts` gives.
    """

    def __init__(self, client: tuple[str, int] = ("192.0.2.10", 40001),
                 server: tuple[str, int] = ("198.51.100.7", 7890), *,
                 isn_client: int = 1000, isn_server: int = 5000, link=tcp_frame) -> None:
        self.client, self.server = client, server
        self.nxt = {True: isn_client & 0xFFFFFFFF, False: isn_server & 0xFFFFFFFF}
        self.link = link

    def frame(self, from_client: bool, flags: int, payload: bytes = b"", *,
              seq: int | None = None, ack: int | None = None) -> bytes:
        """One segment at ``seq`` (default: the next byte of that side); does not advance.

        ``ack`` defaults to everything the other side has sent so far.
        """
        (sip, sport), (dip, dport) = ((self.client, self.server) if from_client
                                      else (self.server, self.client))
        seq = self.nxt[from_client] if seq is None else seq
        ack = self.nxt[not from_client] if ack is None else ack
        return self.link(sip, sport, dip, dport, seq, ack, flags, payload)

    def _advance(self, from_client: bool, n: int) -> None:
        self.nxt[from_client] = (self.nxt[from_client] + n) & 0xFFFFFFFF

    def handshake(self) -> list[bytes]:
        syn = self.frame(True, SYN)
        self._advance(True, 1)
        synack = self.frame(False, SYN | ACK)
        self._advance(False, 1)
        return [syn, synack, self.frame(True, ACK)]

    def send(self, from_client: bool, data: bytes, sizes: Sequence[int] = (),
             flags: int = PSH | ACK) -> list[bytes]:
        """``data`` as consecutive segments of ``sizes`` bytes (the rest in a last one)."""
        out = []
        for piece in split_sizes(data, sizes):
            out.append(self.frame(from_client, flags, piece))
            self._advance(from_client, len(piece))
        return out

    def ack(self, from_client: bool, upto: int | None = None) -> bytes:
        """A pure ACK, of everything the other side sent or up to sequence number ``upto``."""
        return self.frame(from_client, ACK, ack=upto)

    def fin(self, from_client: bool) -> bytes:
        out = self.frame(from_client, FIN | ACK)
        self._advance(from_client, 1)
        return out

    def rst(self, from_client: bool) -> bytes:
        return self.frame(from_client, RST | ACK)

    def close(self) -> list[bytes]:
        """The usual FIN, FIN, ACK teardown started by the client."""
        first = self.fin(True)
        second = self.fin(False)
        return [first, second, self.ack(True)]


def frame_ts(frame: int) -> int:
    """The time :func:`pcap_bytes` gives the 1-based ``frame`` of an unstamped frame list."""
    return BASE_TS_NS + (frame - 1) * 1_000_000


def stamped(frames: Sequence[bytes], times_ns: Sequence[int]) -> list[tuple[int, bytes]]:
    """Frames with explicit capture times (for timeouts and latencies that must be exact)."""
    assert len(frames) == len(times_ns)
    return list(zip(times_ns, frames, strict=True))


def run_engine(source: Path | bytes, **settings: Any) -> tuple[list[Any], Engine]:
    """Read a capture (a path, or pcap bytes) through the one driver, rows kept.

    Returns the PDU records in output order and the engine (its ``expert`` list, the core's
    counters; ``build_report(engine)`` gives the report). ``settings`` are the engine's.
    """
    src = io.BytesIO(source) if isinstance(source, bytes) else source
    analysis = Analysis(FileSource(src), {"ports": DEFAULT_PORTS, **settings})
    records = list(analysis.pdus())
    assert analysis.engine is not None
    return records, analysis.engine


def run_cli(*args: str, timeout: float = 120) -> Any:
    """``python -m cmppdissect ARGS`` as a user runs it (a CompletedProcess with text output)."""
    return subprocess.run([sys.executable, "-m", "cmppdissect", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


# -- CMPP PDUs of an ordinary SP session (the project's own encoder) -----------------------------

SP_ID = "901234"
SECRET = "s3cret"
CONNECT_TIMESTAMP = 1124101500


def connect_pdu(v: Any, seq: int = 1, *, sp: str = SP_ID, secret: str = SECRET,
                version_byte: int | None = None) -> bytes:
    """A CONNECT with a correct AuthenticatorSource for ``secret``."""
    if version_byte is None:
        version_byte = 0x20 if v is Version.V2_0 else 0x30
    return encode_pdu(CommandId.CMPP_CONNECT, seq, {
        "Source_Addr": sp, "Version": version_byte, "Timestamp": CONNECT_TIMESTAMP,
        "AuthenticatorSource": authenticator_source(sp, secret, CONNECT_TIMESTAMP)}, v)


def connect_resp_pdu(v: Any, seq: int = 1, *, status: int = 0, sp: str = SP_ID,
                     secret: str | None = SECRET) -> bytes:
    """A CONNECT_RESP; AuthenticatorISMG is right for ``secret``, empty on failure or None."""
    auth = bytes(16)
    if status == 0 and secret is not None:
        source = authenticator_source(sp, secret, CONNECT_TIMESTAMP)
        auth = authenticator_ismg(0, source, secret,
                                  status_width=1 if v is Version.V2_0 else 4)
    return encode_pdu(CommandId.CMPP_CONNECT_RESP, seq, {
        "Status": status, "AuthenticatorISMG": auth,
        "Version": 0x20 if v is Version.V2_0 else 0x30}, v)


def dest_number(i: int) -> bytes:
    return f"8613800{i:06d}".encode()


def sample_msg_id(i: int) -> int:
    """A Msg_Id laid out as §7.1 says, with ``i`` as its sequence part."""
    return make_msg_id(11, 24, 10, 15, i % 60, 79101, i & 0xFFFF)


def submit_pdu(v: Any, seq: int, i: int | None = None, *, dests: int = 1,
               registered: int = 1) -> bytes:
    """A SUBMIT whose text and recipients say which one it is (``i`` defaults to ``seq``)."""
    i = seq if i is None else i
    return encode_pdu(CommandId.CMPP_SUBMIT, seq, {
        "Pk_total": 1, "Pk_number": 1, "Registered_Delivery": registered,
        "Service_Id": "MVERIFY", "Msg_Fmt": 0, "Msg_src": SP_ID, "FeeType": "01",
        "FeeCode": "000000", "Src_Id": "1065712345",
        "Dest_terminal_Id": [dest_number(i + k) for k in range(dests)],
        "Msg_Content": f"message number {i} for you".encode()}, v)


def submit_resp_pdu(v: Any, seq: int, msg_id: int, result: int = 0) -> bytes:
    return encode_pdu(CommandId.CMPP_SUBMIT_RESP, seq, {"Msg_Id": msg_id, "Result": result}, v)


def report_pdu(v: Any, seq: int, msg_id: int, stat: str | bytes = "DELIVRD", *,
               dest: bytes = b"8613800138000", size: int | None = None,
               done_time: str = "2611241016") -> bytes:
    """A DELIVER carrying a status report for ``msg_id``, of ``size`` 60 or 71 bytes."""
    if size is None:
        size = 60 if v is Version.V2_0 else 71
    content = encode_fields(REPORT_60 if size == 60 else REPORT_71, {
        "Msg_Id": msg_id, "Stat": stat, "Submit_time": "2611241015",
        "Done_time": done_time, "Dest_terminal_Id": dest, "SMSC_sequence": seq})
    return encode_pdu(CommandId.CMPP_DELIVER, seq, {
        "Msg_Id": sample_msg_id(50_000 + seq), "Dest_Id": "1065712345",
        "Service_Id": "MVERIFY", "Registered_Delivery": 1, "Src_terminal_Id": dest,
        "Msg_Content": content}, v)


def mo_pdu(v: Any, seq: int, text: str = "TD") -> bytes:
    """A mobile-originated DELIVER (an SMS from a handset to the SP): ASCII, else UCS2."""
    fmt, content = (0, text.encode()) if text.isascii() else (8, text.encode("utf-16-be"))
    return encode_pdu(CommandId.CMPP_DELIVER, seq, {
        "Msg_Id": sample_msg_id(60_000 + seq), "Dest_Id": "1065712345", "Msg_Fmt": fmt,
        "Src_terminal_Id": "8613900000001", "Msg_Content": content}, v)


def deliver_resp_pdu(v: Any, seq: int, result: int = 0) -> bytes:
    return encode_pdu(CommandId.CMPP_DELIVER_RESP, seq, {
        "Msg_Id": sample_msg_id(50_000 + seq), "Result": result}, v)


def bare_pdu(command_id: int, seq: int, v: Any = None, **fields: Any) -> bytes:
    """Any PDU from spec-named fields (ACTIVE_TEST, TERMINATE, ...); 2.0 unless ``v``."""
    return encode_pdu(command_id, seq, fields, v or Version.V2_0)


@contextlib.contextmanager
def small_disk(tmp_path: Path, free: int, size: int = 64 * 1024) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes (64 KiB) mounted under ``tmp_path`` with ``free`` bytes left
    (a file fills the rest): a real full disk for the writers. Skips the test where mounting
    is not allowed."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (mount / "fill").write_bytes(bytes(size - free))
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True,
                          check=False).returncode != 0:  # busy (a file still open): detach it
            subprocess.run(["umount", "-l", str(mount)], check=False)


def live_capture_unavailable() -> str | None:
    """Why live capture cannot be tested here (None: it can): it needs root and AF_PACKET."""
    import os
    import socket

    if os.geteuid() != 0:
        return "live capture needs root (CI runs these tests as root)"
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except (OSError, AttributeError) as exc:
        return f"AF_PACKET sockets are not available here: {exc}"
    return None


def on_a_terminal(*args: str, timeout: float = 30) -> tuple[int | None, str]:
    """Run the command with a terminal (a pty) for stdin, stdout and stderr; what it wrote
    there until it exited, and its exit status (None if it was still running at
    ``timeout``: killed then)."""
    import pty
    import select
    import time

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cmppdissect", *args], stdin=slave,
                            stdout=slave, stderr=slave, close_fds=True,
                            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120",
                                 "LINES": "30"})
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    more = os.read(master, 65536)
                except OSError:  # the terminal's other end closed: it exited
                    break
                if not more:
                    break
                seen += more
            elif proc.poll() is not None:
                break
        try:
            status: int | None = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            status = None
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)
    return status, seen.decode("utf-8", "replace")

