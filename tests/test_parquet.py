"""``--parquet DIR`` and ``Analysis.to_arrow()``/``to_pandas()``: the three tables on real
captures, read back by DuckDB and pandas, against the report and the ``-T jsonl`` records."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cmppdissect
from cmppdissect.output.tables import SESSION_SCHEMA, TRANSACTION_SCHEMA, pdu_schema
from cmppdissect.protocol.commands import CommandId
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.layouts import LAYOUTS, REPORT_LAYOUTS, Kind
from cmppdissect.protocol.version import Version
from cmppdissect.store.schema import HEADER_KEYS, flat_columns, flat_plan
from tests.pcaputil import (
    Conversation,
    connect_pdu,
    connect_resp_pdu,
    report_pdu,
    run_cli,
    submit_resp_pdu,
    write_pcap,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted(p for p in (ROOT / "samples").iterdir() if p.suffix in (".pcap", ".pcapng"))
BIG_ID = 13558350566173507684  # above 2**53: a double would make it ...508000
HOSTILE = "\x1b[2J\x1b]0;pwned\x07=HYPERLINK(\"x\")\r\n\u202e"
CHINESE = "您的验证码是 482913，5分钟内有效"


def _q(sql: str) -> list[tuple[Any, ...]]:
    return duckdb.sql(sql).fetchall()  # type: ignore[no-any-return]


def _expected_type(kind: Kind, size: int) -> pa.DataType:
    """What a field of ``kind`` and ``size`` must be in Arrow (stated apart from the code)."""
    if kind is Kind.UINT:
        return {1: pa.uint8(), 2: pa.uint16(), 4: pa.uint32(), 8: pa.uint64()}[size]
    if kind is Kind.INT:
        return pa.int32()
    if kind is Kind.STR:
        return pa.string()
    if kind is Kind.STR_ARRAY:
        return pa.list_(pa.string())
    return pa.binary()


def test_every_field_of_every_layout_has_a_column_of_its_type() -> None:
    schema = pdu_schema()
    names = [f.name for f in schema]
    assert len({n.lower() for n in names}) == len(names)  # DuckDB folds case
    assert names[:len(HEADER_KEYS)] == list(HEADER_KEYS)
    columns = flat_columns()
    walked = 0
    for layouts, report in ((list(LAYOUTS.values()), False), (list(REPORT_LAYOUTS), True)):
        for layout in layouts:
            plan = {name: column for name, column, _raw in flat_plan(layout, report)}
            for f in layout.fields:
                column = columns[plan[f.name]]
                assert column.field.lower() == f.name.lower() and column.kind is f.kind
                have = schema.field(column.name).type
                want = _expected_type(f.kind, f.size)
                if f.kind is Kind.UINT:  # the widest of the versions: 1 byte in 2.0, 4 in 3.0
                    assert pa.types.is_unsigned_integer(have)
                    assert have.bit_width >= want.bit_width, (layout.name, f.name)
                else:
                    assert have == want, (layout.name, f.name, have)
                walked += 1
    assert walked > 300
    assert schema.field("Msg_Id").type == pa.uint64()
    assert schema.field("report_Stat").type == pa.string()
    assert schema.field("Result").type == pa.uint32()  # 1 byte in 2.0, 4 in 3.0


def _parquet(capture: Path, out: Path, *args: str) -> Path:
    done = run_cli("--parquet", str(out), *args, str(capture))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    return out


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.name for p in SAMPLES])
def test_row_counts_by_duckdb_equal_the_report(sample: Path, tmp_path: Path) -> None:
    analysis = cmppdissect.analyze(sample)
    written = analysis.write_parquet(tmp_path)
    report = analysis.report()
    # A request resent while in flight is part of the first send's transaction.
    requests = sum(c["requests"] - c["retransmitted"] for c in report["commands"].values())
    counted = {name: _q(f"SELECT count(*) FROM '{tmp_path}/{name}.parquet'")[0][0]
               for name in ("pdus", "transactions", "sessions")}
    assert counted == written == {"pdus": report["pdus"], "transactions": requests,
                                  "sessions": len(report["sessions"])}
    assert pq.read_schema(tmp_path / "pdus.parquet").equals(pdu_schema())
    if report["pdus"]:
        answered = _q(f"SELECT count(*) FROM '{tmp_path}/transactions.parquet' "
                      "WHERE response_frame IS NOT NULL")[0][0]
        assert answered == sum(c["paired"] for c in report["commands"].values())


def _rich_capture(path: Path) -> Path:
    """One CMPP 3.0 session: a SUBMIT in Chinese UCS-2 and one with hostile text, both with
    reports, the first's Msg_Id above 2**53."""
    v = Version.V3_0
    c = Conversation()

    def submit(seq: int, text: str) -> bytes:
        return encode_pdu(CommandId.CMPP_SUBMIT, seq, {
            "Pk_total": 1, "Pk_number": 1, "Registered_Delivery": 1, "Service_Id": "MVERIFY",
            "Msg_Fmt": 8, "Msg_src": "901234", "FeeType": "01", "FeeCode": "000000",
            "Src_Id": "1065712345", "Dest_terminal_Id": [b"8613800138000"],
            "Msg_Content": text.encode("utf-16-be")}, v)

    frames = [*c.handshake(), *c.send(True, connect_pdu(v)),
              *c.send(False, connect_resp_pdu(v)),
              *c.send(True, submit(2, CHINESE)), *c.send(False, submit_resp_pdu(v, 2, BIG_ID)),
              *c.send(True, submit(3, HOSTILE)), *c.send(False, submit_resp_pdu(v, 3, 77)),
              *c.send(False, report_pdu(v, 9, BIG_ID, "DELIVRD")),
              *c.send(False, report_pdu(v, 10, 77, "EXPIRED")), *c.close()]
    write_pcap(path, frames)
    return path


