"""The benchmark capture generator says truly what it wrote, and the engine agrees with it.

``bench/gen_capture.py`` returns a tally of every PDU, pair, unanswered request, result code
and status report it put in the file; the real CLI must find exactly that in the real pcap
bytes. A small capture (about 2,000 frames) with every ingredient made more frequent keeps
this quick while still covering split headers, coalesced PDUs, group sends and long SMS.
"""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import dpkt
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "gen_capture", Path(__file__).resolve().parents[1] / "bench" / "gen_capture.py")
assert _SPEC is not None and _SPEC.loader is not None
gen = importlib.util.module_from_spec(_SPEC)
sys.modules["gen_capture"] = gen
_SPEC.loader.exec_module(gen)

# Rare events made common so that 2,000 frames hold each of them several times.
MIX = gen.Mix(unanswered=0.03, split=0.12, error_result=0.05, long_sms=0.08, group_send=0.08)


def cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "cmppdissect", *args], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    path = tmp_path_factory.mktemp("gen") / "mix.pcap"
    tally = gen.generate(path, frames=2000, seed=11, sessions=4, mix=MIX)
    return path, tally


@pytest.fixture(scope="module")
def report(capture: tuple[Path, Any]) -> dict[str, Any]:
    return json.loads(cli("--report", "json", str(capture[0])))  # type: ignore[no-any-return]


def test_the_mix_holds_every_ingredient(capture: tuple[Path, Any]) -> None:
    _, t = capture
    assert t.frames >= 2000
    assert t.split_pdus > 0 and t.split_headers > 0 and t.multi_pdu_segments > 0
    assert t.bare_acks > 0 and t.long_messages > 0 and t.group_sends > 0
    assert t.commands["CMPP_SUBMIT"].unanswered > 0
    assert any(code != 0 for (_cmd, code) in t.results)
    assert 0 < t.reports_matched < t.reports  # some reports are for submits before the capture
    assert {s.version for s in t.sessions} == {"2.0", "3.0"}
    assert set(t.commands) == {"CMPP_CONNECT", "CMPP_SUBMIT", "CMPP_DELIVER",
                               "CMPP_ACTIVE_TEST", "CMPP_TERMINATE"}


def test_report_counts_what_the_generator_wrote(capture: tuple[Path, Any],
                                                report: dict[str, Any]) -> None:
    expected = capture[1].report_view()
    assert report["pdus"] == expected["pdus"]
    for name, counts in expected["commands"].items():
        got = report["commands"][name]
        assert {k: got[k] for k in counts} == counts, name
    assert set(report["commands"]) == set(expected["commands"])
    assert [{k: r[k] for k in ("command", "code", "count")}
            for r in report["results"]] == expected["results"]
    assert {k: v["count"] for k, v in report["reports"]["stat"].items()} == \
        expected["reports"]["stat"]
    # Every report of a SUBMIT in the file is matched, group-send recipients included.
    assert report["reports"]["matched"] == expected["reports"]["matched"]
    sessions = sorted(({k: s[k] for k in ("client", "server", "sp_id", "version", "pdus")}
                       for s in report["sessions"]), key=lambda s: s["client"])
    assert sessions == expected["sessions"]
    assert all(s["ended"] == "fin" and s["login"] == "ok" for s in report["sessions"])


def test_each_link_opens_with_connect_and_closes_with_terminate(
        capture: tuple[Path, Any]) -> None:
    records = [json.loads(line) for line in cli("-T", "jsonl", str(capture[0])).splitlines()]
    assert len(records) == capture[1].pdus
    by_session: dict[int, list[str]] = defaultdict(list)
    for rec in records:
        by_session[rec["session"]].append(rec["command"])
    assert len(by_session) == len(capture[1].sessions)
    for commands in by_session.values():
        assert commands[:2] == ["CMPP_CONNECT", "CMPP_CONNECT_RESP"]
        assert commands[-2:] == ["CMPP_TERMINATE", "CMPP_TERMINATE_RESP"]
    # Every response found its request (the unanswered requests simply have none).
    responses = [r for r in records if r["command"].endswith("_RESP")]
    assert all("request_frame" in r for r in responses)


def test_same_seed_same_bytes_and_the_file_holds_the_tallied_frames() -> None:
    first, second, other = io.BytesIO(), io.BytesIO(), io.BytesIO()
    tally = gen.generate(first, frames=300, seed=5, sessions=2)
    gen.generate(second, frames=300, seed=5, sessions=2)
    gen.generate(other, frames=300, seed=6, sessions=2)
    assert first.getvalue() == second.getvalue() != other.getvalue()
    frames = list(dpkt.pcap.Reader(io.BytesIO(first.getvalue())))
    assert len(frames) == tally.frames >= 300
    stamps = [ts for ts, _ in frames]
    assert stamps == sorted(stamps)  # one clock for all links: the file is in time order
