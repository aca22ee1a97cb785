"""Days without a restart: the TUI of a live capture holds at most ``--max-pdus`` PDUs.

A live-like source hands out the records of a generated capture (bench/gen_capture.py: mixed
traffic over links that come and go, long SMS, status reports, requests never answered) as the
test releases them; the app runs with a cap of 1,000 rows, a tenth of which go at a time. What
it holds is compared with a full analysis of the same capture: the rows held are its newest,
with the same frames; a filter or a search over them keeps exactly the rows the row-by-row
predicate keeps; the cursor, the marks, a Detail, the ladder, the Messages built across the
releases and the statistics (the engine's: every PDU) stay right. The bound is proved at two
sizes four times apart: the most rows ever held and the columns' capacity are the same.
"""

from __future__ import annotations

import importlib.util
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_tui import DripSource, row_text
from test_tui_messages import awaiting_capture, built
from test_tui_save import cli_json, pdu_keys, save_as, saved
from textual.pilot import Pilot

import cmppdissect
from cmppdissect.api import Analysis
from cmppdissect.engine.findings import not_waited
from cmppdissect.output.report import build_report
from cmppdissect.protocol.commands import DEFAULT_PORTS
from cmppdissect.query.dfilter import compile_filter
from cmppdissect.tui.app import CmppApp, make_app
from cmppdissect.tui.indexer import LIVE_MAX_PDUS, Indexer
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.screens.detail import DetailScreen
from cmppdissect.tui.screens.ladder import LadderScreen
from cmppdissect.tui.screens.longsms import LongSmsScreen
from cmppdissect.tui.screens.pdus import PduScreen
from cmppdissect.tui.screens.save import SaveScreen
from cmppdissect.tui.screens.stats import StatsScreen
from cmppdissect.tui.screens.transactions import TransactionsScreen
from cmppdissect.tui.search import search_predicate
from cmppdissect.tui.source import FileSource
from cmppdissect.tui.transactions import TxFilter, tx_record
from cmppdissect.tui.views import FilteredRows, filter_predicate
from cmppdissect.tui.widgets.filterbar import FilterBar
from cmppdissect.tui.widgets.ladderview import LadderView
from cmppdissect.tui.widgets.pdulist import PduList
from cmppdissect.tui.widgets.status import StatusLine
from cmppdissect.tui.widgets.tables import SessionList

ROOT = Path(__file__).resolve().parents[1]
_SPEC = importlib.util.spec_from_file_location("gen_capture", ROOT / "bench" / "gen_capture.py")
assert _SPEC is not None and _SPEC.loader is not None
gen = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("gen_capture", gen)
_SPEC.loader.exec_module(gen)

CAP = 1000
CHUNK = CAP // 10


class FeedSource(DripSource):
    """A live capture's stand-in: :class:`DripSource` in chunks of up to ``per_chunk``
    records, over the classic microsecond pcap the captures here are."""

    def __init__(self, path: Path, per_chunk: int = 16) -> None:
        with path.open("rb") as fh:
            assert struct.unpack("<I", fh.read(4))[0] == 0xA1B2C3D4  # classic pcap, microseconds
        super().__init__(path, per_chunk, name="feed0")


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """About 5,000 and 20,000 PDUs."""
    folder = tmp_path_factory.mktemp("tuicap")
    out = {}
    for frames in (5_400, 21_600):
        out[frames] = folder / f"gen{frames}.pcap"
        gen.generate(out[frames], frames=frames, sessions=4)
    return out


def reference(path: Path) -> cmppdissect.Analysis:
    """The whole capture, every row kept: what the TUI's rows are compared with."""
    analysis = cmppdissect.analyze(path)
    analysis.start(keep_rows=True)
    return analysis.run()


async def until(pilot: Pilot[Any], test: Callable[[], bool], polls: int = 1500) -> None:
    for _ in range(polls):
        if test():
            return
        await pilot.pause(0.02)
    assert test(), "never happened"


def consumed(app: CmppApp, source: FeedSource) -> Callable[[], bool]:
    """Every record released was read, analysed, and the rows past the cap let go."""
    def test() -> bool:
        idle = source.sent >= source.allowed and app.model.progress.frames >= source.sent
        return idle and not app.indexer.release_due()
    return test


