"""Frames found again: record offsets in the core, re-reading, layers, and ``-w`` from a file.

The core records where each PDU's frame record starts in the capture bytes (and, for a PDU
split over frames, every frame that carried it); :mod:`cmppdissect.sources.frames` reads the
record again, decodes it with dpkt into Wireshark-like layers and writes frames out with dpkt's
writers. Most tests build the capture bytes here; the end-to-end ones run the CLI on the
samples and read what it wrote back, with our own reader and with tshark when it is there.
"""

from __future__ import annotations

import dataclasses
import errno
import gzip
import io
import json
import os
import pickle
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import dpkt
import numpy as np
import pytest
from pcaputil import (
    ACK,
    BASE_TS_NS,
    PSH,
    SYN,
    Conversation,
    _block,
    ethernet,
    ipv4_packet,
    ipv6_packet,
    null_loopback,
    pcap_bytes,
    pcapng_bytes,
    run_cli,
    sll,
    sll2,
    small_disk,
    submit_pdu,
    submit_resp_pdu,
    tcp_frame,
    tcp_header,
    tcp_packet,
    write_pcap,
)

from cmppdissect.api import analyze
from cmppdissect.core import Core, FrameReader
from cmppdissect.core.records import CaptureLayout, InterfaceLayout, SectionLayout
from cmppdissect.engine import ROW_DTYPE
from cmppdissect.protocol.version import Version
from cmppdissect.sources.file import FileSource
from cmppdissect.sources.frames import (
    Frame,
    FrameError,
    FrameFile,
    FrameWriter,
    Layer,
    frame_layers,
    ns_to_raw,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
TSHARK = shutil.which("tshark")
V2 = Version.V2_0


# -- helpers ------------------------------------------------------------------------------------


def exchange(n: int = 3, *, sizes: tuple[int, ...] = ()) -> list[bytes]:
    """A handshake and ``n`` SUBMIT/SUBMIT_RESP pairs; each SUBMIT cut into ``sizes``."""
    conv = Conversation()
    frames = conv.handshake()
    for i in range(1, n + 1):
        frames += conv.send(True, submit_pdu(V2, i), sizes)
        frames += conv.send(False, submit_resp_pdu(V2, i, 1000 + i))
    return frames


def pcap_offsets(data: bytes, *, big_endian: bool = False, header: int = 16) -> list[int]:
    """Where each record of a pcap image starts, walked independently of the core."""
    order = ">" if big_endian else "<"
    out, pos = [], 24
    while pos + header <= len(data):
        out.append(pos)
        pos += header + struct.unpack(order + "I", data[pos + 8:pos + 12])[0]
    return out


def core_rows(data: bytes, chunk: int | None = None, **kwargs: Any) -> tuple[np.ndarray, Core,
                                                                              list[Any]]:
    kwargs.setdefault("keep_rows", True)
    kwargs.setdefault("offsets", True)
    core = Core(**kwargs)
    step = chunk or len(data)
    for i in range(0, len(data), step):
        core.feed(data[i:i + step])
    core.finish()
    events, rows, *_ = core.take()  # (events, rows, raw, ...): what comes after may grow
    return np.frombuffer(rows, ROW_DTYPE), core, events


def rows_by_frame(rows: np.ndarray) -> dict[int, int]:
    return {int(f): int(o) for f, o in zip(rows["frame"], rows["offset"], strict=True)}


# -- offsets in the core ------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 7, 100, None])
@pytest.mark.parametrize("nano,big", [(False, False), (True, True)])
def test_pdu_rows_point_at_their_frames_record_in_pcap(chunk: int | None, nano: bool,
                                                       big: bool) -> None:
    data = pcap_bytes(exchange(), nano=nano, big_endian=big)
    offsets = pcap_offsets(data, big_endian=big)
    rows, core, _ = core_rows(data, chunk)
    assert len(rows) == 6
    for frame, offset in rows_by_frame(rows).items():
        assert offset == offsets[frame - 1]
    layout = core.capture_layout()
    assert layout == CaptureLayout("pcap", 16, (SectionLayout(0, big, (
        InterfaceLayout(1, 65535, 9 if nano else 6, 0),)),))


def test_offsets_are_unknown_unless_asked_for() -> None:
    rows, _core, _ = core_rows(pcap_bytes(exchange()), offsets=False)
    assert len(rows) == 6 and set(rows["offset"].tolist()) == {-1}


def test_kuznetzov_records_have_24_byte_headers(tmp_path: Path) -> None:
    frames = exchange(1)
    out = [struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1)]
    for i, frame in enumerate(frames):
        out.append(struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame))
                   + b"\x00" * 8 + frame)
    data = b"".join(out)
    rows, core, _ = core_rows(data, 5)
    offsets = pcap_offsets(data, header=24)
    assert [int(o) for o in rows["offset"]] == [offsets[f - 1] for f in rows["frame"]]
    layout = core.capture_layout()
    assert layout is not None and layout.record_header == 24
    path = tmp_path / "k.pcap"
    path.write_bytes(data)
    with FrameFile(path, layout) as ff:
        assert [ff.read(o).data for o in offsets] == frames
        assert ff.read(offsets[1]).ts == (1_700_000_001) * 10**9


def two_sections() -> tuple[bytes, list[tuple[int, int]]]:
    """Two pcapng sections (little then big endian) with different interfaces, and the
    (frame number, record offset) of every packet block, walked independently."""
    conv = Conversation()
    first = conv.handshake() + conv.send(True, submit_pdu(V2, 1))
    second = conv.send(False, submit_resp_pdu(V2, 1, 77)) + conv.send(True, submit_pdu(V2, 2))
    a = pcapng_bytes([(113, 6), (1, 9)], [(1, BASE_TS_NS + i * 1000, f)
                                          for i, f in enumerate(first)])
    b = pcapng_bytes([(1, 0x80 | 20)], [(0, BASE_TS_NS + 10**9 + i, f)
                                        for i, f in enumerate(second)],
                     big_endian=True, tsoffset_s=5)
    data = a + b
    blocks, pos, frame = [], 0, 0
    while pos < len(data):
        order = "<" if pos < len(a) else ">"
        btype, blen = struct.unpack(order + "II", data[pos:pos + 8])
        if btype == 6:
            frame += 1
            blocks.append((frame, pos))
        pos += blen
    return data, blocks


