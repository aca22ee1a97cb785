"""CMPP protocol versions and what the Version byte says about them (reference §4, D7)."""

from __future__ import annotations

from enum import StrEnum


class Version(StrEnum):
    """The two wire formats. 2.1 uses the 2.0 layouts, so it is ``V2_0`` here."""

    V2_0 = "2.0"
    V3_0 = "3.0"

    @property
    def other(self) -> Version:
        return Version.V3_0 if self is Version.V2_0 else Version.V2_0


def version_from_byte(value: int) -> Version | None:
    """Map a CONNECT/CONNECT_RESP Version byte to a layout family.

    0x2x is 2.0/2.1 and 0x3x is 3.0. Real implementations also send 0x00, 0x01 (the Huawei
    API's default) and 0x7F (SMSGate's private mode); those say nothing reliable, so the
    caller infers the version from PDU lengths instead (reference D7).
    """
    major = value >> 4
    if major == 2:
        return Version.V2_0
    if major == 3:
        return Version.V3_0
    return None


def parse_version(text: str | Version | None) -> Version | None:
    """Accept what a user types: ``2``, ``2.0``, ``2.1``, ``20``, ``3``, ``3.0``, ``auto``."""
    if text is None or isinstance(text, Version):
        return text
    t = text.strip().lower().lstrip("v")
    if t in ("", "auto"):
        return None
    if t in ("2", "2.0", "2.1", "20", "21"):
        return Version.V2_0
    if t in ("3", "3.0", "30"):
        return Version.V3_0
    raise ValueError(f"unknown CMPP version {text!r} (use 2.0, 3.0 or auto)")
