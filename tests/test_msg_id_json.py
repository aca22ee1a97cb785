"""Issue 12: 64-bit values (the Msg_Ids) are decimal strings in every JSON output, end to end.

jq, JavaScript and many other JSON readers hold a number as a double, which keeps 53 bits:
13558350566173507684 comes back as 13558350566173508000. So ``-T jsonl`` and ``-T json``
write every Unsigned Integer of 8 bytes as its decimal string, as tshark's ``-T ek`` does,
whatever its value; the Msg_Id parts stay numbers, and the display filter and the Python API
keep ints. The capture is built here: both versions, a SUBMIT_RESP and a status report
carrying the id, and small ids that must be strings too.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from pcaputil import (
    Conversation,
    connect_pdu,
    connect_resp_pdu,
    deliver_resp_pdu,
    report_pdu,
    run_cli,
    submit_pdu,
    submit_resp_pdu,
    write_pcap,
)

from cmppdissect.api import analyze
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.version import Version

BIG = 13558350566173507684
BIG_TEXT = "13558350566173507684"
SMALL = 7  # a 64-bit value that fits a double: a string all the same (type stability)


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Per version: a SUBMIT answered with Msg_Id BIG, its status report, and a second SUBMIT
    answered with Msg_Id 7."""
    frames: list[bytes] = []
    for v, port in ((Version.V2_0, 40001), (Version.V3_0, 40002)):
        conv = Conversation(client=("192.0.2.10", port))
        frames += conv.handshake()
        frames += conv.send(True, connect_pdu(v))
        frames += conv.send(False, connect_resp_pdu(v))
        frames += conv.send(True, submit_pdu(v, 2))
        frames += conv.send(False, submit_resp_pdu(v, 2, BIG))
        frames += conv.send(False, report_pdu(v, 3, BIG))
        frames += conv.send(True, deliver_resp_pdu(v, 3))
        frames += conv.send(True, submit_pdu(v, 4))
        frames += conv.send(False, submit_resp_pdu(v, 4, SMALL))
        frames += conv.close()
    return write_pcap(tmp_path_factory.mktemp("msgid") / "msgid.pcap", frames)


def cli_out(*args: str) -> str:
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    return str(res.stdout)


def msg_ids(rec: dict[str, Any]) -> list[Any]:
    """Every Msg_Id of a record: its own and its report's."""
    fields = rec["fields"]
    return [d["Msg_Id"] for d in (fields, fields.get("report", {})) if "Msg_Id" in d]


def test_a_double_cannot_hold_the_id() -> None:
    """Why: the id read as a number by a reader that keeps doubles is another id."""
    read = json.loads(str(BIG), parse_int=float)
    assert read != BIG and int(read) != BIG
    assert repr(read) == "1.3558350566173508e+19"  # what JavaScript shows as ...3508000


def test_jsonl_writes_the_exact_id_as_a_string(capture: Path) -> None:
    out = cli_out("-T", "jsonl", str(capture))
    assert out.count(f'"Msg_Id":"{BIG_TEXT}"') == 4  # 2 SUBMIT_RESPs, 2 reports
    assert f":{BIG_TEXT}" not in out  # nowhere as a number
    assert out.count(f'"Msg_Id":"{SMALL}"') == 2
    recs = [json.loads(line, parse_int=float) for line in out.splitlines()]
    resps = [r for r in recs if r["command"] == "CMPP_SUBMIT_RESP"]
    assert [r["fields"]["Msg_Id"] for r in resps] == [BIG_TEXT, str(SMALL)] * 2
    reports = [r["fields"]["report"] for r in recs if "report" in r["fields"]]
    assert [r["Msg_Id"] for r in reports] == [BIG_TEXT] * 2
    assert {r["version"] for r in resps} == {"2.0", "3.0"}
    for rec in recs:  # every Msg_Id is a string, every part a number
        assert all(type(m) is str and m.isdigit() for m in msg_ids(rec))
        if "Msg_Id" in rec["fields"]:
            parts = rec["fields"]["Msg_Id_parts"]
            assert parts and all(type(n) is float for n in parts.values())
    big = next(r for r in map(json.loads, out.splitlines())
               if r["fields"].get("Msg_Id") == BIG_TEXT)
    parts = big["fields"]["Msg_Id_parts"]
    assert parts["sequence"] == BIG & 0xFFFF and parts["gateway"] == (BIG >> 16) & 0x3FFFFF
    assert all(type(n) is int for n in parts.values())


