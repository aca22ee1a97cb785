"""Request/response pairing, report matching, statistics, logins and detection, end to end.

Every capture here is real pcap bytes with exact nanosecond times (so latencies are exact),
read by the real reader into the real engine; the statistics are checked as
``build_report`` gives them to ``--report json``, and a few cases go through the CLI itself.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import struct
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pcaputil import (
    BASE_TS_NS,
    SECRET,
    SP_ID,
    Conversation,
    bare_pdu,
    connect_pdu,
    connect_resp_pdu,
    deliver_resp_pdu,
    mo_pdu,
    pcap_bytes,
    report_pdu,
    run_cli,
    run_engine,
    sample_msg_id,
    submit_pdu,
    submit_resp_pdu,
)

from cmppdissect.output.report import build_report
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.msgid import make_msg_id
from cmppdissect.protocol.version import Version

VERSIONS = pytest.mark.parametrize("v", [Version.V2_0, Version.V3_0], ids=["2.0", "3.0"])
V2, V3 = Version.V2_0, Version.V3_0
MS = 1_000_000


class Timeline:
    """Frames with exact capture times in ms from the start; frame numbers count from 1."""

    def __init__(self) -> None:
        self.items: list[tuple[int, bytes]] = []

    def at(self, t_ms: float, frames: list[bytes]) -> int:
        """Add ``frames`` at ``t_ms``; returns the frame number of the last one."""
        for frame in frames:
            self.items.append((BASE_TS_NS + round(t_ms * MS), frame))
        return len(self.items)

    def pcap(self) -> bytes:
        return pcap_bytes(self.items, nano=True)

    def write(self, path: Path) -> Path:
        path.write_bytes(self.pcap())
        return path


def run(tl: Timeline, **kw: Any) -> tuple[list[Any], Any, dict[str, Any]]:
    records, an = run_engine(tl.pcap(), **kw)
    return records, an, build_report(an)


def counters(rep: dict[str, Any], command: str) -> dict[str, int]:
    c = rep["commands"][command]
    return {k: c[k] for k in ("requests", "responses", "paired", "unanswered",
                              "orphan_responses")}


def by_frame(records: list[Any]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for r in records:
        out.setdefault(r.frame, []).append(r)
    return out


def one(records: list[Any], frame: int) -> Any:
    (rec,) = by_frame(records)[frame]
    return rec


def findings(rec: Any) -> list[str]:
    return [f.code for f in rec.expert]


def expert(an: Any, code: str) -> list[tuple[int | None, int | None]]:
    """(frame, session) of each engine finding with ``code``."""
    return [(e.frame, e.session) for e in an.expert if e.code == code]


def login(tl: Timeline, conv: Conversation, v: Version, t: float = 0.0, **resp: Any) -> None:
    tl.at(t, conv.handshake())
    tl.at(t + 1, conv.send(True, connect_pdu(v)))
    tl.at(t + 2, conv.send(False, connect_resp_pdu(v, **resp)))


# -- direction, command and session decide what pairs --------------------------------------------


@VERSIONS
def test_requests_from_either_side_pair_with_responses_going_the_other_way(v: Version) -> None:
    """SP and gateway use the same Sequence_Id at once; each response finds its own request."""
    tl, conv = Timeline(), Conversation()
    login(tl, conv, v)
    f_submit = tl.at(10, conv.send(True, submit_pdu(v, 7)))
    f_deliver = tl.at(11, conv.send(False, mo_pdu(v, 7)))  # gateway's DELIVER, same seq
    f_at_sp = tl.at(12, conv.send(True, bare_pdu(C.CMPP_ACTIVE_TEST, 8, v)))
    f_at_gw = tl.at(13, conv.send(False, bare_pdu(C.CMPP_ACTIVE_TEST, 8, v)))
    f_dr = tl.at(15, conv.send(True, deliver_resp_pdu(v, 7)))  # SP answers the DELIVER
    f_atr_sp = tl.at(17, conv.send(True, bare_pdu(C.CMPP_ACTIVE_TEST_RESP, 8, v)))
    f_sr = tl.at(20.5, conv.send(False, submit_resp_pdu(v, 7, sample_msg_id(7))))
    f_atr_gw = tl.at(24, conv.send(False, bare_pdu(C.CMPP_ACTIVE_TEST_RESP, 8, v)))
    records, an, rep = run(tl)
    pairs = {r.frame: (r.request_frame, r.latency_ns) for r in records if r.pdu.Command_Id >> 31}
    assert pairs == {5: (4, MS), f_dr: (f_deliver, 4 * MS), f_atr_sp: (f_at_gw, 4 * MS),
                     f_sr: (f_submit, 10_500_000), f_atr_gw: (f_at_sp, 12 * MS)}
    assert one(records, f_dr).from_client and not one(records, f_deliver).from_client
    assert one(records, f_dr).latency_ms == pytest.approx(4.0)
    for cmd in ("CMPP_CONNECT", "CMPP_SUBMIT", "CMPP_DELIVER"):
        assert counters(rep, cmd) == {"requests": 1, "responses": 1, "paired": 1,
                                      "unanswered": 0, "orphan_responses": 0}
    assert counters(rep, "CMPP_ACTIVE_TEST")["paired"] == 2
    assert rep["commands"]["CMPP_ACTIVE_TEST"]["latency_ms"]["min"] == pytest.approx(4.0)
    assert rep["commands"]["CMPP_ACTIVE_TEST"]["latency_ms"]["max"] == pytest.approx(12.0)
    assert an.expert == []


def test_wrong_direction_command_or_session_makes_an_orphan() -> None:
    v = V3
    tl = Timeline()
    a = Conversation(client=("192.0.2.10", 40001))
    b = Conversation(client=("192.0.2.10", 40002))
    login(tl, a, v)
    login(tl, b, v)
    f_req = tl.at(10, a.send(True, submit_pdu(v, 30)))
    f_same_dir = tl.at(11, a.send(True, submit_resp_pdu(v, 30, 1)))  # SP -> gateway: wrong way
    f_other_cmd = tl.at(12, a.send(False, deliver_resp_pdu(v, 30)))  # other command
    f_other_sess = tl.at(13, b.send(False, submit_resp_pdu(v, 30, 2)))  # other connection
    f_right = tl.at(14, a.send(False, submit_resp_pdu(v, 30, 3)))
    records, an, rep = run(tl)
    for frame in (f_same_dir, f_other_cmd, f_other_sess):
        rec = one(records, frame)
        assert rec.request_frame is None and rec.latency_ns is None
        assert findings(rec) == ["orphan-response"]
    assert one(records, f_other_sess).session == 1
    assert one(records, f_right).request_frame == f_req
    assert one(records, f_right).latency_ns == 4 * MS
    assert counters(rep, "CMPP_SUBMIT") == {"requests": 1, "responses": 3, "paired": 1,
                                            "unanswered": 0, "orphan_responses": 2}
    assert counters(rep, "CMPP_DELIVER")["orphan_responses"] == 1
    assert sorted(expert(an, "orphan-response")) == [
        (f_same_dir, 0), (f_other_cmd, 0), (f_other_sess, 1)]


# -- unanswered: timeout and end of capture -----------------------------------------------------


def timeout_capture() -> tuple[Timeline, dict[str, int]]:
    v = V2
    tl, conv = Timeline(), Conversation()
    login(tl, conv, v)
    f = {}
    f["fast"] = tl.at(100, conv.send(True, submit_pdu(v, 2)))
    f["slow"] = tl.at(101, conv.send(True, submit_pdu(v, 3)))
    f["fast_resp"] = tl.at(599, conv.send(False, submit_resp_pdu(v, 2, 2)))  # 499 ms
    f["slow_resp"] = tl.at(901, conv.send(False, submit_resp_pdu(v, 3, 3)))  # 800 ms
    f["last"] = tl.at(1000, conv.send(True, submit_pdu(v, 4)))  # never answered
    return tl, f


def test_unanswered_after_timeout_and_at_end_of_capture() -> None:
    tl, f = timeout_capture()
    records, an, rep = run(tl, timeout_s=0.5)
    assert one(records, f["fast_resp"]).request_frame == f["fast"]
    assert one(records, f["fast_resp"]).latency_ns == 499 * MS
    late = one(records, f["slow_resp"])  # its request expired 500 ms after it was sent
    # Counted as an orphan, but named as the late answer to the request it answers.
    assert late.request_frame is None and findings(late) == ["late-response"]
    assert late.expert[0].frame == f["slow"] and "0.800 s after" in late.expert[0].message
    assert counters(rep, "CMPP_SUBMIT") == {"requests": 3, "responses": 2, "paired": 1,
                                            "unanswered": 2, "orphan_responses": 1}
    assert expert(an, "unanswered") == [(f["slow"], 0), (f["last"], 0)]
    assert rep["sessions"][0]["unanswered"] == 2
    # the default timeout (60 s) lets the slow answer pair; only the last SUBMIT is left
    records, an, rep = run(tl)
    assert one(records, f["slow_resp"]).latency_ns == 800 * MS
    assert expert(an, "unanswered") == [(f["last"], 0)]
    assert rep["commands"]["CMPP_SUBMIT"]["latency_ms"]["max"] == pytest.approx(800.0)


def test_timeout_option_on_the_command_line(tmp_path: Path) -> None:
    tl, f = timeout_capture()
    path = tl.write(tmp_path / "slow.pcap")
    short = json.loads(run_cli("--timeout", "0.5", "--report", "json", str(path)).stdout)
    default = json.loads(run_cli("--report", "json", str(path)).stdout)
    assert short["commands"]["CMPP_SUBMIT"]["unanswered"] == 2
    assert short["commands"]["CMPP_SUBMIT"]["orphan_responses"] == 1
    assert default["commands"]["CMPP_SUBMIT"]["unanswered"] == 1
    assert default["commands"]["CMPP_SUBMIT"]["paired"] == 2
    unanswered = [e for e in short["expert"] if e["code"] == "unanswered"]
    assert [e["frame"] for e in unanswered] == [f["slow"], f["last"]]
    assert all(e["severity"] == "warn" and "Sequence_Id" in e["message"] for e in unanswered)


# -- reused Sequence_Ids and retransmitted requests ---------------------------------------------


@VERSIONS
def test_sequence_id_reused_while_in_flight(v: Version) -> None:
    tl, conv = Timeline(), Conversation()
    login(tl, conv, v)
    f_first = tl.at(10, conv.send(True, submit_pdu(v, 40, 1)))
    f_reuse = tl.at(12, conv.send(True, submit_pdu(v, 40, 2)))  # another message, same seq
    f_resp = tl.at(30, conv.send(False, submit_resp_pdu(v, 40, sample_msg_id(1))))
    f_after = tl.at(31, conv.send(True, submit_pdu(v, 40, 3)))  # free again: no finding
    tl.at(33, conv.send(False, submit_resp_pdu(v, 40, sample_msg_id(3))))
    records, an, rep = run(tl)
    reuse = one(records, f_reuse)
    assert findings(reuse) == ["sequence-reused"]
    assert f"frame {f_first}" in reuse.expert[0].message
    assert findings(one(records, f_first)) == findings(one(records, f_after)) == []
    assert one(records, f_resp).request_frame == f_first  # latency from the first send
    assert one(records, f_resp).latency_ns == 20 * MS
    assert rep["commands"]["CMPP_SUBMIT"]["retransmitted"] == 1
    assert counters(rep, "CMPP_SUBMIT")["paired"] == 2
    assert expert(an, "sequence-reused") == [(f_reuse, 0)]


@VERSIONS
def test_retransmitted_request_is_counted_once_answered(v: Version) -> None:
    """The spec resends an unanswered request after T; the answer pairs with the first send."""
    tl, conv = Timeline(), Conversation()
    login(tl, conv, v)
    f_first = tl.at(10, conv.send(True, submit_pdu(v, 50)))
    f_again = tl.at(30_010, conv.send(True, submit_pdu(v, 50)))  # identical bytes, 30 s later
    f_resp = tl.at(30_020, conv.send(False, submit_resp_pdu(v, 50, sample_msg_id(50))))
    records, _, rep = run(tl)
    assert [r.pdu.raw for r in by_frame(records)[f_again]] == [submit_pdu(v, 50)]
    assert findings(one(records, f_again)) == ["sequence-reused"]
    assert one(records, f_resp).request_frame == f_first
    assert one(records, f_resp).latency_ns == 30_010 * MS
    submit = rep["commands"]["CMPP_SUBMIT"]
    assert (submit["retransmitted"], submit["paired"], submit["unanswered"]) == (1, 1, 0)
    assert rep["sessions"][0]["unanswered"] == 0


# -- the in-flight window -----------------------------------------------------------------------


def window_capture(v: Version, in_flight: int, client_port: int, tl: Timeline,
                   t0: float) -> list[int]:
    conv = Conversation(client=("192.0.2.10", client_port))
    login(tl, conv, v, t0)
    frames = [tl.at(t0 + 10 + i, conv.send(True, submit_pdu(v, 100 + i)))
              for i in range(in_flight)]
    for i in range(in_flight):
        tl.at(t0 + 100 + i, conv.send(False, submit_resp_pdu(v, 100 + i, sample_msg_id(i))))
    return frames


@VERSIONS
def test_in_flight_window_against_the_spec_16(v: Version) -> None:
    tl = Timeline()
    wide = window_capture(v, 20, 40001, tl, 0)
    exact = window_capture(v, 16, 40002, tl, 1000)
    records, _, rep = run(tl)
    assert [s["max_window"] for s in rep["sessions"]] == [20, 16]
    noted = [r.frame for r in records if "window" in findings(r)]
    assert noted == [wide[16]]  # the 17th request in flight, once
    assert [f.severity for r in records for f in r.expert if f.code == "window"] == [1]
    assert not any("window" in findings(one(records, f)) for f in exact)
    assert counters(rep, "CMPP_SUBMIT")["paired"] == 36


# -- SUBMIT_RESP Msg_Id to status reports -------------------------------------------------------


@VERSIONS
def test_reports_match_group_sends_by_msg_id_range(v: Version) -> None:
    tl, conv = Timeline(), Conversation()
    login(tl, conv, v)
    first = make_msg_id(11, 24, 10, 15, 0, 79101, 0xFFFE)  # the range carries past 0xFFFF
    f_group = tl.at(10, conv.send(True, submit_pdu(v, 2, dests=3)))
    f_group_resp = tl.at(12, conv.send(False, submit_resp_pdu(v, 2, first)))
    f_failed = tl.at(13, conv.send(True, submit_pdu(v, 3)))
    failed_id = sample_msg_id(777)
    tl.at(14, conv.send(False, submit_resp_pdu(v, 3, failed_id, result=8)))
    reports = [(first + 2, "UNDELIV", 1012), (first, "DELIVRD", 2012), (first + 1, "DELIVRD", 5012),
               (first + 3, "EXPIRED", 6012), (failed_id, "DELIVRD", 7012)]
    f_reports = []
    for k, (mid, stat, t) in enumerate(reports):
        f_reports.append(tl.at(t, conv.send(False, report_pdu(v, 300 + k, mid, stat))))
        tl.at(t + 1, conv.send(True, deliver_resp_pdu(v, 300 + k)))
    records, _, rep = run(tl)
    assert (first + 2) >> 16 & 0x3FFFFF == 79102  # the third id carried into the gateway
    matched = {r.frame: r.expert[0].message for r in records if "report-for" in findings(r)}
    assert sorted(matched) == f_reports[:3]
    assert all(f"SUBMIT in frame {f_group}" in m for m in matched.values())
    assert "UNDELIV (failed)" in matched[f_reports[0]]
    for frame in f_reports[3:]:
        assert "report-for" not in findings(one(records, frame))
    stat = {k: s["count"] for k, s in rep["reports"]["stat"].items()}
    assert stat == {"DELIVRD": 3, "UNDELIV": 1, "EXPIRED": 1}
    assert rep["reports"]["stat"]["UNDELIV"]["class"] == "failed"
    assert rep["reports"]["matched"] == 3
    delays = [t - 10 for _, _, t in reports[:3]]  # from the SUBMIT (its response named the ids)
    s2r = rep["reports"]["submit_to_report_ms"]
    assert s2r["min"] == pytest.approx(min(delays)) and s2r["max"] == pytest.approx(max(delays))
    assert s2r["p50"] == pytest.approx(statistics.median(delays))
    assert s2r["mean"] == pytest.approx(statistics.fmean(delays))
    assert one(records, f_group_resp).pdu.fields["Msg_Id"] == first
    assert f_failed < f_reports[0]


def test_report_on_another_connection_and_60_byte_report_in_3_0() -> None:
    """Gateways send reports on any of the SP's connections; Aspire sends 60-byte ones (D3)."""
    v = V3
    tl = Timeline()
    mt = Conversation(client=("192.0.2.10", 40001))
    mo = Conversation(client=("192.0.2.10", 40002))
    login(tl, mt, v)
    login(tl, mo, v, 3)
    f_sub = tl.at(10, mt.send(True, submit_pdu(v, 2)))
    tl.at(11, mt.send(False, submit_resp_pdu(v, 2, sample_msg_id(99))))
    f_rep = tl.at(511, mo.send(False, report_pdu(v, 9, sample_msg_id(99), "DELIVRD", size=60)))
    records, _, rep = run(tl)
    report_rec = one(records, f_rep)
    assert report_rec.session == 1
    assert report_rec.pdu.report["Stat"] == b"DELIVRD"
    assert report_rec.pdu.report["Msg_Id"] == sample_msg_id(99)
    assert "report-version" in [f.code for f in report_rec.pdu.findings]
    assert f"SUBMIT in frame {f_sub}" in report_rec.expert[0].message
    assert rep["reports"]["submit_to_report_ms"]["max"] == pytest.approx(501.0)  # from SUBMIT


