"""What a status report's ``Stat`` says (reference §7.9); the byte layout lives with the PDUs.

``Stat`` is a 7-character word. Besides the spec's seven SMPP words and its ``XX:nnnn``
families, gateways send their own codes (``MK:0012``, ``AF:4`` NUL-padded), so every lookup
here answers for any string instead of treating the unknown as an error.
"""

from __future__ import annotations

from typing import Final, Literal

StatClass = Literal["delivered", "failed", "pending", "unknown"]

STAT_MEANINGS: Final[dict[str, str]] = {
    "DELIVRD": "delivered",
    "EXPIRED": "validity period expired",
    "DELETED": "deleted",
    "UNDELIV": "undeliverable",
    "ACCEPTD": "accepted (intermediate)",
    "UNKNOWN": "invalid state",
    "REJECTD": "rejected",
    # Families written "XX:xxxx"; 2.1 added MA/MB/CA/CB, 3.0 the rest.
    "MA": "SMSC no answer",
    "MB": "SMSC error answer",
    "MC": "no report from SMSC",
    "CA": "SCP no answer",
    "CB": "SCP error answer",
    "DA": "DSMP no answer",
    "DB": "DSMP error answer",
    "SA": "SP no answer",
    "SB": "SP error answer",
    "IA": "next ISMG no answer",
    "IB": "next ISMG error answer",
    "IC": "no report from next ISMG",
}

VENDOR_MEANING: Final = "vendor-specific code"

_CLASS_OF_WORD: Final[dict[str, StatClass]] = {
    "DELIVRD": "delivered",
    "ACCEPTD": "pending",
    "UNKNOWN": "unknown",
    "EXPIRED": "failed",
    "DELETED": "failed",
    "UNDELIV": "failed",
    "REJECTD": "failed",
}


def _normalise(stat: str) -> str:
    """Drop the NUL padding and blanks a short vendor code arrives with (``AF:4\\0\\0\\0``)."""
    return stat.split("\x00", 1)[0].strip()


def _family(stat: str) -> str | None:
    """The spec family prefix of ``XX:xxxx`` codes, or None."""
    prefix = stat[:2]
    return prefix if stat[2:3] == ":" and prefix in STAT_MEANINGS else None


def stat_meaning(stat: str) -> str:
    """The meaning of a Stat value; any non-spec code is named as vendor-specific."""
    word = _normalise(stat)
    if not word:
        return "empty"
    if word in _CLASS_OF_WORD:
        return STAT_MEANINGS[word]
    family = _family(word)
    if family is not None:
        return STAT_MEANINGS[family]
    return VENDOR_MEANING


def stat_class(stat: str) -> StatClass:
    """Bucket a Stat for delivery statistics.

    Vendor codes count as failed: every one seen in practice (``MK:0012``, ``AF:4``) is an
    error report, and gateways send DELIVRD for success. An empty Stat tells nothing, so it is
    unknown.
    """
    word = _normalise(stat)
    if not word:
        return "unknown"
    return _CLASS_OF_WORD.get(word, "failed")
