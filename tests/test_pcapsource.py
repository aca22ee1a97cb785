"""The capture reader, on real pcap / pcapng bytes written to tmp_path."""

from __future__ import annotations

import dataclasses
import gzip
import io
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pcaputil import (
    ACK,
    BASE_TS_NS,
    FIN,
    PSH,
    SYN,
    arp_frame,
    ethernet,
    ipv4_packet,
    ipv6_packet,
    null_loopback,
    pcap_bytes,
    pcapng_bytes,
    sll,
    sll2,
    tcp_frame,
    tcp_header,
    tcp_packet,
    tcp_stream_frames,
    udp_frame,
    write_pcap,
    write_pcap_dpkt,
)

from cmppdissect.core import MAX_CAPLEN, Ipv4Reassembler, TcpTracker
from cmppdissect.core.records import StreamData, TcpSegment
from cmppdissect.sources.segments import (
    CaptureFormatError,
    CaptureNote,
    PcapSource,
    iter_segments,
)

C_IP, S_IP = "192.0.2.10", "198.51.100.20"
C6, S6 = "2001:db8::10", "2001:db8:1::20"


def read(path: Path | str, **kw: object) -> tuple[list[TcpSegment], list[CaptureNote]]:
    notes: list[CaptureNote] = []
    return list(iter_segments(path, notes=notes, **kw)), notes  # type: ignore[arg-type]


def sample_frames() -> list[bytes]:
    return tcp_stream_frames((C_IP, 40000), (S_IP, 7890), [b"A" * 100, b"hello", b"B" * 1400])


def assert_sample(segs: list[TcpSegment], *, ts_step_ns: int = 1_000_000) -> None:
    assert len(segs) == 9
    syn = segs[0]
    assert syn == TcpSegment(1, BASE_TS_NS, f"{C_IP}:40000", f"{S_IP}:7890", C_IP, 40000, S_IP,
                             7890, 1000, 0, SYN, b"")
    assert segs[1].src == f"{S_IP}:7890" and segs[1].flags == SYN | ACK and segs[1].ack == 1001
    assert [s.payload for s in segs[3::2]] == [b"A" * 100, b"hello", b"B" * 1400]
    assert [s.seq for s in segs[3::2]] == [1001, 1101, 1106]
    assert segs[4].payload == b""  # pure ACKs are yielded too (and padding is not payload)
    assert segs[4].ack == 1101
    assert [s.frame for s in segs] == list(range(1, 10))
    assert [s.ts_ns - BASE_TS_NS for s in segs] == [i * ts_step_ns for i in range(9)]


# -- containers ------------------------------------------------------------------------------

def test_pcap_written_by_dpkt(tmp_path: Path) -> None:
    path = write_pcap_dpkt(tmp_path / "a.pcap", sample_frames())
    segs, notes = read(path)
    assert_sample(segs)
    assert notes == []
    assert all(type(s) is TcpSegment for s in segs)


@pytest.mark.parametrize("nano", [False, True])
@pytest.mark.parametrize("big_endian", [False, True])
def test_pcap_resolutions_and_byte_orders(tmp_path: Path, nano: bool, big_endian: bool) -> None:
    frames = [(BASE_TS_NS + 123 + i * 1_000_000, f) for i, f in enumerate(sample_frames())]
    path = write_pcap(tmp_path / "a.pcap", frames, nano=nano, big_endian=big_endian)
    segs, _ = read(path)
    expect_extra = 123 if nano else 0  # microsecond files lose the sub-microsecond part
    assert [s.ts_ns for s in segs] == [BASE_TS_NS + expect_extra + i * 1_000_000
                                       for i in range(9)]
    assert [s.payload for s in segs] == [s.payload for s in read(
        write_pcap(tmp_path / "ref.pcap", sample_frames()))[0]]


def test_pcapng_two_interfaces_with_different_link_types_and_resolutions(tmp_path: Path) -> None:
    eth = tcp_frame(C_IP, 40000, S_IP, 7890, 10, 0, PSH | ACK, b"on-eth")
    raw = tcp_packet(C6, 40001, S6, 7900, 20, 0, PSH | ACK, b"on-raw-v6")
    cooked = sll(tcp_packet(C_IP, 40002, S_IP, 7930, 30, 0, PSH | ACK, b"on-sll"))
    t0 = BASE_TS_NS
    packets = [
        (0, t0 + 1_000, eth),  # microseconds
        (1, t0 + 2_000_000_007, raw),  # nanoseconds
        (2, t0 + 3_000_000_000, cooked),  # 2^-10 s units
        (0, t0 + 4_000_000_000, arp_frame()),
        (1, t0 + 5_000_000_001, raw),
    ]
    data = pcapng_bytes([(1, 6), (229, 9), (113, 0x80 | 10)], packets)
    path = tmp_path / "multi.pcapng"
    path.write_bytes(data)
    segs, notes = read(path)
    assert notes == []
    assert [(s.frame, s.payload) for s in segs] == [
        (1, b"on-eth"), (2, b"on-raw-v6"), (3, b"on-sll"), (5, b"on-raw-v6")]
    assert segs[0].ts_ns == t0 + 1_000
    assert segs[1].ts_ns == t0 + 2_000_000_007
    assert segs[1].src == f"[{C6}]:40001" and segs[1].dst_ip == S6
    assert abs(segs[2].ts_ns - (t0 + 3_000_000_000)) < 1_000_000  # 1/1024 s resolution
    assert segs[3].ts_ns == t0 + 5_000_000_001


