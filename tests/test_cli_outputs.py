"""Outputs that tools can read and tshark habits (issue 15): one format per stream, ``-q``,
``-T text`` that shows what one filters on, ``-t``, ``-T fields -e -E``, ``-G fields``, ``-z``,
a report over ``-Y``, ``--report-file``, and CSV cells a spreadsheet cannot run.

Every JSON output goes through jq as a user's pipe would; ``-T fields`` is compared with
tshark's on the CMPP 3.0 sample."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pcaputil import on_a_terminal, run_cli, write_pcap
from test_tui import V2, conversation, submit, submit_resp

from cmppdissect.api import analyze
from cmppdissect.output.scoped import rows_report

ROOT = Path(__file__).resolve().parents[1]
BASIC = str(ROOT / "samples" / "cmpp-basic.pcap")
V30 = str(ROOT / "samples" / "cmpp30-sp-session.pcap")
MISBEHAVING = str(ROOT / "samples" / "misbehaving-gateway.pcap")
UNANSWERED = str(ROOT / "samples" / "unanswered.pcap")
JQ = shutil.which("jq")
TSHARK = shutil.which("tshark")


def ok(*args: str) -> str:
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    return str(res.stdout)


def usage_error(*args: str) -> str:
    res = run_cli(*args)
    assert res.returncode == 2 and res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cmppdissect: "), res.stderr
    assert "Traceback" not in res.stderr
    return str(lines[0])


def jq(program: str, text: str, *, slurp: bool = False) -> Any:
    """``jq`` over an output, as a user pipes it (json.loads where jq is missing)."""
    if JQ is None:
        data = ([json.loads(line) for line in text.splitlines()] if slurp
                else json.loads(text))
        assert program in (".", ".pdus", "length")
        return data if program == "." else data["pdus"] if program == ".pdus" else len(data)
    res = subprocess.run([JQ, "-c", *(["-s"] if slurp else []), program], input=text,
                         capture_output=True, text=True, check=True, timeout=60)
    return json.loads(res.stdout)


def jsonl(*args: str) -> list[dict[str, Any]]:
    out = ok("-T", "jsonl", *args)
    records: list[dict[str, Any]] = jq(".", out, slurp=True)
    return records


# -- one format per stream -----------------------------------------------------------------------


def test_report_with_a_filter_is_one_json_document_over_the_matching_pdus() -> None:
    expr = "command == SUBMIT_RESP and Result != 0"
    out = ok("--report", "json", "-Y", expr, MISBEHAVING)
    assert jq(".pdus", out) == len(jsonl("-Y", expr, MISBEHAVING)) == 6
    report = jq(".", out)
    assert report["display_filter"] == expr
    assert {r["code"] for r in report["results"]} == {7, 8}
    assert sum(r["count"] for r in report["results"]) == 6
    assert sum(s["pdus"] for s in report["sessions"]) == 6
    whole = jq(".", ok("--report", "json", MISBEHAVING))
    assert whole["pdus"] > 6 and "display_filter" not in whole


def test_records_and_a_report_on_stdout_is_a_usage_error_or_goes_to_a_file(
        tmp_path: Path) -> None:
    line = usage_error("-T", "jsonl", "--report", "json", BASIC)
    assert "--report-file" in line
    usage_error("-z", "srt", "--report", "json", BASIC)
    target = tmp_path / "report.json"
    out = ok("-T", "jsonl", "-Y", "command == SUBMIT", "--report-file", str(target), BASIC)
    records = jq(".", out, slurp=True)
    assert len(records) == 26 and all(r["command"] == "CMPP_SUBMIT" for r in records)
    report = jq(".", target.read_text())
    assert report["pdus"] == 26 and report["display_filter"] == "command == SUBMIT"
    line = usage_error("-T", "jsonl", "--report-file", str(tmp_path / "no" / "r.json"), BASIC)
    assert "--report-file" in line and "No such file or directory" in line


def test_q_leaves_the_records_out() -> None:
    out = ok("-q", "-T", "jsonl", "-Y", "command == SUBMIT", BASIC)
    assert "{" not in out and out.startswith("CMPP PDUs: 26")
    assert "Display filter: command == SUBMIT" in out
    assert jq(".pdus", ok("-q", "-T", "jsonl", "--report", "json", BASIC)) == 102


@pytest.mark.parametrize(("args", "printed"), [
    (["-q"], "CMPP PDUs: 102"),
    (["-z", "srt"], "Service Response Time"),
    (["-q", "-z", "srt"], "Service Response Time"),
    (["-q", "-z", "results"], "CMPP_SUBMIT_RESP"),
])
def test_q_and_z_print_on_a_terminal_too(args: list[str], printed: str) -> None:
    """``-q`` and ``-z`` print, as tshark's, also when stdout is a terminal (they opened the
    TUI, which never ends by itself: ``-q -z srt`` showed the app and no table, and
    docs/live.md's ``-q --metrics`` "headless monitor" was the app)."""
    status, screen = on_a_terminal(*args, BASIC)
    assert status == 0, screen
    assert printed in screen and "\x1b[?1049h" not in screen  # no full-screen app


