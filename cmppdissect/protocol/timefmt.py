"""The time forms CMPP carries (reference §7.3, §7.4).

Every decoder here returns None for input it cannot make sense of instead of raising: these
fields come off the wire, and a bad time must cost one column, not the PDU. Octet-string
inputs may be given as the raw field (``bytes``, NUL-padded) or as already decoded ``str``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

TIMESTAMP_MAX = 0xFFFFFFFF  # the CONNECT Timestamp is a 4-byte UInt


def _field_text(value: bytes | str) -> str | None:
    """The text of an octet-string field up to its first NUL, or None if it is not ASCII."""
    if isinstance(value, bytes):
        value = value.split(b"\x00", 1)[0]
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            return None
    return value.split("\x00", 1)[0]


def _digits(text: str) -> bool:
    """``str.isdigit`` accepts superscripts and other scripts' digits; the wire has only 0-9."""
    return text.isascii() and text.isdigit()


def _valid_clock(month: int, day: int, hour: int, minute: int, second: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60


# --- CONNECT Timestamp (§7.3) -----------------------------------------------------------------


def decode_timestamp(value: int) -> tuple[int, int, int, int, int] | None:
    """(month, day, hour, minute, second) from the decimal digits MMDDHHMMSS of ``value``.

    There is no year, so only field ranges are checked (day 31 is accepted in every month).
    """
    if not 0 <= value <= TIMESTAMP_MAX:
        return None
    rest, second = divmod(value, 100)
    rest, minute = divmod(rest, 100)
    rest, hour = divmod(rest, 100)
    month, day = divmod(rest, 100)
    if not _valid_clock(month, day, hour, minute, second):
        return None
    return month, day, hour, minute, second


def format_timestamp(value: int) -> str | None:
    """``MM-DD hh:mm:ss``, the same shape as Msg_Id times so the two line up in a column."""
    parts = decode_timestamp(value)
    if parts is None:
        return None
    month, day, hour, minute, second = parts
    return f"{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}"


def encode_timestamp(month: int, day: int, hour: int, minute: int, second: int) -> int:
    """The Timestamp integer for a clock reading; raises ValueError for impossible fields."""
    if not _valid_clock(month, day, hour, minute, second):
        raise ValueError(f"not a valid MMDDHHMMSS time: {month} {day} {hour} {minute} {second}")
    return (((month * 100 + day) * 100 + hour) * 100 + minute) * 100 + second


def timestamp_string(value: int) -> str:
    """The 10-character form hashed into AuthenticatorSource (§7.2), e.g. 8080808 → "0008080808".

    The digits are not checked: a client hashes whatever it put on the wire, so verification
    has to do the same.
    """
    if not 0 <= value <= TIMESTAMP_MAX:
        raise ValueError(f"Timestamp {value} does not fit in a 4-byte UInt")
    return f"{value:010d}"


# --- ValId_Time / At_Time: SMPP 3.3 absolute time, SMPP 3.4 relative time (§7.4) -------------


@dataclass(frozen=True, slots=True)
class SmppTime:
    """A parsed ``YYMMDDhhmmsstnnp`` string.

    For ``p == 'R'`` (relative) the six leading fields are amounts (years, months, ... to
    add), not a date, and ``tenths``/``quarter_hours`` are whatever the sender put there
    (SMPP 3.4 says "000"). For absolute times ``year`` is the two-digit YY as sent.
    """

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    tenths: int
    quarter_hours: int  # offset from UTC in 15-minute units, signed; 32 = UTC+8 (China)
    relative: bool

    def __str__(self) -> str:
        if self.relative:
            return (
                f"in {self.year}y {self.month}m {self.day}d "
                f"{self.hour:02d}:{self.minute:02d}:{self.second:02d}"
            )
        # CMPP dates from 2002 on, so YY is 20YY; the offset is spelled out because the usual
        # value, +32 quarter hours, is easy to misread as a time of day.
        sign = "-" if self.quarter_hours < 0 else "+"
        hours, quarters = divmod(abs(self.quarter_hours), 4)
        return (
            f"20{self.year:02d}-{self.month:02d}-{self.day:02d} "
            f"{self.hour:02d}:{self.minute:02d}:{self.second:02d}.{self.tenths} "
            f"UTC{sign}{hours:02d}:{quarters * 15:02d}"
        )


def parse_smpp_time(value: bytes | str) -> SmppTime | None:
    """Parse ValId_Time/At_Time; None when the field is empty (the common "default") or bad."""
    text = _field_text(value)
    if text is None or len(text) != 16 or not _digits(text[:15]) or text[15] not in "+-R":
        return None
    year, month, day, hour, minute, second = (int(text[i : i + 2]) for i in range(0, 12, 2))
    tenths, quarters = int(text[12]), int(text[13:15])
    if text[15] == "R":
        return SmppTime(year, month, day, hour, minute, second, tenths, quarters, relative=True)
    # 48 quarter hours = the ±12 h limit SMPP 3.3 sets for the UTC offset.
    if not _valid_clock(month, day, hour, minute, second) or quarters > 48:
        return None
    if text[15] == "-":
        quarters = -quarters
    return SmppTime(year, month, day, hour, minute, second, tenths, quarters, relative=False)


def describe_smpp_time(value: bytes | str) -> str:
    """A readable rendering that also tells an empty field (spec: use the default) from junk."""
    text = _field_text(value)
    if text == "":
        return "(empty)"
    parsed = parse_smpp_time(value)
    if parsed is not None:
        return str(parsed)
    return f"(invalid {text!r})" if text is not None else "(invalid, not ASCII)"


# --- Report, QUERY and GNS times (§5.7, §5.9, §5.14) ------------------------------------------


def _parse_fixed(value: bytes | str, widths: tuple[int, ...], century: int) -> datetime | None:
    """Cut an all-digit field into ``widths`` and build a datetime; ``century`` is added to a
    two-digit year (strptime's %y would put 69-99 in the 1900s, and CMPP dates from 2002 on)."""
    text = _field_text(value)
    if text is None:
        return None
    text = text.strip()
    if len(text) != sum(widths) or not _digits(text):
        return None
    parts: list[int] = []
    start = 0
    for width in widths:
        parts.append(int(text[start : start + width]))
        start += width
    year, month, day, hour, minute, second = [*parts, 0, 0, 0][:6]
    try:
        return datetime(year + century, month, day, hour, minute, second)
    except ValueError:  # day 31 in a 30-day month and the like
        return None


def parse_report_time(value: bytes | str) -> datetime | None:
    """Submit_time / Done_time (and the FWD MO-report times): ``YYMMDDHHMM``, YY = 20YY."""
    return _parse_fixed(value, (2, 2, 2, 2, 2), 2000)


def parse_query_date(value: bytes | str) -> date | None:
    """QUERY / QUERY_RESP ``Time``: ``YYYYMMDD`` (day granularity)."""
    parsed = _parse_fixed(value, (4, 2, 2), 0)
    return parsed.date() if parsed is not None else None


def parse_gns_timestamp(value: bytes | str) -> datetime | None:
    """GNS ``Time_stamp``: ``yyyymmddhhmmss``."""
    return _parse_fixed(value, (4, 2, 2, 2, 2, 2), 0)
