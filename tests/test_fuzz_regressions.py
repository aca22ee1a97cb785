"""Inputs that broke the compiled core under the sanitizers (fuzz/README.md, "Runs so far").

Each test builds its input in place (no files) and names what was wrong. Signed overflow is
only reported by UndefinedBehaviorSanitizer (``CMPPDISSECT_SANITIZE=address``, which also turns
off ``-fwrapv``); in a normal build the same input wraps silently, so each test checks the
behaviour that the wrap got wrong as well, and fails without the fix in either build.
"""

from __future__ import annotations

import io
import struct

import pytest

from cmppdissect import analyze
from cmppdissect.core import CaptureReader, Core, Ipv4Reassembler, SegmentList
from cmppdissect.engine import Engine
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.version import Version

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
V3 = Version.V3_0
CLIENT, SERVER = ("10.0.0.1", 40001), ("10.0.0.2", 7890)


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def _pcapng(offsets_s: list[int], packets: list[tuple[int, bytes]]) -> bytes:
    """One section; an Ethernet interface (nanoseconds) per ``if_tsoffset``; EPBs at raw time
    0 on interface ``ifid``: every frame of an interface is stamped with its offset."""
    out = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for offset in offsets_s:
        options = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HHq", 14, 8, offset)
        out += _block(1, struct.pack("<HHI", 1, 0, 0) + options + b"\0\0\0\0")
    for ifid, frame in packets:
        out += _block(6, struct.pack("<IIIII", ifid, 0, 0, len(frame), len(frame)) + frame)
    return out


