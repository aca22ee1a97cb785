"""Follow mode (sngrep's autoscroll): the PDU list and the ladder stay on the newest row while
it is on, it is on by default for a live capture, any cursor move turns it off and End turns it
on again."""

from __future__ import annotations

import pytest
from test_tui import SAMPLE, DripSource, indexed
from textual.pilot import Pilot

from cmppdissect.tui.app import CmppApp, make_app
from cmppdissect.tui.screens.ladder import LadderScreen
from cmppdissect.tui.screens.pdus import PduScreen
from cmppdissect.tui.source import FileSource
from cmppdissect.tui.widgets.ladderview import LadderView
from cmppdissect.tui.widgets.pdulist import PduList
from cmppdissect.tui.widgets.rowlist import RowList


async def grow_to(pilot: Pilot[int], app: CmppApp, source: DripSource, records: int,
                  rows: int) -> None:
    """Release ``records`` more frames and wait until the model holds ``rows`` PDUs and the
    visible screen has caught up with them."""
    source.release(records)
    for _ in range(300):
        await pilot.pause(0.02)
        screen = app.screen
        lists = list(screen.query(RowList))
        if app.model.count >= rows and lists and all(
                len(getattr(x, "view", ())) == x.row_count() and x._rows == x.row_count()
                for x in lists):
            break
    assert app.model.count >= rows


def title(app: CmppApp) -> str:
    return str(app.screen.query_one("#title").render())


@pytest.mark.asyncio
async def test_live_pdu_list_follows_the_newest_row_until_the_user_moves() -> None:
    source = DripSource(SAMPLE)
    app = make_app(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        pdus = app.screen.query_one(PduList)
        assert pdus.follow  # live: on by default
        await grow_to(pilot, app, source, 40, 20)
        n = app.model.count
        assert pdus.cursor == len(pdus.view) - 1 == n - 1
        assert "following (A)" in title(app)
        await grow_to(pilot, app, source, 30, n + 10)
        assert pdus.cursor == len(pdus.view) - 1 and len(pdus.view) > n
        # the newest row is on screen, not only under a cursor scrolled out of sight
        assert round(pdus.scroll_y) <= pdus.cursor < round(pdus.scroll_y) + pdus.page_rows

        await pilot.press("up")  # any move turns it off
        assert not pdus.follow
        assert "following" not in title(app)
        held = pdus.cursor
        await grow_to(pilot, app, source, 10_000, 102)
        assert pdus.cursor == held < len(pdus.view) - 1

        await pilot.press("end")  # End turns it on again
        assert pdus.follow and pdus.cursor == len(pdus.view) - 1
        await pilot.press("A")
        assert not pdus.follow
        await pilot.press("A")
        assert pdus.follow and "following (A)" in title(app)
        await pilot.press("f", *'command == SUBMIT', "enter")  # a filter keeps following
        for _ in range(100):
            await pilot.pause(0.02)
            if "Displayed 26 of" in title(app):
                break
        assert pdus.follow and "Displayed 26 of" in title(app)
        assert pdus.cursor == len(pdus.view) - 1 == 25
        await pilot.press("q")
    assert app.indexer.finished.wait(10)


@pytest.mark.asyncio
async def test_live_ladder_follows_and_a_page_up_stops_it() -> None:
    source = DripSource(SAMPLE)
    app = make_app(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await grow_to(pilot, app, source, 20, 8)
        await pilot.press("l")  # the ladder of the first session, from the Sessions screen
        await pilot.pause()
        assert isinstance(app.screen, LadderScreen)
        ladder = app.screen.query_one(LadderView)
        assert ladder.follow
        before = len(ladder.view)
        await grow_to(pilot, app, source, 10_000, 102)
        assert len(ladder.view) > before and ladder.cursor == len(ladder.view) - 1
        await pilot.press("pageup")
        assert not ladder.follow and ladder.cursor < len(ladder.view) - 1
        await pilot.press("q")
    assert app.indexer.finished.wait(10)


@pytest.mark.asyncio
async def test_a_file_opens_at_the_top_not_following() -> None:
    app = make_app(FileSource(SAMPLE))
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("2")
        await pilot.pause()
        pdus = app.screen.query_one(PduList)
        assert isinstance(app.screen, PduScreen)
        assert not pdus.follow and pdus.cursor == 0
        await pilot.press("end")
        assert pdus.follow and pdus.cursor == 101
        await pilot.press("home")
        assert not pdus.follow and pdus.cursor == 0

