"""The PDU framer: any split of the stream gives the same PDUs; damage is skipped and said."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from cmppdissect.core import FramedPdu, PduFramer, Skipped, plausible_header
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.version import Version

V2 = Version.V2_0


def stream() -> list[bytes]:
    return [
        encode_pdu(C.CMPP_CONNECT, 1, {"Source_Addr": b"900001", "Version": 0x20}, V2),
        encode_pdu(C.CMPP_SUBMIT, 2, {"Dest_terminal_Id": [b"13800138000"] * 3,
                                      "Msg_Content": b"x" * 140}, V2),
        encode_pdu(C.CMPP_ACTIVE_TEST, 3, {}, V2),
        encode_pdu(C.CMPP_SUBMIT, 4, {"Dest_terminal_Id": [b"1"] * 100,
                                      "Msg_Content": b"y" * 160}, V2),
        encode_pdu(C.CMPP_TERMINATE, 5, {}, V2),
    ]


def run(framer: PduFramer, chunks: list[bytes]) -> tuple[list[FramedPdu], list[Skipped]]:
    pdus, skipped = [], []
    for i, chunk in enumerate(chunks):
        for ev in framer.feed(chunk, i + 1, i * 1000):
            (pdus if isinstance(ev, FramedPdu) else skipped).append(ev)
    for ev in framer.close(len(chunks), 0):
        skipped.append(ev)  # type: ignore[arg-type]
    return pdus, skipped


def test_byte_at_a_time_and_whole() -> None:
    pdus = stream()
    data = b"".join(pdus)
    one, _ = run(PduFramer(), [data])
    bytewise, skipped = run(PduFramer(), [data[i:i + 1] for i in range(len(data))])
    assert [p.data for p in one] == [p.data for p in bytewise] == pdus
    assert skipped == []
    # the frame that completes a PDU is its frame; the 2398-byte SUBMIT spans many
    assert bytewise[1].frame == len(pdus[0]) + len(pdus[1])
    assert bytewise[1].first_frame == len(pdus[0]) + 1


@given(st.lists(st.integers(1, 400), max_size=40))
@settings(max_examples=200, deadline=None)
def test_any_split_gives_the_same_pdus(cuts: list[int]) -> None:
    data = b"".join(stream())
    chunks, pos = [], 0
    for c in cuts:
        chunks.append(data[pos:pos + c])
        pos += c
    chunks.append(data[pos:])
    pdus, skipped = run(PduFramer(), [c for c in chunks if c])
    assert [p.data for p in pdus] == stream() and skipped == []


def test_gap_resynchronises_on_next_plausible_header() -> None:
    pdus = stream()
    framer = PduFramer()
    out = framer.feed(pdus[0] + pdus[1][:50], 1, 0)
    assert [type(e) for e in out] == [FramedPdu]
    lost = framer.gap(70, 2, 0)
    assert isinstance(lost[0], Skipped) and lost[0].size == 50
    # the rest of PDU 1 (after the lost bytes) then PDUs 2..4
    got, skipped = run(framer, [pdus[1][120:] + b"".join(pdus[2:])])
    assert [p.data for p in got] == pdus[2:]
    assert sum(s.size for s in skipped) == len(pdus[1]) - 120


def test_mid_stream_start() -> None:
    pdus = stream()
    got, skipped = run(PduFramer(synced=False), [pdus[1][77:] + b"".join(pdus[2:])])
    assert [p.data for p in got] == pdus[2:]
    assert skipped[0].size == len(pdus[1]) - 77 and "mid-stream" in skipped[0].reason


def test_active_test_resp_whose_length_lies() -> None:
    # pycmpp declares 13 bytes but sends the 4 ASCII bytes "0x00" as the body (reference D13)
    bad = struct.pack("!III", 13, C.CMPP_ACTIVE_TEST_RESP, 7) + b"0x00"
    nxt = encode_pdu(C.CMPP_SUBMIT_RESP, 8, {"Msg_Id": 1}, V2)
    got, skipped = run(PduFramer(), [bad + nxt])
    assert [p.data for p in got] == [bad[:13], nxt]
    assert [s.size for s in skipped] == [3]
    assert skipped[0].head == b"x00"
    assert "after the CMPP_ACTIVE_TEST_RESP of frame 1, which declared Total_Length 13" \
        in skipped[0].reason
    # Cut by the sender after 13 bytes, the stray bytes arrive (frame 2) with the next PDU
    # (frame 2 too) or alone (frame 2, the next PDU in frame 3): the run starts in frame 2.
    for pieces in ([bad[:13], bad[13:] + nxt], [bad[:13], bad[13:], nxt]):
        framer = PduFramer()
        events = [e for i, piece in enumerate(pieces, 1) for e in framer.feed(piece, i, i)]
        [skip] = [e for e in events if isinstance(e, Skipped)]
        assert (skip.size, skip.first_frame, skip.head) == (3, 2, b"x00")
        assert "of frame 1, which declared Total_Length 13" in skip.reason


def test_garbage_on_a_cmpp_port_is_skipped_not_decoded() -> None:
    tls = bytes.fromhex("160301020001") + bytes(range(256)) * 4
    got, skipped = run(PduFramer(), [tls])
    assert got == [] and sum(s.size for s in skipped) == len(tls)


def test_plausible_header_knows_the_layout_lengths() -> None:
    assert plausible_header(13, C.CMPP_CANCEL_RESP) and plausible_header(16, C.CMPP_CANCEL_RESP)
    assert not plausible_header(14, C.CMPP_CANCEL_RESP)
    assert plausible_header(12, C.CMPP_ACTIVE_TEST_RESP)  # 12-byte variant (D13)
    assert plausible_header(3523, C.CMPP_SUBMIT) and not plausible_header(100, C.CMPP_SUBMIT)
    assert not plausible_header(39, 0x0A)