@pytest.mark.parametrize("big_endian", [False, True])
def test_pcapng_byte_orders_offsets_and_odd_blocks(tmp_path: Path, big_endian: bool) -> None:
    order = ">" if big_endian else "<"
    frames = sample_frames()
    extra = [
        (4, struct.pack(order + "HH", 0, 0)),  # name resolution block, empty
        (0x0BAD, b"custom block body"),  # custom block
    ]
    data = pcapng_bytes([(1, 6)], [(0, BASE_TS_NS + i * 1_000_000, f) for i, f in
                                   enumerate(frames)], big_endian=big_endian,
                        tsoffset_s=1_600_000_000, extra_blocks=extra)
    path = tmp_path / "a.pcapng"
    path.write_bytes(data)
    segs, notes = read(path)
    assert_sample(segs)
    assert notes == []


def test_pcapng_simple_and_obsolete_packet_blocks_and_new_section(tmp_path: Path) -> None:
    f1 = tcp_frame(C_IP, 1111, S_IP, 7890, 1, 0, PSH | ACK, b"epb")
    f2 = tcp_frame(C_IP, 1111, S_IP, 7890, 4, 0, PSH | ACK, b"spb")
    f3 = tcp_frame(C_IP, 1111, S_IP, 7890, 7, 0, PSH | ACK, b"pb!")
    sec1 = pcapng_bytes([(1, 6)], [(0, BASE_TS_NS, f1)])
    spb = struct.pack("<I", len(f2)) + f2
    spb += b"\0" * (-len(spb) % 4)
    sec1 += struct.pack("<II", 3, 12 + len(spb)) + spb + struct.pack("<I", 12 + len(spb))
    # Second section, big-endian, one interface in nanoseconds, an obsolete Packet Block.
    sec2 = pcapng_bytes([(1, 9)], [], big_endian=True)
    body = struct.pack(">HHIIII", 0, 0, 0, 5, len(f3), len(f3)) + f3
    body += b"\0" * (-len(body) % 4)
    sec2 += struct.pack(">II", 2, 12 + len(body)) + body + struct.pack(">I", 12 + len(body))
    path = tmp_path / "sections.pcapng"
    path.write_bytes(sec1 + sec2)
    segs, notes = read(path)
    # The obsolete block is stamped 5 ns after 1970, decades before the first section's.
    assert [(n.frame, n.message.split(" (")[0]) for n in notes] == [
        (3, "time goes backwards by more than a second 1 time(s), the first at frame 3")]
    assert [(s.frame, s.payload) for s in segs] == [(1, b"epb"), (2, b"spb"), (3, b"pb!")]
    assert segs[1].ts_ns == segs[0].ts_ns  # SPBs have no time of their own
    assert segs[2].ts_ns == 5


def test_pcapng_packet_on_undeclared_interface_is_noted(tmp_path: Path) -> None:
    f = tcp_frame(C_IP, 1, S_IP, 2, 1, 0, ACK)
    data = pcapng_bytes([(1, 6)], [(0, BASE_TS_NS, f)])
    bad = pcapng_bytes([(1, 6), (1, 6)], [(1, BASE_TS_NS, f)])
    # Keep the first file's single interface and append the EPB that names interface 1.
    epb = bad[len(pcapng_bytes([(1, 6), (1, 6)], [])):]
    path = tmp_path / "a.pcapng"
    path.write_bytes(data + epb)
    segs, notes = read(path)
    assert [s.frame for s in segs] == [1]
    assert any("interface 1" in n.message and n.frame == 2 for n in notes)


def test_gzip_detected_by_magic_not_name(tmp_path: Path) -> None:
    raw = pcap_bytes(sample_frames())
    path = tmp_path / "capture.pcap"  # no .gz suffix on purpose
    path.write_bytes(gzip.compress(raw))
    src = PcapSource(path)
    segs = list(src)
    assert_sample(segs)
    assert src.stats.file_size == path.stat().st_size
    assert src.stats.bytes_read == path.stat().st_size
    assert src.progress == 1.0


