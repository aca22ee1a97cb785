"""The record outputs (jsonl, json, csv, text), ``--report json`` and the summary, as a user
gets them from ``cmppdissect`` run as a subprocess, checked against the keys and types issue 3
lists; and bad input: exit status 2 with a single line on stderr, never a traceback.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pcaputil import (
    Conversation,
    bare_pdu,
    connect_pdu,
    connect_resp_pdu,
    deliver_resp_pdu,
    mo_pdu,
    pcap_bytes,
    report_pdu,
    run_cli,
    sample_msg_id,
    submit_pdu,
    submit_resp_pdu,
    write_pcap,
)

from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.commands import command_id_of, is_response
from cmppdissect.protocol.layouts import LAYOUTS, REPORT_60, REPORT_71, Kind
from cmppdissect.protocol.version import Version

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "cmpp-basic.pcap"
ADDRESS = re.compile(r"(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:]+\]):\d{1,5}")
SEVERITIES = {"chat", "note", "warn", "error"}
RECORD_KEYS = {"frame", "time", "session", "src", "dst", "version", "command", "command_id",
               "sequence_id", "total_length", "fields", "expert"}
FIELD_EXTRAS = {"text", "report", "udh", "Msg_Id_parts", "trailing"}
LATENCY_KEYS = {"min", "mean", "p50", "p90", "p99", "max"}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our own capture: 2.0 over IPv4, 3.0 over IPv6, reports, UCS2 text, an orphan, a gap."""
    frames: list[bytes] = []
    for v, client, server in ((Version.V2_0, ("192.0.2.10", 40001), ("198.51.100.7", 7890)),
                              (Version.V3_0, ("2001:db8::10", 40002), ("2001:db8::1", 7890))):
        conv = Conversation(client=client, server=server)
        frames += conv.handshake()
        frames += conv.send(True, connect_pdu(v))
        frames += conv.send(False, connect_resp_pdu(v))
        frames += conv.send(True, submit_pdu(v, 2, dests=2), [30])
        frames += conv.send(False, submit_resp_pdu(v, 2, sample_msg_id(2)))
        frames += conv.send(False, report_pdu(v, 9, sample_msg_id(2), "DELIVRD")
                            + report_pdu(v, 10, sample_msg_id(3), "MA:0001"))
        frames += conv.send(True, deliver_resp_pdu(v, 9) + deliver_resp_pdu(v, 10))
        frames += conv.send(False, mo_pdu(v, 11, "退订"))
        frames += conv.send(True, deliver_resp_pdu(v, 11, result=9))
        frames += conv.send(False, submit_resp_pdu(v, 77, sample_msg_id(77)))  # orphan
        frames += conv.send(True, bare_pdu(C.CMPP_ACTIVE_TEST, 3, v))  # never answered
        frames += conv.close()
    return write_pcap(tmp_path_factory.mktemp("schema") / "mixed.pcap", frames)


@functools.cache
def cli_ok(*args: str) -> str:
    """stdout of a successful run; each distinct command line runs once per worker."""
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    return str(res.stdout)


