"""The TUI end to end: the real app, driven by Textual's Pilot over real capture files.

Every screen and key is exercised over ``samples/cmpp-basic.pcap`` (two sessions, 102 PDUs) and
small captures built here from the project's encoder. Waiting for the background indexer is
bounded by a number of polls, never by a clock, and nothing asserts on durations.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pcaputil import (
    ACK,
    PSH,
    SYN,
    Conversation,
    connect_pdu,
    connect_resp_pdu,
    pcapng_bytes,
    submit_pdu,
    submit_resp_pdu,
    tcp_frame,
    write_pcap,
)
from rich.style import Style
from textual.pilot import Pilot
from textual.widgets import DataTable, Label, Static, TabbedContent

from cmppdissect.output.records import dumps
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.version import Version
from cmppdissect.query.dfilter import compile_filter
from cmppdissect.tui import run_file
from cmppdissect.tui.app import CmppApp, make_app
from cmppdissect.tui.columns import TimeMode
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.screens.detail import DetailScreen, FieldTree
from cmppdissect.tui.screens.help import HelpScreen
from cmppdissect.tui.screens.ladder import LadderScreen
from cmppdissect.tui.screens.pdus import PduScreen
from cmppdissect.tui.screens.sessions import SessionsScreen
from cmppdissect.tui.screens.stats import StatsScreen
from cmppdissect.tui.source import FileSource
from cmppdissect.tui.views import AllRows, FilteredRows, SessionRows, filter_predicate
from cmppdissect.tui.widgets.bars import Bars
from cmppdissect.tui.widgets.filterbar import FilterBar
from cmppdissect.tui.widgets.hexview import HexView
from cmppdissect.tui.widgets.ladderview import LadderView
from cmppdissect.tui.widgets.pdulist import PduList
from cmppdissect.tui.widgets.rowlist import RowList
from cmppdissect.tui.widgets.tables import ExpertList, SessionList

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SAMPLE = ROOT / "samples" / "cmpp-basic.pcap"
V2, V3 = Version.V2_0, Version.V3_0


# -- helpers ------------------------------------------------------------------------------------


def conversation(pdus: Sequence[tuple[bool, bytes]], *, client: tuple[str, int] = (
        "10.0.0.1", 40000), server: tuple[str, int] = ("10.0.0.2", 7890)) -> list[bytes]:
    """Frames of one TCP connection: a handshake, then each (from_client, PDU) in a segment."""
    (cip, cport), (sip, sport) = client, server
    seq = {True: 1000, False: 5000}
    frames = [tcp_frame(cip, cport, sip, sport, 999, 0, SYN),
              tcp_frame(sip, sport, cip, cport, 4999, 1000, SYN | ACK),
              tcp_frame(cip, cport, sip, sport, 1000, 5000, ACK)]
    for from_client, pdu in pdus:
        a, b = ((cip, cport), (sip, sport)) if from_client else ((sip, sport), (cip, cport))
        frames.append(tcp_frame(a[0], a[1], b[0], b[1], seq[from_client],
                                seq[not from_client], PSH | ACK, pdu))
        seq[from_client] += len(pdu)
    return frames


def submit(seq: int, content: bytes, *, fmt: int = 0, src: str = "1065712345",
           dest: bytes = b"8613800000001", version: Version = V2, udhi: int = 0) -> bytes:
    return encode_pdu(C.CMPP_SUBMIT, seq, {
        "Pk_total": 1, "Pk_number": 1, "Msg_Fmt": fmt, "Src_Id": src, "TP_udhi": udhi,
        "Dest_terminal_Id": [dest], "Msg_Content": content}, version)


def submit_resp(seq: int, msg_id: int, result: int = 0, version: Version = V2) -> bytes:
    return encode_pdu(C.CMPP_SUBMIT_RESP, seq, {"Msg_Id": msg_id, "Result": result}, version)


HOSTILE = ("\x1b[31mRED\x1b[0m [bold red]X[/] [link=http://evil]y[/link] "
           "\x9b2J \u202eevil")


@pytest.fixture(scope="module")
def hostile_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tui") / "hostile.pcap"
    write_pcap(path, conversation([
        (True, submit(1, HOSTILE.encode("utf-16-be"), fmt=8, src="[b]106[/b]")),
        (False, submit_resp(1, 77)),
    ]))
    return path


@pytest.fixture(scope="module")
def long_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SP sending a two-part long SMS (UDH, 8-bit reference 0x42) and a group send."""
    path = tmp_path_factory.mktemp("tui") / "long.pcap"
    udh = bytes([5, 0, 3, 0x42, 2])
    parts = ["第一部分".encode("utf-16-be"), "第二部分".encode("utf-16-be")]
    pdus: list[tuple[bool, bytes]] = []
    for i, text in enumerate(parts, start=1):
        pdus.append((True, submit(i, udh + bytes([i]) + text, fmt=8, udhi=1)))
        pdus.append((False, submit_resp(i, 1000 + i)))
    pdus.append((True, encode_pdu(C.CMPP_SUBMIT, 3, {
        "Msg_Fmt": 0, "Dest_terminal_Id": [b"8613800000001", b"8613800000002",
                                           b"8613800000003"], "Msg_Content": b"group"}, V2)))
    write_pcap(path, conversation(pdus))
    return path


