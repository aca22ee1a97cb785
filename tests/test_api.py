"""``cmppdissect.analyze``: the Python API over a real capture, streaming, with statistics."""

from __future__ import annotations

import json
import os
import pty
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cmppdissect
from cmppdissect.protocol.commands import is_response
from tests.pcaputil import run_cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "cmpp-basic.pcap"


def test_pdus_stream_in_capture_order_with_progress() -> None:
    import io

    assert cmppdissect.analyze(io.BytesIO(SAMPLE.read_bytes())).progress is None  # no size
    analysis = cmppdissect.analyze(SAMPLE)
    assert analysis.progress is not None and 0.0 <= analysis.progress <= 1.0
    frames = []
    for rec in analysis.pdus():
        frames.append(rec.frame)
    assert len(frames) == 102 and frames == sorted(frames)
    assert analysis.progress == 1.0 and analysis.done
    with pytest.raises(RuntimeError, match="read once"):
        next(iter(analysis.pdus()))


def test_transactions_pair_every_request_once() -> None:
    analysis = cmppdissect.analyze(str(SAMPLE))
    txs = list(analysis.transactions())
    report = analysis.report()
    requests = sum(c["requests"] for c in report["commands"].values())
    assert len(txs) == requests
    answered = [t for t in txs if t.response is not None]
    assert len(answered) == sum(c["paired"] for c in report["commands"].values())
    for t in answered:
        assert t.response is not None
        assert t.response.request_frame == t.request.frame
        assert t.response.pdu.Sequence_Id == t.request.pdu.Sequence_Id
        assert t.latency_ms == pytest.approx((t.response.ts_ns - t.request.ts_ns) / 1e6)
    unanswered = [t for t in txs if t.response is None]
    assert {t.request.command for t in unanswered} == {"CMPP_SUBMIT"} and len(unanswered) == 2
    assert all(t.latency_ms is None and t.result is None for t in unanswered)
    assert {t.result for t in answered if t.request.command == "CMPP_SUBMIT"} == {0, 8}


def test_report_matches_the_cli_and_per_session_tables_add_up() -> None:
    api = cmppdissect.analyze(SAMPLE).report()
    cli = json.loads(run_cli("--report", "json", str(SAMPLE)).stdout)
    assert api["commands"] == cli["commands"] and api["pdus"] == cli["pdus"] == 102
    for name, total in api["commands"].items():
        per = [s["commands"][name] for s in api["sessions"] if name in s["commands"]]
        for key in ("requests", "responses", "paired", "unanswered", "orphan_responses"):
            assert sum(p[key] for p in per) == total[key], (name, key)
    # the totals' percentiles are numpy's over the samples of all sessions together
    samples = cmppdissect.analyze(SAMPLE).latency_samples("CMPP_SUBMIT")
    assert len(samples) == api["commands"]["CMPP_SUBMIT"]["paired"]
    lat = api["commands"]["CMPP_SUBMIT"]["latency_ms"]
    assert lat["p90"] == pytest.approx(np.percentile(samples, 90) / 1e6)
    assert lat["p99"] == pytest.approx(np.percentile(samples, 99) / 1e6)
    session = api["sessions"][0]
    assert session["tps"] == pytest.approx(session["pdus"] / max(session["duration_s"], 1.0))
    assert session["peak_submits_per_s"] >= 1
    assert session["results"] and session["commands"]["CMPP_SUBMIT"]["unanswered"] == 1


def test_over_time_series_adds_up_to_the_pdus() -> None:
    over = cmppdissect.analyze(SAMPLE).report()["over_time"]
    assert sum(over["pdus_per_s"]) * over["bucket_s"] == pytest.approx(102)
    assert sum(over["submits_per_s"]) * over["bucket_s"] == pytest.approx(26)
    assert over["peak_pdus_per_s"] == max(over["pdus_per_s"])
    assert len(over["submit_latency_ms"]) == len(over["pdus_per_s"])


def test_filter_on_latency_holds_requests_until_answered() -> None:
    slow = list(cmppdissect.analyze(SAMPLE).pdus('command == "submit" and latency_ms > 5'))
    assert slow and all(r.command == "CMPP_SUBMIT" and r.latency_ms > 5 for r in slow)
    assert all(r.response_frame is not None for r in slow)
    assert [r.frame for r in slow] == sorted(r.frame for r in slow)
    never = list(cmppdissect.analyze(SAMPLE).pdus('command == "submit" and !response_frame'))
    assert len(never) == 2


def test_records_come_in_capture_order_each_with_its_pair_linked() -> None:
    """Every request comes out knowing its response (or that none came): the store's one pair
    column, filled from the core's links, serves pdus(), -Y and the TUI alike."""
    records = list(cmppdissect.analyze(SAMPLE).pdus())
    assert [r.frame for r in records] == sorted(r.frame for r in records)
    by_frame = {r.frame: r for r in records}
    requests = [r for r in records if not is_response(r.pdu.Command_Id)]
    linked = [r for r in requests if r.response_frame is not None]
    assert len(linked) == 50 and len(requests) - len(linked) == 2
    for r in linked:
        resp = by_frame[r.response_frame]
        assert resp.request_frame == r.frame and resp.latency_ns == r.latency_ns


