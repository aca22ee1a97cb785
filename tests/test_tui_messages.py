"""The Messages screen (issue 16, part 2 in the TUI): one row per request, as ``-T
transactions`` has them, with a filter, presets and Enter to the request's PDU.

The capture is built here with known contents: a group SUBMIT to 3 whose recipients 1 and 3
are reported (3 EXPIRED), a long message in 3 parts whose part 2 is refused with Result 8,
two SUBMITs in one TCP segment (the second refused with Result 13), a SUBMIT whose status
report carries an escape sequence as its Stat, and a SUBMIT never answered. Every row the
screen holds is compared with :meth:`cmppdissect.api.Analysis.transaction_rows` of the same
file, the presets with what those rows say, and what the list paints with the rows' values.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pcaputil import dest_number, report_pdu, submit_pdu, submit_resp_pdu
from test_transactions import V3, Builder, messages_pdus, msg_id
from test_tui import DripSource, app_for, indexed, lines, row_text
from textual.pilot import Pilot
from textual.widgets import Static

import cmppdissect
from cmppdissect.api import Analysis
from cmppdissect.protocol.commands import DEFAULT_PORTS
from cmppdissect.query.dfilter import compile_filter
from cmppdissect.tui.app import make_app
from cmppdissect.tui.indexer import Indexer
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.screens.detail import DetailScreen
from cmppdissect.tui.screens.help import HelpScreen, help_table
from cmppdissect.tui.screens.transactions import TransactionsScreen
from cmppdissect.tui.source import FileSource
from cmppdissect.tui.transactions import (
    PRESETS,
    TX_NAMES,
    TransactionTable,
    TxColumns,
    TxFilter,
    tx_record,
)
from cmppdissect.tui.widgets.filterbar import FilterBar

HOSTILE_STAT = b"\x1b[2J+1"


def build_capture(path: Path) -> Path:
    """docs/diagnosis.md's messages (a group send, a long message with a part refused), then
    what only the screen's tests need."""
    v = V3
    b = messages_pdus(v)
    # Two SUBMITs in one segment; the second refused.
    b.add(20, True, submit_pdu(v, 30, registered=0) + submit_pdu(v, 31, registered=0))
    b.add(20.05, False, submit_resp_pdu(v, 30, msg_id(300)))
    b.add(20.06, False, submit_resp_pdu(v, 31, msg_id(301), 13))
    # A status report whose Stat is an escape sequence.
    b.add(21, True, submit_pdu(v, 40))
    b.add(21.02, False, submit_resp_pdu(v, 40, msg_id(400)))
    b.add(22, False, report_pdu(v, 11, msg_id(400), HOSTILE_STAT))
    b.add(30, True, submit_pdu(v, 50))  # never answered
    return b.write(path)


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_capture(tmp_path_factory.mktemp("messages") / "messages.pcap")


@pytest.fixture(scope="module")
def expected(capture: Path) -> list[dict[str, Any]]:
    """``transaction_rows()`` of the capture, by request frame (the list's order)."""
    rows = list(cmppdissect.analyze(capture).transaction_rows())
    return sorted(rows, key=lambda r: r["request_frame"])


async def messages(pilot: Pilot[Any]) -> TransactionsScreen:
    """Press 4 once the capture is indexed; the screen once every row is built and shown."""
    app = await indexed(pilot)
    await pilot.press("4")
    for _ in range(400):
        await pilot.pause(0.02)
        screen = app.screen
        if isinstance(screen, TransactionsScreen) and screen.table.snapshot.done \
                and screen._table_seen == screen.table.generation:
            break
    screen = app.screen
    assert isinstance(screen, TransactionsScreen) and screen.table.snapshot.done
    return screen


def shown(screen: TransactionsScreen) -> list[dict[str, Any]]:
    """The records of the rows the list shows, in its order."""
    snapshot = screen.rows.snapshot
    return [tx_record(snapshot.row(int(g))) for g in screen.rows.order]


async def filtered(pilot: Pilot[Any], screen: TransactionsScreen) -> None:
    """Wait until the filter has decided every row, and the list shows it."""
    for _ in range(200):
        await pilot.pause(0.02)
        flt = screen.filter
        if flt is None or (flt.scanned == screen.table.snapshot.count
                           and len(screen.rows.order) == len(flt.order(
                               screen.table.snapshot))):
            break


def line_of(screen: TransactionsScreen, frame: int) -> str:
    position = next(i for i, r in enumerate(shown(screen)) if r["request_frame"] == frame)
    screen.rows.move_to(position)
    y = position - round(screen.rows.scroll_y) + 1
    return row_text(screen.rows, y)


