"""The one-pass outputs (``-T``, ``-T transactions``, ``--parquet``) let written rows go.

What they write is the same as from a store that keeps every row; what the store holds is the
rows not written yet, so it does not grow with the capture (proved at two sizes four times
apart: the store's rows-held high-water mark, deterministic, and the peak RSS of the command
line, with a generous bound). A request that keeps rows waiting past ``max_held_rows`` is
written without its response, with a finding that says so; its late response, and a long SMS
whose first part was let go before the last came, are still written whole.
"""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import cmppdissect
from cmppdissect.output.records import dumps_line
from cmppdissect.output.writers import RecordWriter
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.version import Version
from tests.pcaputil import (
    Conversation,
    bare_pdu,
    connect_pdu,
    connect_resp_pdu,
    report_pdu,
    submit_pdu,
    submit_resp_pdu,
    write_pcap,
)

ROOT = Path(__file__).resolve().parents[1]
_SPEC = importlib.util.spec_from_file_location("gen_capture", ROOT / "bench" / "gen_capture.py")
assert _SPEC is not None and _SPEC.loader is not None
gen = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("gen_capture", gen)
_SPEC.loader.exec_module(gen)


def _lines(analysis: cmppdissect.Analysis, fmt: str, release: bool) -> list[str]:
    out = io.StringIO()
    spec: Any = fmt
    if fmt == "fields":
        from cmppdissect.output.lines import LineFormat

        spec = LineFormat("fields", fields=("frame", "request_frame", "response_frame",
                                            "latency_ms", "expert.code", "long_sms"))
    writer = RecordWriter(spec, out)
    writer.write_slices(analysis.slices(release=release))
    writer.close()
    return out.getvalue().splitlines()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stream") / "gen.pcap"
    gen.generate(path, frames=30_000, sessions=6)
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "text", "csv", "fields", "json"])
def test_records_written_while_rows_go_are_the_records_of_the_whole_store(
        generated: Path, fmt: str) -> None:
    kept = cmppdissect.analyze(generated, timeout_s=2)
    streamed = cmppdissect.analyze(generated, timeout_s=2)
    whole = _lines(kept, fmt, False)
    lines = _lines(streamed, fmt, True)
    assert streamed.store is not None and kept.store is not None
    assert streamed.store.base > 0  # rows did go ...
    assert streamed.store.held_peak < kept.store.count // 2  # ... and were not all held
    assert streamed.store.given_up == 0
    assert len(lines) == len(whole) > 20_000
    assert lines == whole


def test_transactions_and_parquet_written_while_rows_go_are_the_same(
        generated: Path, tmp_path: Path) -> None:
    rows = [dumps_line(r) for r in cmppdissect.analyze(generated, timeout_s=2)
            .transaction_rows()]
    streamed = cmppdissect.analyze(generated, timeout_s=2)
    assert [dumps_line(r) for r in streamed.transaction_rows(release=True)] == rows
    assert streamed.store is not None and streamed.store.base > 0
    kept = cmppdissect.analyze(generated, timeout_s=2)
    counts = kept.write_parquet(tmp_path / "kept")
    went = cmppdissect.analyze(generated, timeout_s=2)
    assert went.write_parquet(tmp_path / "went", release=True) == counts
    assert went.parquet_stats["held_rows_peak"] < kept.parquet_stats["held_rows_peak"] // 2
    for table in ("pdus", "transactions", "sessions"):
        assert (pq.read_table(tmp_path / "went" / f"{table}.parquet")
                .equals(pq.read_table(tmp_path / "kept" / f"{table}.parquet")))


def test_a_store_that_let_rows_go_refuses_to_count_them_again(generated: Path) -> None:
    analysis = cmppdissect.analyze(generated, timeout_s=2)
    for _ in analysis.slices(release=True):
        pass
    with pytest.raises(RuntimeError, match="let go"):
        analysis.matching_rows('command == "CMPP_SUBMIT"')


# -- a request that waits too long, a late response, a long SMS across a release ---------------

V = Version.V3_0
FILLER = 10_000  # ACTIVE_TEST exchanges between the waiting SUBMIT and its response
TEXT = "您好，这是一条很长的短信，分成两段发送。" * 4


def _long_part(seq: int, part: int) -> bytes:
    data = TEXT.encode("utf-16-be")
    half = len(data) // 2
    payload = data[:half] if part == 1 else data[half:]
    return encode_pdu(C.CMPP_SUBMIT, seq, {
        "Pk_total": 2, "Pk_number": part, "Registered_Delivery": 0, "TP_udhi": 1,
        "Msg_Fmt": 8, "Msg_src": b"901234", "Src_Id": b"106571234",
        "Dest_terminal_Id": [b"13800138000"],
        "Msg_Content": bytes([5, 0, 3, 7, 2, part]) + payload}, V)