@pytest.fixture(scope="module")
def names_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The longest names a list column must hold whole: ``ACTIVE_TEST_RESP``, Result 8
    (``flow control error``) and a login refused with Status 3 (authentication)."""
    path = tmp_path_factory.mktemp("tui") / "names.pcap"
    served = conversation([
        (True, connect_pdu(V2)), (False, connect_resp_pdu(V2)),
        (True, submit(2, b"hello")), (False, submit_resp(2, 77, result=8)),
        (True, encode_pdu(C.CMPP_ACTIVE_TEST, 3)),
        (False, encode_pdu(C.CMPP_ACTIVE_TEST_RESP, 3))])
    refused = conversation([(True, connect_pdu(V2)), (False, connect_resp_pdu(V2, status=3))],
                           client=("10.0.0.3", 40001))
    write_pcap(path, served + refused)
    return path


async def indexed(pilot: Pilot[Any], polls: int = 400) -> CmppApp:
    app = pilot.app
    assert isinstance(app, CmppApp)
    for _ in range(polls):
        if app.model.progress.done:
            break
        await pilot.pause(0.02)
    assert app.model.progress.done, "indexing did not finish"
    await pilot.pause()
    app._tick()
    await pilot.pause()
    return app


def row_text(widget: RowList, y: int) -> str:
    """The text painted on line ``y`` of a list (0 is the header)."""
    return "".join(seg.text for seg in widget.render_line(y))


def lines(widget: RowList) -> list[str]:
    return [row_text(widget, y) for y in range(widget.scrollable_content_region.height)]


def cursor_frame(pdus: PduList) -> int:
    row = pdus.current_row()
    assert row is not None
    return pdus.model.frame[row]


def app_for(path: Path, **kwargs: Any) -> CmppApp:
    return make_app(FileSource(str(path)), analyzer_kwargs=kwargs)


# -- entry point --------------------------------------------------------------------------------


def test_run_file_bad_inputs_are_one_line_and_status_2(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert run_file(str(tmp_path / "missing.pcap"), analyzer_kwargs={}) == 2
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture at all, not even close" * 4)
    assert run_file(str(junk), analyzer_kwargs={}) == 2
    assert run_file(str(tmp_path), analyzer_kwargs={}) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("cmppdissect: ") for line in err)
    assert "no such file" in err[0] and "is a directory" in err[2]


def test_tui_package_is_lazy_about_textual() -> None:
    """``import cmppdissect.tui`` (what the CLI does) must not load Textual before run_file."""
    code = ("import sys, cmppdissect.tui; "
            "print(any(m.split('.')[0] == 'textual' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == "False"


# -- the model ----------------------------------------------------------------------------------


def test_chunked_blobs_round_trip_across_chunks() -> None:
    """PDU bytes appended in batches of any size come back whole, across sealed chunks and
    the open one, in any order; their lengths are the store's column, not stored again."""
    import numpy as np

    from cmppdissect.store.blobs import ChunkedBlobs

    items = [bytes([i]) * (i % 7) + b"\0" * 30 for i in range(23)]
    lengths = np.array([len(i) for i in items], dtype=np.uint16)
    # Chunks sealed by rows (4), by bytes (70: two PDUs; 20: each PDU alone), or both.
    for keep_raw, chunk_bytes in ((0, 1 << 20), (1, 1 << 20), (8, 1 << 20), (1, 70), (8, 20),
                                  (0, 100)):
        blobs = ChunkedBlobs(per_chunk=4, chunk_bytes=chunk_bytes, cache_chunks=1,
                             keep_raw=keep_raw, max_pending=1)
        for start, stop in ((0, 3), (3, 4), (4, 13), (13, 23)):
            blobs.extend(b"".join(items[start:stop]), lengths[start:stop])
            # No chunk holds more than 4 PDUs, nor more than chunk_bytes but for a lone PDU.
            sizes = [len(c) for c in blobs._chunks if isinstance(c, bytearray)]
            assert all(size <= max(chunk_bytes, 36) for size in sizes)
        assert len(blobs) == 23
        assert len(blobs._chunks) >= 23 // min(4, max(1, chunk_bytes // 30)) - 1
        assert [blobs.get(i, lengths) for i in range(len(items))] == items
        assert [blobs.get(i, lengths) for i in reversed(range(len(items)))] == items[::-1]
        for start, stop in ((0, 23), (0, 1), (3, 9), (5, 21), (20, 23), (7, 7)):
            assert blobs.range_bytes(start, stop, lengths) == b"".join(items[start:stop])
        assert blobs.stored_bytes < blobs.raw_bytes  # NUL padding deflates
        assert all(isinstance(c, bytes) for c in blobs._chunks)  # settled: all deflated
    with pytest.raises(IndexError):
        blobs.get(len(items), lengths)