@pytest.mark.parametrize("chunk", [3, 64, None])
def test_pcapng_sections_offsets_and_layout(chunk: int | None) -> None:
    data, blocks = two_sections()
    rows, core, _ = core_rows(data, chunk)
    assert len(rows) == 3
    where = dict(blocks)
    for frame, offset in rows_by_frame(rows).items():
        assert offset == where[frame]
    layout = core.capture_layout()
    assert layout is not None and layout.format == "pcapng"
    second = data.index(b"\x0a\x0d\x0d\x0a", 4)
    assert [(s.offset, s.big_endian) for s in layout.sections] == [(0, False), (second, True)]
    assert layout.sections[0].interfaces == (InterfaceLayout(113, 0, 6, 0),
                                             InterfaceLayout(1, 0, 9, 0))
    assert layout.sections[1].interfaces == (InterfaceLayout(1, 0, 0x80 | 20, 5),)
    assert layout.section_at(second - 1) is layout.sections[0]
    assert layout.section_at(second) is layout.sections[1]
    assert layout.section_at(-1) is None
    assert pickle.loads(pickle.dumps(layout)) == layout  # small, and it crosses processes


def test_a_pdu_split_over_frames_names_every_carrier() -> None:
    data = pcap_bytes(exchange(2, sizes=(10, 50)))
    offsets = pcap_offsets(data)
    rows, _core, events = core_rows(data, 33, carriers=True)
    carriers = {ev[1]: ev[2] for ev in events if ev[0] == 10}
    # Each SUBMIT came in three frames (10, 50 and the rest bytes); its row is the last.
    submits = [r for r in range(len(rows)) if rows["command_id"][r] == 4]
    assert len(submits) == 2
    for row in submits:
        last = int(rows["frame"][row])
        assert carriers[row] == tuple(offsets[f - 1] for f in (last - 2, last - 1, last))
        assert int(rows["offset"][row]) == offsets[last - 1]
    # A response in one frame is its own carrier: no event for it.
    assert set(carriers) == set(submits)


def test_reordered_segments_are_carried_by_the_frames_that_brought_them() -> None:
    conv = Conversation()
    frames = conv.handshake()
    head, tail = conv.send(True, submit_pdu(V2, 1), (40,))
    frames += [tail, head]  # the tail arrives first and is held until the head fills the hole
    data = pcap_bytes(frames)
    offsets = pcap_offsets(data)
    rows, _core, events = core_rows(data, carriers=True)
    assert len(rows) == 1 and int(rows["frame"][0]) == 5
    assert [ev[2] for ev in events if ev[0] == 10] == [(offsets[4], offsets[3])]


def test_ipv4_fragments_are_all_named(tmp_path: Path) -> None:
    conv = Conversation()
    frames = conv.handshake()
    seg = tcp_header(40001, 7890, conv.nxt[True], conv.nxt[False], PSH | ACK) + \
        submit_pdu(V2, 1)
    frames.append(ethernet(ipv4_packet("192.0.2.10", "198.51.100.7", 6, seg[:64], ident=9,
                                       more_fragments=True)))
    frames.append(ethernet(ipv4_packet("192.0.2.10", "198.51.100.7", 6, seg[64:], ident=9,
                                       frag_offset=64)))
    data = pcap_bytes(frames)
    offsets = pcap_offsets(data)
    rows, core, _ = core_rows(data, carriers=True)
    assert len(rows) == 1 and int(rows["offset"][0]) == offsets[4]
    assert core.fragment_records == {offsets[4]: (offsets[3], offsets[4])}
    # What -w writes for it: both fragments (and nothing else of the capture).
    path = tmp_path / "frag.pcap"
    path.write_bytes(data)
    analysis = analyze(path)
    picked = list(analysis.rows(carriers=True))
    assert analysis.frame_records(picked).tolist() == [offsets[3], offsets[4]]


# -- the store, the sources, the driver ---------------------------------------------------------


def test_store_keeps_offsets_in_an_int64_column_and_stays_small(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "c.pcap", exchange(4))
    analysis = analyze(path)
    rows = list(analysis.rows())
    store = analysis.store
    assert store is not None and len(rows) == 8
    assert store.offset.dtype == np.int64
    offsets = pcap_offsets(path.read_bytes())
    assert [int(store.offset[r]) for r in rows] == [offsets[int(store.frame[r]) - 1]
                                                    for r in rows]
    assert analysis.frame_records(rows[:1]).tolist() == [int(store.offset[rows[0]])]
    columns = sum(getattr(store, name).itemsize for name in (
        "frame", "offset", "ts_ns", "session", "flags", "command_id", "sequence_id", "length",
        "pair", "latency_ns", "severity", "version", "hint"))
    assert columns == 50  # 42 before the offset (the store's budget is in bench_engine.py)


@pytest.mark.parametrize("how", ["gzip", "stdin-like", "file object"])
def test_offsets_are_minus_one_when_the_input_is_not_a_regular_file(tmp_path: Path,
                                                                      how: str) -> None:
    raw = pcap_bytes(exchange(1))
    if how == "gzip":
        path = tmp_path / "c.pcap.gz"
        path.write_bytes(gzip.compress(raw))
        source: Any = str(path)
    elif how == "stdin-like":
        source = io.BytesIO(raw)
    else:
        path = tmp_path / "c.pcap"
        path.write_bytes(raw)
        source = path.open("rb")
    analysis = analyze(source)
    rows = list(analysis.rows())
    assert analysis.path is None and analysis.frame_file() is None
    store = analysis.store
    assert store is not None and len(rows) == 2
    assert set(store.offset[:store.count].tolist()) == {-1}
    assert analysis.frame_records(rows[:1]).tolist() == []
    if how == "file object":
        source.close()