# -- latency statistics -------------------------------------------------------------------------


def test_latency_percentiles_equal_numpy_linear_percentiles() -> None:
    """Expected values by statistics.quantiles(method="inclusive"), numpy's default method."""
    v = V2
    latencies_us = [3000, 700, 12250, 5000, 1, 900, 42000, 15, 2500, 2500, 8000, 333, 77777]
    tl, conv = Timeline(), Conversation()
    login(tl, conv, v)
    t = 10.0
    for i, lat in enumerate(latencies_us):
        tl.at(t, conv.send(True, submit_pdu(v, 10 + i)))
        tl.at(t + lat / 1000, conv.send(False, submit_resp_pdu(v, 10 + i, sample_msg_id(i))))
        t += 100
    _, _, rep = run(tl)
    ms = [x / 1000 for x in latencies_us]
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    expected = {"min": min(ms), "mean": statistics.fmean(ms), "p50": cuts[49],
                "p90": cuts[89], "p99": cuts[98], "max": max(ms)}
    got = rep["commands"]["CMPP_SUBMIT"]["latency_ms"]
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # and by hand for p90: rank 0.9 * 12 = 10.8 between the 11th and 12th smallest
    ordered = sorted(ms)
    assert got["p90"] == pytest.approx(ordered[10] + 0.8 * (ordered[11] - ordered[10]))


