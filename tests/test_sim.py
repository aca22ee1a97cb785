"""The simulator end to end: an SP and an ISMG over real TCP on 127.0.0.1 (port 0).

Most checks decode the bytes a side actually read off its socket (the logs keep them with
``keep_bytes=True``) with the project's framer and decoder, so what is asserted is what a
capture would show, not what the simulator believes it sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cmppdissect.core import FramedPdu, PduFramer
from cmppdissect.protocol.auth import authenticator_ismg, authenticator_source
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.decode import DecodedPdu, decode_pdu
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.expert import Severity
from cmppdissect.protocol.msgid import msg_id_range, split_msg_id
from cmppdissect.protocol.version import Version
from cmppdissect.sim import (
    Behaviour,
    ConnectionLog,
    Faults,
    IsmgConfig,
    IsmgServer,
    IsmgSession,
    IsmgState,
    MessageMix,
    SpClient,
    SpConfig,
    SpSession,
    Write,
)
from cmppdissect.sim.behaviour import WRONG_SEQ_OFFSET
from cmppdissect.sim.endpoint import Close, Endpoint
from cmppdissect.sim.log import SimLog
from cmppdissect.sim.messages import FMT_ASCII, FMT_GBK, FMT_UCS2, split_message
from cmppdissect.sim.summary import LiveSummary, final_summary

SP_ID, SECRET = "901234", "s3cret"
V2, V3 = Version.V2_0, Version.V3_0
ROOT = Path(__file__).resolve().parents[1]
PLAIN = MessageMix(long_ratio=0, group_ratio=0, report_ratio=0)
QUICK = Behaviour(heartbeat=0, timeout=5, retries=0)


def ismg(version: Version = V3, *, behaviour: Behaviour = QUICK, **kw: Any) -> IsmgConfig:
    return IsmgConfig(version=version, accounts={SP_ID: SECRET}, behaviour=behaviour,
                      report_delay=kw.pop("report_delay", 0.01), seed=7, **kw)


def sp(version: Version = V3, *, behaviour: Behaviour = QUICK, **kw: Any) -> SpConfig:
    kw.setdefault("mix", PLAIN)
    kw.setdefault("rate", 0)
    kw.setdefault("linger", 1.0)
    return SpConfig(kw.pop("sp_id", SP_ID), kw.pop("secret", SECRET), version=version,
                    behaviour=behaviour, seed=11, **kw)


async def converse(server_config: IsmgConfig, client_config: SpConfig,
                   ) -> tuple[ConnectionLog, ConnectionLog]:
    """Run one SP session against a fresh ISMG; (client log, server log), both complete."""
    async with IsmgServer(server_config, keep_bytes=True) as server:
        host, port = await server.start("127.0.0.1", 0)
        client = SpClient(client_config, keep_bytes=True)
        client_log = await asyncio.wait_for(client.run(host, port), 15)
    assert len(server.log.connections) == 1
    return client_log, server.log.connections[0]


def pdus(stream: bytes | bytearray, version: Version | None) -> list[DecodedPdu]:
    """Every PDU in a byte stream, as the analyzer's framer and decoder see it."""
    return [decode_pdu(ev.data, version) for ev in PduFramer().feed(bytes(stream), 0, 0)
            if isinstance(ev, FramedPdu)]


def of(items: list[DecodedPdu], command: int) -> list[DecodedPdu]:
    return [p for p in items if p.Command_Id == command]


def sent_pdus(log: ConnectionLog, version: Version) -> list[DecodedPdu]:
    return [decode_pdu(e.data, version) for e in log.events
            if e.direction == "sent" and e.data is not None]


# -- login ------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("version", [V2, V3])
async def test_login_and_clean_terminate(version: Version) -> None:
    client, server = await converse(ismg(V3), sp(version, count=0))
    assert client.login_status == 0 and server.login_status == 0
    assert server.sp_id == SP_ID and server.version is version
    width = 1 if version is V2 else 4
    assert client.auth_check == f"AuthenticatorISMG matches with a {width}-byte Status"
    connect = of(pdus(server.stream, None), C.CMPP_CONNECT)[0]
    assert connect.fields["Version"] == (0x20 if version is V2 else 0x30)
    received = pdus(client.stream, version)
    resp = received[0]
    assert resp.Command_Id == C.CMPP_CONNECT_RESP and resp.Total_Length == 12 + width + 16 + 1
    assert resp.fields["AuthenticatorISMG"] == authenticator_ismg(
        0, connect.fields["AuthenticatorSource"], SECRET, status_width=width)
    assert [p.Command_Id for p in received] == [C.CMPP_CONNECT_RESP, C.CMPP_TERMINATE_RESP]
    assert client.close_reason == "terminated" and server.close_reason == "terminated by peer"
    assert client.sent_by_name() == {"CMPP_CONNECT": 1, "CMPP_TERMINATE": 1}


