"""Each recorded sample still shows what ``samples/README.md`` promises about it.

The samples are real recordings (``samples/record.py``); these tests read the committed files
through the public API, as a user would, so a change in the analyzer that hides a finding a
sample exists to show fails here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from cmppdissect.api import Analysis, analyze
from cmppdissect.core import TcpTracker
from cmppdissect.core.records import ConnectionClosed
from cmppdissect.protocol.commands import DEFAULT_PORTS
from cmppdissect.protocol.expert import Severity
from cmppdissect.protocol.version import Version
from cmppdissect.sources.segments import iter_segments
from cmppdissect.store import PduRecord

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
RECORDED = ["cmpp30-sp-session.pcap", "cmpp20-sp-session.pcapng", "ismg-fwd-gns.pcap",
            "failed-login.pcap", "unanswered.pcap", "misbehaving-gateway.pcap",
            "split-headers.pcap", "tcp-retransmission.pcap", "tcp-gap.pcap",
            "tcp-midstream.pcap"]
SP_COMMANDS = {f"CMPP_{name}{resp}" for name in ("CONNECT", "SUBMIT", "DELIVER", "QUERY",
                                                  "CANCEL", "ACTIVE_TEST", "TERMINATE")
               for resp in ("", "_RESP")}
GNS_REQUESTS = {"CMPP_MT_ROUTE", "CMPP_MO_ROUTE", "CMPP_GET_MT_ROUTE", "CMPP_GET_MO_ROUTE",
                "CMPP_MT_ROUTE_UPDATE", "CMPP_MO_ROUTE_UPDATE", "CMPP_PUSH_MT_ROUTE_UPDATE",
                "CMPP_PUSH_MO_ROUTE_UPDATE"}


def load(name: str) -> tuple[Analysis, list[PduRecord]]:
    analysis = analyze(SAMPLES / name)
    return analysis, list(analysis.pdus())


def codes(analysis: Analysis) -> Counter[str]:
    return Counter(e.code for e in analysis.expert)


@pytest.mark.parametrize("name", RECORDED)
def test_every_sample_is_small_and_reads_cleanly(name: str) -> None:
    path = SAMPLES / name
    assert path.stat().st_size < 1 << 20
    analysis, records = load(name)
    assert records and analysis.sessions
    assert not [n for n in analysis.notes if n.severity in ("warn", "error")]
    # Damage is what some samples show, but none holds a PDU our decoder cannot read.
    assert not [e for e in analysis.expert if e.severity >= Severity.ERROR]


@pytest.mark.parametrize(("name", "version"), [("cmpp30-sp-session.pcap", Version.V3_0),
                                               ("cmpp20-sp-session.pcapng", Version.V2_0)])
def test_full_sp_session(name: str, version: Version) -> None:
    analysis, records = load(name)
    [session] = analysis.sessions
    assert (session.version, session.version_source, session.login) == (version, "CONNECT", "ok")
    assert {r.command for r in records} == SP_COMMANDS
    summary = analysis.report()["commands"]
    assert all(c["requests"] == c["paired"] and not c["unanswered"] for c in summary.values())
    submits = [r.pdu.fields for r in records if r.command == "CMPP_SUBMIT"]
    assert {f["Msg_Fmt"] for f in submits} == {0, 8, 15}
    assert any(len(f["Dest_terminal_Id"]) > 1 for f in submits)  # group sends
    assert analysis.report()["long_sms"]["complete"] >= 2
    assert any(r.long_sms is not None for r in records)
    delivers = [r for r in records if r.command == "CMPP_DELIVER"]
    assert any(r.pdu.report is None for r in delivers)  # MO messages
    assert analysis.report()["reports"]["matched"] >= 5  # reports matched to SUBMITs
    assert not [e for e in analysis.expert if e.severity.name != "CHAT"]


def test_the_pcapng_sample_is_pcapng() -> None:
    head = (SAMPLES / "cmpp20-sp-session.pcapng").read_bytes()[:12]
    assert head[:4] == b"\x0a\x0d\x0d\x0a" and head[8:12] == b"\x4d\x3c\x2b\x1a"


def test_fwd_and_gns_messages() -> None:
    analysis, records = load("ismg-fwd-gns.pcap")
    fwd_versions = {r.pdu.version for r in records if r.command == "CMPP_FWD"}
    assert fwd_versions == {Version.V2_0, Version.V3_0}
    names = {r.command for r in records}
    assert GNS_REQUESTS | {f"{n}_RESP" for n in GNS_REQUESTS} | {"CMPP_FWD_RESP"} <= names
    fwd_types = {r.pdu.fields["Msg_Fwd_Type"] for r in records if r.command == "CMPP_FWD"}
    assert fwd_types == {0, 1, 2}
    summary = analysis.report()["commands"]
    assert all(c["requests"] == c["paired"] == 1 for n, c in summary.items() if n in GNS_REQUESTS)
    ports = Counter(s.server.rsplit(":", 1)[1] for s in analysis.sessions)
    assert ports == {"7930": 2, "9168": 8}


def test_failed_logins() -> None:
    analysis, records = load("failed-login.pcap")
    assert [s.login for s in analysis.sessions] == [
        "failed (3: authentication error)", "failed (2: illegal source address)",
        "failed (4: version too high)"]
    assert {r.command for r in records} == {"CMPP_CONNECT", "CMPP_CONNECT_RESP"}


def test_unanswered_requests() -> None:
    analysis, _records = load("unanswered.pcap")
    found = codes(analysis)
    assert found["unanswered"] >= 1 and found["sequence-reused"] >= 1
    submit = analysis.report()["commands"]["CMPP_SUBMIT"]
    assert submit["requests"] > submit["responses"] and submit["unanswered"] >= 1


def test_misbehaving_gateway() -> None:
    analysis, records = load("misbehaving-gateway.pcap")
    found = codes(analysis)
    assert found["orphan-response"] >= 1 and found["skipped-bytes"] >= 1
    results = {r.pdu.fields["Result"] for r in records if r.command == "CMPP_SUBMIT_RESP"}
    assert {0, 7, 8} <= results
    latency = analysis.report()["commands"]["CMPP_SUBMIT"]["latency_ms"]
    assert latency["max"] is not None and latency["max"] > 250  # the slow responses


def test_split_headers_reassemble_without_findings() -> None:
    analysis, records = load("split-headers.pcap")
    sizes = [len(s.payload) for s in iter_segments(SAMPLES / "split-headers.pcap")]
    assert max(sizes) <= 5 and sum(1 for n in sizes if n) > 12 * len(records) / 5
    assert not set(codes(analysis)) & {"skipped-bytes", "incomplete-pdu", "capture-gap"}
    summary = analysis.report()["commands"]
    assert all(c["requests"] == c["paired"] for c in summary.values())


def test_retransmitted_segments_count_once() -> None:
    path = SAMPLES / "tcp-retransmission.pcap"
    tracker = TcpTracker(server_ports=DEFAULT_PORTS)
    events = [ev for seg in iter_segments(path) for ev in tracker.feed(seg)]
    closed = [ev for ev in [*events, *tracker.finish()] if isinstance(ev, ConnectionClosed)]
    assert [ev.stats.retransmissions for ev in closed if ev.stats] == [2]
    analysis, records = load("tcp-retransmission.pcap")
    seen = Counter((r.from_client, r.command, r.pdu.Sequence_Id) for r in records)
    assert max(seen.values()) == 1
    assert not set(codes(analysis)) & {"sequence-reused", "orphan-response", "capture-gap"}


def test_gap() -> None:
    analysis, _records = load("tcp-gap.pcap")
    gaps = [e for e in analysis.expert if e.code == "capture-gap"]
    assert len(gaps) == 1 and "client side" in gaps[0].message
    assert codes(analysis)["orphan-response"] == 1


def test_capture_starting_mid_stream() -> None:
    analysis, records = load("tcp-midstream.pcap")
    [session] = analysis.sessions
    assert not session.saw_syn and session.login is None
    assert (session.version, session.version_source) == (Version.V3_0, "lengths")
    skipped = [e for e in analysis.expert if e.code == "skipped-bytes"]
    assert len(skipped) == 1 and "mid-stream" in skipped[0].message
    assert records[0].command != "CMPP_CONNECT" and len(records) > 10