def _records(capture: Path) -> list[dict[str, Any]]:
    done = run_cli("-T", "jsonl", str(capture))
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def _same(kind: Kind, shown: Any, stored: Any) -> bool:
    """A ``-T jsonl`` value and the Parquet one are the same value."""
    if kind in (Kind.BIN, Kind.CONTENT):
        return bool(shown == stored.hex())
    if kind is Kind.UINT and isinstance(shown, str):  # a 64-bit id: a decimal string in JSON
        return int(shown) == stored
    return bool(shown == stored)


@pytest.mark.parametrize("name", ["rich", "cmpp-basic.pcap", "cmpp20-sp-session.pcapng",
                                  "ismg-fwd-gns.pcap", "misbehaving-gateway.pcap"])
def test_every_value_equals_the_jsonl_record(name: str, tmp_path: Path) -> None:
    capture = (_rich_capture(tmp_path / "rich.pcap") if name == "rich"
               else ROOT / "samples" / name)
    out = _parquet(capture, tmp_path / "out")
    rows = pq.read_table(out / "pdus.parquet").to_pylist()
    records = _records(capture)
    assert len(rows) == len(records) > 0
    compared = 0
    for rec, row in zip(records, rows, strict=True):
        for key in ("frame", "session", "src", "dst", "version", "command", "command_id",
                    "sequence_id", "total_length", "request_frame", "response_frame"):
            assert row[key] == rec.get(key), (key, rec["frame"])
        assert row["time"].timestamp() == pytest.approx(rec["time"], abs=1e-6)
        assert row["latency_ms"] == pytest.approx(rec.get("latency_ms"))
        assert row["expert"] == (rec["expert"] or None)
        fields = rec["fields"]
        assert row["text"] == fields.get("text")
        if rec["version"] is None or (rec["command_id"], Version(rec["version"])) not in LAYOUTS:
            continue
        layout = LAYOUTS[(rec["command_id"], Version(rec["version"]))]
        columns = flat_columns()
        for field, column, _raw in flat_plan(layout):
            shown = fields.get(field)
            stored = row[columns[column].name]
            assert (shown is None) == (stored is None), (field, rec["frame"])
            if shown is not None:
                assert _same(layout.field(field).kind, shown, stored), (field, rec["frame"])
                compared += 1
        for key, value in (fields.get("report") or {}).items():
            kind = next(L.field(key).kind for L in REPORT_LAYOUTS
                        if key in [f.name for f in L.fields])
            assert _same(kind, value, row[f"report_{key}"]), key
            compared += 1
    assert compared > 20
    if name == "rich":
        submits = [r for r in rows if r["command"] == "CMPP_SUBMIT"]
        assert [r["text"] for r in submits] == [CHINESE, HOSTILE]  # hostile text stays data
        resp = next(r for r in rows if r["command"] == "CMPP_SUBMIT_RESP")
        assert resp["Msg_Id"] == BIG_ID  # exact: uint64, never a double
        assert _q(f"SELECT Msg_Id FROM '{out}/pdus.parquet' WHERE command = 'CMPP_SUBMIT_RESP'"
                  " ORDER BY frame LIMIT 1") == [(BIG_ID,)]
        assert _q(f"SELECT report_Msg_Id, report_Stat FROM '{out}/pdus.parquet' "
                  "WHERE report_Stat IS NOT NULL ORDER BY frame") == [(BIG_ID, "DELIVRD"),
                                                                       (77, "EXPIRED")]