# -- result codes -------------------------------------------------------------------------------


@VERSIONS
def test_result_codes_are_counted_with_their_names(v: Version) -> None:
    tl, conv = Timeline(), Conversation()
    login(tl, conv, v)
    t = 10
    for i, result in enumerate([0, 8, 8, 13, 150, 0]):
        tl.at(t, conv.send(True, submit_pdu(v, 10 + i)))
        tl.at(t + 1, conv.send(False, submit_resp_pdu(v, 10 + i, sample_msg_id(i), result)))
        t += 10
    tl.at(t, conv.send(False, mo_pdu(v, 90)))
    tl.at(t + 1, conv.send(True, deliver_resp_pdu(v, 90, result=9)))
    _, _, rep = run(tl)
    results = {(r["command"], r["code"]): (r["name"], r["count"]) for r in rep["results"]}
    assert results == {
        ("CMPP_CONNECT_RESP", 0): ("correct", 1),
        ("CMPP_SUBMIT_RESP", 0): ("correct", 2),
        ("CMPP_SUBMIT_RESP", 8): ("flow control error", 2),
        ("CMPP_SUBMIT_RESP", 13): ("Dest_terminal_Id error", 1),
        ("CMPP_SUBMIT_RESP", 150): ("vendor-defined (150)", 1),
        ("CMPP_DELIVER_RESP", 9): ("other error (9)", 1),
    }
    assert rep["sessions"][0]["errors"] == 5


