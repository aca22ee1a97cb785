"""Property-based fuzzing of every layer that reads untrusted bytes (issue 6).

Each property states what must hold for *any* input, not for the inputs we thought of: the
decoder and the Scapy layers never raise, the framer is blind to how the stream was cut and
accounts for every byte, the TCP tracker stays within its caps and delivers only bytes that
were sent at the place they were sent, the capture reader ends either with
``CaptureFormatError`` at open or with notes, and the whole engine (and the outputs built from
it) survive random traffic.

The examples per test are fixed by the ``cmpp-fuzz`` profile so that the file runs in bounded
time in CI (about 15 s on two workers). ``CMPP_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py``
runs a longer campaign with the same properties; the coverage-guided harnesses in ``fuzz/``
go further still.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import random
import struct
from collections.abc import Iterable
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pcaputil import (
    ACK,
    BASE_TS_NS,
    FIN,
    PSH,
    RST,
    SYN,
    ipv4_packet,
    pcap_bytes,
    pcapng_bytes,
    sll,
    tcp_frame,
    tcp_stream_frames,
    udp_frame,
)
from strategies import ALL_PDUS, field_values

from cmppdissect.api import Analysis
from cmppdissect.core import FramedPdu, PduFramer, Skipped, TcpTracker, plausible_header
from cmppdissect.core.records import (
    ConnectionClosed,
    ConnectionOpened,
    StreamData,
    StreamEvent,
    StreamGap,
    TcpSegment,
)
from cmppdissect.engine import Engine
from cmppdissect.layers import CMPP, CMPPv2, CMPPv3
from cmppdissect.output.records import dumps, record_dict
from cmppdissect.output.report import build_report
from cmppdissect.output.text import write_summary
from cmppdissect.protocol.commands import DEFAULT_PORTS, HEADER_LEN, KNOWN_COMMANDS, MAX_PDU_LEN
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.content import decode_content
from cmppdissect.protocol.decode import DecodedPdu, decode_pdu
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.expert import Finding, Severity
from cmppdissect.protocol.layouts import LAYOUTS
from cmppdissect.protocol.version import Version
from cmppdissect.sources.file import FileSource
from cmppdissect.sources.segments import CaptureFormatError, CaptureNote, iter_segments
from cmppdissect.store import PduRecord

settings.register_profile(
    "cmpp-fuzz",
    max_examples=int(os.environ.get("CMPP_FUZZ_EXAMPLES", "600")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)
FUZZ = settings(settings.get_profile("cmpp-fuzz"))
# The whole-pipeline properties cost more per example; they get a third of the budget.
FUZZ_HEAVY = settings(FUZZ, max_examples=max(20, FUZZ.max_examples // 3))

HINTS = st.sampled_from([None, Version.V2_0, Version.V3_0])
M32 = 1 << 32


# -- generators --------------------------------------------------------------------------------


@st.composite
def valid_pdus(draw: st.DrawFn) -> bytes:
    """A well-formed PDU of any command and version, with field values from its layout."""
    command, version = draw(st.sampled_from(ALL_PDUS))
    values = draw(field_values(LAYOUTS[(command, version)], max_recipients=3))
    return encode_pdu(command, draw(st.integers(0, M32 - 1)), values, version)


_COMMANDS = sorted(KNOWN_COMMANDS)


def _mutate(data: bytearray, op: int, at: int, value: int) -> None:
    """One mutation of the kinds real damage produces: flip, cut, insert, drop, lie in a length."""
    if op == 0 and data:
        data[at % len(data)] = value & 0xFF
    elif op == 1:
        del data[at % (len(data) + 1):]
    elif op == 2:
        pos = at % (len(data) + 1)
        data[pos:pos] = bytes([value & 0xFF]) * (1 + value % 7)
    elif op == 3 and data:
        pos = at % len(data)
        del data[pos:pos + 1 + value % 13]
    elif op == 4 and len(data) >= 4:
        lies = (0, 1, 11, 12, 13, len(data), len(data) + 1, len(data) - 1, M32 - 1, value)
        data[0:4] = struct.pack(">I", lies[at % len(lies)] % M32)
    elif op == 5 and len(data) >= 8:  # another command's body under this header, or none
        known = _COMMANDS[value % len(_COMMANDS)]
        data[4:8] = struct.pack(">I", known if at % 3 else value)


MUTATIONS = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 1 << 16), st.integers(0, M32 - 1)), max_size=4)


@st.composite
def damaged_pdus(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(valid_pdus()))
    for op, at, value in draw(MUTATIONS):
        _mutate(data, op, at, value)
    return bytes(data)


ANY_PDU_BYTES = st.one_of(st.binary(max_size=400), valid_pdus(), damaged_pdus())


def is_clean(data: bytes, hint: Version | None = None) -> bool:
    """The core decoder finds nothing wrong with the length or the layout of ``data``."""
    pdu = decode_pdu(data, hint)
    return pdu.Total_Length == len(data) and not [
        f for f in pdu.findings if f.severity >= Severity.ERROR]


def check_findings(pdu: DecodedPdu) -> None:
    assert isinstance(pdu, DecodedPdu)
    assert all(isinstance(f, Finding) and isinstance(f.severity, Severity) for f in pdu.findings)


# -- decoder -----------------------------------------------------------------------------------


@FUZZ
@given(data=ANY_PDU_BYTES, hint=HINTS)
def test_decode_pdu_never_raises_and_explains_bad_lengths(data: bytes,
                                                          hint: Version | None) -> None:
    pdu = decode_pdu(data, hint)
    check_findings(pdu)
    codes = {f.code for f in pdu.findings}
    if len(data) < HEADER_LEN:
        assert codes == {"short-header"}
        return
    total, cmd, seq = struct.unpack_from(">III", data)
    assert (pdu.Total_Length, pdu.Command_Id, pdu.Sequence_Id) == (total, cmd, seq)
    if total < HEADER_LEN:
        assert "total-length-short" in codes
    elif total > len(data):
        assert "pdu-truncated" in codes
    if cmd not in KNOWN_COMMANDS:
        assert "unknown-command" in codes
    # Text decoding is lazy; it must not raise either, nor the record built for the outputs.
    _ = pdu.content
    rec = PduRecord(1, BASE_TS_NS, 0, True, "10.0.0.1:1", "10.0.0.2:7890", pdu)
    text = dumps(record_dict(rec))
    assert "\x1b" not in text and "\x9b" not in text


@FUZZ
@given(data=valid_pdus(), hint=HINTS)
def test_valid_pdus_decode_without_errors(data: bytes, hint: Version | None) -> None:
    """Control for the property above: the generator's PDUs are not malformed by accident."""
    pdu = decode_pdu(data, hint)
    assert pdu.Total_Length == len(data)
    assert not [f for f in pdu.findings if f.code in ("body-short", "body-long",
                                                      "pdu-truncated", "short-header")]


