"""TcpTracker, fed TcpSegment records directly (the tracker is sans-IO: no files needed)."""

from __future__ import annotations

import itertools
import random
from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmppdissect.core import TcpTracker
from cmppdissect.core.records import (
    ACK,
    FIN,
    PSH,
    RST,
    SYN,
    ConnectionClosed,
    ConnectionOpened,
    StreamData,
    StreamEvent,
    StreamGap,
    TcpSegment,
)

CLIENT = ("10.0.0.1", 40001)
SERVER = ("10.0.0.2", 7890)
M32 = 1 << 32


class Flow:
    """Builds the segments of one client/server pair with running frame numbers."""

    def __init__(self, client: tuple[str, int] = CLIENT, server: tuple[str, int] = SERVER,
                 clock: list[int] | None = None):
        self.client = client
        self.server = server
        self.clock = clock if clock is not None else [0]  # shared by flows of one capture

    def _seg(self, src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: int,
             payload: bytes) -> TcpSegment:
        self.clock[0] += 1
        frame = self.clock[0]
        return TcpSegment(
            frame, 1_000_000 * frame, f"{src[0]}:{src[1]}", f"{dst[0]}:{dst[1]}",
            src[0], src[1], dst[0], dst[1], seq % M32, ack % M32, flags, payload,
        )

    def c(self, seq: int, payload: bytes = b"", flags: int = ACK | PSH, ack: int = 0) -> TcpSegment:
        if not payload and flags == ACK | PSH:
            flags = ACK
        return self._seg(self.client, self.server, seq, ack, flags, payload)

    def s(self, seq: int, payload: bytes = b"", flags: int = ACK | PSH, ack: int = 0) -> TcpSegment:
        if not payload and flags == ACK | PSH:
            flags = ACK
        return self._seg(self.server, self.client, seq, ack, flags, payload)


def run(segs: list[TcpSegment], tracker: TcpTracker | None = None) -> list[StreamEvent]:
    """Feed segment by segment, and check that the bulk ``feed_all`` gives the same events."""
    tracker = tracker or TcpTracker()
    twin = TcpTracker(server_ports=tracker.server_ports, max_buffered=tracker.max_buffered,
                      max_pieces=tracker.max_pieces, max_connections=tracker.max_connections)
    events: list[StreamEvent] = []
    for seg in segs:
        events.extend(tracker.feed(seg))
    events.extend(tracker.finish())
    bulk = list(twin.feed_all(segs))
    assert bulk == events
    assert [getattr(e, "stats", None) for e in bulk] == [getattr(e, "stats", None) for e in events]
    return events


def stream(events: list[StreamEvent], conn: int = 0, from_client: bool = True) -> bytes:
    """One direction's bytes with each gap shown as that many '?' characters."""
    out = []
    for ev in events:
        if isinstance(ev, StreamData) and ev.conn == conn and ev.from_client == from_client:
            out.append(ev.data)
        elif isinstance(ev, StreamGap) and ev.conn == conn and ev.from_client == from_client:
            out.append(b"?" * ev.missing)
    return b"".join(out)