def test_file_source_path_and_identity(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "c.pcap", exchange(1))
    with FileSource(str(path)) as src:
        assert src.path == str(path)
        st = path.stat()
        assert src.identity == (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    gz = tmp_path / "c.pcap.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    with FileSource(str(gz)) as src:
        assert src.path is None  # offsets would be into the decompressed bytes


# -- reading frames again -----------------------------------------------------------------------


def test_frame_file_reads_pcap_records_exactly(tmp_path: Path) -> None:
    frames = [(BASE_TS_NS + 123, f) for f in exchange(1)]
    for nano, big in ((False, False), (True, True)):
        path = tmp_path / f"c{nano}{big}.pcap"
        data = pcap_bytes(frames, nano=nano, big_endian=big)
        path.write_bytes(data)
        rows, core, _ = core_rows(data)
        layout = core.capture_layout()
        assert layout is not None
        with FrameFile(path, layout) as ff:
            for i, offset in enumerate(pcap_offsets(data, big_endian=big)):
                frame = ff.read(offset)
                assert frame.data == frames[i][1] and frame.linktype == 1
                assert frame.wire_length == len(frames[i][1])
                assert frame.ts == (BASE_TS_NS + 123 if nano else BASE_TS_NS)
                assert frame.offset == offset
                assert ff.interface_at(offset) == layout.sections[0].interfaces[0]
        assert len(rows) == 2


def test_frame_file_reads_pcapng_blocks_of_every_kind(tmp_path: Path) -> None:
    data, blocks = two_sections()
    path = tmp_path / "c.pcapng"
    path.write_bytes(data)
    _rows, core, _ = core_rows(data)
    layout = core.capture_layout()
    assert layout is not None
    with FrameFile(path, layout) as ff:
        first = ff.read(blocks[0][1])
        assert first.linktype == 1 and first.ts == BASE_TS_NS  # interface 1: ns resolution
        assert first.interface == InterfaceLayout(1, 0, 9, 0)
        assert first.raw_ts == BASE_TS_NS
        last = ff.read(blocks[-1][1])  # big endian, 2**-20 s units, 5 s offset
        expect = BASE_TS_NS + 10**9 + 1
        assert abs(last.ts - expect) < 1000 and last.ts == _ts_to_ns(last.raw_ts, 0x80 | 20, 5)
    # A Simple Packet Block (no time, interface 0) and an obsolete Packet Block.
    frame = tcp_frame("10.0.0.1", 1, "10.0.0.2", 7890, 1, 1, ACK, b"hello")
    shb = _block("<", 0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = _block("<", 1, struct.pack("<HHI", 1, 0, 40))  # snaplen 40
    spb = _block("<", 3, struct.pack("<I", len(frame)) + frame)
    pb = _block("<", 2, struct.pack("<HHIIII", 0, 0, 0, 5_000_000, len(frame), len(frame))
                + frame)
    data = shb + idb + spb + pb
    path.write_bytes(data)
    layout = CaptureLayout("pcapng", 16, (SectionLayout(0, False,
                                                        (InterfaceLayout(1, 40, 6, 0),)),))
    with FrameFile(path, layout) as ff:
        simple = ff.read(len(shb) + len(idb))
        assert simple.ts is None and simple.data == frame[:40]
        assert simple.wire_length == len(frame)
        old = ff.read(len(shb) + len(idb) + len(spb))
        assert old.data == frame and old.ts == 5_000_000_000


def analysed(tmp_path: Path, frames: list[bytes] | None = None) -> tuple[Path, Any, list[int]]:
    path = write_pcap(tmp_path / "c.pcap", frames or exchange(2))
    src = FileSource(str(path))
    analysis = analyze(src)
    rows = list(analysis.rows())
    return path, analysis, rows


def test_a_truncated_file_is_one_clear_error(tmp_path: Path) -> None:
    path, analysis, rows = analysed(tmp_path)
    store = analysis.store
    last = int(store.offset[rows[-1]])
    with path.open("r+b") as f:
        f.truncate(last + 20)
    frames = FrameFile(path, analysis.frame_file().layout)  # no identity: the read notices
    with pytest.raises(FrameError, match=r"cut short \(4 of \d+ bytes\): the file is truncated"):
        frames.read(last)
    with pytest.raises(FrameError, match="truncated since it was read"), \
            analysis.frame_file() as checked:
        checked.read(int(store.offset[rows[0]]))


def test_a_changed_or_replaced_file_is_noticed(tmp_path: Path) -> None:
    path, analysis, rows = analysed(tmp_path)
    offset = int(analysis.store.offset[rows[0]])
    data = path.read_bytes()
    path.write_bytes(data[:-1] + b"\x01")  # same size, rewritten
    os.utime(path, ns=(1, 1))
    with pytest.raises(FrameError, match="changed since it was read"), \
            analysis.frame_file() as ff:
        ff.read(offset)
    path.rename(tmp_path / "old.pcap")  # kept, so the new file cannot reuse its inode
    path.write_bytes(data)
    with pytest.raises(FrameError, match="replaced since it was read"), \
            analysis.frame_file() as ff:
        ff.read(offset)
    path.unlink()
    with pytest.raises(FrameError, match="No such file"), analysis.frame_file() as ff:
        ff.read(offset)


def test_a_growing_file_is_still_the_same_capture(tmp_path: Path) -> None:
    path, analysis, rows = analysed(tmp_path)
    offset = int(analysis.store.offset[rows[0]])
    with path.open("ab") as f:
        f.write(pcap_bytes(exchange(1))[24:])
    with analysis.frame_file() as ff:
        assert ff.read(offset).offset == offset


def test_bad_offsets_and_absurd_lengths_are_errors_not_allocations(tmp_path: Path) -> None:
    path, analysis, _rows = analysed(tmp_path)
    with analysis.frame_file() as ff:
        with pytest.raises(FrameError, match="offset is unknown"):
            ff.read(-1)
        with pytest.raises(FrameError, match="cut short"):
            ff.read(path.stat().st_size - 3)
        # A record header claiming 4 GiB: refused before anything that large is read.
        with path.open("r+b") as f:
            f.seek(24 + 8)
            f.write(struct.pack("<I", 0xFFFFFFFF))
        ff.identity = None
        with pytest.raises(FrameError, match="no frame record at offset 24"):
            ff.read(24)
    pcapng = CaptureLayout("pcapng", 16, (SectionLayout(0, False, (InterfaceLayout(1, 0),)),),
                           known_until=100)
    data = pcapng_bytes([(1, 6)], [(0, BASE_TS_NS, tcp_frame("10.0.0.1", 1, "10.0.0.2", 2, 1,
                                                             1, ACK))])
    path.write_bytes(data)
    with FrameFile(path, pcapng) as ff:
        with pytest.raises(FrameError, match="no packet block at offset 0"):
            ff.read(0)
        with pytest.raises(FrameError, match="no known capture layout"):
            ff.read(120)


# -- layers -------------------------------------------------------------------------------------


def titles(frame: Frame) -> list[str]:
    return [layer.title for layer in frame_layers(frame, 3)]


def test_layers_of_an_ethernet_ipv4_tcp_frame() -> None:
    data = tcp_frame("192.0.2.10", 40001, "198.51.100.7", 7890, 1000, 5000, PSH | ACK, b"x" * 12)
    layers = frame_layers(Frame(1, data, len(data) + 10, BASE_TS_NS, 24), 3)
    assert [la.title for la in layers] == [
        f"Frame 3: {len(data) + 10} bytes on wire ({(len(data) + 10) * 8} bits), {len(data)} "
        f"bytes captured ({len(data) * 8} bits)",
        "Ethernet II, Src: 02:00:00:00:00:01, Dst: 02:00:00:00:00:02",
        "Internet Protocol Version 4, Src: 192.0.2.10, Dst: 198.51.100.7",
        "Transmission Control Protocol, Src Port: 40001, Dst Port: 7890, Seq: 1000, "
        "Ack: 5000, Len: 12"]
    frame, _eth, ip, tcp = (dict(la.rows) for la in layers)
    assert frame["Capture length"].endswith("(cut short by the snapshot length)")
    assert frame["Arrival time"] == "2023-11-14 22:13:20.123456000 UTC"
    assert frame["Record offset"] == "24 (0x18)"
    assert ip["Time to live"] == "64" and ip["Identification"] == "0x0001 (1)"
    assert ip["Protocol"] == "TCP (6)" and ip["Flags"] == "none"
    assert tcp["Flags"] == "0x018 (PSH, ACK)" and tcp["Window"] == "65535"
    assert tcp["Payload"] == "12 bytes"
    assert not any(la.malformed for la in layers)


def test_layers_of_every_link_type() -> None:
    pkt = tcp_packet("10.0.0.1", 1234, "10.0.0.2", 7890, 1, 2, SYN)
    pkt6 = tcp_packet("2001:db8::1", 1234, "2001:db8::2", 7890, 1, 2, SYN)
    cases = [
        (1, ethernet(pkt, vlans=(0x88A8, 0x8100)), "Ethernet II, Src: 02:00:00:00:00:01, "
                                                   "Dst: 02:00:00:00:00:02, VLAN 100/101"),
        (1, ethernet(pkt, vlans=(0x88A8, 0x8100, 0x8100)), "VLAN 100/101/102"),
        (113, sll(pkt), "Linux cooked capture v1, unicast to us, Src: 02:02:02:02:02:02"),
        (276, sll2(pkt6), "Linux cooked capture v2, unicast to us, interface 3"),
        (0, null_loopback(pkt, 2), "Null/Loopback, Family: IPv4"),
        (108, null_loopback(pkt6, 24, big_endian=True), "OpenBSD loopback, Family: IPv6 "
                                                          "(NetBSD, OpenBSD)"),
        (101, pkt6, "Raw packet data, no link-layer header"),
        (228, pkt, "Raw packet data, IPv4"),
    ]
    for linktype, data, link in cases:
        got = titles(Frame(linktype, data, len(data), None))
        assert link in got[1], (linktype, got)
        assert got[-1].startswith("Transmission Control Protocol, Src Port: 1234, Dst Port: "
                                  "7890, Seq: 1, Ack: 2, Len: 0"), (linktype, got)
        v6 = data is pkt6 or pkt6 in data
        assert got[-2] == ("Internet Protocol Version 6, Src: 2001:db8::1, Dst: 2001:db8::2"
                           if v6 else "Internet Protocol Version 4, Src: 10.0.0.1, "
                                      "Dst: 10.0.0.2"), (linktype, got)
    assert titles(Frame(147, b"\x00" * 20, 20, None))[1] == "Link type 147, not decoded"


def test_ipv6_extension_headers_and_ipv4_fragments() -> None:
    seg = tcp_header(1, 7890, 5, 6, ACK)
    pkt = ipv6_packet("2001:db8::1", "2001:db8::2", 6, seg, ext_headers=[(0, b"\x01" * 6),
                                                                        (60, b"\x00" * 14)])
    layers = frame_layers(Frame(229, pkt, len(pkt), None))
    rows = [v for k, v in layers[2].rows if k == "Extension header"]
    assert rows == ["hop-by-hop options, 8 bytes", "destination options, 16 bytes"]
    assert layers[-1].title.startswith("Transmission Control Protocol, Src Port: 1, ")
    frag = ipv4_packet("10.0.0.1", "10.0.0.2", 6, b"\x00" * 16, frag_offset=64)
    layers = frame_layers(Frame(228, frag, len(frag), None))
    assert dict(layers[2].rows)["Fragment offset"] == "64 bytes"
    assert layers[-1].title.startswith("Fragment, offset 64") and not layers[-1].malformed


@pytest.mark.parametrize("linktype,data", [
    (1, tcp_frame("10.0.0.1", 1, "10.0.0.2", 7890, 1, 2, PSH | ACK, b"abc",
                  vlans=(0x8100,), tcp_options=b"\x02\x04\x05\xb4")),
    (113, sll(tcp_packet("2001:db8::1", 1, "2001:db8::2", 7890, 1, 2, ACK, b"abc"))),
    (276, sll2(ipv4_packet("10.0.0.1", "10.0.0.2", 6, tcp_header(1, 2, 3, 4, ACK),
                           options=b"\x01\x01\x01\x00"))),
    (0, null_loopback(tcp_packet("10.0.0.1", 1, "10.0.0.2", 7890, 1, 2, ACK), 2)),
])
def test_every_truncation_gives_a_malformed_layer_never_an_exception(linktype: int,
                                                                     data: bytes) -> None:
    whole = frame_layers(Frame(linktype, data, len(data), None))
    assert not any(la.malformed for la in whole)
    assert whole[-1].name == "Transmission Control Protocol"
    for cut in range(len(data)):
        layers = frame_layers(Frame(linktype, data[:cut], len(data), None))
        assert all(isinstance(la, Layer) for la in layers)
        last = layers[-1]
        # Either a layer stopped short and says so, or TCP was complete with fewer bytes.
        assert last.malformed or last.name == "Transmission Control Protocol", (cut, last)
        if last.malformed:
            assert last.summary.startswith("malformed: ")


def test_lying_headers_and_garbage_never_raise() -> None:
    ip = bytearray(tcp_packet("10.0.0.1", 1, "10.0.0.2", 7890, 1, 2, ACK))
    bad_ihl = bytes([0x43]) + bytes(ip[1:])
    assert frame_layers(Frame(228, bad_ihl, 40, None))[-1].summary == \
        "malformed: header length 12 < 20"
    short_total = bytes(ip[:2]) + struct.pack(">H", 8) + bytes(ip[4:])
    assert "total length 8 < header length 20" in titles(Frame(228, short_total, 40, None))[-1]
    bad_offset = bytes(ip[:32]) + bytes([0xF0]) + bytes(ip[33:])
    assert "header length 60 exceeds the 20 bytes" in titles(Frame(228, bad_offset, 40, None))[-1]
    wrong = bytes([0x60]) + bytes(ip[1:])
    assert "version field is 6" in titles(Frame(228, wrong, 40, None))[-1]
    rng = random.Random(7)
    for _ in range(3000):
        data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 90)))
        for linktype in (0, 1, 12, 101, 108, 113, 228, 229, 276):
            layers = frame_layers(Frame(linktype, data, len(data), rng.choice((None, -5, 0))))
            last = layers[0] if len(layers) == 1 else layers[-1]
            # Decoding ends in a malformed layer, a layer not decoded, a fragment or TCP.
            assert last.malformed or last.summary == "not decoded" or last.name in (
                "Fragment", "Transmission Control Protocol"), (linktype, data.hex(), last)


