"""The core's light fields equal the full decoder's, on every PDU type of both versions.

The compiled core reads a few fields of every PDU at offsets it derives from
``protocol/layouts.py`` and decides whether Python's full decoder could have anything to say
about it (a finding of severity warn or worse). These tests prove, PDU by PDU, that

* the version, the outcome field, Msg_Id, Registered_Delivery, the recipients, Msg_Fmt,
  TP_udhi, Msg_Content, the status report and the long-SMS counters are the full decoder's,
  also for bodies that are cut short, too long, or of the other version;
* a PDU the core calls clean (no flag) gets no finding of severity warn or worse from the full
  decoder: the engine may then skip decoding it without changing any statistic or finding.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import ALL_PDUS, field_values, report_values
from vectors import VECTORS

from cmppdissect.core._pdu import light
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.content import UDHI_MASK
from cmppdissect.protocol.decode import decode_pdu
from cmppdissect.protocol.encode import encode_fields, encode_pdu
from cmppdissect.protocol.expert import Severity
from cmppdissect.protocol.layouts import LAYOUTS, REPORT_60, REPORT_71, Kind, result_of
from cmppdissect.protocol.version import Version

HINTS = [None, Version.V2_0, Version.V3_0]
LOGIN = (C.CMPP_CONNECT, C.CMPP_CONNECT_RESP)


LOGIN_FINDINGS = {"auth-ismg-zero"}  # what only a login's full decode says (D24)


def check(pdu: bytes, hint: Version | None) -> dict[str, Any]:
    """Assert that the core's light fields are the full decoder's; returns them."""
    lt = light(pdu, hint)
    full = decode_pdu(pdu, hint)
    fields = full.fields
    assert lt["version"] == (full.version.value if full.version else None)
    outcome = result_of(fields)
    assert lt["result"] == (None if outcome is None else outcome[1])
    assert lt["msg_id"] == fields.get("Msg_Id")
    assert lt["registered_delivery"] == fields.get("Registered_Delivery")
    layout_fields = full.layout.fields if full.layout else ()
    arrays = [f.name for f in layout_fields if f.kind is Kind.STR_ARRAY]
    if arrays:
        assert lt["recipients"] == len(fields.get(arrays[0], ()))
    assert lt["msg_fmt"] == fields.get("Msg_Fmt")
    assert lt["tp_udhi"] == fields.get("TP_udhi")
    assert lt["content"] == fields.get("Msg_Content")
    if full.Command_Id == C.CMPP_CONNECT:
        assert lt["version_byte"] == fields.get("Version")
    if full.report is not None:
        assert lt["report"] == {"Msg_Id": full.report["Msg_Id"], "Stat": full.report["Stat"]}
    else:
        assert lt["report"] is None
    content = full.content
    if (full.report is None and fields.get("TP_udhi", 0) & UDHI_MASK and "Msg_Content" in fields
            and content is not None and content.udh is not None
            and content.udh.concat is not None):
        c = content.udh.concat
        assert lt["concat"] == (c.reference, c.total, c.part)
        assert lt["long_part"] == (c.total >= 2 and 1 <= c.part <= c.total)
    else:
        assert not lt["long_part"]
    warned = [f for f in full.findings if f.severity >= Severity.WARN]
    if not lt["flags"] or lt["flags"] == 4:  # ambiguous only
        assert not warned, (lt["flags"], warned)
    elif lt["flags"] in (128, 132):  # a login, always decoded in full: only its own findings
        assert all(f.code in LOGIN_FINDINGS for f in warned), (lt["flags"], warned)
    if any(f.code in ("body-short", "body-long", "missing-tail") for f in full.findings):
        assert not lt["exact"]
    return lt


# -- every PDU type, both versions, all hints -------------------------------------------------


@pytest.mark.parametrize(("command_id", "version"), ALL_PDUS,
                         ids=[f"{C(c).name}-{v}" for c, v in ALL_PDUS])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_layout_with_random_fields(command_id: int, version: Version,
                                         data: st.DataObject) -> None:
    layout = LAYOUTS[(command_id, version)]
    fields = data.draw(field_values(layout))
    pdu = encode_pdu(command_id, data.draw(st.integers(0, 2**32 - 1)), fields, version)
    for hint in HINTS:
        lt = check(pdu, hint)
        if hint is version and command_id not in LOGIN:
            assert lt["exact"] and lt["version"] == version.value


@pytest.mark.parametrize(("command_id", "version"), ALL_PDUS,
                         ids=[f"{C(c).name}-{v}" for c, v in ALL_PDUS])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_cut_short_and_too_long(command_id: int, version: Version, data: st.DataObject) -> None:
    """Bodies that end early (at every length) or carry extra bytes: fields as far as they go."""
    layout = LAYOUTS[(command_id, version)]
    pdu = encode_pdu(command_id, 1, data.draw(field_values(layout)), version)
    body = pdu[12:]
    cut = data.draw(st.integers(0, len(body)))
    extra = data.draw(st.binary(max_size=40))
    for new_body in (body[:cut], body + extra):
        damaged = struct.pack(">III", 12 + len(new_body), command_id, 1) + new_body
        for hint in HINTS:
            check(damaged, hint)


@settings(max_examples=300, deadline=None)
@given(version=st.sampled_from(list(Version)), fmt=st.sampled_from([0, 3, 4, 8, 15, 0xF5, 25]),
       udhi=st.sampled_from([0, 1, 0x40, 0x41, 2]), content=st.binary(max_size=160),
       dests=st.integers(1, 3), pk=st.tuples(st.integers(0, 4), st.integers(0, 4)),
       udh=st.one_of(st.none(), st.tuples(st.sampled_from([0, 8, 4, 5, 0x24]),
                                          st.integers(0, 5), st.binary(max_size=6))))
def test_submit_contents(version: Version, fmt: int, udhi: int, content: bytes, dests: int,
                         pk: tuple[int, int], udh: tuple[int, int, bytes] | None) -> None:
    """SUBMITs with every text format, UDH shape and Pk_* value the checks look at."""
    if udh is not None:
        iei, iedl, data = udh
        content = bytes([2 + len(data), iei, iedl]) + data + content
    fields = {"Msg_Fmt": fmt, "TP_udhi": udhi, "Msg_Content": content[:255],
              "Pk_total": pk[0], "Pk_number": pk[1], "Registered_Delivery": 1,
              "Dest_terminal_Id": [b"1380013800%d" % i for i in range(dests)]}
    pdu = encode_pdu(C.CMPP_SUBMIT, 7, fields, version)
    for hint in HINTS:
        check(pdu, hint)


@settings(max_examples=150, deadline=None)
@given(version=st.sampled_from(list(Version)), size=st.sampled_from([60, 71]),
       data=st.data(), registered=st.sampled_from([0, 1, 2]), cut=st.integers(0, 12))
def test_status_reports(version: Version, size: int, data: st.DataObject, registered: int,
                        cut: int) -> None:
    """Reports of both sizes in both versions (D3), cut reports, and MO DELIVERs."""
    layout = REPORT_60 if size == 60 else REPORT_71
    report = encode_fields(layout, data.draw(report_values(size)))[: size - cut]
    pdu = encode_pdu(C.CMPP_DELIVER, 3, {"Registered_Delivery": registered,
                                         "Msg_Content": report}, version)
    for hint in HINTS:
        check(pdu, hint)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_real_vectors(vector: dict[str, Any]) -> None:
    pdu = bytes.fromhex(vector["hex"])
    for hint in HINTS:
        check(pdu, hint)


def test_every_two_byte_gb18030_character_decodes() -> None:
    """The core vouches for GB18030 text made of ASCII and two-byte characters without asking
    Python: every lead byte 0x81-0xFE with every trail byte 0x40-0x7E, 0x80-0xFE decodes."""
    trails = [*range(0x40, 0x7F), *range(0x80, 0xFF)]
    for lead in range(0x81, 0xFF):
        chunk = b"".join(bytes([lead, t]) for t in trails)
        chunk.decode("gb18030")  # raises if one does not
        pdu = encode_pdu(C.CMPP_SUBMIT, 1, {"Msg_Fmt": 15, "Msg_Content": chunk[:140],
                                            "Dest_terminal_Id": [b"1"]}, Version.V3_0)
        assert not light(pdu, Version.V3_0)["flags"] & 64