def of_type(events: list[StreamEvent], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def handshake(f: Flow, cisn: int = 1000, sisn: int = 5000) -> list[TcpSegment]:
    return [
        f.c(cisn, flags=SYN),
        f.s(sisn, flags=SYN | ACK, ack=cisn + 1),
        f.c(cisn + 1, ack=sisn + 1),
    ]


def test_handshake_data_both_ways_and_fin_close() -> None:
    f = Flow()
    segs = handshake(f)
    segs += [
        f.c(1001, b"hello ", ack=5001),
        f.c(1007, b"world", ack=5001),
        f.s(5001, b"reply", ack=1012),
        f.c(1012, flags=FIN | ACK, ack=5006),
        f.s(5006, flags=FIN | ACK, ack=1013),
        f.c(1013, ack=5007),
    ]
    events = run(segs)
    opened = of_type(events, ConnectionOpened)
    assert opened == [ConnectionOpened(0, "10.0.0.1:40001", "10.0.0.2:7890", 1, 1_000_000, True)]
    assert stream(events) == b"hello world"
    assert stream(events, from_client=False) == b"reply"
    data = of_type(events, StreamData)
    assert [(d.frame, d.ts_ns) for d in data] == [(4, 4_000_000), (5, 5_000_000), (6, 6_000_000)]
    closed = of_type(events, ConnectionClosed)
    assert closed == [ConnectionClosed(0, "fin", 8, 8_000_000)]
    assert closed[0].stats is not None and closed[0].stats.bytes_from_client == 11
    assert isinstance(events[-1], ConnectionClosed)  # finish() adds nothing for a closed one


def test_events_are_frozen() -> None:
    f = Flow()
    events = run([*handshake(f), f.c(1001, b"abc")])
    data = of_type(events, StreamData)[0]
    assert data == StreamData(0, True, b"abc", 4, 4_000_000)
    with pytest.raises(FrozenInstanceError):
        data.data = b"x"  # type: ignore[misc]


def test_every_frame_twice_is_delivered_once() -> None:
    """Loopback captures hold every packet twice; the second copy must vanish."""
    f = Flow()
    segs = [*handshake(f), f.c(1001, b"AAAA"), f.s(5001, b"bb", ack=1005), f.c(1005, b"CC")]
    doubled = [s for seg in segs for s in (seg, seg)]
    tracker = TcpTracker()
    events = run(doubled, tracker)
    assert stream(events) == b"AAAACC"
    assert stream(events, from_client=False) == b"bb"
    assert len(of_type(events, ConnectionOpened)) == 1
    st_ = tracker.stats(0)
    assert st_.duplicates == 3 + 2  # three data copies, two SYN copies
    assert st_.frames == 12


def test_retransmission_with_partial_overlap_keeps_first_seen_bytes() -> None:
    f = Flow()
    tracker = TcpTracker()
    segs = [*handshake(f), f.c(1001, b"0123456789"), f.c(1006, b"XXXXXabcde")]
    events = run(segs, tracker)
    assert stream(events) == b"0123456789abcde"
    assert of_type(events, StreamData)[-1].data == b"abcde"
    assert tracker.stats(0).retransmissions == 1


def test_out_of_order_segment_is_held_until_the_hole_fills() -> None:
    f = Flow()
    tracker = TcpTracker()
    segs = [*handshake(f), f.c(1001, b"aaa"), f.c(1007, b"ccc"), f.c(1010, b"ddd"),
            f.c(1004, b"bbb")]
    events = run(segs, tracker)
    data = of_type(events, StreamData)
    assert [(d.data, d.frame) for d in data] == [(b"aaa", 4), (b"bbbcccddd", 7)]
    assert tracker.stats(0).out_of_order == 2
    assert not of_type(events, StreamGap)


def test_overlapping_out_of_order_pieces_keep_first_seen_bytes() -> None:
    f = Flow()
    segs = [
        *handshake(f),
        f.c(1011, b"KLMNO"),  # [10,15) first seen
        f.c(1006, b"fghijxxxx"),  # [5,14): only [5,10) is new
        f.c(1013, b"yyPQR"),  # [12,17): only [15,17) is new
        f.c(1001, b"abcde"),
    ]
    events = run(segs)
    assert stream(events) == b"abcdefghijKLMNOQR"
    assert not of_type(events, StreamGap)


def test_sequence_numbers_wrap_around_2_pow_32() -> None:
    f = Flow()
    isn = M32 - 7
    segs = [
        f.c(isn, flags=SYN),
        f.s(10, flags=SYN | ACK, ack=isn + 1),
        f.c(isn + 1, b"before-", ack=11),  # crosses the wrap: 6 bytes before 0
        f.c(isn + 8, b"after", ack=11),  # seq is small again
        f.c(isn + 13, b"!", ack=11),
        f.c(isn + 8, b"after", ack=11),  # retransmission across the wrap
    ]
    tracker = TcpTracker()
    events = run(segs, tracker)
    assert stream(events) == b"before-after!"
    assert segs[3].seq < 10
    assert tracker.stats(0).retransmissions == 1


def test_out_of_order_across_the_wrap() -> None:
    f = Flow()
    isn = M32 - 3
    segs = [f.c(isn, flags=SYN), f.c(isn + 5, b"EFG"), f.c(isn + 1, b"ABCD")]
    assert stream(run(segs)) == b"ABCDEFG"


def test_syn_with_data_starts_after_the_isn() -> None:
    f = Flow()
    segs = [f.c(500, b"fast-open", flags=SYN), f.s(9, flags=SYN | ACK, ack=510),
            f.c(510, b"+more", ack=10)]
    events = run(segs)
    assert stream(events) == b"fast-open+more"
    assert of_type(events, ConnectionOpened)[0].saw_syn


def test_rst_closes_and_declares_the_hole() -> None:
    f = Flow()
    segs = [*handshake(f), f.c(1001, b"aa"), f.c(1005, b"dd"), f.s(5001, flags=RST, ack=0)]
    events = run(segs)
    assert stream(events) == b"aa??dd"
    gap = of_type(events, StreamGap)[0]
    assert (gap.missing, gap.frame) == (2, 6)
    assert of_type(events, ConnectionClosed) == [ConnectionClosed(0, "rst", 6, 6_000_000)]
    assert isinstance(events[-1], ConnectionClosed)


def test_late_segments_after_close_open_nothing() -> None:
    f = Flow()
    segs = [*handshake(f), f.c(1001, b"x", flags=FIN | ACK), f.s(5001, flags=FIN | ACK,
            ack=1003), f.c(1003, ack=5002), f.c(1001, b"x", flags=FIN | ACK), f.s(5001,
            flags=RST)]
    events = run(segs)
    assert len(of_type(events, ConnectionOpened)) == 1
    assert [c.how for c in of_type(events, ConnectionClosed)] == ["fin"]


def test_reuse_after_close_starts_a_new_connection() -> None:
    f = Flow()
    segs = [*handshake(f, 100, 200), f.c(101, b"one", flags=FIN | ACK | PSH),
            f.s(201, flags=FIN | ACK, ack=105)]
    segs += [*handshake(f, 7000, 8000), f.c(7001, b"two")]
    events = run(segs)
    assert [(o.conn, o.frame) for o in of_type(events, ConnectionOpened)] == [(0, 1), (1, 6)]
    assert [(c.conn, c.how) for c in of_type(events, ConnectionClosed)] == [
        (0, "fin"), (1, "end-of-capture")]
    assert stream(events, 0) == b"one"
    assert stream(events, 1) == b"two"


def test_syn_with_a_new_isn_on_an_open_tuple_closes_it_as_reused() -> None:
    f = Flow()
    segs = [*handshake(f, 100, 200), f.c(101, b"old"), f.c(108, b"lost-after-hole")]
    segs += [*handshake(f, 9000, 3000), f.c(9001, b"new")]
    events = run(segs)
    closes = of_type(events, ConnectionClosed)
    assert closes[0] == ConnectionClosed(0, "reused", 6, 6_000_000)
    assert stream(events, 0) == b"old????lost-after-hole"
    assert stream(events, 1) == b"new"
    # Order: the old connection's close comes before the new one's open.
    kinds = [type(e).__name__ for e in events if not isinstance(e, (StreamData, StreamGap))]
    assert kinds == ["ConnectionOpened", "ConnectionClosed", "ConnectionOpened",
                     "ConnectionClosed"]


def test_retransmitted_syn_is_not_a_new_connection() -> None:
    f = Flow()
    segs = [f.c(100, flags=SYN), f.c(100, flags=SYN), *handshake(f, 100, 200)[1:],
            f.c(101, b"x")]
    events = run(segs)
    assert len(of_type(events, ConnectionOpened)) == 1
    assert stream(events) == b"x"


def test_syn_ack_without_syn_identifies_the_client() -> None:
    f = Flow(client=("10.0.0.1", 80), server=("10.0.0.2", 40000))  # ports would say otherwise
    segs = [f.s(200, flags=SYN | ACK, ack=101), f.c(101, b"req", ack=201),
            f.s(201, b"resp", ack=104)]
    events = run(segs)
    assert of_type(events, ConnectionOpened)[0].client == "10.0.0.1:80"
    assert stream(events) == b"req"
    assert stream(events, from_client=False) == b"resp"


@pytest.mark.parametrize("late", ["syn", "syn-ack"])
def test_a_handshake_seen_after_a_segment_without_one_corrects_the_guess(late: str) -> None:
    """Frames out of order (two capture points merged by skewed clocks, a multi-queue NIC): a
    bare ACK opens the connection, the lower port taken for the server's, and then the SYN
    (or the SYN-ACK) says the other. Before any byte, the handshake's word wins: the guess is
    closed as reused and the connection opens again with its SYN, the right way round (the
    SYN was taken as the SYN of the side the guess called the server)."""
    f = Flow(client=("10.1.1.1", 5555), server=("10.2.2.2", 6666))
    if late == "syn":
        segs = [f.c(1001, ack=5001), f.c(1000, flags=SYN)]
    else:
        segs = [f.s(5001, ack=1001), f.s(5000, flags=SYN | ACK, ack=1001)]
    segs += [f.c(1001, b"req", ack=5001), f.s(5001, b"resp", ack=1004)]
    events = run(segs)
    guess, opened = of_type(events, ConnectionOpened)
    assert (guess.client, guess.saw_syn) == ("10.2.2.2:6666", False)
    assert of_type(events, ConnectionClosed)[0].how == "reused"
    assert (opened.client, opened.server, opened.saw_syn) == ("10.1.1.1:5555",
                                                              "10.2.2.2:6666", True)
    assert stream(events, opened.conn) == b"req"
    assert stream(events, opened.conn, from_client=False) == b"resp"
    assert of_type(events, ConnectionClosed)[-1].stats.frames == len(segs)


@pytest.mark.parametrize("ports", [(5555,), (6666,), (5555, 6666)])
def test_a_late_handshake_does_not_undo_a_known_port(ports: tuple[int, ...]) -> None:
    """On a known port, a late SYN from the side taken for the server's leaves the connection
    as it was opened (the sink made a session of it at once: opening it again would leave an
    empty one behind)."""
    f = Flow(client=("10.1.1.1", 5555), server=("10.2.2.2", 6666))
    if ports == (6666,):  # the port names 10.2.2.2 the server
        segs = [f.c(1001, ack=5001), f.s(5000, flags=SYN), f.c(1001, b"req", ack=5001)]
        guess = "10.1.1.1:5555"
    else:  # the port, or the lower of two known ones, names 10.1.1.1 the server
        segs = [f.s(5001, ack=1001), f.c(1000, flags=SYN), f.s(5001, b"req", ack=1001)]
        guess = "10.2.2.2:6666"
    events = run(segs, TcpTracker(server_ports=ports))
    (opened,) = of_type(events, ConnectionOpened)
    assert (opened.client, opened.saw_syn) == (guess, False)
    assert stream(events, from_client=True) == b"req"


@pytest.mark.parametrize(
    ("client_port", "server_port", "ports", "expect_client"),
    [
        (40000, 7890, None, "c"),  # known CMPP port
        (7890, 40000, None, "s"),  # first segment comes from the server
        (6666, 5555, None, "c"),  # no known port: the lower one is the server
        (5555, 6666, None, "s"),
        (5555, 6666, (6666,), "c"),  # a configured server port wins over "lower"
    ],
)
def test_mid_stream_start_guesses_client_and_server(
    client_port: int, server_port: int, ports: tuple[int, ...] | None, expect_client: str
) -> None:
    f = Flow(client=("10.1.1.1", client_port), server=("10.2.2.2", server_port))
    tracker = TcpTracker() if ports is None else TcpTracker(server_ports=ports)
    segs = [f.c(123456, b"mid-"), f.s(99, b"resp", ack=123460), f.c(123460, b"stream")]
    events = run(segs, tracker)
    opened = of_type(events, ConnectionOpened)[0]
    assert not opened.saw_syn
    client = f"10.1.1.1:{client_port}" if expect_client == "c" else f"10.2.2.2:{server_port}"
    assert opened.client == client
    from_c = expect_client == "c"
    assert stream(events, from_client=from_c) == b"mid-stream"
    assert stream(events, from_client=not from_c) == b"resp"


def test_gap_is_declared_when_the_peer_acks_bytes_we_never_saw() -> None:
    f = Flow()
    segs = [*handshake(f), f.c(1001, b"aaaa"), f.c(1009, b"cccc"), f.s(5001, ack=1013),
            f.c(1013, b"dddd")]
    events = run(segs)
    gap = of_type(events, StreamGap)
    assert gap == [StreamGap(0, True, 4, 6, 6_000_000)]
    data = of_type(events, StreamData)
    assert [(d.data, d.frame) for d in data] == [(b"aaaa", 4), (b"cccc", 6), (b"dddd", 7)]
    # The gap comes before the data it precedes.
    assert events.index(gap[0]) < events.index(data[1])


def test_ack_seen_before_the_data_after_the_hole() -> None:
    f = Flow()
    segs = [*handshake(f), f.c(1001, b"aa"), f.s(5001, ack=1007), f.c(1005, b"cc"),
            f.c(1007, b"dd")]
    events = run(segs)
    assert stream(events) == b"aa??ccdd"
    assert of_type(events, StreamGap)[0].frame == 6


def test_ack_inside_a_hole_declares_only_the_acked_part() -> None:
    f = Flow()
    segs = [*handshake(f), f.c(1001, b"a"), f.c(1011, b"k"), f.s(5001, ack=1005),
            f.c(1005, b"efghij")]
    events = run(segs)
    assert stream(events) == b"a???efghijk"
    assert [g.missing for g in of_type(events, StreamGap)] == [3]


def test_holes_become_gaps_at_finish() -> None:
    f = Flow()
    tracker = TcpTracker()
    segs = [*handshake(f), f.c(1001, b"ab"), f.c(1005, b"ef"), f.c(1009, b"ij")]
    events = run(segs, tracker)
    assert stream(events) == b"ab??ef??ij"
    gaps = of_type(events, StreamGap)
    assert [(g.missing, g.frame) for g in gaps] == [(2, 5), (2, 6)]
    # At finish() there is no releasing frame: the bytes keep the frame that carried them.
    assert [d.frame for d in of_type(events, StreamData)] == [4, 5, 6]
    assert of_type(events, ConnectionClosed) == [ConnectionClosed(0, "end-of-capture", None,
                                                                  None)]
    st_ = tracker.stats(0)
    assert (st_.gaps, st_.gap_bytes, st_.out_of_order) == (2, 4, 2)


def test_fin_before_the_last_data_segment_still_delivers_it() -> None:
    f = Flow()
    segs = [*handshake(f), f.c(1001, b"aa"), f.c(1005, b"", flags=FIN | ACK),
            f.c(1003, b"bb"), f.c(1005, b"zz")]
    events = run(segs)
    assert stream(events) == b"aabb"  # and the bytes claimed past the FIN are dropped
    assert not of_type(events, StreamGap)


def test_missing_bytes_before_a_fin_become_a_gap_at_close() -> None:
    f = Flow()
    segs = [*handshake(f), f.c(1001, b"aa"), f.c(1007, b"", flags=FIN | ACK),
            f.s(5001, flags=FIN | ACK, ack=1008)]
    events = run(segs)
    assert stream(events) == b"aa????"
    assert of_type(events, ConnectionClosed)[0].how == "fin"


def test_buffer_cap_turns_the_first_hole_into_a_gap() -> None:
    f = Flow()
    tracker = TcpTracker(max_buffered=10)
    segs = [*handshake(f), f.c(1001, b"a"), f.c(1003, b"cccccc"), f.c(1009, b"dddddd")]
    events = []
    for seg in segs:
        events.extend(tracker.feed(seg))
    gaps = of_type(events, StreamGap)
    assert gaps == [StreamGap(0, True, 1, 6, 6_000_000)]
    assert stream(events) == b"a?ccccccdddddd"


def test_piece_cap_bounds_tiny_segment_floods() -> None:
    f = Flow()
    tracker = TcpTracker(max_pieces=4)
    segs = [*handshake(f)] + [f.c(1001 + 2 * i + 2, b"x") for i in range(6)]
    events = []
    for seg in segs:
        events.extend(tracker.feed(seg))
    assert of_type(events, StreamGap)
    assert stream(events).startswith(b"??x")


def test_connection_cap_evicts_the_least_recently_active() -> None:
    tracker = TcpTracker(max_connections=2)
    clock = [0]
    a, b, c = (Flow(client=(f"10.0.0.{i}", 40000), clock=clock) for i in (1, 2, 3))
    events: list[StreamEvent] = []
    for seg in [a.c(10, b"a1"), b.c(10, b"b1"), a.c(12, b"a2"), b.c(15, b"b-after-hole"),
                a.c(14, b"a3")]:
        events.extend(tracker.feed(seg))
    assert not of_type(events, ConnectionClosed)
    events.extend(tracker.feed(c.c(10, b"c1")))
    closed = of_type(events, ConnectionClosed)
    assert closed == [ConnectionClosed(1, "evicted", None, None)]  # b was least recently active
    assert stream(events, 1) == b"b1???b-after-hole"  # its held data was not lost
    assert tracker.stats(1).gaps == 1  # still readable after eviction
    events.extend(tracker.finish())
    assert stream(events, 0) == b"a1a2a3"
    assert stream(events, 2) == b"c1"


def test_stats_counts_frames_retransmissions_and_reordering() -> None:
    f = Flow()
    tracker = TcpTracker()
    segs = [*handshake(f), f.c(1001, b"abc"), f.c(1001, b"abc"), f.c(1007, b"ghi"),
            f.c(1004, b"def"), f.s(5001, b"r", ack=1010)]
    run(segs, tracker)
    st_ = tracker.stats(0)
    assert (st_.frames, st_.retransmissions, st_.duplicates, st_.out_of_order) == (8, 1, 1, 1)
    assert (st_.bytes_from_client, st_.bytes_from_server) == (9, 1)
    with pytest.raises(KeyError):
        tracker.stats(42)


def test_pure_acks_and_keepalives_deliver_nothing() -> None:
    f = Flow()
    segs = [*handshake(f), f.c(1001, b"data"), f.s(5001, ack=1005), f.c(1004, b"\x00"),
            f.s(5001, ack=1005)]
    events = run(segs)
    assert stream(events) == b"data"
    assert stream(events, from_client=False) == b""


def test_many_reversed_segments_stay_fast() -> None:
    """Reassembly must be linear-ish: 20k single-byte segments in reverse order."""
    f = Flow()
    n = 20000
    segs = [f.c(1001, flags=SYN)] + [f.c(1002 + i, bytes([i % 256])) for i in reversed(range(n))]
    tracker = TcpTracker(max_pieces=n, max_buffered=n)
    events = run(segs, tracker)
    assert stream(events) == bytes(i % 256 for i in range(n))


def test_bidirectional_interleaving_keeps_directions_apart() -> None:
    f = Flow()
    segs = [*handshake(f)]
    cseq, sseq = 1001, 5001
    for i in range(50):
        cp, sp = f"c{i};".encode(), f"s{i};".encode()
        segs.append(f.c(cseq, cp, ack=sseq))
        cseq += len(cp)
        segs.append(f.s(sseq, sp, ack=cseq))
        sseq += len(sp)
    events = run(segs)
    assert stream(events) == b"".join(f"c{i};".encode() for i in range(50))
    assert stream(events, from_client=False) == b"".join(f"s{i};".encode() for i in range(50))


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=3000),
    isn=st.integers(min_value=0, max_value=M32 - 1),
    cuts=st.lists(st.integers(min_value=1, max_value=2999), max_size=40),
    seed=st.integers(min_value=0, max_value=2**32),
    window=st.integers(min_value=1, max_value=6),
    with_syn=st.booleans(),
)
def test_random_segmentation_reordering_and_duplication_round_trips(
    data: bytes, isn: int, cuts: list[int], seed: int, window: int, with_syn: bool
) -> None:
    rng = random.Random(seed)
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    f = Flow()
    pieces = [f.c(isn + 1 + lo, data[lo:hi]) for lo, hi in itertools.pairwise(bounds)]
    # Retransmissions that straddle segment boundaries, too.
    for _ in range(rng.randrange(4)):
        lo = rng.randrange(len(data))
        hi = min(len(data), lo + rng.randrange(1, 200))
        pieces.insert(rng.randrange(len(pieces) + 1), f.c(isn + 1 + lo, data[lo:hi]))
    # Shuffle within a sliding window, then duplicate some.
    for i in range(len(pieces)):
        j = min(len(pieces) - 1, i + rng.randrange(window))
        pieces[i], pieces[j] = pieces[j], pieces[i]
    dup = [s for s in pieces for _ in range(2 if rng.random() < 0.3 else 1)]
    segs = ([f.c(isn, flags=SYN)] if with_syn else []) + dup
    if not with_syn:
        # Mid-stream pickup takes the first segment seen as the start; make it the first one.
        first = min(range(len(segs)), key=lambda k: (segs[k].seq - isn - 1) % M32)
        segs.insert(0, segs.pop(first))
    events = run(segs)
    assert stream(events) == data
    assert not of_type(events, StreamGap)
    assert len(of_type(events, ConnectionOpened)) == 1


