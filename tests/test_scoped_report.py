"""Statistics over a scope (a display filter's rows, one session's) come from
:func:`cmppdissect.output.scoped.rows_report`, which counts from the store's columns and the
core's light fields. Over every row of a capture it must give the report's numbers exactly
(the compiled core's counters): proven on every sample and on the irregular benchmark suite.
Over a session it must give the per-session table of the report; over a filter, what the
filter's rows hold."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cmppdissect.api import Analysis, analyze
from cmppdissect.output.scoped import rows_report
from cmppdissect.query.dfilter import compile_filter
from cmppdissect.store import RecordView

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "samples").glob("*.pcap*"))
SUITE = ("clean", "irregular", "jitter", "loopback", "ipv6", "multi-if", "mixed-versions")


def indexed(path: Path) -> Analysis:
    analysis = analyze(path)
    analysis.start(keep_rows=True)
    for chunk in analysis.source.chunks():
        analysis.feed(chunk)
    analysis.finish()
    return analysis


def same_as_report(analysis: Analysis) -> None:
    store = analysis.store
    assert store is not None
    full = analysis.report(details=False)
    mine = rows_report(store, np.arange(store.count))
    assert mine is not None
    assert mine["pdus"] == full["pdus"]
    assert mine["commands"] == full["commands"]
    assert mine["results"] == full["results"]
    assert mine["reports"] == full["reports"]
    assert mine["over_time"] == full["over_time"]


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_every_row_gives_the_reports_numbers(path: Path) -> None:
    same_as_report(indexed(path))


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    sys.path.insert(0, str(ROOT / "bench"))
    from suite import build_suite

    return build_suite(tmp_path_factory.mktemp("suite"), frames=20_000, seed=1)


@pytest.mark.parametrize("name", SUITE)
def test_every_row_of_the_irregular_suite_gives_the_reports_numbers(
        suite: dict[str, Path], name: str) -> None:
    same_as_report(indexed(suite[name]))


def test_a_sessions_rows_give_its_table_in_the_report() -> None:
    analysis = indexed(ROOT / "samples" / "cmpp-basic.pcap")
    store = analysis.store
    assert store is not None
    sessions = analysis.report()["sessions"]
    assert len(sessions) == 2
    for session in sessions:
        mine = rows_report(store, store.session_rows(session["id"]))
        assert mine is not None
        assert mine["pdus"] == session["pdus"]
        assert mine["commands"] == session["commands"]
        assert mine["results"] == session["results"]


def test_a_filters_rows_count_only_what_it_kept() -> None:
    analysis = indexed(ROOT / "samples" / "cmpp-basic.pcap")
    store = analysis.store
    assert store is not None
    test = compile_filter('command == "SUBMIT_RESP" and session == 1')
    rows = np.array([r for r in range(store.count) if test(RecordView(store, r))])
    mine = rows_report(store, rows)
    assert mine is not None
    assert mine["pdus"] == len(rows) > 0
    assert list(mine["commands"]) == ["CMPP_SUBMIT"]
    submit: dict[str, Any] = mine["commands"]["CMPP_SUBMIT"]
    assert submit["requests"] == 0 and submit["responses"] == len(rows)
    assert sum(r["count"] for r in mine["results"]) == len(rows)
    assert {r["command"] for r in mine["results"]} == {"CMPP_SUBMIT_RESP"}
    assert sum(mine["over_time"]["pdus_per_s"]) * mine["over_time"]["bucket_s"] == len(rows)


def test_a_cancelled_count_returns_none() -> None:
    analysis = indexed(ROOT / "samples" / "cmpp-basic.pcap")
    store = analysis.store
    assert store is not None
    calls: list[float] = []

    def stop(fraction: float) -> bool:
        calls.append(fraction)
        return False

    assert rows_report(store, np.arange(store.count), progress=stop) is None
    assert calls == [0.0]
