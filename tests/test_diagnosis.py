"""Is it really a timeout, why was I throttled, how did the link live (issue 16, parts 3-5).

Each test builds a capture whose every request, answer and close is known, with explicit
times, and checks the report's ``timeouts``, ``flow_control`` and ``links`` sections, each
session's ``flow`` and ``lifecycle``, and the findings, in both CMPP versions. The tables that
remember requests and time slots are proven bounded at two sizes.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from pcaputil import (
    Conversation,
    bare_pdu,
    submit_pdu,
    submit_resp_pdu,
)
from test_reconcile import Builder

import cmppdissect
from cmppdissect.core._engine import FLOW_SLOTS, STORM_CONNECTS
from cmppdissect.output.text import write_summary
from cmppdissect.protocol.commands import CommandId
from cmppdissect.protocol.version import Version

V2, V3 = Version.V2_0, Version.V3_0
VERSIONS = pytest.mark.parametrize("v", [V2, V3], ids=["2.0", "3.0"])
SP = "901234"


def conv(port: int) -> Conversation:
    return Conversation(client=("192.0.2.10", port))


def analyse(b: Builder, tmp_path: Path, **kw: Any) -> tuple[dict[str, Any], Any]:
    an = cmppdissect.analyze(b.write(tmp_path / "c.pcap"), **kw)
    return an.report(), an


def expert(rep: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [e for e in rep["expert"] if e["code"] == code]


def listed(rep: dict[str, Any], outcome: str) -> list[dict[str, Any]]:
    return [e for e in rep["timeouts"]["listed"] if e["outcome"] == outcome]


def req(b: Builder, t: float, c: Conversation, v: Version, seq: int) -> int:
    return b.add(t, c.send(True, submit_pdu(v, seq)))


def resp(b: Builder, t: float, c: Conversation, v: Version, seq: int, result: int = 0,
         mid: int = 1) -> int:
    return b.add(t, c.send(False, submit_resp_pdu(v, seq, mid, result)))


# -- part 4: is it really a timeout ----------------------------------------------------------


@VERSIONS
def test_each_outcome_of_a_request_called_unanswered(v: Version, tmp_path: Path) -> None:
    b = Builder()
    a, other = conv(40001), conv(40002)
    b.login(0, a, v, SP)
    late = req(b, 1.0, a, v, 10)
    late_answer = resp(b, 3.5, a, v, 10)            # 2.5 s later; timeout 2 s
    wrong = req(b, 4.0, a, v, 11)
    wrong_answer = resp(b, 4.1, a, v, 99)           # Sequence_Id 99: nothing asked it
    never = req(b, 5.0, a, v, 12)
    moved = req(b, 6.0, a, v, 13)
    b.add(6.5, a.close())                           # the SP hangs up, 13 in flight
    b.login(7.0, other, v, SP)
    moved_answer = resp(b, 7.5, other, v, 13)       # answered on the new connection
    b.add(20.0, other.send(True, bare_pdu(CommandId.CMPP_ACTIVE_TEST, 50, v)))
    b.add(20.01, other.send(False, bare_pdu(CommandId.CMPP_ACTIVE_TEST_RESP, 50, v)))
    rep, _ = analyse(b, tmp_path, timeout_s=2.0)
    t = rep["timeouts"]
    assert t["outcomes"] == {"never": 1, "late": 1, "other-connection": 1,
                             "wrong-sequence": 1, "resent-answered": 0, "duplicate": 0,
                             "answered-twice": 0, "resent": 0}
    assert t["requests"] == 4 and t["per_sp"] == {SP: t["outcomes"]}
    (e,) = listed(rep, "late")
    assert (e["frame"], e["answer_frame"], e["command"], e["sequence_id"]) == (
        late, late_answer, "CMPP_SUBMIT", 10)
    assert e["answer_after_ms"] == pytest.approx(2500.0) and e["result"] == 0
    (e,) = listed(rep, "wrong-sequence")
    assert (e["frame"], e["answer_frame"]) == (wrong, wrong_answer)
    assert e["answer_after_ms"] == pytest.approx(100.0)
    (e,) = listed(rep, "never")
    assert e["frame"] == never and e["answer_frame"] is None
    (e,) = listed(rep, "other-connection")
    assert (e["frame"], e["answer_frame"], e["session"], e["answer_session"]) == (
        moved, moved_answer, 0, 1)
    # The answers are named on their frames (counted as orphans all the same).
    (f,) = expert(rep, "late-response")
    assert f["frame"] == late_answer and f"frame {late}" in f["message"]
    assert "2.500 s after" in f["message"] and "2.000 s" in f["message"]
    (f,) = expert(rep, "answer-other-connection")
    assert f["frame"] == moved_answer and f"frame {moved} of session 0" in f["message"]
    assert [x["frame"] for x in expert(rep, "orphan-response")] == [wrong_answer]
    assert rep["commands"]["CMPP_SUBMIT"]["orphan_responses"] == 3
    out = io.StringIO()
    write_summary(rep, out)
    text = out.getvalue()
    assert ("Unanswered or resent requests (timeout 2 s): 4 (never 1, late 1, "
            "other-connection 1, wrong-sequence 1)") in text
    assert f"frame {late:>7} CMPP_SUBMIT        seq 10         late: answer in frame " \
           f"{late_answer} after 2500.0 ms" in text


@VERSIONS
@pytest.mark.parametrize("results", [(0, 0), (0, 8)], ids=["both-accepted", "one-refused"])
@pytest.mark.parametrize("after_timeout", [False, True], ids=["in-flight", "after-timeout"])
def test_a_resend_answered_twice(v: Version, results: tuple[int, int], after_timeout: bool,
                                 tmp_path: Path) -> None:
    """A resend answered twice with Result 0 is a likely duplicate message to the handset,
    whether it was resent while in flight or after the timeout called it unanswered."""
    b = Builder()
    a = conv(40001)
    b.login(0, a, v, SP)
    first = req(b, 1.0, a, v, 5)
    resend_at = 1.0 + (3.0 if after_timeout else 0.5)
    req(b, resend_at, a, v, 5)
    one = resp(b, resend_at + 0.1, a, v, 5, results[0])
    two = resp(b, resend_at + 0.2, a, v, 5, results[1])
    rep, _ = analyse(b, tmp_path, timeout_s=2.0)
    outcome = "duplicate" if results == (0, 0) else "answered-twice"
    assert rep["timeouts"]["requests"] == 1
    (e,) = listed(rep, outcome)
    assert (e["frame"], e["sends"], e["first_answer_frame"], e["answer_frame"]) == (
        first, 2, one, two)
    assert (e["result"], e["second_result"]) == results
    code = "duplicate-accepted" if results == (0, 0) else "answered-twice"
    (f,) = expert(rep, code)
    assert f["frame"] == two and f"request in frame {first}" in f["message"]
    if results == (0, 0):
        assert "likely a duplicate message to the handset" in f["message"]
        assert f["severity"] == "warn"
    else:
        assert f["severity"] == "note" and "Result 8" in f["message"]
    # Whether the timeout called it unanswered first shows in the SUBMIT's counters.
    assert rep["commands"]["CMPP_SUBMIT"]["unanswered"] == (1 if after_timeout else 0)
    assert rep["commands"]["CMPP_SUBMIT"]["retransmitted"] == (0 if after_timeout else 1)


@VERSIONS
def test_a_resend_answered_once_is_not_lost(v: Version, tmp_path: Path) -> None:
    b = Builder()
    a = conv(40001)
    b.login(0, a, v, SP)
    first = req(b, 1.0, a, v, 5)
    req(b, 4.0, a, v, 5)                 # after the 2 s timeout
    answer = resp(b, 4.1, a, v, 5)
    rep, _ = analyse(b, tmp_path, timeout_s=2.0)
    assert rep["timeouts"]["outcomes"]["resent-answered"] == 1
    assert rep["timeouts"]["outcomes"]["never"] == 0
    (e,) = listed(rep, "resent-answered")
    assert (e["frame"], e["answer_frame"], e["sends"]) == (first, answer, 2)
    assert e["answer_after_ms"] == pytest.approx(3100.0)
    assert not expert(rep, "late-response")


def test_requests_remembered_are_bounded_and_counted(tmp_path: Path) -> None:
    """Past ``max_lost`` the oldest are forgotten, counted as they were, with a cap finding;
    the table holds ``max_lost`` entries whatever the number of requests."""
    sizes = {}
    for n in (200, 800):
        b = Builder()
        a = conv(40001)
        b.login(0, a, V3, SP)
        for i in range(n):
            req(b, 1.0 + i * 0.001, a, V3, 1000 + i)
        b.add(10.0, a.send(True, bare_pdu(CommandId.CMPP_ACTIVE_TEST, 1, V3)))
        b.add(10.01, a.send(False, bare_pdu(CommandId.CMPP_ACTIVE_TEST_RESP, 1, V3)))
        rep, an = analyse(b, tmp_path, timeout_s=2.0, max_lost=50)
        t = rep["timeouts"]
        assert t["requests"] == t["outcomes"]["never"] == n
        assert t["forgotten"] == n - 50
        assert len(t["listed"]) == 50
        assert [e["code"] for e in rep["expert"]].count("cap-lost-requests") == 1
        sizes[n] = an.engine.core.table_sizes()
    assert sizes[200]["lost"] == sizes[800]["lost"] == 50
    assert sizes[200]["lost_index"] == sizes[800]["lost_index"] <= 100


# -- part 3: flow control and the window ------------------------------------------------------


@VERSIONS
def test_window_gateway_and_sender_verdicts(v: Version, tmp_path: Path) -> None:
    """Seconds 0-1: 16 in flight, each answered in 100 ms (bound by the window: 16/0.1 s =
    160/s); second 3: the gateway refuses with Result 8; second 5: one SUBMIT (the sender)."""
    b = Builder()
    a = conv(40001)
    b.login(0, a, v, SP)
    seq = 100
    t0 = 10.0
    for k in range(2):              # two seconds, window full
        for i in range(16):
            req(b, t0 + k + i * 0.01, a, v, seq + i)
        for i in range(16):
            resp(b, t0 + k + 0.1 + i * 0.01, a, v, seq + i)
        seq += 16
    refused_req = []
    for i in range(4):              # second 3: refusals
        refused_req.append(req(b, t0 + 3 + i * 0.1, a, v, seq))
        resp(b, t0 + 3 + i * 0.1 + 0.001, a, v, seq, result=8)
        seq += 1
    req(b, t0 + 5.2, a, v, seq)
    resp(b, t0 + 5.201, a, v, seq)
    rep, _ = analyse(b, tmp_path)
    flow = rep["sessions"][0]["flow"]["from_client"]
    assert flow["max_in_flight"] == 16 and flow["sends_over_window"] == 0
    assert flow["max_sends_per_s"] == 16
    assert flow["refusals"]["runs"] == 1
    (onset,) = flow["refusals"]["first"]
    assert (onset["request_frame"], onset["result"], onset["name"]) == (
        refused_req[0], 8, "flow control error")
    assert onset["in_flight"] == 1
    verdicts = [p["verdict"] for p in flow["listed"]]
    # the login's second first; the window's latency is 100 times the usual: rising
    assert verdicts == ["sender", "window", "gateway", "sender"], flow["listed"]
    window = flow["listed"][1]
    assert window["latency_rising"] and not flow["listed"][3]["latency_rising"]
    assert window["sends"] == 32 and window["max_in_flight"] == 16
    assert window["latency_ms"] == pytest.approx(100.0, rel=1e-6)
    assert window["window_allows_per_s"] == pytest.approx(160.0, rel=1e-6)
    assert window["sends_per_s"] == pytest.approx(16.0)
    assert flow["listed"][2]["refused"] == 4
    assert flow["verdict_seconds"] == {"gateway": 1.0, "sender": 2.0, "window": 2.0}
    summary = rep["flow_control"]["sessions"]
    assert [(r["session"], r["side"], r["refusal_runs"]) for r in summary] == [
        (0, "from_client", 1)]


@VERSIONS
def test_sends_past_the_window_are_counted(v: Version, tmp_path: Path) -> None:
    b = Builder()
    a = conv(40001)
    b.login(0, a, v, SP)
    for i in range(20):
        req(b, 1.0 + i * 0.001, a, v, 10 + i)
    for i in range(20):
        resp(b, 1.5 + i * 0.001, a, v, 10 + i)
    rep, _ = analyse(b, tmp_path)
    flow = rep["sessions"][0]["flow"]["from_client"]
    assert flow["max_in_flight"] == 20 and flow["sends_over_window"] == 4
    assert [e["code"] for e in rep["expert"]].count("window") == 1


@pytest.mark.parametrize("seconds", [FLOW_SLOTS * 2, FLOW_SLOTS * 8])
def test_flow_slots_stay_bounded(seconds: int, tmp_path: Path) -> None:
    """A session longer than FLOW_SLOTS seconds keeps at most FLOW_SLOTS slots, wider; the
    sends in them add up to every send."""
    b = Builder()
    a = conv(40001)
    b.login(0, a, V3, SP)
    for i in range(seconds):
        req(b, 1.0 + i, a, V3, 10 + i)
        resp(b, 1.0 + i + 0.001, a, V3, 10 + i)
    an = cmppdissect.analyze(b.write(tmp_path / "c.pcap"))
    an.run()
    assert an.engine is not None
    flow = an.engine.core.session(0)["flow"][0]
    assert len(flow["slots"]) <= FLOW_SLOTS
    assert flow["width_ns"] >= seconds // FLOW_SLOTS * 10**9
    assert sum(s[1] for s in flow["slots"]) == seconds + 1  # and the CONNECT
    assert sum(s[3] for s in flow["slots"]) == seconds + 1
    rep = an.report()
    assert rep["sessions"][0]["flow"]["from_client"]["verdict_seconds"]["sender"] >= seconds - 1


# -- part 5: the link's lifecycle -------------------------------------------------------------


@VERSIONS
def test_idle_gaps_terminate_and_who_closed(v: Version, tmp_path: Path) -> None:
    b = Builder()
    a, c = conv(40001), conv(40002)
    b.login(0, a, v, SP)
    req(b, 1.0, a, v, 2)
    resp(b, 1.01, a, v, 2)
    after_gap = req(b, 301.0, a, v, 3)        # 300 s without a PDU: past C + T = 240 s
    resp(b, 301.01, a, v, 3)
    term = b.add(302.0, a.send(False, bare_pdu(CommandId.CMPP_TERMINATE, 9, v)))
    b.add(302.01, a.send(True, bare_pdu(CommandId.CMPP_TERMINATE_RESP, 9, v)))
    b.add(302.02, [a.fin(False), a.fin(True), a.ack(False)])
    b.login(400.0, c, v, SP)
    b.add(401.0, [c.rst(True)])
    rep, _ = analyse(b, tmp_path)
    one, two = rep["sessions"]
    assert one["lifecycle"] == {
        "auth_source": None, "auth_ismg": None, "idle_gaps": 1, "max_idle_s": pytest.approx(299.99),
        "max_idle_frame": after_gap, "terminated_by": "server", "terminate_frame": term,
        "closed": "fin", "closed_by": "server"}
    assert (two["lifecycle"]["closed"], two["lifecycle"]["closed_by"]) == ("rst", "client")
    assert two["lifecycle"]["terminated_by"] is None
    (f,) = expert(rep, "idle-gap")
    assert f["frame"] == after_gap and "299.990 s" in f["message"]
    links = rep["links"]["per_sp"][SP]
    assert (links["sessions"], links["connects"], links["idle_gaps"]) == (2, 2, 1)
    assert links["logins"] == {"ok": 2}
    assert links["closed"] == {"TERMINATE by server, fin by server": 1, "rst by client": 1}


@pytest.mark.parametrize("connects", [STORM_CONNECTS - 1, STORM_CONNECTS, 3 * STORM_CONNECTS])
def test_reconnect_storm(connects: int, tmp_path: Path) -> None:
    """STORM_CONNECTS CONNECTs of one SP within a minute are a storm (one finding per storm,
    not per CONNECT); fewer are not."""
    b = Builder()
    for i in range(connects):
        c = conv(41000 + i)
        b.login(1.0 + i * 2.0, c, V3, SP)
        b.add(1.5 + i * 2.0, [c.rst(False)])
    rep, _ = analyse(b, tmp_path)
    links = rep["links"]["per_sp"][SP]
    assert links["connects"] == connects
    assert links["max_connects_per_minute"] == min(connects, 16)
    storms = expert(rep, "reconnect-storm")
    assert links["storms"] == len(storms) == (1 if connects >= STORM_CONNECTS else 0)
    if storms:
        assert f"{STORM_CONNECTS} CONNECTs from SP '{SP}' within a minute" in storms[0]["message"]
    assert links["closed"] == {"rst by server": connects}


# -- the API ---------------------------------------------------------------------------------


def test_the_api_gives_the_report_sections() -> None:
    path = Path(__file__).resolve().parents[1] / "samples" / "misbehaving-gateway.pcap"
    rep = cmppdissect.analyze(path).report()
    an = cmppdissect.analyze(path)
    assert an.timeouts() == rep["timeouts"]
    flow = an.flow_control()
    assert flow["sessions"] == rep["flow_control"]["sessions"] and flow["window"] == 16
    assert flow["per_session"] == {s["id"]: s["flow"] for s in rep["sessions"]}
    links = an.links()
    assert links["per_sp"] == rep["links"]["per_sp"]
    assert links["per_session"] == {s["id"]: s["lifecycle"] for s in rep["sessions"]}
    assert rep["timeouts"]["outcomes"]["resent-answered"] == 1


@VERSIONS
def test_the_authenticator_form_that_matched(v: Version, tmp_path: Path) -> None:
    """With ``--secret``, each session's lifecycle names the AuthenticatorSource form that
    matched (none without the secret, or with a wrong one)."""
    from pcaputil import SECRET

    b = Builder()
    b.login(0, conv(40001), v, SP)
    path = b.write(tmp_path / "c.pcap")
    right = cmppdissect.analyze(path, secrets={SP: SECRET}).report()
    wrong = cmppdissect.analyze(path, secrets={SP: "other"}).report()
    none = cmppdissect.analyze(path).report()
    life = right["sessions"][0]["lifecycle"]
    status = "status-1-byte" if v is V2 else "status-4-byte"  # the Status field's size
    assert (life["auth_source"], life["auth_ismg"]) == ("unpadded", status)
    for rep in (wrong, none):
        life = rep["sessions"][0]["lifecycle"]
        assert (life["auth_source"], life["auth_ismg"]) == (None, None)
    assert [e["code"] for e in wrong["expert"]].count("auth-source") == 1


def test_an_idle_gap_shorter_than_an_earlier_one_still_counts(tmp_path: Path) -> None:
    """Gaps of 500 s then 300 s: both are past C + T (240 s), though the second is not the
    longest yet (the lifecycle's fast path must not skip it)."""
    b = Builder()
    a = conv(40001)
    b.login(0, a, V3, SP)
    frames = []
    for t, seq in ((1.0, 2), (501.0, 3), (801.0, 4)):
        frames.append(req(b, t, a, V3, seq))
        resp(b, t + 0.01, a, V3, seq)
    rep, _ = analyse(b, tmp_path)
    life = rep["sessions"][0]["lifecycle"]
    assert life["idle_gaps"] == 2 and life["max_idle_frame"] == frames[1]
    assert [f["frame"] for f in expert(rep, "idle-gap")] == frames[1:]
