"""CONNECT authenticators (reference §7.2) and checking them against a known shared secret.

Implementations disagree on two details that change the hash (D2, D14), so a check tries
each form and reports which one matched: that tells the user not only "the secret is right"
but also which kind of peer is on the other end.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cmppdissect.protocol.timefmt import timestamp_string
from cmppdissect.protocol.version import Version

AUTHENTICATOR_LEN = 16
_EMPTY = bytes(AUTHENTICATOR_LEN)
_SOURCE_ADDR_LEN = 6

# AuthCheck.variant values.
UNPADDED = "unpadded"
NUL_PADDED = "nul-padded"
STATUS_1_BYTE = "status-1-byte"
STATUS_4_BYTE = "status-4-byte"
EMPTY = "empty"

_WIDTH_OF_VERSION = {Version.V2_0: 1, Version.V3_0: 4}
_VARIANT_OF_WIDTH = {1: STATUS_1_BYTE, 4: STATUS_4_BYTE}


@dataclass(frozen=True, slots=True)
class AuthCheck:
    """Outcome of checking an authenticator.

    ``variant`` names the form that matched (one of the module constants), or None.
    ``deviation`` is True when it matched only in a form that differs from what the spec
    and the session version call for — worth a note, not an error.
    """

    ok: bool
    variant: str | None
    message: str
    deviation: bool = False


def _as_bytes(value: bytes | str) -> bytes:
    # Source_Addr and secrets are ASCII in practice; UTF-8 is what a user typing a secret means.
    return value.encode("utf-8") if isinstance(value, str) else value


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


def authenticator_source(
    Source_Addr: bytes | str, secret: bytes | str, timestamp: int, *, pad_source: bool = False
) -> bytes:
    """MD5(Source_Addr ‖ 9×NUL ‖ secret ‖ "MMDDHHMMSS").

    ``pad_source`` NUL-pads Source_Addr to its 6-byte field width first, as gocmpp does
    (D14); the other implementations hash the bare SP_Id.
    """
    source = _as_bytes(Source_Addr)
    if pad_source:
        source = source.ljust(_SOURCE_ADDR_LEN, b"\x00")
    return _md5(source + bytes(9) + _as_bytes(secret) + timestamp_string(timestamp).encode())


def authenticator_ismg(
    Status: int, AuthenticatorSource: bytes, secret: bytes | str, *, status_width: int
) -> bytes:
    """MD5(Status ‖ AuthenticatorSource ‖ secret) with Status as its big-endian wire bytes.

    The width is a parameter rather than a version because SMSGate hashes 4 bytes even in
    2.0 sessions (D2).
    """
    if status_width not in _VARIANT_OF_WIDTH:
        raise ValueError(f"status_width must be 1 or 4, not {status_width}")
    if not 0 <= Status < 1 << (8 * status_width):
        raise ValueError(f"Status {Status} does not fit in {status_width} byte(s)")
    return _md5(Status.to_bytes(status_width, "big") + AuthenticatorSource + _as_bytes(secret))


def check_connect(
    Source_Addr: bytes | str, AuthenticatorSource: bytes, Timestamp: int, secret: bytes | str
) -> AuthCheck:
    """Check a CONNECT's AuthenticatorSource; Source_Addr may be the raw NUL-padded field."""
    if len(AuthenticatorSource) != AUTHENTICATOR_LEN:
        return AuthCheck(False, None, f"AuthenticatorSource is {len(AuthenticatorSource)} bytes")
    if Timestamp < 0 or Timestamp > 0xFFFFFFFF:
        return AuthCheck(False, None, f"Timestamp {Timestamp} is not a 4-byte UInt")
    # The wire field is NUL-padded, so the bare SP_Id is what precedes the first NUL.
    source = _as_bytes(Source_Addr).split(b"\x00", 1)[0]
    if hmac.compare_digest(authenticator_source(source, secret, Timestamp), AuthenticatorSource):
        return AuthCheck(True, UNPADDED, "AuthenticatorSource matches")
    padded = authenticator_source(source, secret, Timestamp, pad_source=True)
    if hmac.compare_digest(padded, AuthenticatorSource):
        return AuthCheck(
            True,
            NUL_PADDED,
            "AuthenticatorSource matches with Source_Addr NUL-padded to 6 bytes (gocmpp style)",
            deviation=True,
        )
    return AuthCheck(
        False, None, "AuthenticatorSource does not match (wrong secret, Source_Addr or Timestamp)"
    )


def check_connect_resp(
    Status: int,
    AuthenticatorISMG: bytes,
    AuthenticatorSource: bytes,
    secret: bytes | str,
    version: Version | None,
) -> AuthCheck:
    """Check a CONNECT_RESP's AuthenticatorISMG against the CONNECT it answers.

    Both Status widths are tried whatever ``version`` says, since a 2.0 peer may hash 4
    bytes (D2); ``version`` only decides whether the width that matched is a deviation.
    """
    if len(AuthenticatorISMG) != AUTHENTICATOR_LEN:
        return AuthCheck(False, None, f"AuthenticatorISMG is {len(AuthenticatorISMG)} bytes")
    if AuthenticatorISMG == _EMPTY:
        if Status != 0:
            return AuthCheck(True, EMPTY, "empty AuthenticatorISMG, as the spec asks on failure")
        return AuthCheck(False, EMPTY, "empty AuthenticatorISMG although Status is 0")
    expected = _WIDTH_OF_VERSION[version] if version is not None else None
    for width in (w for w in (1, 4) if 0 <= Status < 1 << (8 * w)):
        candidate = authenticator_ismg(Status, AuthenticatorSource, secret, status_width=width)
        if not hmac.compare_digest(candidate, AuthenticatorISMG):
            continue
        message = f"AuthenticatorISMG matches with a {width}-byte Status"
        deviation = expected is not None and width != expected
        if deviation:
            message += f" although the session is CMPP {version} ({expected}-byte Status)"
        return AuthCheck(True, _VARIANT_OF_WIDTH[width], message, deviation=deviation)
    return AuthCheck(
        False,
        None,
        "AuthenticatorISMG matches neither Status width (wrong secret or AuthenticatorSource)",
    )