@FUZZ
@given(content=st.binary(max_size=300), fmt=st.integers(0, 255), udhi=st.integers(0, 255),
       pk_total=st.none() | st.integers(0, 255), pk_number=st.none() | st.integers(0, 255))
def test_decode_content_never_raises(content: bytes, fmt: int, udhi: int, pk_total: int | None,
                                     pk_number: int | None) -> None:
    dec = decode_content(content, fmt, udhi, Pk_total=pk_total, Pk_number=pk_number)
    assert dec.text is None or isinstance(dec.text, str)
    assert all(isinstance(f, Finding) for f in dec.findings)


# -- Scapy layers ------------------------------------------------------------------------------


@FUZZ
@given(data=ANY_PDU_BYTES, header=st.sampled_from([CMPP, CMPPv2, CMPPv3]))
def test_scapy_layers_never_raise_and_rebuild_clean_pdus(data: bytes, header: type[CMPP]) -> None:
    pkt = header(data)
    shown = pkt.show(dump=True)
    assert shown and "CMPP" in shown
    pkt.summary()
    assert all(isinstance(f, Finding) for f in pkt.expert())
    rebuilt = bytes(pkt)
    if is_clean(data, header.preferred_version):
        assert rebuilt == data
    if data:
        # Dissection keeps every byte it was given, clean or not (bodies cache their bytes).
        assert rebuilt == data


# -- framer ------------------------------------------------------------------------------------