def _waiting_capture(path: Path) -> Path:
    conv = Conversation()
    frames = conv.handshake()
    frames += conv.send(True, connect_pdu(V))
    frames += conv.send(False, connect_resp_pdu(V))
    frames += conv.send(True, _long_part(2, 1))
    frames += conv.send(False, submit_resp_pdu(V, 2, 4242))
    frames += conv.send(True, submit_pdu(V, 3))  # answered only after the filler
    for k in range(FILLER):
        frames += conv.send(True, bare_pdu(C.CMPP_ACTIVE_TEST, 10 + k, V))
        frames += conv.send(False, bare_pdu(C.CMPP_ACTIVE_TEST_RESP, 10 + k, V))
    frames += conv.send(False, submit_resp_pdu(V, 3, 777))
    frames += conv.send(True, _long_part(FILLER + 20, 2))
    frames += conv.send(False, submit_resp_pdu(V, FILLER + 20, 4243))
    frames += conv.send(False, report_pdu(V, 1, 777))
    frames += conv.send(True, encode_pdu(C.CMPP_DELIVER_RESP, 1, {"Msg_Id": 0, "Result": 0},
                                         V))
    frames += conv.close()
    write_pcap(path, frames)
    return path


def test_a_request_waiting_past_the_cap_is_written_without_its_response(tmp_path: Path) -> None:
    path = _waiting_capture(tmp_path / "waiting.pcap")
    whole = [json.loads(line) for line in _lines(cmppdissect.analyze(path), "jsonl", False)]
    analysis = cmppdissect.analyze(path, max_held_rows=3000)
    lines = [json.loads(line) for line in _lines(analysis, "jsonl", True)]
    store = analysis.store
    assert store is not None and store.given_up == 1 and store.base > 0
    assert store.held_peak < 2 * FILLER  # the filler was not all held for the SUBMIT
    assert len(lines) == len(whole) == 2 * FILLER + 10
    differ = [i for i, (a, b) in enumerate(zip(lines, whole, strict=True)) if a != b]
    assert len(differ) == 1
    submit, before = lines[differ[0]], whole[differ[0]]
    assert submit["command"] == "CMPP_SUBMIT" and submit["sequence_id"] == 3
    assert "response_frame" not in submit and "latency_ms" not in submit
    assert [e["code"] for e in submit["expert"]] == ["not-waited"]
    assert "3000 PDUs waited" in submit["expert"][0]["message"]
    assert before["response_frame"] > submit["frame"]  # what waiting would have written
    # Its response, written long after the SUBMIT's row went, still names it.
    response = next(d for d in lines if d["command"] == "CMPP_SUBMIT_RESP"
                    and d["sequence_id"] == 3)
    assert response["request_frame"] == submit["frame"]
    assert response["latency_ms"] == before["latency_ms"] > 0
    # The long SMS's first part went before its last came: the message is whole.
    done = [d for d in lines if "long_sms" in d]
    assert len(done) == 1 and done[0]["long_sms"]["text"] == TEXT
    assert done[0]["long_sms"]["frames"][0] < submit["frame"]
    # The cap is a finding of the capture too (the report and the summary list it).
    caps = [e for e in analysis.expert if e.code == "cap-held-rows"]
    assert len(caps) == 1 and "3000 PDUs" in caps[0].message
    report = analysis.report()
    assert {"severity": "warn", "code": "cap-held-rows", "count": 1} in report["expert_counts"]


def test_the_transactions_table_keeps_the_late_response_of_a_request_written_early(
        tmp_path: Path) -> None:
    path = _waiting_capture(tmp_path / "waiting.pcap")
    whole = list(cmppdissect.analyze(path).transaction_rows())
    analysis = cmppdissect.analyze(path, max_held_rows=3000)
    rows = list(analysis.transaction_rows(release=True))
    assert analysis.store is not None and analysis.store.given_up == 1
    # The table waits for the response by itself (holding the row's values, not the rows
    # behind it), then for the status report, as it does anyway: the same rows.
    assert rows == whole
    submit = next(r for r in rows if r["command"] == "CMPP_SUBMIT" and r["sequence_id"] == 3)
    assert submit["response_frame"] is not None and submit["report_stat"] == "DELIVRD"
    assert rows.index(submit) > FILLER


@pytest.mark.parametrize("connections", [3000, 12_000])
def test_endpoints_of_sessions_dropped_go_with_their_rows(tmp_path: Path,
                                                         connections: int) -> None:
    frames: list[bytes] = []
    for i in range(connections):
        conv = Conversation(client=(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 40000))
        frames += conv.handshake()
        frames += conv.send(True, bare_pdu(C.CMPP_ACTIVE_TEST, 1, V))
        frames += conv.send(False, bare_pdu(C.CMPP_ACTIVE_TEST_RESP, 1, V))
        frames += conv.close()
    path = write_pcap(tmp_path / "many.pcap", frames)
    analysis = cmppdissect.analyze(path, max_sessions=100)
    written = sum(len(sl) for sl in analysis.slices(release=True))
    store = analysis.store
    assert written == 2 * connections and store is not None and store.base > 0
    # The 100 sessions listed and those the rows held name: not one per connection ever seen.
    held = set(store.session[:store.count].tolist())
    assert len(store.endpoints) <= 100 + len(held) < connections // 2


