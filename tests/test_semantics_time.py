"""Time forms of reference §7.3 and §7.4: CONNECT Timestamp, SMPP times, report/QUERY/GNS times."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmppdissect.protocol.timefmt import (
    decode_timestamp,
    describe_smpp_time,
    encode_timestamp,
    format_timestamp,
    parse_gns_timestamp,
    parse_query_date,
    parse_report_time,
    parse_smpp_time,
    timestamp_string,
)

# --- CONNECT Timestamp --------------------------------------------------------------------------


def test_timestamp_reference_example() -> None:
    # §5.1/§7.3: 1021080510 = 0x3CDC73BE = Oct 21 08:05:10.
    assert decode_timestamp(0x3CDC73BE) == (10, 21, 8, 5, 10)
    assert format_timestamp(1021080510) == "10-21 08:05:10"
    assert encode_timestamp(10, 21, 8, 5, 10) == 1021080510


def test_timestamp_string_keeps_leading_zeros() -> None:
    # §7.2: the Huawei API hard-codes exactly this pair.
    assert timestamp_string(8080808) == "0008080808"
    assert timestamp_string(1021080510) == "1021080510"
    assert decode_timestamp(8080808) is None  # month 0: hashed as-is, but not a valid time


@pytest.mark.parametrize(
    "value",
    [0, 1321080510, 1032080510, 1021240510, 1021086010, 1021080560, -1, 0xFFFFFFFF + 1],
)
def test_timestamp_invalid_decodes_to_none(value: int) -> None:
    assert decode_timestamp(value) is None
    assert format_timestamp(value) is None


def test_timestamp_maximum_fits_32_bits() -> None:
    assert decode_timestamp(1231235959) == (12, 31, 23, 59, 59)
    assert decode_timestamp(0xFFFFFFFF) is None  # 4294967295: month 42


@pytest.mark.parametrize(
    "args",
    [
        (0, 1, 0, 0, 0),
        (13, 1, 0, 0, 0),
        (1, 32, 0, 0, 0),
        (1, 1, 24, 0, 0),
        (1, 1, 0, 60, 0),
        (1, 1, 0, 0, 60),
    ],
)
def test_encode_timestamp_rejects_impossible_fields(args: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="MMDDHHMMSS"):
        encode_timestamp(*args)


@pytest.mark.parametrize("value", [-1, 0x1_0000_0000])
def test_timestamp_string_rejects_non_uint32(value: int) -> None:
    with pytest.raises(ValueError, match="4-byte"):
        timestamp_string(value)


@given(
    st.integers(1, 12),
    st.integers(1, 31),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
)
def test_timestamp_round_trip(month: int, day: int, hour: int, minute: int, second: int) -> None:
    value = encode_timestamp(month, day, hour, minute, second)
    assert value <= 0xFFFFFFFF
    assert decode_timestamp(value) == (month, day, hour, minute, second)
    assert timestamp_string(value) == f"{month:02d}{day:02d}{hour:02d}{minute:02d}{second:02d}"


@given(st.integers())
def test_decode_timestamp_never_raises(value: int) -> None:
    result = decode_timestamp(value)
    assert result is None or encode_timestamp(*result) == value


# --- ValId_Time / At_Time ---------------------------------------------------------------------


def test_smpp_time_gocmpp_example() -> None:
    t = parse_smpp_time(b"151105131555101+\x00")
    assert t is not None
    assert (t.year, t.month, t.day, t.hour, t.minute, t.second) == (15, 11, 5, 13, 15, 55)
    assert (t.tenths, t.quarter_hours, t.relative) == (1, 1, False)
    assert str(t) == "2015-11-05 13:15:55.1 UTC+00:15"


def test_smpp_time_huawei_utc_plus_8_and_minus() -> None:
    east = parse_smpp_time("240131235959032+")
    west = parse_smpp_time("240131235959032-")
    assert east is not None and west is not None
    assert (east.quarter_hours, west.quarter_hours) == (32, -32)
    assert str(east).endswith("UTC+08:00")
    assert str(west).endswith("UTC-08:00")


def test_smpp_time_relative_form() -> None:
    t = parse_smpp_time("000001020000000R")
    assert t is not None and t.relative
    assert (t.day, t.hour) == (1, 2)
    assert describe_smpp_time("000001020000000R") == "in 0y 0m 1d 02:00:00"


@pytest.mark.parametrize(
    "value",
    [
        "151305131555101+",  # month 13
        "151100131555101+",  # day 0
        "151105241555101+",  # hour 24
        "151105131555149+",  # offset beyond 12 hours
        "151105131555101X",  # bad sign
        "15110513155510+",  # 15 chars
        "1511051315551012+",  # 17 chars
        "1511O5131555101+",  # letter O
        "１５1105131555101+",  # fullwidth digits are not wire digits
        b"\xff" * 16,
    ],
)
def test_smpp_time_invalid_is_none(value: bytes | str) -> None:
    assert parse_smpp_time(value) is None
    assert describe_smpp_time(value).startswith("(invalid")


@pytest.mark.parametrize("value", ["", b"", bytes(17)])
def test_smpp_time_empty_is_none_but_described_as_empty(value: bytes | str) -> None:
    assert parse_smpp_time(value) is None
    assert describe_smpp_time(value) == "(empty)"


# --- report, QUERY, GNS ---------------------------------------------------------------------


def test_report_time() -> None:
    assert parse_report_time(b"1511051316") == datetime(2015, 11, 5, 13, 16)
    assert parse_report_time("9912312359") == datetime(2099, 12, 31, 23, 59)  # YY is 20YY


@pytest.mark.parametrize(
    "value", ["2402300000", "1511051360", "15110513", "151105131a", b"\x80" * 10]
)
def test_report_time_invalid(value: bytes | str) -> None:
    assert parse_report_time(value) is None


def test_query_date() -> None:
    assert parse_query_date(b"20240229") == date(2024, 2, 29)
    assert parse_query_date("20230229") is None
    assert parse_query_date("2024022") is None
    assert parse_query_date("00000101") is None


def test_gns_timestamp() -> None:
    assert parse_gns_timestamp("20230101120000") == datetime(2023, 1, 1, 12, 0, 0)
    assert parse_gns_timestamp("20231301120000") is None
    assert parse_gns_timestamp("2023010112000") is None


@given(st.one_of(st.binary(max_size=20), st.text(max_size=20)))
def test_string_parsers_never_raise(value: bytes | str) -> None:
    smpp = parse_smpp_time(value)
    assert smpp is None or describe_smpp_time(value) == str(smpp)
    assert parse_report_time(value) is None or len(value) >= 10
    assert parse_query_date(value) is None or len(value) >= 8
    assert parse_gns_timestamp(value) is None or len(value) >= 14