# -- logins and authenticators ------------------------------------------------------------------


@VERSIONS
def test_failed_login(v: Version) -> None:
    tl = Timeline()
    bad_secret = Conversation(client=("192.0.2.10", 40001))
    too_new = Conversation(client=("192.0.2.10", 40002))
    login(tl, bad_secret, v, status=3)
    login(tl, too_new, v, 5, status=4)
    records, _, rep = run(tl)
    assert [s["login"] for s in rep["sessions"]] == [
        "failed (3: authentication error)", "failed (4: version too high)"]
    assert [s["errors"] for s in rep["sessions"]] == [1, 1]
    resp = [r for r in records if r.command == "CMPP_CONNECT_RESP"]
    assert [r.pdu.fields["Status"] for r in resp] == [3, 4]
    assert [r.request_frame for r in resp] == [4, 9]


@VERSIONS
def test_secret_checks_both_authenticators(v: Version) -> None:
    tl, conv = Timeline(), Conversation()
    login(tl, conv, v)
    right = run(tl, secrets={SP_ID: SECRET})
    wrong = run(tl, secrets={SP_ID: "guess"})
    other = run(tl, secrets={"999999": SECRET})
    for (records, an, _), ok in ((right, True), (wrong, False)):
        conn, resp = records
        assert [(f.code, f.severity) for f in conn.expert] == [("auth-source", 0 if ok else 3)]
        assert [(f.code, f.severity) for f in resp.expert] == [("auth-ismg", 0 if ok else 3)]
        assert ("does not match" in conn.expert[0].message) is not ok
        errors = [e.code for e in an.expert if e.severity == 3]
        assert errors == ([] if ok else ["auth-source", "auth-ismg"])
    assert "matches" in right[0][1].expert[0].message
    assert all(r.expert == [] for r in other[0])  # no secret for this SP: nothing to check


def test_secret_option_on_the_command_line(tmp_path: Path) -> None:
    tl, conv = Timeline(), Conversation()
    login(tl, conv, V3)
    path = tl.write(tmp_path / "login.pcap")
    for secret, severity in ((SECRET, "chat"), ("nope", "error")):
        res = run_cli("-T", "jsonl", "--secret", f"{SP_ID}={secret}", str(path))
        assert res.returncode == 0, res.stderr
        recs = [json.loads(line) for line in res.stdout.splitlines()]
        got = [(f["code"], f["severity"]) for r in recs for f in r["expert"]]
        assert got == [("auth-source", severity), ("auth-ismg", severity)]


def test_empty_authenticator_on_a_failed_login_is_what_the_spec_asks() -> None:
    tl, conv = Timeline(), Conversation()
    login(tl, conv, V2, status=3)
    records, _, _ = run(tl, secrets={SP_ID: SECRET})
    resp = records[1]
    assert [(f.code, f.severity) for f in resp.expert] == [("auth-ismg", 0)]
    assert "empty AuthenticatorISMG" in resp.expert[0].message


# -- detection: ports, heuristic, -d, other traffic ---------------------------------------------


def test_default_ports_are_cmpp() -> None:
    tl = Timeline()
    for k, port in enumerate((7890, 7900, 7930, 9168)):
        conv = Conversation(client=("192.0.2.10", 40001 + k), server=("198.51.100.7", port))
        login(tl, conv, V3, 10 * k)
    records, _, rep = run(tl)
    assert [s["server"] for s in rep["sessions"]] == [
        "198.51.100.7:7890", "198.51.100.7:7900", "198.51.100.7:7930", "198.51.100.7:9168"]
    assert [s["sp_id"] for s in rep["sessions"]] == [SP_ID] * 4
    assert [r.command for r in records] == ["CMPP_CONNECT", "CMPP_CONNECT_RESP"] * 4