def chunked(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def frame_all(framer: PduFramer, chunks: list[bytes]) -> tuple[list[bytes], int, int]:
    """PDU bytes, skipped byte count (close included), frames of the PDUs are plausible."""
    pdus: list[bytes] = []
    skipped = 0
    for i, chunk in enumerate(chunks, 1):
        for ev in framer.feed(chunk, i, i * 1000):
            if isinstance(ev, FramedPdu):
                assert ev.first_frame <= ev.frame <= i
                pdus.append(ev.data)
            else:
                assert isinstance(ev, Skipped) and ev.size > 0
                skipped += ev.size
        # Unsynced, the framer keeps at most one candidate PDU it could not check yet.
        if not framer.synced:
            assert framer.buffered < MAX_PDU_LEN
    for ev in framer.close(len(chunks), 0):
        skipped += ev.size
    return pdus, skipped, framer.buffered


STREAMS = st.lists(st.one_of(valid_pdus(), damaged_pdus(), st.binary(min_size=1, max_size=60)),
                   max_size=8)


@FUZZ
@given(parts=STREAMS, cuts=st.lists(st.integers(0, 1 << 16), max_size=30),
       synced=st.booleans())
def test_framer_is_blind_to_chunking_and_accounts_for_every_byte(
    parts: list[bytes], cuts: list[int], synced: bool
) -> None:
    data = b"".join(parts)
    whole, skipped_whole, left = frame_all(PduFramer(synced=synced), [data] if data else [])
    split, skipped_split, _ = frame_all(PduFramer(synced=synced), chunked(data, cuts))
    bytewise, _, _ = frame_all(PduFramer(synced=synced), chunked(data, range(len(data))))
    assert whole == split == bytewise
    assert skipped_whole == skipped_split
    assert left == 0
    assert sum(map(len, whole)) + skipped_whole == len(data)
    # Every PDU handed up has a plausible header and its own Total_Length.
    for pdu in whole:
        total, cmd = struct.unpack_from(">II", pdu)
        assert total == len(pdu) and plausible_header(total, cmd)


@FUZZ
@given(before=st.lists(valid_pdus(), max_size=3), garbage=st.binary(min_size=1, max_size=200),
       after=st.lists(valid_pdus(), min_size=1, max_size=3),
       cuts=st.lists(st.integers(0, 1 << 16), max_size=20), gap=st.booleans())
def test_framer_resynchronises_after_garbage(before: list[bytes], garbage: bytes,
                                             after: list[bytes], cuts: list[int],
                                             gap: bool) -> None:
    tail = b"".join(after)
    probe = garbage + tail
    # Garbage that happens to hold a plausible header could legitimately swallow what follows.
    assume(not any(plausible_header(*struct.unpack_from(">II", probe, i))
                   for i in range(len(garbage)) if i + 8 <= len(probe)))
    framer = PduFramer()
    head_pdus, head_skipped, _ = frame_all(framer, chunked(b"".join(before), cuts))
    framer = PduFramer()
    got: list[bytes] = []
    for chunk in chunked(b"".join(before), cuts):
        got += [e.data for e in framer.feed(chunk, 1, 0) if isinstance(e, FramedPdu)]
    if gap:
        framer.gap(len(garbage), 2, 0)  # the garbage stands for bytes the capture lost
        stream = tail
    else:
        stream = garbage + tail
    for chunk in chunked(stream, cuts):
        got += [e.data for e in framer.feed(chunk, 3, 0) if isinstance(e, FramedPdu)]
    assert head_skipped == 0 and head_pdus == before
    assert got == [*before, *after]


# -- TCP tracker -------------------------------------------------------------------------------


def seg(frame: int, src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: int,
        payload: bytes = b"", ts_ns: int | None = None) -> TcpSegment:
    return TcpSegment(frame, frame * 1000 if ts_ns is None else ts_ns, f"{src[0]}:{src[1]}",
                      f"{dst[0]}:{dst[1]}", src[0], src[1], dst[0], dst[1], seq % M32, ack % M32,
                      flags, payload)


def check_tracker_bounds(tracker: TcpTracker) -> None:
    """The caps the tracker promises, checked after every segment."""
    tracker.check_invariants()


def direction_view(events: list[StreamEvent], conn: int, from_client: bool) -> list[int | None]:
    """The delivered stream of one direction, None for each byte declared missing."""
    out: list[int | None] = []
    for ev in events:
        if isinstance(ev, StreamData) and ev.conn == conn and ev.from_client == from_client:
            out.extend(ev.data)
        elif isinstance(ev, StreamGap) and ev.conn == conn and ev.from_client == from_client:
            assert ev.missing > 0
            out.extend([None] * ev.missing)
    return out


CLIENT, SERVER = ("10.0.0.1", 40001), ("10.0.0.2", 7890)


@FUZZ
@given(
    data=st.binary(min_size=1, max_size=1500),
    isn=st.one_of(st.integers(M32 - 2000, M32 - 1), st.integers(0, M32 - 1)),
    seed=st.integers(0, 2**32),
    drop=st.floats(0, 0.4),
    syn=st.booleans(),
    caps=st.sampled_from([(1 << 20, 8192), (300, 8192), (1 << 20, 4), (64, 2)]),
)
def test_tracker_reorder_duplicate_overlap_wrap(data: bytes, isn: int, seed: int, drop: float,
                                                syn: bool, caps: tuple[int, int]) -> None:
    """Whatever the order, duplicates and overlaps, delivered bytes sit where they were sent."""
    rng = random.Random(seed)
    pieces: list[tuple[int, int]] = []
    pos = 0
    while pos < len(data):
        size = rng.randrange(1, 120)
        pieces.append((pos, min(len(data), pos + size)))
        pos += size
    for _ in range(rng.randrange(6)):  # overlapping retransmissions that straddle pieces
        lo = rng.randrange(len(data))
        pieces.append((lo, min(len(data), lo + rng.randrange(1, 300))))
    pieces = [p for p in pieces if rng.random() >= drop]
    rng.shuffle(pieces)
    pieces += [pieces[i] for i in range(len(pieces)) if rng.random() < 0.2]  # duplicates
    frame = itertools.count(1)
    segs = [seg(next(frame), CLIENT, SERVER, isn, 0, SYN)] if syn else []
    for lo, hi in pieces:
        segs.append(seg(next(frame), CLIENT, SERVER, isn + 1 + lo, 7, PSH | ACK, data[lo:hi]))
        if rng.random() < 0.3:  # the server's ACK, possibly for bytes we never got
            segs.append(seg(next(frame), SERVER, CLIENT, 7, isn + 1 + rng.randrange(len(data) + 1),
                            ACK))
    tracker = TcpTracker(max_buffered=caps[0], max_pieces=caps[1])
    events: list[StreamEvent] = []
    for s in segs:
        events += tracker.feed(s)
        check_tracker_bounds(tracker)
    events += tracker.finish()
    assert tracker.tracked == 0
    for conn in {e.conn for e in events if isinstance(e, ConnectionOpened)}:
        view = direction_view(events, conn, True)
        if syn:
            # With the SYN, positions are absolute: every delivered byte is the byte sent there.
            assert len(view) <= len(data)
            assert all(b is None or b == data[i] for i, b in enumerate(view))
        else:
            # Picked up mid-stream: the stream starts at the first segment seen, so the view
            # is a contiguous window of the data starting there.
            first = (segs[0].seq - isn - 1) % M32
            assert all(b is None or b == data[first + i] for i, b in enumerate(view))
    closes = [e for e in events if isinstance(e, ConnectionClosed)]
    opens = [e for e in events if isinstance(e, ConnectionOpened)]
    assert sorted(e.conn for e in closes) == sorted(e.conn for e in opens)


ENDPOINTS = [("10.0.0.1", 40001), ("10.0.0.1", 40002), ("10.0.0.2", 7890), ("10.0.0.3", 80)]
RANDOM_SEGMENT = st.tuples(
    st.sampled_from(ENDPOINTS), st.sampled_from(ENDPOINTS),
    st.one_of(st.integers(0, 3000), st.integers(M32 - 3000, M32 - 1), st.integers(0, M32 - 1)),
    st.one_of(st.integers(0, 3000), st.integers(0, M32 - 1)),
    st.integers(0, 0x3F), st.binary(max_size=80),
)


@FUZZ
@given(raw=st.lists(RANDOM_SEGMENT, max_size=60),
       caps=st.sampled_from([(1 << 20, 8192, 65536), (100, 3, 2), (0, 0, 1)]))
def test_tracker_survives_random_segments_within_caps(
    raw: list[tuple[Any, ...]], caps: tuple[int, int, int]
) -> None:
    tracker = TcpTracker(max_buffered=caps[0], max_pieces=caps[1], max_connections=caps[2])
    events: list[StreamEvent] = []
    for frame, (src, dst, sq, ak, flags, payload) in enumerate(raw, 1):
        if src == dst:
            continue
        events += tracker.feed(seg(frame, src, dst, sq, ak, flags, payload))
        check_tracker_bounds(tracker)
    events += tracker.finish()
    opened = {e.conn for e in events if isinstance(e, ConnectionOpened)}
    closed = [e.conn for e in events if isinstance(e, ConnectionClosed)]
    assert sorted(closed) == sorted(opened)  # each connection closes exactly once
    for ev in events:
        if isinstance(ev, (StreamData, StreamGap)):
            assert ev.conn in opened


# -- capture reader ----------------------------------------------------------------------------


def _sample_frames() -> list[bytes]:
    pdus = [encode_pdu(C.CMPP_CONNECT, 1, {"Source_Addr": b"900001", "Version": 0x30},
                       Version.V3_0),
            encode_pdu(C.CMPP_ACTIVE_TEST, 2, {}, Version.V3_0)]
    frames = tcp_stream_frames(("192.0.2.1", 40000), ("198.51.100.2", 7890), pdus)
    frames.append(udp_frame("192.0.2.1", 53, "198.51.100.2", 53, b"dns"))
    big = tcp_frame("192.0.2.1", 40000, "198.51.100.2", 7890, 9999, 1, ACK, b"Z" * 900)
    ip = big[14:]
    frames.append(ip)  # raw IP on an Ethernet link: malformed for the reader
    body = ip[20:]
    for off in (0, 400):  # two fragments of one datagram, the last one missing
        frag = ipv4_packet("192.0.2.1", "198.51.100.2", 6, body[off:off + 400], ident=9,
                           frag_offset=off, more_fragments=True)
        frames.append(frames[0][:14] + frag)
    return frames


_FRAMES = _sample_frames()
_CONTAINERS: dict[str, bytes] = {
    "pcap": pcap_bytes(_FRAMES),
    "pcap-be-nano": pcap_bytes(_FRAMES, big_endian=True, nano=True),
    "pcapng": pcapng_bytes([(1, 6), (113, 9)], [
        (i % 2, BASE_TS_NS + i, f if i % 2 == 0 else sll(f[14:])) for i, f in enumerate(_FRAMES)]),
}
_CONTAINERS["pcap.gz"] = gzip.compress(_CONTAINERS["pcap"], mtime=0)
_CONTAINERS["pcapng.gz"] = gzip.compress(_CONTAINERS["pcapng"], mtime=0)


def read_capture(data: bytes) -> tuple[list[TcpSegment], list[CaptureNote]] | None:
    """None when the reader refused the input at open (the only exception it may raise)."""
    notes: list[CaptureNote] = []
    try:
        segments = iter_segments(io.BytesIO(data), notes=notes)
    except CaptureFormatError as exc:
        assert "\n" not in str(exc) and str(exc)
        return None
    return list(segments), notes


@FUZZ
@given(kind=st.sampled_from(sorted(_CONTAINERS)),
       ops=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1 << 20), st.integers(0, 255)),
                    min_size=1, max_size=12))