def test_gzip_concatenated_members_and_pcapng(tmp_path: Path) -> None:
    raw = pcapng_bytes([(1, 6)], [(0, BASE_TS_NS + i * 1_000_000, f) for i, f in
                                  enumerate(sample_frames())])
    half = len(raw) // 2
    path = tmp_path / "x"
    path.write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    segs, notes = read(path)
    assert_sample(segs)
    assert notes == []


def test_truncated_gzip_yields_what_it_has(tmp_path: Path) -> None:
    frames = [tcp_frame(C_IP, 1, S_IP, 7890, i * 100, 0, ACK, bytes([i % 256]) * 100)
              for i in range(300)]
    comp = gzip.compress(pcap_bytes(frames), compresslevel=1)
    path = tmp_path / "cut.gz"
    path.write_bytes(comp[: len(comp) * 2 // 3])
    segs, notes = read(path)
    assert 0 < len(segs) < 300
    assert [s.frame for s in segs] == list(range(1, len(segs) + 1))
    assert any("gzip" in n.message for n in notes)


def test_stdin_dash_streams_through_a_pipe(tmp_path: Path) -> None:
    raw = gzip.compress(pcap_bytes(sample_frames(), nano=True))
    code = (
        "from cmppdissect.sources.segments import iter_segments\n"
        "for s in iter_segments('-'):\n"
        "    print(s.frame, s.src, s.seq, len(s.payload))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], input=raw, capture_output=True,
                         check=True, timeout=60)
    lines = out.stdout.decode().split("\n")
    assert lines[0] == f"1 {C_IP}:40000 1000 0"
    assert lines[3] == f"4 {C_IP}:40000 1001 100"
    assert len([ln for ln in lines if ln]) == 9


def test_stdin_monkeypatched_non_seekable(monkeypatch: pytest.MonkeyPatch) -> None:
    class Pipe(io.RawIOBase):
        """Hands out at most 7 bytes per read, like a slow producer on a pipe."""

        def __init__(self, data: bytes) -> None:
            self._data = memoryview(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            n = min(7, len(b), len(self._data))
            b[:n] = self._data[:n]
            self._data = self._data[n:]
            return n

    fake = io.TextIOWrapper(io.BufferedReader(Pipe(pcap_bytes(sample_frames()))))
    monkeypatch.setattr(sys, "stdin", fake)
    src = PcapSource("-")
    assert src.stats.file_size is None and src.progress is None
    assert_sample(list(src))


def test_file_object_is_read_but_not_closed() -> None:
    buf = io.BytesIO(pcap_bytes(sample_frames()))
    segs = list(iter_segments(buf))
    assert_sample(segs)
    assert not buf.closed


# -- link types ------------------------------------------------------------------------------

def _pkt(payload: bytes = b"data!", v6: bool = False) -> bytes:
    if v6:
        return tcp_packet(C6, 5000, S6, 7890, 77, 88, PSH | ACK, payload)
    return tcp_packet(C_IP, 5000, S_IP, 7890, 77, 88, PSH | ACK, payload)


LINK_CASES = [
    ("ethernet", 1, lambda p: ethernet(p)),
    ("sll", 113, lambda p: sll(p)),
    ("sll2", 276, lambda p: sll2(p)),
    ("raw101", 101, lambda p: p),
    ("raw12", 12, lambda p: p),
    ("raw14", 14, lambda p: p),
    ("null-le", 0, lambda p: null_loopback(p, 30 if p[0] >> 4 == 6 else 2)),
    ("null-be", 0, lambda p: null_loopback(p, 24 if p[0] >> 4 == 6 else 2, big_endian=True)),
    ("loop-be", 108, lambda p: null_loopback(p, 28 if p[0] >> 4 == 6 else 2, big_endian=True)),
    ("loop-le", 108, lambda p: null_loopback(p, 24 if p[0] >> 4 == 6 else 2)),
]


@pytest.mark.parametrize(("name", "linktype", "wrap"), LINK_CASES, ids=[c[0] for c in LINK_CASES])
@pytest.mark.parametrize("v6", [False, True], ids=["v4", "v6"])
def test_link_types(tmp_path: Path, name: str, linktype: int, wrap, v6: bool) -> None:
    path = write_pcap(tmp_path / f"{name}.pcap", [wrap(_pkt(v6=v6)), wrap(_pkt(b"two", v6))],
                      linktype=linktype)
    segs, notes = read(path)
    assert notes == []
    assert [s.payload for s in segs] == [b"data!", b"two"]
    assert (segs[0].src_ip, segs[0].dst_port, segs[0].seq, segs[0].ack) == (
        C6 if v6 else C_IP, 7890, 77, 88)


def test_raw_ipv4_and_ipv6_link_types(tmp_path: Path) -> None:
    p4 = write_pcap(tmp_path / "v4.pcap", [_pkt()], linktype=228)
    p6 = write_pcap(tmp_path / "v6.pcap", [_pkt(v6=True)], linktype=229)
    assert read(p4)[0][0].src_ip == C_IP
    assert read(p6)[0][0].src == f"[{C6}]:5000"


def test_null_loopback_with_linux_af_inet6(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "n.pcap", [null_loopback(_pkt(v6=True), 10)], linktype=0)
    assert read(path)[0][0].payload == b"data!"


@pytest.mark.parametrize("vlans", [(0x8100,), (0x88A8, 0x8100), (0x9100, 0x8100),
                                   (0x8100, 0x8100, 0x8100)])
@pytest.mark.parametrize("v6", [False, True])
def test_vlan_and_qinq(tmp_path: Path, vlans: tuple[int, ...], v6: bool) -> None:
    frame = ethernet(_pkt(v6=v6), vlans=vlans)
    path = write_pcap(tmp_path / "vlan.pcap", [frame, arp_frame()])
    segs, notes = read(path)
    assert [s.payload for s in segs] == [b"data!"]
    assert notes == []


def test_vlan_inside_linux_cooked(tmp_path: Path) -> None:
    inner = struct.pack("!HH", 5, 0x0800) + _pkt()
    path = write_pcap(tmp_path / "s.pcap", [sll(inner, protocol=0x8100)], linktype=113)
    assert read(path)[0][0].payload == b"data!"


def test_unsupported_link_type_is_noted_and_skipped(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "u.pcap", [b"\x00" * 80] * 3, linktype=147)
    src = PcapSource(path)
    assert list(src) == []
    assert src.stats.frames == 3 and src.stats.unsupported_link == 3
    assert any("link type 147" in n.message for n in src.notes)


def test_pcapng_unsupported_interface_does_not_hide_the_others(tmp_path: Path) -> None:
    data = pcapng_bytes([(147, 6), (1, 6)], [(0, BASE_TS_NS, b"\x00" * 60),
                                              (1, BASE_TS_NS, tcp_frame(C_IP, 1, S_IP, 2, 3, 4,
                                                                        ACK, b"ok"))])
    path = tmp_path / "u.pcapng"
    path.write_bytes(data)
    segs, notes = read(path)
    assert [(s.frame, s.payload) for s in segs] == [(2, b"ok")]
    assert any("interface 0" in n.message and "147" in n.message for n in notes)


# -- IP layer ---------------------------------------------------------------------------------

def test_ipv6_extension_headers_are_skipped(tmp_path: Path) -> None:
    seg = tcp_header(5000, 7890, 1, 2, PSH | ACK) + b"behind-ext"
    pkt = ipv6_packet(C6, S6, 6, seg, ext_headers=[(0, b"\x01\x04\0\0\0\0"),
                                                  (43, b"\0\0\0\0\0\0"),
                                                  (60, b"\x01\x0c" + b"\0" * 12)])
    path = write_pcap(tmp_path / "ext.pcap", [ethernet(pkt)])
    segs, notes = read(path)
    assert [s.payload for s in segs] == [b"behind-ext"]
    assert notes == []


def test_ipv6_fragment_is_skipped_with_a_note(tmp_path: Path) -> None:
    seg = tcp_header(5000, 7890, 1, 2, PSH | ACK) + b"frag"
    pkt = ipv6_packet(C6, S6, 6, seg, ext_headers=[(44, b"\0\0\0\0\0\x01")])
    path = write_pcap(tmp_path / "f6.pcap", [ethernet(pkt), ethernet(_pkt(v6=True))])
    segs, notes = read(path)
    assert [s.frame for s in segs] == [2]
    assert any(n.frame == 1 and "fragment" in n.message for n in notes)


def _fragments(payload: bytes, size: int, ident: int) -> list[bytes]:
    seg = tcp_header(5000, 7890, 4242, 1, PSH | ACK) + payload
    out = []
    for off in range(0, len(seg), size):
        more = off + size < len(seg)
        out.append(ethernet(ipv4_packet(C_IP, S_IP, 6, seg[off:off + size], ident=ident,
                                        frag_offset=off, more_fragments=more)))
    return out


def test_ipv4_fragments_reassembled_out_of_order(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 12
    frags = _fragments(payload, 512, ident=7)
    order = [3, 0, 5, 1, 6, 2, 4]
    assert len(frags) == len(order)
    other = _fragments(b"second datagram" * 40, 200, ident=8)
    frames = [frags[i] for i in order[:3]] + other + [frags[i] for i in order[3:]]
    path = write_pcap(tmp_path / "frag.pcap", frames)
    src = PcapSource(path)
    segs = list(src)
    assert [s.payload for s in segs] == [b"second datagram" * 40, payload]
    assert segs[1].frame == len(frames)  # the frame that completed the datagram
    assert segs[1].seq == 4242
    assert src.stats.ip_fragments == len(frames)
    assert src.stats.reassembled == 2


def test_incomplete_fragments_are_reported_at_the_end(tmp_path: Path) -> None:
    frags = _fragments(b"x" * 1000, 256, ident=9)
    path = write_pcap(tmp_path / "lost.pcap", frags[:-1])
    segs, notes = read(path)
    assert segs == []
    assert any("1 incomplete" in n.message for n in notes)


def test_ipv4_options_and_tcp_options(tmp_path: Path) -> None:
    seg = tcp_header(5000, 7890, 9, 8, PSH | ACK, options=b"\x02\x04\x05\xb4\x01\x01\x04\x02")
    pkt = ipv4_packet(C_IP, S_IP, 6, seg + b"opt", options=b"\x01\x01\x01\x00")
    path = write_pcap(tmp_path / "o.pcap", [ethernet(pkt)])
    assert [s.payload for s in read(path)[0]] == [b"opt"]


def test_non_tcp_frames_are_skipped_and_counted(tmp_path: Path) -> None:
    icmp = ethernet(ipv4_packet(C_IP, S_IP, 1, b"\x08\x00\x00\x00" + b"ping" * 10))
    frames = [udp_frame(C_IP, 53, S_IP, 53, b"dns"), arp_frame(), icmp,
              tcp_frame(C_IP, 40000, S_IP, 7890, 1, 0, PSH | ACK, b"x"),
              ethernet(ipv6_packet(C6, S6, 17, b"\0" * 12)),
              ethernet(b"\0" * 30, ethertype=0x88CC)]
    path = write_pcap(tmp_path / "mix.pcap", frames)
    src = PcapSource(path)
    segs = list(src)
    assert [(s.frame, s.payload) for s in segs] == [(4, b"x")]
    assert src.stats.frames == 6
    assert src.stats.non_tcp == 5
    assert src.stats.tcp_segments == 1
    assert src.notes == []


def test_ethernet_padding_and_tso_zero_length(tmp_path: Path) -> None:
    short = tcp_frame(C_IP, 1, S_IP, 2, 3, 4, ACK, b"ab")  # padded to 60 bytes
    assert len(short) == 60
    tso = ethernet(ipv4_packet(C_IP, S_IP, 6, tcp_header(1, 2, 5, 4, ACK) + b"big" * 10,
                               total_length=0))
    path = write_pcap(tmp_path / "p.pcap", [short, tso])
    assert [s.payload for s in read(path)[0]] == [b"ab", b"big" * 10]


# -- damaged input -----------------------------------------------------------------------------

@pytest.mark.parametrize("cut", [5, 17, 60])
def test_truncated_last_record(tmp_path: Path, cut: int) -> None:
    frames = sample_frames()
    data = pcap_bytes(frames)
    last = 16 + len(frames[-1])
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[: len(data) - last + cut])
    segs, notes = read(path)
    assert [s.frame for s in segs] == list(range(1, len(frames)))
    assert len(notes) == 1 and "truncated" in notes[0].message
    assert notes[0].frame == len(frames)


def test_truncated_pcapng_block(tmp_path: Path) -> None:
    data = pcapng_bytes([(1, 6)], [(0, BASE_TS_NS + i, f) for i, f in enumerate(sample_frames())])
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data[:-10])
    segs, notes = read(path)
    assert len(segs) == 8
    assert any("truncated" in n.message for n in notes)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "empty"),
        (b"hello world, this is not a capture at all", "text"),
        (b"\x00\x01\x02\x03" * 10, "00010203"),
        (gzip.compress(b"just some text in a gzip file, nothing more", mtime=0), "gzip"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "truncated"),
        (b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x00\x00\x00\x00", "byte-order"),
    ],
)
def test_not_a_capture_raises_before_anything_is_yielded(tmp_path: Path, content: bytes,
                                                         words: str) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureFormatError) as err:
        iter_segments(path)  # the call itself raises, not the first next()
    msg = str(err.value)
    assert words in msg and "\n" not in msg and str(path) in msg