@pytest.mark.asyncio
@pytest.mark.parametrize(("server_version", "client_version", "secret", "sp_id", "status"), [
    (V2, V2, "wrong", SP_ID, 3),
    (V3, V3, "wrong", SP_ID, 3),
    (V2, V2, SECRET, "999999", 2),
    (V3, V3, SECRET, "999999", 2),
    (V2, V3, SECRET, SP_ID, 4),  # a 3.0 SP at a 2.0-only gateway: version too high
])
async def test_rejected_login(server_version: Version, client_version: Version, secret: str,
                              sp_id: str, status: int) -> None:
    client, server = await converse(ismg(server_version),
                                    sp(client_version, count=5, secret=secret, sp_id=sp_id))
    (resp,) = pdus(client.stream, client_version)
    assert resp.Command_Id == C.CMPP_CONNECT_RESP and resp.fields["Status"] == status
    assert resp.fields["AuthenticatorISMG"] == bytes(16)  # empty on failure (§5.2)
    # Status 4 comes in the gateway's own (2.0) layout; the others in the SP's.
    assert resp.Total_Length == (30 if server_version is V2 else 33)
    assert client.login_status == status and not client.logged_in
    assert client.close_reason == f"login rejected: Status {status}"
    assert server.close_reason == f"login rejected: Status {status}"
    assert client.sent[C.CMPP_SUBMIT] == 0


# -- SUBMIT, long SMS, group sends, reports -------------------------------------------------------


@pytest.mark.asyncio
async def test_submits_are_paired_and_get_msg_ids() -> None:
    client, server = await converse(ismg(gateway=4242), sp(count=30))
    submits = of(sent_pdus(client, V3), C.CMPP_SUBMIT)
    responses = of(pdus(client.stream, V3), C.CMPP_SUBMIT_RESP)
    assert len(submits) == len(responses) == 30 == server.received[C.CMPP_SUBMIT]
    assert sorted(p.Sequence_Id for p in submits) == sorted(p.Sequence_Id for p in responses)
    ids = [p.fields["Msg_Id"] for p in responses]
    assert len(set(ids)) == 30 and all(p.fields["Result"] == 0 for p in responses)
    parts = [split_msg_id(i) for i in ids]
    assert all(m.gateway == 4242 and m.looks_valid for m in parts)
    assert len(client.pairs) == 32  # CONNECT, 30 SUBMITs, TERMINATE
    assert Counter(p.command_id for p in client.pairs)[C.CMPP_SUBMIT] == 30


@pytest.mark.asyncio
@pytest.mark.parametrize(("mix", "fmt"), [
    (MessageMix(long_ratio=1, ascii_ratio=0, gbk_ratio=0, report_ratio=0, group_ratio=0),
     FMT_UCS2),
    (MessageMix(long_ratio=1, ascii_ratio=0, gbk_ratio=1, report_ratio=0, group_ratio=0),
     FMT_GBK),
    (MessageMix(long_ratio=1, ascii_ratio=1, report_ratio=0, group_ratio=0), FMT_ASCII),
])
async def test_long_messages_have_consistent_udh(mix: MessageMix, fmt: int) -> None:
    client, server = await converse(ismg(), sp(count=4, mix=mix))
    submits = of(pdus(server.stream, V3), C.CMPP_SUBMIT)
    groups: dict[int, list[DecodedPdu]] = {}
    for p in submits:
        content = p.content
        assert content is not None and content.udh is not None and content.udh.concat
        groups.setdefault(content.udh.concat.reference, []).append(p)
    assert len(groups) == 4 and len(submits) == client.sent[C.CMPP_SUBMIT] > 4
    for parts in groups.values():
        total = len(parts)
        assert total >= 2
        texts = []
        for n, p in enumerate(parts, 1):
            f, content = p.fields, p.content
            assert content is not None and content.udh is not None
            concat = content.udh.concat
            assert concat is not None and (concat.total, concat.part) == (total, n)
            assert (f["Pk_total"], f["Pk_number"], f["TP_udhi"]) == (total, n, 1)
            assert f["Msg_Fmt"] == fmt and f["Msg_Length"] <= (159 if fmt == 0 else 140)
            assert not [x for x in p.findings if x.severity >= Severity.WARN], p.findings
            assert content.text is not None
            texts.append(content.text)
        text = "".join(texts)
        assert len(text.encode("utf-16-be" if fmt == FMT_UCS2 else "gbk")) > 140
        assert text.startswith(("尊敬的客户", "Dear customer"))


def test_split_message_keeps_characters_whole() -> None:
    text = "验证码😀" * 40  # astral characters: UCS2 surrogate pairs must stay together
    parts = split_message(text, FMT_UCS2, 0x1FF)
    assert len(parts) > 1 and all(p.Msg_Content[:3] == b"\x05\x00\x03" for p in parts)
    assert {p.Msg_Content[3] for p in parts} == {0xFF}
    assert "".join(p.Msg_Content[6:].decode("utf-16-be") for p in parts) == text
    assert split_message("hi", FMT_ASCII, 1)[0].TP_udhi == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("version", [V2, V3])