def test_json_array_writes_the_same_records(capture: Path) -> None:
    text = cli_out("-T", "json", str(capture))
    assert text.count(f'"Msg_Id": "{BIG_TEXT}"') == 4
    doc = json.loads(text, parse_int=float)
    resps = [r["fields"]["Msg_Id"] for r in doc if r["command"] == "CMPP_SUBMIT_RESP"]
    assert resps == [BIG_TEXT, str(SMALL)] * 2
    assert [r["fields"]["report"]["Msg_Id"] for r in doc if "report" in r["fields"]] == [
        BIG_TEXT] * 2
    assert all(type(m) is str for rec in doc for m in msg_ids(rec))
    lines = [json.loads(line) for line in cli_out("-T", "jsonl", str(capture)).splitlines()]
    assert json.loads(text) == lines


def test_a_filtered_jsonl_is_written_alike(capture: Path) -> None:
    """``-Y`` makes its records through the record schema (not the compiled writer)."""
    out = cli_out("-T", "jsonl", "-Y", "frame > 0", str(capture))
    assert out == cli_out("-T", "jsonl", str(capture))


@pytest.mark.parametrize(("expression", "commands"), [
    (f"Msg_Id == {BIG}", ["CMPP_SUBMIT_RESP"] * 2),
    (f"report.Msg_Id == {BIG}", ["CMPP_DELIVER"] * 2),
    (f"Msg_Id > {BIG - 1} and command == \"submit_resp\"", ["CMPP_SUBMIT_RESP"] * 2),
    (f"Msg_Id == {SMALL}", ["CMPP_SUBMIT_RESP"] * 2),
    (f"Msg_Id in {{{BIG}, {SMALL}}}", ["CMPP_SUBMIT_RESP"] * 4),
])
def test_the_display_filter_still_compares_numbers(capture: Path, expression: str,
                                                   commands: list[str]) -> None:
    out = cli_out("-T", "jsonl", "-Y", expression, str(capture))
    recs = [json.loads(line) for line in out.splitlines()]
    assert [r["command"] for r in recs] == commands
    for r in recs:  # what matched is the id written as its string
        assert (r["fields"].get("report") or r["fields"])["Msg_Id"] in (BIG_TEXT, str(SMALL))


def test_the_python_api_keeps_ints(capture: Path) -> None:
    from cmppdissect.output.records import record_dict

    resps = [rec for rec in analyze(capture).pdus() if rec.command == "CMPP_SUBMIT_RESP"]
    assert [rec.pdu.fields["Msg_Id"] for rec in resps] == [BIG, SMALL] * 2
    assert all(type(rec.pdu.fields["Msg_Id"]) is int for rec in resps)
    d = record_dict(resps[0])
    assert isinstance(d["fields"]["Msg_Id"], int) and d["fields"]["Msg_Id"] == BIG
    assert repr(d["fields"]["Msg_Id"]) == BIG_TEXT and d["fields"]["Msg_Id"] + 1 == BIG + 1
    kept = list(analyze(capture).records(f"report.Msg_Id == {BIG}"))
    assert len(kept) == 2
    for rec, full in kept:
        assert full is not None
        assert isinstance(full["fields"]["report"]["Msg_Id"], int)
        assert full["fields"]["report"]["Msg_Id"] == BIG == rec.pdu.report["Msg_Id"]