def _ipv4(src: str, dst: str, payload: bytes, *, ident: int = 1, offset: int = 0,
          more: bool = False) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident,
                       (offset // 8) | (0x2000 if more else 0), 64, 6, 0,
                       bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    return b"\2\0\0\0\0\2\2\0\0\0\0\1\x08\x00" + head + payload


def _tcp(src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: int,
         payload: bytes = b"") -> bytes:
    return struct.pack("!HHIIHHHH", src[1], dst[1], seq, ack, (5 << 12) | flags, 65535, 0,
                       0) + payload


# -- IPv4 fragments at both ends of time ----------------------------------------------------


def test_fragment_expiry_saturates_at_the_ends_of_time() -> None:
    """UBSan: ``now - first_ts`` in Ipv4Reassembler._expire overflowed int64 for a fragment
    stamped near -2**63 followed by one near 2**63 (pcapng if_tsoffset puts them there). With
    -fwrapv the difference wrapped to -1, so a fragment older than the timeout by the whole
    range of time was still joined to the next one. The difference now saturates: it expires."""
    frag = Ipv4Reassembler()
    key = (b"\x0a\0\0\1", b"\x0a\0\0\2", 6, 7)
    assert frag.add(key, 0, True, b"A" * 8, INT64_MIN) is None
    assert frag.add(key, 8, False, b"B" * 4, INT64_MAX) is None
    assert frag.dropped == 1 and len(frag) == 1
    # Time running backwards by the whole range is no expiry (as for any step back).
    frag = Ipv4Reassembler()
    assert frag.add(key, 0, True, b"A" * 8, INT64_MAX) is None
    assert frag.add(key, 8, False, b"B" * 4, INT64_MIN) == b"A" * 8 + b"B" * 4


def test_fragments_on_interfaces_at_both_ends_of_time_through_the_reader() -> None:
    """The same through the capture reader: two interfaces whose if_tsoffset are -2**63 and
    2**63 - 1 s (saturated to the int64 range of ns), one fragment on each."""
    tcp = _tcp(CLIENT, SERVER, 999, 0, 0x02, b"x" * 12)  # 32 bytes: 16 + 16
    first = _ipv4(CLIENT[0], SERVER[0], tcp[:16], ident=7, more=True)
    last = _ipv4(CLIENT[0], SERVER[0], tcp[16:], ident=7, offset=16)
    capture = _pcapng([INT64_MIN, INT64_MAX], [(0, first), (1, last)])
    sink, notes = SegmentList(), []
    reader = CaptureReader(sink, notes)
    reader.feed(capture)
    reader.finish()
    assert reader.ip_fragments == 2
    assert reader.reassembled == 0 and sink.items == []
    assert any("1 incomplete" in note.message for note in notes)
    # In the other order (time steps back) the datagram is joined.
    reader = CaptureReader(sink, [])
    reader.feed(_pcapng([INT64_MAX, INT64_MIN], [(0, first), (1, last)]))
    reader.finish()
    assert reader.reassembled == 1 and len(sink.items) == 1


# -- caps below 1 -------------------------------------------------------------------------------


@pytest.mark.parametrize("cap", ["max_sessions", "max_pending", "max_awaiting_reports",
                                 "max_long_sms"])
@pytest.mark.parametrize("value", [0, -1])
def test_a_cap_below_one_is_refused(cap: str, value: int) -> None:
    """ASan: with ``max_pending=0`` (or max_sessions, max_awaiting_reports, max_long_sms 0 or
    below), the first entry found its list "full" and the core dropped the oldest entry of an
    empty std::list: front() and pop_front() on nothing (a wild free, or a NULL Session). Caps
    are limits the API takes from its caller (``analyze(path, max_pending=...)``); one below 1
    is now a ValueError before anything is read."""
    with pytest.raises(ValueError, match=cap):
        Core(**{cap: value})
    with pytest.raises(ValueError, match=cap):
        Engine(**{cap: value})
    capture = _pcapng([0], [(0, _ipv4(CLIENT[0], SERVER[0], _tcp(CLIENT, SERVER, 9, 0, 0x02)))])
    with pytest.raises(ValueError, match=cap):
        analyze(io.BytesIO(capture), **{cap: value}).report()
    # 1 is the least cap, and works.
    assert len(analyze(io.BytesIO(capture), **{cap: 1}).report()["sessions"]) == 1


def test_max_pending_is_read_only() -> None:
    """The cap was a public attribute of the core, so ``core.max_pending = 0`` bypassed any
    check of the constructor; it is read-only now, like the other caps."""
    core = Core()
    with pytest.raises(AttributeError):
        core.max_pending = 0  # type: ignore[misc]


# -- latency sums --------------------------------------------------------------------------------


def test_submit_latency_sum_saturates() -> None:
    """UBSan: the per-second sum of SUBMIT latencies (``slot.first += latency``) overflowed
    int64 when two SUBMIT_RESPs of one second each answered a SUBMIT 6e18 ns (190 years)
    earlier, which pairs with a timeout of centuries (``analyze(..., timeout_s=9.2e9)``); with
    -fwrapv the mean latency of that second came out negative. The sum now saturates."""
    packets = []
    cseq, sseq = 1000, 5000
    for seq in (1, 2):
        req = encode_pdu(C.CMPP_SUBMIT, seq, {"Registered_Delivery": 1, "Msg_Content": b"x"},
                         V3)
        resp = encode_pdu(C.CMPP_SUBMIT_RESP, seq, {"Msg_Id": seq, "Result": 0}, V3)
        packets.append((0, _ipv4(CLIENT[0], SERVER[0],
                                 _tcp(CLIENT, SERVER, cseq, sseq, 0x18, req))))
        cseq += len(req)
        packets.append((1, _ipv4(SERVER[0], CLIENT[0],
                                 _tcp(SERVER, CLIENT, sseq, cseq, 0x18, resp))))
        sseq += len(resp)
    capture = _pcapng([-3_000_000_000, 3_000_000_000], packets)
    an = analyze(io.BytesIO(capture), timeout_s=9.2e9)
    report = an.report()
    assert report["pdus"] == 4
    means = [m for m in report["over_time"]["submit_latency_ms"] if m is not None]
    assert len(means) == 1
    assert 0 < means[0] <= INT64_MAX / 2 / 1e6
    assert an.engine is not None
    assert sorted(an.latency_samples("CMPP_SUBMIT")) == [6 * 10**18] * 2


def test_an_enhanced_packet_block_of_a_length_not_a_multiple_of_4_whatever_the_chunks() -> None:
    """fuzz_reader: an EPB whose length (119) is not a multiple of 4 was read as a frame when
    the whole block was in one chunk (the EPB fast path did not check the length) and refused
    as corrupt when it came in pieces. Both now refuse it, at the same frame."""
    from cmppdissect.core import FrameReader

    epb = struct.pack("<IIIII", 0, 0, 0, 8, 8) + b"\xaa" * 8
    good = _block(6, epb)
    bad = bytearray(_block(6, epb + b"\0" * 84))
    struct.pack_into("<I", bad, 4, 119)
    data = (_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
            + _block(1, struct.pack("<HHI", 1, 0, 0)) + good + bytes(bad) + good)

    def frames_of(chunk: int) -> tuple[list[bytes], list[str]]:
        notes: list = []
        reader = FrameReader(notes)
        got = []
        for at in range(0, len(data), chunk):
            reader.feed(data[at:at + chunk])
            while (frame := reader.frame()) is not None:
                got.append(frame[5])
                reader.next()
        reader.finish()
        return got, [f"{n.frame} {n.message}" for n in notes]

    whole = frames_of(1 << 20)
    assert whole == frames_of(7) == frames_of(1)
    assert whole == ([b"\xaa" * 8], ["2 corrupt pcapng block (length 119); reading stops"])
    notes: list = []
    reader = CaptureReader(SegmentList(), notes)
    reader.feed(data)
    reader.finish()
    assert reader.frames == 1
    assert [n.message for n in notes if "119" in n.message] == [
        "corrupt pcapng block (length 119); reading stops"]