@pytest.mark.parametrize("name", ["rich", "cmpp-basic.pcap", "cmpp30-sp-session.pcap"])
def test_submit_transactions_carry_the_report_stat_and_delay(name: str, tmp_path: Path) -> None:
    capture = (_rich_capture(tmp_path / "rich.pcap") if name == "rich"
               else ROOT / "samples" / name)
    out = _parquet(capture, tmp_path / "out")
    by_frame = {r["frame"]: r for r in _records(capture)}
    txs = _q(f"SELECT request_frame, response_frame, result, Msg_Id, report_frame, report_stat,"
             f" report_delay_ms, latency_ms FROM '{out}/transactions.parquet' "
             "WHERE command = 'CMPP_SUBMIT' ORDER BY request_frame")
    reported = [t for t in txs if t[4] is not None]
    assert reported
    for request, response, result, msg_id, report, stat, delay, latency in txs:
        sent = by_frame[request]
        assert sent.get("response_frame") == response
        if response is None:
            assert result is None and report is None
            continue
        answer = by_frame[response]
        assert result == answer["fields"]["Result"] and msg_id == int(answer["fields"]["Msg_Id"])
        assert latency == pytest.approx(answer["latency_ms"])
        if report is None:
            continue
        rec = by_frame[report]
        assert rec["fields"]["report"]["Stat"] == stat
        # One Msg_Id per recipient, consecutive: the first report may be for any of them.
        recipients = sent["fields"]["DestUsr_tl"]
        assert msg_id <= int(rec["fields"]["report"]["Msg_Id"]) < msg_id + recipients
        assert any(e["code"] == "report-for" and str(request) in e["message"]
                   for e in rec["expert"])
        assert delay == pytest.approx((rec["time"] - sent["time"]) * 1000, abs=1e-3)
    if name == "rich":
        assert [(t[3], t[5]) for t in txs] == [(BIG_ID, "DELIVRD"), (77, "EXPIRED")]


def test_display_filter_keeps_its_pdus_only(tmp_path: Path) -> None:
    sample = ROOT / "samples" / "cmpp-basic.pcap"
    out = _parquet(sample, tmp_path / "out", "-Y", 'command == "CMPP_SUBMIT"')
    kept = _q(f"SELECT DISTINCT command FROM '{out}/pdus.parquet'")
    shown = [r for r in _records(sample) if r["command"] == "CMPP_SUBMIT"]
    assert kept == [("CMPP_SUBMIT",)]
    assert [r[0] for r in _q(f"SELECT frame FROM '{out}/pdus.parquet' ORDER BY frame")] == [
        r["frame"] for r in shown]
    report = cmppdissect.analyze(sample).report()
    assert _q(f"SELECT count(*) FROM '{out}/transactions.parquet'")[0][0] == sum(
        c["requests"] - c["retransmitted"] for c in report["commands"].values())  # -Y: PDUs


def test_to_arrow_and_to_pandas_equal_the_files(tmp_path: Path) -> None:
    capture = _rich_capture(tmp_path / "rich.pcap")
    cmppdissect.analyze(capture).write_parquet(tmp_path / "out")
    streamed = cmppdissect.analyze(capture)
    after = cmppdissect.analyze(capture)
    assert len(list(after.pdus())) == 8  # read first: the tables come from the store
    for name, schema in (("pdus", pdu_schema()), ("transactions", TRANSACTION_SCHEMA),
                         ("sessions", SESSION_SCHEMA)):
        on_disk = pq.read_table(tmp_path / "out" / f"{name}.parquet")
        assert on_disk.schema.equals(schema)
        assert streamed.to_arrow(name).equals(on_disk), name
        assert after.to_arrow(name).equals(on_disk), name
    frame = streamed.to_pandas("pdus")
    assert str(frame["Msg_Id"].dtype) == "UInt64"
    assert int(frame.loc[frame["command"] == "CMPP_SUBMIT_RESP", "Msg_Id"].iloc[0]) == BIG_ID
    assert list(frame.columns) == pdu_schema().names
    txs = streamed.to_pandas("transactions")
    assert txs.loc[txs["command"] == "CMPP_SUBMIT", "report_stat"].tolist() == ["DELIVRD",
                                                                                "EXPIRED"]
    with pytest.raises(ValueError, match="no table 'frames'"):
        streamed.to_arrow("frames")


def test_transactions_table_equals_the_api_transactions() -> None:
    sample = ROOT / "samples" / "unanswered.pcap"
    txs = list(cmppdissect.analyze(sample).transactions())
    table = cmppdissect.analyze(sample).to_arrow("transactions").to_pylist()
    table.sort(key=lambda r: r["request_frame"])
    assert len(table) == len(txs) > 0
    assert any(t.response is None for t in txs)
    for mine, t in zip(table, txs, strict=True):
        resp = t.response
        assert (mine["session"], mine["command"], mine["sequence_id"], mine["request_frame"]) == (
            t.request.session, t.request.command, t.request.pdu.Sequence_Id, t.request.frame)
        assert mine["response_frame"] == (resp.frame if resp else None)
        assert (mine["latency_ms"], mine["result"]) == (t.latency_ms, t.result)
        assert mine["request_time"].timestamp() == pytest.approx(t.request.ts_ns / 1e9)