async def settled_screen(pilot: Pilot[Any], app: CmppApp, source: FeedSource) -> None:
    await until(pilot, consumed(app, source))
    await pilot.pause(0.05)
    app._tick()
    await pilot.pause()


def status(app: CmppApp) -> str:
    return str(app.screen.query_one(StatusLine).render())


def title(app: CmppApp) -> str:
    return str(app.screen.query_one("#title").render())


def test_the_cap_defaults_to_a_few_million_live_and_none_for_a_file(
        captures: dict[int, Path]) -> None:
    path = captures[5_400]
    live = make_app(FeedSource(path))
    assert live.indexer.max_pdus == LIVE_MAX_PDUS == 2_000_000
    assert live.indexer.chunk == 200_000 and live.indexer.store.window == 1_800_000
    assert make_app(FileSource(path)).indexer.max_pdus == 0
    assert make_app(FileSource(path), max_pdus=500).indexer.max_pdus == 500
    assert make_app(FeedSource(path), max_pdus=0).indexer.store.window == 0
    with pytest.raises(ValueError, match="max_pdus"):
        make_app(FeedSource(path), max_pdus=-1)


async def run_to_the_end(path: Path) -> dict[str, Any]:
    """Feed the whole capture through a capped app and check what it holds at the end."""
    ref = reference(path)
    total = ref.store.count if ref.store is not None else 0
    source = FeedSource(path)
    app = make_app(source, max_pdus=CAP)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("2")
        source.end()
        await until(pilot, lambda: app.model.progress.done)
        await settled_screen(pilot, app, source)
        model, store = app.model, app.indexer.store
        assert ref.store is not None and ref.engine is not None
        # Bounded: never more than the cap and a chunk held; at the end, at most the cap.
        assert store.held_peak <= CAP + CHUNK
        assert CAP - 2 * CHUNK <= model.count <= CAP
        # Every PDU went through, the oldest let go: those held are the newest, same frames.
        assert model.released + model.count == total
        assert np.array_equal(model.frame[:model.count], ref.store.frame[model.released:total])
        assert np.array_equal(model.command_id[:model.count],
                              ref.store.command_id[model.released:total])
        # The PDU list shows them (following: the cursor on the newest).
        pdus = app.screen.query_one(PduList)
        assert len(pdus.view) == model.count and pdus.cursor == model.count - 1
        pdus.move_to(0)
        await pilot.pause()
        assert row_text(pdus, 1).split()[0] == str(ref.store.frame[model.released])
        # The note, and the finding (once).
        note = f"oldest {model.released:,} PDUs dropped (cap 1,000)"
        assert note in status(app)
        assert "All PDUs held (the oldest" in title(app)
        caps = [e for e in model.expert if e.code == "cap-tui-pdus"]
        assert len(caps) == 1 and "more than 1,000 PDUs held by the TUI" in caps[0].message
        assert "100 at a time" in caps[0].message
        # The statistics are the engine's: every PDU, as the full analysis counts them.
        await pilot.press("3")
        await until(pilot, lambda: model.report is not None and model.progress.done)
        await pilot.pause()
        assert isinstance(app.screen, StatsScreen)
        mine, theirs = model.report, build_report(ref.engine, details=False)
        assert mine is not None
        assert mine["commands"] == theirs["commands"]
        counted = sum(c["requests"] + c["responses"] for c in mine["commands"].values())
        assert counted > 4 * model.count
        submit = mine["commands"]["CMPP_SUBMIT"]["requests"]
        table = app.screen.query_one("#counts-table")
        cells = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]  # type: ignore[attr-defined]
        assert str(submit) in cells and submit > CAP
        await pilot.press("q")
    assert app.indexer.finished.wait(10)
    return {"total": total, "peak": store.held_peak, "capacity": store._capacity,
            "chunks": len(store.blobs._chunks), "bytes": store.blobs.stored_bytes,
            "released": model.released,
            "sessions": len(model.sessions), "tracked": len(model._known_sessions)}


