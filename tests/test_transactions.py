"""``-T transactions`` per recipient and per long message (issue 16, part 2).

Captures built here with known times: a group SUBMIT to 3 whose recipients 1 and 3 only get a
status report (each recipient's own frame, Stat, Done_time and delay), a long SUBMIT in 3
parts with part 2 refused with Result 8 and 2 of 3 reports DELIVRD (the roll-up, on the row of
the part that completes the message's picture), in both CMPP versions; the same rows from
jsonl (jq), Parquet (DuckDB), the Arrow table, and the CSV of ``-e`` (recipients flattened,
wire text made inert); streaming equal to a store that keeps every row; and the table's own
caps (recipients awaiting reports, parts awaiting their message) bounded at two sizes, each
with a finding.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pcaputil import (
    BASE_TS_NS,
    Conversation,
    bare_pdu,
    connect_pdu,
    connect_resp_pdu,
    dest_number,
    report_pdu,
    run_cli,
    submit_pdu,
    submit_resp_pdu,
    write_pcap,
)

import cmppdissect
from cmppdissect.api import PIECE_ROWS
from cmppdissect.output.tables import TableBuilder, long_outcome
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.msgid import make_msg_id
from cmppdissect.protocol.version import Version

V2, V3 = Version.V2_0, Version.V3_0
VERSIONS = pytest.mark.parametrize("v", [V2, V3], ids=["2.0", "3.0"])
NS = 1_000_000_000
JQ = shutil.which("jq")


def msg_id(sequence: int) -> int:
    return make_msg_id(11, 24, 10, 15, 7, 79101, sequence)


@dataclass
class Builder:
    """Frames in time order; each PDU's frame number (1-based, as reported) returned."""

    frames: list[tuple[int, bytes]] = field(default_factory=list)
    conv: Conversation = field(default_factory=Conversation)

    def add(self, t_s: float, from_client: bool, pdu: bytes) -> int:
        first = len(self.frames) + 1
        for f in self.conv.send(from_client, pdu):
            self.frames.append((BASE_TS_NS + round(t_s * NS), f))
        return first

    def login(self, v: Version) -> None:
        for f in self.conv.handshake():
            self.frames.append((BASE_TS_NS, f))
        self.add(0, True, connect_pdu(v))
        self.add(0, False, connect_resp_pdu(v))

    def write(self, path: Path) -> Path:
        for f in self.conv.close():
            self.frames.append((self.frames[-1][0], f))
        return write_pcap(path, self.frames)


def rows_of(path: Path, **settings: Any) -> list[dict[str, Any]]:
    return list(cmppdissect.analyze(path, **settings).transaction_rows())


def cli(*args: str) -> str:
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    return str(res.stdout)


def jq(program: str, text: str) -> list[Any]:
    """``jq -c`` over JSON lines, as a user pipes them (one value a line)."""
    assert JQ is not None, "jq is needed (CI installs it)"
    res = subprocess.run([JQ, "-c", program], input=text, capture_output=True, text=True,
                         check=True, timeout=60)
    return [json.loads(line) for line in res.stdout.splitlines()]


# -- a group send to 3, reports for recipients 1 and 3 only -------------------------------------


def group_capture(tmp_path: Path, v: Version) -> tuple[Path, dict[str, int]]:
    b = Builder()
    b.login(v)
    first = msg_id(100)
    got = {"submit": b.add(10, True, submit_pdu(v, 2, 20, dests=3))}
    got["response"] = b.add(10.01, False, submit_resp_pdu(v, 2, first))
    got["report3"] = b.add(12.5, False, report_pdu(v, 7, first + 2, "EXPIRED",
                                                    dest=dest_number(22), done_time="2611241030"))
    got["report1"] = b.add(15, False, report_pdu(v, 8, first, dest=dest_number(20),
                                                 done_time="2611241020"))
    # A duplicate of recipient 1's report: its first one is its own.
    b.add(16, False, report_pdu(v, 9, first, "UNDELIV", dest=dest_number(20)))
    return b.write(tmp_path / "group.pcap"), got