def test_a_body_without_its_tail_is_written_alike(tmp_path: Path) -> None:
    """A DELIVER without Reserved/LinkID (its record made field by field, not in one go):
    its report's Msg_Id is a string too."""
    frames: list[bytes] = []
    for v, port, tail in ((Version.V2_0, 40001, 8), (Version.V3_0, 40002, 20)):
        body = report_pdu(v, 5, BIG)[12:-tail]
        conv = Conversation(client=("192.0.2.10", port))
        frames += conv.handshake()
        frames += conv.send(True, connect_pdu(v)) + conv.send(False, connect_resp_pdu(v))
        frames += conv.send(False, struct.pack(">III", 12 + len(body), C.CMPP_DELIVER, 5) + body)
    path = write_pcap(tmp_path / "tail.pcap", frames)
    out = cli_out("-T", "jsonl", str(path))
    delivers = [r for r in map(json.loads, out.splitlines()) if r["command"] == "CMPP_DELIVER"]
    assert len(delivers) == 2
    for rec in delivers:
        assert "missing-tail" in {f["code"] for f in rec["expert"]}
        assert rec["fields"]["report"]["Msg_Id"] == BIG_TEXT
        assert type(rec["fields"]["Msg_Id"]) is str


def test_report_json_carries_no_number_a_double_rounds(capture: Path) -> None:
    """``--report json`` holds counts and times, no 64-bit id: nothing in it needs quoting."""
    def numbers(value: Any) -> list[int]:
        if isinstance(value, dict):
            return [n for v in value.values() for n in numbers(v)]
        if isinstance(value, list):
            return [n for v in value for n in numbers(v)]
        return [value] if type(value) is int else []

    rep = json.loads(cli_out("--report", "json", str(capture)))
    assert rep["pdus"] == 16
    assert numbers(rep) and all(abs(n) <= 2**53 for n in numbers(rep))
    assert BIG_TEXT not in json.dumps(rep)


def test_csv_has_msg_id_exact_and_text_leaves_it_out(capture: Path) -> None:
    """CSV's Msg_Id column (issue 15) holds the id's decimal digits exactly, never a rounded
    float a spreadsheet would make of a number; the text lines do not show it."""
    import csv
    import io

    csv_out = cli_out("-T", "csv", str(capture))
    rows = list(csv.DictReader(io.StringIO(csv_out)))
    assert csv_out.splitlines()[0].startswith("frame,time,session,")
    assert BIG_TEXT in {r["Msg_Id"] for r in rows}
    assert all(r["Msg_Id"] == "" or r["Msg_Id"].isdigit() for r in rows)
    assert BIG_TEXT not in cli_out("-T", "text", str(capture))


def test_every_json_encoder_writes_a_u64_as_text() -> None:
    """orjson (``-T jsonl``), the standard encoder (``-T json``) and the standard encoder as
    the fallback for a string orjson refuses (a lone surrogate): a U64 anywhere in a record is
    a string, other ints stay numbers, and the record itself is left as it was."""
    from cmppdissect.output.records import dumps, dumps_line
    from cmppdissect.store.schema import U64

    record: dict[str, Any] = {"a": [U64(BIG), (U64(0), 5)], "b": {"c": U64(SMALL), "d": 2**60},
                              "n": 5}
    want = {"a": [BIG_TEXT, ["0", 5]], "b": {"c": str(SMALL), "d": 2**60}, "n": 5}
    assert dumps_line(record) == (
        b'{"a":["%s",["0",5]],"b":{"c":"7","d":1152921504606846976},"n":5}\n' % BIG_TEXT.encode())
    assert json.loads(dumps(record, indent=1)) == want
    odd = dict(record, s="\ud800")
    assert json.loads(dumps_line(odd)) == dict(want, s="\ud800")
    assert type(record["a"][0]) is U64 and type(record["b"]["c"]) is U64
    assert isinstance(record["a"][1], tuple)