async def test_reports_follow_registered_delivery_and_msg_id_ranges(version: Version) -> None:
    mix = MessageMix(long_ratio=0.2, group_ratio=0.5, group_size=3, report_ratio=0.5)
    client, server = await converse(ismg(version), sp(version, count=24, mix=mix))
    submits = {p.Sequence_Id: p for p in of(sent_pdus(client, version), C.CMPP_SUBMIT)}
    received = pdus(client.stream, version)
    expected: dict[int, bytes] = {}
    registered: Counter[int] = Counter()
    for resp in of(received, C.CMPP_SUBMIT_RESP):
        submit = submits[resp.Sequence_Id]
        dests = submit.fields["Dest_terminal_Id"]
        registered[submit.fields["Registered_Delivery"]] += 1
        if submit.fields["Registered_Delivery"] == 1:
            ids = msg_id_range(resp.fields["Msg_Id"], len(dests))
            expected.update(zip(ids, dests, strict=True))
    assert registered[0] and registered[1] and max(
        p.fields["DestUsr_tl"] for p in submits.values()) == 3
    reports = [p for p in of(received, C.CMPP_DELIVER) if p.fields["Registered_Delivery"] == 1]
    assert len(reports) == len(expected)
    size = 60 if version is V2 else 71
    for p in reports:
        assert p.report is not None and p.fields["Msg_Length"] == size
        assert p.report["Stat"] == b"DELIVRD"
        assert expected[p.report["Msg_Id"]] == p.report["Dest_terminal_Id"]
        assert p.fields["Src_terminal_Id"] == p.report["Dest_terminal_Id"]
    assert {p.report["Msg_Id"] for p in reports if p.report} == set(expected)
    assert client.reports_unmatched == 0 and sum(client.reports_received.values()) == len(expected)
    assert server.reports_sent == {"DELIVRD": len(expected)}
    assert client.sent[C.CMPP_DELIVER_RESP] == len(reports)


# -- the window ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_window_never_above_16() -> None:
    slow = Behaviour(heartbeat=0, latency=0.03)
    client, server = await converse(ismg(behaviour=slow), sp(count=60))
    assert client.max_in_flight == 16 and server.peer_max_in_flight == 16
    in_flight = peak = 0
    for e in client.events:
        if e.command_id == C.CMPP_SUBMIT and e.direction == "sent":
            in_flight += 1
        elif e.command_id == C.CMPP_SUBMIT_RESP and e.direction == "received":
            in_flight -= 1
        peak = max(peak, in_flight)
    assert peak == 16 and client.sent[C.CMPP_SUBMIT] == 60


# -- misbehaviour, as the peer sees it ----------------------------------------------------------


def faulty(**faults: float) -> Behaviour:
    return Behaviour(heartbeat=0, faults=Faults(**faults))


@pytest.mark.asyncio
async def test_duplicated_responses() -> None:
    client, server = await converse(ismg(behaviour=faulty(duplicate=1)), sp(count=5))
    seqs = Counter(p.Sequence_Id for p in of(pdus(client.stream, V3), C.CMPP_SUBMIT_RESP))
    assert len(seqs) == 5 and set(seqs.values()) == {2}
    assert client.unmatched[C.CMPP_SUBMIT_RESP] == 5 and server.faults["duplicate"] == 5
    assert client.received[C.CMPP_TERMINATE_RESP] == 1  # never misbehaves


@pytest.mark.asyncio
async def test_wrong_sequence_ids_leave_requests_unanswered() -> None:
    client_behaviour = Behaviour(heartbeat=0, timeout=0.2, retries=1)
    client, server = await converse(ismg(behaviour=faulty(wrong_seq=1)),
                                    sp(count=3, behaviour=client_behaviour))
    submits = sorted({p.Sequence_Id for p in of(sent_pdus(client, V3), C.CMPP_SUBMIT)})
    answers = of(pdus(client.stream, V3), C.CMPP_SUBMIT_RESP)
    assert sorted({p.Sequence_Id for p in answers}) == [s + WRONG_SEQ_OFFSET for s in submits]
    assert client.retransmits[C.CMPP_SUBMIT] == 3 and client.unanswered[C.CMPP_SUBMIT] == 3
    # the retransmissions carry the original Sequence_Id (reference §9)
    assert sorted(p.Sequence_Id for p in of(pdus(server.stream, V3), C.CMPP_SUBMIT)) == sorted(
        submits * 2)


@pytest.mark.asyncio
async def test_lost_responses() -> None:
    client, server = await converse(ismg(behaviour=faulty(lost=1)),
                                    sp(count=3, behaviour=Behaviour(heartbeat=0, timeout=0.2,
                                                                    retries=0)))
    assert of(pdus(client.stream, V3), C.CMPP_SUBMIT_RESP) == []
    assert client.unanswered[C.CMPP_SUBMIT] == 3 and server.faults["lost"] == 3
    assert client.close_reason == "terminated"  # TERMINATE_RESP is never lost


@pytest.mark.asyncio
async def test_slow_responses_and_latency() -> None:
    behaviour = Behaviour(heartbeat=0, latency=0.05, faults=Faults(slow=0.5, slow_delay=0.3))
    client, server = await converse(ismg(behaviour=behaviour), sp(count=8))
    sent = {e.sequence_id: e.at for e in client.events_of("sent", C.CMPP_SUBMIT)}
    delays = [e.at - sent[e.sequence_id] for e in client.events_of("received",
                                                                  C.CMPP_SUBMIT_RESP)]
    assert len(delays) == 8 and min(delays) >= 0.05
    slow = [d for d in delays if d >= 0.35]
    assert len(slow) == server.faults["slow"] and 0 < len(slow) < 8


