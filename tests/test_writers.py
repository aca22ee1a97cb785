"""The -T writers: records made by worker processes are the records made in process.

On a big input the CLI hands slices of the store to worker processes (one per core but the main
process's, which formats slices too) to make the records; the lines must be byte for byte
those of the in-process path, in the same order, for every line format, with a display filter
and a count limit too.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

import cmppdissect
from cmppdissect.output.writers import RecordWriter, workers_for

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The irregular capture of the bench suite (retransmissions, gaps, mid-stream...)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from suite import build_suite

    return build_suite(tmp_path_factory.mktemp("suite"), frames=12_000, only="irregular")[
        "irregular"]


def lines(path: Path, fmt: str, workers: int, expression: str | None = None,
          limit: int | None = None) -> bytes:
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    writer = RecordWriter(fmt, out, workers=workers)
    try:
        writer.write_slices(cmppdissect.analyze(path).slices(), expression=expression,
                            limit=limit)
    finally:
        writer.shutdown()
    writer.close()
    return out.buffer.getvalue()


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "text"])
def test_workers_write_what_the_process_writes(capture: Path, fmt: str) -> None:
    alone = lines(capture, fmt, 0)
    assert alone.count(b"\n") > 9_000
    assert lines(capture, fmt, 1) == alone  # the main process formats some slices itself
    assert lines(capture, fmt, 2) == alone


def test_workers_with_a_filter(capture: Path) -> None:
    expression = 'command == "CMPP_DELIVER" and report.Stat == "DELIVRD"'
    alone = lines(capture, "jsonl", 0, expression)
    assert lines(capture, "jsonl", 2, expression) == alone
    records = [json.loads(line) for line in alone.splitlines()]
    assert len(records) > 100
    assert all(r["fields"]["report"]["Stat"] == "DELIVRD" for r in records)
    assert [r["frame"] for r in records] == sorted(r["frame"] for r in records)


def test_a_limit_keeps_the_first_matches(capture: Path) -> None:
    expression = 'command == "CMPP_DELIVER" and report.Stat == "DELIVRD"'
    every = lines(capture, "jsonl", 0, expression).splitlines(keepends=True)
    for workers in (0, 2):
        assert lines(capture, "jsonl", workers, expression, limit=25) == b"".join(every[:25])


@pytest.mark.parametrize("rows", [1_000, 8_000])
def test_formatting_a_slice_keeps_no_line_object_alive(capture: Path, rows: int) -> None:
    """An encoder's buffer can be many times its line (orjson's is 4 KiB): a slice formats
    into its output and a bounded overhead, not one buffer per record."""
    import tracemalloc

    from cmppdissect.output.writers import format_slice
    from cmppdissect.store.records import row_slice

    analysis = cmppdissect.analyze(capture)
    for _ in analysis.slices():  # pieces of at most 4,096 rows: one of ``rows`` is made here
        pass
    assert analysis.store is not None and analysis.store.count >= rows
    part = row_slice(analysis.store, 0, rows)
    tracemalloc.start()
    try:
        data, count = format_slice(part, "jsonl")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == rows == data.count(b"\n")
    assert peak - 2 * len(data) < 3 << 20  # the output (and its join), plus ~1 MiB of lines


def test_workers_only_for_big_inputs() -> None:
    assert workers_for(None) == 0 and workers_for(1 << 20) == 0
    assert workers_for(1 << 30) in range(0, 1024)  # one per core but this one's