def test_reader_on_mutated_files_ends_in_notes_or_format_error(
    kind: str, ops: list[tuple[int, int, int]]
) -> None:
    data = bytearray(_CONTAINERS[kind])
    for op, at, value in ops:
        _mutate(data, op, at, value)
    result = read_capture(bytes(data))
    if result is None:
        return
    segs, notes = result
    assert all(isinstance(n, CaptureNote) and n.severity in ("chat", "note", "warn", "error")
               for n in notes)
    assert all(isinstance(s, TcpSegment) for s in segs)
    frames = [s.frame for s in segs]
    assert frames == sorted(frames) and len(set(frames)) == len(frames)
    # Notes are bounded: a damaged file cannot flood the user.
    assert len(notes) <= 120


@FUZZ
@given(data=st.binary(max_size=600))
def test_reader_on_random_bytes_behind_a_valid_header(data: bytes) -> None:
    for head in (_CONTAINERS["pcap"][:24], _CONTAINERS["pcapng"][:28]):
        result = read_capture(head + data)
        if result is not None:
            assert all(isinstance(n, CaptureNote) for n in result[1])


# -- the whole engine --------------------------------------------------------------------------


def run_engine(segs: list[TcpSegment], **kw: Any) -> tuple[Engine, list[PduRecord]]:
    """The segments written as a real pcap (Ethernet, IPv4, TCP) and read by the one driver."""
    frames = [(s.ts_ns, tcp_frame(s.src_ip, s.src_port, s.dst_ip, s.dst_port, s.seq, s.ack,
                                  s.flags, s.payload)) for s in segs]
    analysis = Analysis(FileSource(io.BytesIO(pcap_bytes(frames, nano=True))),
                        {"ports": kw.pop("ports", DEFAULT_PORTS), **kw})
    records = list(analysis.pdus())
    assert analysis.engine is not None and analysis.store is not None
    assert {r.session for r in records} <= set(analysis.store.endpoints)
    return analysis.engine, records