@pytest.mark.asyncio
async def test_rows_held_stay_bounded_at_two_sizes(captures: dict[int, Path]) -> None:
    small = await run_to_the_end(captures[5_400])
    large = await run_to_the_end(captures[21_600])
    assert small["total"] > 4_500 and large["total"] > 4 * small["total"] - 1_000
    assert large["released"] > 4 * small["released"]
    # Four times the PDUs, the same rows held and the same memory for them.
    assert small["peak"] <= CAP + CHUNK and large["peak"] <= CAP + CHUNK
    assert large["capacity"] == small["capacity"] <= max(4096, 2 * (CAP + CHUNK))
    # The bytes too: chunks of at most a 32nd of the rows kept, the held ones only.
    assert large["chunks"] <= (CAP + CHUNK) // 16 + 2 and small["chunks"] <= (CAP + CHUNK) // 16 + 2
    assert large["bytes"] < 1.5 * small["bytes"]
    assert large["tracked"] == large["sessions"]


@pytest.mark.asyncio
async def test_filters_searches_the_cursor_and_marks_across_releases(
        captures: dict[int, Path]) -> None:
    path = captures[5_400]
    source = FeedSource(path)
    app = make_app(source, max_pdus=CAP)
    model = app.model
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("2")
        source.release(800)
        await settled_screen(pilot, app, source)
        assert model.released == 0 and model.count > 600
        screen = app.screen
        assert isinstance(screen, PduScreen)
        pdus = screen.query_one(PduList)
        # A filter applied before any row goes.
        expression = 'command == "CMPP_SUBMIT_RESP" or latency_ms > 2'
        screen.query_one(FilterBar).apply(expression)
        await pilot.pause()
        view = pdus.view
        assert isinstance(view, FilteredRows)
        await until(pilot, lambda: view.caught_up and len(view) > 20)
        # A search over the filtered list.
        await pilot.press("slash", *"resp", "enter")
        await until(pilot, lambda: screen.matches is not None and screen.matches.caught_up)
        # The cursor on a row near the end (it survives the first release), and a mark on it
        # and on the first row (which goes).
        position = len(view) - 5
        pdus.move_to(position)
        await pilot.pause()
        kept_row = pdus.current_row()
        assert kept_row is not None
        kept_frame = int(model.frame[kept_row])
        top_frame = int(model.frame[view[round(pdus.scroll_y)]])
        first_frame = int(model.frame[view[0]])
        model.toggle_mark(kept_row)
        model.toggle_mark(view[0])

        def checked() -> None:
            """The filter's rows are the row-by-row filter over the rows held (those whose
            pairing is known: it reads latency_ms), the search's the row-by-row search over
            those."""
            keep = filter_predicate(model, compile_filter(expression))
            # A request awaiting its response holds the rows after it, up to the rows kept.
            assert model.count - app.indexer.keep <= view.scanned <= model.count
            expected = [r for r in range(view.scanned) if keep(r)]
            assert view.rows().tolist() == expected
            matches = screen.matches
            assert matches is not None and matches.base is view
            found = search_predicate(model, "resp")
            assert matches.rows().tolist() == [r for r in expected if found(r)]

        checked()
        # Rows go: the first release lets the first hundred or so go.
        source.release(400)
        await settled_screen(pilot, app, source)
        assert model.released > 0
        await until(pilot, lambda: view.caught_up and screen.matches is not None
                    and screen.matches.caught_up)
        checked()
        row = pdus.current_row()
        assert row is not None and int(model.frame[row]) == kept_frame  # the same PDU
        assert int(model.frame[view[round(pdus.scroll_y)]]) == top_frame  # at the same place
        assert not pdus.follow
        assert [int(model.frame[r]) for r in model.marks] == [kept_frame]  # one mark went
        assert first_frame < int(model.frame[0])
        # Many more: the cursor's row goes too, and the cursor is on the nearest row held.
        source.release(2_500)
        await settled_screen(pilot, app, source)
        await until(pilot, lambda: view.caught_up and screen.matches is not None
                    and screen.matches.caught_up)
        checked()
        assert int(model.frame[0]) > kept_frame
        assert pdus.cursor == 0 and pdus.current_row() == view[0]
        assert not model.marks
        assert model.count <= CAP + CHUNK and app.indexer.store.held_peak <= CAP + CHUNK
        # A filter applied after the releases keeps the same rows as the one that ran across.
        screen.query_one(FilterBar).apply("")
        await pilot.pause()
        screen.query_one(FilterBar).apply(expression)
        await pilot.pause()
        again = pdus.view
        assert isinstance(again, FilteredRows) and again is not view
        await until(pilot, lambda: again.caught_up)
        assert again.rows().tolist() == view.rows().tolist()
        await pilot.press("q")
    assert app.indexer.finished.wait(10)


