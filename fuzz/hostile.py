"""Hand-made hostile captures, each run through the whole analysis and its outputs.

    python fuzz/hostile.py [NAME...]      (under the sanitizer build: see fuzz/README.md)

What the fuzzers reach only by luck is built here on purpose: pcapng blocks of impossible
lengths, extreme timestamp resolutions and offsets, broken IP and TCP headers, sequence
numbers that wrap, PDUs with absurd Total_Length, a million tiny PDUs in one stream, tens of
thousands of sessions, responses before their requests. Each case goes through
``fuzz_capture.test_one_input`` (records, report and summary; the capture read whole and in
chunks must mean the same) and prints its time and the process's peak memory, so that a
hang, a blow-up or a sanitizer report shows which input caused it.
"""

from __future__ import annotations

import resource
import struct
import sys
import time
from collections.abc import Callable, Iterator

from common import ROOT

sys.path.insert(0, str(ROOT / "tests"))

from fuzz_capture import test_one_input
from pcaputil import (
    ACK,
    PSH,
    SYN,
    _block,
    ethernet,
    ipv4_packet,
    ipv6_packet,
    pcap_bytes,
    tcp_frame,
    tcp_header,
)

from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.version import Version

CASES: dict[str, Callable[[], Iterator[bytes]]] = {}
CLIENT, SERVER = ("10.0.0.1", 40001), ("10.0.0.2", 7890)
V3 = Version.V3_0


def case(fn: Callable[[], Iterator[bytes]]) -> Callable[[], Iterator[bytes]]:
    CASES[fn.__name__] = fn
    return fn


def raw(capture: bytes, chunk_mode: int = 3) -> bytes:
    """A fuzz_capture input that is the capture itself (mode 0), read again in 7-byte chunks
    (``chunk_mode`` picks the size: see fuzz_capture.CHUNKS)."""
    return bytes([0, chunk_mode]) + capture


def seg(seq: int, ack: int, flags: int, payload: bytes = b"", *, back: bool = False) -> bytes:
    a, b = (SERVER, CLIENT) if back else (CLIENT, SERVER)
    return tcp_frame(*a, *b, seq, ack, flags, payload)


def conversation(requests: list[bytes], responses: list[bytes], *, isn: int = 1000,
                 sisn: int = 5000, handshake: bool = True) -> list[bytes]:
    frames = [seg(isn - 1, 0, SYN), seg(sisn - 1, isn, SYN | ACK, back=True)] if handshake else []
    cseq, sseq = isn, sisn
    for req, resp in zip(requests, responses, strict=False):
        if req:
            frames.append(seg(cseq, sseq, PSH | ACK, req))
            cseq += len(req)
        if resp:
            frames.append(seg(sseq, cseq, PSH | ACK, resp, back=True))
            sseq += len(resp)
    return frames


def ng(blocks: list[bytes], *, resol: int = 9, tsoffset: int | None = None,
       linktype: int = 1, order: str = "<") -> bytes:
    shb = _block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = struct.pack(order + "HH", 9, 1) + bytes([resol, 0, 0, 0])
    if tsoffset is not None:
        opts += struct.pack(order + "HHq", 14, 8, tsoffset)
    opts += b"\0\0\0\0"
    idb = _block(order, 1, struct.pack(order + "HHI", linktype, 0, 0) + opts)
    return shb + idb + b"".join(blocks)


def epb(frame: bytes, *, ts_raw: int = 0, ifid: int = 0, caplen: int | None = None,
        blen: int | None = None, order: str = "<") -> bytes:
    caplen = len(frame) if caplen is None else caplen
    body = struct.pack(order + "IIIII", ifid, ts_raw >> 32, ts_raw & 0xFFFFFFFF, caplen,
                       len(frame)) + frame
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body) if blen is None else blen
    return struct.pack(order + "II", 6, length) + body + struct.pack(order + "I", length)


# -- the container ------------------------------------------------------------------------------