def check_outputs(an: Engine, records: list[PduRecord]) -> None:
    """Everything a user can ask for is built without raising and holds no raw escapes."""
    for rec in records:
        text = dumps(record_dict(rec))
        assert "\x1b" not in text and "\x9b" not in text
    report = build_report(an)
    text = dumps(report)
    assert "\x1b" not in text and "\x9b" not in text
    out = io.StringIO()
    write_summary(report, out)
    assert "\x1b" not in out.getvalue() and "\x9b" not in out.getvalue()


PAYLOADS = st.one_of(valid_pdus(), damaged_pdus(), st.binary(max_size=100),
                     st.lists(valid_pdus(), min_size=2, max_size=4).map(b"".join))


@FUZZ_HEAVY
@given(raw=st.lists(st.tuples(st.sampled_from(ENDPOINTS), st.sampled_from(ENDPOINTS),
                              st.integers(0, 3000), st.integers(0, 3000),
                              st.sampled_from([ACK, PSH | ACK, SYN, SYN | ACK, FIN | ACK, RST,
                                               0]),
                              PAYLOADS, st.integers(0, 10**12)),
                    max_size=40),
       version=HINTS)
def test_analyzer_on_random_segments(raw: list[tuple[Any, ...]], version: Version | None) -> None:
    segs = []
    for frame, (src, dst, sq, ak, flags, payload, dt) in enumerate(raw, 1):
        if src != dst:
            segs.append(seg(frame, src, dst, sq, ak, flags, payload, BASE_TS_NS + dt))
    an, records = run_engine(segs, version=version, timeout_s=1.0)
    check_outputs(an, records)