def _cli_records(path: Path) -> list[dict[str, Any]]:
    """``-T jsonl``, with each answered request given its response as the TUI shows it (the
    links a ``-Y`` on ``latency_ms`` makes: Wireshark's second pass)."""
    out = subprocess.run([sys.executable, "-m", "cmppdissect", "-T", "jsonl", str(path)],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    records = [json.loads(line) for line in out.splitlines()]
    by_frame = {(r["session"], r["frame"], r["sequence_id"]): r for r in records}
    for rec in records:
        if "request_frame" in rec:
            req = by_frame[(rec["session"], rec["request_frame"], rec["sequence_id"])]
            req["response_frame"], req["latency_ms"] = rec["frame"], rec["latency_ms"]
    return records


def _model_of(path: Path) -> CaptureModel:
    app = app_for(path)
    app.indexer.run()  # the worker's body, run here in the test's thread
    return app.model


@pytest.mark.parametrize("name", ["sample", "long"])
def test_model_rebuilds_exactly_what_the_cli_prints(name: str, long_pcap: Path) -> None:
    """Rows are stored as columns plus deflated bytes; the rebuilt records are ``-T jsonl``
    once written as JSON (where a Msg_Id is a decimal string; the model keeps the int)."""
    path = SAMPLE if name == "sample" else long_pcap
    model = _model_of(path)
    expected = _cli_records(path)
    assert model.count == len(expected)
    for row, want in enumerate(expected):
        assert json.loads(dumps(model.record_dict(row))) == want
        lazy = model.lazy_record(row)
        for key in ("frame", "session", "src", "dst", "version", "command", "sequence_id",
                    "total_length", "request_frame", "response_frame", "latency_ms"):
            assert lazy[key] == want.get(key), (row, key)  # None is "absent" to the filter
        assert json.loads(dumps(lazy["fields"])) == want["fields"]
        if "Msg_Id" in want["fields"]:
            assert isinstance(lazy["fields"]["Msg_Id"], int)
            assert str(lazy["fields"]["Msg_Id"]) == want["fields"]["Msg_Id"]


def test_lazy_record_filters_on_header_keys_without_decoding() -> None:
    model = _model_of(SAMPLE)
    test = compile_filter('command == "SUBMIT" and latency_ms > 4')
    records = [model.lazy_record(row) for row in range(model.count)]
    kept = [r["frame"] for r in records if test(r)]
    assert kept and all(r._full is None for r in records)  # no row was decoded
    cli = [r["frame"] for r in _cli_records(SAMPLE)
           if r["command"] == "CMPP_SUBMIT" and r.get("latency_ms", 0) > 4]
    assert kept == cli


def test_filtered_view_waits_for_unsettled_requests() -> None:
    model = _model_of(SAMPLE)
    view = FilteredRows(AllRows(model), filter_predicate(model, compile_filter(
        'command == "SUBMIT"')), "x", settled=lambda row: model.frame[row] < 30)
    view.advance(10_000)
    assert view.caught_up and len(view) > 0
    assert all(model.frame[r] < 30 for r in view.matched)  # stopped at the first unsettled


def test_session_rows_and_frame_lookup() -> None:
    model = _model_of(SAMPLE)
    first, second = (SessionRows(model, s.id) for s in model.sessions)
    assert len(first) + len(second) == model.count == 102
    row = second[5]
    assert second.position(row) == 5 and first.position(row) is None
    assert model.row_of_frame(model.frame[row]) == row
    assert model.row_of_frame(1) is None  # a SYN completes no PDU


# -- screens and keys ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sessions_screen_is_first_and_lists_both_links() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, SessionsScreen)  # up before indexing has finished
        await indexed(pilot)
        table = app.screen.query_one(SessionList)
        text = lines(table)
        assert "p50 ms" in text[0] and "SP id" in text[0]
        assert "901234" in text[1] and "905678" in text[2]
        assert "4.50" in text[1] and "7.00" in text[1]  # SUBMIT p50 / p99
        status = str(app.screen.query_one("#status").render())
        assert "102 PDUs" in status and "2 sessions" in status


@pytest.mark.asyncio
async def test_a_tick_on_a_screen_being_torn_down_is_ignored() -> None:
    """The indexer's last tick can arrive while the app shuts down and the screen's widgets are
    gone (seen once in a benchmark: NoMatches from the Sessions screen): the app carries on."""
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await app.screen.query_one(SessionList).remove()
        app.screen._seen_generation = -1  # as if the indexer had just published
        app._tick()
        await pilot.pause()
        assert app.return_code is None and isinstance(app.screen, SessionsScreen)


@pytest.mark.asyncio
async def test_redraws_while_a_file_is_indexed_come_at_most_twice_a_second() -> None:
    """A file being indexed redraws the screen at most every INDEXING_REDRAW_S (a redraw takes
    the GIL from the indexer); the first rows, a pause, the end and live captures at once."""
    import dataclasses

    from cmppdissect.tui.screens import base

    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        redraws: list[int] = []
        screen.refresh_from_model = lambda: redraws.append(app.model.generation)  # type: ignore
        model = app.model
        finished = model.progress

        def publish(**changes: Any) -> None:
            model.progress = dataclasses.replace(finished, **changes)
            model.generation += 1
            screen.model_changed()

        screen._redrawn_at = time.monotonic()
        publish(done=False)
        assert redraws == []  # indexing, redrawn a moment ago: later
        screen._redrawn_at -= base.INDEXING_REDRAW_S
        screen.model_changed()
        assert redraws == [model.generation]  # the interval passed: the news shows
        for changes in ({"done": False, "paused": True}, {"done": True},
                        {"done": False, "live": True}):
            publish(**changes)
            assert redraws[-1] == model.generation, changes
        screen._redrawn_rows = 0
        publish(done=False)
        assert redraws[-1] == model.generation  # nothing shown yet: the first rows at once
        await pilot.pause()


@pytest.mark.asyncio
async def test_enter_opens_a_sessions_pdus_and_r_jumps_between_request_and_response() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("down", "enter")
        screen = app.screen
        assert isinstance(screen, PduScreen) and isinstance(screen.pdus.view, SessionRows)
        pdus = screen.pdus
        assert len(pdus.view) == 51
        assert "CONNECT" in row_text(pdus, 1) and "905678" in row_text(pdus, 1)
        await pilot.press("down", "down")
        assert cursor_frame(pdus) == app.model.frame[pdus.view[2]]
        request = cursor_frame(pdus)
        assert "SUBMIT" in row_text(pdus, 3)
        await pilot.press("r")
        response = cursor_frame(pdus)
        assert response > request
        assert app.model.command_id[pdus.current_row() or 0] == C.CMPP_SUBMIT_RESP
        await pilot.press("r")
        assert cursor_frame(pdus) == request
        await pilot.press("escape")
        assert isinstance(app.screen, SessionsScreen)


@pytest.mark.asyncio
async def test_time_key_cycles_relative_absolute_delta() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("2")
        pdus = app.screen.query_one(PduList)
        assert pdus.time_mode is TimeMode.RELATIVE
        assert "Time (s)" in row_text(pdus, 0) and "0.012000" in row_text(pdus, 2)
        await pilot.press("t")
        assert pdus.time_mode is TimeMode.ABSOLUTE
        ts = app.model.ts_ns[1]
        clock = time.strftime("%H:%M:%S", time.localtime(ts // 1_000_000_000))
        assert clock in row_text(pdus, 2)
        await pilot.press("t")
        assert pdus.time_mode is TimeMode.DELTA and "Delta" in row_text(pdus, 0)
        assert "0.002000" in row_text(pdus, 3)  # CONNECT_RESP to the first SUBMIT
        await pilot.press("t")
        assert pdus.time_mode is TimeMode.RELATIVE


@pytest.mark.asyncio
async def test_paging_and_ends_of_the_list() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(80, 24)) as pilot:
        await indexed(pilot)
        await pilot.press("2")
        pdus = app.screen.query_one(PduList)
        page = pdus.page_rows
        await pilot.press("pagedown")
        assert pdus.cursor == page
        await pilot.press("end")
        assert pdus.cursor == 101 and round(pdus.scroll_y) == 102 - page
        assert "TERMINATE" not in row_text(pdus, 1)
        await pilot.press("home")
        assert pdus.cursor == 0 and round(pdus.scroll_y) == 0
        await pilot.press("pageup", "up")
        assert pdus.cursor == 0


@pytest.mark.asyncio
async def test_an_unanswered_request_is_marked_on_its_row_and_in_its_detail() -> None:
    """Issue 14: a request that got no response is marked on its own row ("no resp" in the
    Latency column, which no width drops; "none" in Pair when that is shown) and carries an
    Expert node in its Detail, without any filter."""
    app = app_for(SAMPLES / "unanswered.pcap")
    async with app.run_test(size=(160, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("2")
        pdus = app.screen.query_one(PduList)
        await pilot.pause()
        rows = lines(pdus)
        [unanswered] = [line for line in rows if line.split()[:1] == ["20"]]
        assert "SUBMIT" in unanswered and " no resp " in unanswered and " none " in unanswered
        # The two marks agree row by row, and answered rows carry neither.
        assert [" no resp " in line for line in rows] == [" none " in line for line in rows]
        assert sum(" no resp " in line for line in rows) < len(rows) // 4
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        narrow_rows = lines(pdus)
        [narrow] = [line for line in narrow_rows if line.split()[:1] == ["20"]]
        assert " no resp " in narrow and "Pair" not in narrow_rows[0]
        await pilot.resize_terminal(160, 40)
        await pilot.pause()
        y = rows.index(unanswered)
        for _ in range(y - 1):
            await pilot.press("down")
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        tree = screen.query_one(FieldTree)
        expert = next(node for node in tree.root.children
                      if str(node.label).startswith("Expert"))
        assert [str(c.label) for c in expert.children] == [
            "warn: CMPP_SUBMIT Sequence_Id 6 got no response"]
        context = next(node for node in tree.root.children if str(node.label) == "Capture")
        assert "Paired response: none seen" in [str(c.label) for c in context.children]


@pytest.mark.asyncio
async def test_detail_tree_hex_highlight_and_stepping() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("2", "down", "down", "down", "enter")  # frame 7: SUBMIT_RESP (2.0)
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        tree = screen.query_one(FieldTree)
        labels = {str(node.label): node for node in _walk(tree.root)}
        msg_id = next(node for text, node in labels.items() if text.startswith("Msg_Id: "))
        assert [str(c.label).split(":")[0] for c in msg_id.children] == [
            "time", "gateway", "sequence"]
        assert "Result: 0 (correct)" in labels
        # The frame's layers, read again from the file, sit between Capture and Header.
        top = [str(node.label) for node in tree.root.children]
        assert top[0] == "Capture" and top[5].startswith("Header")
        assert top[1] == "Frame 7: 75 bytes on wire (600 bits), 75 bytes captured (600 bits)"
        assert top[3] == "Internet Protocol Version 4, Src: 198.51.100.7, Dst: 192.0.2.10"
        assert top[4].startswith("Transmission Control Protocol, Src Port: 7890, "
                                 "Dst Port: 40001, Seq: 5031, Ack: 1241, Len: 21")
        tcp = tree.root.children[4]
        assert not tcp.is_expanded  # collapsed, as Wireshark shows the layers below CMPP
        tcp_rows = [str(c.label) for c in tcp.children]
        assert "Source port: 7890" in tcp_rows and "Destination port: 40001" in tcp_rows
        assert "Flags: 0x018 (PSH, ACK)" in tcp_rows
        ip_rows = [str(c.label) for c in tree.root.children[3].children]
        assert "Source address: 198.51.100.7" in ip_rows
        assert "Destination address: 192.0.2.10" in ip_rows
        tree.move_cursor(tcp)
        await pilot.pause()
        assert screen.query_one(HexView).span is None  # no bytes of the PDU's dump
        result = labels["Result: 0 (correct)"]
        tree.move_cursor(result)
        await pilot.pause()
        hexview = screen.query_one(HexView)
        assert hexview.span == (20, 21)  # 12-byte header, 8-byte Msg_Id, 1-byte 2.0 Result
        assert hexview.line_text(2).startswith("0010  34 fd 00 64 00")
        tree.move_cursor(msg_id)
        await pilot.pause()
        assert hexview.span == (12, 20)
        await pilot.press("r")
        assert "CMPP_SUBMIT " in str(screen.query_one("#title", Static).render()) + " "
        await pilot.press("right_square_bracket")
        assert "frame 7" in str(screen.query_one("#title", Static).render())
        await pilot.press("escape")
        assert isinstance(app.screen, PduScreen)


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(120, 24), (80, 24)])
async def test_hex_lines_are_whole_when_the_dump_scrolls(size: tuple[int, int]) -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=size) as pilot:
        await indexed(pilot)
        await pilot.press("2", "down", "down", "enter")  # frame 6: a 201-byte SUBMIT
        hexview = app.screen.query_one(HexView)
        await pilot.pause()
        assert hexview.max_scroll_y > 0  # a scrollbar takes its columns
        for y in range(3):  # and every painted line still holds its whole ASCII column
            painted = "".join(seg.text for seg in hexview.render_line(y)).rstrip()
            assert painted == hexview.line_text(y).rstrip()


@pytest.mark.asyncio
@pytest.mark.parametrize(("size", "stacked", "per_line"), [
    ((80, 24), True, 16), ((120, 40), False, 8), ((160, 40), False, 16)])
async def test_detail_stacks_when_narrow_and_its_values_are_whole(
        size: tuple[int, int], stacked: bool, per_line: int) -> None:
    """Issue 14: narrow, the tree sits above the dump and has the width (at 80x24 the side by
    side tree cut ``CMPP_SUBMI``); the dump has sixteen bytes a line when there is room."""
    app = app_for(SAMPLE)
    async with app.run_test(size=size) as pilot:
        await indexed(pilot)
        await pilot.press("2", "down", "down", "enter")  # frame 6: a 201-byte SUBMIT
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        await pilot.pause()
        tree, hexview = screen.query_one(FieldTree), screen.query_one(HexView)
        assert screen.has_class("-stacked") is stacked
        if stacked:
            assert hexview.region.y >= tree.region.bottom and hexview.region.x == tree.region.x
            assert tree.region.width == size[0]
        else:
            assert hexview.region.x >= tree.region.right and hexview.region.y == tree.region.y
        assert hexview.per_line == per_line
        painted = ["".join(seg.text for seg in hexview.render_line(y)) for y in range(2)]
        assert painted[1].startswith(f"{per_line:04x}  ")
        assert painted[0].rstrip() == hexview.line_text(0).rstrip()  # the ASCII column too
        label = "Command_Id: 0x00000004 (CMPP_SUBMIT)"
        tree.move_cursor(next(n for n in _walk(tree.root) if str(n.label) == label))
        await pilot.pause()
        shown = ["".join(seg.text for seg in tree.render_line(y))
                 for y in range(tree.scrollable_content_region.height)]
        assert any(label in line for line in shown), shown


def _walk(node: Any) -> list[Any]:
    out = []
    for child in node.children:
        out.append(child)
        out.extend(_walk(child))
    return out


@pytest.mark.asyncio
async def test_detail_shows_content_report_udh_long_sms_and_arrays(long_pcap: Path) -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("2", "down", "down", "enter")  # frame 6: SUBMIT with UCS2 text
        texts = [str(n.label) for n in _walk(app.screen.query_one(FieldTree).root)]
        assert "text (utf-16-be): “您的验证码是 482913，5分钟内有效。”" in texts
        assert any(t.startswith("Dest_terminal_Id: 1 of 1") for t in texts)
        assert any(t.startswith("Msg_Fmt: 8 (") for t in texts)
        await pilot.press("escape", "down", "down", "enter")  # frame 8: a status report
        texts = [str(n.label) for n in _walk(app.screen.query_one(FieldTree).root)]
        assert any(t.startswith("status report: CMPP_REPORT_60") for t in texts)
        assert any(t.startswith("Stat: “UNDELIV”") for t in texts)
    app = app_for(long_pcap)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("2", "down", "down", "enter")  # the second part completes the SMS
        tree = app.screen.query_one(FieldTree)
        texts = [str(n.label) for n in _walk(tree.root)]
        assert "UDH: UDHL 5" in texts
        assert "concatenation: part 2 of 2, reference 66 (8-bit)" in texts
        assert "text: “第一部分第二部分”" in texts
        udh = next(n for n in _walk(tree.root) if str(n.label) == "UDH: UDHL 5")
        tree.move_cursor(udh)
        await pilot.pause()
        start, end = app.screen.query_one(HexView).span or (0, 0)
        assert end - start == 6  # UDHL byte and its five bytes
        await pilot.press("escape", "end", "enter")
        texts = [str(n.label) for n in _walk(app.screen.query_one(FieldTree).root)]
        assert "Dest_terminal_Id: 3 of 3" in texts and "[2]: “8613800000003”" in texts


@pytest.mark.asyncio
async def test_ladder_draws_arrows_lanes_and_latency() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("l")
        screen = app.screen
        assert isinstance(screen, LadderScreen)
        ladder = screen.query_one(LadderView)
        text = lines(ladder)
        assert "SP 192.0.2.10:40001" in text[0] and "198.51.100.7:7890 ISMG" in text[0]
        assert " CONNECT 1 " in text[1] and "▶│" in text[1] and "┐" in text[1]
        assert "│◀" in text[2] and "┘" in text[2] and text[2].rstrip().endswith("12.00ms")
        await pilot.press("down", "down", "r")
        assert ladder.cursor == 3  # SUBMIT 2 -> its SUBMIT_RESP
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, SessionsScreen)