def test_overlapping_out_of_order_bytes_are_held_once() -> None:
    """The buffer cap counts distinct bytes, so overlaps must not be stored twice."""
    f = Flow()
    tracker = TcpTracker(max_buffered=10)
    segs = [*handshake(f), f.c(1011, b"KLMNO"), f.c(1013, b"MNOPQ"), f.c(1018, b"RST"),
            f.c(1001, b"abcdefghij")]
    events = run(segs, tracker)
    assert not of_type(events, StreamGap)
    assert stream(events) == b"abcdefghijKLMNOPQRST"


@settings(max_examples=100, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=2000),
    isn=st.integers(min_value=0, max_value=M32 - 1),
    cuts=st.lists(st.integers(min_value=1, max_value=1999), min_size=1, max_size=30),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_lost_segments_become_gaps_of_the_right_size_in_the_right_place(
    data: bytes, isn: int, cuts: list[int], seed: int
) -> None:
    rng = random.Random(seed)
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    f = Flow()
    kept = []
    have = bytearray(len(data))  # 1 where a captured segment carried the byte
    for lo, hi in itertools.pairwise(bounds):
        if rng.random() < 0.3:
            continue  # lost before the capture point
        kept.append(f.c(isn + 1 + lo, data[lo:hi]))
        have[lo:hi] = b"\x01" * (hi - lo)
    rng.shuffle(kept)
    end = isn + 1 + len(data)
    segs = [f.c(isn, flags=SYN), *kept, f.c(end, flags=FIN | ACK),
            f.s(77, flags=ACK, ack=end + 1)]
    events = run(segs)
    got = []
    for ev in events:
        if isinstance(ev, StreamData):
            got.extend((True, b) for b in ev.data)
        elif isinstance(ev, StreamGap):
            got.extend((False, 0) for _ in range(ev.missing))
    assert len(got) == len(data)
    assert [present for present, _ in got] == [bool(h) for h in have]
    assert bytes(b for present, b in got if present) == bytes(
        b for b, h in zip(data, have, strict=True) if h)


def test_feed_all_without_finish_leaves_connections_open() -> None:
    f = Flow()
    tracker = TcpTracker()
    events = list(tracker.feed_all([*handshake(f), f.c(1001, b"abc")], finish=False))
    assert not of_type(events, ConnectionClosed)
    assert tracker.open_connections == 1
    assert of_type(tracker.finish(), ConnectionClosed)[0].how == "end-of-capture"