# -- -T text -------------------------------------------------------------------------------------


def test_text_lines_say_result_stat_answer_and_no_response() -> None:
    lines = ok("-T", "text", MISBEHAVING).splitlines()
    assert re.match(r"\s+\d+ 0\.000000 ", lines[0])  # seconds since the first PDU
    assert any("CMPP_SUBMIT_RESP" in x and "Result=8 (flow control error)" in x for x in lines)
    assert any("CMPP_DELIVER" in x and "Stat=" in x for x in lines)
    answered = next(x for x in lines if "CMPP_SUBMIT " in x and "answered in #" in x)
    assert re.search(r"\[answered in #\d+ after \d+\.\d\d ms\]", answered)
    assert any(re.search(r"CMPP_SUBMIT_RESP .*\[\d+\.\d\d ms after #\d+\]", x) for x in lines)
    no_response = [x for x in ok("-T", "text", UNANSWERED).splitlines() if "[no response]" in x]
    assert len(no_response) == 2 and all("CMPP_SUBMIT " in x for x in no_response)


def test_t_chooses_the_time_format() -> None:
    def times(*args: str) -> list[str]:
        dated = bool(args) and args[-1] in ("ad", "ud")
        return [" ".join(line.split()[1:3 if dated else 2])
                for line in ok("-T", "text", "-c", "3", BASIC, *args).splitlines()]

    records = jsonl("-c", "3", BASIC)
    assert times("-t", "r")[0] == "0.000000" == times()[0]
    assert times("-t", "e") == [f"{r['time']:.6f}" for r in records]
    deltas = [float(t) for t in times("-t", "d")]
    assert deltas[0] == 0.0 and deltas[1] == pytest.approx(records[1]["time"]
                                                           - records[0]["time"], abs=2e-6)
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{6}", times("-t", "u")[0])
    assert times("-t", "ud")[0].startswith("2025-11-24 ")  # the sample's date, in UTC
    usage_error("-t", "r", "-T", "jsonl", BASIC)


# -- -T fields, -e, -E, -G fields ----------------------------------------------------------------