# -- writing ------------------------------------------------------------------------------------


def frames_of(data: bytes, name: str, tmp_path: Path) -> tuple[FrameFile, list[int]]:
    path = tmp_path / name
    path.write_bytes(data)
    _rows, core, _ = core_rows(data)
    layout = core.capture_layout()
    assert layout is not None
    offsets = []
    ff = FrameFile(path, layout)
    # Every packet record, found by walking the file the way a reader does.
    if layout.format == "pcap":
        offsets = pcap_offsets(data)
    else:
        pos = 0
        while pos < len(data):
            order = ">" if layout.section_at(pos) and layout.section_at(pos).big_endian else "<"
            btype, blen = struct.unpack(order + "II", data[pos:pos + 8])
            if btype == 0x0A0D0D0A:
                order = ">" if data[pos + 8:pos + 12] == b"\x1a\x2b\x3c\x4d" else "<"
                blen = struct.unpack(order + "I", data[pos + 4:pos + 8])[0]
            elif btype in (2, 3, 6):
                offsets.append(pos)
            pos += blen
    return ff, offsets


def test_pcapng_output_keeps_interfaces_timestamps_and_wire_lengths(tmp_path: Path) -> None:
    data, blocks = two_sections()
    ff, offsets = frames_of(data, "in.pcapng", tmp_path)
    assert offsets == [o for _f, o in blocks]
    with ff:
        source = [ff.read(o) for o in offsets]
        out = io.BytesIO()
        writer = FrameWriter(out, "pcapng", [ff.interface_at(o) for o in offsets])
        for frame in source:
            writer.write(dataclasses.replace(frame, wire_length=frame.wire_length + 3))
        writer.flush()
    assert writer.frames == len(source)
    written = out.getvalue()
    # dpkt reads it, and so does our own core (interfaces, resolutions, offsets kept).
    reader = dpkt.pcapng.Reader(io.BytesIO(written))
    assert [bytes(buf) for _ts, buf in reader] == [f.data for f in source]
    _rows, core, _ = core_rows(written)
    layout = core.capture_layout()
    assert layout is not None and len(layout.sections) == 1
    assert layout.sections[0].interfaces == (InterfaceLayout(1, 0, 9, 0),
                                             InterfaceLayout(1, 0, 0x80 | 20, 5))
    back, back_offsets = frames_of(written, "out.pcapng", tmp_path)
    with back:
        again = [back.read(o) for o in back_offsets]
    assert [f.ts for f in again] == [f.ts for f in source]
    assert [f.raw_ts for f in again] == [f.raw_ts for f in source]
    assert [f.wire_length for f in again] == [f.wire_length + 3 for f in source]