def test_to_pandas_without_pandas_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas raises ImportError
    analysis = cmppdissect.analyze(ROOT / "samples" / "cmpp-basic.pcap")
    with pytest.raises(ImportError, match="pip install pandas"):
        analysis.to_pandas()


def test_short_reprs() -> None:
    analysis = cmppdissect.analyze(ROOT / "samples" / "cmpp-basic.pcap")
    assert repr(analysis).endswith("cmpp-basic.pcap': not read, 0 PDUs, 0 sessions>")
    sessions = analysis.sessions
    assert repr(analysis).endswith("done, 102 PDUs, 2 sessions>")
    text = repr(sessions[0])
    assert "\n" not in text and len(text) < 200
    assert text == ("<Session 0 192.0.2.10:40001 -> 198.51.100.7:7890 CMPP 2.0 sp='901234': "
                    "51 PDUs, 1 errors, 1 unanswered, fin>")


def test_unwritable_directory_is_one_line_and_non_zero(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = run_cli("--parquet", str(blocker / "sub"), str(ROOT / "samples" / "cmpp-basic.pcap"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"cmppdissect: --parquet {blocker / 'sub'}: ")
    assert done.stdout == ""


_SPEC = importlib.util.spec_from_file_location("gen_capture", ROOT / "bench" / "gen_capture.py")
assert _SPEC is not None and _SPEC.loader is not None
gen = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("gen_capture", gen)
_SPEC.loader.exec_module(gen)


def _write_measured(capture: Path, out: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Write the tables with row groups of 1,000 rows: rows written, and what was held."""
    analysis = cmppdissect.analyze(capture)
    return analysis.write_parquet(out, row_group_rows=1000), analysis.parquet_stats


@pytest.mark.slow
def test_memory_stays_bounded_at_two_capture_sizes(tmp_path: Path) -> None:
    """What the Parquet layer buffers (rows for a row group, Arrow's pool) is the same at 4x
    the capture: a row group and a piece. (SUBMITs waiting for a report are bounded by
    TableBuilder's max_waiting cap, not by this test.)"""
    from cmppdissect.api import PIECE_ROWS

    sizes = {}
    for frames in (8000, 32000):
        capture = tmp_path / f"gen{frames}.pcap"
        gen.generate(capture, frames=frames, seed=5, sessions=4)
        sizes[frames] = _write_measured(capture, tmp_path / f"out{frames}")
    (small, small_stats), (big, big_stats) = sizes[8000], sizes[32000]
    assert big["pdus"] > 3.5 * small["pdus"] and small["pdus"] > 1000 + PIECE_ROWS
    for stats in (small_stats, big_stats):
        assert stats["max_buffered_rows"] <= 1000 + PIECE_ROWS
    assert big_stats["max_arrow_bytes"] < 2 * small_stats["max_arrow_bytes"]


@pytest.mark.parametrize("display_filter", [None, 'command == "CMPP_SUBMIT_RESP"'])
def test_the_pdu_rows_of_some_frames_are_those_rows_of_the_whole_table(
        display_filter: str | None) -> None:
    """``table_batches(frames=...)`` (a share of a host's files under ``analyze --dask``):
    the PDU table's rows of the frames kept, each the whole table's row, with or without a
    filter; no transactions or sessions without ``transactions``. Over bytes, no file."""
    import io

    data = (ROOT / "samples" / "misbehaving-gateway.pcap").read_bytes()
    whole = cmppdissect.analyze(io.BytesIO(data)).tables()["pdus"]
    frames = whole.column("frame").to_numpy()
    lo, hi = int(frames[len(frames) // 3]), int(frames[2 * len(frames) // 3])
    got = list(cmppdissect.analyze(io.BytesIO(data)).table_batches(
        display_filter, transactions=False, frames=lambda f: (f >= lo) & (f < hi)))
    assert {table for table, _ in got} == {"pdus"}
    rows = pa.Table.from_batches([batch for _, batch in got])
    keep = (frames >= lo) & (frames < hi)
    if display_filter is not None:
        keep &= (whole.column("command").to_numpy(zero_copy_only=False)
                 == "CMPP_SUBMIT_RESP")
    assert 0 < rows.num_rows < len(frames)
    assert rows.equals(whole.filter(pa.array(keep)))