def jsonl(path: Path) -> list[dict[str, Any]]:
    """The records, parsed afresh (callers may change them)."""
    return [json.loads(line) for line in cli_ok("-T", "jsonl", str(path)).splitlines()]


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def check_record(rec: dict[str, Any], frames: set[int]) -> None:
    assert rec.keys() >= RECORD_KEYS
    assert type(rec["frame"]) is int and rec["frame"] >= 1
    assert type(rec["time"]) is float and rec["time"] > 1e9
    assert type(rec["session"]) is int
    assert ADDRESS.fullmatch(rec["src"]) and ADDRESS.fullmatch(rec["dst"])
    assert rec["version"] in ("2.0", "3.0")
    assert re.fullmatch(r"CMPP_[A-Z_]+", rec["command"])
    assert command_id_of(rec["command"]) == rec["command_id"]
    assert type(rec["sequence_id"]) is int and 0 <= rec["sequence_id"] < 2**32
    assert type(rec["total_length"]) is int and rec["total_length"] >= 12
    fields = rec["fields"]
    layout = LAYOUTS[(rec["command_id"], Version(rec["version"]))]
    names = {f.name for f in layout.fields}
    assert set(fields) <= names | FIELD_EXTRAS, set(fields) - names
    for f in layout.fields:
        if f.name in fields and f.kind is Kind.UINT:  # 64-bit ones as decimal strings
            want = str if f.size == 8 else int
            assert type(fields[f.name]) is want, f.name
    if "Msg_Id" in fields:
        assert type(fields["Msg_Id"]) is str and fields["Msg_Id"].isdigit()
        assert int(fields["Msg_Id"]) < 2**64
    assert not any("\x00" in s for s in strings_in(fields))  # no NUL padding left
    if "report" in fields:
        report = fields["report"]
        assert set(report) <= {f.name for f in (*REPORT_60.fields, *REPORT_71.fields)}
        assert type(report["Msg_Id"]) is str and report["Msg_Id"].isdigit()
        assert type(report["Stat"]) is str
        assert "text" not in fields
    elif "Msg_Content" in names:
        assert type(fields["text"]) is str
    # Every paired PDU names its partner, whatever the filter: a response its request, a
    # request its response (records come out once their pairing is known).
    assert ("request_frame" in rec or "response_frame" in rec) == ("latency_ms" in rec)
    assert not ("request_frame" in rec and "response_frame" in rec)
    if "request_frame" in rec:
        assert is_response(rec["command_id"])
        assert type(rec["request_frame"]) is int and rec["request_frame"] in frames
        assert rec["request_frame"] <= rec["frame"]
        assert type(rec["latency_ms"]) is float and rec["latency_ms"] >= 0
    if "response_frame" in rec:
        assert not is_response(rec["command_id"])
        assert type(rec["response_frame"]) is int and rec["response_frame"] in frames
        assert rec["response_frame"] >= rec["frame"]
    elif not is_response(rec["command_id"]):
        assert "unanswered" in {f["code"] for f in rec["expert"]}
    assert isinstance(rec["expert"], list)
    for finding in rec["expert"]:
        assert finding["severity"] in SEVERITIES
        assert type(finding["code"]) is str and type(finding["message"]) is str


# -- per-PDU records ----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["sample", "mixed"])
def test_jsonl_records_have_the_issue_keys_and_types(which: str, mixed: Path) -> None:
    recs = jsonl(SAMPLE if which == "sample" else mixed)
    assert recs
    frames = {r["frame"] for r in recs}
    for rec in recs:
        check_record(rec, frames)
    assert any("request_frame" in r for r in recs)
    assert any("report" in r["fields"] for r in recs)
    assert any(r["fields"].get("text") for r in recs)


def test_jsonl_values_of_our_capture(mixed: Path) -> None:
    recs = jsonl(mixed)
    assert {r["version"] for r in recs} == {"2.0", "3.0"}
    assert any(r["src"].startswith("[2001:db8::") for r in recs)
    submits = [r for r in recs if r["command"] == "CMPP_SUBMIT"]
    assert [s["fields"]["Dest_terminal_Id"] for s in submits] == [
        ["8613800000002", "8613800000003"]] * 2
    assert all(s["fields"]["text"] == "message number 2 for you" for s in submits)
    mo = [r for r in recs if r["command"] == "CMPP_DELIVER" and "report" not in r["fields"]]
    assert [m["fields"]["text"] for m in mo] == ["退订", "退订"]
    reports = [r["fields"]["report"] for r in recs if "report" in r["fields"]]
    assert [(x["Stat"], x["Msg_Id"]) for x in reports] == [
        ("DELIVRD", str(sample_msg_id(2))), ("MA:0001", str(sample_msg_id(3)))] * 2
    orphans = [r for r in recs if r["sequence_id"] == 77]
    assert all("request_frame" not in r for r in orphans)
    assert all([f["code"] for f in r["expert"]] == ["orphan-response"] for r in orphans)


@pytest.mark.parametrize("which", ["sample", "mixed"])
def test_json_is_the_jsonl_records_as_one_array(which: str, mixed: Path) -> None:
    path = SAMPLE if which == "sample" else mixed
    doc = json.loads(cli_ok("-T", "json", str(path)))
    assert isinstance(doc, list)
    assert doc == jsonl(path)


def test_csv_has_a_header_and_one_row_per_pdu(mixed: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(cli_ok("-T", "csv", str(mixed)))))
    recs = jsonl(mixed)
    assert len(rows) == len(recs)
    columns = ("frame", "session", "src", "dst", "version", "command", "sequence_id",
               "total_length")
    for row, rec in zip(rows, recs, strict=True):
        for col in columns:
            assert row[col] == str(rec[col]), col
        assert float(row["time"]) == pytest.approx(rec["time"], abs=1e-6)
        assert row["request_frame"] == str(rec.get("request_frame", ""))
        if "latency_ms" in rec:
            assert float(row["latency_ms"]) == pytest.approx(rec["latency_ms"])
        else:
            assert row["latency_ms"] == ""