@pytest.mark.asyncio
async def test_a_detail_the_ladder_and_the_sessions_when_their_rows_go(
        captures: dict[int, Path]) -> None:
    path = captures[21_600]
    source = FeedSource(path)
    app = make_app(source, max_pdus=CAP)
    model = app.model
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("2")
        source.release(300)
        await settled_screen(pilot, app, source)
        await pilot.press("home", "enter")  # the Detail of the oldest row
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        frame = int(model.frame[0])
        assert f"frame {frame}" in title(app)
        source.release(1_500)
        await settled_screen(pilot, app, source)
        assert model.released > 0 and int(model.frame[0]) > frame
        assert detail.gone == frame and "let go with the oldest PDUs" in title(app)
        await pilot.press("r")  # keys that read the row say it went, and do nothing else
        await pilot.press("R")
        await pilot.pause()
        assert app.screen is detail
        await pilot.press("right_square_bracket")  # on from the oldest row held
        await pilot.pause()
        assert detail.gone is None and detail.row == 0
        assert f"frame {int(model.frame[0])}" in title(app) and "let go" not in title(app)
        await pilot.press("escape")
        # The ladder of the newest row's session, across a release.
        pdus = app.screen.query_one(PduList)
        pdus.move_to(model.count - 1)
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, LadderScreen)
        ladder = app.screen.query_one(LadderView)
        sid = int(model.session[pdus.current_row() or 0])
        released = model.released
        source.release(1_500)
        await settled_screen(pilot, app, source)
        assert model.released > released
        assert len(ladder.view) == len(model.session_rows(sid))
        assert 0 <= ladder.cursor < len(ladder.view)
        for y in range(1, ladder.size.height):
            ladder.render_line(y)  # every lane and label drawn from rows held
        for link in ladder.lanes.links(0, len(ladder.view), ladder._generation):
            assert model.partner(ladder.view[link.start]) == ladder.view[link.end]
        await pilot.press("escape", "1")
        source.end()
        await until(pilot, lambda: app.model.progress.done)
        await settled_screen(pilot, app, source)
        # Sessions whose rows all went are still listed, from the engine's statistics.
        sessions = app.screen.query_one(SessionList)
        assert sessions.row_count() == len(model.sessions) == len(app.analysis.engine.sessions)
        gone = [s for s in model.sessions if not len(model.session_rows(s.id))]
        assert gone and all(s.pdus > 0 for s in gone)
        await pilot.press("q")
    assert app.indexer.finished.wait(10)


@pytest.mark.asyncio
async def test_the_messages_built_across_releases_are_the_transaction_rows(
        captures: dict[int, Path]) -> None:
    """The Messages screen's builder reads every row before it goes, so its rows are
    ``-T transactions``'s; the table holds at most the cap too (the oldest to complete go),
    and a filter applied before rows went keeps what the row-by-row filter keeps."""

    path = captures[5_400]
    keys = ("request_frame", "sequence_id", "response_frame", "result", "latency_ms",
            "recipients", "long_outcome")

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(str(row[k]) for k in keys)

    expected = {key(r) for r in cmppdissect.analyze(path).transaction_rows()}
    source = FeedSource(path)
    app = make_app(source, max_pdus=CAP)
    async with app.run_test(size=(140, 40)) as pilot:
        source.release(200)
        await settled_screen(pilot, app, source)
        await pilot.press("4")  # the builder starts before any row goes
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TransactionsScreen)
        await pilot.press("u")  # requests without a response
        source.end()
        await until(pilot, lambda: app.model.progress.done and screen.table.snapshot.done)
        assert app.model.released > 3 * CAP
        snapshot = screen.table.snapshot
        got = [snapshot.row(i) for i in range(snapshot.count)]
        assert {key(r) for r in got} <= expected
        assert snapshot.dropped > 0 and len(got) + snapshot.dropped == len(expected)
        assert len(got) <= CAP
        flt = screen.filter
        assert flt is not None
        await until(pilot, lambda: flt.scanned == snapshot.count
                    and screen._table_seen == screen.table.generation)
        await pilot.pause(0.2)
        assert f"the oldest {snapshot.dropped:,} went (cap 1,000)" in title(app)
        test = compile_filter(flt.expression)
        kept = [g for g in snapshot.order.tolist() if test(tx_record(snapshot.row(g)))]
        assert kept and screen.rows.order.tolist() == kept
        # Enter on a request whose PDU went says so and opens nothing; on one held, its PDU.
        await pilot.press("u")  # the filter off: every row held
        await until(pilot, lambda: len(screen.rows.order) == snapshot.count)
        frames = [int(screen.rows.row_at(p)["request_frame"])
                  for p in range(len(screen.rows.order))]
        assert frames[0] < int(app.model.frame[0]) <= frames[-1]
        screen.rows.move_to(0)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen
        screen.rows.move_to(len(frames) - 1)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        assert f"frame {frames[-1]}" in title(app)
        await pilot.press("q")
    assert app.indexer.finished.wait(10)


