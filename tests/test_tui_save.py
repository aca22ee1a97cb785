"""The TUI's save and move keys, end to end with Textual's Pilot: marks, saving frames as
pcapng (re-read by dpkt and by ``cmppdissect -T json``), a ladder as text, the errors a save
can meet, the jumps between a status report and its SUBMIT, to a long SMS and from a finding,
and the SMS text column. Waits are bounded by polls, never by a clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import dpkt
import pytest
from pcaputil import small_disk
from test_tui import (  # the helpers the other TUI tests use
    SAMPLE,
    SAMPLES,
    _walk,
    app_for,
    cursor_frame,
    hostile_pcap,  # noqa: F401 - a fixture
    indexed,
    lines,
    long_pcap,  # noqa: F401 - a fixture
    row_text,
)
from textual.pilot import Pilot
from textual.widgets import Input, RadioSet, Static

from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.tui.app import CmppApp, make_app
from cmppdissect.tui.screens.detail import DetailScreen, FieldTree
from cmppdissect.tui.screens.help import help_table
from cmppdissect.tui.screens.ladder import LadderScreen
from cmppdissect.tui.screens.longsms import LongSmsScreen
from cmppdissect.tui.screens.pdus import PduScreen
from cmppdissect.tui.screens.save import SaveScreen
from cmppdissect.tui.source import FileSource
from cmppdissect.tui.widgets.filterbar import FilterBar
from cmppdissect.tui.widgets.ladderview import LadderView
from cmppdissect.tui.widgets.pdulist import MARK, PduList

SPLIT = SAMPLES / "split-headers.pcap"


# -- helpers ------------------------------------------------------------------------------------


def cli_json(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run([sys.executable, "-m", "cmppdissect", "-T", "json", str(path)],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    records: list[dict[str, Any]] = json.loads(out)
    return records


def pdu_keys(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What identifies a PDU whatever file it is in (frame numbers change in a saved one)."""
    return [(r["command"], r["sequence_id"], r["src"], r["dst"], json.dumps(r["fields"]))
            for r in records]


def pcapng_frames(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in dpkt.pcapng.Reader(f))


def notes(app: CmppApp) -> list[str]:
    return [n.message for n in app._notifications]


async def save_as(pilot: Pilot[Any], path: Path | str, choice: int | None = None) -> SaveScreen:
    """Press w, pick ``choice`` (None: the one proposed), type ``path``, press enter."""
    app = pilot.app
    await pilot.press("w")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, SaveScreen)
    if choice is not None:
        radio = screen.query_one(RadioSet)
        radio.focus()
        buttons = list(radio.query("RadioButton"))
        buttons[choice].value = True  # type: ignore[attr-defined]
        await pilot.pause()
    box = screen.query_one("#save-name", Input)
    box.value = str(path)
    box.focus()
    await pilot.press("enter")
    await pilot.pause()
    return screen


async def saved(pilot: Pilot[Any], polls: int = 500) -> list[str]:
    """Wait for the save worker to finish; the notifications then."""
    app = pilot.app
    assert isinstance(app, CmppApp)
    for _ in range(polls):
        await pilot.pause(0.02)
        if any(m.startswith(("saved ", "could not save")) for m in notes(app)):
            break
    return notes(app)


def error_line(screen: SaveScreen) -> str:
    return str(screen.query_one("#save-error", Static).render())


# -- marks and saving frames --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_marked_rows_show_and_save_exactly_their_pdus(tmp_path: Path) -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await indexed(pilot)
        await pilot.press("2", "down", "down", "m", "down", "m")  # rows 2 and 4
        pdus = app.screen.query_one(PduList)
        assert app.model.marks == {2, 4}
        assert row_text(pdus, 3).lstrip().startswith(MARK)
        assert row_text(pdus, 5).lstrip().startswith(MARK)
        assert MARK not in row_text(pdus, 4) and MARK not in row_text(pdus, 1)
        assert pdus.cursor == 5  # m moves on to the next row
        await pilot.press("up", "up", "up", "m")  # m again unmarks
        assert app.model.marks == {4}
        assert not row_text(pdus, 3).lstrip().startswith(MARK)
        await pilot.press("up", "m")
        assert app.model.marks == {2, 4}
        out = tmp_path / "marked.pcapng"
        screen = await save_as(pilot, out)  # with marks, "marked" is proposed
        assert screen.choices[screen.initial].label.startswith("Marked: 2 PDUs")
        messages = await saved(pilot)
        assert f"saved 2 frames (2 PDUs) to {out}" in messages, messages
    assert pcapng_frames(out) == 2
    want = [r for r in cli_json(SAMPLE) if r["frame"] in {int(app.model.frame[2]),
                                                          int(app.model.frame[4])}]
    assert pdu_keys(cli_json(out)) == pdu_keys(want)