def test_text_has_one_line_per_pdu(mixed: Path) -> None:
    lines = cli_ok("-T", "text", str(mixed)).splitlines()
    recs = jsonl(mixed)
    assert len(lines) == len(recs)
    for line, rec in zip(lines, recs, strict=True):
        assert line.split()[0] == str(rec["frame"])
        assert f"{rec['src']} -> {rec['dst']}" in line
        assert rec["command"] in line and f"seq={rec['sequence_id']}" in line
        if "request_frame" in rec:
            assert f"#{rec['request_frame']}" in line


def test_count_limits_every_record_format(mixed: Path) -> None:
    assert len(cli_ok("-T", "jsonl", "-c", "3", str(mixed)).splitlines()) == 3
    assert len(json.loads(cli_ok("-T", "json", "-c", "4", str(mixed)))) == 4
    assert len(cli_ok("-T", "csv", "-c", "2", str(mixed)).splitlines()) == 1 + 2
    assert len(cli_ok("-T", "text", "-c", "5", "-r", str(mixed)).splitlines()) == 5


def test_a_capture_without_cmpp_gives_empty_records(tmp_path: Path) -> None:
    conv = Conversation(server=("198.51.100.7", 8080))
    path = tmp_path / "web.pcap"
    path.write_bytes(pcap_bytes(conv.handshake() + conv.send(True, b"GET / HTTP/1.0\r\n\r\n")))
    assert cli_ok("-T", "jsonl", str(path)) == ""
    assert json.loads(cli_ok("-T", "json", str(path))) == []
    assert json.loads(cli_ok("--report", "json", str(path)))["pdus"] == 0


# -- the statistics document --------------------------------------------------------------------


def check_latency(lat: dict[str, Any]) -> None:
    assert set(lat) == LATENCY_KEYS
    values = [lat[k] for k in ("min", "p50", "p90", "p99", "max")]
    if lat["min"] is None:
        assert all(lat[k] is None for k in LATENCY_KEYS)
    else:
        assert all(type(lat[k]) is float for k in LATENCY_KEYS)
        assert values == sorted(values) and lat["min"] <= lat["mean"] <= lat["max"]


@pytest.mark.parametrize("which", ["sample", "mixed"])
def test_report_json_has_the_issue_keys_and_types(which: str, mixed: Path) -> None:
    path = SAMPLE if which == "sample" else mixed
    rep = json.loads(cli_ok("--report", "json", str(path)))
    assert {"pdus", "sessions", "commands", "results", "reports", "expert"} <= rep.keys()
    recs = jsonl(path)
    assert rep["pdus"] == len(recs)
    assert rep["sessions"]
    for s in rep["sessions"]:
        assert {"id", "client", "server", "sp_id", "version", "pdus"} <= s.keys()
        assert type(s["id"]) is int and type(s["pdus"]) is int
        assert ADDRESS.fullmatch(s["client"]) and ADDRESS.fullmatch(s["server"])
        assert s["sp_id"] is None or type(s["sp_id"]) is str
        assert s["version"] in ("2.0", "3.0", None)
        assert s["pdus"] == sum(1 for r in recs if r["session"] == s["id"])
    assert rep["commands"]
    for name, c in rep["commands"].items():
        assert not name.endswith("_RESP")  # keyed by the request's name
        assert command_id_of(name) == command_id_of(name) & 0x7FFFFFFF
        for key in ("requests", "responses", "paired", "unanswered", "orphan_responses"):
            assert type(c[key]) is int and c[key] >= 0, key
        assert c["paired"] <= min(c["requests"], c["responses"])
        check_latency(c["latency_ms"])
        assert (c["latency_ms"]["min"] is None) == (c["paired"] == 0)
    assert rep["results"]
    for r in rep["results"]:
        assert {"command", "code", "count"} <= r.keys()
        assert r["command"].endswith("_RESP") and type(r["code"]) is int
        assert type(r["count"]) is int and r["count"] > 0
    reports = rep["reports"]
    assert set(reports["stat"]) == {r["fields"]["report"]["Stat"] for r in recs
                                    if "report" in r["fields"]}
    assert all(type(v["count"]) is int for v in reports["stat"].values())
    check_latency(reports["submit_to_report_ms"])
    for e in rep["expert"]:
        assert {"severity", "frame", "message"} <= e.keys()
        assert e["severity"] in SEVERITIES
        assert e["frame"] is None or type(e["frame"]) is int
        assert type(e["message"]) is str