@pytest.mark.asyncio
async def test_ladder_marks_an_error_result_and_an_unanswered_request() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("2", "l")
        ladder = app.screen.query_one(LadderView)
        width = ladder.scrollable_content_region.width
        rows = ["".join(seg.text for seg in ladder.render_row(pos, width, Style()))
                for pos in range(len(ladder.view))]
        assert any("SUBMIT_RESP 9 ✗8" in r for r in rows)
        assert any(" SUBMIT 15 " in r and r.rstrip().endswith("no resp") for r in rows)


@pytest.mark.asyncio
async def test_statistics_tables_tabs_and_expert_jump() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, StatsScreen)
        for _ in range(100):
            if screen.query_one("#srt-table", DataTable).row_count:
                break
            await pilot.pause(0.02)
        srt = screen.query_one("#srt-table", DataTable)
        submit = next(srt.get_row_at(i) for i in range(srt.row_count)
                      if str(srt.get_row_at(i)[0]) == "SUBMIT")
        assert [str(c) for c in submit[1:]] == ["24", "3.00", "4.75", "4.50", "7.00", "7.00",
                                                "7.00"]  # Paired, min mean p50 p90 p99 max
        counts = screen.query_one("#counts-table", DataTable)
        submit = next(counts.get_row_at(i) for i in range(counts.row_count)
                      if str(counts.get_row_at(i)[0]) == "SUBMIT")
        # Req, Resent, Resp, Paired, Unans, Orphan
        assert [str(c) for c in submit[1:]] == ["26", "0", "24", "24", "2", "0"]
        results = screen.query_one("#results-table", DataTable)
        assert any(str(results.get_row_at(i)[2]) == "flow control error"
                   for i in range(results.row_count))
        stat = screen.query_one("#stat-table", DataTable)
        assert {str(stat.get_row_at(i)[0]): str(stat.get_row_at(i)[2])
                for i in range(stat.row_count)} == {"DELIVRD": "12", "UNDELIV": "6"}
        tabs = screen.query_one(TabbedContent)
        await pilot.press("right_square_bracket", "right_square_bracket")
        assert tabs.active == "time"
        await pilot.press("right_square_bracket")
        assert tabs.active == "diagnosis"
        await pilot.press("right_square_bracket")
        assert tabs.active == "expert"
        experts = screen.query_one(ExpertList)
        await pilot.pause()
        assert experts.has_focus  # reached with ], the findings take the keys at once
        target = next(i for i in range(app.model.expert_count)
                      if app.model.expert[i].code == "unanswered")
        experts.move_to(target)
        frame = app.model.expert[target].frame
        await pilot.press("enter")
        assert isinstance(app.screen, PduScreen)
        assert cursor_frame(app.screen.pdus) == frame
        await pilot.press("escape")
        assert isinstance(app.screen, StatsScreen)


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_statistics_tables_fit_the_width(size: tuple[int, int]) -> None:
    """Issue 14: at 80x24 the response-time table stopped at p50; every column of every table
    is now in view without scrolling sideways."""
    app = app_for(SAMPLE)
    async with app.run_test(size=size) as pilot:
        await indexed(pilot)
        await pilot.press("3")
        screen = app.screen
        for _ in range(100):
            if screen.query_one("#srt-table", DataTable).row_count:
                break
            await pilot.pause(0.02)
        await pilot.pause()
        srt = screen.query_one("#srt-table", DataTable)
        assert [str(c.label) for c in srt.columns.values()][-4:] == ["p50", "p90", "p99", "max"]
        for name in ("srt-table", "counts-table", "results-table"):
            table = screen.query_one(f"#{name}", DataTable)
            assert table.row_count
            assert table.virtual_size.width <= table.scrollable_content_region.width, name
            assert table.region.right <= size[0], name


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_over_time_has_a_time_axis_the_slot_and_the_peak_time(
        size: tuple[int, int], utc: None) -> None:
    """Issue 14: each chart has its start and end time and the length of a bar under it, and
    its title says when the peak was; all three charts are on screen at 80x24."""
    app = app_for(SAMPLE)
    async with app.run_test(size=size) as pilot:
        await indexed(pilot)
        await pilot.press("3", "right_square_bracket", "right_square_bracket")
        screen = app.screen
        for _ in range(100):
            if screen.query_one("#tps", Bars).data:
                break
            await pilot.pause(0.02)
        await pilot.pause()
        over = app.model.report["over_time"]  # type: ignore[index]
        start = over["start"]
        points = len(over["pdus_per_s"])
        assert over["bucket_s"] == 1 and points == 12  # two sessions ten seconds apart
        first = time.strftime("%H:%M:%S", time.gmtime(start))
        last = time.strftime("%H:%M:%S", time.gmtime(start + points))
        peak = over["pdus_per_s"].index(max(over["pdus_per_s"]))
        assert over["peak_pdus_per_s"] == max(over["pdus_per_s"])
        title = str(screen.query_one("#tps-label", Label).render())
        assert title == (f"PDUs per second: peak {over['peak_pdus_per_s']} at "
                         f"{time.strftime('%H:%M:%S', time.gmtime(start + peak))}")
        assert " at " in str(screen.query_one("#latency-label", Label).render())
        for name in ("tps", "sps", "latency"):
            bars = screen.query_one(f"#{name}", Bars)
            height = bars.content_region.height
            axis = "".join(seg.text for seg in bars.render_line(height - 1)).strip()
            assert axis.startswith(first) and axis.endswith(last) and " 1 s per bar " in axis
            assert bars.region.bottom <= size[1] - 2  # above the status line and footer


