"""What docs/live.md gives an operator works: the Grafana dashboard asks only for metrics the
collector exports (names and labels), and the systemd unit's command line is one our parser
takes, that ``systemd-analyze verify`` accepts, and that runs (as root: for real, on lo)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cmppdissect.api import analyze
from cmppdissect.cli import _parser
from cmppdissect.output.metrics import EngineCollector
from cmppdissect.sources.ring import parse_ring

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
UNIT = ROOT / "docs" / "cmppdissect.service"
# Labels Prometheus adds to every series it scrapes.
TARGET_LABELS = {"instance", "job"}

_SPEC = importlib.util.spec_from_file_location("gen_capture", ROOT / "bench" / "gen_capture.py")
assert _SPEC is not None and _SPEC.loader is not None
gen = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("gen_capture", gen)
_SPEC.loader.exec_module(gen)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Every series name the collector exports, with its label names: read from its families
    after a capture that has every kind of traffic (status reports, failures, logins), with a
    live capture's counters."""
    path = tmp_path_factory.mktemp("metrics") / "mix.pcap"
    gen.generate(path, frames=2000, seed=3, sessions=3,
                 mix=gen.Mix(unanswered=0.05, error_result=0.1))
    analysis = analyze(str(path)).run()
    collector = EngineCollector(lambda: analysis,
                                capture=lambda: {"kernel_received": 5, "kernel_dropped": 1})
    names: dict[str, set[str]] = {}
    for family in collector.collect():
        assert family.samples, f"{family.name}: no sample on this capture"
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def _expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every query: the panels' targets and the template variables'."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", ()):
            yield panel["title"], target["expr"]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"]
            inner = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
            assert inner, query
            yield f"${var['name']}", f"{inner[1]} by ({inner[2]})"


_SELECTOR = re.compile(r"\b(cmpp_[a-z_]+)\b(\{[^}]*\})?")
_BY = re.compile(r"\bby \(([^)]*)\)")
_MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"")


def test_dashboard_asks_only_for_exported_metrics_and_labels(
        exported: dict[str, set[str]]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    used: set[str] = set()
    for where, expr in _expressions(dashboard):
        assert expr.count("(") == expr.count(")"), (where, expr)
        found = _SELECTOR.findall(expr)
        assert found, (where, expr)
        labels: set[str] = set(TARGET_LABELS)
        for name, matchers in found:
            assert name in exported, f"{where}: {name} is not exported ({sorted(exported)})"
            used.add(name)
            labels |= exported[name]
            for key in _MATCHER.findall(matchers):
                assert key in exported[name] | TARGET_LABELS, (where, name, key)
        for group in _BY.findall(expr):
            for key in (k.strip() for k in group.split(",")):
                assert key in labels, f"{where}: by ({key}) is not a label of {found}"
    # The families an operator looks at first are all on it.
    for name in ("cmpp_pdus_total", "cmpp_requests_total", "cmpp_responses_by_result_total",
                 "cmpp_response_time_seconds_bucket", "cmpp_unanswered_total",
                 "cmpp_requests_in_flight", "cmpp_sessions_up", "cmpp_logins_total",
                 "cmpp_reports_total", "cmpp_submit_to_report_seconds_bucket",
                 "cmpp_kernel_packets_dropped_total", "cmpp_kernel_packets_received_total"):
        assert name in used, name


def test_dashboard_is_a_grafana_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "instance", "sp"}
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24 and pos["h"] > 0
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs))
        for target in panel["targets"]:
            assert "$__rate_interval" in target["expr"] or "rate(" not in target["expr"]


def _exec_start() -> list[str]:
    """The unit's ExecStart as systemd splits it (continued lines joined)."""
    text = UNIT.read_text().replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def test_unit_command_line_is_ours() -> None:
    argv = _exec_start()
    assert argv[0] == "/opt/cmppdissect/bin/cmppdissect"
    args = _parser().parse_intermixed_args(argv[1:])  # argparse: no error (would raise)
    assert args.interface == "eth0" and args.capture_filter == "tcp port 7890"
    ring = parse_ring(args.ring_options)
    assert ring.duration_ns == 3600 * 10**9 and ring.files == 48
    assert args.report_every == 60 and args.metrics == "127.0.0.1:9464"
    unit = UNIT.read_text()
    # The folders it writes to are the state directories systemd makes for the user.
    for path in (args.write, args.jsonl, args.report_file):
        folder = os.path.relpath(os.path.dirname(path), "/var/lib")
        assert re.search(rf"^StateDirectory=.*\b{re.escape(folder)}\b", unit, re.M), folder
    for setting in ("AmbientCapabilities=CAP_NET_RAW", "DynamicUser=yes",
                    "ProtectSystem=strict", "Restart=on-failure", "NoNewPrivileges=yes"):
        assert re.search(rf"^{re.escape(setting)}$", unit, re.M), setting


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """With ExecStart pointing at this checkout's command (verify wants it to exist)."""
    here = shutil.which("cmppdissect", path=str(Path(sys.executable).parent))
    assert here is not None
    unit = tmp_path / "cmppdissect.service"
    unit.write_text(UNIT.read_text().replace("/opt/cmppdissect/bin/cmppdissect", here))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == "" and done.stdout == "", done


def _can_capture() -> bool:
    if os.geteuid() != 0:
        return False
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _can_capture(), reason="live capture needs root")
def test_unit_command_line_runs(tmp_path: Path) -> None:
    """The unit's command, on lo, writing under a temporary folder for a moment: it makes the
    first file of each ring and the final report, and stops cleanly."""
    argv = [a.replace("/var/lib/cmppdissect", str(tmp_path)) for a in _exec_start()[1:]]
    argv[argv.index("-i") + 1] = "lo"
    argv[argv.index("--metrics") + 1] = "127.0.0.1:0"
    for folder in ("capture", "pdus", "reports"):
        (tmp_path / folder).mkdir()
    done = subprocess.run([sys.executable, "-m", "cmppdissect", *argv, "--duration", "1"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    # What the journal gets when it stops (the report went to its file): the capture's line,
    # with the kernel's counts. (It got "Capturing on lo" and then nothing.)
    assert done.stdout == ""
    assert done.stderr.splitlines()[-2] == "Capturing on lo"
    assert re.fullmatch(r"Capture on lo: \d+ frames \(\d+ bytes\) in [\d.]+ s; kernel: \d+ "
                        r"received, 0 dropped", done.stderr.splitlines()[-1]), done.stderr
    assert len(list((tmp_path / "capture").glob("cmpp_00001_*.pcapng"))) == 1
    assert len(list((tmp_path / "pdus").glob("pdus_00001_*.jsonl"))) == 1
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["period"] == {**report["period"], "number": 1, "final": True,
                                "clock": "wall", "every_s": 60}
    assert report["capture"]["interface"] == "lo"