@case
def pcapng_block_lengths() -> Iterator[bytes]:
    frame = seg(1000, 0, SYN)
    for btype in (6, 1, 3, 2, 0x0BAD, 0x0A0D0D0A):
        for length in (0, 4, 8, 12, 13, 27, 28, 31, 0xFFFFFFFC, 0xFFFFFFFF, 4 * 1024 * 1024 + 4):
            block = struct.pack("<II", btype, length) + b"\0" * 24
            yield raw(ng([epb(frame), block, epb(frame)]))
            yield raw(ng([block]), 0)


@case
def pcapng_caplen_past_block() -> Iterator[bytes]:
    frame = seg(1000, 0, SYN)
    for caplen in (len(frame) + 1, len(frame) + 4, 1 << 20, 0xFFFFFFFF):
        yield raw(ng([epb(frame, caplen=caplen), epb(frame)]))
    # A simple packet block whose original length is far above the block, with a snaplen.
    spb = struct.pack("<II", 3, 16 + len(frame) + 2) + struct.pack("<I", 0xFFFFFFFF) + frame
    spb += b"\0" * (-len(spb) % 4)
    yield raw(ng([epb(frame), spb + struct.pack("<I", len(spb) + 4)]))
    # A pcap record longer than the snapshot length, and one longer than any frame.
    for caplen in (70000, 300000, 0xFFFFFFFF):
        yield raw(pcap_bytes([frame, frame], snaplen=64, caplen_override={0: caplen}))


@case
def pcapng_timestamps() -> Iterator[bytes]:
    frames = conversation([encode_pdu(C.CMPP_ACTIVE_TEST, 1, {}, V3)],
                          [encode_pdu(C.CMPP_ACTIVE_TEST_RESP, 1, {}, V3)])
    for resol in (0, 6, 9, 19, 20, 38, 39, 127, 128, 0x80 | 1, 0x80 | 63, 0x80 | 64,
                  0x80 | 127, 255):
        for offset in (None, -(1 << 63), (1 << 63) - 1, -1):
            for ts in ((1 << 64) - 1, 0, 1 << 63, 12345):
                blocks = [epb(f, ts_raw=(ts + i) % (1 << 64)) for i, f in enumerate(frames)]
                yield raw(ng(blocks, resol=resol, tsoffset=offset))
    # Time that runs backwards by the whole range between two frames of one exchange.
    blocks = [epb(f, ts_raw=t) for f, t in zip(frames, (0, (1 << 64) - 1, 0, (1 << 64) - 1),
                                                strict=False)]
    yield raw(ng(blocks, resol=0x80 | 0, tsoffset=-(1 << 63)))


@case
def ip_fragments_at_extreme_times() -> Iterator[bytes]:
    """Fragments of one datagram stamped at the two ends of time (two interfaces)."""
    tcp = tcp_header(40001, 7890, 999, 0, SYN) + b"x" * 16
    first = ethernet(ipv4_packet(*("10.0.0.1", "10.0.0.2"), 6, tcp[:16], ident=7,
                                 more_fragments=True))
    last = ethernet(ipv4_packet(*("10.0.0.1", "10.0.0.2"), 6, tcp[16:], ident=7,
                                frag_offset=16))
    shb = _block("<", 0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))

    def idb(offset: int) -> bytes:
        opts = struct.pack("<HH", 9, 1) + bytes([9, 0, 0, 0])
        opts += struct.pack("<HHq", 14, 8, offset) + b"\0\0\0\0"
        return _block("<", 1, struct.pack("<HHI", 1, 0, 0) + opts)

    low, high = -(1 << 63), (1 << 63) - 1
    for a, b in ((0, 1), (1, 0)):
        yield raw(shb + idb(low) + idb(high) + epb(first, ifid=a) + epb(last, ifid=b)
                  + epb(first, ifid=a) + epb(first, ifid=b))


# -- IP and TCP headers --------------------------------------------------------------------------