@pytest.mark.asyncio
async def test_statistics_report_matches_the_cli() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("3")
        report = app.model.report
        assert report is not None
        cli = json.loads(subprocess.run(
            [sys.executable, "-m", "cmppdissect", "--report", "json", str(SAMPLE)],
            capture_output=True, text=True, check=True, timeout=120).stdout)
        assert report["commands"] == cli["commands"]
        assert report["reports"] == cli["reports"]
        stat = app.screen.query_one("#stat-table", DataTable)
        shown = {str(stat.get_row_at(i)[0]): int(str(stat.get_row_at(i)[2]))
                 for i in range(stat.row_count)}
        assert shown == {k: v["count"] for k, v in cli["reports"]["stat"].items()}


@pytest.mark.asyncio
async def test_filter_bar_checks_as_you_type_and_applies() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("2", "f")
        bar = app.screen.query_one(FilterBar)
        assert bar.input.has_focus
        await pilot.press(*'command ==')
        assert bar.error is not None
        label = app.screen.query_one("#filter-label", Static)
        assert label.has_class("-invalid") and "✗" in str(label.render())
        error = str(app.screen.query_one("#filter-error", Static).render())
        assert "^" in error and bar.error.message in error
        await pilot.press("enter")  # an invalid filter is not applied
        pdus = app.screen.query_one(PduList)
        assert isinstance(pdus.view, AllRows)
        await pilot.press(*' "submit" and latency_ms > 4')
        assert bar.error is None and label.has_class("-valid")
        await pilot.press("enter")
        for _ in range(100):
            if isinstance(pdus.view, FilteredRows) and pdus.view.caught_up:
                break
            await pilot.pause(0.02)
        view = pdus.view
        assert isinstance(view, FilteredRows) and view.caught_up
        frames = [app.model.frame[view[i]] for i in range(len(view))]
        expected = [r["frame"] for r in _cli_records(SAMPLE)
                    if r["command"] == "CMPP_SUBMIT" and r.get("latency_ms", 0) > 4]
        assert frames == expected and pdus.has_focus
        title = str(app.screen.query_one("#title", Static).render())
        assert "filter: command ==" in title
        # Wireshark's "Displayed N of M": the share of the rows the filter ran over.
        assert f"Displayed {len(expected)} of 102 ({len(expected) * 100 / 102:.1f}%)" in title
        await pilot.press("f", *["backspace"] * 40, "enter")  # an empty filter clears
        assert isinstance(pdus.view, AllRows) and len(pdus.view) == 102


