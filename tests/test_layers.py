"""Scapy-specific behaviour: dispatch, chains, names, pairing, ports and TCPSession."""

from __future__ import annotations

import itertools
import struct
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.plist import PacketList
from scapy.sendrecv import sniff
from scapy.sessions import TCPSession
from scapy.utils import wrpcap

from cmppdissect.layers import (
    CMPP,
    CMPPActiveTest,
    CMPPActiveTestResp,
    CMPPConnect,
    CMPPConnectRespV2,
    CMPPConnectRespV3,
    CMPPDeliverV2,
    CMPPReport60,
    CMPPSubmitRespV3,
    CMPPSubmitV2,
    CMPPSubmitV3,
    CMPPv2,
    CMPPv3,
    bind_port,
)
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.version import Version


def test_builder_fills_lengths_counts_and_command() -> None:
    pkt = CMPP(Sequence_Id=3) / CMPPSubmitV3(
        Dest_terminal_Id=[b"13800138000", b"13900139000"], Msg_Content=b"hello")
    wire = bytes(pkt)
    total, cmd, seq = struct.unpack("!III", wire[:12])
    assert (total, cmd, seq) == (163 + 2 * 32 + 5, C.CMPP_SUBMIT, 3) == (len(wire), 4, 3)
    assert wire[12 + 128] == 2  # DestUsr_tl
    assert wire[12 + 129 + 64 + 1] == 5  # Msg_Length after Dest_terminal_type


def test_connect_resp_version_chosen_from_length() -> None:
    v2 = bytes(CMPP() / CMPPConnectRespV2(Status=3, Version=0x20))
    v3 = bytes(CMPP() / CMPPConnectRespV3(Status=3, Version=0x30))
    assert (len(v2), len(v3)) == (30, 33)
    assert isinstance(CMPP(v2).payload, CMPPConnectRespV2)
    assert isinstance(CMPP(v3).payload, CMPPConnectRespV3)
    assert CMPP(v3).payload.Status == 3


def test_preferred_version_and_version_byte() -> None:
    cancel_resp16 = encode_pdu(C.CMPP_CANCEL_RESP, 1, {"Success_Id": 1}, Version.V3_0)
    pkt = CMPPv2(cancel_resp16)
    assert pkt.payload.cmpp_version is Version.V3_0 and pkt.payload.Success_Id == 1
    assert [f.code for f in pkt.expert()] == ["layout-version-mismatch"]
    assert CMPPv3(cancel_resp16).expert() == []
    # A CONNECT with Version 0x30 carries the version to the ambiguous PDUs after it.
    connect = bytes(CMPP() / CMPPConnect(Version=0x30, Source_Addr=b"900001"))
    chain = CMPP(connect + cancel_resp16)
    assert chain.payload.resolved_version is Version.V3_0
    assert chain.payload.payload.expert() == []


def test_show_names_codes_and_decodes_text() -> None:
    submit = CMPP() / CMPPSubmitV2(Msg_Fmt=8, Msg_Content="短信".encode("utf-16-be"),
                                   Registered_Delivery=1, Dest_terminal_Id=[b"13800138000"])
    shown = CMPP(bytes(submit)).show(dump=True)
    assert "CMPP_SUBMIT" in shown
    assert "UCS2" in shown and "'短信'" in shown
    assert "report" in shown  # Registered_Delivery=1 named
    report = CMPP() / CMPPDeliverV2(Registered_Delivery=1, Msg_Content=CMPPReport60(
        Msg_Id=0xB2B9DA8000010000, Stat=b"DELIVRD", Dest_terminal_Id=b"13800138000"))
    shown = CMPP(bytes(report)).show(dump=True)
    assert "'DELIVRD' (delivered)" in shown
    assert "11-05 14:29:42" in shown  # Msg_Id split (reference §12.1 first row)
    resp = CMPP(bytes(CMPP() / CMPPSubmitRespV3(Result=8))).show(dump=True)
    assert "CMPP_SUBMIT_RESP" in resp and "flow control" in resp
    assert "10-21 08:05:10" in CMPP(bytes(CMPP() / CMPPConnect(Timestamp=1021080510))).show(
        dump=True)