def test_max_pdus_is_for_the_tui_only(captures: dict[int, Path]) -> None:
    path = str(captures[5_400])
    for args in (["--max-pdus", "100", "-T", "jsonl", path], ["--max-pdus", "-3", path]):
        proc = subprocess.run([sys.executable, "-m", "cmppdissect", *args],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert "Traceback" not in proc.stderr and "--max-pdus" in lines[-1]


@pytest.mark.asyncio
async def test_a_long_sms_whose_parts_go(captures: dict[int, Path]) -> None:

    source = FeedSource(captures[5_400])
    app = make_app(source, max_pdus=CAP)
    model = app.model
    async with app.run_test(size=(140, 40)) as pilot:
        source.release(300)
        await settled_screen(pilot, app, source)
        part = next(r for r in range(model.count) if model.long_sms_home(r) is not None)
        home = model.long_sms_home(part)
        assert home is not None
        frames = [int(model.frame[r]) for r in model.long_sms_parts(home)]
        assert len(frames) >= 2
        app.open_long_sms(part)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LongSmsScreen)
        text = screen.text
        source.release(1_500)
        await settled_screen(pilot, app, source)
        assert int(model.frame[0]) > max(frames)  # every part went
        assert len(screen.parts) == 0 and screen.text == text  # the text was joined already
        assert "0 held (the others went with the oldest PDUs)" in title(app)
        await pilot.press("enter", "r")  # an empty list: nothing to open, no error
        await pilot.pause()
        assert app.screen is screen
        # A part of a message held opens its message, with its parts held.
        part = next(r for r in range(model.count) if model.long_sms_home(r) is not None)
        home = model.long_sms_home(part)
        assert home is not None and part in model.long_sms_parts(home)
        await pilot.press("q")
    assert app.indexer.finished.wait(10)


@pytest.mark.parametrize("cap", [1, 7, 60, 1000])
def test_any_cap_lets_the_oldest_go_without_stalling_the_reading(
        captures: dict[int, Path], cap: int) -> None:
    """The indexer in its thread, this test as the UI thread answering its calls: whatever
    the cap (a chunk of one row, of six, of a hundred), rows go and reading never stalls."""

    path = captures[5_400]
    ref = reference(path)
    assert ref.store is not None
    source = FeedSource(path, per_chunk=1)  # a segment a batch: a few PDUs at most
    source.end()
    model = CaptureModel()
    indexer = Indexer(source, Analysis(source, {"ports": DEFAULT_PORTS}), model, max_pdus=cap)
    due = threading.Event()
    indexer.on_release_due = due.set
    reading = threading.Thread(target=indexer.run)
    reading.start()
    releases = 0
    for _ in range(200_000):
        if indexer.finished.is_set() and not indexer.release_due():
            break
        due.wait(0.05)
        due.clear()
        releases += indexer.release_rows() > 0
    reading.join(10)
    assert indexer.finished.is_set() and not reading.is_alive()
    store = indexer.store
    assert model.released + model.count == ref.store.count and model.count <= cap
    assert np.array_equal(model.frame[:model.count],
                          ref.store.frame[model.released:ref.store.count])
    assert releases == model.releases > 0
    assert store.held_peak <= cap + indexer.chunk + 8  # and a batch
    assert [e.code for e in model.expert].count("cap-tui-pdus") == 1
    # Requests never answered stopped holding the rows behind them once the rows kept came
    # after them (they went with the oldest); the words of their finding say why.
    assert store.given_up > 0
    assert "--max-pdus" in not_waited(4, 7, indexer.keep, capped=True)