HTTP_REQUEST = (b"GET /sms/send?to=8613800138000 HTTP/1.1\r\nHost: gw.example\r\n"
                b"User-Agent: curl/8.0\r\n\r\n")
HTTP_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"


def http(conv: Conversation, tl: Timeline, t: float) -> None:
    tl.at(t, conv.handshake())
    tl.at(t + 1, conv.send(True, HTTP_REQUEST))
    tl.at(t + 2, conv.send(False, HTTP_RESPONSE))
    tl.at(t + 3, conv.close())


def test_heuristic_finds_cmpp_on_another_port_and_ignores_the_rest() -> None:
    tl = Timeline()
    cmpp = Conversation(client=("192.0.2.10", 40001), server=("198.51.100.7", 15000))
    login(tl, cmpp, V2)
    tl.at(3, cmpp.send(True, submit_pdu(V2, 2)))
    tl.at(4, cmpp.send(False, submit_resp_pdu(V2, 2, sample_msg_id(2))))
    http(Conversation(client=("192.0.2.10", 40002), server=("198.51.100.7", 8080)), tl, 10)
    records, an, rep = run(tl)
    assert [s["server"] for s in rep["sessions"]] == ["198.51.100.7:15000"]
    assert [r.command for r in records] == [
        "CMPP_CONNECT", "CMPP_CONNECT_RESP", "CMPP_SUBMIT", "CMPP_SUBMIT_RESP"]
    assert records[2].pdu.fields["Dest_terminal_Id"] == [b"8613800000002"]
    assert an.expert == []


@pytest.mark.parametrize("first", ["SUBMIT", "DELIVER", "ACTIVE_TEST"])
def test_a_stream_picked_up_without_its_handshake_on_other_ports_knows_its_client(
        first: str) -> None:
    """No SYN, no known port: the TCP stage takes the lower port for the server's, here the
    SP's. A first PDU only one side sends (an SP SUBMITs, the ISMG DELIVERs) says which is
    which, and every count by side follows; one either side sends (ACTIVE_TEST) leaves the
    guess."""
    tl = Timeline()
    sp = ("192.0.2.10", 40001)
    conv = Conversation(client=sp, server=("198.51.100.7", 50000))
    if first == "SUBMIT":
        tl.at(0, conv.send(True, submit_pdu(V3, 2)))
        tl.at(1, conv.send(False, submit_resp_pdu(V3, 2, sample_msg_id(2))))
    elif first == "DELIVER":
        tl.at(0, conv.send(False, mo_pdu(V3, 3)))
        tl.at(1, conv.send(True, deliver_resp_pdu(V3, 3)))
    else:
        tl.at(0, conv.send(False, bare_pdu(C.CMPP_ACTIVE_TEST, 4, V3)))
        tl.at(1, conv.send(True, bare_pdu(C.CMPP_ACTIVE_TEST_RESP, 4, V3, Reserved=0)))
    tl.at(2, conv.send(True, submit_pdu(V3, 5)))
    tl.at(3, conv.send(False, submit_resp_pdu(V3, 5, sample_msg_id(5))))
    records, an, rep = run(tl)
    (session,) = rep["sessions"]
    client = session["client"] if first != "ACTIVE_TEST" else session["server"]
    assert client == "192.0.2.10:40001"
    sp_side = [r for r in records if r.src == "192.0.2.10:40001"]
    assert {r.command for r in sp_side} <= {"CMPP_SUBMIT", "CMPP_DELIVER_RESP",
                                            "CMPP_ACTIVE_TEST_RESP"}
    assert all(r.from_client == (first != "ACTIVE_TEST") for r in sp_side)
    sent = sum(r.pdu.Total_Length for r in sp_side)
    sides = (session["pdus_from_client"], session["tcp"]["bytes_from_client"])
    if first == "ACTIVE_TEST":  # the guess stands: the SP's side is the server's
        sides = (session["pdus_from_server"], session["tcp"]["bytes_from_server"])
    assert sides == (2, sent)
    assert [e.code for e in an.expert] == []


SP_END = ("192.0.2.10", 40001)
ISMG_END = ("198.51.100.7", 50000)  # the higher port: without the SYN, taken for the client's


def sp_and_ismg(*, handshake: bool, first: str = "SUBMIT") -> Timeline:
    """An SP and an ISMG on a port that is not CMPP's, each side with something to count: a
    first PDU only one side sends, a status report, ACTIVE_TESTs from either side (the ISMG's
    unanswered), a resent SUBMIT, a segment lost each way, a SUBMIT unanswered, a PDU cut by
    the end of the stream on the ISMG's side, and a RST from the ISMG; then a connection on
    other ports that closes before any data."""
    tl = Timeline()
    conv = Conversation(client=SP_END, server=ISMG_END)
    if handshake:
        tl.at(0, conv.handshake())
    if first == "SUBMIT":
        tl.at(1, conv.send(True, submit_pdu(V3, 2)))
        tl.at(2, conv.send(False, submit_resp_pdu(V3, 2, sample_msg_id(2))))
    else:
        tl.at(1, conv.send(False, mo_pdu(V3, 3)))
        tl.at(2, conv.send(True, deliver_resp_pdu(V3, 3)))
        tl.at(2.5, conv.send(True, submit_pdu(V3, 2)))
        tl.at(2.6, conv.send(False, submit_resp_pdu(V3, 2, sample_msg_id(2))))
    tl.at(3, conv.send(False, report_pdu(V3, 7, sample_msg_id(2))))
    tl.at(4, conv.send(True, deliver_resp_pdu(V3, 7)))
    for k in range(3):
        tl.at(5 + k, conv.send(False, bare_pdu(C.CMPP_ACTIVE_TEST, 100 + k, V3)))
    tl.at(8, conv.send(True, bare_pdu(C.CMPP_ACTIVE_TEST, 200, V3)))
    tl.at(9, conv.send(False, bare_pdu(C.CMPP_ACTIVE_TEST_RESP, 200, V3, Reserved=0)))
    resent = conv.send(True, submit_pdu(V3, 5))
    tl.at(10, resent)
    tl.at(11, resent)
    tl.at(12, conv.send(False, submit_resp_pdu(V3, 5, sample_msg_id(5))))
    conv.send(True, submit_pdu(V3, 6))  # lost: the SP's side
    tl.at(13, conv.send(True, submit_pdu(V3, 8)))
    tl.at(14, [conv.ack(False)])
    tl.at(15, conv.send(False, submit_resp_pdu(V3, 8, sample_msg_id(8))))
    conv.send(False, submit_resp_pdu(V3, 9, sample_msg_id(9)))  # lost: the ISMG's side
    tl.at(16, conv.send(False, submit_resp_pdu(V3, 10, sample_msg_id(10))))
    tl.at(17, [conv.ack(True)])
    tl.at(18, conv.send(True, submit_pdu(V3, 11)))
    tl.at(19, conv.send(False, submit_resp_pdu(V3, 11, sample_msg_id(11))[:10]))
    tl.at(20, [conv.rst(False)])
    quiet = Conversation(client=("192.0.2.10", 40002), server=("198.51.100.7", 50001))
    tl.at(21, [quiet.fin(False), quiet.fin(True), quiet.ack(False)])
    return tl