def test_answers_and_hashret_pair_by_sequence_and_command() -> None:
    req = CMPP(bytes(CMPP(Sequence_Id=42) / CMPPSubmitV3()))
    rsp = CMPP(bytes(CMPP(Sequence_Id=42) / CMPPSubmitRespV3()))
    other_seq = CMPP(bytes(CMPP(Sequence_Id=43) / CMPPSubmitRespV3()))
    other_cmd = CMPP(bytes(CMPP(Sequence_Id=42) / CMPPActiveTestResp()))
    assert rsp.answers(req) and not req.answers(rsp)
    assert not other_seq.answers(req) and not other_cmd.answers(req)
    assert rsp.hashret() == req.hashret() != other_seq.hashret()
    # Scapy's own matching pairs a pipelined window, out of order.
    reqs = [CMPP(Sequence_Id=s) / CMPPSubmitV3() for s in range(1, 6)]
    rsps = [CMPP(Sequence_Id=s) / CMPPSubmitRespV3() for s in (3, 1, 5, 2)]
    answered, unanswered = PacketList(reqs + rsps).sr()
    assert sorted((q.Sequence_Id, r.Sequence_Id) for q, r in answered) == [
        (1, 1), (2, 2), (3, 3), (5, 5)]
    assert [p.Sequence_Id for p in unanswered] == [4]


def test_default_ports_and_bind_port() -> None:
    body = bytes(CMPP(Sequence_Id=1) / CMPPActiveTest())
    for port in (7890, 7900, 7930, 9168):
        pkt = IP(bytes(IP() / TCP(sport=40000, dport=port) / Raw(body)))
        assert pkt.haslayer(CMPP), port
        back = IP(bytes(IP() / TCP(sport=port, dport=40000) / Raw(body)))
        assert back.haslayer(CMPP), port
    assert not IP(bytes(IP() / TCP(sport=40000, dport=17890) / Raw(body))).haslayer(CMPP)
    bind_port(17890)
    assert IP(bytes(IP() / TCP(sport=40000, dport=17890) / Raw(body))).haslayer(CMPP)


def _segments(stream: bytes, cuts: list[int], sport: int, dport: int, seq0: int) -> list[Ether]:
    frames = []
    bounds = [0, *cuts, len(stream)]
    for a, b in itertools.pairwise(bounds):
        frames.append(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") /
                      TCP(sport=sport, dport=dport, seq=seq0 + a, flags="PA") /
                      Raw(stream[a:b]))
    return frames


def test_tcpsession_reassembles_split_and_merged_pdus(tmp_path: Path) -> None:
    pdus = [encode_pdu(C.CMPP_SUBMIT, s, {"Dest_terminal_Id": [b"1380013800%d" % s],
                                          "Msg_Content": b"m%d" % s}, Version.V2_0)
            for s in range(1, 5)]
    stream = b"".join(pdus)
    # header split below 12 bytes, a PDU over three segments, two PDUs plus a part in one
    cuts = [5, 100, len(pdus[0]) + 3, len(pdus[0]) + len(pdus[1]) + len(pdus[2]) + 20]
    path = tmp_path / "split.pcap"
    wrpcap(str(path), _segments(stream, cuts, 40000, 7890, 1000))
    got = []
    for pkt in sniff(offline=str(path), session=TCPSession):
        layer = pkt.getlayer(CMPP)
        while isinstance(layer, CMPP):
            got.append((layer.Sequence_Id, layer.payload.Msg_Content))
            layer = layer.payload.payload
    assert got == [(s, b"m%d" % s) for s in range(1, 5)]


def test_deliver_report_built_from_packet_and_chained() -> None:
    pdu = CMPP(Sequence_Id=9) / CMPPDeliverV2(
        Registered_Delivery=1,
        Msg_Content=CMPPReport60(Msg_Id=5, Stat=b"UNDELIV", Dest_terminal_Id=b"13800138000",
                                 SMSC_sequence=77)) / CMPP(Sequence_Id=10) / CMPPActiveTest()
    wire = bytes(pdu)
    assert len(wire) == 145 + 12
    back = CMPP(wire)
    assert back.payload.Msg_Length == 60
    assert back.payload.Msg_Content.Stat == b"UNDELIV"
    assert back.payload.Msg_Content.SMSC_sequence == 77
    assert back.payload.payload.Sequence_Id == 10
    assert isinstance(back.payload.payload.payload, CMPPActiveTest)
    assert isinstance(CMPP(bytes(CMPP() / CMPPSubmitV2())).payload, CMPPSubmitV2)