def test_absurd_caplen_stops_reading_safely(tmp_path: Path) -> None:
    good = pcap_bytes(sample_frames()[:3])
    bogus = struct.pack("<IIII", 1, 2, 0x7FFFFFF0, 0x7FFFFFF0) + b"\0" * 100
    path = tmp_path / "bogus.pcap"
    path.write_bytes(good + bogus)
    segs, notes = read(path)
    assert len(segs) == 3
    assert notes[0].severity == "error" and str(0x7FFFFFF0) in notes[0].message


def test_caplen_over_snaplen_is_noted_once_and_read(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "s.pcap", sample_frames(), snaplen=64)
    segs, notes = read(path)
    assert len(segs) == 9 and segs[-2].payload == b"B" * 1400
    assert len(notes) == 1 and "snapshot length" in notes[0].message


def test_frames_cut_by_snaplen_yield_the_captured_part(tmp_path: Path) -> None:
    frame = tcp_frame(C_IP, 1, S_IP, 2, 3, 4, PSH | ACK, b"0123456789" * 10)
    data = pcap_bytes([frame[:80], frame], caplen_override=None)
    # Make the first record claim its original length was the full frame.
    data = data[:24] + struct.pack("<IIII", 1, 0, 80, len(frame)) + data[40:]
    path = tmp_path / "snap.pcap"
    path.write_bytes(data)
    src = PcapSource(path)
    segs = list(src)
    assert [len(s.payload) for s in segs] == [80 - 54, 100]
    assert src.stats.truncated_frames == 1
    assert any("snapshot length" in n.message for n in src.notes)