@pytest.mark.asyncio
async def test_save_the_filtered_rows_and_a_session(tmp_path: Path) -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await indexed(pilot)
        await pilot.press("2")
        app.screen.query_one(FilterBar).apply('command == "SUBMIT_RESP" and Result != 0')
        for _ in range(100):
            await pilot.pause(0.02)
            view = app.screen.query_one(PduList).view
            if getattr(view, "caught_up", False):
                break
        errors = tmp_path / "errors.pcapng"
        await save_as(pilot, errors, choice=0)
        assert any(m.startswith("saved") for m in await saved(pilot))
        app._notifications.clear()
        await pilot.press("1", "down")  # the second session
        sid = app.model.sessions[1].id
        session = tmp_path / "session.pcapng"
        await save_as(pilot, session, choice=0)
        messages = await saved(pilot)
        assert any(m.startswith("saved") for m in messages), messages
    everything = cli_json(SAMPLE)
    want = [r for r in everything if r["command"] == "CMPP_SUBMIT_RESP"
            and r["fields"]["Result"] != 0]
    assert want and pdu_keys(cli_json(errors)) == pdu_keys(want)
    want = [r for r in everything if r["session"] == sid]
    assert len(want) == 51 and pdu_keys(cli_json(session)) == pdu_keys(want)


@pytest.mark.asyncio
async def test_a_pdu_split_over_segments_is_saved_with_every_segment(tmp_path: Path) -> None:
    """The TUI's own analysis knows only the frame that completed a PDU: the save reads the
    capture again with carriers, so a PDU split over segments re-reads whole."""
    app = app_for(SPLIT)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await indexed(pilot)
        model = app.model
        completing = len(set(model.frame[:model.count].tolist()))
        await pilot.press("2")
        out = tmp_path / "all.pcapng"
        await save_as(pilot, out, choice=0)
        messages = await saved(pilot)
        assert any(m.startswith("saved") for m in messages), messages
    assert pcapng_frames(out) > completing  # the earlier segments of split PDUs too
    assert pdu_keys(cli_json(out)) == pdu_keys(cli_json(SPLIT))


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_unwritable_targets_are_said_in_the_dialog(tmp_path: Path) -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await indexed(pilot)
        await pilot.press("2")
        for target, words in ((tmp_path / "nowhere" / "x.pcapng", "no such directory"),
                              (tmp_path, "is a directory"),
                              (SAMPLE, "that is the capture being read"),
                              ("", "give a file name")):
            screen = await save_as(pilot, target, choice=0)
            assert app.screen is screen  # still open, saying why
            assert words in error_line(screen), (target, error_line(screen))
            await pilot.press("escape")
            assert isinstance(app.screen, PduScreen)
        # no row marked: "marked" says how to mark one
        screen = await save_as(pilot, tmp_path / "m.pcapng", choice=2)
        assert "no PDU is marked" in error_line(screen)
        await pilot.press("escape")
        # an existing file: enter again replaces it
        old = tmp_path / "old.pcapng"
        old.write_bytes(b"keep")
        screen = await save_as(pilot, old, choice=0)
        assert "exists" in error_line(screen) and old.read_bytes() == b"keep"
        await pilot.press("enter")
        assert any(m.startswith("saved") for m in await saved(pilot))
    assert pcapng_frames(old) == 102
    assert not (tmp_path / "nowhere").exists() and not (tmp_path / "m.pcapng").exists()


@pytest.mark.asyncio
async def test_a_full_disk_is_one_line_and_the_file_ends_on_a_whole_frame(
        tmp_path: Path) -> None:
    app = app_for(SAMPLE)
    with small_disk(tmp_path, 6 * 1024) as mount:
        out = mount / "all.pcapng"
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await indexed(pilot)
            await pilot.press("2")
            await save_as(pilot, out, choice=0)
            messages = await saved(pilot)
        failed = [m for m in messages if m.startswith("could not save")]
        assert len(failed) == 1 and "No space left on device" in failed[0], messages
        assert "\n" not in failed[0] and "Traceback" not in failed[0]
        assert "last whole frame" in failed[0]
        kept = pcapng_frames(out)  # dpkt reads it to its end: no cut record
        assert 0 < kept < 102


@pytest.mark.asyncio
async def test_frames_from_stdin_cannot_be_saved_but_a_ladder_can(tmp_path: Path) -> None:
    with SAMPLE.open("rb") as pipe:
        app = make_app(FileSource(pipe, name="<stdin>"))
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await indexed(pilot)
            screen = await save_as(pilot, tmp_path / "s.pcapng", choice=0)
            assert "frames cannot be read again from <stdin>" in error_line(screen)
            await pilot.press("escape")
            ladder = tmp_path / "ladder.txt"
            await save_as(pilot, ladder, choice=1)
            messages = await saved(pilot)
            assert any(m.startswith("saved") for m in messages), messages
    assert not (tmp_path / "s.pcapng").exists()
    assert "CONNECT 1" in ladder.read_text()