def test_fields_with_header_separator_quote_and_several_values(tmp_path: Path) -> None:
    out = ok("-T", "fields", "-e", "frame", "-e", "cmpp.Command_Id", "-e", "Msg_Id",
             "-e", "report.Stat", "-e", "Dest_terminal_Id", "-E", "header=y",
             "-E", "separator=,", "-E", "quote=d", "-E", "aggregator=/s", V30)
    lines = out.splitlines()
    assert lines[0] == '"frame","cmpp.Command_Id","Msg_Id","report.Stat","Dest_terminal_Id"'
    records = jsonl(V30)
    assert len(lines) - 1 == len(records)
    for line, rec in zip(lines[1:], records, strict=True):
        cells = [c.strip('"') for c in line.split('","')]
        assert int(cells[0]) == rec["frame"]
        assert int(cells[1]) == rec["command_id"]
        assert cells[2] == str(rec["fields"].get("Msg_Id", ""))
        assert cells[3] == str(rec["fields"].get("report", {}).get("Stat", ""))
        dest = rec["fields"].get("Dest_terminal_Id",
                                 rec["fields"].get("report", {}).get("Dest_terminal_Id", []))
        assert cells[4] == " ".join([dest] if isinstance(dest, str) else dest)
    first = ok("-T", "fields", "-e", "Dest_terminal_Id", "-E", "occurrence=f", V30)
    assert all("," not in x for x in first.splitlines())
    assert usage_error("-T", "fields", BASIC).endswith("-e FIELD (cmppdissect -G fields "
                                                       "lists them)")
    assert "unknown field 'Nope'" in usage_error("-T", "fields", "-e", "Nope", BASIC)
    usage_error("-e", "frame", "-T", "jsonl", BASIC)
    usage_error("-T", "fields", "-e", "frame", "-E", "quote=x", BASIC)
    assert ok("-G", "fields") == ok("--list-fields") != ""


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
def test_fields_agree_with_tshark_on_cmpp_3() -> None:
    """The same columns by tshark's names and ours, one line per frame with one PDU."""
    ours = ok("-T", "fields", "-e", "frame", "-e", "command_id", "-e", "sequence_id",
              "-e", "Msg_Id", "-e", "Result", "-e", "Dest_terminal_Id", V30).splitlines()
    theirs = subprocess.run(
        [str(TSHARK), "-r", V30, "-Y", "cmpp", "-T", "fields", "-e", "frame.number",
         "-e", "cmpp.Command_Id", "-e", "cmpp.Sequence_Id", "-e", "cmpp.Msg_Id",
         "-e", "cmpp.submit_resp.Result", "-e", "cmpp.Dest_terminal_Id",
         "-e", "cmpp.deliver_resp.Result"],
        capture_output=True, text=True, check=True, timeout=120).stdout.splitlines()
    # tshark writes a line per frame, the values of its PDUs joined by commas: the frames
    # that completed one PDU each are compared whole, and each frame once.
    by_frame: dict[str, list[list[str]]] = {}
    for line in ours:
        cells = line.split("\t")
        by_frame.setdefault(cells[0], []).append(cells)
    assert [line.split("\t")[0] for line in theirs] == list(by_frame)
    single = 0
    for other in theirs:
        b = other.split("\t")
        mine = by_frame[b[0]]
        if len(mine) > 1:
            assert b[2] == ",".join(a[2] for a in mine)  # the Sequence_Ids, in order
            continue
        a = mine[0]
        assert int(a[1]) == int(b[1], 16) and a[2] == b[2]
        if int(a[1]) & 0x7FFFFFFF in (6, 7, 9) or int(a[1]) & 0x7FFFFFFF >= 0x10:
            continue  # QUERY, CANCEL, FWD, GNS: Wireshark shows their headers only (D9-D11)
        single += 1
        # a report's DELIVER: tshark gives the DELIVER's Msg_Id, then the report's
        their_id = b[3].split(",")[0]
        assert (int(a[3]) if a[3] else None) == (int(their_id, 16) if their_id else None)
        assert a[4] == (b[4] or b[6]) and a[5] == b[5]
    assert single > 20