def test_malformed_frames_are_counted_and_noted(tmp_path: Path) -> None:
    good = tcp_frame(C_IP, 1, S_IP, 2, 3, 4, ACK, b"ok")
    bad_ihl = bytearray(good)
    bad_ihl[14] = 0x43  # IHL 3 < 5
    bad_doff = bytearray(good)
    bad_doff[14 + 20 + 12] = 0x30  # TCP data offset 3 < 5
    huge_doff = bytearray(good)
    huge_doff[14 + 20 + 12] = 0xF0  # 60-byte header does not fit
    short = good[:20]
    path = write_pcap(tmp_path / "m.pcap", [bytes(bad_ihl), bytes(bad_doff), bytes(huge_doff),
                                           short, good])
    src = PcapSource(path)
    segs = list(src)
    assert [s.frame for s in segs] == [5]
    assert src.stats.malformed == 4
    assert [n.frame for n in src.notes] == [1, 2, 3, 4]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), nflips=st.integers(1, 40), ng=st.booleans(),
       cut=st.integers(0, 3000))
def test_random_corruption_never_raises(tmp_path_factory: pytest.TempPathFactory, seed: int,
                                        nflips: int, ng: bool, cut: int) -> None:
    rng = random.Random(seed)
    frames = sample_frames() + _fragments(b"z" * 600, 128, ident=3)
    if ng:
        data = bytearray(pcapng_bytes([(1, 6), (113, 9)], [(i % 2, BASE_TS_NS + i,
                         f if i % 2 == 0 else sll(f[14:])) for i, f in enumerate(frames)]))
        header = 28
    else:
        data = bytearray(pcap_bytes(frames))
        header = 24
    for _ in range(nflips):
        data[rng.randrange(header, len(data))] = rng.randrange(256)
    data = data[: len(data) - cut]
    path = tmp_path_factory.mktemp("fuzz") / "f.pcap"
    path.write_bytes(bytes(data))
    src = PcapSource(path)
    segs = list(src)
    assert all(isinstance(s, TcpSegment) for s in segs)
    assert [s.frame for s in segs] == sorted({s.frame for s in segs})
    assert src.stats.frames >= len(segs)


