"""Real PDUs from other implementations' test suites decode to the values those tests assert."""

from __future__ import annotations

from typing import Any

import pytest
from scapy.packet import Packet
from vectors import DEVIATION_VECTORS, LONG_SMS_VECTORS, REPORT_VECTORS, VECTORS

from cmppdissect.core import FramedPdu, PduFramer, Skipped
from cmppdissect.layers import CMPP, CMPPReport60
from cmppdissect.protocol.decode import decode_pdu, plan_for, run_plan
from cmppdissect.protocol.expert import Severity
from cmppdissect.protocol.layouts import REPORT_60
from cmppdissect.protocol.version import Version

HEADER = ("Total_Length", "Command_Id", "Sequence_Id")


def _check(actual: dict[str, Any], expect: dict[str, Any], where: str) -> None:
    for name, value in expect.items():
        if name in HEADER or name == "report":
            continue
        assert actual[name] == value, f"{where}: {name}"


@pytest.mark.parametrize("vec", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vector_decodes_as_its_source_says(vec: dict[str, Any]) -> None:
    wire = bytes.fromhex(vec["hex"])
    expect = vec["expect"]
    version = Version(vec["version"])
    for hint in (None, version):
        pdu = decode_pdu(wire, hint)
        assert (pdu.Total_Length, pdu.Command_Id, pdu.Sequence_Id) == tuple(
            expect[k] for k in HEADER)
        assert pdu.version in (version, None) or pdu.layout is not None
        assert not {f.code for f in pdu.findings} & {"body-short", "body-long", "pdu-truncated"}
        _check(pdu.fields, expect, vec["id"])
        if "report" in expect:
            assert pdu.report is not None
            _check(pdu.report, expect["report"], vec["id"] + " report")
    pkt = CMPP(wire)  # Scapy, version from the bytes alone
    assert bytes(pkt) == wire
    body = pkt.payload
    for name, value in expect.items():
        if name in HEADER:
            assert getattr(pkt, name) == value
        elif name == "report":
            rep = body.Msg_Content
            assert isinstance(rep, Packet)
            for rname, rvalue in value.items():
                assert rep.getfieldval(rname) == rvalue, rname
        else:
            assert body.getfieldval(name) == value, name


@pytest.mark.parametrize("vec", REPORT_VECTORS, ids=[v["id"] for v in REPORT_VECTORS])
def test_report_vectors(vec: dict[str, Any]) -> None:
    raw = bytes.fromhex(vec["hex"])
    fields = run_plan(plan_for(REPORT_60), raw).fields
    _check(fields, vec["expect"], vec["id"])
    scapy_report = CMPPReport60(raw)
    assert {f.name: scapy_report.getfieldval(f.name) for f in scapy_report.fields_desc} == fields


@pytest.mark.parametrize("vec", LONG_SMS_VECTORS, ids=[v["id"] for v in LONG_SMS_VECTORS])
def test_long_sms_parts_join_to_the_asserted_text(vec: dict[str, Any]) -> None:
    by_id = {v["id"]: v for v in VECTORS}
    parts = [decode_pdu(bytes.fromhex(by_id[p]["hex"])) for p in vec["parts"]]
    texts = [p.content.text for p in parts if p.content is not None]
    assert "".join(t or "" for t in texts) == vec["text"]


@pytest.mark.parametrize("vec", DEVIATION_VECTORS, ids=[v["id"] for v in DEVIATION_VECTORS])
def test_deviation_vectors(vec: dict[str, Any]) -> None:
    """PDUs written from reference §11's descriptions of real traffic: the decoder, the Scapy
    layers and the framer give the values the reference says, with the findings it asks for."""
    version = Version(vec["version"])
    expect = vec["expect"]
    if "stream" in vec:
        stream = bytes.fromhex(vec["stream"])
        framer = PduFramer()
        events = framer.feed(stream, 1, 0) + framer.close(1, 0)
        pdus = [e for e in events if isinstance(e, FramedPdu)]
        skipped = [e for e in events if isinstance(e, Skipped)]
        assert [len(p.data) for p in pdus] == vec["pdus"]
        assert b"".join(s.head for s in skipped) == bytes.fromhex(vec["skipped"])
        wire = pdus[0].data
    else:
        wire = bytes.fromhex(vec["hex"])
    pdu = decode_pdu(wire, version)
    assert (pdu.Total_Length, pdu.Command_Id, pdu.Sequence_Id) == tuple(
        expect[k] for k in HEADER)
    _check(pdu.fields, expect, vec["id"])
    found = {f.code for f in pdu.findings if f.severity > Severity.CHAT}
    assert found == set(vec["findings"]), [f.message for f in pdu.findings]
    pkt = CMPP(wire)
    assert bytes(pkt) == wire
    for name, value in expect.items():
        if name not in HEADER:
            assert pkt.payload.getfieldval(name) == value, name