@pytest.mark.asyncio
async def test_the_rows_are_the_transaction_rows(capture: Path,
                                                  expected: list[dict[str, Any]]) -> None:
    app = app_for(capture)
    async with app.run_test(size=(200, 40)) as pilot:
        screen = await messages(pilot)
        got = shown(screen)
        assert len(got) == len(expected) == 14
        for mine, theirs in zip(got, expected, strict=True):
            assert {k: mine[k] for k in theirs} == theirs
        assert screen.title_text() == f"Messages  ·  messages.pcap  ·  {len(expected)} requests"
        # What the list paints: a latency, a Result with its name, a Stat, the reports come
        # of those awaited, a Msg_Id and the long message's roll-up.
        group = next(r for r in expected if r["sequence_id"] == 2)
        line = line_of(screen, group["request_frame"])
        assert f"{group['latency_ms']:.2f}ms" in line and " DELIVRD " in line
        assert " 2/3 " in line and str(group["Msg_Id"]) in line
        assert f"{group['report_delay_ms']:.0f}ms" in line
        part3 = next(r for r in expected if r["long_part"] == 3)
        line = line_of(screen, part3["request_frame"])
        assert part3["long_outcome"] in line
        assert part3["long_outcome"] == ("3 parts, part 2 rejected with Result 8, "
                                         "2 of 3 reports DELIVRD")
        part2 = next(r for r in expected if r["long_part"] == 2)
        assert "8 flow control error" in line_of(screen, part2["request_frame"])
        assert "part 2 of 3" in line_of(screen, part2["request_frame"])
        never = next(r for r in expected if r["sequence_id"] == 50)
        assert "no resp" in line_of(screen, never["request_frame"])


@pytest.mark.asyncio
async def test_wire_text_is_inert(capture: Path) -> None:
    app = app_for(capture)
    async with app.run_test(size=(200, 40)) as pilot:
        screen = await messages(pilot)
        row = next(r for r in shown(screen) if r["sequence_id"] == 40)
        assert row["report_stat"] == HOSTILE_STAT.decode()
        line = line_of(screen, row["request_frame"])
        assert "\\x1b[2…" in line and "\x1b" not in line  # Stat is 7 wide: cut, escaped
        assert all("\x1b" not in text for text in lines(screen.rows))


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_presets_keep_what_the_rows_say(capture: Path, expected: list[dict[str, Any]],
                                              size: tuple[int, int]) -> None:
    wanted = {
        "u": [r for r in expected if r["response_frame"] is None],
        "e": [r for r in expected if r["result"] not in (None, 0)],
        "d": [r for r in expected if r["reports_given_up"] is not None
              and any(x["report_stat"] != "DELIVRD" for x in r["recipients"])],
    }
    # What the capture was built with: 4 reports and the SUBMIT never answered; part 2
    # and the second SUBMIT of the shared segment; the group send and the hostile Stat.
    assert [r["sequence_id"] for r in wanted["u"]] == [7, 8, 9, 10, 11, 50]
    assert [(r["sequence_id"], r["result"]) for r in wanted["e"]] == [(4, 8), (31, 13)]
    assert [r["sequence_id"] for r in wanted["d"]] == [2, 40]
    app = app_for(capture)
    async with app.run_test(size=size) as pilot:
        screen = await messages(pilot)
        for key, name in (("u", "unanswered"), ("e", "failed"), ("d", "reports")):
            await pilot.press(key)
            await filtered(pilot, screen)
            assert screen.filter is not None
            assert screen.filter.expression == PRESETS[name][0]
            assert screen.query_one(FilterBar).input.value == PRESETS[name][0]
            got = shown(screen)
            assert [(r["request_frame"], r["sequence_id"]) for r in got] == [
                (r["request_frame"], r["sequence_id"]) for r in wanted[key]]
            total = len(expected)
            assert f"Displayed {len(got)} of {total}" in screen.title_text()
        await pilot.press("d")  # the same key again clears it
        await filtered(pilot, screen)
        assert screen.filter is None and len(shown(screen)) == len(expected)