# -- the inline decoder agrees with the general one ---------------------------------------------

def _mixed_packets(rng: random.Random, count: int) -> list[bytes]:
    """IP packets of every shape the inline decoder accepts, declines, or must not misread."""
    out = []
    for i in range(count):
        kind = rng.randrange(8)
        payload = rng.randbytes(rng.randrange(0, 300))
        flags = rng.choice([ACK, PSH | ACK, SYN, FIN | ACK])
        seq, ack = rng.getrandbits(32), rng.getrandbits(32)
        if kind == 0:
            out.append(tcp_packet(C_IP, 40000 + i % 3, S_IP, 7890, seq, ack, flags, payload))
        elif kind == 1:
            out.append(tcp_packet(C6, 5 + i % 2, S6, 7890, seq, ack, flags, payload))
        elif kind == 2:
            out.append(ipv4_packet(C_IP, S_IP, 17, struct.pack("!HHHH", 1, 2, 8, 0) + payload))
        elif kind == 3:
            out.append(ipv6_packet(C6, S6, 6, tcp_header(1, 2, seq, ack, flags) + payload,
                                   ext_headers=[(60, b"\x01\x04\0\0\0\0")]))
        elif kind == 4:
            out.append(tcp_packet(C_IP, 1, S_IP, 2, seq, ack, flags, payload,
                                  tcp_options=b"\x01\x01\x08\x0a" + b"\0" * 8))
        elif kind == 5:
            out.append(ipv4_packet(C_IP, S_IP, 6, tcp_header(1, 2, seq, ack, flags) + payload,
                                   options=b"\x01\x01\x01\x00"))
        else:  # damaged somewhere in the IP or TCP header or payload
            f = bytearray(tcp_packet(C_IP if kind == 6 else C6, 1, S_IP if kind == 6 else S6,
                                     2, seq, ack, flags, payload))
            for _ in range(rng.randrange(1, 3)):
                f[rng.randrange(len(f))] = rng.randrange(256)
            out.append(bytes(f[: rng.choice([len(f), len(f), rng.randrange(1, len(f) + 1)])]))
    return out