def test_csv_default_columns_and_cells_that_cannot_run_as_formulas(tmp_path: Path) -> None:
    path = tmp_path / "formula.pcap"
    write_pcap(path, conversation([
        (True, submit(1, b"=HYPERLINK(\"http://evil\",\"x\")", src="@SUM(1)")),
        (False, submit_resp(1, 77, result=8, version=V2)),
    ]))
    rows = list(csv.DictReader(io.StringIO(ok("-T", "csv", str(path)))))
    assert [r["command"] for r in rows] == ["CMPP_SUBMIT", "CMPP_SUBMIT_RESP"]
    assert rows[0]["text"] == "'=HYPERLINK(\"http://evil\",\"x\")"
    assert rows[0]["Src_Id"] == "'@SUM(1)"
    assert rows[0]["Dest_terminal_Id"] == "8613800000001"
    assert rows[1]["Result"] == "8" and rows[1]["Msg_Id"] == "77"
    assert rows[0]["response_frame"] == rows[1]["frame"]
    picked = list(csv.reader(io.StringIO(ok("-T", "csv", "-e", "frame", "-e", "text",
                                            str(path)))))
    assert picked[0] == ["frame", "text"] and picked[1][1].startswith("'=")


# -- -z -------------------------------------------------------------------------------------------


def _analysis(path: str) -> Any:
    analysis = analyze(path)
    analysis.start(keep_rows=True)
    analysis.run()
    return analysis


def test_z_srt_with_a_filter_counts_what_the_filter_keeps() -> None:
    expr = "session == 1"
    out = ok("-q", "-z", "srt", "-z", f"srt,{expr}", BASIC)
    tables = out.split("=" * 78 + "\n" + "=" * 78)
    assert len(tables) == 2 and "Filter: none" in tables[0] and f"Filter: {expr}" in tables[1]
    analysis = _analysis(BASIC)
    store = analysis.store
    scoped = rows_report(store, np.flatnonzero(store.session[:store.count] == 1))
    assert scoped is not None
    submit = scoped["commands"]["CMPP_SUBMIT"]
    row = next(x for x in tables[1].splitlines() if x.startswith("CMPP_SUBMIT "))
    numbers = row.split()
    assert int(numbers[1]) == submit["requests"] and int(numbers[3]) == submit["responses"]
    assert numbers[9] == f"{submit['latency_ms']['p50']:.2f}"
    assert f"over {scoped['pdus']} PDUs" in tables[1]


def test_z_tables_follow_the_records_and_add_up() -> None:
    out = ok("-T", "text", "-z", "io,stat,1", "-z", "results", "-z", "reports", "-z", "conv",
             "-z", "expert", MISBEHAVING)
    head, _, tables = out.partition("=" * 78)
    assert len(head.splitlines()) == len(jsonl(MISBEHAVING))  # the records, then the tables
    io_rows = [x.split() for x in tables.splitlines() if "<>" in x]
    assert sum(int(r[3]) for r in io_rows) == len(head.splitlines())
    assert "flow control error" in tables and "CMPP Conversations" in tables
    report = jq(".", ok("--report", "json", MISBEHAVING))
    for c in report["expert_counts"]:
        assert re.search(rf"{c['severity']}\s+{re.escape(c['code'])}\s+{c['count']}\b", tables)
    assert "unknown statistic" in usage_error("-z", "nope", BASIC)
    assert "needs an interval" in usage_error("-z", "io,stat", BASIC)
    assert "-z srt,command ==" in usage_error("-z", "srt,command ==", BASIC)


# -- -T transactions (issue 16, part 2) ----------------------------------------------------------