def test_pcap_output_picks_the_precision_and_refuses_several_link_types(tmp_path: Path) -> None:
    frames = [(BASE_TS_NS + 789, f) for f in exchange(1)]
    ff, offsets = frames_of(pcap_bytes(frames, nano=True), "in.pcap", tmp_path)
    with ff:
        out = io.BytesIO()
        writer = FrameWriter(out, "pcap", [ff.interface_at(o) for o in offsets])
        for o in offsets:
            writer.write(ff.read(o))
        writer.flush()
    written = out.getvalue()
    assert written[:4] == struct.pack("<I", 0xA1B23C4D)  # nanosecond magic
    assert pcap_offsets(written) == pcap_offsets(pcap_bytes(frames, nano=True))
    reader = dpkt.pcap.Reader(io.BytesIO(written))
    assert reader.datalink() == 1
    assert [bytes(b) for _t, b in reader] == [f for _t, f in frames]
    micro = io.BytesIO()
    one = FrameWriter(micro, "pcap", [InterfaceLayout(1, 1500, 6, 0)])
    one.write(Frame(1, b"abc", 3, BASE_TS_NS + 999))
    one.flush()
    sec, usec, caplen, wire = struct.unpack("<IIII", micro.getvalue()[24:40])
    assert (sec * 10**6 + usec, caplen, wire) == ((BASE_TS_NS + 999) // 1000, 3, 3)
    with pytest.raises(FrameError, match=r"several link types \(Ethernet \(1\), Linux cooked "
                                         r"\(SLL\) \(113\)\) and classic pcap holds one"):
        FrameWriter(io.BytesIO(), "pcap", [InterfaceLayout(1, 0), InterfaceLayout(113, 0)])


class _DiskFillsUp(io.RawIOBase):
    """A real file that takes ``room`` bytes and then fails as a full disk does: a write
    that fits in part writes that part, the next one raises ENOSPC."""

    def __init__(self, path: Path, room: int) -> None:
        self.file = open(path, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        self.room = room

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.file.fileno()

    def write(self, data: Any) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = self.file.write(bytes(data)[:self.room])
        assert n is not None
        self.room -= n
        return n

    def close(self) -> None:
        self.file.close()
        super().close()


@pytest.mark.parametrize("fmt", ["pcapng", "pcap"])
@pytest.mark.parametrize("room", [30, 4096, 50_000, 70_001])
def test_a_full_disk_leaves_a_file_of_whole_records(tmp_path: Path, fmt: str,
                                                    room: int) -> None:
    """Issue 13: ``-w`` on a full disk left a file cut mid-record. The writer cuts the file
    back to the last whole record and says how many frames it holds; the file reads back."""
    frames = [Frame(1, bytes([i % 256]) * (60 + i % 900), 60 + i % 900, BASE_TS_NS + i * 1000)
              for i in range(400)]  # about 200 KB: several batches
    path = tmp_path / f"out.{fmt}"
    sink = _DiskFillsUp(path, room)
    writer = FrameWriter(sink, fmt, [InterfaceLayout(1, 0, 6, 0)])
    with pytest.raises(FrameError, match=r"No space left on device: the file ends with the "
                                         r"last whole frame written \((\d+) frames\)") as err:
        for frame in frames:
            writer.write(frame)
        writer.flush()
    sink.close()
    kept = int(err.value.args[0].rsplit("(", 1)[1].split()[0])
    data = path.read_bytes()
    assert len(data) <= room
    reader = dpkt.pcapng.Reader if fmt == "pcapng" else dpkt.pcap.Reader
    got = [bytes(buf) for _ts, buf in reader(io.BytesIO(data))] if kept or fmt == "pcap" \
        else []
    assert got == [f.data for f in frames[:kept]]
    if kept == 0 and fmt == "pcapng" and len(data):
        assert struct.unpack("<I", data[:4])[0] == 0x0A0D0D0A  # the header, whole


def test_w_on_a_full_disk_end_to_end(tmp_path: Path) -> None:
    """The command line on a real full file system (a 64 KiB tmpfs, 12 KiB of it free):
    one line naming the file and ENOSPC, status 2, and a file of whole records."""
    with small_disk(tmp_path, 12 * 1024) as mount:
        out = mount / "o.pcapng"
        res = run_cli("-w", str(out), str(SAMPLES / "split-headers.pcap"))
        assert res.returncode == 2
        assert res.stderr.startswith(f"cmppdissect: {out}: No space left on device: the file "
                                     "ends with the last whole frame written (")
        assert res.stderr.count("\n") == 1
        kept = int(res.stderr.rsplit("(", 1)[1].split()[0])
        data = out.read_bytes()
        assert kept > 0
        assert len(list(dpkt.pcapng.Reader(io.BytesIO(data)))) == kept


def _ts_to_ns(raw: int, tsresol: int, tsoffset: int = 0) -> int:
    """The pcapng rule for a stored time, exactly (Python integers): the reference here."""
    if tsresol & 0x80:
        ns = (raw * 10**9) >> (tsresol & 0x7F)
    elif tsresol <= 9:
        ns = raw * 10 ** (9 - tsresol)
    else:
        ns = raw // 10 ** (tsresol - 9)
    return ns + tsoffset * 10**9


def _core_ts(raw: int, tsresol: int, tsoffset: int) -> int:
    """The time the compiled core's walk gives a frame stored as ``raw`` on such an
    interface (a one-frame pcapng walked by FrameReader)."""
    from pcaputil import _block

    shb = _block("<", 0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = struct.pack("<HHB3x", 9, 1, tsresol) + struct.pack("<HHq", 14, 8, tsoffset)
    idb = _block("<", 1, struct.pack("<HHI", 1, 0, 0) + opts + b"\0\0\0\0")
    epb = _block("<", 6, struct.pack("<IIIII", 0, raw >> 32, raw & 0xFFFFFFFF, 0, 0))
    reader = FrameReader([])
    reader.feed(shb + idb + epb)
    got = reader.frame()
    assert got is not None and got[3] == raw
    return got[2]


def test_timestamp_conversions_are_exact_where_they_can_be() -> None:
    for resol in (0, 3, 6, 9, 12, 0x80 | 10, 0x80 | 30):
        for ns in (0, 1, BASE_TS_NS, BASE_TS_NS + 999_999_999):
            raw = ns_to_raw(ns, resol, 7)
            back = _ts_to_ns(raw, resol, 7)
            assert ns - 10**9 < back <= ns  # rounded down to the resolution, never up
            if 0 <= raw < 2**64:  # what a block can store: the core reads it so
                assert _core_ts(raw, resol, 7) == back
    for resol in (0, 3, 6, 9):  # a stored time in ns and back is the same stored time
        for raw in (0, 1, 1_700_000_000_123, 2**63):
            assert ns_to_raw(_ts_to_ns(raw, resol, 7), resol, 7) == raw
    assert _core_ts(1_700_000_000_123_456, 6, 0) == 1_700_000_000_123_456_000
    assert _core_ts(3, 0x80 | 1, 0) == 1_500_000_000
    assert _core_ts(17_000_000_001_234_567_891, 10, 0) == 1_700_000_000_123_456_789
    assert _core_ts(2**63, 0, 0) == 2**63 - 1  # past 2262: clamped, as the analysis has it


# -- the command line -----------------------------------------------------------------------------


def jsonl(*args: str) -> list[dict[str, Any]]:
    res = run_cli("-T", "jsonl", *args)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def pdu_key(rec: dict[str, Any]) -> str:
    """A PDU as the same bytes decode, wherever its frame is in the file."""
    return json.dumps([rec["src"], rec["dst"], rec["command"], rec["sequence_id"],
                       rec["fields"]], sort_keys=True)


def tshark_frames(path: Path) -> int:
    assert TSHARK is not None
    res = subprocess.run([TSHARK, "-r", str(path), "-d", "tcp.port==7890,cmpp"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    return len(res.stdout.splitlines())


SAMPLE_FILTERS = [
    ("cmpp-basic.pcap", 'command == "CMPP_SUBMIT"'),
    ("cmpp20-sp-session.pcapng", 'command == "CMPP_DELIVER"'),
    ("split-headers.pcap", 'command == "CMPP_SUBMIT"'),
    ("tcp-retransmission.pcap", ""),
    ("misbehaving-gateway.pcap", 'command == "CMPP_SUBMIT_RESP"'),
]


@pytest.mark.parametrize("name,expr", SAMPLE_FILTERS)
@pytest.mark.parametrize("out_name", ["out.pcapng", "out.pcap"])
def test_w_writes_the_frames_of_the_matched_pdus(tmp_path: Path, name: str, expr: str,
                                                 out_name: str) -> None:
    sample = SAMPLES / name
    out = tmp_path / out_name
    filt = ("-Y", expr) if expr else ()
    res = run_cli(*filt, "-w", str(out), str(sample))
    assert res.returncode == 0 and res.stdout == "" and res.stderr == "", res.stderr
    analysis = analyze(sample)
    rows = list(analysis.rows(expr or None, carriers=True))
    frames = analysis.frame_file()
    assert frames is not None
    nano = any(i.tsresol != 6 for s in frames.layout.sections for i in s.interfaces)
    assert out.read_bytes()[:4] == (b"\x0a\x0d\x0d\x0a" if out_name.endswith("ng")
                                    else b"\x4d\x3c\xb2\xa1" if nano else b"\xd4\xc3\xb2\xa1")
    matched = jsonl(*filt, str(sample))
    assert matched, "the filter matched nothing: the test would prove nothing"
    # Read back with our own reader: the same PDUs (a filtered file has holes in its TCP
    # streams, so they may be released in another order).
    assert sorted(map(pdu_key, jsonl(*filt, str(out)))) == sorted(map(pdu_key, matched))
    # The frames are the ones the PDUs name, each once, in file order.
    offsets = analysis.frame_records(rows).tolist()
    assert offsets == sorted(set(offsets)) and len(offsets) >= len(rows) // 8
    with frames:
        expected = [frames.read(o).data for o in offsets]
    reader: Any = (dpkt.pcapng.Reader if out_name.endswith("ng") else dpkt.pcap.Reader)(
        out.open("rb"))
    assert [bytes(buf) for _ts, buf in reader] == expected
    if TSHARK is not None:
        assert tshark_frames(out) == len(expected)


def test_w_keeps_original_timestamps_of_a_nanosecond_pcap(tmp_path: Path) -> None:
    out = tmp_path / "x.pcap"
    assert run_cli("-F", "pcap", "-w", str(out), str(SAMPLES / "split-headers.pcap")
                   ).returncode == 0
    src = {bytes(b): ts for ts, b in dpkt.pcap.Reader((SAMPLES / "split-headers.pcap").open(
        "rb"))}
    got = list(dpkt.pcap.Reader(out.open("rb")))
    assert got and all(src[bytes(b)] == ts for ts, b in got)


def test_w_with_a_multi_interface_pcapng(tmp_path: Path) -> None:
    conv = Conversation(link=lambda *a: sll(tcp_packet(*a)))
    eth = Conversation(("192.0.2.20", 40002))
    packets = [(0, BASE_TS_NS + i * 1000, f) for i, f in enumerate(
        conv.handshake() + conv.send(True, submit_pdu(V2, 1)))]
    packets += [(1, BASE_TS_NS + 10**6 + i * 1000, f) for i, f in enumerate(
        eth.handshake() + eth.send(True, submit_pdu(V2, 2)))]
    src = tmp_path / "two.pcapng"
    src.write_bytes(pcapng_bytes([(113, 6), (1, 9)], packets))
    out = tmp_path / "two-out.pcapng"
    res = run_cli("-w", str(out), str(src))
    assert res.returncode == 0, res.stderr
    _rows, core, _ = core_rows(out.read_bytes())
    layout = core.capture_layout()
    assert layout is not None
    assert [(i.linktype, i.tsresol) for i in layout.sections[0].interfaces] == [(113, 6),
                                                                               (1, 9)]
    assert sorted(map(pdu_key, jsonl(str(out)))) == sorted(map(pdu_key, jsonl(str(src))))
    if TSHARK is not None:
        assert tshark_frames(out) == 2
    res = run_cli("-w", str(tmp_path / "two.pcap"), str(src))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"cmppdissect: {tmp_path / 'two.pcap'}: the frames have several link types (Ethernet "
        "(1), Linux cooked (SLL) (113)) and classic pcap holds one: write pcapng (-F pcapng)"]
    assert not (tmp_path / "two.pcap").exists()  # refused: no empty file left behind


def test_w_with_t_prints_the_records_too_and_c_limits(tmp_path: Path) -> None:
    out = tmp_path / "o.pcapng"
    res = run_cli("-Y", 'command == "CMPP_SUBMIT"', "-c", "2", "-T", "jsonl", "-w", str(out),
                  str(SAMPLES / "cmpp-basic.pcap"))
    assert res.returncode == 0, res.stderr
    printed = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["command"] for r in printed] == ["CMPP_SUBMIT", "CMPP_SUBMIT"]
    assert sorted(map(pdu_key, jsonl(str(out)))) == sorted(map(pdu_key, printed))
    res = run_cli("--report", "json", "-w", str(out), str(SAMPLES / "cmpp-basic.pcap"))
    assert json.loads(res.stdout)["frames_written"] == len(list(dpkt.pcapng.Reader(
        out.open("rb"))))


def test_w_to_stdout(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "cmppdissect", "-Y",
                          'command == "CMPP_SUBMIT"', "-w", "-",
                          str(SAMPLES / "cmpp-basic.pcap")], capture_output=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stderr
    assert len(list(dpkt.pcapng.Reader(io.BytesIO(res.stdout)))) == 26


def test_w_with_nothing_matched_writes_an_empty_capture(tmp_path: Path) -> None:
    out = tmp_path / "none.pcapng"
    res = run_cli("-Y", 'command == "CMPP_TERMINATE" and sequence_id == 999999', "-w",
                  str(out), str(SAMPLES / "cmpp-basic.pcap"))
    assert res.returncode == 0, res.stderr
    reader = dpkt.pcapng.Reader(out.open("rb"))
    assert reader.datalink() == 1 and list(reader) == []


@pytest.mark.parametrize("args,words", [
    (("-w", "/dev/full"), "cmppdissect: /dev/full: No space left on device"),
    (("-w", "/nonexistent/dir/o.pcapng"),
     "cmppdissect: /nonexistent/dir/o.pcapng: No such file or directory"),
    (("-F", "pcap"), "cmppdissect: -F sets the format of -w OUT: give -w too"),
    (("-w", str(SAMPLES / "cmpp-basic.pcap")), "that is the capture being read"),
    (("-w", "-", "-T", "jsonl"), "-T and --report cannot go there too"),
])
def test_w_errors_are_one_line_and_nonzero(args: tuple[str, ...], words: str) -> None:
    if args[1] == "/dev/full" and not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    res = run_cli(*args, str(SAMPLES / "cmpp-basic.pcap"))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], res.stderr


def test_w_refuses_inputs_it_cannot_read_again(tmp_path: Path) -> None:
    gz = tmp_path / "c.pcap.gz"
    gz.write_bytes(gzip.compress((SAMPLES / "cmpp-basic.pcap").read_bytes()))
    out = tmp_path / "o.pcapng"
    res = run_cli("-w", str(out), str(gz))
    assert res.returncode == 2
    assert res.stderr.strip() == ("cmppdissect: -w: frames are copied from the capture file, "
                                  f"which must be regular and uncompressed: {gz} is "
                                  "gzip-compressed (gunzip it first)")
    res = subprocess.run([sys.executable, "-m", "cmppdissect", "-w", str(out), "-"],
                         input=(SAMPLES / "cmpp-basic.pcap").read_bytes(),
                         capture_output=True, timeout=120, check=False)
    assert res.returncode == 2
    assert b"<stdin> is not a regular file" in res.stderr


def test_tui_model_has_no_layers_without_a_regular_file(tmp_path: Path) -> None:
    from cmppdissect.api import Analysis
    from cmppdissect.protocol.commands import DEFAULT_PORTS
    from cmppdissect.tui.indexer import Indexer
    from cmppdissect.tui.model import CaptureModel
    from cmppdissect.tui.source import FileSource as TuiSource

    gz = tmp_path / "c.pcap.gz"
    gz.write_bytes(gzip.compress((SAMPLES / "cmpp-basic.pcap").read_bytes()))
    for path, has_layers in ((str(SAMPLES / "cmpp-basic.pcap"), True), (str(gz), False)):
        source = TuiSource(path)
        model = CaptureModel()
        Indexer(source, Analysis(source, {"ports": DEFAULT_PORTS}), model).run()
        assert model.count == 102
        layers = model.frame_layers(3)
        if not has_layers:
            assert layers is None
            continue
        assert layers is not None
        assert [la.name for la in layers] == [f"Frame {model.frame[3]}", "Ethernet II",
                                              "Internet Protocol Version 4",
                                              "Transmission Control Protocol"]
