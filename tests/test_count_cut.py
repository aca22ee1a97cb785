"""``-c N`` stops reading after N PDUs (issue 15): a request whose response lies in the part
not read is in flight, not unanswered, in the records, the statistics and the summary; a
capture that really ends still calls its open requests unanswered."""

from __future__ import annotations

import json
from pathlib import Path

from pcaputil import run_cli

ROOT = Path(__file__).resolve().parents[1]
BASIC = str(ROOT / "samples" / "cmpp-basic.pcap")
UNANSWERED = str(ROOT / "samples" / "unanswered.pcap")


def records(*args: str) -> list[dict[str, object]]:
    res = run_cli("-T", "jsonl", *args)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def codes(rec: dict[str, object]) -> list[str]:
    expert = rec["expert"]
    assert isinstance(expert, list)
    return [e["code"] for e in expert]


def test_the_request_cut_off_by_c_is_not_unanswered() -> None:
    recs = records("-c", "3", BASIC)
    assert [r["command"] for r in recs] == ["CMPP_CONNECT", "CMPP_CONNECT_RESP", "CMPP_SUBMIT"]
    submit = recs[2]
    assert "response_frame" not in submit and "unanswered" not in codes(submit)
    # read on, the same SUBMIT was answered
    whole = {r["frame"]: r for r in records(BASIC)}
    assert whole[submit["frame"]]["response_frame"] == submit["frame"] + 1  # type: ignore


def test_the_statistics_of_a_cut_say_in_flight_not_unanswered() -> None:
    res = run_cli("--report", "json", "-c", "3", BASIC)
    report = json.loads(res.stdout)
    assert report["pdus"] == 3
    assert report["commands"]["CMPP_SUBMIT"]["unanswered"] == 0
    assert report["stopped_early"] == {"pdus": 3, "requests_in_flight": 1}
    assert all(c["code"] != "unanswered" for c in report["expert_counts"])
    text = run_cli("-c", "3", BASIC).stdout
    assert "Reading stopped after 3 PDUs (-c): 1 requests were still in flight" in text
    full = json.loads(run_cli("--report", "json", BASIC).stdout)
    assert "stopped_early" not in full  # read to the end: nothing was cut


def test_with_a_filter_c_counts_shown_pdus_and_leaves_the_rest_in_flight() -> None:
    recs = records("-Y", "command == CONNECT or command == SUBMIT", "-c", "2", BASIC)
    assert [r["command"] for r in recs] == ["CMPP_CONNECT", "CMPP_SUBMIT"]
    assert all("unanswered" not in codes(r) for r in recs)


def test_a_capture_that_ends_still_calls_open_requests_unanswered() -> None:
    recs = records(UNANSWERED)
    # one SUBMIT never answered, sent twice with the same Sequence_Id: both sends say so
    flagged = [r for r in recs if "unanswered" in codes(r)]
    assert [r["command"] for r in flagged] == ["CMPP_SUBMIT", "CMPP_SUBMIT"]
    report = json.loads(run_cli("--report", "json", UNANSWERED).stdout)
    assert report["commands"]["CMPP_SUBMIT"]["unanswered"] == 1
    assert "stopped_early" not in report