# -- the ladder as text -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_ladder_saved_as_text(tmp_path: Path, hostile_pcap: Path) -> None:  # noqa: F811
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await indexed(pilot)
        await pilot.press("l")
        assert isinstance(app.screen, LadderScreen)
        out = tmp_path / "ladder.txt"
        await save_as(pilot, out)  # the ladder as text is proposed
        assert any(m.startswith("saved 54 lines") for m in await saved(pilot))
    text = out.read_text(encoding="utf-8").splitlines()
    assert text[0].startswith("Ladder  ·  Session 0") and text[1] == ""
    assert "SP 192.0.2.10:40001" in text[2] and "198.51.100.7:7890 ISMG" in text[2]
    body = text[3:]
    assert len(body) == 51
    assert " CONNECT 1 " in body[0] and "▶│" in body[0]
    assert body[0].endswith(f"#{app.model.frame[int(app.model.pair[0])]}")
    assert "│◀" in body[1] and "12.00ms" in body[1]
    assert any(" SUBMIT_RESP 9 ✗8 " in line for line in body)
    assert any(" SUBMIT 15 " in line and "no resp" in line for line in body)
    frames = [int(line.split()[-2]) if line.split()[-1].startswith("#") else
              int(line.split()[-1]) for line in body]
    sid = app.model.sessions[0].id
    assert frames == [int(app.model.frame[r]) for r in app.model.session_rows(sid)]

    # with the SMS text on the arrows (x), hostile text stays inert in the file
    app = app_for(hostile_pcap)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await indexed(pilot)
        await pilot.press("l", "x")
        out = tmp_path / "hostile.txt"
        await save_as(pilot, out)
        assert any(m.startswith("saved") for m in await saved(pilot))
    data = out.read_text(encoding="utf-8")
    assert "\\x1b[31mRED" in data and "[bold red]X[/]" in data and "\\u202eevil" in data
    assert not any(ch in data for ch in "\x1b\x9b\u202e")


# -- jumps --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_R_jumps_from_a_status_report_to_its_submit_and_back() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await indexed(pilot)
        m = app.model
        await pilot.press("2")
        pdus = app.screen.query_one(PduList)
        reports = [r for r in range(m.count) if m.pdu(r).report is not None
                   and m.store.report_for(r) is not None]
        report = reports[3]
        pdus.move_to(report)
        await pilot.press("R")
        submit = pdus.current_row()
        assert submit is not None and m.command_id[submit] == C.CMPP_SUBMIT
        assert m.frame[submit] == m.store.report_for(report)
        resp = int(m.pair[submit])
        assert m.pdu(resp).fields["Msg_Id"] == m.pdu(report).report["Msg_Id"]  # type: ignore[index]
        await pilot.press("R")
        assert pdus.current_row() == report
        pdus.move_to(resp)  # from the SUBMIT_RESP too
        await pilot.press("R")
        assert pdus.current_row() == report
        # a PDU that is neither says so, and stays
        pdus.move_to(0)
        await pilot.press("R")
        assert pdus.current_row() == 0 and any("neither" in n for n in notes(app))

        # in Detail: R, and enter on the finding that names the SUBMIT
        pdus.move_to(report)
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, DetailScreen) and detail.row == report
        await pilot.press("R")
        assert detail.row == submit
        await pilot.press("R")
        assert detail.row == report
        tree = detail.query_one(FieldTree)
        node = next(n for n in _walk(tree.root) if "for the SUBMIT in frame" in str(n.label))
        tree.move_cursor(node)
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen) and app.screen.row == submit


@pytest.mark.asyncio
async def test_a_report_whose_submit_is_in_another_view_opens_all_pdus() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        m = app.model
        report = next(r for r in range(m.count) if m.store.report_for(r) is not None)
        submit = m.submit_of_report(report)
        assert submit is not None
        await pilot.press("2")
        app.screen.query_one(FilterBar).apply("report.Stat")
        for _ in range(100):
            await pilot.pause(0.02)
            if getattr(app.screen.query_one(PduList).view, "caught_up", False):
                break
        pdus = app.screen.query_one(PduList)
        pdus.move_to(pdus.view.position(report) or 0)
        assert pdus.current_row() == report
        await pilot.press("R")
        assert isinstance(app.screen, PduScreen) and app.screen.query_one(PduList) is not pdus
        assert app.screen.query_one(PduList).current_row() == submit