@case
def ip_headers() -> Iterator[bytes]:
    tcp = tcp_header(40001, 7890, 999, 0, SYN)
    good = ipv4_packet("10.0.0.1", "10.0.0.2", 6, tcp)
    frames = []
    for ihl in range(0, 16):
        frames.append(ethernet(bytes([0x40 | ihl]) + good[1:]))
    for total in (0, 1, 19, 20, 21, 39, 40, 41, 0xFFFF):
        frames.append(ethernet(good[:2] + struct.pack("!H", total) + good[4:]))
    # IPv6: extension header chains, long and truncated, and a fragment header.
    frames.append(ethernet(ipv6_packet("fe80::1", "fe80::2", 6, tcp,
                                       ext_headers=[(0, b"\0" * 6)] * 1000)))
    for kind in (0, 43, 60, 51, 44):
        frames.append(ethernet(ipv6_packet("fe80::1", "fe80::2", 6, tcp,
                                           ext_headers=[(kind, b"\xff" * 6)])))
        v6 = ipv6_packet("fe80::1", "fe80::2", 6, tcp, ext_headers=[(kind, b"\0" * 6)])
        frames.append(ethernet(v6[:6] + bytes([kind]) + v6[7:41]))
        frames.append(ethernet(v6[:4] + b"\0\0" + v6[6:]))
    # A VLAN stack as long as the frame.
    frames.append(b"\2" * 12 + b"\x81\x00\0\0" * 4000)
    yield raw(pcap_bytes(frames))
    for linktype in (0, 12, 14, 101, 108, 113, 228, 229, 276):
        yield raw(pcap_bytes([f[14:] for f in frames] + [b"", b"\x45", b"\x60"],
                             linktype=linktype))


@case
def tcp_headers() -> Iterator[bytes]:
    pdu = encode_pdu(C.CMPP_ACTIVE_TEST, 1, {}, V3)
    frames = []
    for offset in range(16):
        hdr = bytearray(tcp_header(40001, 7890, 1000, 0, PSH | ACK))
        hdr[12] = (offset << 4) | (hdr[12] & 0x0F)
        frames.append(ethernet(ipv4_packet("10.0.0.1", "10.0.0.2", 6, bytes(hdr) + pdu)))
    for flags in range(0, 0x40):
        frames.append(seg(1000 + flags, 77, flags, pdu))
    yield raw(pcap_bytes(frames))


@case
def sequence_wrap() -> Iterator[bytes]:
    reqs = [encode_pdu(C.CMPP_ACTIVE_TEST, i, {}, V3) for i in range(1, 40)]
    resps = [encode_pdu(C.CMPP_ACTIVE_TEST_RESP, i, {}, V3) for i in range(1, 40)]
    for isn in ((1 << 32) - 100, (1 << 32) - 1, (1 << 31) - 50, (1 << 31)):
        frames = conversation(reqs, resps, isn=isn, sisn=isn ^ 0x80000000)
        yield raw(pcap_bytes(frames))
        # The same, reordered, duplicated and with an ACK far ahead.
        frames = frames[:2] + frames[2:][::-1] + frames[2:]
        frames.append(seg(isn, (isn + (1 << 31) - 1) & 0xFFFFFFFF, ACK, back=True))
        yield raw(pcap_bytes(frames))


# -- CMPP framing and pairing ---------------------------------------------------------------------


@case
def total_length() -> Iterator[bytes]:
    follow = encode_pdu(C.CMPP_ACTIVE_TEST, 9, {}, V3)
    for total in (0, 1, 7, 8, 11, 12, 13, 0x7FFFFFFF, 0xFFFFFFFF, 12 + 151 + 32 * 255 + 256):
        for cmd in (C.CMPP_ACTIVE_TEST, C.CMPP_SUBMIT, C.CMPP_DELIVER, 0x0BAD, 0x80000004):
            bad = struct.pack(">III", total, cmd, 1) + b"\0" * 20
            for handshake in (True, False):
                frames = conversation([bad + follow, follow], [follow, b""],
                                      handshake=handshake)
                yield raw(pcap_bytes(frames))


@case
def million_tiny_pdus() -> Iterator[bytes]:
    """A million PDUs of 12 bytes (ACTIVE_TEST and its answer), 5,000 to a segment."""
    per = 5000
    reqs = [b"".join(encode_pdu(C.CMPP_ACTIVE_TEST, n * per + i, {}, V3) for i in range(per))
            for n in range(100)]
    resps = [b"".join(encode_pdu(C.CMPP_ACTIVE_TEST_RESP, n * per + i, {}, V3)
                      for i in range(per)) for n in range(100)]
    yield raw(pcap_bytes(conversation(reqs, resps)), 7)