def outputs(path: Path, *args: str, tmp: Path) -> dict[str, Any]:
    """What every way out of the command line says about ``path``: report, records, -T fields
    (with the transport fields), the -z tables, transactions, the Parquet tables, -w."""
    tmp.mkdir()
    out: dict[str, Any] = {}
    res = run_cli(*args, "-T", "jsonl", "--report-file", str(tmp / "report.json"), "-w",
                  str(tmp / "out.pcapng"), str(path))
    assert res.returncode == 0 and res.stderr == "", res.stderr
    out["jsonl"] = res.stdout
    out["report"] = json.loads((tmp / "report.json").read_text())
    out["-w"] = (tmp / "out.pcapng").read_bytes()
    for name, extra in (("fields", ("-T", "fields", "-e", "frame", "-e", "src", "-e", "dst",
                                    "-e", "tcp.srcport", "-e", "ip.dst", "-e", "command")),
                        ("z", ("-q", "-z", "conv", "-z", "srt", "-z", "expert", "-z",
                               "io,stat,0.005")),
                        ("transactions", ("-T", "transactions")),
                        ("summary", ())):
        res = run_cli(*args, *extra, str(path))
        assert res.returncode == 0 and res.stderr == "", res.stderr
        out[name] = res.stdout
    assert run_cli(*args, "-q", "--parquet", str(tmp / "pq"), str(path)).returncode == 0
    for table in ("sessions", "pdus", "transactions"):
        out[table] = pq.read_table(tmp / "pq" / f"{table}.parquet").to_pylist()
    return out


def test_a_stream_without_its_handshake_reads_as_on_a_known_port(tmp_path: Path) -> None:
    """No SYN and the ISMG on the higher port: once its first PDU names the SP, every output
    says what the same frames say with ``-d 50000`` (where the port names the server), side
    by side: endpoints, counts, bytes, heartbeats, gaps, the cut PDU and who closed."""
    path = sp_and_ismg(handshake=False).write(tmp_path / "mid.pcap")
    guessed = outputs(path, tmp=tmp_path / "guessed")
    known = outputs(path, "-d", "50000", tmp=tmp_path / "known")
    assert [k for k in guessed if guessed[k] != known[k]] == []
    (session,) = guessed["report"]["sessions"]  # the quiet connection is no session
    sp, ismg = "192.0.2.10:40001", "198.51.100.7:50000"
    assert (session["client"], session["server"]) == (sp, ismg)
    assert session["lifecycle"]["closed_by"] == "server"
    assert session["heartbeats"]["from_server"]["max_unanswered_in_row"] == 3
    assert session["tcp"]["bytes_from_client"] > session["tcp"]["bytes_from_server"]
    messages = [e["message"] for e in guessed["report"]["expert"]]
    assert sum("not captured (client side)" in m for m in messages) == 1
    assert sum("not captured (server side)" in m for m in messages) == 1
    assert sum("at the end of the server stream" in m for m in messages) == 1
    rows = [line.split("\t") for line in guessed["fields"].splitlines()]
    assert {(r[1], r[2], r[3], r[4]) for r in rows if r[5] == "CMPP_SUBMIT"} == {
        (sp, ismg, "40001", "198.51.100.7")}
    assert {(r["src"], r["command"]) for r in guessed["pdus"]
            if r["command"].startswith("CMPP_DELIVER")} == {
        (ismg, "CMPP_DELIVER"), (sp, "CMPP_DELIVER_RESP")}
    assert re.search(rf"\n +0 {re.escape(sp)} +{re.escape(ismg)} ", guessed["z"]), guessed["z"]


@pytest.mark.parametrize("first", ["SUBMIT", "DELIVER"])
def test_a_stream_without_its_handshake_counts_as_with_it(tmp_path: Path, first: str) -> None:
    """The same traffic with and without its SYN, SYN-ACK, ACK: the same sides, to the byte."""
    def sides(tl: Timeline) -> Any:
        _, _, rep = run(tl)
        (s,) = rep["sessions"]
        return (s["client"], s["server"], s["pdus_from_client"], s["pdus_from_server"],
                s["tcp"]["bytes_from_client"], s["tcp"]["bytes_from_server"], s["heartbeats"],
                s["lifecycle"]["closed_by"], s["lifecycle"]["closed"],
                sorted(e.message.split(" (")[1] for e in run(tl)[1].expert
                       if "not captured" in e.message))
    mid = sides(sp_and_ismg(handshake=False, first=first))
    assert mid == sides(sp_and_ismg(handshake=True, first=first))
    assert mid[:2] == ("192.0.2.10:40001", "198.51.100.7:50000")