@pytest.mark.asyncio
async def test_a_typed_filter_and_a_bad_one(capture: Path,
                                            expected: list[dict[str, Any]]) -> None:
    app = app_for(capture)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await messages(pilot)
        await pilot.press("f")
        await pilot.press(*'recipients.report_stat == "EXPIRED"', "enter")
        await filtered(pilot, screen)
        assert [r["sequence_id"] for r in shown(screen)] == [2]
        bar = screen.query_one(FilterBar)
        bar.input.value = 'Dest_terminal_Id == "' + dest_number(21).decode() + '"'
        bar.apply(bar.input.value)
        await filtered(pilot, screen)
        assert [r["sequence_id"] for r in shown(screen)] == [2]
        bar.apply("latency_ms > 15 and command == SUBMIT")
        await filtered(pilot, screen)
        assert [r["sequence_id"] for r in shown(screen)] == [
            r["sequence_id"] for r in expected if r["command"] == "CMPP_SUBMIT"
            and r["latency_ms"] is not None and r["latency_ms"] > 15]
        # A PDU name that a transaction row does not have: refused, with the reason.
        bar.input.value = 'Stat == "DELIVRD"'
        await pilot.pause()
        error = str(screen.query_one("#filter-error", Static).render())
        assert "unknown field 'Stat'" in error and "help screen" in error
        assert "✗" in str(screen.query_one("#filter-label", Static).render())


@pytest.mark.asyncio
async def test_enter_opens_the_requests_pdu(capture: Path,
                                            expected: list[dict[str, Any]]) -> None:
    """The second SUBMIT of a segment that carried two: Enter opens that one, not the
    first PDU of the frame."""
    app = app_for(capture)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await messages(pilot)
        second = next(r for r in expected if r["sequence_id"] == 31)
        first = next(r for r in expected if r["sequence_id"] == 30)
        assert second["request_frame"] == first["request_frame"]
        position = next(i for i, r in enumerate(shown(screen)) if r["sequence_id"] == 31)
        screen.rows.move_to(position)
        await pilot.press("enter")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        m = app.model
        assert m.frame[detail.row] == second["request_frame"]
        assert m.sequence_id[detail.row] == 31 and m.command_id[detail.row] == 4
        await pilot.press("r")  # the detail's own keys: its response
        await pilot.pause()
        assert m.frame[detail.row] == second["response_frame"]
        await pilot.press("escape")
        assert isinstance(app.screen, TransactionsScreen)


@pytest.mark.asyncio
async def test_help_palette_and_mode_key(capture: Path) -> None:
    app = app_for(capture)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Messages" in titles
        await pilot.press("4")
        assert isinstance(app.screen, TransactionsScreen)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        words = " ".join(str(cell) for column in help_table().columns
                         for cell in column._cells)
        assert "Messages" in words and "reports_undelivered" in words
        await pilot.press("escape", "1")
        await pilot.press("4")
        assert isinstance(app.screen, TransactionsScreen)


@pytest.mark.asyncio
async def test_rows_arrive_while_a_live_capture_goes_on(capture: Path,
                                                        expected: list[dict[str, Any]]
                                                        ) -> None:
    """A live capture: rows come in as the wire brings them, a filter applied early keeps
    up, and a SUBMIT whose reports are still awaited is said to wait, not listed."""
    source = DripSource(capture)
    app = make_app(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, TransactionsScreen)
        await pilot.press("e")  # before any row is there
        source.release(16)  # the login, the group send, the long message's parts
        for _ in range(300):
            await pilot.pause(0.02)
            if screen.table.snapshot.count >= 3 and screen.filter is not None \
                    and screen.filter.scanned == screen.table.snapshot.count:
                break
        assert [r["sequence_id"] for r in shown(screen)] == [4]
        assert "awaiting status reports" in screen.title_text()
        source.release(10_000)
        for _ in range(300):
            await pilot.pause(0.02)
            if [r["sequence_id"] for r in shown(screen)] == [4, 31]:
                break
        assert [r["sequence_id"] for r in shown(screen)] == [4, 31]
        assert not screen.table.snapshot.done and "building" in screen.title_text()
        # The group send waits for recipient 2's report (a live capture has no end).
        listed = {r["sequence_id"] for r in
                  (tx_record(screen.table.snapshot.row(i))
                   for i in range(screen.table.snapshot.count))}
        assert 2 not in listed and 31 in listed
        await pilot.press("q")
    assert app.indexer.finished.wait(10)


# -- the model alone: its caps, its memory -----------------------------------------------------


def awaiting_capture(path: Path, submits: int) -> Path:
    """``submits`` SUBMITs accepted with Registered_Delivery, no report ever."""
    v = V3
    b = Builder()
    b.login(v)
    for i in range(submits):
        b.add(1 + i * 0.01, True, submit_pdu(v, 100 + i))
        b.add(1.005 + i * 0.01, False, submit_resp_pdu(v, 100 + i, msg_id(1000 + i)))
    return b.write(path)