@VERSIONS
def test_a_group_send_has_each_recipient_with_its_own_report(tmp_path: Path, v: Version
                                                             ) -> None:
    path, got = group_capture(tmp_path, v)
    rows = rows_of(path)
    submit = next(r for r in rows if r["command"] == "CMPP_SUBMIT")
    first = msg_id(100)
    assert submit["request_frame"] == got["submit"]
    assert submit["response_frame"] == got["response"]
    assert submit["recipients"] == [
        {"Dest_terminal_Id": dest_number(20).decode(), "Msg_Id": first,
         "report_frame": got["report1"], "report_stat": "DELIVRD",
         "report_done_time": "2611241020", "report_delay_ms": pytest.approx(5000.0)},
        {"Dest_terminal_Id": dest_number(21).decode(), "Msg_Id": first + 1,
         "report_frame": None, "report_stat": None, "report_done_time": None,
         "report_delay_ms": None},
        {"Dest_terminal_Id": dest_number(22).decode(), "Msg_Id": first + 2,
         "report_frame": got["report3"], "report_stat": "EXPIRED",
         "report_done_time": "2611241030", "report_delay_ms": pytest.approx(2500.0)}]
    # The flat columns are the first recipient's (not the first report to come, recipient 3's).
    assert (submit["Msg_Id"], submit["report_frame"], submit["report_stat"],
            submit["report_done_time"]) == (first, got["report1"], "DELIVRD", "2611241020")
    assert submit["report_delay_ms"] == pytest.approx(5000.0)
    # Recipient 2 never got one: the row waited until the end, no cap reached.
    assert submit["reports_given_up"] is False
    assert submit["long_total"] is None and submit["long_outcome"] is None


@VERSIONS
def test_group_send_recipients_by_jq_duckdb_arrow_and_csv(tmp_path: Path, v: Version) -> None:
    path, got = group_capture(tmp_path, v)
    out = cli("-T", "transactions", str(path))
    first = msg_id(100)
    picked = jq('select(.command == "CMPP_SUBMIT") | [.recipients[] | '
                '[.Msg_Id, .report_stat, .report_frame]]', out)
    # jq keeps a 64-bit Msg_Id whole: it is written as its digits.
    assert picked == [[[str(first), "DELIVRD", got["report1"]],
                       [str(first + 1), None, None],
                       [str(first + 2), "EXPIRED", got["report3"]]]]
    # Parquet: a list of structs, the same rows (DuckDB unnests them).
    cmppdissect.analyze(path).write_parquet(tmp_path / "pq")
    table = f"'{tmp_path}/pq/transactions.parquet'"
    flat = duckdb.sql(
        f"SELECT request_frame, r.Msg_Id, r.report_stat, r.report_done_time, r.report_delay_ms "
        f"FROM (SELECT request_frame, unnest(recipients) AS r FROM {table}) "
        f"ORDER BY r.Msg_Id").fetchall()
    assert flat == [(got["submit"], first, "DELIVRD", "2611241020", pytest.approx(5000.0)),
                    (got["submit"], first + 1, None, None, None),
                    (got["submit"], first + 2, "EXPIRED", "2611241030", pytest.approx(2500.0))]
    untimed = [{**r, "request_time": None, "response_time": None} for r in rows_of(path)]
    arrow = cmppdissect.analyze(path).to_arrow("transactions").to_pylist()
    assert [{**r, "request_time": None, "response_time": None} for r in arrow] == untimed
    # CSV: each recipient's field joined with ';' (a missing one empty).
    lines = list(csv.reader(io.StringIO(cli(
        "-T", "transactions", "-e", "request_frame", "-e", "recipients.Msg_Id",
        "-e", "recipients.report_stat", "-e", "recipients.report_done_time",
        "-e", "report_stat", str(path)))))
    assert lines[0] == ["request_frame", "recipients.Msg_Id", "recipients.report_stat",
                        "recipients.report_done_time", "report_stat"]
    assert [str(got["submit"]), f"{first};{first + 1};{first + 2}", "DELIVRD;;EXPIRED",
            "2611241020;;2611241030", "DELIVRD"] in lines


