"""``--metrics ADDR:PORT``: the engine's counters scraped over real HTTP.

The end-to-end tests run the command line capturing live on ``lo`` (root, as tests/test_live.py)
while the simulator talks through it, scrape the endpoint with urllib during and after the run,
and check every counter against the simulator's own log and against ``--report json`` of the
same capture. The label cap and the label safety are checked on the real engine; bad
``--metrics`` arguments are one line and exit status 2.
"""

from __future__ import annotations

import asyncio
import json
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pcaputil import live_capture_unavailable
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import cmppdissect
from cmppdissect.output.metrics import (
    LATENCY_BUCKETS_S,
    EngineCollector,
    LabelCap,
    label_value,
)
from cmppdissect.protocol.commands import command_name
from cmppdissect.protocol.decode import decode_pdu
from cmppdissect.protocol.layouts import result_of
from cmppdissect.protocol.version import Version
from cmppdissect.sim.behaviour import Behaviour, Faults
from cmppdissect.sim.client import SpClient
from cmppdissect.sim.ismg import IsmgConfig
from cmppdissect.sim.log import ConnectionLog
from cmppdissect.sim.messages import MessageMix
from cmppdissect.sim.server import IsmgServer
from cmppdissect.sim.sp import SpConfig

SAMPLES = Path(__file__).parent.parent / "samples"
SP_ID, SECRET = "901234", "123456"
RESPONSE = 0x80000000

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition: {(sample name, sorted labels): value}."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def by(samples: Samples, name: str, *labels: str) -> dict[tuple[str, ...], float]:
    """The samples of ``name`` summed by the given labels."""
    out: dict[tuple[str, ...], float] = defaultdict(float)
    for (sample, labelset), value in samples.items():
        if sample == name:
            d = dict(labelset)
            out[tuple(d.get(k, "") for k in labels)] += value
    return dict(out)


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return parse(response.read().decode())


def collected(analysis: Any, **kw: Any) -> Samples:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(lambda: analysis, **kw))
    return parse(generate_latest(registry).decode())


# -- the collector on a capture file: the label cap, label safety ---------------------------------


def test_label_values_from_the_wire_are_safe() -> None:
    assert label_value("901234") == "901234"
    assert label_value('9"0\n1\\') == "9%220%0A1%5C"  # quote, newline, backslash encoded
    assert label_value("\u202etest") == "%E2%80%AEtest"  # a bidi override
    assert label_value("other") == "%6Fther" and label_value("none") == "%6Eone"
    assert len(label_value("x" * 100)) == 32 and label_value("x" * 100).endswith("~")
    folded: list[int] = []
    cap = LabelCap(2, folded.append)
    assert [cap(v) for v in ("a", "b", "c", "a", "d")] == ["a", "b", "other", "a", "other"]
    assert folded == [2]  # said once


@pytest.mark.parametrize("cap", [1, 2])
def test_sp_labels_are_capped_and_the_rest_is_other(cap: int) -> None:
    """cmpp-basic.pcap has two SPs: a cap of 1 folds the second into sp="other" (with one
    finding), a cap of 2 keeps both; either way each family sums to the capture's totals."""
    a = cmppdissect.analyze(SAMPLES / "cmpp-basic.pcap")
    a.run()
    m = collected(a, max_sp=cap)
    report = a.report()
    sps = {sp for (sp,) in by(m, "cmpp_requests_total", "sp")}
    assert sps == ({"901234", "other"} if cap == 1 else {"901234", "905678"})
    for command, entry in report["commands"].items():
        for what in ("requests", "responses", "paired", "unanswered", "orphan_responses",
                     "retransmitted"):
            assert by(m, f"cmpp_{what}_total", "command")[(command,)] == entry[what]
    codes = [e.code for e in a.expert if e.code == "metrics-sp-cap"]
    assert len(codes) == (1 if cap == 1 else 0)
    assert m[("cmpp_metrics_sp_labels", (("cap", str(cap)),
                                         ("folded", str(cap == 1).lower())))] == cap
    # A second scrape (a new collector: its own first-come labels) folds the same way; the
    # engine has one more finding for it, none when nothing was folded.
    assert collected(a, max_sp=cap) == m
    assert len([e for e in a.expert if e.code == "metrics-sp-cap"]) == (2 if cap == 1 else 0)
    assert by(m, "cmpp_logins_total", "sp", "result") == (
        {("901234", "0"): 1, ("other", "0"): 1} if cap == 1
        else {("901234", "0"): 1, ("905678", "0"): 1})