@pytest.mark.parametrize("how", ["syn", "decode-as"])
def test_what_the_handshake_or_a_port_says_is_not_turned_round(how: str) -> None:
    """The first PDU decides only where nothing else did: the SYN's sender is the client even
    when it DELIVERs first, and so is the side ``-d`` does not name."""
    tl = Timeline()
    conv = Conversation(client=("192.0.2.10", 40001), server=("198.51.100.7", 50000))
    if how == "syn":
        tl.at(0, conv.handshake())
        ports: tuple[int, ...] = (7890,)
    else:  # the user says 40001 is the server's port: the lower one, the guess's too
        conv = Conversation(client=("198.51.100.7", 50000), server=("192.0.2.10", 40001))
        ports = (7890, 40001)
    tl.at(1, conv.send(True, mo_pdu(V3, 3)))
    tl.at(2, conv.send(False, deliver_resp_pdu(V3, 3)))
    records, _, rep = run(tl, ports=ports)
    (session,) = rep["sessions"]
    assert session["client"] == "{}:{}".format(*conv.client)
    assert [(r.command, r.from_client) for r in records] == [
        ("CMPP_DELIVER", True), ("CMPP_DELIVER_RESP", False)]


def test_a_handshake_captured_after_its_last_ack_still_names_the_client() -> None:
    """Frames out of order: the handshake's ACK comes first (the lower port, the SP's, taken
    for the server's), then the SYN; the SYN-ACK is lost and the first PDU is an ACTIVE_TEST,
    which either side sends. The SYN says who the client is: one session, the SP's."""
    tl = Timeline()
    conv = Conversation(client=SP_END, server=ISMG_END)
    syn, _, ack = conv.handshake()
    tl.at(0, [ack, syn])
    tl.at(1, conv.send(True, bare_pdu(C.CMPP_ACTIVE_TEST, 1, V3)))
    tl.at(2, conv.send(False, bare_pdu(C.CMPP_ACTIVE_TEST_RESP, 1, V3, Reserved=0)))
    tl.at(3, conv.send(True, submit_pdu(V3, 2)))
    tl.at(4, conv.send(False, submit_resp_pdu(V3, 2, sample_msg_id(2))))
    records, an, rep = run(tl)
    (session,) = rep["sessions"]
    assert (session["client"], session["server"]) == ("192.0.2.10:40001", "198.51.100.7:50000")
    assert [(r.command, r.from_client) for r in records] == [
        ("CMPP_ACTIVE_TEST", True), ("CMPP_ACTIVE_TEST_RESP", False), ("CMPP_SUBMIT", True),
        ("CMPP_SUBMIT_RESP", False)]
    assert an.expert == []


def mid_stream_on(port: int) -> Timeline:
    """A capture that starts inside a SUBMIT on a port that is not CMPP's."""
    tl = Timeline()
    conv = Conversation(client=("192.0.2.10", 40001), server=("198.51.100.7", port))
    head = submit_pdu(V3, 5)
    conv.send(True, head[:60])  # before the capture started
    tl.at(0, conv.send(True, head[60:] + submit_pdu(V3, 6)))
    tl.at(1, conv.send(False, submit_resp_pdu(V3, 5, 5) + submit_resp_pdu(V3, 6, 6)))
    return tl


def test_decode_as_port_picks_up_a_stream_the_heuristic_cannot_see(tmp_path: Path) -> None:
    tl = mid_stream_on(15001)
    records, _, rep = run(tl)
    assert records == [] and rep["sessions"] == []  # starts mid-PDU: no heuristic match
    records, an, rep = run(tl, ports=(7890, 15001))
    assert [(r.command, r.pdu.Sequence_Id) for r in records] == [
        ("CMPP_SUBMIT", 6), ("CMPP_SUBMIT_RESP", 5), ("CMPP_SUBMIT_RESP", 6)]
    assert records[2].request_frame == 1
    assert {e.code for e in an.expert} == {"skipped-bytes", "orphan-response"}
    path = tl.write(tmp_path / "port.pcap")
    plain = json.loads(run_cli("--report", "json", str(path)).stdout)
    decoded = json.loads(run_cli("-d", "15001", "--report", "json", str(path)).stdout)
    assert (plain["pdus"], decoded["pdus"]) == (0, 3)
    assert decoded["sessions"][0]["server"] == "198.51.100.7:15001"


TLS_HELLO = bytes.fromhex("160301006a0100006603030000000000000000000000000000000000000000000000"
                          "000000000000000000000000000000000000000000000000000000000000000000"
                          "000000000000000000000000000000000000000000000000000000000000000000"
                          "0000000000000000000000000000000000000000000000000000")


def test_other_traffic_on_the_cmpp_port_is_reported_not_decoded() -> None:
    tl = Timeline()
    http(Conversation(client=("192.0.2.10", 40001)), tl, 0)
    tls = Conversation(client=("192.0.2.10", 40002))
    tl.at(10, tls.handshake())
    tl.at(11, tls.send(True, TLS_HELLO))
    noise = Conversation(client=("192.0.2.10", 40003))
    tl.at(20, noise.handshake())
    rng = random.Random(7890)
    for k in range(8):
        tl.at(21 + k, noise.send(k % 2 == 0, bytes(rng.getrandbits(8) for _ in range(700))))
    records, an, rep = run(tl)
    assert records == []
    assert rep["pdus"] == 0
    skipped = [e for e in an.expert if e.code in ("skipped-bytes", "incomplete-pdu")]
    assert {e.session for e in skipped} == {0, 1, 2}
    assert all(e.severity == 2 and "no CMPP header here" in e.message for e in skipped)
    # every byte the three streams carried is accounted for as skipped
    total = sum(int(e.message.split()[0]) for e in skipped)
    assert total == len(HTTP_REQUEST) + len(HTTP_RESPONSE) + len(TLS_HELLO) + 8 * 700


def smpp(command_id: int, seq: int, body: bytes = b"") -> bytes:
    return struct.pack(">IIII", 16 + len(body), command_id, 0, seq) + body


