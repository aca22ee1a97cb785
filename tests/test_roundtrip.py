"""Every PDU type in both versions: build, dissect, and the two decoders agree (hypothesis).

Three independent paths must give the same answer for each generated PDU:
the core encoder and the Scapy builder produce identical bytes; the fast decoder and the
Scapy dissector read back every field that was put in.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.packet import Packet
from strategies import ALL_PDUS, field_values

from cmppdissect.layers import CMPP, CMPPv2, CMPPv3, body_class
from cmppdissect.protocol.commands import command_name
from cmppdissect.protocol.decode import decode_pdu
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.layouts import LAYOUTS, Kind
from cmppdissect.protocol.version import Version

HEADERS = {Version.V2_0: CMPPv2, Version.V3_0: CMPPv3}
IDS = [f"{command_name(c)}-{v}" for c, v in ALL_PDUS]
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def scapy_value(value: Any) -> Any:
    if isinstance(value, Packet):
        return {f.name: scapy_value(value.getfieldval(f.name)) for f in value.fields_desc}
    return value


def scapy_fields(pkt: Packet) -> dict[str, Any]:
    body = pkt.payload
    return {f.name: scapy_value(body.getfieldval(f.name)) for f in body.fields_desc}


@pytest.mark.parametrize(("command", "version"), ALL_PDUS, ids=IDS)
def test_build_dissect_agree(command: int, version: Version) -> None:
    layout = LAYOUTS[(command, version)]

    @SETTINGS
    @given(values=field_values(layout), seq=st.integers(0, 0xFFFFFFFF))
    def check(values: dict[str, Any], seq: int) -> None:
        wire = encode_pdu(command, seq, values, version)
        # The Scapy builder fills Command_Id, Total_Length and the counts the same way.
        built = bytes(CMPP(Sequence_Id=seq) / body_class(command, version)(**values))
        assert built == wire

        fast = decode_pdu(wire, version)
        assert (fast.Total_Length, fast.Command_Id, fast.Sequence_Id) == (len(wire), command, seq)
        assert not [f for f in fast.findings if f.code in ("body-short", "body-long")]
        kinds = {f.name: f.kind for f in layout.fields}
        for name, value in values.items():
            if name == "Msg_Content" and fast.report is not None:
                continue  # a 60/71-byte DELIVER/FWD content is read as a report, checked below
            # A string's value ends at its first NUL (D21); what followed is a finding.
            if kinds[name] is Kind.STR:
                value = value.partition(b"\0")[0]
            elif kinds[name] is Kind.STR_ARRAY:
                value = [v.partition(b"\0")[0] for v in value]
            assert fast.fields[name] == value, name

        pkt = HEADERS[version](wire)
        assert type(pkt.payload) is body_class(command, version)
        dissected = scapy_fields(pkt)
        for f in layout.fields:
            want = fast.fields[f.name]
            if f.kind is Kind.CONTENT and fast.report is not None:
                want = fast.report
            assert dissected[f.name] == want, f.name
        assert bytes(pkt) == wire

    check()


@pytest.mark.parametrize(("command", "version"), ALL_PDUS, ids=IDS)
def test_version_detected_from_lengths(command: int, version: Version) -> None:
    """Without a hint the decoders find the version from the bytes alone, or say it's ambiguous."""
    layout = LAYOUTS[(command, version)]

    @SETTINGS
    @given(values=field_values(layout))
    def check(values: dict[str, Any]) -> None:
        wire = encode_pdu(command, 1, values, version)
        fast = decode_pdu(wire)
        if layout is LAYOUTS[(command, version.other)]:
            return  # same layout in both versions: the bytes cannot say, and need not
        codes = {f.code for f in fast.findings}
        assert fast.version is version or "version-ambiguous" in codes
        auto = CMPP(wire)
        assert auto.payload.cmpp_version is fast.version

    check()


@given(st.lists(st.sampled_from(ALL_PDUS), min_size=1, max_size=6), st.data())
@settings(max_examples=30, deadline=None)
def test_buffer_of_several_pdus_is_a_chain(types: list[tuple[int, Version]],
                                           data: st.DataObject) -> None:
    version = types[0][1]
    types = [(c, version) for c, _ in types]
    wires = [encode_pdu(c, i, data.draw(field_values(LAYOUTS[(c, v)])), v)
             for i, (c, v) in enumerate(types)]
    pkt = HEADERS[version](b"".join(wires))
    seen = []
    layer: Packet | None = pkt
    while isinstance(layer, CMPP):
        seen.append((layer.Command_Id, layer.Sequence_Id, bytes(layer)[:layer.Total_Length]))
        layer = layer.payload.payload
    assert seen == [(c, i, w) for i, ((c, _), w) in enumerate(zip(types, wires, strict=True))]