@pytest.mark.asyncio
async def test_error_rate_gives_non_zero_results() -> None:
    behaviour = Behaviour(heartbeat=0, error_rate=1, error_codes=(8, 13))
    client, _server = await converse(ismg(behaviour=behaviour), sp(count=6))
    answers = of(pdus(client.stream, V3), C.CMPP_SUBMIT_RESP)
    assert len(answers) == 6 and {p.fields["Result"] for p in answers} <= {8, 13}
    assert all(p.fields["Msg_Id"] == 0 for p in answers)
    assert sum(n for (cmd, r), n in client.results.items() if cmd == C.CMPP_SUBMIT_RESP and r) \
        == 6


@pytest.mark.asyncio
async def test_active_test_resp_with_wrong_length() -> None:
    """The SP library bug of reference D13: Total_Length 13, but 16 bytes written."""
    client_behaviour = Behaviour(heartbeat=0, faults=Faults(bad_active_test_resp=1))
    client, server = await converse(
        ismg(behaviour=Behaviour(heartbeat=0.1)),
        sp(count=0, duration=0.45, behaviour=client_behaviour))
    tests = client.events_of("received", C.CMPP_ACTIVE_TEST)
    assert len(tests) >= 2
    for e in tests:
        assert struct.pack(">III", 13, C.CMPP_ACTIVE_TEST_RESP, e.sequence_id) + b"0x00" \
            in server.stream
    assert server.skipped_bytes == 3 * len(tests) == 3 * client.faults["bad_length"]
    # the framer resynchronised: every heartbeat was paired and TERMINATE still arrived
    assert server.latencies[C.CMPP_ACTIVE_TEST].count == len(tests)
    assert server.received[C.CMPP_TERMINATE] == 1


@pytest.mark.asyncio
async def test_chunked_writes_split_headers() -> None:
    behaviour = Behaviour(heartbeat=0, chunk=5, chunk_gap=0.002)
    client, server = await converse(ismg(behaviour=behaviour), sp(count=3))
    received = pdus(client.stream, V3)
    assert len(of(received, C.CMPP_SUBMIT_RESP)) == 3 and client.skipped_bytes == 0
    starts, offset = [], 0
    for p in received:
        starts.append(offset)
        offset += p.Total_Length
    ends, offset = set(), 0
    for size in client.read_sizes:
        offset += size
        ends.add(offset)
    # some read stopped inside a 12-byte header: the peer saw a split header
    assert any(s < end < s + 12 for s in starts for end in ends)
    assert server.faults["chunked"] == server.sent_by_name()["CMPP_SUBMIT_RESP"] + 2


# -- heartbeats, QUERY, CANCEL, MO, stopping ----------------------------------------------------


@pytest.mark.asyncio
async def test_heartbeats_from_both_sides() -> None:
    client, server = await converse(ismg(behaviour=Behaviour(heartbeat=0.1)),
                                    sp(count=0, duration=0.5,
                                       behaviour=Behaviour(heartbeat=0.15)))
    for side, peer in ((client, server), (server, client)):
        sent = side.sent[C.CMPP_ACTIVE_TEST]
        assert sent >= 2 and peer.received[C.CMPP_ACTIVE_TEST] == sent
        assert side.latencies[C.CMPP_ACTIVE_TEST].count >= sent - 1
        assert peer.sent[C.CMPP_ACTIVE_TEST_RESP] == sent
    assert client.close_reason == "terminated"


@pytest.mark.asyncio
async def test_unanswered_heartbeats_close_the_link() -> None:
    client, server = await converse(
        ismg(behaviour=faulty(lost=1)),
        sp(count=0, duration=30, behaviour=Behaviour(heartbeat=0.1, timeout=0.1, retries=1)))
    assert client.close_reason == "no ACTIVE_TEST_RESP after 2 attempts"
    assert client.sent[C.CMPP_ACTIVE_TEST] == 2 and client.retransmits[C.CMPP_ACTIVE_TEST] == 1
    assert server.close_reason == "peer closed the connection"


@pytest.mark.asyncio
async def test_query_counts_and_cancel_before_delivery() -> None:
    mix = MessageMix(long_ratio=0, group_ratio=0, report_ratio=1)
    client, server = await converse(
        ismg(report_delay=5.0),
        sp(count=5, rate=20, mix=mix, cancel_ratio=1, query_interval=0.04))
    sent = list(client.events)
    submits_before: dict[int, int] = {}
    count = 0
    for e in sent:
        if e.direction == "sent" and e.command_id == C.CMPP_SUBMIT:
            count += 1
        elif e.direction == "sent" and e.command_id == C.CMPP_QUERY:
            submits_before[e.sequence_id] = count
    received = pdus(client.stream, V3)
    answers = of(received, C.CMPP_QUERY_RESP)
    assert len(answers) >= 3
    for p in answers:  # TCP keeps order, so a QUERY counts every SUBMIT sent before it
        assert p.fields["MT_TLMsg"] == p.fields["MT_Tlusr"] == submits_before[p.Sequence_Id]
        assert p.fields["Time"] == datetime.now().strftime("%Y%m%d").encode()
    assert max(p.fields["MT_TLMsg"] for p in answers) >= 1
    cancels = of(received, C.CMPP_CANCEL_RESP)
    assert len(cancels) == 5 and all(p.fields["Success_Id"] == 0 for p in cancels)
    assert client.received[C.CMPP_DELIVER] == 0 and not server.reports_sent


