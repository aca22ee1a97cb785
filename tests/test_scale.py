"""Scale-out on Dask (issue 18): hosts as tasks on a real ``distributed`` cluster (a scheduler
and two worker processes on 127.0.0.1), their parts merged into the one-machine report.

* one capture cut into N files at packet boundaries (inside a PDU, between a SUBMIT and its
  response, reports in later files): the same report as the whole file, every section;
* files of two hosts, SUBMITs on one and their status reports on the other over another
  connection: the same report as ``analyze(all files)`` in every section the report says is
  merged, and the same but for ids and frame numbers in those it says are host-local;
* every capture of ``bench/suite.py`` (irregular TCP, a clock running backwards, Linux
  cooked, IPv6, pcapng with two interfaces and two sections, versions to infer) rotated into
  N files as ``tcpdump -C`` would, cut inside PDUs and where the time steps back: exactly the
  capture's report, field by field, frame numbers included;
* a worker killed mid-run: the same answer and the same Parquet rows; a damaged file: a
  finding, not a failed job; the Parquet dataset partitioned by date and SP id.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from distributed import Client, LocalCluster
from pcaputil import (
    Conversation,
    connect_pdu,
    connect_resp_pdu,
    deliver_resp_pdu,
    pcap_bytes,
    report_pdu,
    run_cli,
    sample_msg_id,
    small_disk,
    submit_pdu,
    submit_resp_pdu,
)
from tmuxutil import Terminal

import cmppdissect
from cmppdissect.output.records import dumps
from cmppdissect.protocol.commands import DEFAULT_PORTS
from cmppdissect.protocol.msgid import make_msg_id
from cmppdissect.protocol.version import Version
from cmppdissect.scale.dataset import KEYS
from cmppdissect.scale.hosts import Host, group_hosts
from cmppdissect.scale.merge import merge_parts
from cmppdissect.scale.parts import analyze_host

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _bench_module(name: str) -> Any:
    """A module of bench/ (bench_scale imports its neighbours by name, as a script does)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gen = _bench_module("gen_capture")
bench = _bench_module("bench_scale")  # rotate(), verdict(): the bench's own, checked here

V = Version.V3_0
T0 = 1_764_000_000 * 10**9  # gen_capture's start; every time here is whole microseconds
MS = 10**6
Frames = list[tuple[int, bytes]]
HIVE = ds.partitioning(KEYS, flavor="hive")  # SP ids are text: "001001" is no number


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


def _read_pcap(path: Path) -> Frames:
    """gen_capture's pcap (microseconds) as (ns, frame) pairs."""
    import dpkt

    with path.open("rb") as f:
        return [(round(ts * 1e6) * 1000, bytes(buf)) for ts, buf in dpkt.pcap.Reader(f)]


def _write(path: Path, frames: Frames) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pcap_bytes(frames))
    return str(path)


def _cut(frames: Frames, cuts: list[int], directory: Path) -> list[str]:
    bounds = [0, *sorted(set(cuts)), len(frames)]
    return [_write(directory / f"rot-{i:02d}.pcap", frames[a:b])
            for i, (a, b) in enumerate(pairwise(bounds))]


# -- one capture cut into N files -------------------------------------------------------------


def _sp_session(start_ns: int) -> tuple[Frames, int, int]:
    """A login, SUBMITs answered, one SUBMIT split over two segments, reports later: stamped
    1 ms apart from ``start_ns``. Also the index of the split SUBMIT's first segment and of a
    SUBMIT whose response comes in the next frame."""
    conv = Conversation(client=("192.0.2.50", 41000), server=("198.51.100.9", 7890))
    frames = [*conv.handshake(), *conv.send(True, connect_pdu(V)),
              *conv.send(False, connect_resp_pdu(V))]
    for seq in range(2, 12):
        frames += conv.send(True, submit_pdu(V, seq, seq))
        if seq == 6:
            submit_at = len(frames) - 1
        frames += conv.send(False, submit_resp_pdu(V, seq, sample_msg_id(seq)))
    split_at = len(frames)
    frames += conv.send(True, submit_pdu(V, 20, 20), sizes=[30])
    frames += conv.send(False, submit_resp_pdu(V, 20, sample_msg_id(20)))
    for seq in (3, 5, 20, 7):
        frames += conv.send(False, report_pdu(V, 100 + seq, sample_msg_id(seq)))
        frames += conv.send(True, deliver_resp_pdu(V, 100 + seq))
    frames += conv.close()
    return [(start_ns + i * MS, f) for i, f in enumerate(frames)], split_at, submit_at


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Frames, list[int]]:
    """gen_capture's traffic with the hand-made session among it, as one file; and the
    frames that must be cut at (inside the split PDU, between a SUBMIT and its response)."""
    where = tmp_path_factory.mktemp("single")
    gen.generate(where / "gen.pcap", frames=3000, seed=7, sessions=4)
    mine, split_at, submit_at = _sp_session(T0 + 500 * MS + 123_000)
    merged = sorted([*_read_pcap(where / "gen.pcap"), *mine], key=lambda f: f[0])
    index = {id(f[1]): i for i, f in enumerate(merged)}
    must = [index[id(mine[split_at][1])] + 1, index[id(mine[submit_at][1])] + 1]
    path = where / "all.pcap"
    _write(path, merged)
    return path, merged, must