def built(path: Path, **kwargs: Any) -> TransactionTable:
    """The model indexed and the table built from it, as the app's two workers do, in
    threads of their own (no Textual)."""
    source = FileSource(str(path))
    model = CaptureModel(name=path.name)
    indexer = Indexer(source, Analysis(source, {"ports": DEFAULT_PORTS}), model)
    table = TransactionTable(model, **kwargs)
    worker = threading.Thread(target=table.run, args=(lambda: False,), kwargs={"poll_s": 0.01})
    worker.start()
    indexer.run()
    worker.join(60)
    assert table.snapshot.done
    return table


@pytest.mark.parametrize("cap", [4, 16])
def test_rows_awaiting_reports_are_capped(tmp_path: Path, cap: int) -> None:
    """The builder holds at most ``cap`` recipients awaiting a report; past that the oldest
    row is listed without them, counted, and the title says so."""
    submits = 40
    table = built(awaiting_capture(tmp_path / "await.pcap", submits), max_waiting=cap)
    snapshot = table.snapshot
    assert snapshot.count == submits + 1  # and the CONNECT
    assert table.builder.held <= cap
    assert snapshot.evicted == submits - cap
    given_up = snapshot.table.column("reports_given_up").to_pylist()
    assert given_up.count(True) == submits - cap


@pytest.mark.parametrize("submits", [200, 2000])
def test_rows_are_kept_as_columns(tmp_path: Path, submits: int) -> None:
    """The rows are Arrow columns, a few chunks of them: the same bytes per row at two
    sizes, and the order a list of row numbers."""
    table = built(awaiting_capture(tmp_path / "n.pcap", submits))
    snapshot = table.snapshot
    assert snapshot.count == submits + 1
    per_row = snapshot.table.nbytes / snapshot.count
    assert 100 < per_row < 260
    assert snapshot.table.column(0).num_chunks <= 32
    assert snapshot.order.dtype == np.int64 and len(snapshot.order) == snapshot.count
    frames = snapshot.table.column("request_frame").to_numpy()[snapshot.order]
    assert (np.diff(frames.astype(np.int64)) >= 0).all()


EXPRESSIONS = [
    *(expr for expr, _what in PRESETS.values()),
    'command == "SUBMIT"', "command in {SUBMIT, DELIVER} and latency_ms < 15",
    "result == 0 and not report_stat", 'report_stat != "DELIVRD"', "Sequence_Id == 31",
    "long_part == 2 or long_outcome", 'long_outcome contains "rejected"',
    "reports_missing > 0", "reports_given_up", "Msg_Id", 'result_name matches "flow"',
    'recipients.report_stat == "EXPIRED"', "len(recipients) == 3",
    'Dest_terminal_Id == "8613800000021"', "frame >= 10 and frame < 20", "time > 0",
    "response_time > time", "session == 0 and not (result != 0)",
]
COLUMNS_ONLY = {'command == "SUBMIT"', "result == 0 and not report_stat", "Sequence_Id == 31",
                'long_outcome contains "rejected"', "reports_missing > 0",
                "reports_undelivered > 0", "not response_frame", "result != 0"}


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_the_column_path_keeps_what_each_record_does(capture: Path, expression: str) -> None:
    """A filter keeps the rows its own test keeps on each row's record (the column path is
    only a shortcut); those on the row's columns read no record at all."""
    table = built(capture)
    snapshot = table.snapshot
    compiled = compile_filter(expression, TX_NAMES)
    records = [tx_record(snapshot.row(i)) for i in range(snapshot.count)]
    flt = TxFilter(compiled, expression)
    flt.advance(snapshot, budget=5)  # several slices
    assert flt.errors == 0
    kept = set(flt.order(snapshot).tolist())
    assert kept == {i for i, r in enumerate(records) if compiled(r)}
    if expression in COLUMNS_ONLY:
        assert flt.decoded == 0
    # The record a filter reads row by row is the one tx_record makes.
    cols = TxColumns(snapshot, np.arange(snapshot.count, dtype=np.int64))
    assert all(dict(cols.record(i)) == records[i] for i in range(snapshot.count))


# -- snapshot ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_snapshot(size: tuple[int, int], snap_compare: Any, capture: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await messages(pilot)
        await pilot.pause()

    assert snap_compare(app_for(capture), terminal_size=size, run_before=run_before)