def test_recipients_is_named_by_its_fields_in_csv() -> None:
    basic = str(Path(__file__).resolve().parents[1] / "samples" / "cmpp-basic.pcap")
    res = run_cli("-T", "transactions", "-e", "recipients", basic)
    assert res.returncode == 2 and "recipients.Msg_Id" in res.stderr
    res = run_cli("-T", "transactions", "-e", "recipients.Stat", basic)
    assert res.returncode == 2 and "not a transactions column" in res.stderr


def test_wire_text_of_recipients_is_inert_in_csv(tmp_path: Path) -> None:
    v = V3
    b = Builder()
    b.login(v)
    sneaky = [b"=HYPERLINK(1)", b"8613800000002"]
    b.add(1, True, encode_pdu(C.CMPP_SUBMIT, 2, {
        "Pk_total": 1, "Pk_number": 1, "Registered_Delivery": 1, "Msg_Fmt": 0,
        "Msg_src": b"901234", "Src_Id": b"10657", "Dest_terminal_Id": sneaky,
        "Msg_Content": b"hi"}, v))
    b.add(1.01, False, submit_resp_pdu(v, 2, msg_id(5)))
    b.add(2, False, report_pdu(v, 3, msg_id(5), b"\x1b[2J+1", dest=sneaky[0]))
    b.add(3, False, report_pdu(v, 4, msg_id(5) + 1, b"@SUM(1)", dest=sneaky[1]))
    path = b.write(tmp_path / "sneaky.pcap")
    out = cli("-T", "transactions", "-e", "recipients.Dest_terminal_Id", "-e", "report_stat",
              "-e", "recipients.report_stat", str(path))
    assert "\x1b" not in out
    lines = list(csv.reader(io.StringIO(out)))
    row = next(r for r in lines[1:] if r[0].startswith("'"))
    assert row[0] == "'=HYPERLINK(1);8613800000002"  # a spreadsheet shows it as text
    assert not row[1].startswith(("=", "+", "-", "@", "\x1b"))
    assert "[2J+1" in row[1] and "@SUM(1)" in row[2]
    # JSON keeps the text, escaped.
    submit = next(r for r in jq('select(.command == "CMPP_SUBMIT")', cli(
        "-T", "transactions", str(path))))
    assert [r["report_stat"] for r in submit["recipients"]] == ["\x1b[2J+1", "@SUM(1)"]


# -- a long SUBMIT in 3 parts: part 2 refused, 2 of 3 reports DELIVRD ---------------------------

TEXT = "您的订单已发货，预计明天送达。如有疑问请致电客服热线，回复TD退订。" * 3