@case
def many_sessions() -> Iterator[bytes]:
    """30,000 connections (past max_sessions and the tracker's cap by chunks), each with a
    request that is never answered, and 70,000 bare SYNs."""
    frames = []
    req = encode_pdu(C.CMPP_SUBMIT, 1, {"Registered_Delivery": 1, "Msg_Content": b"hi"}, V3)
    for i in range(30_000):
        ip = f"10.{1 + i // 65000}.{(i // 250) % 250}.{i % 250 + 1}"
        frames.append(tcp_frame(ip, 1024 + i % 60000, "10.0.0.2", 7890, 99, 0, SYN))
        frames.append(tcp_frame(ip, 1024 + i % 60000, "10.0.0.2", 7890, 100, 0, PSH | ACK,
                                req))
    for i in range(70_000):
        frames.append(tcp_frame("10.9.0.1", 1024 + i % 60000, f"10.8.{i // 60000}.1", 7890,
                                5, 0, SYN))
    yield raw(pcap_bytes(frames), 7)


@case
def responses_before_requests() -> Iterator[bytes]:
    reqs = [encode_pdu(C.CMPP_SUBMIT, i, {"Registered_Delivery": 1, "Msg_Content": b"x"}, V3)
            for i in range(1, 200)]
    resps = [encode_pdu(C.CMPP_SUBMIT_RESP, i, {"Msg_Id": i, "Result": 0}, V3)
             for i in range(1, 200)]
    frames = conversation([b""] * len(resps), resps) + conversation(reqs, [b""] * len(reqs))
    yield raw(pcap_bytes(frames))
    # Reports before the SUBMIT_RESP that names their Msg_Id, and reports for nothing.
    report = encode_pdu(C.CMPP_DELIVER, 1, {"Registered_Delivery": 1, "Msg_Content": {
        "Msg_Id": 5, "Stat": b"DELIVRD", "Dest_terminal_Id": b"13800138000"}}, V3)
    yield raw(pcap_bytes(conversation([report] * 50 + reqs[:5], [b""] * 50 + resps[:5])))


@case
def tcp_out_of_order_flood() -> Iterator[bytes]:
    """Many connections, each with a hole at its start and thousands of one-byte pieces past
    it: the per-direction buffer caps must hold."""
    frames = []
    for c in range(40):
        ip = f"10.1.0.{c + 1}"
        frames.append(tcp_frame(ip, 40000, "10.0.0.2", 7890, 999, 0, SYN))
        for k in range(9000):
            frames.append(tcp_frame(ip, 40000, "10.0.0.2", 7890, 1002 + 2 * k, 0, ACK, b"z"))
    yield raw(pcap_bytes(frames), 7)


@case
def long_sms_flood() -> Iterator[bytes]:
    """Parts of 60,000 different long messages (past max_long_sms), none ever complete."""
    reqs = []
    for i in range(60_000):
        udh = bytes([5, 0, 3, i & 0xFF, 3, 1])
        reqs.append(encode_pdu(C.CMPP_SUBMIT, i + 1, {
            "TP_udhi": 1, "Pk_total": 3, "Pk_number": 1, "Msg_Fmt": 0,
            "Dest_terminal_Id": [f"138{i:08d}".encode()], "Msg_Content": udh + b"hello"}, V3))
    batches = [b"".join(reqs[i:i + 250]) for i in range(0, len(reqs), 250)]
    yield raw(pcap_bytes(conversation(batches, [b""] * len(batches))), 7)


def main() -> None:
    names = sys.argv[1:] or list(CASES)
    for name in names:
        start = time.monotonic()
        count = 0
        for data in CASES[name]():
            test_one_input(data)
            count += 1
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"{name:32} {count:5} inputs {time.monotonic() - start:8.1f} s   "
              f"peak RSS {peak} MiB", flush=True)


if __name__ == "__main__":
    main()