@pytest.mark.asyncio
async def test_J_opens_the_joined_long_sms_from_any_part(long_pcap: Path) -> None:  # noqa: F811
    app = app_for(long_pcap)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await indexed(pilot)
        m = app.model
        await pilot.press("2")
        pdus = app.screen.query_one(PduList)
        first = next(r for r in range(m.count) if m.command_id[r] == C.CMPP_SUBMIT)
        pdus.move_to(first)
        await pilot.press("J")
        screen = app.screen
        assert isinstance(screen, LongSmsScreen)
        assert "第一部分第二部分" in str(screen.query_one("#long-text", Static).render())
        parts = screen.query_one(PduList)
        assert [m.frame[r] for r in parts.view] == m.extra(screen.home).long_sms["frames"]  # type: ignore[index]
        assert len(parts.view) == 2 and parts.current_row() == first
        assert "reference 66" in screen.title_text() and "2 parts" in screen.title_text()
        await pilot.press("down", "enter")
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.row == m.long_sms_parts(screen.home)[1]
        await pilot.press("J")  # from Detail too
        assert isinstance(app.screen, LongSmsScreen)
        await pilot.press("escape", "escape", "escape")
        assert app.screen.query_one(PduList) is pdus
        group = next(r for r in range(m.count) if m.command_id[r] == C.CMPP_SUBMIT
                     and len(m.pdu(r).fields["Dest_terminal_Id"]) == 3)
        pdus.move_to(group)
        await pilot.press("J")
        assert app.screen.query_one(PduList) is pdus
        assert any("no part of a long SMS" in n for n in notes(app))


@pytest.mark.asyncio
async def test_l_on_a_session_row_opens_that_sessions_ladder() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("down", "l")
        screen = app.screen
        assert isinstance(screen, LadderScreen)
        assert screen.view.session == app.model.sessions[1].id
        ladder = screen.query_one(LadderView)
        assert len(ladder.view) == len(app.model.session_rows(app.model.sessions[1].id))
        assert cursor_frame(ladder) == app.model.frame[app.model.session_rows(
            app.model.sessions[1].id)[0]]


# -- the SMS text column ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sms_text_column_and_ladder_arrows_show_hostile_text_inert(
        hostile_pcap: Path) -> None:  # noqa: F811
    app = app_for(hostile_pcap)
    async with app.run_test(size=(160, 30)) as pilot:
        await indexed(pilot)
        await pilot.press("2")
        pdus = app.screen.query_one(PduList)
        assert "Text" not in row_text(pdus, 0).split()  # off by default
        await pilot.press("x")
        assert "Text" in row_text(pdus, 0).split()
        header = row_text(pdus, 0)
        start = header.index("Text")
        cell = row_text(pdus, 1)[start:start + 24]
        assert cell.startswith("\\x1b[31mRED\\x1b[0m [bo"), cell
        painted = list(pdus.render_line(1))
        assert not any(ch in seg.text for seg in painted for ch in "\x1b\x9b\u202e")
        assert not any(seg.style is not None and (seg.style.link or seg.style.bold)
                       for seg in painted if "[bo" in seg.text)
        await pilot.press("x")
        assert "Text" not in row_text(pdus, 0).split()
        await pilot.press("l", "x")
        ladder = app.screen.query_one(LadderView)
        arrow = lines(ladder)[1]
        assert " SUBMIT 1 “\\x1b[31mRED" in arrow and "▶│" in arrow
        assert not any(ch in arrow for ch in "\x1b\x9b\u202e")


@pytest.mark.asyncio
async def test_x_shows_the_text_at_80_columns(hostile_pcap: Path) -> None:  # noqa: F811
    """At 80 columns the Text column takes the width left when x asks for it (the key
    fields move out to the right, where sideways scrolling reaches them)."""
    app = app_for(hostile_pcap)
    async with app.run_test(size=(80, 24)) as pilot:
        await indexed(pilot)
        await pilot.press("2", "x")
        pdus = app.screen.query_one(PduList)
        header = row_text(pdus, 0)
        assert "Text" in header.split() and "Info" not in header.split()
        assert "Result" in header and "Latency" in header
        assert "\\x1b[31mRED" in row_text(pdus, 1)
        await pilot.press("x")
        assert "Info" in row_text(pdus, 0).split()


# -- discoverable -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_new_keys_are_in_the_palette_and_the_help() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Save… (w)" in titles
        await pilot.press("2")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Save… (w)", "Mark / unmark row (m)", "Clear marks", "SMS text (x)",
                "Status report ↔ SUBMIT (R)", "Long SMS (J)"} <= titles
        await pilot.press("m")
        assert app.model.marks
        next(c for c in app.get_system_commands(app.screen)
             if c.title == "Clear marks").callback()
        assert not app.model.marks
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Status report ↔ SUBMIT (R)", "Long SMS (J)"} <= titles
    keys = {str(row) for column in help_table().columns for row in column.cells}
    for key in ("m", "w", "x", "R", "J"):
        assert key in keys, key