@pytest.mark.asyncio
async def test_mo_messages() -> None:
    client, server = await converse(ismg(mo_rate=40, mo_dest="10690042"),
                                    sp(count=0, duration=0.4))
    mo = [p for p in of(pdus(client.stream, V3), C.CMPP_DELIVER)
          if p.fields["Registered_Delivery"] == 0]
    assert mo and len(mo) == server.mo_sent == client.mo_received
    for p in mo:
        assert p.fields["Dest_Id"] == b"10690042" and p.content is not None
        assert p.content.text and not [x for x in p.findings if x.severity >= Severity.WARN]
    assert client.sent[C.CMPP_DELIVER_RESP] == len(mo)


@pytest.mark.asyncio
async def test_server_stop_terminates_connected_sps() -> None:
    async with IsmgServer(ismg()) as server:
        host, port = await server.start("127.0.0.1", 0)
        client = SpClient(sp(count=0, duration=60))
        task = asyncio.ensure_future(client.run(host, port))
        while not (server.sessions and server.log.connections[0].logged_in):
            assert not task.done()
            await asyncio.sleep(0.01)
        await server.stop()
        log = await asyncio.wait_for(task, 5)
    assert log.close_reason == "terminated by peer" and log.sent[C.CMPP_TERMINATE_RESP] == 1
    assert server.log.connections[0].close_reason == "terminated"


@pytest.mark.asyncio
async def test_wire_text_cannot_reach_the_terminal() -> None:
    """A CONNECT whose Source_Addr is an escape sequence shows escaped in the summary."""
    async with IsmgServer(ismg()) as server:
        host, port = await server.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(encode_pdu(C.CMPP_CONNECT, 1, {"Source_Addr": b"\x1b[2J\x07",
                                                    "Version": 0x30}))
        resp = decode_pdu(await asyncio.wait_for(reader.read(100), 5))
        writer.close()
    assert resp.fields["Status"] == 2
    text = final_summary(server.log)
    assert "\x1b" not in text and "\x07" not in text and "\\x1b[2J\\x07" in text


# -- sans-IO: no sockets ------------------------------------------------------------------------


def run_in_memory(client: SpSession, gateway: IsmgSession, limit: float = 60.0) -> float:
    """Drive two sessions against each other on a made-up clock; returns the end time."""
    inbox: dict[Endpoint, list[bytes]] = {client: [], gateway: []}
    peer: dict[Endpoint, Endpoint] = {client: gateway, gateway: client}

    def route(source: Endpoint, actions: list[Write | Close]) -> None:
        for action in actions:
            if isinstance(action, Write):
                inbox[peer[source]].append(action.data)
                source.sent(action)  # the in-memory wire takes every write

    now = 0.0
    route(client, client.start(now))
    route(gateway, gateway.start(now))
    while now < limit and not (client.closed and gateway.closed):
        moved = False
        for side in (client, gateway):
            if inbox[side]:
                data = b"".join(inbox[side])
                inbox[side].clear()
                route(side, side.receive(data, now))
                moved = True
        if moved:
            continue
        deadlines = [d for d in (client.next_deadline(), gateway.next_deadline()) if d]
        if not deadlines:
            break
        now = max(now, min(deadlines))
        for side in (client, gateway):
            route(side, side.handle_timer(now))
        # a deadline is never due without work: else the asyncio driver would spin
        if not any(inbox.values()):
            for side in (client, gateway):
                due = side.next_deadline()
                assert due is None or due > now, f"{type(side).__name__} spins at {now}"
    return now


def test_sans_io_sessions_are_deterministic_and_keep_the_window() -> None:
    def once() -> tuple[bytes, ConnectionLog, ConnectionLog, float]:
        clock = lambda: datetime(2026, 3, 14, 9, 26, 53)  # noqa: E731
        client_log, server_log = ConnectionLog("sp", keep_bytes=True), ConnectionLog("ismg")
        client = SpSession(sp(count=40, mix=MessageMix(group_ratio=0.3), rate=0,
                              cancel_ratio=0.2, query_interval=0.01), client_log, clock=clock)
        config = ismg(behaviour=Behaviour(heartbeat=0, latency=0.02), report_delay=0.05)
        gateway = IsmgSession(IsmgState(config, clock=clock), server_log)
        end = run_in_memory(client, gateway)
        return bytes(client_log.stream), client_log, server_log, end

    first, client, server, end = once()
    second, *_rest = once()
    assert first == second and client.close_reason == "terminated"
    # QUERY and CANCEL share the window with SUBMIT (the gateway answers after 20 ms)
    assert client.max_in_flight == 16 and server.peer_max_in_flight == 16
    assert client.sent[C.CMPP_QUERY] >= 2 and client.sent[C.CMPP_CANCEL] >= 2
    assert client.sent[C.CMPP_SUBMIT] >= 40 and 0.04 < end < 10
    cancels = of(pdus(first, V3), C.CMPP_CANCEL_RESP)
    assert cancels and {p.fields["Success_Id"] for p in cancels} <= {0, 1}
    resp = of(pdus(first, V3), C.CMPP_SUBMIT_RESP)[0]
    assert str(split_msg_id(resp.fields["Msg_Id"])).startswith("03-14 09:26:53 gw=001001")