def test_max_held_rows_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_held_rows"):
        cmppdissect.analyze(ROOT / "samples" / "cmpp-basic.pcap", max_held_rows=0)


# -- bounded at two sizes -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_sizes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("sizes")
    small, big = where / "small.pcap", where / "big.pcap"
    gen.generate(small, frames=25_000, sessions=6)
    gen.generate(big, frames=100_000, sessions=6)
    return small, big


def _held(path: Path, how: str, tmp: Path) -> int:
    analysis = cmppdissect.analyze(path, timeout_s=2)
    if how == "parquet":
        analysis.write_parquet(tmp / f"{path.stem}-pq", release=True)
        assert analysis.parquet_stats["max_buffered_rows"] <= 65_536 + 4096  # + a piece
        return analysis.parquet_stats["held_rows_peak"]
    if how == "transactions":
        for _ in analysis.transaction_rows(release=True):
            pass
    else:
        for _ in analysis.slices(release=True):
            pass
    assert analysis.store is not None
    return analysis.store.held_peak


@pytest.mark.parametrize("how", ["slices", "transactions", "parquet"])
def test_rows_held_do_not_grow_with_the_capture(two_sizes: tuple[Path, Path], how: str,
                                                tmp_path: Path) -> None:
    small, big = two_sizes
    held_small = _held(small, how, tmp_path)
    held_big = _held(big, how, tmp_path)
    pdus_big = cmppdissect.analyze(big).report(details=False)["pdus"]
    assert pdus_big > 80_000
    # Rows held: those behind the oldest request awaiting its response (2 s of traffic
    # here), in chunks of 4,096, plus a batch: the same at both sizes, a sliver of the big one.
    assert held_big <= held_small + 4096
    assert held_big < pdus_big // 4


def _peak_rss_kb(*args: str) -> int:
    """The peak RSS of ``cmppdissect ARGS`` in its own process (output thrown away)."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
             "stdout=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "cmppdissect",
                           *args], capture_output=True, text=True, timeout=300, check=True)
    return int(done.stdout.split()[-1])


def test_peak_rss_of_records_does_not_grow_with_the_capture(
        two_sizes: tuple[Path, Path]) -> None:
    small, big = two_sizes

    def peak(*args: str) -> list[int]:
        return [min(_peak_rss_kb(*args, "--timeout", "2", str(p)) for _ in range(2))
                for p in (small, big)]

    # What the statistics take (every run keeps them) grows a little with the capture (8
    # bytes per latency sample, the core's capped tables); what an output holds beyond them
    # must not. Four times the PDUs (22,000 -> 88,000): a store that kept every row held
    # 11.5 MB more for -T jsonl and 8.9 MB more for -T transactions; letting them go, under 1.
    # -T json kept every record's dict for the one array it printed at the end (1.2 GB for
    # 530,000 PDUs, and a live capture grew by 40 MB a second): now written as they come.
    stats = peak("--report", "json")
    for args in (["-T", "jsonl"], ["-T", "transactions"], ["-T", "json"]):
        sizes = peak(*args)
        beyond = [size - base for size, base in zip(sizes, stats, strict=True)]
        assert beyond[1] - beyond[0] < 6_000, (args, sizes, stats)
        # (--parquet holds a row group of 65,536 rows per table: its held rows and row
        # groups are checked above, by count.)


@pytest.mark.parametrize("keep_raw", [0, 1, 8])
def test_blobs_drop_whole_chunks_and_number_the_rest_from_zero(keep_raw: int) -> None:
    """Dropping the first chunks (deflated, kept raw, or being deflated) leaves the other rows'
    bytes whole under their new numbers, and the bytes held raw counted right."""
    import numpy as np

    from cmppdissect.store.blobs import ChunkedBlobs

    items = [bytes([i]) * (i % 7) + b"\0" * 30 for i in range(40)]
    lengths = np.array([len(i) for i in items], dtype=np.uint16)
    blobs = ChunkedBlobs(per_chunk=4, cache_chunks=1, keep_raw=keep_raw, max_pending=1)
    blobs.extend(b"".join(items[:22]), lengths[:22])
    assert blobs.droppable(3) == 0 and blobs.droppable(9) == 8 and blobs.droppable(22) == 20
    blobs.get(1, lengths)  # a chunk in the cache, numbered as before the drop
    blobs.drop(8)
    with pytest.raises(ValueError, match="does not start a chunk"):
        blobs.drop(3)
    rest, rest_lengths = items[8:], lengths[8:]
    blobs.extend(b"".join(rest[14:]), rest_lengths[14:])  # rows 22.. of the capture
    assert len(blobs) == len(rest) == 32
    assert [blobs.get(i, rest_lengths) for i in range(len(rest))] == rest
    assert blobs.range_bytes(0, 32, rest_lengths) == b"".join(rest)
    blobs.drop(blobs.droppable(30))
    assert blobs.get(len(blobs) - 1, lengths[-len(blobs):]) == items[-1]
    blobs.settle()
    assert blobs.held_raw == len(blobs._open)  # sealed chunks all deflated, none counted twice