@FUZZ_HEAVY
@given(pdus=st.lists(st.one_of(valid_pdus(), damaged_pdus()), min_size=1, max_size=12),
       cuts=st.lists(st.integers(0, 1 << 16), max_size=12), seed=st.integers(0, 2**32),
       port=st.sampled_from([7890, 7900, 5018]))
def test_analyzer_on_one_mangled_session(pdus: list[bytes], cuts: list[int], seed: int,
                                         port: int) -> None:
    """A real-looking connection (handshake, both directions) with damaged PDUs, reordered."""
    rng = random.Random(seed)
    cli, srv = ("10.1.1.1", 45000), ("10.1.1.2", port)
    seqs = {True: 1000, False: 9000}
    sent = {True: 0, False: 0}
    wire: list[tuple[bool, int, bytes]] = []
    for pdu in pdus:
        fc = rng.random() < 0.6
        for chunk in chunked(pdu, cuts):
            wire.append((fc, seqs[fc], chunk))
            seqs[fc] += len(chunk)
        sent[fc] += len(pdu)
    for i in range(len(wire)):  # local reordering
        j = min(len(wire) - 1, i + rng.randrange(3))
        wire[i], wire[j] = wire[j], wire[i]
    segs = [seg(1, cli, srv, 999, 0, SYN), seg(2, srv, cli, 8999, 1000, SYN | ACK)]
    for fc, sq, chunk in wire:
        src, dst = (cli, srv) if fc else (srv, cli)
        # Acknowledge nothing new: an ACK ahead of reordered data would rightly be a gap.
        segs.append(seg(len(segs) + 1, src, dst, sq, 9000 if fc else 1000, PSH | ACK, chunk,
                        BASE_TS_NS + len(segs) * 1_000_000))
    segs += [seg(len(segs) + 1, cli, srv, seqs[True], seqs[False], FIN | ACK),
             seg(len(segs) + 2, srv, cli, seqs[False], seqs[True] + 1, FIN | ACK)]
    an, records = run_engine(segs, ports=(7890, 7900))
    check_outputs(an, records)
    # PDUs are cut out of the bytes sent, never invented: per direction they cannot add up to
    # more, and undamaged PDUs on a CMPP port all come out.
    for fc in (True, False):
        assert sum(len(r.pdu.raw) for r in records if r.from_client == fc) <= sent[fc]
    if port != 5018 and all(is_clean(p) and plausible_header(*struct.unpack_from(">II", p))
                            for p in pdus):
        assert sorted(r.pdu.raw for r in records) == sorted(pdus)
