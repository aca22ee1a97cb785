"""Msg_Id split/pack against the reference's §12.1 table, and group-send ranges (§7.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmppdissect.protocol.msgid import (
    MSG_ID_MAX,
    make_msg_id,
    msg_id_index,
    msg_id_range,
    split_msg_id,
)

# Reference §12.1: raw, (month, day, hour, minute, second), gateway, sequence.
VECTORS = [
    (0xB2B9DA8000010000, (11, 5, 14, 29, 42), 1, 0),
    (0xB4C5530000010000, (11, 9, 17, 21, 12), 1, 0),
    (0xB525628000010000, (11, 10, 9, 22, 10), 1, 0),
    (0x7FD913C12D34B9C9, (7, 31, 22, 17, 15), 77108, 47561),
    (0x6642908009D959FE, (6, 12, 16, 41, 2), 2521, 23038),
    (0x522A4980002AA6CE, (5, 4, 10, 36, 38), 42, 42702),
    (0x85CCE8C091520007, (8, 11, 19, 14, 35), 37202, 7),
    (0xC2CF84F10CE0003F, (12, 5, 19, 56, 19), 3214560, 63),
]

u64 = st.integers(min_value=0, max_value=MSG_ID_MAX)


@pytest.mark.parametrize(("raw", "clock", "gateway", "sequence"), VECTORS)
def test_split_matches_reference_table(
    raw: int, clock: tuple[int, int, int, int, int], gateway: int, sequence: int
) -> None:
    m = split_msg_id(raw)
    assert m.raw == raw
    assert (m.month, m.day, m.hour, m.minute, m.second) == clock
    assert (m.gateway, m.sequence) == (gateway, sequence)
    assert make_msg_id(*clock, gateway, sequence) == raw


def test_str_shows_time_gateway_and_sequence() -> None:
    assert str(split_msg_id(0xB2B9DA8000010000)) == "11-05 14:29:42 gw=000001 seq=0"
    assert str(split_msg_id(0x7FD913C12D34B9C9)) == "07-31 22:17:15 gw=077108 seq=47561"


@pytest.mark.parametrize(("raw", "valid"), [(v[0], v[2] <= 999_999) for v in VECTORS])
def test_looks_valid_flags_off_layout_gateway(raw: int, valid: bool) -> None:
    # Only the last vector (gateway 3214560, reference D20) is off-layout.
    assert split_msg_id(raw).looks_valid is valid


@pytest.mark.parametrize(
    "parts",
    [
        (0, 5, 14, 29, 42, 1, 0),  # month 0
        (13, 5, 14, 29, 42, 1, 0),
        (11, 0, 14, 29, 42, 1, 0),  # day 0
        (11, 5, 24, 29, 42, 1, 0),
        (11, 5, 14, 60, 42, 1, 0),
        (11, 5, 14, 29, 60, 1, 0),
        (11, 5, 14, 29, 42, 1_000_000, 0),
    ],
)
def test_looks_valid_rejects_each_out_of_range_part(parts: tuple[int, ...]) -> None:
    assert not split_msg_id(make_msg_id(*parts)).looks_valid


def test_looks_valid_accepts_the_extremes() -> None:
    assert split_msg_id(make_msg_id(12, 31, 23, 59, 59, 999_999, 0xFFFF)).looks_valid
    assert split_msg_id(make_msg_id(1, 1, 0, 0, 0, 0, 0)).looks_valid


@pytest.mark.parametrize(
    "parts",
    [
        (16, 1, 0, 0, 0, 0, 0),
        (1, 32, 0, 0, 0, 0, 0),
        (1, 1, 0, 0, 64, 0, 0),
        (1, 1, 0, 0, 0, 1 << 22, 0),
        (1, 1, 0, 0, 0, 0, 1 << 16),
        (1, 1, -1, 0, 0, 0, 0),
    ],
)
def test_make_rejects_parts_wider_than_their_field(parts: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        make_msg_id(*parts)


@pytest.mark.parametrize("value", [-1, MSG_ID_MAX + 1])
def test_split_rejects_values_outside_64_bits(value: int) -> None:
    with pytest.raises(ValueError, match="64 bits"):
        split_msg_id(value)


@given(u64)
def test_split_then_make_round_trips_every_64_bit_value(raw: int) -> None:
    m = split_msg_id(raw)
    assert make_msg_id(m.month, m.day, m.hour, m.minute, m.second, m.gateway, m.sequence) == raw


@given(
    st.integers(1, 12),
    st.integers(1, 31),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.integers(0, 999_999),
    st.integers(0, 0xFFFF),
)
def test_make_then_split_round_trips_valid_parts(
    month: int, day: int, hour: int, minute: int, second: int, gateway: int, sequence: int
) -> None:
    m = split_msg_id(make_msg_id(month, day, hour, minute, second, gateway, sequence))
    assert (m.month, m.day, m.hour, m.minute, m.second, m.gateway, m.sequence) == (
        month,
        day,
        hour,
        minute,
        second,
        gateway,
        sequence,
    )
    assert m.looks_valid


def test_range_counts_up_on_the_raw_integer() -> None:
    first = 0xB2B9DA8000010000
    assert msg_id_range(first, 3) == (first, first + 1, first + 2)
    assert [split_msg_id(i).sequence for i in msg_id_range(first, 3)] == [0, 1, 2]


def test_range_carries_from_sequence_into_gateway() -> None:
    first = make_msg_id(11, 5, 14, 29, 42, 1, 0xFFFF)
    second = split_msg_id(msg_id_range(first, 2)[1])
    # +1 on the 64-bit integer, as the spec appendix says: no wrap inside the 16-bit field.
    assert (second.gateway, second.sequence) == (2, 0)


def test_range_wraps_at_64_bits_and_handles_empty() -> None:
    assert msg_id_range(MSG_ID_MAX, 2) == (MSG_ID_MAX, 0)
    assert msg_id_range(5, 0) == ()
    with pytest.raises(ValueError, match="negative"):
        msg_id_range(5, -1)
    with pytest.raises(ValueError, match="64 bits"):
        msg_id_range(MSG_ID_MAX + 1, 1)


@given(u64, st.integers(0, 255), st.data())
def test_index_inverts_range(first: int, count: int, data: st.DataObject) -> None:
    ids = msg_id_range(first, count)
    assert len(ids) == count
    for i, msg_id in enumerate(ids):
        assert msg_id_index(msg_id, first, count) == i
    outside = data.draw(u64.filter(lambda v: v not in ids))
    assert msg_id_index(outside, first, count) is None