def _wrap(rng: random.Random, linktype: int, pkt: bytes) -> bytes:
    vlan = rng.random() < 0.3
    proto = (0x86DD if pkt and pkt[0] >> 4 == 6 else 0x0800)
    tagged = struct.pack("!HH", 7, proto) + pkt
    if linktype == 1:
        return ethernet(pkt, ethertype=proto, vlans=(0x8100,) if vlan else ())
    if linktype == 113:
        return sll(tagged, protocol=0x8100) if vlan else sll(pkt, protocol=proto)
    if linktype == 276:
        return sll2(tagged, protocol=0x8100) if vlan else sll2(pkt, protocol=proto)
    return pkt  # raw IP


FAST_LINKS = [1, 113, 276, 101, 228, 229, 12]


def test_mixed_link_types_read_alike_in_pcap_and_in_one_pcapng(tmp_path: Path) -> None:
    """The same packets behind every link type, once as one pcap per link type and once as a
    single pcapng with an interface of each type: the same segments either way."""
    rng = random.Random(1234)
    per_type: list[TcpSegment] = []
    packets = []
    for lt in FAST_LINKS:
        frames = [_wrap(rng, lt, p) for p in _mixed_packets(rng, 300)]
        per_type += list(iter_segments(write_pcap(tmp_path / f"mix{lt}.pcap", frames,
                                                  linktype=lt)))
        ifid = FAST_LINKS.index(lt)
        packets += [(ifid, BASE_TS_NS + len(packets), f) for f in frames]
    path = tmp_path / "mix.pcapng"
    path.write_bytes(pcapng_bytes([(lt, 6) for lt in FAST_LINKS], packets))
    together = list(iter_segments(path))
    assert len(per_type) > 60
    key = [(s.src, s.dst, s.seq, s.ack, s.flags, s.payload) for s in per_type]
    assert [(s.src, s.dst, s.seq, s.ack, s.flags, s.payload) for s in together] == key
    assert any(s.src.startswith("[") for s in together) and any("." in s.src for s in together)


def test_segments_agree_with_scapy_and_dpkt(tmp_path: Path) -> None:
    scapy_all = pytest.importorskip("scapy.all")
    dpkt = pytest.importorskip("dpkt")
    pkts = [
        scapy_all.Ether() / scapy_all.IP(src=C_IP, dst=S_IP, options=[scapy_all.IPOption(
            b"\x01\x01\x01\x00")]) / scapy_all.TCP(sport=4000, dport=7890, seq=123, ack=456,
                                                      flags="PA", options=[("MSS", 1460)])
        / b"scapy-payload",
        scapy_all.Ether() / scapy_all.IPv6(src=C6, dst=S6) / scapy_all.TCP(
            sport=4001, dport=7890, seq=2**32 - 1, flags="S"),
        scapy_all.Ether() / scapy_all.IP(src=C_IP, dst=S_IP) / scapy_all.TCP(
            sport=4002, dport=7890, flags="FA") / (b"q" * 50),
    ]
    path = tmp_path / "scapy.pcap"
    scapy_all.wrpcap(str(path), pkts)
    segs, _ = read(path)
    with path.open("rb") as f:
        ref = []
        for _ts, buf in dpkt.pcap.Reader(f):
            ip = dpkt.ethernet.Ethernet(buf).data
            ref.append((ip.data.sport, ip.data.dport, ip.data.seq, ip.data.ack, ip.data.flags,
                        bytes(ip.data.data)))
    assert [(s.src_port, s.dst_port, s.seq, s.ack, s.flags, s.payload) for s in segs] == ref


def test_segments_are_real_frozen_dataclasses(tmp_path: Path) -> None:
    segs, _ = read(write_pcap(tmp_path / "a.pcap", sample_frames()))
    seg = segs[3]
    assert dataclasses.is_dataclass(seg) and type(seg) is TcpSegment
    assert seg == TcpSegment(**{f.name: getattr(seg, f.name) for f in dataclasses.fields(seg)})
    assert hash(seg) == hash(dataclasses.replace(seg))
    with pytest.raises(dataclasses.FrozenInstanceError):
        seg.seq = 1  # type: ignore[misc]


def test_progress_and_stats_on_a_larger_file(tmp_path: Path) -> None:
    frames = [tcp_frame(C_IP, 1, S_IP, 7890, i * 100, 0, ACK, b"p" * 100) for i in range(6000)]
    path = write_pcap(tmp_path / "big.pcap", frames)
    src = PcapSource(path)
    seen = []
    for i, _seg in enumerate(src):
        if i % 1000 == 0:
            seen.append(src.progress)
    assert seen == sorted(seen) and seen[0] is not None and seen[0] < 0.5
    assert src.progress == 1.0
    assert src.stats.frames == src.stats.tcp_segments == 6000


