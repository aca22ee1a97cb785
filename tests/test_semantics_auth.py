"""Authenticators against the gocmpp vector of reference §7.2, and the D2/D14 variants."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmppdissect.protocol.auth import (
    EMPTY,
    NUL_PADDED,
    STATUS_1_BYTE,
    STATUS_4_BYTE,
    UNPADDED,
    authenticator_ismg,
    authenticator_source,
    check_connect,
    check_connect_resp,
)
from cmppdissect.protocol.version import Version

SOURCE_ADDR = "900001"
SECRET = "888888"
TIMESTAMP = 1021080510
AUTH_SOURCE = bytes.fromhex("90d00c1d517abd0b4f65f6bcf8535d16")
AUTH_ISMG_20 = bytes.fromhex("6c0b846e25bab6daa4ed1c466e0f4bd8")
AUTH_ISMG_30 = bytes.fromhex("7942977274098cf210ab0c16c367bc8d")


# --- building -------------------------------------------------------------------------------------


def test_authenticator_source_vector() -> None:
    assert authenticator_source(SOURCE_ADDR, SECRET, TIMESTAMP) == AUTH_SOURCE
    assert authenticator_source(b"900001", b"888888", TIMESTAMP) == AUTH_SOURCE
    # A 6-character SP_Id is already field width, so padding changes nothing.
    assert authenticator_source(SOURCE_ADDR, SECRET, TIMESTAMP, pad_source=True) == AUTH_SOURCE


def test_authenticator_source_hashes_timestamp_with_leading_zeros() -> None:
    expected = hashlib.md5(b"900001" + bytes(9) + b"888888" + b"0008080808").digest()
    assert authenticator_source(SOURCE_ADDR, SECRET, 8080808) == expected


def test_pad_source_pads_short_sp_id_to_six_bytes() -> None:
    padded = hashlib.md5(b"90000\x00" + bytes(9) + b"888888" + b"1021080510").digest()
    assert authenticator_source("90000", SECRET, TIMESTAMP, pad_source=True) == padded
    assert authenticator_source("90000", SECRET, TIMESTAMP) != padded


def test_authenticator_ismg_vectors() -> None:
    assert authenticator_ismg(0, AUTH_SOURCE, SECRET, status_width=1) == AUTH_ISMG_20
    assert authenticator_ismg(0, AUTH_SOURCE, SECRET, status_width=4) == AUTH_ISMG_30


@pytest.mark.parametrize(("status", "width"), [(256, 1), (-1, 4), (1 << 32, 4), (0, 2)])
def test_authenticator_ismg_rejects_status_that_does_not_fit(status: int, width: int) -> None:
    with pytest.raises(ValueError, match=r"status_width|does not fit"):
        authenticator_ismg(status, AUTH_SOURCE, SECRET, status_width=width)


# --- check_connect ----------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["900001", b"900001"])
def test_check_connect_vector(source: bytes | str) -> None:
    result = check_connect(source, AUTH_SOURCE, TIMESTAMP, SECRET)
    assert (result.ok, result.variant, result.deviation) == (True, UNPADDED, False)


def test_check_connect_short_sp_id_huawei_style_from_raw_field() -> None:
    auth = authenticator_source("90000", SECRET, TIMESTAMP)
    result = check_connect(b"90000\x00", auth, TIMESTAMP, SECRET)  # raw NUL-padded field
    assert (result.ok, result.variant, result.deviation) == (True, UNPADDED, False)


def test_check_connect_short_sp_id_gocmpp_style() -> None:
    auth = authenticator_source("90000", SECRET, TIMESTAMP, pad_source=True)
    result = check_connect(b"90000\x00", auth, TIMESTAMP, SECRET)
    assert (result.ok, result.variant, result.deviation) == (True, NUL_PADDED, True)
    assert "gocmpp" in result.message


@pytest.mark.parametrize(
    ("source", "auth", "timestamp", "secret"),
    [
        (SOURCE_ADDR, AUTH_SOURCE, TIMESTAMP, "888889"),
        (SOURCE_ADDR, AUTH_SOURCE, TIMESTAMP + 1, SECRET),
        ("900002", AUTH_SOURCE, TIMESTAMP, SECRET),
        (SOURCE_ADDR, AUTH_SOURCE[:15], TIMESTAMP, SECRET),
        (SOURCE_ADDR, AUTH_SOURCE, -1, SECRET),
    ],
)
def test_check_connect_mismatch(source: str, auth: bytes, timestamp: int, secret: str) -> None:
    result = check_connect(source, auth, timestamp, secret)
    assert (result.ok, result.variant) == (False, None)
    assert result.message


# --- check_connect_resp -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "version", "variant", "deviation"),
    [
        (AUTH_ISMG_20, Version.V2_0, STATUS_1_BYTE, False),
        (AUTH_ISMG_30, Version.V3_0, STATUS_4_BYTE, False),
        (AUTH_ISMG_30, Version.V2_0, STATUS_4_BYTE, True),  # SMSGate in a 2.0 session (D2)
        (AUTH_ISMG_20, Version.V3_0, STATUS_1_BYTE, True),
        (AUTH_ISMG_20, None, STATUS_1_BYTE, False),
        (AUTH_ISMG_30, None, STATUS_4_BYTE, False),
    ],
)
def test_check_connect_resp_variants(
    auth: bytes, version: Version | None, variant: str, deviation: bool
) -> None:
    result = check_connect_resp(0, auth, AUTH_SOURCE, SECRET, version)
    assert (result.ok, result.variant, result.deviation) == (True, variant, deviation)
    assert ("although the session is CMPP" in result.message) is deviation


def test_check_connect_resp_large_status_only_fits_four_bytes() -> None:
    auth = authenticator_ismg(300, AUTH_SOURCE, SECRET, status_width=4)
    result = check_connect_resp(300, auth, AUTH_SOURCE, SECRET, Version.V3_0)
    assert (result.ok, result.variant) == (True, STATUS_4_BYTE)


def test_check_connect_resp_empty_authenticator_on_failure() -> None:
    result = check_connect_resp(3, bytes(16), AUTH_SOURCE, SECRET, Version.V2_0)
    assert (result.ok, result.variant) == (True, EMPTY)


def test_check_connect_resp_empty_authenticator_on_success_is_not_ok() -> None:
    result = check_connect_resp(0, bytes(16), AUTH_SOURCE, SECRET, Version.V3_0)
    assert (result.ok, result.variant) == (False, EMPTY)


@pytest.mark.parametrize(
    ("status", "auth", "secret"),
    [(0, AUTH_ISMG_20, "wrong"), (1, AUTH_ISMG_20, SECRET), (0, AUTH_ISMG_20[:8], SECRET)],
)
def test_check_connect_resp_mismatch(status: int, auth: bytes, secret: str) -> None:
    result = check_connect_resp(status, auth, AUTH_SOURCE, secret, Version.V2_0)
    assert (result.ok, result.variant) == (False, None)


# --- round trips ------------------------------------------------------------------------------


sp_ids = st.text(alphabet="0123456789", min_size=1, max_size=6)
secrets = st.binary(max_size=20)
timestamps = st.integers(0, 0xFFFFFFFF)


@given(sp_ids, secrets, timestamps, st.booleans())
def test_check_connect_recognises_what_was_built(
    sp_id: str, secret: bytes, timestamp: int, pad: bool
) -> None:
    auth = authenticator_source(sp_id, secret, timestamp, pad_source=pad)
    raw_field = sp_id.encode().ljust(6, b"\x00")
    result = check_connect(raw_field, auth, timestamp, secret)
    assert result.ok
    # A full-width SP_Id hashes the same both ways, and then the spec form is reported.
    assert result.variant == (NUL_PADDED if pad and len(sp_id) < 6 else UNPADDED)


@given(st.sampled_from([1, 4]), st.data(), secrets, st.binary(min_size=16, max_size=16))
def test_check_connect_resp_recognises_what_was_built(
    width: int, data: st.DataObject, secret: bytes, auth_source: bytes
) -> None:
    status = data.draw(st.integers(0, (1 << (8 * width)) - 1))
    auth = authenticator_ismg(status, auth_source, secret, status_width=width)
    version = Version.V2_0 if width == 1 else Version.V3_0
    result = check_connect_resp(status, auth, auth_source, secret, version)
    assert (result.ok, result.variant, result.deviation) == (
        True,
        STATUS_1_BYTE if width == 1 else STATUS_4_BYTE,
        False,
    )