@pytest.mark.parametrize("n", [2, 5])
def test_a_capture_cut_into_n_files_gives_the_whole_files_report(
        client: Client, single: tuple[Path, Frames, list[int]], tmp_path: Path,
        n: int) -> None:
    path, frames, must = single
    cuts = must[:n - 1] + [len(frames) * k // n for k in range(1, n - len(must[:n - 1]))]
    assert len(set(cuts)) == n - 1
    paths = _cut(frames, cuts, tmp_path / "gw")
    want = cmppdissect.analyze(str(path)).report()
    # Given out of order: the chain is read in time order.
    got = cmppdissect.analyze_many(list(reversed(paths)), client=client)
    scale = got.pop("scale")
    assert [h["files"] for h in scale["hosts"]] == [paths]
    assert scale["not_merged"] == [] and scale["host_local"] == []
    assert got == want
    assert want["reports"]["matched"] >= 4 and len(want["sessions"]) >= 5


# -- the benchmark suite, rotated ------------------------------------------------------------


@pytest.fixture(scope="module")
def suite_captures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return dict(bench.suite.build_suite(tmp_path_factory.mktemp("suite"), frames=20_000))


_CONTAINERS = {"multi-if": b"\n\r\r\n", "loopback": b"\xd4\xc3\xb2\xa1"}


@pytest.mark.parametrize("files", [2, 5])
@pytest.mark.parametrize("name", ["clean", "irregular", "jitter", "loopback", "ipv6",
                                  "multi-if", "mixed-versions"])
def test_a_suite_capture_rotated_is_the_captures_report_field_by_field(
        client: Client, suite_captures: dict[str, Path], tmp_path: Path, name: str,
        files: int) -> None:
    """Each capture of bench/suite.py rotated into ``files`` files at packet boundaries, its
    container kept (pcapng files each with the SHB and IDBs of their section, SLL staying
    SLL, timestamps as stored), cut inside PDUs and, in jitter and multi-if, where the time
    steps back: one host, every section of ``analyze(capture).report()``, frame numbers and
    session ids included."""
    path = suite_captures[name]
    cuts = bench.cuts_for(path, files)
    assert len(cuts) == files - 1 and cuts[0] in bench.mid_pdu_frames(path)  # inside a PDU
    back = bench.backward_frames(path, segments=name == "jitter")
    assert bool(back) is (name in ("jitter", "multi-if"))
    if files > 2 and back:  # a file that starts before the one before it ends
        assert cuts[1] in back and cuts[3] in back
    paths = bench.rotate(path, tmp_path / name, cuts=cuts)
    head = path.read_bytes()[:24]
    for piece in paths:
        data = Path(piece).read_bytes()
        assert data[:4] == _CONTAINERS.get(name, b"\xd4\xc3\xb2\xa1")
        if name != "multi-if":
            assert data[:24] == head  # the same pcap header: link type 113 stays
    want = cmppdissect.analyze(str(path)).report()
    got = cmppdissect.analyze_many(list(reversed(paths)), client=client)
    scale = got["scale"]
    assert [h["files"] for h in scale["hosts"]] == [paths]
    assert scale["merged_sections"] == list(want)
    assert scale["not_merged"] == [] and scale["host_local"] == []
    assert bench.verdict(got, want) == []
    if files > 2 and name == "jitter":
        # What the chain is for: merged by time, data segments around the cuts change places.
        merged = cmppdissect.analyze(paths).report()
        assert any(".tcp.out_of_order" in d for d in bench.differences(merged, want))


# -- two hosts: SUBMITs on one, their reports on the other ------------------------------------


def _two_hosts(root: Path) -> tuple[list[str], list[str]]:
    """Host gw1: an SP's SUBMITs (reports asked for), a few reported on that connection.
    Host gw2, from 700 s later: the same SP over another connection to another gateway
    address, receiving the status reports of most of gw1's SUBMITs, one twice, one report
    for a Msg_Id never submitted, and its own SUBMIT reported. Each host's capture is
    rotated into two files (gw1 inside a PDU, gw2 between a report and its response)."""
    a = Conversation(client=("192.0.2.10", 40001), server=("198.51.100.7", 7890))
    fa = [*a.handshake(), *a.send(True, connect_pdu(V)), *a.send(False, connect_resp_pdu(V))]
    for i in range(1, 31):
        fa += a.send(True, submit_pdu(V, i + 1, i), sizes=[40] if i == 15 else ())
        if i == 15:
            split = len(fa) - 1
        fa += a.send(False, submit_resp_pdu(V, i + 1, sample_msg_id(i)))
    for i in range(1, 6):  # reported on its own connection
        fa += a.send(False, report_pdu(V, 200 + i, sample_msg_id(i)))
        fa += a.send(True, deliver_resp_pdu(V, 200 + i))
    stamped_a = [(T0 + k * 10 * MS, f) for k, f in enumerate(fa)]

    b = Conversation(client=("192.0.2.11", 40002), server=("198.51.100.8", 7890))
    fb = [*b.handshake(), *b.send(True, connect_pdu(V)), *b.send(False, connect_resp_pdu(V))]
    fb += b.send(False, report_pdu(V, 300, sample_msg_id(9999)))  # no SUBMIT anywhere
    fb += b.send(True, deliver_resp_pdu(V, 300))
    for i in range(6, 28):
        fb += b.send(False, report_pdu(V, 300 + i, sample_msg_id(i),
                                       "DELIVRD" if i % 5 else "UNDELIV"))
        if i == 12:
            cut_b = len(fb)
        fb += b.send(True, deliver_resp_pdu(V, 300 + i))
    fb += b.send(False, report_pdu(V, 400, sample_msg_id(6)))  # a duplicate
    fb += b.send(True, deliver_resp_pdu(V, 400))
    fb += b.send(True, submit_pdu(V, 500, 500))
    fb += b.send(False, submit_resp_pdu(V, 500, sample_msg_id(500)))
    fb += b.send(False, report_pdu(V, 501, sample_msg_id(500)))
    fb += b.send(True, deliver_resp_pdu(V, 501))
    stamped_b = [(T0 + 700_000 * MS + k * 7 * MS, f) for k, f in enumerate(fb)]
    return (_cut(stamped_a, [split + 1], root / "gw1"),
            _cut(stamped_b, [cut_b], root / "gw2"))


def compare_merged(got: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    """Assert ``got`` (a merged report) equals ``want`` (one engine over every file) where its
    scale key says so (:func:`bench_scale.verdict`); the scale key."""
    wrong = bench.verdict(got, want)
    assert wrong == [], wrong[:10]
    return dict(got["scale"])


def test_reports_on_another_host_are_matched_as_by_one_engine(client: Client,
                                                              tmp_path: Path) -> None:
    gw1, gw2 = _two_hosts(tmp_path)
    want = cmppdissect.analyze([*gw1, *gw2]).report()
    got = cmppdissect.analyze_many([*gw2, *gw1], client=client)
    scale = compare_merged(got, want)
    assert [h["name"] for h in scale["hosts"]] == [str(tmp_path / "gw2"), str(tmp_path / "gw1")]
    for section in ("pdus", "commands", "results", "reports", "reconciliation", "timeouts",
                    "long_sms", "over_time", "expert_counts"):
        assert section in scale["merged_sections"], (section, scale["not_merged"])
    assert set(scale["host_local"]) == {"sessions", "flow_control"}
    # What only the merge could have found: 22 reports matched across hosts, one duplicate,
    # the unmatched one late against gw1's start (a warning) though early against gw2's.
    recon = got["reconciliation"]
    assert recon["matched"] == want["reconciliation"]["matched"] == 5 + 22 + 1
    assert recon["other_connection"]["count"] == 22
    assert recon["duplicates"]["count"] == 1
    assert recon["never_reported"]["count"] == 30 - 5 - 22
    assert recon["unmatched"]["count"] == 1
    assert recon["unmatched"]["submit_may_predate_capture"] == 0
    assert {"severity": "warn", "code": "report-unmatched", "count": 1} in got["expert_counts"]
    parts = [analyze_host(h, _settings()) for h in group_hosts([*gw1, *gw2])]
    alone = parts[1].reconciliation
    assert alone["unmatched"] == 1 + 22 + 1  # what gw2 alone could not tie
    assert got["reports"]["submit_to_report_ms"] == want["reports"]["submit_to_report_ms"]
    assert got["reports"]["submit_to_report_ms"]["max"] > 690_000


def _overlapping_hosts(root: Path) -> tuple[list[str], list[str]]:
    """Hosts whose captures overlap in time. gw1: an SP's SUBMITs 1-4 (reports asked for),
    each answered 60 ms later, and the status reports of 1, 2 and 3 on that connection at
    2 s. gw2, the same SP over another connection: the report of 1 at 1 s (before gw1's own),
    of 2 at 3 s (after gw1's), and of 4 at 0.43 s, between gw1's SUBMIT 4 (0.40 s) and its
    response (0.46 s), which brings the Msg_Id."""
    def at(seconds: float, frames: list[bytes]) -> Frames:
        return [(T0 + round(seconds * 1e9) + k * 1000, f) for k, f in enumerate(frames)]

    a = Conversation(client=("192.0.2.20", 40011), server=("198.51.100.7", 7890))
    fa = at(0.0, [*a.handshake(), *a.send(True, connect_pdu(V)),
                  *a.send(False, connect_resp_pdu(V))])
    for i in range(1, 5):
        fa += at(0.1 * i, a.send(True, submit_pdu(V, i + 1, i)))
        fa += at(0.1 * i + 0.06, a.send(False, submit_resp_pdu(V, i + 1, sample_msg_id(i))))
    for i in range(1, 4):
        fa += at(2.0 + 0.01 * i, [*a.send(False, report_pdu(V, 200 + i, sample_msg_id(i))),
                                  *a.send(True, deliver_resp_pdu(V, 200 + i))])
    b = Conversation(client=("192.0.2.21", 40012), server=("198.51.100.8", 7890))
    fb = at(0.05, [*b.handshake(), *b.send(True, connect_pdu(V)),
                   *b.send(False, connect_resp_pdu(V))])
    for when, i in ((0.43, 4), (1.0, 1), (3.0, 2)):
        fb += at(when, [*b.send(False, report_pdu(V, 300 + i, sample_msg_id(i))),
                        *b.send(True, deliver_resp_pdu(V, 300 + i))])
    return _cut(fa, [len(fa) // 2], root / "gw1"), _cut(fb, [len(fb) // 2], root / "gw2")


def test_hosts_that_overlap_in_time_tie_reports_as_one_engine(client: Client,
                                                               tmp_path: Path) -> None:
    """A host's own report that came after another host's copy of it is the duplicate, the
    other the match; a copy after it is a duplicate; a report before the SUBMIT_RESP that
    brings its id matches nothing: the one engine's reading of the merged stream."""
    gw1, gw2 = _overlapping_hosts(tmp_path)
    want = cmppdissect.analyze([*gw1, *gw2]).report()
    recon = want["reconciliation"]
    assert (recon["matched"], recon["other_connection"]["count"], recon["duplicates"]["count"],
            recon["unmatched"]["count"], recon["never_reported"]["count"]) == (3, 1, 2, 1, 1)
    # What each host alone found: gw1 matched its three, gw2 matched none.
    parts = [analyze_host(h, _settings()) for h in group_hosts([*gw1, *gw2])]
    assert [(p.reconciliation["unmatched"], p.reconciliation["duplicates"]) for p in parts] == [
        (0, 0), (3, 0)]
    # The core hands over what it matched (times: SUBMIT < SUBMIT_RESP < report) and, for
    # what still awaits a report, when its SUBMIT_RESP brought the id.
    assert [(m[0], m[10]) for m in parts[0].matched] == [
        (sample_msg_id(i), b"DELIVRD") for i in (1, 2, 3)]
    assert all(m[7] < m[8] < m[4] and m[8] - m[7] == 60_000_000 for m in parts[0].matched)
    (waiting,) = parts[0].awaiting
    assert waiting[0] == sample_msg_id(4) and waiting[9] - waiting[2] == 60_000_000
    got = cmppdissect.analyze_many([*gw1, *gw2], client=client)
    scale = compare_merged(got, want)
    for section in ("reports", "reconciliation", "expert_counts"):
        assert section in scale["merged_sections"], (section, scale["not_merged"])
    assert got["reports"]["submit_to_report_ms"] == want["reports"]["submit_to_report_ms"]
    dups = got["reconciliation"]["duplicates"]["listed"]
    assert sorted(d["msg_id"] for d in dups) == sorted(str(sample_msg_id(i)) for i in (1, 2))


def _near_miss_hosts(root: Path) -> tuple[list[str], list[str]]:
    """gw1: an SP's SUBMITs 1-3 (reports asked for), answered 60 ms later, the status report
    of gw2's SUBMIT 7 at 0.9 s and of 2 at 2 s. gw2, the same SP over another connection: its
    own SUBMIT 7 (answered at 0.2 s), then status reports whose Msg_Id is another's
    byte-reversed (D22): of 3 at 0.32 s (before the SUBMIT_RESP that brings 3's id), of 1 at
    1.0 s and again at 1.2 s, of 2 at 1.1 s (gw1 matches 2 itself later) with 7's id written
    in its recipient (a near miss gw2 finds itself, by a later rule), at 1.6 s of 3, whose
    own report came at 1.5 s; at 1.3 s an unknown id with 7's written in its recipient (7's
    report came on gw1 before); at 1.4 s 3's id from another gateway."""
    def at(seconds: float, frames: list[bytes]) -> Frames:
        return [(T0 + round(seconds * 1e9) + k * 1000, f) for k, f in enumerate(frames)]

    def reversed_id(i: int) -> int:
        return int.from_bytes(sample_msg_id(i).to_bytes(8, "big"), "little")

    a = Conversation(client=("192.0.2.30", 40021), server=("198.51.100.7", 7890))
    fa = at(0.0, [*a.handshake(), *a.send(True, connect_pdu(V)),
                  *a.send(False, connect_resp_pdu(V))])
    for i in range(1, 4):
        fa += at(0.1 * i, a.send(True, submit_pdu(V, i + 1, i)))
        fa += at(0.1 * i + 0.06, a.send(False, submit_resp_pdu(V, i + 1, sample_msg_id(i))))
    fa += at(0.9, [*a.send(False, report_pdu(V, 207, sample_msg_id(7))),
                   *a.send(True, deliver_resp_pdu(V, 207))])
    fa += at(2.0, [*a.send(False, report_pdu(V, 202, sample_msg_id(2))),
                   *a.send(True, deliver_resp_pdu(V, 202))])
    seven = str(sample_msg_id(7)).encode()
    b = Conversation(client=("192.0.2.31", 40022), server=("198.51.100.8", 7890))
    fb = at(0.05, [*b.handshake(), *b.send(True, connect_pdu(V)),
                   *b.send(False, connect_resp_pdu(V)), *b.send(True, submit_pdu(V, 8, 7))])
    fb += at(0.2, b.send(False, submit_resp_pdu(V, 8, sample_msg_id(7))))
    reports = [(0.32, reversed_id(3), None), (1.0, reversed_id(1), None),
               (1.1, reversed_id(2), seven),
               (1.2, reversed_id(1), None), (1.3, sample_msg_id(9000), seven),
               (1.4, make_msg_id(11, 24, 10, 15, 3, 4242, 3), None),
               (1.5, sample_msg_id(3), None), (1.6, reversed_id(3), None)]
    for k, (when, msg_id, dest) in enumerate(reports):
        fb += at(when, [*b.send(False, report_pdu(V, 300 + k, msg_id,
                                                  **({"dest": dest} if dest else {}))),
                        *b.send(True, deliver_resp_pdu(V, 300 + k))])
    return _cut(fa, [len(fa) // 2], root / "gw1"), _cut(fb, [len(fb) // 2], root / "gw2")


def test_near_misses_of_a_submit_on_another_host_are_found_as_by_one_engine(
        tmp_path: Path) -> None:
    """A report on one host whose Msg_Id is byte-reversed of a SUBMIT's on another is the
    near miss the one engine finds over both hosts' traffic: while that SUBMIT awaits its
    report (from its SUBMIT_RESP until a report matches it), before any near miss of a later
    rule its own host found."""
    gw1, gw2 = _near_miss_hosts(tmp_path)
    want = cmppdissect.analyze([*gw1, *gw2]).report()
    near = want["reconciliation"]["near_misses"]
    assert (near["count"], near["by_rule"]) == (4, {"byte-reversed": 3, "other-gateway": 1})
    parts = [analyze_host(h, _settings()) for h in group_hosts([*gw1, *gw2])]
    alone = parts[1].report_lists["near_misses"]
    assert [n["rule"] for n in alone] == ["decimal-text"] * 2  # all gw2 could find alone
    got = merge_parts(parts)
    scale = compare_merged(got, want)
    for section in ("reports", "reconciliation", "expert_counts"):
        assert section in scale["merged_sections"], (section, scale["not_merged"])
    assert not {"reconciliation.near_misses", "reconciliation.per_sp.near_misses",
                "expert_counts[report-near-miss]"} & {n["section"] for n in scale["not_merged"]}
    assert got["reconciliation"]["near_misses"]["count"] == 4
    assert {"severity": "warn", "code": "report-near-miss", "count": 4} in got["expert_counts"]
    listed = got["reconciliation"]["near_misses"]["listed"]
    assert sorted((n["rule"], n["submit_msg_id"]) for n in listed) == sorted(
        [*(("byte-reversed", str(sample_msg_id(i))) for i in (1, 1, 2)),
         ("other-gateway", str(sample_msg_id(3)))])
    # What would keep the merge from knowing when a host's Msg_Ids awaited: said, not guessed.
    near_sections = {"reconciliation.near_misses", "reconciliation.per_sp.near_misses",
                     "expert_counts[report-near-miss]"}
    for change, why in ((lambda p: setattr(p, "awaited_again", 1), "brought again"),
                        (lambda p: p.matched.clear(), "than it remembers")):
        again = [analyze_host(h, _settings()) for h in group_hosts([*gw1, *gw2])]
        change(again[0])
        said = {n["section"]: n["why"] for n in merge_parts(again)["scale"]["not_merged"]}
        assert near_sections <= set(said) and why in said["reconciliation.near_misses"]


def _settings() -> dict[str, Any]:
    return {"ports": DEFAULT_PORTS, "version": None, "timeout_s": 60.0, "secrets": {},
            "heuristic": True}


def test_files_side_by_side_in_one_host_are_not_merged(tmp_path: Path) -> None:
    """Two files of one directory captured at the same time (two interfaces) are not a
    rotation: read one after the other they are not the capture, and the report says so."""
    host = tmp_path / "gw"
    host.mkdir()
    gen.generate(host / "eth0.pcap", frames=600, seed=3, sessions=2)
    eth0 = _read_pcap(host / "eth0.pcap")
    mine, _split, _submit = _sp_session(eth0[0][0] + 50 * MS)
    _write(host / "eth1.pcap", mine)
    assert eth0[-1][0] - mine[0][0] > 1.5e9  # eth1 starts long before eth0 ends
    part = analyze_host(group_hosts([str(host / "eth0.pcap"), str(host / "eth1.pcap")])[0],
                        _settings())
    assert [(Path(a).name, Path(b).name) for a, b, _s in part.overlaps] == [
        ("eth0.pcap", "eth1.pcap")]
    report = merge_parts([part])
    why = {i["section"]: i["why"] for i in report["scale"]["not_merged"]}
    assert report["scale"]["merged_sections"] == [] and set(why) >= {"pdus", "reports"}
    assert "captured side by side" in why["pdus"]
    assert any("before the end of" in e["message"] for e in report["expert"])
    # a rotation (the first file ends before the next starts) is no such case
    frames = _read_pcap(host / "eth0.pcap")
    rotated = _cut(frames, [len(frames) // 2], tmp_path / "rot")
    assert analyze_host(group_hosts(rotated)[0], _settings()).overlaps == []


def test_the_merge_says_what_it_cannot_merge(tmp_path: Path) -> None:
    """The same Msg_Id awaited on two hosts: the report sections say so instead of guessing."""
    gw1, _ = _two_hosts(tmp_path / "one")
    twin = tmp_path / "twin"
    twin.mkdir()
    for path in gw1:
        (twin / Path(path).name).write_bytes(Path(path).read_bytes())
    parts = [analyze_host(h, _settings()) for h in group_hosts([*gw1, *sorted(
        str(p) for p in twin.iterdir())])]
    scale = merge_parts(parts)["scale"]
    why = {i["section"]: i["why"] for i in scale["not_merged"]}
    assert "awaited a report on two hosts" in why["reports"]
    assert "saw the same traffic" in why["long_sms"]
    assert "reports" not in scale["merged_sections"] and "links" in why
    assert "commands" in scale["merged_sections"]


# -- the Parquet dataset, a damaged file, a worker killed ----------------------------------------


def test_parquet_dataset_by_date_and_sp_and_a_damaged_file_is_a_finding(tmp_path: Path) -> None:
    gw1, gw2 = _two_hosts(tmp_path)
    (tmp_path / "gw2" / "rot-09.pcap").write_bytes(b"this is no capture\n" * 10)
    truncated = Path(gw1[1]).read_bytes()
    Path(gw1[1]).write_bytes(truncated[:len(truncated) - 7])  # the last record cut short
    out = tmp_path / "dataset"
    files = sorted(str(p) for p in tmp_path.glob("gw*/*.pcap"))
    res = run_cli("analyze", "--dask", "--workers", "2", *files, "--parquet", str(out),
                  timeout=180)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    hosts = {h["name"]: h for h in report["scale"]["hosts"]}
    assert hosts[str(tmp_path / "gw2")]["unreadable"] == [
        f"{tmp_path / 'gw2' / 'rot-09.pcap'}: not a pcap or pcapng capture "
        "(starts with 74686973)"]
    assert {"severity": "error", "code": "capture", "count": 1} in report["expert_counts"]
    cut_short = [i["message"] for i in report["expert"]
                 if i["code"] == "capture" and gw1[1] in i["message"]]
    assert cut_short, report["expert"]
    whole = cmppdissect.analyze([*gw1, *gw2]).tables()
    for table in ("pdus", "transactions", "sessions"):
        data = ds.dataset(out / table, partitioning=HIVE).to_table()
        assert data.num_rows == whole[table].num_rows, table
        assert set(data.column("sp_id").to_pylist()) == {"901234"}
        assert set(data.column("date").to_pylist()) == {"2025-11-24"}
        assert set(data.column("host").to_pylist()) == {str(tmp_path / "gw1"),
                                                        str(tmp_path / "gw2")}
        # Two hosts on two workers: a task each, writing every table of its host
        assert sorted(p.name for p in (out / table / "date=2025-11-24" / "sp_id=901234")
                      .iterdir()) == sorted(f"gw{k}-{_tag(tmp_path / f'gw{k}')}-a-0.parquet"
                                            for k in (1, 2))


def _tag(path: Path) -> str:
    from cmppdissect.scale.parts import host_id

    return host_id(str(path)).rsplit("-", 1)[1]


@pytest.mark.parametrize("name", ["jitter", "multi-if", "mixed-versions"])
def test_a_hosts_pdu_rows_written_by_shares_of_its_files_are_the_one_engines(
        client: Client, suite_captures: dict[str, Path], tmp_path: Path, name: str) -> None:
    """--parquet: one host of 5 files on 2 workers; its PDU rows written by two tasks, a
    share of the files each, and its transactions and sessions by its own task. The
    dataset is ``analyze(capture).tables()``, row for row and column for column: cut inside
    PDUs, where the time steps back (jitter, multi-if), and across versions."""
    path = suite_captures[name]
    paths = bench.rotate(path, tmp_path / name, cuts=bench.cuts_for(path, 5))
    out = tmp_path / "ds"
    report = cmppdissect.analyze_many(paths, client=client, parquet=str(out))
    assert "failed" not in report["scale"]["hosts"][0]
    tag = _tag(tmp_path / name)
    wrote = {p.name.split(f"{tag}-")[1].rsplit("-", 1)[0]
             for p in out.glob("*/*/*/*.parquet")}
    assert wrote == {"p0", "p1", "p2", "p3", "t"}  # files 1, 2, 3 and 4-5: four shares
    whole = cmppdissect.analyze(str(path)).tables()
    assert bench.dataset_differences(out, whole) == []
    pdus = whole["pdus"]
    at = pdus.schema.get_field_index("raw")
    raw = pdus.column("raw").to_pylist()
    moved = pdus.set_column(at, "raw", pa.array(raw[1:] + raw[:1], pa.binary()))
    assert bench.dataset_differences(out, {**whole, "pdus": moved}) == ["pdus.raw differs"]
    assert bench.dataset_differences(out, {**whole, "sessions": whole["sessions"][1:]}) == [
        f"sessions: {whole['sessions'].num_rows} rows, {whole['sessions'].num_rows - 1} wanted"]


@pytest.mark.parametrize(("files", "hosts", "workers", "want"), [
    (8, 1, 2, [(0, 2), (2, 4), (4, 6), (6, 8)]),
    (5, 1, 2, [(0, 1), (1, 2), (2, 3), (3, 5)]),
    (3, 1, 8, [(0, 1), (1, 2), (2, 3)]),
    (7, 4, 2, [(0, 7)]),
    (7, 3, 2, [(0, 3), (3, 7)]),
    (6, 2, 5, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 6)]),
    (1, 1, 4, [(0, 1)]),
    (0, 1, 2, []),
])
def test_a_hosts_files_are_cut_into_a_share_per_worker_it_has(
        files: int, hosts: int, workers: int, want: list[tuple[int, int]]) -> None:
    from cmppdissect.scale.dask import shares

    assert shares(files, hosts, workers) == want


def _frames_but_file(paths: list[str], k: int) -> list[int]:
    """The frame numbers of the PDU rows of the chain ``paths`` but those of its file ``k``
    (from 0), each file's frames numbered after the files before it."""
    counts = [len(_read_pcap(Path(p))) for p in paths]
    lo, hi = sum(counts[:k]), sum(counts[:k + 1])
    frames = cmppdissect.analyze([paths]).tables()["pdus"].column("frame").to_pylist()
    left = [f for f in frames if not lo < f <= hi]
    assert 0 < len(left) < len(frames)
    return sorted(left)


def _fail_task(name: str, first: int | None = None) -> None:
    """In a worker: the task ``name`` of :mod:`cmppdissect.scale.parts` fails (a full disk),
    every one, or of ``host_pdus`` the share that starts at file ``first``, leaving its
    staging as a worker killed mid-write would, for good."""
    import cmppdissect.scale.parts as parts

    real = getattr(parts, f"_real_{name}", getattr(parts, name))

    def failing(host: Host, settings: Any, parquet: str | None = None, *args: Any,
                **kwargs: Any) -> Any:
        if first is None:
            raise OSError(28, "No space left on device")
        if args[0] == first:
            Path(str(parquet), f".staging-{parts.host_id(host.name)}-p{first}-killed").mkdir(
                exist_ok=True)
            raise OSError(28, "No space left on device")
        return real(host, settings, parquet, *args, **kwargs)

    setattr(parts, f"_real_{name}", real)
    setattr(parts, name, failing)


def _heal_task(name: str) -> None:
    import cmppdissect.scale.parts as parts

    setattr(parts, name, getattr(parts, f"_real_{name}", getattr(parts, name)))


def test_a_share_that_fails_is_said_and_the_report_stands(
        client: Client, single: tuple[Path, Frames, list[int]], tmp_path: Path) -> None:
    """The task of the second share of a host's files fails (after its retry): the report is
    the same, its sections merged, with a finding and the host's entry saying which files'
    PDU rows the dataset lacks; the rows of the other share are there."""
    frames = single[1]
    paths = _cut(frames, [len(frames) * k // 4 for k in (1, 2, 3)], tmp_path / "gw")
    want = cmppdissect.analyze_many(paths, client=client)
    client.run(_fail_task, "host_pdus", 2)
    try:
        got = cmppdissect.analyze_many(paths, client=client, parquet=str(tmp_path / "ds"))
    finally:
        client.run(_heal_task, "host_pdus")
    lacks = ("the PDU rows of file 3 of its chain were not written: "
             "OSError: [Errno 28] No space left on device")
    entry = got["scale"]["hosts"][0]
    assert entry["failed"] == lacks
    assert {"severity": "error", "code": "host-failed", "count": 1} in got["expert_counts"]
    assert [i["message"] for i in got["expert"] if i["code"] == "host-failed"] == [
        f"host {tmp_path / 'gw'}: {lacks}"]
    assert got["scale"]["merged_sections"] == want["scale"]["merged_sections"]
    for report in (got, want):
        report.pop("scale")
        report.pop("expert")
        report.pop("expert_counts")
    assert got == want
    rows = ds.dataset(tmp_path / "ds" / "pdus", partitioning=HIVE).to_table()
    assert sorted(rows.column("frame").to_pylist()) == _frames_but_file(paths, 2)
    assert list((tmp_path / "ds").glob(".staging-*")) == []  # the failed share's, removed


def test_a_failed_share_names_the_files_of_the_chain_it_lacks(
        client: Client, single: tuple[Path, Frames, list[int]], tmp_path: Path) -> None:
    """Four files given, the first no capture: the shares are cut from the four (a file
    each on two workers), the chain holds three. The third share fails: the dataset lacks
    the rows of the chain's third file, its last, and the entry says so (with two shares
    of two files it said files 3 to 4 of a chain of three, listed in that same entry)."""
    frames = single[1]
    paths = _cut(frames, [len(frames) // 3, 2 * len(frames) // 3], tmp_path / "gw")
    junk = tmp_path / "gw" / "junk.pcap"
    junk.write_bytes(b"this is no capture\n" * 10)
    client.run(_fail_task, "host_pdus", 2)
    try:
        got = cmppdissect.analyze_many(hosts={"gw": [str(junk), *paths]}, client=client,
                                       parquet=str(tmp_path / "ds"))
    finally:
        client.run(_heal_task, "host_pdus")
    entry = got["scale"]["hosts"][0]
    assert entry["files"] == paths
    assert entry["failed"] == ("the PDU rows of file 3 of its chain were not written: "
                               "OSError: [Errno 28] No space left on device")
    whole = cmppdissect.analyze([paths[:2]]).tables()["pdus"]
    rows = ds.dataset(tmp_path / "ds" / "pdus", partitioning=HIVE).to_table()
    assert sorted(rows.column("frame").to_pylist()) == whole.column("frame").to_pylist()


def test_a_host_that_fails_says_what_its_shares_left_in_the_dataset(
        client: Client, single: tuple[Path, Frames, list[int]], tmp_path: Path) -> None:
    """The host's own task fails and so does its second share, the first share does not: the
    dataset holds the first share's PDU rows of a host the report says failed. Its entry,
    its finding and the command's stderr line say so, and which files' rows are missing (the
    host's entry said the task's error alone: a host that failed looked absent from the
    dataset, and the share's own failure went unsaid)."""
    frames = single[1]
    paths = _cut(frames, [len(frames) * k // 4 for k in (1, 2, 3)], tmp_path / "gw")
    client.run(_fail_task, "analyze_host")
    client.run(_fail_task, "host_pdus", 2)
    try:
        got = cmppdissect.analyze_many(paths, client=client, parquet=str(tmp_path / "ds"))
    finally:
        client.run(_heal_task, "analyze_host")
        client.run(_heal_task, "host_pdus")
    disk = "OSError: [Errno 28] No space left on device"
    why = (f"{disk}; the dataset holds its PDU rows, not its transactions and sessions; "
           f"the PDU rows of file 3 of its chain were not written: {disk}")
    assert got["scale"]["hosts"] == [{"name": str(tmp_path / "gw"), "failed": why}]
    assert [i["message"] for i in got["expert"] if i["code"] == "host-failed"] == [
        f"host {tmp_path / 'gw'}: {why}"]
    assert got["scale"]["merged_sections"] == []
    rows = ds.dataset(tmp_path / "ds" / "pdus", partitioning=HIVE).to_table()
    assert sorted(rows.column("frame").to_pylist()) == _frames_but_file(paths, 2)
    assert not (tmp_path / "ds" / "transactions").exists()


def test_a_worker_killed_mid_run_changes_nothing(client: Client, tmp_path: Path) -> None:
    hosts = {}
    for k in range(4):
        path = tmp_path / f"gw{k}" / "cap.pcap"
        path.parent.mkdir()
        gen.generate(path, frames=12_000, seed=20 + k, sessions=3)
        hosts[f"gw{k}"] = [str(path)]
    quiet = tmp_path / "quiet"
    want = merge_parts([analyze_host(Host(name, tuple(p)), _settings(), str(quiet))
                        for name, p in hosts.items()])
    pids = client.run(os.getpid)
    out = tmp_path / "dataset"
    result: dict[str, Any] = {}

    def run() -> None:
        result["report"] = cmppdissect.analyze_many(hosts=hosts, client=client,
                                                    parquet=str(out))

    worker = threading.Thread(target=run)
    worker.start()
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        for address, keys in client.processing().items():
            if any(str(k).startswith("cmppdissect-host-") for k in keys):
                victim = address
                break
        time.sleep(0.01)
    assert victim is not None
    os.kill(pids[victim], signal.SIGKILL)
    worker.join(180)
    assert not worker.is_alive()
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.run(os.getpid)  # it died (its nanny started another)
    got = result["report"]
    for report in (got, want):
        for host in report["scale"]["hosts"]:
            host.pop("seconds")
    assert got == want
    for table in ("pdus", "transactions", "sessions"):
        rows = ds.dataset(out / table, partitioning=HIVE).to_table().num_rows
        assert rows == ds.dataset(quiet / table, partitioning=HIVE).to_table().num_rows


# -- the command line ------------------------------------------------------------------------


def test_cli_with_a_scheduler_address_gives_the_same_report(
        client: Client, single: tuple[Path, Frames, list[int]], tmp_path: Path) -> None:
    path, frames, must = single
    paths = _cut(frames, must, tmp_path / "gw")
    address = client.scheduler.address
    assert address.startswith("tcp://127.0.0.1:")
    res = run_cli("analyze", "--dask", address, *paths, "--report", "json")
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got.pop("scale")["hosts"][0]["files"] == paths
    assert got == json.loads(dumps(cmppdissect.analyze(str(path)).report()))


@pytest.mark.parametrize(("args", "message"), [
    (["--dask"], "cmppdissect analyze: analyze --dask reads capture files: none given"),
    (["--dask", "--host", "gw9", "{a}"], "does not match it"),
    (["--dask", "{a}", "{a}"], "given twice"),
    (["--dask", "tcp://127.0.0.1:9", "{a}"], "cmppdissect analyze: scheduler tcp://127.0.0.1:9"),
    # a path that names no capture file is the command's mistake, not a finding of a task
    (["--dask", "{a}", "{d}/nothing.pcap"], "analyze: {d}/nothing.pcap: no such file"),
    (["--dask", "{a}", "{d}"], "analyze: {d}: is a directory"),
    (["--dask", "{d}/fifo"], "analyze: {d}/fifo: not a regular file"),
    (["--dask", "--host", "(", "{a}"], "analyze: --host '(': missing ), unterminated"),
    (["--dask", "--host", "(gw9)?", "{a}"], "analyze: {a}: --host '(gw9)?' names no host in it"),
    (["--dask", "--host", "x*", "{a}"], "analyze: {a}: --host 'x*' names no host in it"),
    # a scheduler address that is none: said at once, not after the connect timeout
    (["--dask", "tcp://127.0.0.1:99999", "{a}"],
     "scheduler tcp://127.0.0.1:99999: not a scheduler address (port 99999 is out of range)"),
    (["--dask", "tcp://", "{a}"], "scheduler tcp://: not a scheduler address (missing port"),
    (["--dask", "tls://127.0.0.1:9", "{a}"], "scheduler tls://127.0.0.1:9: not a scheduler "
     "address (TLS expects"),
    (["--dask", "{a}", "--parquet", "{a}"], "analyze: --parquet {a}: Not a directory"),
    (["--dask", "{a}", "--report-file", "{d}/none/r.json"],
     "analyze: --report-file {d}/none/r.json: No such file or directory"),
    # argparse's own mistakes name the help that lists analyze's options (not cmppdissect's)
    (["{a}"], "the following arguments are required: --dask (see cmppdissect analyze --help)"),
    (["--dask", "{a}", "--workers", "0"], "'0' (see cmppdissect analyze --help)"),
])
def test_cli_mistakes_are_one_line(single: tuple[Path, Frames, list[int]], tmp_path: Path,
                                   args: list[str], message: str) -> None:
    path = str(single[0])
    os.mkfifo(tmp_path / "fifo")
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "cmppdissect", "analyze",
                          *[a.format(a=path, d=tmp_path) for a in args]], capture_output=True,
                         text=True, timeout=120, check=False, env=env)
    assert res.returncode == 2
    assert message.format(a=path, d=tmp_path) in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1, res.stderr
    assert res.stdout == ""
    assert time.monotonic() - started < 20  # no cluster had to start and stop for it


def test_a_dataset_directory_is_never_written_twice(tmp_path: Path) -> None:
    """A second run into a dataset directory is refused, before anything runs: its rows
    would be read with the first run's (hosts named otherwise: every PDU twice) or replace
    the first run's files of the same host (of every date). The first run's rows stay."""
    gw1, gw2 = _two_hosts(tmp_path)
    out = tmp_path / "dataset"
    first = run_cli("analyze", "--dask", "--workers", "1", *gw1, *gw2, "--parquet", str(out))
    assert first.returncode == 0, first.stderr
    rows = ds.dataset(out / "pdus", partitioning=HIVE).to_table().num_rows
    assert rows == cmppdissect.analyze([*gw1, *gw2]).tables()["pdus"].num_rows
    files = sorted(out.rglob("*"))
    again = run_cli("analyze", "--dask", "--workers", "1", "--host", "gw", *gw1, *gw2,
                    "--parquet", str(out))
    assert again.returncode == 2 and again.stdout == ""
    assert again.stderr == (f"cmppdissect analyze: {out}: holds a dataset already (pdus): "
                            "give a new or empty directory\n")
    assert sorted(out.rglob("*")) == files
    assert ds.dataset(out / "pdus", partitioning=HIVE).to_table().num_rows == rows


def test_a_read_only_dataset_directory_is_one_line_before_anything_runs(
        tmp_path: Path) -> None:
    """A directory the tasks could not write into (a read-only file system) is said at
    once, not as every host's task failing (tracebacks from the workers, a report of
    nothing, exit status 0)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only file system needs root")
    gw1, _gw2 = _two_hosts(tmp_path)
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mount)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        res = run_cli("analyze", "--dask", "--workers", "1", *gw1, "--parquet", str(mount))
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == f"cmppdissect analyze: --parquet {mount}: Read-only file system\n"


@pytest.mark.parametrize("workers", [0, -1])
def test_analyze_many_refuses_fewer_than_one_worker(
        single: tuple[Path, Frames, list[int]], workers: int) -> None:
    """``workers=-1`` asked the local cluster for -1 processes: it waited for ever."""
    from cmppdissect.scale.dask import local_client

    with pytest.raises(ValueError, match=f"workers={workers}: give 1 or more"):
        cmppdissect.analyze_many([str(single[0])], workers=workers)
    with pytest.raises(ValueError, match=f"workers={workers}: give 1 or more"), \
            local_client(workers):
        pass


def test_a_host_that_fails_is_said_and_the_run_fails(tmp_path: Path) -> None:
    """--parquet on a full disk: every host's task fails (after its retry). The report says
    so (host-failed findings, nothing merged), and so do stderr, one line a host, and the
    exit status (it was 0 with nothing on stderr: a report of 0 PDUs looked like success)."""
    gw1, gw2 = _two_hosts(tmp_path)
    with small_disk(tmp_path, 4 * 1024) as mount:
        res = run_cli("analyze", "--dask", "--workers", "2", *gw1, *gw2, "--parquet",
                      str(mount / "ds"), timeout=180)
        assert [p for p in (mount / "ds").rglob("*") if p.is_file()] == []
    assert res.returncode == 2
    report = json.loads(res.stdout)
    failed = {h["name"]: h["failed"] for h in report["scale"]["hosts"]}
    assert set(failed) == {str(tmp_path / "gw1"), str(tmp_path / "gw2")}
    assert all("No space left on device" in why for why in failed.values())
    assert sorted(res.stderr.splitlines()) == sorted(
        f"cmppdissect analyze: host {name} failed: {why}" for name, why in failed.items())
    assert report["scale"]["merged_sections"] == []


def _group(pid: int) -> list[str]:
    """The command lines of the processes of process group ``pid``."""
    found = subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True,
                           check=False).stdout.split()
    lines = []
    for member in found:
        with contextlib.suppress(OSError):
            lines.append(Path(f"/proc/{member}/cmdline").read_text().replace("\0", " "))
    return lines


def _gen_hosts(where: Path, frames: int, seed: int, sessions: int) -> list[str]:
    """Hosts gw1 and gw2, a gen_capture capture each (seeds ``seed`` + 1 and + 2)."""
    paths = []
    for k in (1, 2):
        path = where / f"gw{k}" / "cap.pcap"
        path.parent.mkdir()
        gen.generate(path, frames=frames, seed=seed + k, sessions=sessions)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def two_big_hosts(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Two hosts with a capture each that takes a worker a few seconds."""
    return _gen_hosts(tmp_path_factory.mktemp("big"), 400_000, 40, 6)


@contextlib.contextmanager
def _sigint_not_ignored() -> Iterator[None]:
    """A process started here gets SIGINT as a terminal's foreground job does. An ignored
    signal stays ignored across exec, and Python then installs no KeyboardInterrupt handler:
    tests started from a non-interactive shell's background job (``pytest ... &``, which
    ignores SIGINT) saw the run finish with 0 after its Ctrl-C."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("when", ["starting", "running"])
def test_ctrl_c_ends_the_run_with_130_quietly_and_leaves_no_process(
        two_big_hosts: list[str], tmp_path: Path, when: str) -> None:
    """Ctrl-C as a terminal sends it, to the whole process group, while the embedded
    cluster's workers start or while they run the hosts' tasks (writing the dataset): exit
    status 130 at once, nothing on stderr (no worker's traceback or log), no worker process
    left, no half-written file left in the dataset directory."""
    out = tmp_path / "dataset"
    with _sigint_not_ignored():
        proc = subprocess.Popen([sys.executable, "-m", "cmppdissect", "analyze", "--dask",
                                 "--workers", "2", *two_big_hosts, "--parquet", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if when == "starting" and any("spawn_main" in c for c in _group(proc.pid)):
                break
            if when == "running" and list(out.glob(".staging-gw*")):
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before Ctrl-C"
        os.killpg(proc.pid, signal.SIGINT)
        sent = time.monotonic()
        stdout, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130
    assert (stdout, stderr) == ("", "")
    assert took < 10
    deadline = time.monotonic() + 10
    while _group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _group(proc.pid) == []
    assert [p for p in out.rglob("*") if p.is_file()] == []


def test_no_more_workers_start_than_there_are_hosts(two_big_hosts: list[str],
                                                   tmp_path: Path) -> None:
    """One host is one task: ``--workers 6`` with one host starts one worker process (a
    huge N used to start as many as it said, until the memory ran out)."""
    report = tmp_path / "report.json"
    proc = subprocess.Popen([sys.executable, "-m", "cmppdissect", "analyze", "--dask",
                             "--workers", "6", two_big_hosts[0], "--report-file", str(report)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    most = 0
    while proc.poll() is None:
        most = max(most, sum("spawn_main" in c for c in _group(proc.pid)))
        time.sleep(0.05)
    assert proc.returncode == 0
    got = json.loads(report.read_text())["pdus"]
    assert got == cmppdissect.analyze(two_big_hosts[0]).report()["pdus"]
    assert most == 1


@pytest.mark.skipif(shutil.which("tmux") is None,
                    reason="tmux is not installed (.ci/run installs it)")
def test_a_terminal_shows_a_bar_of_the_tasks_done(tmp_path: Path) -> None:
    """On a terminal (tmux), stderr shows a bar of the tasks done: one host of 4 files with
    --parquet on two workers is five tasks (the host's own and a share of a file each), the
    bar there from 0/5 and gone at the end, the report written, nothing else on the
    screen."""
    whole = tmp_path / "cap.pcap"
    gen.generate(whole, frames=100_000, seed=61, sessions=4)
    paths = bench.rotate(whole, tmp_path / "gw", 4)
    report = tmp_path / "report.json"
    term = Terminal(f"{shlex.quote(sys.executable)} -m cmppdissect analyze --dask --workers 2 "
                    f"{' '.join(paths)} --parquet {tmp_path / 'ds'} --report-file {report}")
    try:
        seen = set()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            screen = term.screen()
            seen |= set(re.findall(r"tasks\b.*━.* ([0-5])/5", screen))
            if "EXIT=" in screen:
                break
            time.sleep(0.05)
    finally:
        term.close()
    assert "EXIT=0" in screen, screen
    assert screen.split("EXIT=0")[0].strip() == "", screen  # the bar went, nothing else came
    assert "0" in seen and len(seen) >= 2, seen  # from 0/4, then as tasks ended
    assert json.loads(report.read_text())["pdus"] == cmppdissect.analyze(str(whole)).report()[
        "pdus"]


@pytest.mark.parametrize(("loose", "merged"), [(5, False), (100, True)])
def test_loose_ends_are_bounded_and_past_the_bound_nothing_is_guessed(
        tmp_path: Path, loose: int, merged: bool) -> None:
    """gw2 holds 24 reports unmatched on their own: past ``max_loose_ends`` the report
    sections say they are not merged; within it they are, and equal the one engine's."""
    gw1, gw2 = _two_hosts(tmp_path)
    settings = {**_settings(), "max_loose_ends": loose, "max_report_listed": 3}
    parts = [analyze_host(h, settings) for h in group_hosts([*gw1, *gw2])]
    assert len(parts[1].report_lists["unmatched"]) == min(loose, 24)
    got = merge_parts(parts, max_report_listed=3)
    why = {i["section"]: i["why"] for i in got["scale"]["not_merged"]}
    for section in ("reports", "reconciliation", "expert_counts"):
        assert (section in got["scale"]["merged_sections"]) is merged, why
    if not merged:
        assert "more unmatched status reports than the merge takes" in why["reports"]
    compare_merged(got, cmppdissect.analyze([*gw1, *gw2], max_report_listed=3).report())


@pytest.mark.parametrize("max_open", [1, 128])
def test_the_dataset_is_the_same_rows_however_many_files_stay_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_open: int) -> None:
    import cmppdissect.scale.dataset as dataset

    capture = tmp_path / "gw" / "cap.pcap"
    capture.parent.mkdir()
    gen.generate(capture, frames=3000, seed=3, sessions=4)
    monkeypatch.setattr(dataset, "MAX_OPEN", max_open)
    rows = dataset.write_host_tables(cmppdissect.analyze(str(capture)), "gw", tmp_path / "ds",
                                     row_group_rows=50)
    whole = cmppdissect.analyze(str(capture)).tables()
    for table, key in (("pdus", "frame"), ("transactions", "request_frame"),
                       ("sessions", "id")):
        data = ds.dataset(tmp_path / "ds" / table, partitioning=HIVE).to_table()
        assert rows[table] == data.num_rows == whole[table].num_rows
        assert sorted(data.column(key).to_pylist()) == sorted(whole[table].column(key)
                                                              .to_pylist())
        files = list((tmp_path / "ds" / table).glob("*/*/*.parquet"))
        sps = {p.parent.name for p in files}
        assert len(sps) >= 3  # several SPs: several partitions
        assert (len(files) > len(sps)) is (max_open == 1 and table != "sessions")


def test_hosts_past_their_sample_budget_merge_their_sketches(tmp_path: Path) -> None:
    """Each host folds its samples into DDSketches (max_samples): the merge adds the
    sketches (with the sessions renumbered), so every count is the one engine's and each
    percentile within 1% of its exact one, and the report says how it was read."""
    gw1, gw2 = _two_hosts(tmp_path)
    want = cmppdissect.analyze([*gw1, *gw2]).report()
    parts = [analyze_host(h, {**_settings(), "max_samples": 5})
             for h in group_hosts([*gw1, *gw2])]
    assert all(p.sketches is not None and p.sketches.folded for p in parts)
    got = merge_parts(parts)
    assert got["samples"]["exact"] is False
    assert got["samples"]["samples_folded"] == sum(p.sketches.folded for p in parts
                                                   if p.sketches is not None)
    why = {i["section"]: i["why"] for i in got["scale"]["not_merged"]}
    assert "DDSketches" in why["commands"]
    for name, figures in want["commands"].items():
        mine = got["commands"][name]
        assert mine["paired"] == figures["paired"] and mine["requests"] == figures["requests"]
        exact, folded = figures["latency_ms"], mine["latency_ms"]
        if figures["paired"]:
            assert (folded["min"], folded["max"]) == (exact["min"], exact["max"])
            assert folded["mean"] == pytest.approx(exact["mean"])
    delays = got["reports"]["submit_to_report_ms"]
    assert delays["max"] == want["reports"]["submit_to_report_ms"]["max"]
    assert got["reports"]["matched"] == want["reports"]["matched"]