def test_histograms_hold_the_cores_samples() -> None:
    a = cmppdissect.analyze(SAMPLES / "cmpp-basic.pcap")
    a.run()
    m = collected(a)
    report = a.report()
    for command in report["commands"]:
        ms = (a.latency_samples(command) / 1e6).tolist()
        count = by(m, "cmpp_response_time_seconds_count", "command").get((command,), 0)
        assert count == len(ms)
        for edge in LATENCY_BUCKETS_S:
            le = by(m, "cmpp_response_time_seconds_bucket", "command", "le")
            assert le.get((command, repr(edge)), 0) == sum(v <= edge * 1000 for v in ms)
    matched = report["reports"]["matched"]
    assert matched and by(m, "cmpp_submit_to_report_seconds_count")[()] == matched
    assert {stat: n for (stat,), n in by(m, "cmpp_reports_total", "stat").items()} == {
        stat: e["count"] for stat, e in report["reports"]["stat"].items()}


# -- bad arguments ------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cmppdissect", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("spec", ["nonsense", "127.0.0.1", "127.0.0.1:99999", "host:port",
                                  "[::1:9464", "no-such-host.invalid:9464",
                                  # taken as [::1]:9464, every IPv4 address, port 9464
                                  "::1:9464", "[]:9464", "127.0.0.1:+9464", "127.0.0.1:9_464",
                                  "[::1]"])
def test_bad_metrics_address_is_one_line(spec: str) -> None:
    res = _cli("--metrics", spec, "-q", str(SAMPLES / "cmpp-basic.pcap"))
    assert res.returncode == 2, res
    assert res.stdout == "" and res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith(f"cmppdissect: --metrics {spec}: ")
    assert "Serving metrics" not in res.stderr


def test_metrics_port_in_use_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = _cli("--metrics", f"127.0.0.1:{port}", "-q", str(SAMPLES / "cmpp-basic.pcap"))
    assert res.returncode == 2
    assert res.stderr.strip() == (f"cmppdissect: --metrics 127.0.0.1:{port}: "
                                  "Address already in use"), res.stderr


def test_metrics_with_a_file_serves_until_the_analysis_ends() -> None:
    res = _cli("--metrics", "127.0.0.1:0", "--report", "json", str(SAMPLES / "cmpp-basic.pcap"))
    assert res.returncode == 0, res.stderr
    assert res.stderr.startswith("Serving metrics on http://127.0.0.1:")
    assert json.loads(res.stdout)["pdus"] > 0