def test_iterating_twice_is_refused(tmp_path: Path) -> None:
    src = PcapSource(write_pcap(tmp_path / "a.pcap", sample_frames()))
    list(src)
    with pytest.raises(RuntimeError):
        list(src)


def test_max_caplen_constant_is_the_advertised_bound() -> None:
    assert MAX_CAPLEN == 256 * 1024


def test_long_vlan_stacks_are_walked_without_recursion(tmp_path: Path) -> None:
    deep = ethernet(_pkt(), vlans=(0x8100,) * 5000)
    endless = b"\x02" * 12 + b"\x81\x00\x00\x01" * 3000  # tags until the frame ends
    path = write_pcap(tmp_path / "deep.pcap", [deep, endless])
    src = PcapSource(path)
    assert [s.payload for s in src] == [b"data!"]
    assert src.stats.malformed == 1


# -- IPv4 reassembler, sans-IO ------------------------------------------------------------------

def test_reassembler_needs_every_byte_even_when_duplicates_fill_the_size() -> None:
    r = Ipv4Reassembler()
    key = (b"\x01\x02\x03\x04", b"\x05\x06\x07\x08", 6, 99)
    assert r.add(key, 0, True, b"a" * 8, 0) is None
    assert r.add(key, 0, True, b"a" * 8, 0) is None  # duplicate (loopback capture)
    assert r.add(key, 16, False, b"c" * 8, 0) is None  # 24 bytes held, 8..16 still missing
    assert r.add(key, 8, True, b"b" * 8, 0) == b"a" * 8 + b"b" * 8 + b"c" * 8
    assert len(r) == 0 and r.completed == 1


def test_reassembler_overlaps_keep_the_lower_offset_bytes() -> None:
    key = (b"\0" * 4, b"\1" * 4, 6, 1)
    for order in ((0, 1), (1, 0)):  # the rule does not depend on arrival order
        r = Ipv4Reassembler()
        parts = [(0, True, b"0123456789abcdef"), (8, False, b"XXXXXXXXtail")]
        results = [r.add(key, *parts[i], 0) for i in order]
        assert results == [None, b"0123456789abcdeftail"]


def test_reassembler_bounds_and_timeouts() -> None:
    r = Ipv4Reassembler(max_datagrams=3, max_bytes=10_000, timeout_ns=1_000)
    for ident in range(5):
        r.add((b"s" * 4, b"d" * 4, 6, ident), 0, True, b"z" * 8, 0)
    assert len(r) == 3 and r.dropped == 2
    r.add((b"s" * 4, b"d" * 4, 6, 77), 0, True, b"z" * 8, 5_000)  # the old ones time out
    assert len(r) == 1 and r.dropped == 5
    big = Ipv4Reassembler(max_bytes=100)
    big.add((b"s" * 4, b"d" * 4, 6, 1), 0, True, b"q" * 96, 0)
    big.add((b"s" * 4, b"d" * 4, 6, 2), 0, True, b"q" * 96, 0)
    assert len(big) == 1 and big.dropped == 1
    bad = Ipv4Reassembler()
    assert bad.add((b"s" * 4, b"d" * 4, 6, 1), 65_528, False, b"q" * 16, 0) is None
    assert bad.add((b"s" * 4, b"d" * 4, 6, 1), 0, True, b"q" * 7, 0) is None  # MF needs 8n
    assert bad.malformed == 2 and len(bad) == 0


def test_fragments_captured_twice_give_one_segment_per_copy_at_most(tmp_path: Path) -> None:
    frags = _fragments(b"dup" * 300, 256, ident=11)
    doubled = [f for fr in frags for f in (fr, fr)]
    segs, _ = read(write_pcap(tmp_path / "d.pcap", doubled))
    assert 1 <= len(segs) <= 2
    assert all(s.payload == b"dup" * 300 for s in segs)


def test_reader_and_tracker_together(tmp_path: Path) -> None:
    payloads = [bytes([i]) * (i * 7 % 300 + 1) for i in range(40)]
    frames = tcp_stream_frames((C_IP, 40000), (S_IP, 7890), payloads)
    doubled = [f for fr in frames for f in (fr, fr)]  # loopback-style capture
    for container in ("pcap", "pcapng"):
        path = tmp_path / f"conv.{container}"
        if container == "pcap":
            write_pcap(path, doubled)
        else:
            path.write_bytes(pcapng_bytes([(1, 9)], [(0, BASE_TS_NS + i, f)
                                                     for i, f in enumerate(doubled)]))
        events = list(TcpTracker().feed_all(iter_segments(path)))
        data = b"".join(e.data for e in events if isinstance(e, StreamData))
        assert data == b"".join(payloads)