def long_part(v: Version, seq: int, part: int, *, ref: int = 7, total: int = 3,
              dest: bytes = b"8613800138000", registered: int = 1) -> bytes:
    data = TEXT.encode("utf-16-be")
    size = -(-len(data) // total)
    return encode_pdu(C.CMPP_SUBMIT, seq, {
        "Pk_total": total, "Pk_number": part, "Registered_Delivery": registered,
        "TP_udhi": 1, "Msg_Fmt": 8, "Msg_src": b"901234", "Src_Id": b"106571234",
        "Dest_terminal_Id": [dest],
        "Msg_Content": bytes([5, 0, 3, ref, total, part])
        + data[(part - 1) * size:part * size]}, v)


def long_capture(tmp_path: Path, v: Version, last_report: int) -> tuple[Path, dict[int, int]]:
    """Parts 1-3 answered Result 0, 8, 0; reports DELIVRD for parts 1 and 3, the one of part
    ``last_report`` last. Returns {part: its SUBMIT's frame}."""
    b = Builder()
    b.login(v)
    frames = {}
    for part, result in ((1, 0), (2, 8), (3, 0)):
        frames[part] = b.add(10 + part, True, long_part(v, 1 + part, part))
        b.add(10.02 + part, False, submit_resp_pdu(v, 1 + part, msg_id(200 + part), result))
    other = 4 - last_report
    b.add(20, False, report_pdu(v, 11, msg_id(200 + other)))
    b.add(25, False, report_pdu(v, 12, msg_id(200 + last_report)))
    b.add(26, True, submit_pdu(v, 9, registered=0))  # an ordinary SUBMIT after it
    b.add(26.01, False, submit_resp_pdu(v, 9, msg_id(300)))
    return b.write(tmp_path / "long.pcap"), frames


@VERSIONS
@pytest.mark.parametrize("last_report", [1, 3])
def test_a_long_message_rolls_up_its_parts_results_and_reports(
        tmp_path: Path, v: Version, last_report: int) -> None:
    path, frames = long_capture(tmp_path, v, last_report)
    rows = rows_of(path)
    parts = {r["long_part"]: r for r in rows if r["long_total"] is not None}
    assert sorted(parts) == [1, 2, 3]
    for part, row in parts.items():
        assert (row["long_reference"], row["long_total"]) == (7, 3)
        assert row["request_frame"] == frames[part]
    assert [parts[p]["result"] for p in (1, 2, 3)] == [0, 8, 0]
    assert [parts[p]["report_stat"] for p in (1, 2, 3)] == ["DELIVRD", None, "DELIVRD"]
    # The roll-up is on the part that completed the picture: the one whose report came last.
    outcome = {p: r["long_outcome"] for p, r in parts.items()}
    assert outcome == {p: ("3 parts, part 2 rejected with Result 8, 2 of 3 reports DELIVRD"
                           if p == last_report else None) for p in (1, 2, 3)}
    assert rows.index(parts[last_report]) == max(rows.index(r) for r in parts.values())
    # The same in jsonl through jq, and in Parquet through DuckDB.
    out = cli("-T", "transactions", str(path))
    assert jq("select(.long_outcome) | [.long_part, .long_outcome]", out) == [
        [last_report, outcome[last_report]]]
    cmppdissect.analyze(path).write_parquet(tmp_path / "pq")
    assert duckdb.sql(
        f"SELECT long_part, long_outcome FROM '{tmp_path}/pq/transactions.parquet' "
        "WHERE long_outcome IS NOT NULL").fetchall() == [(last_report, outcome[last_report])]


def test_the_roll_up_words() -> None:
    from cmppdissect.output.tables import _Part

    def part(n: int, result: int | None, stats: list[str | None], asked: bool = True) -> _Part:
        row: list[Any] = [None] * 40
        from cmppdissect.output import tables

        row[tables._LONG_PART], row[tables._RESULT] = n, result
        row[tables._RECIPIENTS] = [[None, None, None, s, None, None] for s in stats]
        row[tables._WIDTH + 1] = asked
        return _Part(row)

    assert long_outcome(2, [part(1, 0, [None]), part(2, 0, [None])]) == (
        "2 parts, all accepted, 0 of 2 reports")
    assert long_outcome(3, [part(1, 0, ["DELIVRD"]), part(2, None, [None]),
                            part(3, 0, ["EXPIRED"])]) == (
        "3 parts, part 2 unanswered, 1 of 3 reports DELIVRD, 1 EXPIRED")
    assert long_outcome(2, [part(2, 0, [None], asked=False)], forgotten=1) == (
        "2 parts, 1 part not known (a cap)")


def long_mo(v: Version, seq: int, part: int, *, ref: int = 5, total: int = 2) -> bytes:
    """Part ``part`` of a long mobile-originated DELIVER (a handset's long SMS to the SP)."""
    data = TEXT.encode("utf-16-be")
    size = -(-len(data) // total)
    return encode_pdu(C.CMPP_DELIVER, seq, {
        "Msg_Id": msg_id(600 + part), "Dest_Id": b"1065712345", "TP_udhi": 1, "Msg_Fmt": 8,
        "Src_terminal_Id": b"8613900000001", "Registered_Delivery": 0,
        "Msg_Content": bytes([5, 0, 3, ref, total, part])
        + data[(part - 1) * size:part * size]}, v)


def given_up_capture(tmp_path: Path, v: Version) -> Path:
    """Two long SUBMITs whose part 2 of 3 never came: the first given up past the long-SMS
    timeout (600 s) while a later PDU was read, the second at the end; and a long MO DELIVER
    in 2 parts, part 2 answered with Result 9, with a status report (no UDH) between."""
    b = Builder()
    b.login(v)
    for part, seq in ((1, 2), (3, 3)):
        b.add(10 + part, True, long_part(v, seq, part, ref=1, registered=0))
        b.add(10.01 + part, False, submit_resp_pdu(v, seq, msg_id(seq)))
    b.add(20, False, long_mo(v, 50, 1))
    b.add(20.01, True, encode_pdu(C.CMPP_DELIVER_RESP, 50, {"Msg_Id": msg_id(601),
                                                             "Result": 0}, v))
    b.add(21, False, report_pdu(v, 51, msg_id(2)))
    b.add(21.01, True, encode_pdu(C.CMPP_DELIVER_RESP, 51, {"Msg_Id": msg_id(2)}, v))
    b.add(22, False, long_mo(v, 52, 2))
    b.add(22.01, True, encode_pdu(C.CMPP_DELIVER_RESP, 52, {"Msg_Id": msg_id(602),
                                                             "Result": 9}, v))
    # 700 s later: a long SUBMIT's part 1 of 3 (reference 2), the timeout passing as it is read.
    b.add(720, True, long_part(v, 4, 1, ref=2, registered=0))
    b.add(720.01, False, submit_resp_pdu(v, 4, msg_id(4), 8))
    return b.write(tmp_path / "given-up.pcap")


@VERSIONS
def test_long_messages_given_up_and_long_deliver_roll_up(tmp_path: Path, v: Version) -> None:
    path = given_up_capture(tmp_path, v)
    rows = rows_of(path)
    outcome = {(r["command"], r["long_reference"], r["long_part"]): r["long_outcome"]
               for r in rows if r["long_total"] is not None}
    assert outcome == {
        # given up at the timeout, the roll-up on the part that completed last (part 3)
        ("CMPP_SUBMIT", 1, 1): None,
        ("CMPP_SUBMIT", 1, 3): "3 parts, part 2 never seen, all accepted",
        # given up at the end of the capture, its one part refused
        ("CMPP_SUBMIT", 2, 1): "3 parts, parts 2, 3 never seen, part 1 rejected with Result 8",
        # the long MO DELIVER: both parts came, part 2 refused by the SP
        ("CMPP_DELIVER", 5, 1): None,
        ("CMPP_DELIVER", 5, 2): "2 parts, part 2 rejected with Result 9",
    }
    # The status report between the MO parts is a DELIVER with no long message.
    report = next(r for r in rows if r["sequence_id"] == 51)
    assert report["long_total"] is None and report["result"] == 0
    # The engine's own findings agree: two long messages incomplete.
    analysis = cmppdissect.analyze(path)
    analysis.run()
    assert analysis.report()["long_sms"]["incomplete"] == 2
    # Streaming (rows let go as written) gives the same rows.
    streamed = list(cmppdissect.analyze(path, max_held_rows=1000).transaction_rows(
        release=True))
    assert sorted(streamed, key=order) == sorted(rows, key=order)


def messages_capture(path: Path, v: Version = V3) -> Path:
    """docs/diagnosis.md's example: a group send to 3 whose recipients 1 and 3 are
    reported, then a long message in 3 parts, part 2 refused with Result 8."""
    return messages_pdus(v).write(path)


def messages_pdus(v: Version = V3) -> Builder:
    """The PDUs of :func:`messages_capture`, to write or to add to."""
    b = Builder()
    b.login(v)
    first = msg_id(100)
    b.add(10, True, submit_pdu(v, 2, 20, dests=3))
    b.add(10.01, False, submit_resp_pdu(v, 2, first))
    for part, result in ((1, 0), (2, 8), (3, 0)):
        b.add(10 + part, True, long_part(v, 2 + part, part))
        b.add(10.02 + part, False, submit_resp_pdu(v, 2 + part, msg_id(200 + part), result))
    b.add(12.5, False, report_pdu(v, 7, first + 2, "EXPIRED", dest=dest_number(22),
                                  done_time="2611241030"))
    b.add(15, False, report_pdu(v, 8, first, dest=dest_number(20), done_time="2611241020"))
    b.add(16, False, report_pdu(v, 9, msg_id(201)))
    b.add(18, False, report_pdu(v, 10, msg_id(203)))
    return b


def test_the_docs_capture_reads_as_the_docs_say(tmp_path: Path) -> None:
    rows = rows_of(messages_capture(tmp_path / "diag-messages.pcap"))
    assert [r["long_outcome"] for r in rows if r["long_outcome"]] == [
        "3 parts, part 2 rejected with Result 8, 2 of 3 reports DELIVRD"]
    group = next(r for r in rows if r["sequence_id"] == 2)
    assert [r["report_stat"] for r in group["recipients"]] == ["DELIVRD", None, "EXPIRED"]


# -- streaming: the same rows as a store that keeps every row -----------------------------------

FILLER = 5000


def order(row: dict[str, Any]) -> tuple[int, int]:
    return row["request_frame"], row["sequence_id"]


def spread_capture(tmp_path: Path, v: Version) -> Path:
    """A long message (to 2 recipients) whose part 2 is answered, and its last part sent,
    only after thousands of PDUs; a group send among them."""
    b = Builder()
    b.login(v)
    two = b"8613800138000"
    b.add(1, True, long_part(v, 2, 1, ref=9, dest=two))
    b.add(1.01, False, submit_resp_pdu(v, 2, msg_id(401)))
    b.add(1.1, True, long_part(v, 3, 2, ref=9, dest=two))  # answered after the filler
    b.add(1.2, True, submit_pdu(v, 4, 30, dests=3))
    b.add(1.21, False, submit_resp_pdu(v, 4, msg_id(500)))
    t = 2.0
    for k in range(FILLER):
        t += 0.001
        b.add(t, True, bare_pdu(C.CMPP_ACTIVE_TEST, 10 + k, v))
        b.add(t, False, bare_pdu(C.CMPP_ACTIVE_TEST_RESP, 10 + k, v))
    b.add(t + 1, False, submit_resp_pdu(v, 3, msg_id(402), 8))
    b.add(t + 2, True, long_part(v, 20_000, 3, ref=9, dest=two))
    b.add(t + 2.01, False, submit_resp_pdu(v, 20_000, msg_id(403)))
    b.add(t + 3, False, report_pdu(v, 1, msg_id(501), dest=dest_number(31)))
    b.add(t + 4, False, report_pdu(v, 2, msg_id(403), "UNDELIV", dest=two))
    b.add(t + 5, False, report_pdu(v, 3, msg_id(401), dest=two))
    return b.write(tmp_path / "spread.pcap")


@VERSIONS
def test_rows_streamed_while_rows_go_are_those_of_the_whole_store(tmp_path: Path, v: Version
                                                                  ) -> None:
    path = spread_capture(tmp_path, v)
    whole = rows_of(path)
    analysis = cmppdissect.analyze(path, max_held_rows=1000)
    streamed = list(analysis.transaction_rows(release=True))
    assert analysis.store is not None and analysis.store.base > 0
    assert analysis.store.given_up == 1  # part 2 was written before its response came
    # The same rows; a row waiting for its response here (not in the store) completes in
    # another place among the others.
    assert sorted(streamed, key=order) == sorted(whole, key=order)
    assert streamed != whole
    rolled = [r for r in streamed if r["long_outcome"]]
    assert [(r["long_part"], r["long_outcome"]) for r in rolled] == [
        (1, "3 parts, part 2 rejected with Result 8, 1 of 3 reports DELIVRD, 1 UNDELIV")]
    group = next(r for r in streamed if r["sequence_id"] == 4)
    assert [r["report_stat"] for r in group["recipients"]] == [None, "DELIVRD", None]
    kept, went = tmp_path / "kept", tmp_path / "went"
    cmppdissect.analyze(path).write_parquet(kept)
    cmppdissect.analyze(path, max_held_rows=1000).write_parquet(went, release=True)
    import pyarrow.parquet as pq

    by_request = [("request_frame", "ascending"), ("sequence_id", "ascending")]
    assert pq.read_table(went / "transactions.parquet").sort_by(by_request).equals(
        pq.read_table(kept / "transactions.parquet").sort_by(by_request))


# -- the table's own caps, bounded at two sizes -------------------------------------------------

CAP = 100


def _built(path: Path) -> tuple[TableBuilder, list[dict[str, Any]], cmppdissect.Analysis]:
    analysis = cmppdissect.analyze(path)
    builder = TableBuilder(pdus=False, max_waiting=CAP)
    rows: list[dict[str, Any]] = []
    for table, batch in analysis._built(builder, release=True):
        if table == "transactions":
            rows += batch.to_pylist()
    return builder, rows, analysis


def unreported_capture(tmp_path: Path, n: int) -> Path:
    """``n`` group SUBMITs to 2 accepted with Registered_Delivery = 1, never reported."""
    b = Builder()
    b.login(V3)
    for k in range(n):
        b.add(1 + k * 0.01, True, submit_pdu(V3, 2 + k, 10 * k, dests=2))
        b.add(1.001 + k * 0.01, False, submit_resp_pdu(V3, 2 + k, msg_id(10 * k)))
    return b.write(tmp_path / f"unreported-{n}.pcap")


@pytest.mark.parametrize("n", [300, 1200])
def test_recipients_awaiting_reports_are_capped_with_a_finding_and_a_marker(
        tmp_path: Path, n: int) -> None:
    builder, rows, analysis = _built(unreported_capture(tmp_path, n))
    submits = [r for r in rows if r["command"] == "CMPP_SUBMIT"]
    assert len(submits) == n
    # At most CAP recipients (50 rows of 2) wait, plus what one piece of rows brings: the
    # same at both sizes.
    assert CAP <= builder.held <= CAP + 2 * 64
    assert sum(r["reports_given_up"] is True for r in submits) == n - CAP // 2
    assert sum(r["reports_given_up"] is False for r in submits) == CAP // 2
    caps = [e for e in analysis.expert if e.code == "cap-transaction-reports"]
    assert len(caps) == 1 and f"{n - CAP // 2} rows" in caps[0].message


def incomplete_long_capture(tmp_path: Path, n: int) -> Path:
    """``n`` long messages of which only part 1 of 2 was sent (each to its own number)."""
    b = Builder()
    b.login(V3)
    for k in range(n):
        b.add(1 + k * 0.01, True, long_part(V3, 2 + k, 1, ref=k % 256, total=2,
                                            dest=dest_number(k), registered=0))
        b.add(1.001 + k * 0.01, False, submit_resp_pdu(V3, 2 + k, msg_id(k)))
    # One message that does complete, in a later piece of rows: its part 1 was forgotten (the
    # cap).
    for k in range(PIECE_ROWS):
        b.add(50, True, bare_pdu(C.CMPP_ACTIVE_TEST, 10_000 + k, V3))
        b.add(50, False, bare_pdu(C.CMPP_ACTIVE_TEST_RESP, 10_000 + k, V3))
    b.add(100, True, long_part(V3, 9000, 2, ref=0, total=2, dest=dest_number(0), registered=0))
    b.add(100.01, False, submit_resp_pdu(V3, 9000, msg_id(9000)))
    return b.write(tmp_path / f"incomplete-{n}.pcap")


@pytest.mark.parametrize("n", [300, 1200])
def test_long_parts_awaiting_their_message_are_capped_with_a_finding(
        tmp_path: Path, n: int) -> None:
    builder, rows, analysis = _built(incomplete_long_capture(tmp_path, n))
    assert len([r for r in rows if r["long_total"] == 2]) == n + 1
    assert builder.held <= CAP + 64  # the same at both sizes
    assert builder.transactions.evicted_parts == n - CAP
    caps = [e for e in analysis.expert if e.code == "cap-transaction-long-parts"]
    assert len(caps) == 1 and f"{n - CAP} were written without it" in caps[0].message
    done = [r["long_outcome"] for r in rows if r["long_outcome"]]
    # The message that completed lost its part 1 to the cap; of those given up at the end
    # (part 2 never sent), the CAP whose part 1 still waited are rolled up.
    assert done.count("2 parts, 1 part not known (a cap)") == 1
    assert done.count("2 parts, part 2 never seen, all accepted") == CAP
    assert len(done) == CAP + 1