def test_transactions_are_one_line_per_request_with_answer_result_and_report() -> None:
    rows = jq(".", ok("-T", "transactions", V30), slurp=True)
    report = jq(".", ok("--report", "json", V30))
    requests = sum(c["requests"] - c["retransmitted"] for c in report["commands"].values())
    assert len(rows) == requests
    by_frame: dict[int, list[dict[str, Any]]] = {}
    for rec in jsonl(V30):
        by_frame.setdefault(rec["frame"], []).append(rec)

    def find(frame: int, command: str, seq: int) -> dict[str, Any]:
        return next(r for r in by_frame[frame]
                    if r["command"] == command and r["sequence_id"] == seq)

    for row in rows:
        request = find(row["request_frame"], row["command"], row["sequence_id"])
        assert request.get("response_frame") == row["response_frame"]
        if row["response_frame"] is not None:
            response = find(row["response_frame"], row["command"] + "_RESP",
                            row["sequence_id"])["fields"]
            code = next((response[k] for k in ("Result", "Status", "Success_Id")
                         if k in response), None)
            assert row["result"] == code and row["latency_ms"] == request["latency_ms"]
    submits = [r for r in rows if r["command"] == "CMPP_SUBMIT" and r["report_stat"]]
    assert submits and all(isinstance(r["Msg_Id"], str) and r["Msg_Id"].isdigit()
                           for r in submits)  # a 64-bit id as its digits, as jq keeps it
    for r in submits:
        rep = next(x for x in by_frame[r["report_frame"]] if "report" in x["fields"])
        assert rep["fields"]["report"]["Stat"] == r["report_stat"]
        # a group SUBMIT's recipients have consecutive ids; the row holds the first report
        assert 0 <= int(rep["fields"]["report"]["Msg_Id"]) - int(r["Msg_Id"]) < 100
        assert r["report_delay_ms"] == pytest.approx((rep["time"] - r["request_time"]) * 1000,
                                                     abs=0.01)
    picked = list(csv.reader(io.StringIO(ok("-T", "transactions", "-e", "command",
                                            "-e", "result_name", "-e", "report_stat", V30))))
    assert picked[0] == ["command", "result_name", "report_stat"]
    assert len(picked) - 1 == len(rows)
    assert ["CMPP_SUBMIT", "correct", "DELIVRD"] in picked
    assert "not a transactions column" in usage_error("-T", "transactions", "-e", "nope", V30)


@pytest.mark.parametrize("expr", ["frame > 0", "expert", "latency_ms >= 0 or not latency_ms",
                                  "command contains \"SUBMIT\""])
def test_a_records_content_never_depends_on_the_filter(expr: str) -> None:
    """The same PDU reads the same with any filter that keeps it (an unanswered request's
    finding used to appear only when the filter mentioned ``expert``)."""
    plain = {(r["frame"], r["sequence_id"], r["command"]): r for r in jsonl(UNANSWERED)}
    kept = jsonl("-Y", expr, UNANSWERED)
    assert kept
    for rec in kept:
        assert rec == plain[(rec["frame"], rec["sequence_id"], rec["command"])]
    assert any(e["code"] == "unanswered" for r in kept for e in r["expert"]) == any(
        e["code"] == "unanswered" for r in plain.values() for e in r["expert"]
        if r in kept)


def test_z_alone_prints_text_records_then_tables_and_only_after_text() -> None:
    """As tshark: ``-z`` without ``-q`` shows the packets first; the tables are text, so
    after JSON or CSV records they would mix two formats on stdout: a usage error."""
    out = ok("-z", "srt", BASIC)
    head, _, tables = out.partition("=" * 78)
    assert len(head.splitlines()) == 102 and "CMPP Service Response Time" in tables
    for fmt in ("jsonl", "json", "csv", "transactions"):
        assert "-q to print only the tables" in usage_error("-T", fmt, "-z", "srt", BASIC)
    assert ok("-q", "-T", "jsonl", "-z", "srt", BASIC).startswith("=" * 78)


def test_z_io_stat_mean_latency_counts_an_exchange_once_as_srt_does() -> None:
    """A resent SUBMIT is one exchange timed from its first send, in io,stat as in srt."""
    srt = jq(".", ok("--report", "json", MISBEHAVING))["commands"]["CMPP_SUBMIT"]["latency_ms"]
    io_rows = [x.split() for x in ok("-q", "-z", "io,stat,600", MISBEHAVING).splitlines()
               if "<>" in x]
    assert len(io_rows) == 1 and float(io_rows[0][-1]) == pytest.approx(srt["mean"], abs=0.01)