def test_cancel_only_succeeds_before_delivery() -> None:
    """Bytes straight into the gateway's sans-IO session: no socket, a clock we move by hand."""
    gateway = IsmgSession(IsmgState(ismg(report_delay=0.1)), ConnectionLog("ismg"))
    assert gateway.start(0.0) == []

    def send(command: int, seq: int, fields: dict[str, Any], now: float) -> DecodedPdu:
        (action,) = gateway.receive(encode_pdu(command, seq, fields, V3), now)
        assert isinstance(action, Write)
        return decode_pdu(action.data, V3)

    ts = 314092653
    auth = authenticator_source(SP_ID, SECRET, ts)
    login = send(C.CMPP_CONNECT, 1, {"Source_Addr": SP_ID, "AuthenticatorSource": auth,
                                     "Version": 0x30, "Timestamp": ts}, 0.0)
    assert login.fields["Status"] == 0
    submit = {"Dest_terminal_Id": [b"8613800138000"], "Msg_Content": b"hi", "Src_Id": "1069"}
    first = send(C.CMPP_SUBMIT, 2, submit, 0.0).fields["Msg_Id"]
    assert gateway.handle_timer(1.0) == []  # delivered (no report asked for)
    assert send(C.CMPP_CANCEL, 3, {"Msg_Id": first}, 1.0).fields["Success_Id"] == 1
    assert send(C.CMPP_CANCEL, 4, {"Msg_Id": 12345}, 1.0).fields["Success_Id"] == 1
    second = send(C.CMPP_SUBMIT, 5, {**submit, "Registered_Delivery": 1}, 1.0).fields["Msg_Id"]
    assert send(C.CMPP_CANCEL, 6, {"Msg_Id": second}, 1.0).fields["Success_Id"] == 0
    assert gateway.handle_timer(2.0) == []  # the cancelled message gets no report
    third = send(C.CMPP_SUBMIT, 7, {**submit, "Registered_Delivery": 1}, 2.0).fields["Msg_Id"]
    (report,) = [decode_pdu(a.data, V3) for a in gateway.handle_timer(3.0)
                 if isinstance(a, Write)]
    assert report.Command_Id == C.CMPP_DELIVER and report.report is not None
    assert report.report["Msg_Id"] == third != second


def test_a_deliver_crossing_terminate_is_still_answered() -> None:
    client = SpSession(sp(count=0, duration=60), ConnectionLog("sp"))
    (connect,) = client.start(0.0)
    assert isinstance(connect, Write)
    auth = decode_pdu(connect.data).fields["AuthenticatorSource"]
    login = encode_pdu(C.CMPP_CONNECT_RESP, 1, {
        "Status": 0, "AuthenticatorISMG": authenticator_ismg(0, auth, SECRET, status_width=4),
        "Version": 0x30}, V3)
    assert client.receive(login, 0.0) == [] and client.log.logged_in
    (terminate,) = client.stop(1.0)
    assert isinstance(terminate, Write) and decode_pdu(terminate.data).Command_Id == \
        C.CMPP_TERMINATE
    deliver = encode_pdu(C.CMPP_DELIVER, 77, {"Msg_Id": 5, "Src_terminal_Id": "8613900000001",
                                              "Msg_Content": b"TD"}, V3)
    (answer,) = client.receive(deliver, 1.01)
    assert isinstance(answer, Write)
    resp = decode_pdu(answer.data, V3)
    assert (resp.Command_Id, resp.Sequence_Id, resp.fields["Msg_Id"]) == (
        C.CMPP_DELIVER_RESP, 77, 5)
    seq = decode_pdu(terminate.data).Sequence_Id
    (close,) = client.receive(encode_pdu(C.CMPP_TERMINATE_RESP, seq, {}, V3), 1.02)
    assert isinstance(close, Close) and client.closed


# -- status line, command line, import hygiene --------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_status_line_rewrites_itself_on_a_terminal_only() -> None:
    log = SimLog("sp")
    conn = log.new_connection()
    conn.login_status = 0
    conn.sent[C.CMPP_SUBMIT] = 7
    tty, pipe = _Terminal(), io.StringIO()
    for stream in (tty, pipe):
        LiveSummary(log, stream).show()
    assert tty.getvalue().startswith("\r") and tty.getvalue().endswith("\x1b[K")
    assert pipe.getvalue().endswith("\n") and "\r" not in pipe.getvalue()
    assert "SUBMIT 7 sent" in pipe.getvalue() and "(1 logged in)" in pipe.getvalue()