def test_a_file_exports_no_kernel_counters() -> None:
    """The kernel's packet counters are live capture's (docs/live.md: ``-i`` only): a file
    has none to export. (They were exported as counters of 0, as if a kernel had passed and
    dropped nothing.)"""
    proc = subprocess.Popen([sys.executable, "-m", "cmppdissect", "--metrics", "127.0.0.1:0",
                             "--report", "json", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:  # scraped once the capture is read, while the analysis waits for the rest
        assert proc.stderr is not None and proc.stdin is not None
        line = proc.stderr.readline().decode().strip()
        proc.stdin.write((SAMPLES / "cmpp-basic.pcap").read_bytes())
        proc.stdin.flush()
        text = _scrape_until(line.split()[-1], "cmpp_capture_frames_total")
    finally:
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "cmpp_pdus_total" in text and "cmpp_metrics_sp_labels" in text, text
    assert "cmpp_kernel_packets" not in text, text


def _scrape_until(url: str, needle: str, timeout: float = 30) -> str:
    """Scrape ``url`` until its text holds ``needle`` (the analysis reads its input from
    another process: it comes when it comes)."""
    end = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.status == 200
            text = answer.read().decode()
        if needle in text or time.monotonic() > end:
            return text
        time.sleep(0.05)


def test_the_url_said_for_an_ipv6_address_is_one_that_can_be_scraped() -> None:
    """``[::1]:0``: the line names ``http://[::1]:PORT/metrics`` (``http://::1:PORT`` is no
    URL), and that URL answers while the analysis runs."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    with socket.socket(socket.AF_INET6) as probe:
        try:
            probe.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback here")
    proc = subprocess.Popen([sys.executable, "-m", "cmppdissect", "--metrics", "[::1]:0",
                             "--report", "json", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:  # scraped once the capture is read, while the analysis waits for the rest
        assert proc.stderr is not None and proc.stdin is not None
        line = proc.stderr.readline().decode().strip()
        assert re.fullmatch(r"Serving metrics on http://\[::1\]:\d+/metrics", line), line
        proc.stdin.write((SAMPLES / "cmpp-basic.pcap").read_bytes())
        proc.stdin.flush()
        assert "cmpp_pdus_total" in _scrape_until(line.split()[-1], "cmpp_pdus_total")
    finally:
        proc.communicate(timeout=60)
    assert proc.returncode == 0


# -- live, end to end: a real scrape while the simulator runs -----------------------------------


def _why_not() -> str | None:
    return live_capture_unavailable()


live = pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _line(stream: Any, timeout: float = 30) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else ""


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _traffic(port: int) -> tuple[ConnectionLog, ConnectionLog]:
    """One SP session against a misbehaving ISMG: failed SUBMITs, duplicate responses
    (orphans), failed status reports; and a second SP whose login is refused."""
    async def main() -> tuple[ConnectionLog, ConnectionLog]:
        ismg = IsmgConfig(
            version=Version.V3_0, accounts={SP_ID: SECRET}, report_delay=0.02,
            report_fail=0.3, mo_rate=40.0, seed=3,
            behaviour=Behaviour(error_rate=0.3, error_codes=(8, 7),
                                faults=Faults(duplicate=0.1)))
        server = IsmgServer(ismg, max_events=10_000, keep_bytes=True)
        host, _ = await server.start("127.0.0.1", port)
        mix = MessageMix(long_ratio=0.3, group_ratio=0.2, report_ratio=0.8)
        try:
            sp = await asyncio.wait_for(SpClient(SpConfig(
                sp_id=SP_ID, secret=SECRET, version=Version.V3_0, rate=200, count=60, mix=mix,
                query_interval=0.05, cancel_ratio=0.1, linger=0.5, seed=7),
                max_events=10_000).run(host, port), 60)
            refused = await asyncio.wait_for(SpClient(SpConfig(
                sp_id="905678", secret="wrong", version=Version.V3_0, count=1),
                max_events=100).run(host, port), 60)
            assert refused.login_status == 2  # an unknown SP_Id
        finally:
            await server.stop()
        return sp, server.log.connections[0]

    return asyncio.run(main())


@live
def test_live_scrape_matches_the_simulator_log_and_the_report(
        procs: list[subprocess.Popen[str]], tmp_path: Path) -> None:
    port = _free_port()
    report_file = tmp_path / "report.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cmppdissect", "-i", "lo", "-f", f"tcp port {port}", "-d",
         str(port), "-T", "jsonl", "--metrics", "127.0.0.1:0", "--report-file",
         str(report_file)], text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    procs.append(proc)
    assert proc.stderr is not None
    serving = _line(proc.stderr)
    assert serving.startswith("Serving metrics on http://127.0.0.1:"), serving
    url = serving.split()[-1]
    assert _line(proc.stderr).startswith("Capturing on lo")

    before = scrape(url)  # before any traffic: the capture's counters, no CMPP yet
    assert by(before, "cmpp_pdus_total") == {}
    assert before[("cmpp_kernel_packets_dropped_total", ())] == 0

    logs: list[tuple[ConnectionLog, ConnectionLog]] = []
    talker = threading.Thread(target=lambda: logs.append(_traffic(port)))
    talker.start()
    during: list[Samples] = []
    while talker.is_alive():  # scraped while the simulator talks and the capture runs
        during.append(scrape(url))
        time.sleep(0.05)
    talker.join()
    [(sp, ismg)] = logs
    sent = Counter[int]()
    sent.update(sp.sent)
    sent.update(ismg.sent)
    deadline = time.monotonic() + 30
    while True:  # the capture analyses what the kernel queued: wait for the last PDUs
        m = scrape(url)
        mine_pdus = sum(v for (name, labels), v in m.items()
                        if name == "cmpp_pdus_total" and ("sp", SP_ID) in labels)
        logins = sum(by(m, "cmpp_logins_total").values())
        if (mine_pdus >= sum(sent.values()) and logins == 2) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert proc.poll() is None  # still capturing: the figures came while it ran
    assert len(during) >= 3

    # Every counter only grows from one scrape to the next.
    for earlier, later in zip([before, *during], [*during, m], strict=True):
        for key, value in earlier.items():
            if key[0].endswith(("_total", "_count", "_bucket")):
                assert later.get(key, 0) >= value, key

    # Against the simulator's log, for the SP that logged in (sp="901234").
    mine = {k: v for k, v in m.items() if ("sp", SP_ID) in k[1]}
    pdus = by(mine, "cmpp_pdus_total", "command")
    assert pdus == {(command_name(cmd),): n for cmd, n in sent.items()}
    requests = by(mine, "cmpp_requests_total", "command")
    responses = by(mine, "cmpp_responses_total", "command")
    for (command,), n in requests.items():
        cmd = next(c for c in sent if command_name(c) == command)
        assert n == sent[cmd] and responses[(command,)] == sent[cmd | RESPONSE], command
    duplicates = ismg.faults["duplicate"]
    assert duplicates, "the run injected no duplicate response"
    assert by(mine, "cmpp_orphan_responses_total")[()] == duplicates
    assert by(mine, "cmpp_retransmitted_total")[()] == 0
    results = by(mine, "cmpp_responses_by_result_total", "command", "result")
    # Every Result on the wire: the gateway's responses read back from the bytes it sent
    # (a duplicated response is there twice), the SP's DELIVER_RESPs from its log.
    expected = Counter[tuple[str, str]]()
    for (cmd, code), n in sp.results_sent.items():
        expected[(command_name(cmd), str(code))] += n
    for event in ismg.events:
        if event.direction == "sent" and event.data is not None:
            outcome = result_of(decode_pdu(event.data, Version.V3_0).fields)
            if outcome is not None:
                expected[(event.command, str(outcome[1]))] += 1
    assert sum(expected.values()) == sum(n for cmd, n in sent.items() if cmd & RESPONSE
                                         and command_name(cmd) in {k[0] for k in expected})
    assert {k: v for k, v in results.items() if k[0] != "CMPP_CONNECT_RESP"} == {
        k: v for k, v in expected.items() if k[0] != "CMPP_CONNECT_RESP"}
    assert results[("CMPP_SUBMIT_RESP", "8")] + results[("CMPP_SUBMIT_RESP", "7")] > 0
    stats = {stat: n for (stat,), n in by(m, "cmpp_reports_total", "stat").items()}
    assert stats == dict(ismg.reports_sent)
    assert by(mine, "cmpp_submit_to_report_seconds_count")[()] == sum(
        sp.reports_received.values())
    latency_count = by(mine, "cmpp_response_time_seconds_count", "command")
    for cmd, pairs in ((c, lat.count) for c, lat in sp.latencies.items()):
        # Every pair the SP logged is a pair of the capture (it may log fewer: a response
        # still on the wire when the session closed).
        assert latency_count[(command_name(cmd),)] >= pairs
    assert by(m, "cmpp_logins_total", "sp", "result") == {(SP_ID, "0"): 1, ("905678", "2"): 1}
    assert by(m, "cmpp_sessions_opened_total")[()] == 2
    assert by(m, "cmpp_sessions_up", "sp").get((SP_ID,), 0) == 0  # both ended
    assert by(m, "cmpp_requests_in_flight")[()] == 0
    assert m[("cmpp_kernel_packets_dropped_total", ())] == 0
    assert m[("cmpp_skipped_bytes_total", ())] == 0

    # Against --report json of the same capture (written when the capture stops).
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    report = json.loads(report_file.read_text())
    for command, entry in report["commands"].items():
        for what in ("requests", "responses", "paired", "unanswered", "orphan_responses",
                     "retransmitted"):
            assert by(m, f"cmpp_{what}_total", "command").get((command,), 0) == entry[what]
    assert {(r["command"], str(r["code"])): r["count"] for r in report["results"]} == {
        k: v for k, v in by(m, "cmpp_responses_by_result_total", "command", "result").items()}
    assert report["reports"]["matched"] == by(m, "cmpp_submit_to_report_seconds_count")[()]
    assert report["pdus"] == sum(by(m, "cmpp_pdus_total").values())
    capture = report["capture"]
    assert capture["frames"] == m[("cmpp_capture_frames_total", ())]
    assert capture["kernel_received"] == m[("cmpp_kernel_packets_received_total", ())]
    assert capture["kernel_dropped"] == m[("cmpp_kernel_packets_dropped_total", ())] == 0
