"""``cmppdissect diff A B`` (issue 16, part 6): two captures side by side, for the whole of
each and per SP; each side's figures are that capture's own report."""

from __future__ import annotations

import json
from pathlib import Path

from pcaputil import run_cli

import cmppdissect

ROOT = Path(__file__).resolve().parents[1]
BASIC = str(ROOT / "samples" / "cmpp-basic.pcap")
MISBEHAVING = str(ROOT / "samples" / "misbehaving-gateway.pcap")


def by_metric(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(r["metric"]): r for r in rows}


def test_each_side_is_its_own_report_and_the_change_is_b_minus_a() -> None:
    result = cmppdissect.compare(BASIC, MISBEHAVING)
    rows = by_metric(result["all"])
    a = cmppdissect.analyze(BASIC).report()
    b = cmppdissect.analyze(MISBEHAVING).report()
    assert rows["PDUs"]["a"] == a["pdus"] and rows["PDUs"]["b"] == b["pdus"]
    p99 = rows["SUBMIT latency p99 ms"]
    assert p99["a"] == a["commands"]["CMPP_SUBMIT"]["latency_ms"]["p99"]
    assert p99["b"] == b["commands"]["CMPP_SUBMIT"]["latency_ms"]["p99"]
    assert p99["change"] == p99["b"] - p99["a"]  # type: ignore[operator]
    def count(report: dict[str, object], code: int) -> int | None:
        found = [r["count"] for r in report["results"]  # type: ignore[attr-defined]
                 if r["command"] == "CMPP_SUBMIT_RESP" and r["code"] == code]
        return found[0] if found else None

    flow = rows["SUBMIT_RESP Result 8 (flow control error)"]
    assert (flow["a"], flow["b"]) == (count(a, 8), count(b, 8)) == (2, 4)
    assert flow["change"] == 2 and flow["relative"] == 1.0
    service = rows["SUBMIT_RESP Result 7 (service code error)"]
    assert service["a"] is None and service["b"] == count(b, 7) and service["change"] is None
    # per SP: the SPs of either side, each counted over its own sessions only
    assert set(result["sp"]) >= {"901234", "905678"}
    one = by_metric(result["sp"]["905678"])
    assert one["PDUs"]["a"] == next(s["pdus"] for s in a["sessions"] if s["sp_id"] == "905678")


def test_a_capture_against_itself_changes_nothing() -> None:
    result = cmppdissect.compare(BASIC, BASIC)
    assert all(r["change"] in (0, 0.0, None) for r in result["all"])
    assert all(r["a"] == r["b"] for rows in result["sp"].values() for r in rows)


def test_the_command_line_prints_text_or_json() -> None:
    res = run_cli("diff", BASIC, MISBEHAVING)
    assert res.returncode == 0, res.stderr
    line = next(x for x in res.stdout.splitlines() if "SUBMIT latency p99 ms" in x)
    assert line.split()[-4:] == ["7.00", "568.24", "+561.24", "+8018%"]
    assert "\nSP 905678\n" in res.stdout
    doc = json.loads(run_cli("diff", "--report", "json", BASIC, MISBEHAVING).stdout)
    assert by_metric(doc["all"])["PDUs"]["b"] == 46
    bad = run_cli("diff", BASIC, str(ROOT / "samples" / "nope.pcap"))
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "nope.pcap" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert run_cli("diff", BASIC).returncode == 2
