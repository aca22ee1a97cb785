"""Msg_Content: the User Data Header and the text after it (reference §7.5, §7.6).

Content is whatever the SP or handset sent, so nothing here raises on bad input: a broken
UDH or an undecodable byte becomes a :class:`Finding` next to as much as could be decoded,
and the payload is always available as hex.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cmppdissect.protocol.codes import code_name
from cmppdissect.protocol.expert import Finding, Severity

# GSM 03.40 §9.2.3.24 information element identifiers this module interprets.
IEI_CONCAT_8 = 0x00
IEI_PORTS_8 = 0x04
IEI_PORTS_16 = 0x05
IEI_CONCAT_16 = 0x08

_IEDL_OF = {IEI_CONCAT_8: 3, IEI_PORTS_8: 2, IEI_PORTS_16: 4, IEI_CONCAT_16: 4}

# TP_udhi bits that mean "a UDH is present": the spec's bit 0 and the 0x40 that gateways copy
# from SMPP esm_class (D5).
UDHI_MASK = 0x41

_GSM_DCS_8BIT = frozenset({0xF5, 0xF6})


@dataclass(frozen=True, slots=True)
class InformationElement:
    """One IE as sent; ``data`` is shorter than ``IEDL`` when the UDH was cut off."""

    IEI: int
    IEDL: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Concat:
    """Concatenated-SM counters; ``part`` counts from 1."""

    reference: int
    total: int
    part: int
    reference_bits: int  # 8 (IEI 0x00) or 16 (IEI 0x08)


@dataclass(frozen=True, slots=True)
class AppPorts:
    """Application port addressing (WAP push and the like)."""

    dest: int
    src: int
    port_bits: int  # 8 (IEI 0x04) or 16 (IEI 0x05)


@dataclass(frozen=True, slots=True)
class Udh:
    """A parsed User Data Header.

    ``size`` is how many bytes of Msg_Content the header takes (1 + UDHL, or less when UDHL
    claims more than there is); the text starts right after it.
    """

    UDHL: int
    size: int
    elements: tuple[InformationElement, ...]
    concat: Concat | None = None
    ports: AppPorts | None = None
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DecodedContent:
    """Msg_Content decoded for display.

    ``payload`` is the part after the UDH; ``text`` is None for binary formats and ``hex``
    is always the payload in hex. ``findings`` holds everything noticed, the UDH's included.
    """

    udh: Udh | None
    payload: bytes
    text: str | None
    encoding: str  # "ascii", "latin-1", "utf-16-be", "gb18030" or "binary"
    findings: list[Finding]

    @property
    def hex(self) -> str:
        """The payload in hex (made when asked: records carry Msg_Content's own hex)."""
        return self.payload.hex()


def _interpret(element: InformationElement, findings: list[Finding]) -> Concat | AppPorts | None:
    """Read a known IE; a wrong IEDL leaves it raw, since its fields would be guesses."""
    expected = _IEDL_OF.get(element.IEI)
    if expected is None:
        return None
    if expected != element.IEDL:
        findings.append(
            Finding(
                Severity.WARN,
                "udh-ie-length",
                f"UDH IE 0x{element.IEI:02X} has IEDL {element.IEDL}, expected {expected}",
                "Msg_Content",
            )
        )
        return None
    d = element.data
    if element.IEI == IEI_CONCAT_8:
        return Concat(d[0], d[1], d[2], 8)
    if element.IEI == IEI_CONCAT_16:
        return Concat(int.from_bytes(d[0:2], "big"), d[2], d[3], 16)
    if element.IEI == IEI_PORTS_16:
        return AppPorts(int.from_bytes(d[0:2], "big"), int.from_bytes(d[2:4], "big"), 16)
    return AppPorts(d[0], d[1], 8)


def parse_udh(content: bytes) -> Udh | None:
    """Parse the UDH at the start of ``content``; None only when there is no UDHL byte at all.

    When an IE repeats, the last one wins (GSM 03.40 §9.2.3.24 rule for non-repeatable IEs).
    """
    if not content:
        return None
    findings: list[Finding] = []
    udhl = content[0]
    end = 1 + udhl
    if end > len(content):
        findings.append(
            Finding(
                Severity.WARN,
                "udh-truncated",
                f"UDHL {udhl} runs past the {len(content) - 1} bytes after it",
                "Msg_Content",
            )
        )
        end = len(content)
    elements: list[InformationElement] = []
    concat: Concat | None = None
    ports: AppPorts | None = None
    pos = 1
    while pos < end:
        iei = content[pos]
        iedl = content[pos + 1] if pos + 1 < end else 0
        data = content[pos + 2 : min(pos + 2 + iedl, end)]
        element = InformationElement(iei, iedl, data)
        elements.append(element)
        if pos + 2 + iedl > end:
            findings.append(
                Finding(
                    Severity.WARN,
                    "udh-ie-overrun",
                    f"UDH IE 0x{iei:02X} at offset {pos} runs past the end of the header",
                    "Msg_Content",
                )
            )
            break
        pos += 2 + iedl
        known = _interpret(element, findings)
        if isinstance(known, Concat):
            concat = known
        elif isinstance(known, AppPorts):
            ports = known
    if concat is not None and not 1 <= concat.part <= concat.total:
        findings.append(
            Finding(
                Severity.WARN,
                "udh-concat-counters",
                f"UDH says part {concat.part} of {concat.total}",
                "Msg_Content",
            )
        )
    return Udh(udhl, end, tuple(elements), concat, ports, findings)


def decode_text(payload: bytes, Msg_Fmt: int, findings: list[Finding]) -> tuple[str | None, str]:
    """(text, encoding name) for the payload, appending a finding for whatever went wrong."""
    if Msg_Fmt == 0:
        if payload.isascii():
            return payload.decode("ascii"), "ascii"
        # Latin-1 maps every byte to one character, so it cannot fail and keeps one character
        # per byte: the text still lines up with Msg_Length and the hex, where a replacement
        # character would hide which byte was there.
        findings.append(
            Finding(
                Severity.WARN,
                "ascii-high-bytes",
                "Msg_Fmt 0 (ASCII) content has bytes above 0x7F; shown as Latin-1",
                "Msg_Content",
            )
        )
        return payload.decode("latin-1"), "latin-1"
    if Msg_Fmt == 8:
        if len(payload) % 2:
            findings.append(
                Finding(
                    Severity.WARN,
                    "ucs2-odd-length",
                    f"UCS2 content has an odd length ({len(payload)}); last byte not decoded",
                    "Msg_Content",
                )
            )
            payload = payload[:-1]
        return _decode_or_replace(payload, "utf-16-be", "ucs2-invalid", findings), "utf-16-be"
    if Msg_Fmt == 15:
        # GB18030 is a superset of GBK and GB2312, so it reads what either kind of SP sends.
        return _decode_or_replace(payload, "gb18030", "gb-invalid", findings), "gb18030"
    if Msg_Fmt in (3, 4):
        return None, "binary"
    name = code_name("msg_fmt", Msg_Fmt)
    if Msg_Fmt in _GSM_DCS_8BIT:
        findings.append(
            Finding(
                Severity.NOTE,
                "msg-fmt-binary",
                f"Msg_Fmt 0x{Msg_Fmt:02X} is a GSM DCS byte ({name}); shown as binary",
                "Msg_Fmt",
            )
        )
    else:
        findings.append(
            Finding(
                Severity.NOTE,
                "msg-fmt-unknown",
                f"Msg_Fmt {Msg_Fmt} (0x{Msg_Fmt:02X}) is not defined; shown as binary",
                "Msg_Fmt",
            )
        )
    return None, "binary"


def _decode_or_replace(payload: bytes, codec: str, code: str, findings: list[Finding]) -> str:
    """Strict first, so that a genuine U+FFFD in the content is not reported as damage."""
    try:
        return payload.decode(codec)
    except UnicodeDecodeError as exc:
        findings.append(
            Finding(
                Severity.WARN,
                code,
                f"content is not valid {codec} (first bad byte at {exc.start}); shown with U+FFFD",
                "Msg_Content",
            )
        )
        return payload.decode(codec, errors="replace")


def decode_content(
    content: bytes,
    Msg_Fmt: int,
    TP_udhi: int,
    *,
    Pk_total: int | None = None,
    Pk_number: int | None = None,
) -> DecodedContent:
    """Split off the UDH (if TP_udhi says so) and decode the rest according to Msg_Fmt.

    Pk_total/Pk_number, when given, are compared with the UDH's concatenation counters;
    captures show they often disagree (D15), and the UDH is what handsets go by.
    """
    findings: list[Finding] = []
    if TP_udhi == 0x40:
        findings.append(
            Finding(
                Severity.NOTE,
                "tp-udhi-0x40",
                "TP_udhi is 0x40 (SMPP esm_class style) instead of 1; taken as UDH present",
                "TP_udhi",
            )
        )
    elif TP_udhi not in (0, 1):
        findings.append(
            Finding(
                Severity.NOTE,
                "tp-udhi-unusual",
                f"TP_udhi is 0x{TP_udhi:02X}; UDH taken as "
                + ("present" if TP_udhi & UDHI_MASK else "absent"),
                "TP_udhi",
            )
        )
    udh: Udh | None = None
    payload = content
    if TP_udhi & UDHI_MASK:
        udh = parse_udh(content)
        if udh is None:
            findings.append(
                Finding(
                    Severity.WARN,
                    "udh-missing",
                    "TP_udhi is set but Msg_Content is empty",
                    "Msg_Content",
                )
            )
        else:
            findings.extend(udh.findings)
            payload = content[udh.size :]
            _check_pk(udh.concat, Pk_total, Pk_number, findings)
    text, encoding = decode_text(payload, Msg_Fmt, findings)
    return DecodedContent(udh, payload, text, encoding, findings)


def _check_pk(
    concat: Concat | None, Pk_total: int | None, Pk_number: int | None, findings: list[Finding]
) -> None:
    if concat is None:
        return
    if (Pk_total is not None and Pk_total != concat.total) or (
        Pk_number is not None and Pk_number != concat.part
    ):
        findings.append(
            Finding(
                Severity.WARN,
                "pk-udh-mismatch",
                f"Pk_total/Pk_number {Pk_total}/{Pk_number} disagree with the UDH's "
                f"part {concat.part} of {concat.total}",
                "Pk_total",
            )
        )
