"""The command line end to end, on the sample capture, as a user runs it (subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.version import Version

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "cmpp-basic.pcap"


def cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cmppdissect", *args], capture_output=True,
                          text=True, input=None if stdin is None else stdin.decode("latin-1"),
                          timeout=120, check=False)


def test_summary_when_stdout_is_not_a_terminal() -> None:
    res = cli(str(SAMPLE))
    assert res.returncode == 0, res.stderr
    assert "CMPP PDUs: 102" in res.stdout and "sessions: 2" in res.stdout
    assert "CMPP_SUBMIT" in res.stdout and "flow control error" in res.stdout
    assert "DELIVRD" in res.stdout and res.stderr == ""


def test_jsonl_records_schema_and_pairing() -> None:
    res = cli("-T", "jsonl", str(SAMPLE))
    recs = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(recs) == 102
    required = {"frame", "time", "session", "src", "dst", "version", "command", "command_id",
                "sequence_id", "total_length", "fields", "expert"}
    assert all(required <= rec.keys() for rec in recs)
    by_frame = {r["frame"]: r for r in recs}
    resp = next(r for r in recs if r["command"] == "CMPP_SUBMIT_RESP")
    req = by_frame[resp["request_frame"]]
    assert req["command"] == "CMPP_SUBMIT" and req["sequence_id"] == resp["sequence_id"]
    assert resp["latency_ms"] == pytest.approx((resp["time"] - req["time"]) * 1000, abs=1e-3)
    assert resp["fields"]["Msg_Id"] == "13558350566173507684"  # 64-bit: a decimal string
    assert req["fields"]["text"] == "您的验证码是 482913，5分钟内有效。"
    report = next(r for r in recs if "report" in r["fields"])
    assert report["fields"]["report"]["Stat"] in ("DELIVRD", "UNDELIV")
    assert {r["version"] for r in recs} == {"2.0", "3.0"}


def test_report_json() -> None:
    rep = json.loads(cli("--report", "json", str(SAMPLE)).stdout)
    assert rep["pdus"] == 102
    assert [s["sp_id"] for s in rep["sessions"]] == ["901234", "905678"]
    submit = rep["commands"]["CMPP_SUBMIT"]
    assert (submit["requests"], submit["paired"], submit["unanswered"]) == (26, 24, 2)
    assert set(submit["latency_ms"]) == {"min", "mean", "p50", "p90", "p99", "max"}
    assert rep["reports"]["stat"]["DELIVRD"]["count"] == 12
    assert any(e["code"] == "unanswered" for e in rep["expert"])


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    for args in (["/nonexistent.pcap"], [str(tmp_path)], [str(text)], [],
                 ["--cmpp-version", "9", str(SAMPLE)], ["--secret", "x", str(SAMPLE)]):
        res = cli(*args)
        assert res.returncode == 2, args
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) <= 2


def test_stdin_and_count() -> None:
    res = subprocess.run([sys.executable, "-m", "cmppdissect", "-T", "jsonl", "-c", "5", "-"],
                         stdin=SAMPLE.open("rb"), capture_output=True, timeout=120, check=False)
    assert res.returncode == 0
    assert len(res.stdout.splitlines()) == 5


def test_wire_text_cannot_inject_escapes(tmp_path: Path) -> None:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    evil = "\x1b[2J\x1b]0;pwned\x07\u009b31m[bold red]x[/]"
    pdu = encode_pdu(C.CMPP_DELIVER, 1, {"Msg_Fmt": 8, "Msg_Content": evil.encode("utf-16-be"),
                                         "Src_terminal_Id": b"\x1b[31m"}, Version.V2_0)
    pkt = Ether() / IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=7890, dport=40000,
                                                               flags="PA") / pdu
    path = tmp_path / "evil.pcap"
    wrpcap(str(path), [pkt])
    for args in (["-T", "jsonl"], ["-T", "text"], [], ["--report", "json"]):
        out = cli(*args, str(path)).stdout
        assert "\x1b" not in out and "\u009b" not in out and "\x07" not in out, args
    rec = json.loads(cli("-T", "jsonl", str(path)).stdout)
    assert rec["fields"]["text"] == evil  # the JSON value itself is exact


def test_list_fields() -> None:
    """``--list-fields`` prints one tab-separated line per field (name, type, where) and
    exits 0, with nothing to read."""
    res = cli("--list-fields")
    assert res.returncode == 0 and res.stderr == ""
    rows = [line.split("\t") for line in res.stdout.splitlines()]
    assert all(len(r) == 3 for r in rows)
    names = {r[0]: r for r in rows}
    assert names["Dest_terminal_Id"][1] == "str/str_array"
    assert "SUBMIT 2.0" in names["Dest_terminal_Id"][2]
    assert names["latency_ms"][1].startswith("float") and "ip.src" in names