def test_import_cmppdissect_stays_light() -> None:
    code = ("import sys, cmppdissect; a = cmppdissect.analyze; "
            "print(any(m.split('.')[0] in ('scapy', 'textual') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_bad_filter_and_bad_version_are_one_line_errors() -> None:
    for args in (["-Y", "latency > 5"], ["-Y", "frame == ("], ["--cmpp-version", "4"]):
        res = run_cli(*args, str(SAMPLE))
        assert res.returncode == 2 and res.stdout == ""
        assert len(res.stderr.splitlines()) == 1 and res.stderr.startswith("cmppdissect: ")


def big_capture(path: Path, size: int) -> None:
    """A pcap of ``size`` bytes or more: the sample's frames repeated."""
    data = SAMPLE.read_bytes()
    head, body = data[:24], data[24:]
    with path.open("wb") as f:
        f.write(head)
        written = 24
        while written < size:
            f.write(body)
            written += len(body)
    assert struct.unpack("<I", head[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D)


def test_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    path = tmp_path / "big.pcap"
    big_capture(path, 9 * 1024 * 1024)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cmppdissect", "--report", "json", str(path)],
                            stdout=subprocess.PIPE, stderr=slave, cwd=ROOT,
                            env={**os.environ, "COLUMNS": "100", "TERM": "xterm"})
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=300)
    os.close(master)
    assert proc.returncode == 0
    assert json.loads(out)["pdus"] == 102  # repeated frames are retransmissions
    assert b"big.pcap" in seen and b"MB" in seen  # the bar, with the file name and size
    # stderr not a terminal: nothing but the report, no bar
    res = run_cli("--report", "json", str(path))
    assert res.returncode == 0 and res.stderr == ""


UNANSWERED = ROOT / "samples" / "unanswered.pcap"


def test_resent_requests_are_linked_to_the_one_response() -> None:
    """unanswered.pcap: SUBMITs resent after 0.2 s with the same Sequence_Id. A resend that got
    the response is answered too; only the message that never got one is left."""
    never = list(cmppdissect.analyze(UNANSWERED).pdus(
        '!response_frame and command == "CMPP_SUBMIT"'))
    seqs = {r.pdu.Sequence_Id for r in never}
    assert len(seqs) == 1 and len(never) == 2  # one message, sent twice, never answered
    flagged = list(cmppdissect.analyze(UNANSWERED).pdus('expert.code == "unanswered"'))
    assert [r.frame for r in flagged] == [r.frame for r in never]
    txs = list(cmppdissect.analyze(UNANSWERED).transactions())
    submits = [t for t in txs if t.request.command == "CMPP_SUBMIT"]
    report = cmppdissect.analyze(UNANSWERED).report()["commands"]["CMPP_SUBMIT"]
    assert len(submits) == report["requests"] - report["retransmitted"]
    assert sum(t.response is None for t in submits) == report["unanswered"] == 1


def test_count_limits_the_statistics_too() -> None:
    rep = json.loads(run_cli("-c", "5", "--report", "json", str(SAMPLE)).stdout)
    assert rep["pdus"] == 5
    # Two captures are merged (tests/test_merge_inputs.py); -c counts over the merge.
    rep = json.loads(run_cli("-c", "5", "--report", "json", "-r", str(SAMPLE),
                             str(UNANSWERED)).stdout)
    assert rep["pdus"] == 5


def test_a_request_resent_after_the_timeout_is_a_new_exchange() -> None:
    """SUBMIT at 0 s, unanswered past the 60 s timeout, resent at 61 s and answered at 61.5 s:
    one unanswered transaction, then the resend with its response."""
    import io

    from cmppdissect.protocol.commands import CommandId as C
    from cmppdissect.protocol.encode import encode_pdu
    from tests.pcaputil import BASE_TS_NS, Conversation, pcap_bytes, stamped

    conv = Conversation()
    frames = conv.handshake()
    submit = encode_pdu(C.CMPP_SUBMIT, 7, {"Dest_terminal_Id": [b"13800138000"],
                                           "Msg_Content": b"hi"})
    frames += conv.send(True, submit) + conv.send(True, submit)
    frames += conv.send(False, encode_pdu(C.CMPP_SUBMIT_RESP, 7, {"Msg_Id": 9, "Result": 0}))
    s = 1_000_000_000
    times = [BASE_TS_NS, BASE_TS_NS + 1, BASE_TS_NS + 2, BASE_TS_NS + 3 * s // 1000,
             BASE_TS_NS + 61 * s, BASE_TS_NS + 61 * s + s // 2]
    data = pcap_bytes(stamped(frames, times))
    txs = list(cmppdissect.analyze(io.BytesIO(data)).transactions())
    assert [(t.request.frame, t.response.frame if t.response else None) for t in txs] == [
        (4, None), (5, 6)]
    assert txs[1].latency_ms == pytest.approx(500.0)