@pytest.mark.asyncio
async def test_a_capped_file_saves_the_frames_of_rows_held(
        captures: dict[int, Path], tmp_path: Path) -> None:
    """A file opened with --max-pdus: the save dialog says only rows held are saved, and the
    frames written are those of the rows shown (named by their number since the capture
    began, which a release does not change), none of the rows that went."""

    path = captures[5_400]
    app = make_app(FileSource(path), max_pdus=CAP)
    model = app.model
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await until(pilot, lambda: model.progress.done and not app.indexer.release_due())
        assert model.released > 0
        await pilot.press("2")
        await pilot.pause()
        app.screen.query_one(FilterBar).apply('command == "CMPP_SUBMIT"')
        await pilot.pause()
        view = app.screen.query_one(PduList).view
        assert isinstance(view, FilteredRows)
        await until(pilot, lambda: view.caught_up)
        held = [int(model.frame[r]) for r in view.rows().tolist()]
        out = tmp_path / "held.pcapng"
        screen = await save_as(pilot, out, choice=0)
        assert isinstance(screen, SaveScreen)
        label = screen.choices[0].label
        assert label.startswith(f"Displayed (filter: command == \"CMPP_SUBMIT\"): {len(held)}")
        assert f"held only: oldest {model.released:,} PDUs dropped (cap 1,000)" in label
        messages = await saved(pilot)
        assert any(m.startswith("saved ") and f"({len(held)} PDUs)" in m for m in messages)
    everything = cli_json(path)
    submits = [r for r in everything if r["command"] == "CMPP_SUBMIT"]
    wanted = {k for r, k in zip(submits, pdu_keys(submits), strict=True) if r["frame"] in held}
    written = cli_json(out)
    got = {k for r, k in zip(written, pdu_keys(written), strict=True)
           if r["command"] == "CMPP_SUBMIT"}
    assert len(wanted) == len(held) and wanted <= got
    assert pdu_keys(submits[:1])[0] not in got  # the first SUBMIT went: not saved


@pytest.mark.parametrize("submits", [200, 800])
def test_the_messages_table_holds_at_most_its_cap(tmp_path: Path, submits: int) -> None:
    """At two sizes four times apart: the table holds the newest rows to complete, at most
    ``max_rows``, the rest counted as dropped; a filter decided before the oldest went keeps
    the same rows as one decided after."""
    path = awaiting_capture(tmp_path / "tx.pcap", submits)
    table = built(path, max_rows=100, publish_every_s=0.0)
    snapshot = table.snapshot
    assert snapshot.count <= 100 and snapshot.count + snapshot.dropped == submits + 1
    frames = [snapshot.row(int(g))["request_frame"] for g in snapshot.order]
    everything = sorted(r["request_frame"] for r in cmppdissect.analyze(path).transaction_rows())
    assert frames == everything[-snapshot.count:]  # the newest, in request order
    assert snapshot.table.nbytes < 100 * 1_000
    middle = sorted(snapshot.row(g)["sequence_id"] for g in range(snapshot.count))[50]
    expression = f"sequence_id >= {middle}"
    early = TxFilter(compile_filter(expression), expression)
    early.keep = np.ones(snapshot.count + 10, dtype=bool)  # decided while 10 more were held
    early.dropped = snapshot.dropped - 10
    late = TxFilter(compile_filter(expression), expression)
    late.advance(snapshot)
    early.keep[10:] = late.keep
    kept = late.order(snapshot).tolist()
    assert 0 < len(kept) < snapshot.count and early.order(snapshot).tolist() == kept
    assert early.dropped == snapshot.dropped and len(early.keep) == snapshot.count