def sim(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cmppdissect.sim", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_cli_demo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "log.json"
    res = sim("demo", "--duration", "1", "--rate", "40", "--seed", "5", "--chunk", "7",
              "--log-json", str(out))
    assert res.returncode == 0, res.stderr
    assert "demo: ISMG on 127.0.0.1:" in res.stderr
    assert "SP client: 1 connection(s), 1 logged in" in res.stdout
    assert "ISMG server: 1 connection(s), 1 logged in" in res.stdout
    doc = json.loads(out.read_text())
    client = doc["SP client"]["connections"][0]
    server = doc["ISMG server"]["connections"][0]
    assert client["sent"]["CMPP_SUBMIT"] == server["received"]["CMPP_SUBMIT"] >= 30
    assert client["received"]["CMPP_SUBMIT_RESP"] == server["sent"]["CMPP_SUBMIT_RESP"]
    assert server["faults"]["chunked"] > 0 and client["skipped_bytes"] == 0
    assert client["close_reason"] == "terminated"


@pytest.mark.parametrize("args", [
    ("client", "--connect", "127.0.0.1:7890"),  # no --sp-id / --secret
    ("server", "--lost", "2"),
    ("server", "--listen", "nowhere"),
    ("client", "--connect", "x:1", "--sp-id", "1", "--secret", "s", "--count", "1",
     "--duration", "1"),
    ("demo", "--version", "4.0"),
    (),
])
def test_cli_bad_usage_is_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    res = sim(*args)
    assert res.returncode == 2
    assert res.stderr.startswith("cmppdissect sim: ") and res.stderr.count("\n") == 1
    assert "Traceback" not in res.stderr


@contextlib.contextmanager
def sim_server(listen: str) -> Iterator[str]:
    """``cmppdissect sim server --listen LISTEN`` running: the address its first line says."""
    server = subprocess.Popen([sys.executable, "-m", "cmppdissect.sim", "server", "--listen",
                               listen, "--quiet", "--duration", "30"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        address = re.search(r"listening on (\S+), SP accounts", line)
        assert address, line
        yield address[1]
    finally:
        server.terminate()
        server.communicate(timeout=30)


def test_cli_text_that_is_no_utf8_is_one_line() -> None:
    """``--text`` with a byte that is not UTF-8 (a shell's ``$'\\x9b'``): one line and exit
    status 2 before connecting (it was a UnicodeEncodeError traceback once logged in)."""
    with sim_server("127.0.0.1:0") as address:
        res = sim("client", "--connect", address, "--sp-id", SP_ID, "--secret", "123456",
                  "--count", "1", "--text", "RED\udc9b2J")
    assert res.returncode == 2, res.stderr
    assert res.stderr == ("cmppdissect sim: text 'RED\\udc9b2J' is not text (bytes that are "
                          "not UTF-8)\n")


def test_cli_server_on_ipv6_says_an_address_a_client_can_connect_to() -> None:
    """``--listen [::1]:0``: the line says ``[::1]:PORT`` (``::1:PORT`` would read as an
    address without a port), and ``--connect`` takes it as it is."""
    with sim_server("[::1]:0") as address:
        assert re.fullmatch(r"\[::1\]:\d+", address), address
        res = sim("client", "--connect", address, "--sp-id", SP_ID, "--secret", "123456",
                  "--count", "2", "--quiet")
    assert res.returncode == 0, res.stderr
    # the final summary's connection line too: [::1]:LOCAL -> [::1]:PORT
    assert re.search(rf"\n  \[::1\]:\d+ -> {re.escape(address)}  SP {SP_ID}", res.stdout), \
        res.stdout


@pytest.mark.parametrize(("option", "address", "why"), [
    ("--listen", "::1:0", "an IPv6 address goes in brackets ([::1]:PORT), got '::1:0'"),
    ("--listen", "::1", "an IPv6 address goes in brackets ([::1]:PORT), got '::1'"),
    ("--listen", "[]:0", "no address in the brackets of '[]:0'"),
    ("--listen", "127.0.0.1:+0", "bad port '+0' in '127.0.0.1:+0'"),
    ("--listen", "127.0.0.1: 0", "bad port ' 0' in '127.0.0.1: 0'"),
    ("--listen", "127.0.0.1:0_0", "bad port '0_0' in '127.0.0.1:0_0'"),
    ("--listen", "127.0.0.1:\u0660", "bad port '\u0660' in '127.0.0.1:\u0660'"),
    ("--listen", "host:port:extra",
     "an IPv6 address goes in brackets ([::1]:PORT), got 'host:port:extra'"),
    ("--listen", "127.0.0.1:65536", "port 65536 out of range"),
    ("--connect", "127.0.0.1:0", "port 0 in '127.0.0.1:0': give the port to connect to"),
    ("--connect", "::1:7890", "an IPv6 address goes in brackets ([::1]:PORT), got '::1:7890'"),
    ("--connect", "[]:7890", "no address in the brackets of '[]:7890'"),
    ("--connect", ":7890", "no host in ':7890'"),
    ("--connect", "[::1]", "no port in '[::1]'"),
    ("--connect", "[::1]7890", "want [IPv6]:PORT, got '[::1]7890'"),
    ("--connect", "[::1:7890", "want [IPv6]:PORT, got '[::1:7890'"),
])
def test_cli_odd_addresses_are_one_line_and_exit_2(option: str, address: str, why: str) -> None:
    """An address the parser cannot take for sure is refused before listening or connecting
    (``::1:0`` was taken as ``[::1]:0``, ``[]:0`` as every address, ``+0`` as port 0, and
    ``--connect HOST:0`` tried to connect)."""
    command = ("server", "--duration", "1") if option == "--listen" else (
        "client", "--sp-id", SP_ID, "--secret", "123456", "--count", "1")
    res = sim(*command, option, address, "--quiet")
    assert (res.returncode, res.stdout) == (2, ""), res
    assert res.stderr == f"cmppdissect sim: {option}: {why}\n"


def test_cli_ipv6_failures_say_the_address_as_typed() -> None:
    """Nothing listens, or the port is taken: the line names ``[::1]:PORT`` (it said
    ``::1:PORT``, and asyncio's ``Connect call failed ('::1', PORT, 0, 0)``)."""
    with socket.socket(socket.AF_INET6) as busy:
        busy.bind(("::1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = sim("server", "--listen", f"[::1]:{port}", "--quiet", "--duration", "1")
    refused = sim("client", "--connect", f"[::1]:{port}", "--sp-id", SP_ID, "--secret", "x")
    assert taken.returncode == refused.returncode == 2
    assert taken.stderr == (f"cmppdissect sim: cannot listen on [::1]:{port}: "
                            "Address already in use\n")
    assert refused.stderr == (f"cmppdissect sim: cannot connect to [::1]:{port}: "
                              "Connection refused\n")


def test_cli_cannot_connect() -> None:
    res = sim("client", "--connect", "127.0.0.1:1", "--sp-id", SP_ID, "--secret", "x")
    assert res.returncode == 2 and res.stderr.startswith("cmppdissect sim: cannot connect")
    assert res.stderr.count("\n") == 1


@pytest.mark.asyncio
async def test_cli_server_stops_cleanly_on_ctrl_c() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cmppdissect.sim", "server", "--listen", "127.0.0.1:0",
        "--secret", f"{SP_ID}={SECRET}", "--quiet", "--duration", "60",  # never outlives us long
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None and proc.stdout is not None
        line = (await asyncio.wait_for(proc.stderr.readline(), 15)).decode()
        found = re.search(r"listening on 127\.0\.0\.1:(\d+), SP accounts: 901234$", line)
        assert found, line
        port = int(found.group(1))
        client = SpClient(sp(rate=20))  # sends until stopped
        task = asyncio.ensure_future(client.run("127.0.0.1", port))
        while not client.log.connections or client.log.connections[0].sent[C.CMPP_SUBMIT] < 3:
            assert not task.done()
            await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        log = await asyncio.wait_for(task, 10)
        submits = log.sent[C.CMPP_SUBMIT]
        out, err = await asyncio.wait_for(proc.communicate(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err
    assert log.close_reason == "terminated by peer"
    text = out.decode()
    assert "ISMG server: 1 connection(s), 1 logged in" in text
    assert f"CMPP_SUBMIT{0:>22}{submits:>9}" in text


def test_sim_imports_neither_scapy_nor_textual() -> None:
    code = ("import sys, cmppdissect.sim, cmppdissect.sim.cli; "
            "print(','.join(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('scapy', 'textual'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == ""


def test_latency_percentiles_interpolate_as_the_analyzer_does() -> None:
    """The simulator's p50/p90 are numpy.percentile's (linear between ranks), as the report's."""
    from cmppdissect.engine.stats import summarize_ms
    from cmppdissect.sim.log import Latencies

    lat = Latencies()
    samples_s = [0.001, 0.002, 0.003, 0.004, 0.010]
    for value in samples_s:
        lat.add(value)
    assert lat.percentile(50) == pytest.approx(0.003)
    assert lat.percentile(90) == pytest.approx(0.0076)  # nearest rank would say 0.010
    from array import array

    report = summarize_ms([array("q", [round(v * 1e9) for v in samples_s])])
    assert lat.as_dict()["p90_ms"] == pytest.approx(report["p90"])


# -- the log lists what reached the socket ------------------------------------------------------


class _FakeTransport:
    def __init__(self, closing: bool, behind: int) -> None:
        self.closing = closing
        self.behind = behind  # bytes of a write the "kernel" does not take at once
        self.buffer = 0

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffer


class _FakeWriter:
    """A StreamWriter whose connection the peer resets while the last bytes wait."""

    def __init__(self, closing: bool = False, behind: int = 0) -> None:
        self.transport = _FakeTransport(closing, behind)
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data
        self.transport.buffer += min(self.transport.behind, len(data))

    async def drain(self) -> None:
        if self.transport.buffer:
            raise ConnectionResetError(104, "Connection reset by peer")


def _endpoint_with_writes(n: int) -> tuple[SpSession, list[Write]]:
    session = SpSession(sp(count=n), ConnectionLog("sp"))
    writes = [Write(encode_pdu(C.CMPP_ACTIVE_TEST, i + 1, {}), float(i)) for i in range(n)]
    return session, writes


@pytest.mark.asyncio
@pytest.mark.parametrize(("closing", "behind", "logged"), [
    (False, 0, 4),    # all written: all four logged
    (False, 12, 3),   # the last 12 bytes (the 4th ACTIVE_TEST) never left: three logged
    (False, 20, 2),   # the last 20 bytes: the 3rd is cut too
    (True, 0, 0),     # the peer had reset it already: nothing goes out, nothing is logged
])
async def test_the_log_lists_only_what_reached_the_socket(closing: bool, behind: int,
                                                          logged: int) -> None:
    """Issue 13: the simulator's log counted a PDU as sent when its write failed (the peer
    reset the connection). A PDU is logged as sent once the transport took all its bytes."""
    from cmppdissect.sim.transport import _Wire

    session, writes = _endpoint_with_writes(4)
    writer = _FakeWriter(closing, behind)
    wire = _Wire(session, writer)  # type: ignore[arg-type]
    if logged == 4:
        await wire.apply(writes)
    else:
        with pytest.raises(ConnectionResetError):
            await wire.apply(writes)
    assert session.log.sent[C.CMPP_ACTIVE_TEST] == logged
    assert session.log.sent_bytes == 12 * logged
