"""Live capture on loopback while the simulator talks: what we capture is what it sent.

These tests open AF_PACKET sockets, so they need root (CI runs them as root) and skip otherwise.
The simulator runs in this process (its Python API, with per-PDU event logs) or the capture runs
as the real command line in a subprocess; traffic is told apart from anything else on ``lo`` by
its port, with a kernel BPF filter.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pcaputil import live_capture_unavailable, on_a_terminal, small_disk

from cmppdissect.api import Analysis, analyze
from cmppdissect.output.records import record_dict
from cmppdissect.protocol.commands import command_name, is_response
from cmppdissect.protocol.version import Version
from cmppdissect.sim.client import SpClient
from cmppdissect.sim.ismg import IsmgConfig
from cmppdissect.sim.log import ConnectionLog
from cmppdissect.sim.messages import MessageMix
from cmppdissect.sim.server import IsmgServer
from cmppdissect.sim.sp import SpConfig
from cmppdissect.sources.live import LiveCapture, LiveCaptureError
from cmppdissect.sources.segments import iter_segments
from cmppdissect.store import PduRecord


def _why_not() -> str | None:
    return live_capture_unavailable()


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))

SP_ID, SECRET = "901234", "123456"


# -- the simulator in this process, with a capture running in a thread ---------------------------


@dataclass
class Run:
    port: int
    sp: ConnectionLog
    ismg: ConnectionLog
    records: list[PduRecord]
    analysis: Analysis
    capture: LiveCapture


def _sp_config(version: Version, count: int, **kw: Any) -> SpConfig:
    mix = MessageMix(long_ratio=0.3, group_ratio=0.2, report_ratio=0.6)
    return SpConfig(sp_id=SP_ID, secret=SECRET, version=version, rate=0, count=count, mix=mix,
                    query_interval=0.02, cancel_ratio=0.2, linger=0.3, seed=7, **kw)


def _ismg_config(version: Version) -> IsmgConfig:
    return IsmgConfig(version=version, accounts={SP_ID: SECRET}, report_delay=0.02,
                      mo_rate=40.0, seed=3)


SIM_TIMEOUT = 60.0  # a simulator session that hangs fails the test instead of hanging it


async def _exchange(host: str, port: int, config: SpConfig) -> ConnectionLog:
    return await asyncio.wait_for(SpClient(config, max_events=10_000).run(host, port),
                                  SIM_TIMEOUT)


def run_captured(version: Version, *, count: int = 30, write: Path | None = None,
                 bpf: str = "tcp port {port}") -> Run:
    """One SP session against one ISMG on lo, analysed live as it happens."""
    result: dict[str, Any] = {}

    async def main() -> None:
        server = IsmgServer(_ismg_config(version), max_events=10_000)
        host, port = await server.start("127.0.0.1", 0)
        capture = LiveCapture("lo", bpf=bpf.format(port=port), write=write)
        analysis = analyze(capture, ports=(port,))
        records: list[PduRecord] = []
        reader = threading.Thread(target=lambda: records.extend(analysis.pdus()), daemon=True)
        reader.start()
        try:
            sp = await _exchange(host, port, _sp_config(version, count))
        finally:
            await server.stop()
            await asyncio.sleep(0.05)  # let the last FIN/ACK reach the capture point
            capture.stop()
            await asyncio.to_thread(reader.join, 30)
        assert not reader.is_alive()
        result.update(port=port, sp=sp, ismg=server.log.connections[0], records=records,
                      analysis=analysis, capture=capture)

    asyncio.run(main())
    return Run(**result)


def _above_ephemeral_port() -> int:
    """A free port above the range the kernel picks clients' ports from: a client's port is
    then always the lower one."""
    top = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[1])
    for port in range(65535, top, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip(f"no free port above {top}")


def test_a_session_joined_mid_stream_on_another_port_knows_its_client() -> None:
    """Live, a capture started after the login, on a port not known to be CMPP's, with the
    ISMG on the higher port: the SP is the client (the lower port was taken for the server's),
    and every PDU's side and the TCP bytes follow."""
    port = _above_ephemeral_port()
    result: dict[str, Any] = {}

    async def main() -> None:
        server = IsmgServer(_ismg_config(Version.V3_0), max_events=10_000)
        await server.start("127.0.0.1", port)
        client = SpClient(_sp_config(Version.V3_0, 10_000, duration=1.5), max_events=10_000)
        task = asyncio.ensure_future(client.run("127.0.0.1", port))
        try:
            while not client.log.connections or client.log.connections[0].sent[4] < 5:
                assert not task.done()
                await asyncio.sleep(0.01)
            capture = LiveCapture("lo", bpf=f"tcp port {port}")
            analysis = analyze(capture)  # the heuristic's: the port is not given
            records: list[PduRecord] = []
            reader = threading.Thread(target=lambda: records.extend(analysis.pdus()),
                                      daemon=True)
            reader.start()
            sp = await asyncio.wait_for(task, SIM_TIMEOUT)
        finally:
            await server.stop()
        await asyncio.sleep(0.05)
        capture.stop()
        await asyncio.to_thread(reader.join, 30)
        result.update(sp=sp, records=records, report=analysis.report())

    asyncio.run(main())
    sp, records, report = result["sp"], result["records"], result["report"]
    assert sp.local is not None
    sp_end = f"127.0.0.1:{sp.local[1]}"
    (session,) = report["sessions"]
    assert (session["client"], session["server"]) == (sp_end, f"127.0.0.1:{port}")
    assert records and all(r.from_client == (r.src == sp_end) for r in records)
    assert {r.command for r in records if r.from_client} >= {"CMPP_SUBMIT"}
    assert session["pdus_from_client"] == sum(r.from_client for r in records)
    assert session["tcp"]["bytes_from_client"] >= sum(
        r.pdu.Total_Length for r in records if r.from_client) > 0


@pytest.fixture(scope="module", params=[Version.V2_0, Version.V3_0], ids=["v2.0", "v3.0"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("live") / "captured.pcap"
    return run_captured(request.param, write=out)


def _sent(log: ConnectionLog) -> list[tuple[str, int]]:
    return [(e.command, e.sequence_id) for e in log.events if e.direction == "sent"]


def test_every_pdu_once_in_the_order_each_side_sent_it(run: Run) -> None:
    client = [(r.command, r.pdu.Sequence_Id) for r in run.records if r.from_client]
    server = [(r.command, r.pdu.Sequence_Id) for r in run.records if not r.from_client]
    assert client == _sent(run.sp)
    assert server == _sent(run.ismg)
    # The mix really produced the traffic the comparison is about.
    names = {name for name, _seq in client + server}
    assert {"CMPP_CONNECT", "CMPP_SUBMIT", "CMPP_DELIVER", "CMPP_QUERY", "CMPP_CANCEL",
            "CMPP_TERMINATE"} <= names
    # Loopback shows each packet twice; the kernel filter kept one copy, so no duplicates.
    assert run.capture.stats.frames == run.capture.stats.kernel_received
    assert run.capture.stats.kernel_dropped == 0


def test_pairing_and_session_match_the_simulator_log(run: Run) -> None:
    summary = run.analysis.report()["commands"]
    sent = Counter({command_name(cmd): n for cmd, n in (run.sp.sent + run.ismg.sent).items()})
    assert {"CMPP_SUBMIT", "CMPP_DELIVER", "CMPP_QUERY", "CMPP_CANCEL"} <= set(summary)
    for name, entry in summary.items():
        requests, responses = sent[name], sent[f"{name}_RESP"]
        # No faults were injected: every response sent answers a request, and a request
        # without one is one the session ended before answering.
        assert (entry["requests"], entry["responses"]) == (requests, responses), name
        assert entry["paired"] == responses and entry["orphan_responses"] == 0, name
        assert entry["unanswered"] == requests - responses, name
    # The requester logs a pair when it reads the response: every logged pair is a pair of
    # the capture (a response still on the wire when its session closed, which a loaded
    # machine makes more likely, is on the capture but not in the log).
    logged = Counter((command_name(p.command_id), p.sequence_id)
                     for log in (run.sp, run.ismg) for p in log.pairs)
    captured = Counter((r.command, r.pdu.Sequence_Id) for r in run.records
                       if r.response_frame is not None)
    assert logged and not logged - captured
    [session] = run.analysis.sessions
    assert (session.sp_id, session.login) == (SP_ID, "ok")
    assert session.version == run.sp.version and session.version_source == "CONNECT"
    assert session.server == f"127.0.0.1:{run.port}"
    reports = sum(run.sp.reports_received.values())
    assert reports and run.analysis.report()["reports"]["matched"] == reports


def test_written_capture_reads_back_as_the_same_pdus(run: Run) -> None:
    written = run.capture.stats.written
    assert written is not None
    again = list(analyze(written, ports=(run.port,)).pdus())
    assert [record_dict(r) for r in again] == [record_dict(r) for r in run.records]
    assert len(again) == len(_sent(run.sp)) + len(_sent(run.ismg))
    # No loopback doubles: the outgoing copy of each packet was dropped in the kernel (kept,
    # every segment would be there twice). A loaded machine can make TCP itself send a
    # segment again (a tail loss probe fires after a few ms), so a few may repeat.
    segments = [(s.src, s.seq, s.ack, s.flags, s.payload) for s in iter_segments(written)]
    assert len(segments) == run.capture.stats.frames
    repeats = len(segments) - len(set(segments))
    assert repeats <= max(2, len(segments) // 10), f"{repeats} of {len(segments)} twice"


def test_capture_filter_keeps_other_traffic_out(tmp_path: Path) -> None:
    """Two gateways talk at once; the filter names one port and only that one is seen."""

    async def main() -> tuple[int, int, list[PduRecord], LiveCapture, ConnectionLog]:
        wanted, other = IsmgServer(_ismg_config(Version.V3_0)), IsmgServer(
            _ismg_config(Version.V3_0))
        host, port_a = await wanted.start("127.0.0.1", 0)
        _, port_b = await other.start("127.0.0.1", 0)
        capture = LiveCapture("lo", bpf=f"tcp port {port_a}")
        analysis = analyze(capture, ports=(port_a, port_b))
        records: list[PduRecord] = []
        reader = threading.Thread(target=lambda: records.extend(analysis.pdus()), daemon=True)
        reader.start()
        try:
            sp_a, _sp_b = await asyncio.gather(
                _exchange(host, port_a, _sp_config(Version.V3_0, 10)),
                _exchange(host, port_b, _sp_config(Version.V3_0, 10)))
        finally:
            await wanted.stop()
            await other.stop()
            capture.stop()
            await asyncio.to_thread(reader.join, 30)
        return port_a, port_b, records, capture, sp_a

    port_a, _port_b, records, capture, sp_a = asyncio.run(main())
    assert records and {r.dst for r in records if r.from_client} == {f"127.0.0.1:{port_a}"}
    assert sum(1 for r in records if r.from_client) == sum(sp_a.sent.values())
    assert capture.stats.frames > 0


def test_bad_filter_and_interface_are_one_line_errors() -> None:
    with pytest.raises(LiveCaptureError, match="no such interface"):
        LiveCapture("nosuchif0")
    with pytest.raises(LiveCaptureError, match="-f 'tcp port'") as err:
        LiveCapture("lo", bpf="tcp port")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("interface", ["any", "lo"])
def test_frames_are_the_kernels_received_less_dropped_from_the_first_packet(
        interface: str) -> None:
    """Captures opened while packets pour in: every frame read was counted by the kernel, so
    ``frames`` is ``kernel_received`` less ``kernel_dropped`` (docs/live.md). (On ``any`` the
    counters were zeroed after the ring had started to take packets: tens of frames read
    under a flood were never counted, and frames passed what the kernel said it received.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        port = sink.getsockname()[1]
        done = threading.Event()

        def flood() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
                while not done.is_set():
                    for _ in range(200):
                        out.sendto(b"x" * 64, ("127.0.0.1", port))
                    time.sleep(0)

        sender = threading.Thread(target=flood, daemon=True)
        sender.start()
        try:
            seen = []
            for _ in range(5):
                capture = LiveCapture(interface, bpf=f"udp port {port}", duration=0.2)
                for _chunk in capture.chunks():
                    pass
                st = capture.refresh_stats()
                seen.append((st.frames, st.kernel_received, st.kernel_dropped))
        finally:
            done.set()
            sender.join(10)
    assert all(frames > 0 for frames, _, _ in seen), seen
    assert all(frames == received - dropped for frames, received, dropped in seen), seen


def test_stop_before_any_packet_ends_iteration() -> None:
    capture = LiveCapture("lo", bpf="tcp port 9")  # nothing listens on the discard port
    capture.stop()
    assert [len(c) for c in capture.chunks()] == [24]  # the pcap header, and no packet
    assert capture.stats.frames == 0 and capture.stats.stopped is not None


# -- the command line ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def cli_procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Captures started by a test; any still running when it ends (a failure) are killed."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _start_cli(procs: list[subprocess.Popen[str]], *args: str) -> subprocess.Popen[str]:
    """Start ``cmppdissect -i ...`` and wait until it says it is capturing."""
    proc = subprocess.Popen([sys.executable, "-m", "cmppdissect", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    procs.append(proc)
    assert proc.stderr is not None
    ready, _, _ = select.select([proc.stderr], [], [], 30)
    line = proc.stderr.readline() if ready else ""
    if not line.startswith("Capturing on"):
        proc.kill()
        pytest.fail(f"capture did not start: {line!r} {proc.communicate()}")
    return proc


def _traffic(port: int, count: int = 8) -> tuple[ConnectionLog, ConnectionLog]:
    async def main() -> tuple[ConnectionLog, ConnectionLog]:
        server = IsmgServer(_ismg_config(Version.V3_0), max_events=10_000)
        host, _ = await server.start("127.0.0.1", port)
        try:
            sp = await _exchange(host, port, _sp_config(Version.V3_0, count))
        finally:
            await server.stop()
        return sp, server.log.connections[0]

    return asyncio.run(main())


def _lines(stream: Any, n: int) -> list[str]:
    """Read ``n`` lines, failing rather than hanging if they do not come.

    Reads the pipe's file descriptor itself: a buffered reader may hold lines that
    ``select`` cannot see.
    """
    data = b""
    while (got := data.count(b"\n")) < n:
        ready, _, _ = select.select([stream], [], [], 30)
        assert ready, f"only {got} of {n} lines came"
        more = os.read(stream.fileno(), 65536)
        assert more, f"stream ended after {got} of {n} lines"
        data += more
    return data.decode().splitlines()


def test_cli_streams_jsonl_while_capturing_and_sigterm_prints_the_summary(
        cli_procs: list[subprocess.Popen[str]]) -> None:
    port = _free_port()
    proc = _start_cli(cli_procs, "-i", "lo", "-f", f"tcp port {port}", "-T", "jsonl",
                      "-d", str(port))
    sp, ismg = _traffic(port)
    total = len(_sent(sp)) + len(_sent(ismg))
    records = [json.loads(line) for line in _lines(proc.stdout, total)]
    assert proc.poll() is None  # every record arrived while the capture was still running
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == ""  # nothing after the records: the summary went to stderr
    assert Counter(r["command"] for r in records) == Counter(
        name for name, _seq in _sent(sp) + _sent(ismg))
    assert all(r["request_frame"] for r in records if is_response(r["command_id"]))
    assert f"CMPP PDUs: {total}" in err and "Capture on lo:" in err and "Traceback" not in err


def test_cli_sigint_prints_the_summary_and_exits_0(
        cli_procs: list[subprocess.Popen[str]]) -> None:
    port = _free_port()
    proc = _start_cli(cli_procs, "-i", "lo", "-f", f"tcp port {port}", "-d", str(port))
    sp, ismg = _traffic(port)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"CMPP PDUs: {len(_sent(sp)) + len(_sent(ismg))}" in out
    assert "sessions: 1" in out and SP_ID in out
    assert "Capture on lo:" in out and " 0 dropped" in out and "Traceback" not in err


@pytest.mark.parametrize("ignored", [False, True])
def test_cli_sighup_stops_the_capture_cleanly_as_dumpcap(
        cli_procs: list[subprocess.Popen[str]], tmp_path: Path, ignored: bool) -> None:
    """A terminal that hangs up (an ssh session dropped) sends SIGHUP: as SIGTERM, the
    capture stops cleanly, its outputs closed whole and its final report written, unless
    SIGHUP was ignored (``nohup``), as dumpcap does. (It used to end the process at once:
    no summary, no final report.)"""
    port = _free_port()
    report = tmp_path / "report.json"
    hup = signal.SIG_IGN if ignored else signal.SIG_DFL  # either way said: SIG_IGN is
    # inherited, and a pytest run under nohup ignores SIGHUP

    def pre() -> None:
        signal.signal(signal.SIGHUP, hup)

    proc = subprocess.Popen([sys.executable, "-m", "cmppdissect", "-i", "lo", "-f",
                             f"tcp port {port}", "-d", str(port), "-q", "-w",
                             str(tmp_path / "cap.pcapng"), "--jsonl", str(tmp_path / "p.jsonl"),
                             "--report-every", "60", "--report-file", str(report)],
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=pre)
    cli_procs.append(proc)
    assert proc.stderr is not None
    assert _lines(proc.stderr, 1) == ["Capturing on lo"]
    sp, ismg = _traffic(port)
    total = len(_sent(sp)) + len(_sent(ismg))
    proc.send_signal(signal.SIGHUP)
    if ignored:  # nohup: the capture goes on, and stops on SIGTERM
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=2)
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == "" and re.fullmatch(r"Capture on lo: \d+ frames .*; kernel: \d+ received, "
                                      r"0 dropped\n", err), (out, err)
    final = json.loads(report.read_text())
    assert final["period"]["final"] is True and final["pdus"] == total
    lines = (tmp_path / "p.jsonl").read_text().splitlines()
    assert len(lines) == total and all(json.loads(line) for line in lines)
    assert analyze(str(tmp_path / "cap.pcapng")).report()["pdus"] == total


def test_cli_sigint_right_after_it_starts_is_a_clean_stop(
        cli_procs: list[subprocess.Popen[str]]) -> None:
    """A script that waits for "Capturing on" and stops the capture at once: the signal
    handlers are in place before that line (a SIGINT just after it once met the default
    handler under load: a traceback instead of the summary)."""
    for _ in range(3):
        proc = _start_cli(cli_procs, "-i", "lo", "-f", f"tcp port {_free_port()}")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "CMPP PDUs: 0" in out and "Traceback" not in err


def test_cli_w_on_a_full_disk_stops_with_whole_records(
        cli_procs: list[subprocess.Popen[str]], tmp_path: Path) -> None:
    """Issue 13: ``-i lo -w FILE`` on a full disk said "read error", exited 0 and left a pcap
    cut mid-record. Now: the file is cut back to its last whole record, the capture stops,
    the summary of what was read is printed, and one line names the file and ENOSPC (exit
    2)."""
    with small_disk(tmp_path, 8 * 1024) as mount:
        out_file = mount / "live.pcap"
        port = _free_port()
        proc = _start_cli(cli_procs, "-i", "lo", "-f", f"tcp port {port}", "-d", str(port),
                          "-w", str(out_file))
        _traffic(port, count=60)
        out, err = proc.communicate(timeout=30)  # the full disk stops it: no signal
        assert proc.returncode == 2, err
        last = err.strip().splitlines()[-1]
        assert last.startswith(f"cmppdissect: {out_file}: No space left on device: the file "
                               "ends with the last whole frame written (")
        kept = int(last.rsplit("(", 1)[1].split()[0])
        assert "CMPP PDUs:" in out and "Traceback" not in err
        data = out_file.read_bytes()
        at, frames = 24, 0
        while at < len(data):
            caplen = struct.unpack_from("<I", data, at + 8)[0]
            at += 16 + caplen
            frames += 1
        assert at == len(data) and frames == kept > 0


def test_cli_count_stops_and_display_filter_applies(
        cli_procs: list[subprocess.Popen[str]]) -> None:
    port = _free_port()
    proc = _start_cli(cli_procs, "-i", "lo", "-f", f"tcp port {port}", "-d", str(port),
                      "-T", "jsonl", "-Y", 'command == "CMPP_SUBMIT_RESP"', "-c", "3")
    _traffic(port)
    out, err = proc.communicate(timeout=30)  # no signal: -c ends it
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["command"] for r in records] == ["CMPP_SUBMIT_RESP"] * 3
    assert "CMPP PDUs:" in err


def test_cli_count_over_several_batches_stops_at_n(
        cli_procs: list[subprocess.Popen[str]]) -> None:
    """``-c N -T jsonl`` whose N PDUs come in more than one batch: exactly N records, then the
    capture stops by itself. (The records written were counted twice from the second batch
    on: it wrote fewer than N and never stopped.)"""
    port = _free_port()
    first, _ = _traffic_counted(port)
    proc = _start_cli(cli_procs, "-i", "lo", "-f", f"tcp port {port}", "-d", str(port),
                      "-T", "jsonl", "-c", str(first + 3))
    _traffic(port)
    time.sleep(0.5)  # the kernel hands its block over within 50 ms: the next is another batch
    _traffic(port)
    out, err = proc.communicate(timeout=30)  # no signal: -c ends it
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == first + 3
    assert [r["frame"] for r in records] == sorted(r["frame"] for r in records)


@pytest.mark.parametrize("n", [5, 40])
def test_cli_count_with_statistics_only_stops_at_n(
        cli_procs: list[subprocess.Popen[str]], n: int) -> None:
    """``-c N --report json`` (no records): the report covers exactly N PDUs and the capture
    stops by itself, as for a file. (It counted the records written, none: it never
    stopped.)"""
    port = _free_port()
    proc = _start_cli(cli_procs, "-i", "lo", "-f", f"tcp port {port}", "-d", str(port),
                      "--report", "json", "-c", str(n))
    _traffic(port)
    out, err = proc.communicate(timeout=30)  # no signal: -c ends it
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report["pdus"] == n and report["stopped_early"]["pdus"] == n


@pytest.mark.parametrize("output", ["-T", "--jsonl"])
def test_cli_records_of_a_filter_let_the_rows_go_and_summarise_every_pdu(
        cli_procs: list[subprocess.Popen[str]], tmp_path: Path, output: str) -> None:
    """``-i IFACE -Y EXPR -T ...`` (a monitor of failures, left running): the rows go once
    written, as without -Y, so the summary after them covers every PDU (it summarised the
    PDUs the filter kept, which needed every row of the capture kept until it ended: about
    150 bytes a PDU for as long as it ran)."""
    port = _free_port()
    target = ["-T", "jsonl"] if output == "-T" else ["--jsonl", str(tmp_path / "p.jsonl")]
    proc = _start_cli(cli_procs, "-i", "lo", "-f", f"tcp port {port}", "-d", str(port),
                      *target, "-Y", 'command == "CMPP_SUBMIT_RESP"')
    sp, ismg = _traffic(port)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    summary = err if output == "-T" else out
    records = out if output == "-T" else (tmp_path / "p.jsonl").read_text()
    submits = [json.loads(line) for line in records.splitlines()]
    assert submits and {r["command"] for r in submits} == {"CMPP_SUBMIT_RESP"}
    assert f"CMPP PDUs: {len(_sent(sp)) + len(_sent(ismg))} " in summary
    assert "Display filter" not in summary


def _traffic_counted(port: int) -> tuple[int, int]:
    """The PDUs one :func:`_traffic` session sends (both sides), from a run of its own."""
    sp, ismg = _traffic(port)
    return len(_sent(sp)) + len(_sent(ismg)), len(_sent(sp))


def test_cli_duration_stops_with_a_report() -> None:
    port = _free_port()
    res = subprocess.run([sys.executable, "-m", "cmppdissect", "-i", "lo", "-f",
                          f"tcp port {port}", "--duration", "0.3", "--report", "json"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["pdus"] == 0
    cap = report["capture"]
    assert cap["interface"] == "lo" and cap["filter"] == f"tcp port {port}"
    assert cap["kernel_dropped"] == 0 and cap["duration_s"] >= 0.3


def _one_line_error(res: subprocess.CompletedProcess[str], needle: str) -> None:
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert res.stdout == ""


def _cli(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cmppdissect", *args], capture_output=True,
                          text=True, timeout=60, check=False, **kw)


def test_cli_bad_interface_filter_and_options() -> None:
    _one_line_error(_cli("-i", "nosuchif0"), "nosuchif0: no such interface")
    _one_line_error(_cli("-i", "lo", "-f", "tcp port"), "-f 'tcp port'")
    _one_line_error(_cli("-i", "lo", "-w", "/nonexistent/dir/x.pcap"), "/nonexistent/dir")
    _one_line_error(_cli("-f", "tcp", "samples/cmpp-basic.pcap"), "-f needs a live capture")
    _one_line_error(_cli("-i", "lo", "samples/cmpp-basic.pcap"), "not both")


def _drop_cap_net_raw() -> None:
    """In the child: remove CAP_NET_RAW from the bounding set, so the exec'd root lacks it."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_net_raw = 24, 13
    if libc.prctl(pr_capbset_drop, cap_net_raw, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_cli_without_cap_net_raw_is_a_one_line_error() -> None:
    res = _cli("-i", "lo", preexec_fn=_drop_cap_net_raw)
    _one_line_error(res, "no permission to capture")


def test_cli_on_a_terminal_opens_the_tui_live() -> None:
    """``cmppdissect -i lo`` with a terminal for stdout is the TUI, capturing, and q quits."""
    import pty
    import time

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cmppdissect", "-i", "lo", "-f", "tcp port 1"],
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "100",
                                 "LINES": "30"})
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 30
    try:
        # Both words, however the terminal writes cut the first screen (under load the
        # status line has come in a write of its own before the title).
        while not (b"capturing" in seen and b"Sessions" in seen) and \
                time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
        assert b"Sessions" in seen and b"capturing" in seen  # the app, live on lo
        os.write(master, b"q")
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_cli_q_on_a_terminal_is_headless() -> None:
    """docs/live.md's headless monitor, ``-q --metrics``, run from a terminal: it captures,
    prints the summary and its capture line when it stops, and exits; no TUI. (It opened
    the TUI, which a capture for a service or a script is not.)"""
    status, seen = on_a_terminal("-i", "lo", "-f", "tcp port 1", "-q", "--metrics",
                                 "127.0.0.1:0", "--duration", "1")
    assert status == 0, seen
    assert "Serving metrics on http://127.0.0.1:" in seen and "Capturing on lo" in seen
    assert "CMPP PDUs: 0" in seen and "Capture on lo: 0 frames" in seen, seen
    assert "capturing" not in seen  # the app's status line


@pytest.fixture
def veth() -> Iterator[str]:
    """A veth pair made for the test (one end's name given), deleted after it."""
    import shutil
    import uuid

    if shutil.which("ip") is None:
        pytest.skip("the ip command is not installed")
    name = f"cmv{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name",
                           f"{name}p"], capture_output=True, text=True)
    if made.returncode:
        pytest.skip(f"cannot make a veth pair here: {made.stderr.strip()}")
    for end in (name, f"{name}p"):
        subprocess.run(["ip", "link", "set", end, "up"], check=True)
    yield name
    subprocess.run(["ip", "link", "del", name], capture_output=True)


def test_an_interface_that_goes_away_ends_the_capture_in_one_line(
        cli_procs: list[subprocess.Popen[str]], veth: str) -> None:
    """The interface is deleted while capturing: the capture stops by itself (it used to wait
    for ever), prints its summary, then one line saying why, and exits 2."""
    proc = _start_cli(cli_procs, "-i", veth, "-q")
    subprocess.run(["ip", "link", "del", veth], check=True)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert err.strip().splitlines()[-1] == (
        f"cmppdissect: {veth}: Network is down: the interface went down or away; "
        "the capture stopped")
    assert "Traceback" not in err
    assert f"Capture on {veth}:" in out