def test_smpp_on_the_cmpp_port_is_not_decoded_as_cmpp() -> None:
    """SMS gateways speak SMPP too; none of its PDUs may come out as CMPP PDUs."""
    tl, conv = Timeline(), Conversation()
    tl.at(0, conv.handshake())
    bind = b"smppclient1\0password\0\0" + bytes([0x34, 0, 0]) + b"\0"
    tl.at(1, conv.send(True, smpp(0x00000002, 1, bind)))  # bind_transmitter
    tl.at(2, conv.send(False, smpp(0x80000002, 1, b"SMSC\0")))
    submit_sm = (b"\0\1\1" + b"10657\0" + b"\1\1" + b"8613800138000\0" + b"\0\0\0\0\0\1\0\0\0"
                 + bytes([11]) + b"hello world")
    for i, message_id in enumerate((b"1a2b", b"00ff12a", b"5e8f0c9a1")):
        tl.at(3 + i, conv.send(True, smpp(0x00000004, 2 + i, submit_sm)))
        tl.at(3.5 + i, conv.send(False, smpp(0x80000004, 2 + i, message_id + b"\0")))
    tl.at(9, conv.send(True, smpp(0x00000015, 9)))  # enquire_link
    tl.at(9.5, conv.send(False, smpp(0x80000015, 9)))
    tl.at(10, conv.close())
    records, an, _ = run(tl)
    assert any(e.code == "skipped-bytes" for e in an.expert)
    assert [r.command for r in records] == []


# -- the version: CONNECT, lengths, --cmpp-version ----------------------------------------------


def ambiguous_submit() -> bytes:
    """A 2.0 SUBMIT (one 11-digit recipient, 4-byte text) that is also a valid 3.0 SUBMIT.

    Read with the 3.0 layout, DestUsr_tl and Msg_Length land on the NULs after the number:
    no recipients, no text, and 151 body bytes either way.
    """
    pdu = bare_pdu(C.CMPP_SUBMIT, 2, V2, Dest_terminal_Id=[b"13800138000"], Msg_Content=b"test",
                   Src_Id="1065712345", Service_Id="MVERIFY")
    assert len(pdu) == 163
    return pdu


def test_version_from_connect_from_lengths_and_from_the_user(tmp_path: Path) -> None:
    tl = Timeline()
    by_connect = Conversation(client=("192.0.2.10", 40001))
    login(tl, by_connect, V3)
    huawei = Conversation(client=("192.0.2.10", 40002))  # Version byte 0x01: says nothing
    tl.at(5, huawei.handshake())
    tl.at(6, huawei.send(True, connect_pdu(V2, version_byte=0x01)))
    tl.at(7, huawei.send(False, connect_resp_pdu(V2)))  # 30 bytes: 2.0
    no_connect = Conversation(client=("192.0.2.10", 40003))
    tl.at(10, no_connect.handshake())
    tl.at(11, no_connect.send(True, bare_pdu(C.CMPP_ACTIVE_TEST, 1, V3)))
    f_amb = tl.at(12, no_connect.send(True, ambiguous_submit()))
    tl.at(13, no_connect.send(False, submit_resp_pdu(V2, 2, 2)))
    records, _, rep = run(tl)
    assert [(s["version"], s["version_source"]) for s in rep["sessions"]] == [
        ("3.0", "CONNECT"), ("2.0", "lengths"), ("2.0", "lengths")]
    huawei_connect = next(r for r in records if r.session == 1)
    assert "version-byte" in [f.code for f in huawei_connect.pdu.findings]
    amb = one(records, f_amb)
    assert amb.pdu.version is V2 and amb.pdu.fields["DestUsr_tl"] == 1
    assert "version-ambiguous" in [f.code for f in amb.pdu.findings]
    # the user knows better where no CONNECT says so: the same bytes read as 3.0
    records, _, rep = run(tl, version=V3)
    assert [(s["version"], s["version_source"]) for s in rep["sessions"]] == [
        ("3.0", "CONNECT"), ("3.0", "user"), ("3.0", "user")]
    amb = one(records, f_amb)
    assert amb.pdu.version is V3 and amb.pdu.fields["DestUsr_tl"] == 0
    path = tl.write(tmp_path / "versions.pcap")
    res = run_cli("--cmpp-version", "2.0", "--report", "json", str(path))
    assert res.returncode == 0, res.stderr
    # ... but a CONNECT's Version byte outranks the option
    assert [(s["version"], s["version_source"]) for s in json.loads(res.stdout)["sessions"]] == [
        ("3.0", "CONNECT"), ("2.0", "user"), ("2.0", "user")]
    line = next(json.loads(x) for x in run_cli("-T", "jsonl", "--cmpp-version", "2.0",
                                               str(path)).stdout.splitlines()
                if json.loads(x)["frame"] == f_amb)
    assert line["version"] == "2.0" and line["fields"]["Dest_terminal_Id"] == ["13800138000"]
    assert [f["code"] for f in line["expert"]] == []


def test_a_gap_before_the_first_pdu_is_resynchronised_not_taken_for_other_traffic() -> None:
    """The SYN was seen but the segment with the first half of the CONNECT was not: the
    rest of that CONNECT is skipped and the stream picks up at the SUBMIT, instead of the
    whole connection being written off as not CMPP."""
    tl, conv = Timeline(), Conversation()
    tl.at(0, conv.handshake())
    connect = connect_pdu(V3)
    lost, kept = conv.send(True, connect + submit_pdu(V3, 2), sizes=[20])
    del lost  # never captured
    f_submit = tl.at(2, [kept])
    tl.at(3, conv.send(False, submit_resp_pdu(V3, 2, sample_msg_id(1))))
    records, an, rep = run(tl)
    # The tracker declares the gap when the server's ACK shows the lost bytes were sent, so
    # the SUBMIT is released with that frame.
    assert [(r.frame, r.command) for r in records] == [
        (f_submit + 1, "CMPP_SUBMIT"), (f_submit + 1, "CMPP_SUBMIT_RESP")]
    assert rep["sessions"][0]["cmpp"] is True
    codes = [e.code for e in an.expert]
    assert "capture-gap" in codes and "skipped-bytes" in codes
    skipped = next(e for e in an.expert if e.code == "skipped-bytes")
    assert "not CMPP" not in skipped.message and skipped.size == len(connect) - 20