def _times_at_the_edges(kind: str) -> bytes:
    """A short SP session whose stamps are at the edges of time (issue 13): past 2262
    (clamped), stepping back from there to 1970 for the last frame, or before 1677 through a
    negative if_tsoffset."""
    flow = Conversation()
    frames = flow.handshake()
    frames += flow.send(True, connect_pdu(V2, 1)) + flow.send(False, connect_resp_pdu(V2, 1))
    frames += flow.send(True, submit_pdu(V2, 2)) + flow.send(False, submit_resp_pdu(V2, 2, 7))
    if kind == "negative-offset":  # raw i µs, offset -10**10 s: before 1677
        return pcapng_bytes([(1, 9)], [(0, i * 1000 - 10**19, f) for i, f in enumerate(frames)],
                            tsoffset_s=-(10**10))
    stamps = [2**64 - 100 + i for i in range(len(frames))]
    if kind == "backwards":
        stamps[-1] = 0
    return pcapng_bytes([(1, 9)], list(zip([0] * len(frames), stamps, frames, strict=True)))


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["year-2554", "backwards", "negative-offset"])
async def test_times_at_the_edges_of_the_range(kind: str, tmp_path: Path) -> None:
    """Issue 13: the TUI died on a timestamp outside the 64-bit nanosecond range (year 2286,
    a negative offset) on a capture the CLI reads. Every screen and time format shows it,
    with no exception and no numpy overflow; the capture's finding says what happened."""
    path = tmp_path / f"{kind}.pcapng"
    path.write_bytes(_times_at_the_edges(kind))
    app = app_for(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        async with app.run_test(size=(120, 40)) as pilot:
            await indexed(pilot)
            assert app.model.count == 4
            for key in ("enter", "t", "t", "t", "l", "t", "t", "escape", "2", "enter", "]",
                        "]", "escape", "t", "3", "]", "]", "]", "escape", "1"):
                await pilot.press(key)
                await pilot.pause(0.02)
            assert app.is_running
            messages = [e.message for e in app.model.expert]
    assert any("clamped" in m for m in messages)
    assert any("time goes backwards" in m for m in messages) == (kind == "backwards")


@pytest.mark.asyncio
async def test_display_filter_given_opens_the_pdu_list_filtered() -> None:
    """``-Y EXPR`` on a terminal (issue 14): the app opens on the PDU list with the filter in
    its bar and applied, as termshark does; clearing it shows every PDU."""
    app = make_app(FileSource(str(SAMPLE)), analyzer_kwargs={},
                   display_filter='command == "CMPP_SUBMIT_RESP"')
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        assert isinstance(app.screen, PduScreen)
        bar = app.screen.query_one(FilterBar)
        assert bar.input.value == 'command == "CMPP_SUBMIT_RESP"'
        pdus = app.screen.query_one(PduList)
        for _ in range(100):
            if isinstance(pdus.view, FilteredRows) and pdus.view.caught_up:
                break
            await pilot.pause(0.02)
        frames = [app.model.frame[pdus.view[i]] for i in range(len(pdus.view))]
        expected = [r["frame"] for r in _cli_records(SAMPLE)
                    if r["command"] == "CMPP_SUBMIT_RESP"]
        assert frames == expected and len(frames) > 5
        await pilot.press("f", *["backspace"] * 40, "enter")
        assert isinstance(pdus.view, AllRows) and len(pdus.view) == 102


def _unreadable(strip: Any) -> list[str]:
    """The texts of a strip's segments drawn in their own background colour."""
    return [seg.text for seg in strip
            if seg.text.strip() and seg.style is not None and seg.style.color is not None
            and seg.style.color == seg.style.bgcolor]


@pytest.mark.asyncio
@pytest.mark.parametrize("theme", ["textual-dark", "textual-light", "nord", "gruvbox",
                                   "dracula", "solarized-light", "monokai"])
async def test_every_cell_of_the_cursor_row_is_readable(theme: str) -> None:
    """Issue 14: the selected row hid its own latency (orange on the orange cursor). On the
    cursor row of the PDU list and of the ladder no text has its background's colour, in any
    theme, focused or not."""
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        app.theme = theme
        await indexed(pilot)
        await pilot.press("2")
        pdus = app.screen.query_one(PduList)
        await pilot.press("down", "down", "down")  # a SUBMIT_RESP: latency, result, pair
        await pilot.pause()
        for focused in (True, False):
            strip = pdus.render_line(pdus.cursor - round(pdus.scroll_y) + 1)
            assert "SUBMIT_RESP" in "".join(seg.text for seg in strip)
            assert _unreadable(strip) == []
            if focused:
                app.screen.query_one(FilterBar).input.focus()
                await pilot.pause()
        pdus.focus()
        await pilot.press("l")
        ladder = app.screen.query_one(LadderView)
        for _ in range(6):  # to a response: it carries the latency
            await pilot.press("down")
            await pilot.pause()
            strip = ladder.render_line(ladder.cursor - round(ladder.scroll_y) + 1)
            if "ms" in "".join(seg.text for seg in strip):
                break
        assert "ms" in "".join(seg.text for seg in strip)
        assert _unreadable(strip) == []


@pytest.mark.asyncio
async def test_filter_bar_warns_of_a_string_compared_with_a_number() -> None:
    """Issue 14: the filter bar says that ``gateway == "079101"`` compares text, under the
    bar, while the filter stays valid and can be applied."""
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("2", "f")
        bar = app.screen.query_one(FilterBar)
        bar.input.value = 'Msg_Id_parts.gateway == "079101"'
        await pilot.pause()
        assert bar.error is None
        label = app.screen.query_one("#filter-label", Static)
        assert label.has_class("-valid")
        shown = str(app.screen.query_one("#filter-error", Static).render())
        assert "^ warning: gateway is a number" in shown and "79101 without quotes" in shown
        bar.input.value = "Msg_Id_parts.gateway == 79101"
        await pilot.pause()
        assert str(app.screen.query_one("#filter-error", Static).render()) == ""


@pytest.mark.asyncio
async def test_filter_bar_refuses_a_filter_too_deep() -> None:
    """Issue 13: a thousand chained ``!`` in the filter bar killed the TUI (RecursionError).
    It is an invalid filter like any other: said under the bar, not applied, the app alive."""
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("2", "f")
        bar = app.screen.query_one(FilterBar)
        bar.input.value = "!" * 1000 + "command"
        await pilot.pause()
        assert bar.error is not None and "nests deeper than" in bar.error.message
        await pilot.press("enter")
        assert isinstance(app.screen.query_one(PduList).view, AllRows)
        bar.input.value = 'command == "CMPP_SUBMIT"'
        await pilot.pause()
        assert bar.error is None
        await pilot.press("enter")
        pdus = app.screen.query_one(PduList)
        for _ in range(100):
            if isinstance(pdus.view, FilteredRows) and pdus.view.caught_up:
                break
            await pilot.pause(0.02)
        assert isinstance(pdus.view, FilteredRows) and len(pdus.view) > 0


@pytest.mark.asyncio
async def test_filter_on_a_body_field_in_a_session() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("enter", "f", *'Dest_terminal_Id == "8613800000003"', "enter")
        pdus = app.screen.query_one(PduList)
        for _ in range(100):
            if isinstance(pdus.view, FilteredRows) and pdus.view.caught_up:
                break
            await pilot.pause(0.02)
        assert len(pdus.view) == 1 and "8613800000003" in row_text(pdus, 1)


@pytest.mark.asyncio
async def test_search_finds_next_and_previous_and_says_when_nothing_matches() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await indexed(pilot)
        await pilot.press("2", "slash", *"flow control", "enter")
        pdus = app.screen.query_one(PduList)
        for _ in range(100):
            await pilot.pause(0.02)
            if pdus.cursor:
                break
        first = cursor_frame(pdus)
        assert app.model.command_id[pdus.current_row() or 0] == C.CMPP_SUBMIT_RESP
        await pilot.press("n")
        for _ in range(100):
            await pilot.pause(0.02)
            if cursor_frame(pdus) != first:
                break
        second = cursor_frame(pdus)
        assert second > first
        await pilot.press("N")
        for _ in range(100):
            await pilot.pause(0.02)
            if cursor_frame(pdus) != second:
                break
        assert cursor_frame(pdus) == first
        await pilot.press("slash", *"no such words", "enter")
        for _ in range(100):
            await pilot.pause(0.02)
            if app._notifications:
                break
        assert any("not found" in n.message for n in app._notifications)
        assert cursor_frame(pdus) == first


@pytest.mark.asyncio
async def test_help_palette_and_mode_keys() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, SessionsScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Sessions", "PDUs", "Statistics", "Pause / resume", "Help"} <= set(titles)
        assert any(t.startswith("Session 0: 192.0.2.10:40001") for t in titles)
        await pilot.press("ctrl+p")
        await pilot.press(*"Statistics")
        await pilot.pause(0.3)
        await pilot.press("enter")
        for _ in range(50):
            await pilot.pause(0.02)
            if isinstance(app.screen, StatsScreen):
                break
        assert isinstance(app.screen, StatsScreen)
        await pilot.press("1")
        assert isinstance(app.screen, SessionsScreen)
        await pilot.press("2")
        assert isinstance(app.screen, PduScreen)
        await pilot.press("q")
    assert app.return_value == 0


@pytest.mark.asyncio
async def test_pause_and_resume_indexing() -> None:
    app = app_for(SAMPLE)
    app.indexer.pause()  # paused before the first segment is indexed
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(100):
            await pilot.pause(0.02)
            if app.model.progress.paused:
                break
        app._tick()
        await pilot.pause()
        assert app.model.count == 0 and not app.model.progress.done
        assert "paused" in str(app.screen.query_one("#status").render())
        await pilot.press("p")
        await indexed(pilot)
        assert app.model.count == 102
        assert "indexed" in str(app.screen.query_one("#status").render())


@pytest.mark.asyncio
async def test_no_color_keeps_the_cursor_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = app_for(SAMPLE)
    async with app.run_test(size=(80, 24)) as pilot:
        await indexed(pilot)
        assert app.no_color
        await pilot.press("2")
        pdus = app.screen.query_one(PduList)
        cursor = pdus.render_line(1)
        assert any(seg.style is not None and seg.style.reverse for seg in cursor)


class DripSource:
    """A live-like source: the records of a capture, handed out only as the test releases them
    (``per_chunk`` records a chunk at most), and a quiet wire (a blocked read) in between, as
    a live capture behaves; :meth:`end` hands out the rest and ends the capture."""

    live = True

    def __init__(self, path: Path, per_chunk: int = 1, name: str = "drip0") -> None:
        self.name = name
        self.notes: list[Any] = []
        data = path.read_bytes()
        self._header = data[:24]
        self.records: list[bytes] = []
        pos = 24
        while pos < len(data):
            caplen = struct.unpack_from("<I", data, pos + 8)[0]
            self.records.append(data[pos:pos + 16 + caplen])
            pos += 16 + caplen
        self.per_chunk = per_chunk
        self.allowed = 0
        self.sent = 0
        self._ended = False
        self._stopped = False
        self._cond = threading.Condition()

    def release(self, count: int) -> None:
        with self._cond:
            self.allowed = min(len(self.records), self.allowed + count)
            self._cond.notify_all()

    def end(self) -> None:
        """Every record, then the end of the capture."""
        with self._cond:
            self.allowed = len(self.records)
            self._ended = True
            self._cond.notify_all()

    def chunks(self) -> Iterator[bytes]:
        yield self._header
        while True:
            with self._cond:
                while self.sent >= self.allowed and not self._stopped and not self._ended:
                    self._cond.wait()
                if self.sent >= self.allowed:
                    return
                stop = min(self.allowed, self.sent + self.per_chunk)
                chunk = b"".join(self.records[self.sent:stop])
                self.sent = stop
            yield chunk

    @property
    def progress(self) -> float | None:
        return None

    def counters(self) -> tuple[tuple[str, int], ...]:
        return (("frames", self.sent), ("dropped", 0))

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def close(self) -> None:
        pass


@pytest.mark.asyncio
async def test_live_source_updates_lists_as_traffic_arrives_and_quits_cleanly() -> None:
    source = DripSource(SAMPLE)
    app = make_app(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        pdus = app.screen.query_one(PduList)
        source.release(60)
        for _ in range(200):
            await pilot.pause(0.02)
            if app.model.count and len(pdus.view) == app.model.count:
                break
        first = app.model.count
        assert 0 < first < 102 and len(pdus.view) == first
        for _ in range(50):
            status = str(app.screen.query_one("#status").render())
            if "60 frames" in status:
                break
            await pilot.pause(0.02)
        assert "capturing" in status and "0 dropped" in status and "60 frames" in status
        source.release(10_000)
        for _ in range(200):
            await pilot.pause(0.02)
            if len(pdus.view) == 102:
                break
        assert len(pdus.view) == 102 and not app.model.progress.done  # the wire is quiet
        await pilot.press("q")
    assert app.indexer.finished.wait(10)  # quitting stopped the blocked source


@pytest.mark.asyncio
async def test_live_statistics_fill_in_while_the_wire_is_quiet() -> None:
    """The engine is fed only when a packet arrives; the UI's tick still publishes what it has,
    so Statistics opened after traffic stopped shows that traffic (not an empty table)."""
    source = DripSource(SAMPLE)
    app = make_app(source)
    app.indexer.idle_publish_s = 0.05
    async with app.run_test(size=(120, 40)) as pilot:
        source.release(10_000)  # everything, then a quiet wire: the source blocks
        for _ in range(200):
            await pilot.pause(0.02)
            if app.model.count == 102:
                break
        await pilot.press("3")
        for _ in range(200):
            await pilot.pause(0.02)
            report = app.model.report
            if report is not None and report["pdus"] == 102:
                break
        assert report is not None and report["pdus"] == 102
        assert report["commands"]["CMPP_SUBMIT"]["requests"] == 26
        assert not app.model.progress.done  # still capturing: the report came from the tick
        await pilot.press("q")
    assert app.indexer.finished.wait(10)


# -- untrusted text -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sms_with_escapes_and_markup_shows_as_inert_text(hostile_pcap: Path) -> None:
    app = app_for(hostile_pcap)
    async with app.run_test(size=(250, 30)) as pilot:
        await indexed(pilot)
        await pilot.press("2")
        pdus = app.screen.query_one(PduList)
        row = row_text(pdus, 1)
        assert row.count("\\x1b") == 2, row
        assert "“\\x1b[31mRED\\x1b[0m [bold red]X[/] [link=http://evil]y" in row
        assert "[b]106[/b]" in row
        painted = [seg for seg in pdus.render_line(1)]
        assert not any(ch in seg.text for seg in painted for ch in "\x1b\x9b\u202e")
        assert not any(seg.style is not None and (seg.style.link or seg.style.bold)
                       for seg in painted if "X" in seg.text or "y[/link]" in seg.text)
        await pilot.press("enter")
        tree = app.screen.query_one(FieldTree)
        texts = [str(n.label) for n in _walk(tree.root)]
        text_node = next(t for t in texts if t.startswith("text (utf-16-be)"))
        assert "\\x1b[31mRED" in text_node and "[bold red]X[/]" in text_node
        assert "\\x9b2J" in text_node and "\\u202eevil" in text_node
        assert "Src_Id: “[b]106[/b]”" in texts
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "\x9b" not in svg and "\u202e" not in svg


# -- readable at any width ----------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (90, 24), (100, 24), (120, 40)])
async def test_pdu_list_keeps_command_latency_and_result_whole(size: tuple[int, int],
                                                              names_pcap: Path) -> None:
    """Issue 14: what a user filters on stays in view; Pair and Time give way first, and the
    columns hold the longest CMPP names a list shows."""
    app = app_for(names_pcap)
    async with app.run_test(size=size) as pilot:
        await indexed(pilot)
        await pilot.press("2")
        pdus = app.screen.query_one(PduList)
        await pilot.pause()
        text = lines(pdus)
        header = text[0].split()
        assert {"No.", "Command", "Latency", "Result", "Info"} <= set(header), text[0]
        assert "Pair" not in header  # outranked, and reachable sideways
        assert any(" ACTIVE_TEST_RESP " in line for line in text)
        assert any(" 8 flow control error " in line for line in text)
        assert any("12.00ms" in line or "ms " in line for line in text[1:])


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_sessions_keep_version_login_and_errors(size: tuple[int, int],
                                                     names_pcap: Path) -> None:
    app = app_for(names_pcap)
    async with app.run_test(size=size) as pilot:
        await indexed(pilot)
        text = lines(app.screen.query_one(SessionList))
        assert {"Id", "Client", "SP", "Ver", "Login", "Err", "Unans"} <= set(text[0].split())
        refused = next(line for line in text if "10.0.0.3:40001" in line)
        assert " failed (3 authentication) " in refused and " 2.0 " in refused
        served = next(line for line in text if "10.0.0.1:40000" in line)
        assert " ok " in served


async def _views_right(pilot: Pilot[Any], widget: RowList) -> list[list[str]]:
    """The list as shown, then after each **right** until a press changes nothing."""
    views = [lines(widget)]
    for _ in range(30):
        await pilot.press("right")
        now = lines(widget)
        if now == views[-1]:
            return views
        views.append(now)
    raise AssertionError("right never stopped scrolling")


@pytest.mark.asyncio
async def test_wide_lists_scroll_sideways_with_a_hint(names_pcap: Path) -> None:
    """Columns that do not fit come into view with right / left; the header says how many are
    out of view and which way they are, and the rows follow the header (the line cache is
    keyed by the scroll)."""
    app = app_for(names_pcap)
    async with app.run_test(size=(80, 24)) as pilot:
        await indexed(pilot)
        await pilot.press("2")
        pdus = app.screen.query_one(PduList)
        await pilot.pause()
        views = await _views_right(pilot, pdus)
        first, last = views[0], views[-1]
        assert first[0].rstrip().endswith("▶ 5 more columns") and "◀" not in first[0]
        assert "◀" in last[0] and "▶" not in last[0]
        assert all("◀ ▶" in view[0] for view in views[1:-1])
        seen = "\n".join(view[0] for view in views)
        assert all(c.title in seen for c in pdus.columns())  # every column, some time
        # SUBMIT_RESP (frame 7) pairs with frame 6: its Pair cell shows once Pair does.
        with_pair = next(view for view in views if "Pair" in view[0].split())
        assert any(line.split()[:1] == ["7"] and " #6 " in line for line in with_pair)
        assert not any(" #6 " in line for line in first)
        for _ in range(len(views) + 2):
            await pilot.press("left")
        assert lines(pdus) == first
        # Wide enough for everything: no hint, and right / left change nothing.
        await pilot.resize_terminal(200, 30)
        await pilot.pause()
        wide = lines(pdus)
        assert "more column" not in wide[0] and "Pair" in wide[0] and "Len" in wide[0]
        await pilot.press("right")
        assert lines(pdus) == wide
        # The same on Sessions: its dropped columns come into view.
        await pilot.resize_terminal(80, 24)
        await pilot.press("1")
        await pilot.pause()
        sessions = app.screen.query_one(SessionList)
        views = await _views_right(pilot, sessions)
        assert "▶ +" in views[0][0] and "Server" not in views[0][0]
        assert any("Server" in view[0] for view in views)
        assert any("Duration" in view[0] for view in views)


@pytest.mark.asyncio
async def test_ladder_leaves_left_and_right_alone() -> None:
    """The ladder is drawn as arrows, not columns: it has no sideways scroll nor hint."""
    app = app_for(SAMPLE)
    async with app.run_test(size=(80, 24)) as pilot:
        await indexed(pilot)
        await pilot.press("l")
        ladder = app.screen.query_one(LadderView)
        before = lines(ladder)
        assert "more column" not in before[0]
        await pilot.press("right")
        assert lines(ladder) == before


# -- snapshots ----------------------------------------------------------------------------------


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Absolute times on screen are local times: pin the zone so snapshots do not move."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


async def _ready(pilot: Pilot[Any]) -> None:
    await indexed(pilot)


SNAPSHOTS = {
    "sessions": [],
    "pdus": ["enter", "down", "down"],
    # The frame's layers (Frame, Ethernet II, IPv4, TCP) sit collapsed between Capture and the
    # header: four more lines down to the same CMPP field.
    "detail": ["2", "down", "down", "enter", "down", "down", "down", "down", "down", "down",
               "down", "down", "down", "down", "down", "down", "down", "down", "down", "down",
               "down"],
    "ladder": ["l", "down", "down"],
    "stats": ["3"],
    "stats-time": ["3"],  # then ] ] once the report is in (AFTER_REPORT)
    "stats-session": ["z"],  # the first session's statistics (counted in a worker)
    "help": ["question_mark"],
    "save": ["2", "w"],
}
AFTER_REPORT = {"stats-time": ["right_square_bracket", "right_square_bracket"]}


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
@pytest.mark.parametrize("name", list(SNAPSHOTS))
def test_snapshot(name: str, size: tuple[int, int], snap_compare: Any, utc: None) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await indexed(pilot)
        await pilot.press(*SNAPSHOTS[name])
        if name.startswith("stats"):
            for _ in range(200):
                screen = pilot.app.screen
                if screen.query_one("#srt-table", DataTable).row_count and (
                        not isinstance(screen, StatsScreen) or screen.scope is None
                        or screen._scope_report is not None):
                    break
                await pilot.pause(0.02)
        await pilot.press(*AFTER_REPORT.get(name, []))
        await pilot.pause()

    assert snap_compare(app_for(SAMPLE), terminal_size=size, run_before=run_before)


def test_pdu_raw_bytes_survive_the_store_for_every_command(tmp_path: Path) -> None:
    """Odd sizes, both versions, a malformed length: what goes in comes out byte for byte."""
    pdus = [(True, encode_pdu(C.CMPP_CONNECT, 1, {"Source_Addr": "901234", "Version": 0x30},
                              V3)),
            (False, encode_pdu(C.CMPP_CONNECT_RESP, 1, {"Status": 3}, V3)),
            (True, submit(2, b"x" * 140, version=V3)),
            (False, submit_resp(2, 5, version=V3)),
            (True, encode_pdu(C.CMPP_ACTIVE_TEST, 3)),
            (False, encode_pdu(C.CMPP_DELIVER, 9, {"Registered_Delivery": 1,
                                                   "Msg_Content": bytes(50)}, V3))]
    path = write_pcap(tmp_path / "mixed.pcap", conversation(pdus))
    model = _model_of(path)
    assert [model.raw(r) for r in range(model.count)] == [p for _, p in pdus]
    assert model.severity[5] == 3 and "report-size" in {f.code for f in model.extra(5).findings}
    assert "report-size" in {f.code for f in model.pdu(5).findings}
