"""UDH parsing and Msg_Content decoding (reference §7.5, §7.6, D5, D15, D16)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmppdissect.protocol.content import (
    AppPorts,
    Concat,
    DecodedContent,
    InformationElement,
    decode_content,
    parse_udh,
)
from cmppdissect.protocol.expert import Severity

MULTI_IE = bytes.fromhex("0B 00 03 BA 01 01 05 04 15 8A 00 00")  # §7.6, from S3


def codes(result: DecodedContent) -> list[str]:
    return [f.code for f in result.findings]


# --- parse_udh ----------------------------------------------------------------------------------


def test_multi_ie_reference_vector() -> None:
    udh = parse_udh(MULTI_IE + b"\x00A")
    assert udh is not None
    assert (udh.UDHL, udh.size) == (11, 12)
    assert udh.elements == (
        InformationElement(0x00, 3, b"\xba\x01\x01"),
        InformationElement(0x05, 4, b"\x15\x8a\x00\x00"),
    )
    assert udh.concat == Concat(reference=0xBA, total=1, part=1, reference_bits=8)
    assert udh.ports == AppPorts(dest=0x158A, src=0, port_bits=16)
    assert udh.findings == []


def test_concat_8bit_typical_header() -> None:
    udh = parse_udh(bytes.fromhex("05 00 03 2A 03 02"))
    assert udh is not None and udh.size == 6
    assert udh.concat == Concat(0x2A, 3, 2, 8)
    assert udh.ports is None


def test_concat_16bit_reference_is_big_endian() -> None:
    udh = parse_udh(bytes.fromhex("06 08 04 12 34 03 02"))
    assert udh is not None and udh.size == 7
    assert udh.concat == Concat(0x1234, 3, 2, 16)


def test_ports_8bit() -> None:
    udh = parse_udh(bytes.fromhex("04 04 02 10 20"))
    assert udh is not None
    assert udh.ports == AppPorts(0x10, 0x20, 8)
    assert udh.concat is None


def test_unknown_ie_kept_raw_without_finding() -> None:
    udh = parse_udh(bytes.fromhex("04 70 02 AA BB"))
    assert udh is not None
    assert udh.elements == (InformationElement(0x70, 2, b"\xaa\xbb"),)
    assert (udh.concat, udh.ports, udh.findings) == (None, None, [])


def test_known_iei_with_wrong_iedl_stays_raw_with_warning() -> None:
    udh = parse_udh(bytes.fromhex("04 00 02 01 02"))
    assert udh is not None
    assert udh.concat is None
    assert udh.elements == (InformationElement(0x00, 2, b"\x01\x02"),)
    assert [(f.severity, f.code) for f in udh.findings] == [(Severity.WARN, "udh-ie-length")]


def test_udhl_longer_than_content() -> None:
    udh = parse_udh(bytes.fromhex("0B 00 03 BA"))
    assert udh is not None
    assert udh.UDHL == 11
    assert udh.size == 4  # clipped to what is there
    assert "udh-truncated" in [f.code for f in udh.findings]
    assert udh.concat is None


def test_ie_overrunning_the_header() -> None:
    # UDHL 4 covers "00 05 01 02", but IEDL 5 claims more; the text after the header survives.
    content = bytes.fromhex("04 00 05 01 02") + b"hi"
    udh = parse_udh(content)
    assert udh is not None
    assert udh.size == 5
    assert udh.elements == (InformationElement(0x00, 5, b"\x01\x02"),)
    assert [f.code for f in udh.findings] == ["udh-ie-overrun"]
    assert decode_content(content, 0, 1).text == "hi"


def test_lone_iei_without_iedl() -> None:
    udh = parse_udh(bytes.fromhex("01 00"))
    assert udh is not None
    assert [f.code for f in udh.findings] == ["udh-ie-overrun"]


def test_empty_udh_header() -> None:
    udh = parse_udh(b"\x00abc")
    assert udh is not None
    assert (udh.size, udh.elements, udh.findings) == (1, (), [])


@pytest.mark.parametrize("header", ["05 00 03 01 03 00", "05 00 03 01 02 03", "05 00 03 01 00 00"])
def test_impossible_concat_counters_warn(header: str) -> None:
    udh = parse_udh(bytes.fromhex(header))
    assert udh is not None
    assert [f.code for f in udh.findings] == ["udh-concat-counters"]


def test_repeated_ie_last_one_wins() -> None:
    udh = parse_udh(bytes.fromhex("0A 00 03 01 02 01 00 03 07 02 02"))
    assert udh is not None
    assert udh.concat == Concat(7, 2, 2, 8)


def test_no_content_no_udh() -> None:
    assert parse_udh(b"") is None


# --- decode_content: TP_udhi ---------------------------------------------------------------------


def test_udhi_0x40_is_a_udh_with_a_note() -> None:
    r = decode_content(MULTI_IE + "好".encode("utf-16-be"), 8, 0x40, Pk_total=1, Pk_number=1)
    assert r.udh is not None and r.udh.concat == Concat(0xBA, 1, 1, 8)
    assert r.text == "好"
    assert [(f.severity, f.code, f.field) for f in r.findings] == [
        (Severity.NOTE, "tp-udhi-0x40", "TP_udhi")
    ]


def test_udhi_0_leaves_header_bytes_as_content() -> None:
    r = decode_content(b"\x05\x00\x03\x01\x02\x01AB", 4, 0)
    assert r.udh is None
    assert r.hex == "0500030102014142"
    assert r.findings == []


def test_udhi_1_is_silent() -> None:
    r = decode_content(bytes.fromhex("05 00 03 01 02 01") + b"AB", 0, 1)
    assert r.udh is not None
    assert (r.text, r.payload, r.findings) == ("AB", b"AB", [])


@pytest.mark.parametrize(("udhi", "present"), [(0x02, False), (0x41, True), (0xFF, True)])
def test_unusual_udhi_values_noted(udhi: int, present: bool) -> None:
    r = decode_content(bytes.fromhex("05 00 03 01 02 01") + b"AB", 0, udhi)
    assert (r.udh is not None) is present
    assert codes(r) == ["tp-udhi-unusual"]


def test_udhi_set_on_empty_content() -> None:
    r = decode_content(b"", 0, 1)
    assert r.udh is None
    assert codes(r) == ["udh-missing"]
    assert r.text == ""


def test_udh_findings_are_repeated_in_the_result() -> None:
    r = decode_content(bytes.fromhex("0B 00 03 BA"), 8, 1)
    assert "udh-truncated" in codes(r)
    assert (r.payload, r.text) == (b"", "")


# --- decode_content: Pk_total / Pk_number ------------------------------------------------------


def test_pk_1_of_1_with_3_part_udh_warns() -> None:
    # D15: captured SUBMITs carry Pk 1/1 with a 3-part UDH.
    r = decode_content(bytes.fromhex("05 00 03 2A 03 02") + b"x", 0, 1, Pk_total=1, Pk_number=1)
    assert [(f.severity, f.code) for f in r.findings] == [(Severity.WARN, "pk-udh-mismatch")]
    assert "part 2 of 3" in r.findings[0].message


@pytest.mark.parametrize(("total", "number"), [(3, 1), (2, 2)])
def test_pk_each_counter_checked(total: int, number: int) -> None:
    r = decode_content(bytes.fromhex("05 00 03 2A 03 02"), 0, 1, Pk_total=total, Pk_number=number)
    assert codes(r) == ["pk-udh-mismatch"]


@pytest.mark.parametrize(("total", "number"), [(3, 2), (None, None), (3, None), (None, 2)])
def test_pk_agreeing_or_absent_is_silent(total: int | None, number: int | None) -> None:
    r = decode_content(bytes.fromhex("05 00 03 2A 03 02"), 0, 1, Pk_total=total, Pk_number=number)
    assert r.findings == []


# --- decode_content: Msg_Fmt -------------------------------------------------------------------


def test_ascii() -> None:
    r = decode_content(b"Hello", 0, 0)
    assert (r.text, r.encoding, r.hex, r.findings) == ("Hello", "ascii", "48656c6c6f", [])


def test_ascii_with_high_bytes_falls_back_to_latin1() -> None:
    r = decode_content(b"caf\xe9", 0, 0)
    assert (r.text, r.encoding) == ("café", "latin-1")
    assert codes(r) == ["ascii-high-bytes"]
    assert len(r.text) == 4  # one character per byte


def test_ucs2() -> None:
    r = decode_content("你好, CMPP".encode("utf-16-be"), 8, 0)
    assert (r.text, r.encoding, r.findings) == ("你好, CMPP", "utf-16-be", [])


def test_ucs2_odd_length_decodes_what_fits() -> None:
    r = decode_content("你好".encode("utf-16-be") + b"\x4f", 8, 0)
    assert r.text == "你好"
    assert codes(r) == ["ucs2-odd-length"]
    assert r.hex.endswith("4f")


def test_ucs2_lone_surrogate_replaced() -> None:
    r = decode_content(b"\xd8\x00\x00A", 8, 0)
    assert r.text is not None and "\ufffd" in r.text and r.text.endswith("A")
    assert codes(r) == ["ucs2-invalid"]


@pytest.mark.parametrize("codec", ["gb2312", "gbk", "gb18030"])
def test_gb_family_decodes_as_gb18030(codec: str) -> None:
    r = decode_content("短信网关".encode(codec), 15, 0)
    assert (r.text, r.encoding, r.findings) == ("短信网关", "gb18030", [])


def test_gb18030_four_byte_character() -> None:
    r = decode_content("𠀀".encode("gb18030"), 15, 0)
    assert r.text == "𠀀"


def test_gb_invalid_bytes_replaced_with_finding() -> None:
    r = decode_content("短".encode("gb18030") + b"\xffAB", 15, 0)
    assert r.text == "短\ufffdAB"
    assert [(f.severity, f.code) for f in r.findings] == [(Severity.WARN, "gb-invalid")]


def test_genuine_replacement_character_is_not_damage() -> None:
    r = decode_content("a\ufffdb".encode("gb18030"), 15, 0)
    assert (r.text, r.findings) == ("a\ufffdb", [])


@pytest.mark.parametrize("fmt", [3, 4])
def test_spec_binary_formats_are_silent(fmt: int) -> None:
    r = decode_content(b"\x00\x01\xfe", fmt, 0)
    assert (r.text, r.hex, r.encoding, r.findings) == (None, "0001fe", "binary", [])


@pytest.mark.parametrize("fmt", [0xF5, 0xF6])
def test_gsm_dcs_bytes_are_binary_with_note(fmt: int) -> None:
    r = decode_content(bytes.fromhex("0605040B8423F0") + b"\x01\x02", fmt, 1)
    assert (r.text, r.hex, r.encoding) == (None, "0102", "binary")
    assert r.udh is not None and r.udh.ports == AppPorts(0x0B84, 0x23F0, 16)  # WAP push
    assert [(f.severity, f.code, f.field) for f in r.findings] == [
        (Severity.NOTE, "msg-fmt-binary", "Msg_Fmt")
    ]
    assert "8-bit" in r.findings[0].message


@pytest.mark.parametrize("fmt", [1, 2, 5, 9, 16, 0xF0, 0xFF])
def test_unknown_msg_fmt_is_binary_with_note(fmt: int) -> None:
    r = decode_content(b"AB", fmt, 0)
    assert (r.text, r.hex) == (None, "4142")
    assert codes(r) == ["msg-fmt-unknown"]


# --- properties ----------------------------------------------------------------------------------


def build_concat_udh(ref: int, total: int, part: int, sixteen: bool) -> bytes:
    """A test-side encoder: the two concatenation header forms of §7.6."""
    if sixteen:
        return bytes([6, 0x08, 4, ref >> 8, ref & 0xFF, total, part])
    return bytes([5, 0x00, 3, ref, total, part])


@given(st.booleans(), st.data(), st.text(max_size=60))
def test_concat_header_round_trip(sixteen: bool, data: st.DataObject, text: str) -> None:
    ref = data.draw(st.integers(0, 0xFFFF if sixteen else 0xFF))
    total = data.draw(st.integers(1, 255))
    part = data.draw(st.integers(1, total))
    body = text.encode("utf-16-be", errors="surrogatepass")
    r = decode_content(
        build_concat_udh(ref, total, part, sixteen) + body, 8, 1, Pk_total=total, Pk_number=part
    )
    assert r.udh is not None
    assert r.udh.concat == Concat(ref, total, part, 16 if sixteen else 8)
    assert r.payload == body
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        assert r.text == text
        assert r.findings == []


@given(st.binary(max_size=300), st.integers(0, 255), st.integers(0, 255))
def test_decode_never_raises_and_splits_content_exactly(
    content: bytes, fmt: int, udhi: int
) -> None:
    r = decode_content(content, fmt, udhi, Pk_total=1, Pk_number=1)
    header = r.udh.size if r.udh is not None else 0
    assert content[:header] + r.payload == content
    assert r.hex == r.payload.hex()
    assert (r.text is None) == (r.encoding == "binary")
    if r.udh is not None:
        assert all(f in r.findings for f in r.udh.findings)