def test_report_json_values_of_our_capture(mixed: Path) -> None:
    rep = json.loads(cli_ok("--report", "json", str(mixed)))
    assert [(s["client"], s["version"], s["sp_id"]) for s in rep["sessions"]] == [
        ("192.0.2.10:40001", "2.0", "901234"), ("[2001:db8::10]:40002", "3.0", "901234")]
    assert rep["commands"]["CMPP_SUBMIT"]["orphan_responses"] == 2
    assert rep["commands"]["CMPP_ACTIVE_TEST"]["unanswered"] == 2
    assert rep["commands"]["CMPP_DELIVER"]["paired"] == 6
    results = {(r["command"], r["code"]): r["count"] for r in rep["results"]}
    assert results[("CMPP_DELIVER_RESP", 9)] == 2
    assert {k: v["count"] for k, v in rep["reports"]["stat"].items()} == {
        "DELIVRD": 2, "MA:0001": 2}
    assert rep["reports"]["submit_to_report_ms"]["min"] is not None


def test_summary_when_no_format_is_given(mixed: Path) -> None:
    text = cli_ok(str(mixed))
    for heading in ("Sessions", "Service response time", "Result codes", "Status reports",
                    "Expert findings"):
        assert heading in text, heading
    assert "CMPP_SUBMIT" in text and "MA:0001" in text and "DELIVRD" in text
    assert "[2001:db8::10]:40002" in text
    assert "other error (9)" in text


# -- bad input ----------------------------------------------------------------------------------


def one_line_error(args: list[str]) -> None:
    res = run_cli(*args)
    assert res.returncode == 2, (args, res.returncode)
    assert res.stdout == ""
    assert "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("cmppdissect: ")


def _bad_file(tmp_path: Path, kind: str) -> str:
    if kind == "missing":
        return str(tmp_path / "nope.pcap")
    if kind == "directory":
        return str(tmp_path)
    path = tmp_path / f"{kind}.pcap"
    path.write_bytes({"text": b"frame,time\n1,2\n", "empty": b"",
                      "elf": b"\x7fELF\x02\x01\x01" + bytes(100)}[kind])
    return str(path)


@pytest.mark.parametrize(("kind", "args"), [
    *((kind, ["FILE"]) for kind in ("missing", "directory", "text", "empty", "elf")),
    ("missing", ["-r", "FILE"]), ("text", ["-T", "jsonl", "FILE"]),
    ("directory", ["--report", "json", "FILE"])])
def test_unreadable_input_is_one_line_and_exit_2(tmp_path: Path, kind: str,
                                                  args: list[str]) -> None:
    path = _bad_file(tmp_path, kind)
    one_line_error([path if a == "FILE" else a for a in args])


@pytest.mark.parametrize("args", [
    pytest.param([], id="no-file"),
    pytest.param(["--cmpp-version", "9"], id="cmpp-version-9"),
    pytest.param(["--secret", "nosign"], id="secret-without-equals"),
    pytest.param(["--secret", "=abc"], id="secret-without-sp"),
    pytest.param(["-T", "xml"], id="format-xml"),
    pytest.param(["--timeout", "soon"], id="timeout-not-a-number"),
    pytest.param(["--no-such-option"], id="unknown-option"),
    pytest.param(["-d", "70000"], id="port-out-of-range"),
    pytest.param(["-c", "-1"], id="negative-count"),
    pytest.param(["--timeout", "-5"], id="negative-timeout"),
])
def test_bad_options_are_one_line_and_exit_2(args: list[str]) -> None:
    one_line_error([*args, str(SAMPLE)] if args else args)


def test_every_control_and_format_character_is_unsafe() -> None:
    """Issue 13: U+0600, U+110BD and other format characters (category Cf) reached the
    terminal raw. The one list of unsafe code points covers every Cc, Cf, Zl and Zp code point
    this Python's unicodedata knows, and safe_text and the JSON writers escape each of them
    while a JSON reader gets the text back."""
    import sys
    import unicodedata

    from cmppdissect.output.records import dumps, dumps_line
    from cmppdissect.output.sanitize import UNSAFE_RANGES, safe_text

    unsafe = [c for c in range(sys.maxunicode + 1)
              if unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp")]
    assert len(unsafe) > 150
    missing = [f"U+{c:04X}" for c in unsafe if not any(a <= c <= b for a, b in UNSAFE_RANGES)]
    assert missing == []
    for c in unsafe:
        text = f"a{chr(c)}b"
        assert chr(c) not in safe_text(text)
        assert chr(c) not in dumps({"t": text}) and json.loads(dumps({"t": text}))["t"] == text
        line = dumps_line({"t": text})
        assert chr(c).encode() not in line[:-1] and json.loads(line)["t"] == text
