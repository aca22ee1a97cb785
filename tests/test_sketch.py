"""Statistics past a budget of samples (issue 17, days without a restart; issue 18, merging).

The core keeps every latency and delay sample exactly; with ``max_samples`` (``-i`` by default,
``--max-samples N``) the engine folds them into DDSketches once the core holds more than N.
Checked here: the sketch's percentiles are within its stated relative accuracy of the exact
ones (the sample at rank floor(q (n - 1)), numpy's "lower"), count, min, max and mean stay
exact, sketches merge to the same answer as one sketch over every sample, the report says how
its percentiles were read, and what the engine holds stays bounded at two capture sizes; the
metrics histograms count folded samples too.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from pcaputil import run_cli

import cmppdissect
from cmppdissect.engine.sketch import RELATIVE_ACCURACY, Folded, Sketches
from cmppdissect.engine.stats import summarize_ms

ROOT = Path(__file__).resolve().parent.parent
_SPEC = importlib.util.spec_from_file_location("gen_capture", ROOT / "bench" / "gen_capture.py")
assert _SPEC is not None and _SPEC.loader is not None
gen = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("gen_capture", gen)
_SPEC.loader.exec_module(gen)

QUANTILES = (0.5, 0.9, 0.99)


def lower(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q * 100, method="lower"))


def close(approx: float, exact: float) -> bool:
    return abs(approx - exact) <= RELATIVE_ACCURACY * abs(exact) + 1e-9


# -- the sketch alone (no capture) -------------------------------------------------------------


def test_folded_quantiles_are_within_the_stated_accuracy_and_merge_exactly() -> None:
    rng = np.random.default_rng(7)
    values = rng.lognormal(16, 1.2, 120_000).astype(np.int64)
    values[:10] = 0  # a response in the same nanosecond
    values[10:20] = -rng.integers(1, 5_000_000, 10)  # clocks that jumped back
    whole = Folded()
    whole.add(values)
    parts = [Folded() for _ in range(4)]
    for part, chunk in zip(parts, np.array_split(values, 4), strict=True):
        part.add(chunk)
    merged = parts[0].copy()
    for part in parts[1:]:
        merged.merge(part)
    for q in QUANTILES:
        assert close(whole.quantile(q), lower(values, q)), q
        assert merged.quantile(q) == whole.quantile(q)  # a merge loses nothing
    assert (whole.count, whole.min, whole.max) == (len(values), values.min(), values.max())
    assert whole.sketch.sum == pytest.approx(float(values.sum()))
    # Counting below a bound (what a Prometheus bucket wants) is off by at most the samples
    # of the bucket holding the bound.
    for bound in (-1_000_000, 0, 1_000_000, 9_000_000, 50_000_000):
        exact = int((values <= bound).sum())
        near = int((np.abs(values - bound) <= abs(bound) * 2 * RELATIVE_ACCURACY).sum())
        assert abs(whole.count_at_most(bound) - exact) <= near, bound


def test_a_summary_reads_the_sketch_and_the_samples_still_held() -> None:
    rng = np.random.default_rng(3)
    values = rng.lognormal(14, 1, 30_000).astype(np.int64)
    folded = Folded()
    folded.add(values[:20_000])
    summary = summarize_ms((values[20_000:].tobytes(),), folded)
    exact = summarize_ms((values.tobytes(),))
    assert summary["min"] == exact["min"] and summary["max"] == exact["max"]
    assert summary["mean"] == pytest.approx(exact["mean"])
    for q, key in zip(QUANTILES, ("p50", "p90", "p99"), strict=True):
        assert close(summary[key] * 1e6, lower(values, q)), key
    assert folded.count == 20_000  # the summary worked on a copy


def test_a_retired_session_joins_the_retired_sketch() -> None:
    sketches = Sketches(100)
    sketches.fold({("latency", 5, 4): np.arange(1, 11, dtype=np.int64).tobytes(),
                   ("latency", -1, 4): np.arange(11, 21, dtype=np.int64).tobytes()})
    sketches.retire(5)
    assert set(sketches.by_key) == {("latency", -1, 4)}
    latency = sketches.latency(4)
    assert latency is not None and latency.count == 20 and sketches.folded == 20


# -- the engine past its budget ----------------------------------------------------------------


def capture(tmp_path: Path, frames: int) -> Path:
    path = tmp_path / f"gen-{frames}.pcap"
    gen.generate(path, frames=frames, sessions=6)
    return path


def report(path: Path, **settings: int) -> dict:
    analysis = cmppdissect.analyze(path, **settings)
    analysis.run()
    return analysis.report()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return capture(tmp_path_factory.mktemp("sketch"), 40_000)


def test_past_the_budget_figures_are_exact_or_within_the_stated_accuracy(small: Path) -> None:
    exact = report(small)
    analysis = cmppdissect.analyze(small, max_samples=2000)
    analysis.run()
    folded = analysis.report()
    assert "samples" not in exact
    assert folded["samples"]["exact"] is False
    assert folded["samples"]["relative_accuracy"] == RELATIVE_ACCURACY
    assert folded["samples"]["samples_folded"] > 10_000
    assert [e for e in folded["expert_counts"] if e["code"] == "cap-samples"] == [
        {"severity": "warn", "code": "cap-samples", "count": 1}]
    # Every counter is the same; latency percentiles within 1% of the exact lower rank.
    engine = analysis.engine
    assert engine is not None
    for name, figures in exact["commands"].items():
        mine = folded["commands"][name]
        assert {k: v for k, v in mine.items() if k != "latency_ms"} == {
            k: v for k, v in figures.items() if k != "latency_ms"}
        if figures["paired"] == 0:
            continue
        exact_ms, mine_ms = figures["latency_ms"], mine["latency_ms"]
        assert (mine_ms["min"], mine_ms["max"]) == (exact_ms["min"], exact_ms["max"])
        assert mine_ms["mean"] == pytest.approx(exact_ms["mean"])
    submits = np.frombuffer(cmppdissect.analyze(small).run().engine.core.latency_samples(4),
                            np.int64)
    for q, key in zip(QUANTILES, ("p50", "p90", "p99"), strict=True):
        assert close(folded["commands"]["CMPP_SUBMIT"]["latency_ms"][key] * 1e6,
                     lower(submits, q)), key
    assert folded["reports"]["matched"] == exact["reports"]["matched"] > 0
    assert folded["reconciliation"]["matched"] == exact["reconciliation"]["matched"]
    for stat, entry in exact["reconciliation"]["per_stat"].items():
        mine = folded["reconciliation"]["per_stat"][stat]["submit_to_report_ms"]
        assert mine["max"] == entry["submit_to_report_ms"]["max"]
        assert mine["mean"] == pytest.approx(entry["submit_to_report_ms"]["mean"])
    for sp, entry in exact["reconciliation"]["per_sp"].items():
        mine = folded["reconciliation"]["per_sp"][sp]["submit_to_report_ms"]
        assert mine["mean"] == pytest.approx(entry["submit_to_report_ms"]["mean"]), sp
    # Every sample is counted once: folded, or still held by the core.
    core = engine.core
    held = sum(len(core.latency_samples(rid)) for rid in core.commands()) // 8
    paired = sum(c["paired"] for c in exact["commands"].values())
    assert sum(f.count for k, f in engine.sketches.by_key.items()
               if k[0] == "latency") + held == paired
    # Per session too (the sessions table and the TUI read these).
    for s_exact, s_mine in zip(exact["sessions"], folded["sessions"], strict=True):
        for name, figures in s_exact["commands"].items():
            assert s_mine["commands"][name]["paired"] == figures["paired"]
            if figures["paired"]:
                assert s_mine["commands"][name]["latency_ms"]["max"] == \
                    figures["latency_ms"]["max"]


@pytest.mark.parametrize("frames", [20_000, 80_000])
def test_what_the_engine_holds_past_the_budget_does_not_grow(tmp_path: Path,
                                                             frames: int) -> None:
    path = capture(tmp_path, frames)
    analysis = cmppdissect.analyze(path, max_samples=1000)
    analysis.start(keep_rows=False)
    held = []
    for _batch in analysis.batches():
        assert analysis.engine is not None
        held.append(analysis.engine.core.samples_held)
    engine = analysis.engine
    assert engine is not None
    # The core never holds much more than the budget (what one chunk of input adds), and the
    # sketches hold buckets, not samples: a few hundred per key at most, at both sizes.
    assert max(held) < 1000 + 6000
    sketches = engine.sketches
    assert sketches.folded > frames // 10
    buckets = max(len(f._positive.bins) + len(f._negative.bins)
                  for f in sketches.by_key.values())
    assert buckets <= 2048
    assert len(sketches.by_key) <= 6 * 8 + 64  # sessions x request types, SPs x Stats


def test_the_command_line_option(small: Path) -> None:
    out = run_cli("--report", "json", "--max-samples", "500", str(small))
    assert out.returncode == 0
    assert json.loads(out.stdout)["samples"]["max_samples"] == 500
    bad = run_cli("--report", "json", "--max-samples", "0", str(small))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "--max-samples" in bad.stderr


def test_metrics_count_the_folded_samples(small: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from cmppdissect.output.metrics import EngineCollector

    scraped = {}
    for budget in (0, 1500):
        analysis = cmppdissect.analyze(small, max_samples=budget)
        analysis.run()
        registry = CollectorRegistry()
        registry.register(EngineCollector(lambda a=analysis: a))
        lines = generate_latest(registry).decode().splitlines()
        scraped[budget] = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                           for line in lines if line.startswith(
                               ("cmpp_response_time_seconds", "cmpp_submit_to_report_seconds"))}
    exact, folded = scraped[0], scraped[1500]
    assert exact.keys() == folded.keys()
    counts = [k for k in exact if "_count" in k]
    assert counts and all(folded[k] == exact[k] for k in counts)
    for key in exact:  # buckets to the sketch's resolution (the test above), sums exact
        if "_bucket" in key:
            # A sample in the sketch's bucket holding the bound may count on either side:
            # the generator's latencies cluster, so allow a tenth of the series.
            series = key.split("_bucket")[0] + "_count" + _labels_but_le(key)
            assert abs(folded[key] - exact[key]) <= 0.1 * exact[series] + 2, key
        elif "_sum" in key:
            assert folded[key] == pytest.approx(exact[key]), key


def _labels_but_le(key: str) -> str:
    labels = key[key.index("{") + 1:-1].split(",")
    kept = [label for label in labels if not label.startswith("le=")]
    return "{" + ",".join(kept) + "}" if kept else ""


# -- the over-time series: slots widen past max_rate_slots ----------------------------------------


def heartbeat_capture(path: Path, seconds: int) -> Path:
    """An ACTIVE_TEST pair every second for ``seconds`` seconds, and a burst of 40 SUBMITs
    in second 7."""
    from pcaputil import BASE_TS_NS, Conversation, bare_pdu, submit_pdu, write_pcap

    from cmppdissect.protocol.commands import CommandId
    from cmppdissect.protocol.version import Version

    conv = Conversation()
    frames = [(BASE_TS_NS, f) for f in conv.handshake()]
    for sec in range(seconds):
        t = BASE_TS_NS + sec * 1_000_000_000
        for f in conv.send(True, bare_pdu(CommandId.CMPP_ACTIVE_TEST, sec + 1)):
            frames.append((t, f))
        for f in conv.send(False, bare_pdu(CommandId.CMPP_ACTIVE_TEST_RESP, sec + 1)):
            frames.append((t + 1000, f))
        if sec == 7:
            for k in range(40):
                for f in conv.send(True, submit_pdu(Version.V3_0, 100_000 + k, k)):
                    frames.append((t + 2000 + k, f))
    return write_pcap(path, frames)


@pytest.mark.parametrize("seconds", [1000, 4000])
def test_rate_slots_widen_past_their_cap_and_keep_the_totals_and_peaks(
        tmp_path: Path, seconds: int) -> None:
    path = heartbeat_capture(tmp_path / f"beats-{seconds}.pcap", seconds)
    exact = cmppdissect.analyze(path).run()
    capped = cmppdissect.analyze(path, max_rate_slots=100).run()
    assert exact.engine is not None and capped.engine is not None
    pdus, submits, latency, width, peak_pdus, peak_submits = capped.engine.core.rates()
    # bounded at both sizes
    assert max(len(pdus), len(submits), len(latency)) <= 100 and width >= seconds // 100
    assert exact.engine.core.rates()[3] == 1
    wide, fine = capped.report()["over_time"], exact.report()["over_time"]
    total = exact.report()["pdus"]
    assert sum(wide["pdus_per_s"]) * wide["bucket_s"] == pytest.approx(total)
    assert sum(fine["pdus_per_s"]) * fine["bucket_s"] == pytest.approx(total)
    assert wide["bucket_s"] % width == 0
    # The busiest second is kept apart from the slots: the burst's 41 PDUs (40 SUBMITs and
    # the heartbeat's request; its response is in the same second too).
    assert (wide["peak_pdus_per_s"], wide["peak_submits_per_s"]) == (
        fine["peak_pdus_per_s"], fine["peak_submits_per_s"]) == (42, 40)
    assert (peak_pdus, peak_submits) == (42, 40)
