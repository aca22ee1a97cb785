"""The reports of the one engine equal those of the engine it replaced, report for report.

The fixtures under ``tests/fixtures/reports`` are the ``--report json`` documents of the
per-segment Python engine (the one before the compiled core, commit 75c9722), for every sample
and for a 20,000-frame build of each capture of the benchmark suite (``bench/suite.py``: clean,
retransmissions/duplicates/reordering/gaps/mid-stream, jittered timestamps, loopback doubles,
IPv6, two-interface pcapng, 2.0 and 3.0 with versions found from lengths). The new engine must
give the same document: every count, every finding in the same order with the same words.
Floats are compared to 12 significant digits (the rates' per-second sums are now added as
integers before dividing, which may change a last bit).

Changes made on purpose since are written into the fixtures after reading the difference:
issue 12 put a skipped-bytes finding on the frame that brought the run's first byte, and names
the PDU whose Total_Length it followed (reference D13), notes a Sequence_Id in flight both
ways (a chat, D25), and gives each session its heartbeats (D23); issue 13 counts long-SMS
parts resent after their message completed (``long_sms.resent``); issue 16 (part 1) adds the
``reconciliation`` section (status reports against their SUBMITs: per SP and Stat, never
reported, unmatched, duplicate, other connection, near misses) and lists a status report
that matches no SUBMIT_RESP as a ``report-unmatched`` finding: the bench suite's captures
start with reports for SUBMITs sent before them and the FWD sample carries two such reports,
all within the plausible report delay of the capture's start, so a chat each (counted in
``expert_counts``, not listed); issue 16 (parts 3-5) adds the ``timeouts``, ``flow_control``
and ``links`` sections and each session's ``flow`` and ``lifecycle``; nothing else changed.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

import cmppdissect

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "reports"
SAMPLES = sorted(p for p in (ROOT / "samples").iterdir() if p.suffix in (".pcap", ".pcapng"))
SUITE = ["clean", "irregular", "jitter", "loopback", "ipv6", "multi-if", "mixed-versions"]


def differences(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = [f"{path}.{k}: missing" for k in old if k not in new]
        out += [f"{path}.{k}: extra" for k in new if k not in old]
        for k in old:
            if k in new:
                out += differences(old[k], new[k], f"{path}.{k}")
        if not out and list(old) != list(new):
            out.append(f"{path}: keys in another order")
        return out
    if isinstance(old, list) and isinstance(new, list):
        out = [f"{path}: {len(old)} items, now {len(new)}"] if len(old) != len(new) else []
        for i, (a, b) in enumerate(zip(old, new, strict=False)):
            out += differences(a, b, f"{path}[{i}]")
        return out
    if isinstance(old, float) and isinstance(new, float):
        return [] if math.isclose(old, new, rel_tol=1e-12, abs_tol=1e-12) else [
            f"{path}: {old} now {new}"]
    return [] if old == new else [f"{path}: {old!r} now {new!r}"]


def check(capture: Path, fixture: Path) -> None:
    new = json.loads(json.dumps(cmppdissect.analyze(capture).report()))
    old = json.loads(fixture.read_text())
    found = differences(old, new)
    assert not found, "\n".join(found[:20])


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.name for p in SAMPLES])
def test_samples(sample: Path) -> None:
    check(sample, FIXTURES / f"{sample.name}.json")


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    sys.path.insert(0, str(ROOT / "bench"))
    from suite import build_suite

    return build_suite(tmp_path_factory.mktemp("suite"), frames=20_000, seed=1)


@pytest.mark.parametrize("name", SUITE)
def test_bench_suite_at_20k_frames(suite: dict[str, Path], name: str) -> None:
    check(suite[name], FIXTURES / "suite-20k" / f"{name}.json")
