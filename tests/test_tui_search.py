"""Search in the TUI says where the cursor is among the matches: "match k of n", n and N move
k, and n grows while rows arrive (a live capture). Over ``samples/cmpp-basic.pcap``."""

from __future__ import annotations

from typing import Any

import pytest
from test_tui import SAMPLE, DripSource, app_for, cursor_frame, indexed

from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.tui.app import make_app
from cmppdissect.tui.screens.pdus import PduScreen
from cmppdissect.tui.search import search_text
from cmppdissect.tui.widgets.pdulist import PduList


def status(app: Any) -> str:
    return str(app.screen.query_one("#status").render())


async def settle(pilot: Any, want: str, polls: int = 200) -> str:
    """Wait until the status line says ``want``; return what it says."""
    for _ in range(polls):
        text = status(pilot.app)
        if want in text:
            return text
        await pilot.pause(0.02)
    return status(pilot.app)


@pytest.mark.asyncio
async def test_search_says_match_k_of_n_and_n_moves_k() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await indexed(pilot)
        await pilot.press("2")
        responses = [r for r in range(app.model.count)
                     if app.model.command_id[r] == C.CMPP_SUBMIT_RESP]
        n = len(responses)
        assert n > 3
        await pilot.press("slash", *"submit_resp", "enter")
        text = await settle(pilot, f"match 1 of {n}")
        assert f"“submit_resp”: match 1 of {n}" in text
        pdus = app.screen.query_one(PduList)
        assert pdus.current_row() == responses[0]
        await pilot.press("n", "n")
        assert f"match 3 of {n}" in await settle(pilot, f"match 3 of {n}")
        assert pdus.current_row() == responses[2]
        await pilot.press("N")
        assert f"match 2 of {n}" in await settle(pilot, f"match 2 of {n}")
        await pilot.press("up")  # off a match: the count stays, k goes
        assert f"“submit_resp”: {n} matches" in await settle(pilot, f"{n} matches")
        # A decoded-only word (a result name), searched as the decoding search would.
        await pilot.press("slash", *"flow control", "enter")
        flow = sum("flow control" in search_text(app.model, r) for r in range(app.model.count))
        assert f"match 1 of {flow}" in await settle(pilot, f"“flow control”: match 1 of {flow}")
        assert app.model.command_id[pdus.current_row() or 0] == C.CMPP_SUBMIT_RESP
        first = cursor_frame(pdus)
        await pilot.press("slash", *"no such words", "enter")
        assert "“no such words”: 0 matches" in await settle(pilot, "0 matches")
        assert cursor_frame(pdus) == first


@pytest.mark.asyncio
async def test_search_in_a_filtered_view_counts_its_rows_only() -> None:
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("2", "f", *"session == 1", "enter")
        screen = app.screen
        assert isinstance(screen, PduScreen)
        for _ in range(100):
            if screen.filtered is not None and screen.filtered.caught_up:
                break
            await pilot.pause(0.02)
        assert screen.filtered is not None
        want = sum(1 for r in screen.filtered.matched
                   if app.model.command_id[r] == C.CMPP_SUBMIT_RESP)
        assert 0 < want < sum(1 for r in range(app.model.count)
                              if app.model.command_id[r] == C.CMPP_SUBMIT_RESP)
        await pilot.press("slash", *"submit_resp", "enter")
        assert f"match 1 of {want}" in await settle(pilot, f"match 1 of {want}")


@pytest.mark.asyncio
async def test_search_count_grows_as_rows_arrive() -> None:
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
        await pilot.press("slash", *"submit_resp", "enter")

        def responses() -> int:
            return sum(1 for r in range(app.model.count)
                       if app.model.command_id[r] == C.CMPP_SUBMIT_RESP)

        early = responses()
        assert f"of {early}" in await settle(pilot, f"of {early}")
        source.release(10_000)
        for _ in range(200):
            await pilot.pause(0.02)
            if app.model.count == 102:
                break
        later = responses()
        assert later > early
        assert f"of {later}" in await settle(pilot, f"of {later}")
        await pilot.press("q")
    assert app.indexer.finished.wait(10)


@pytest.mark.asyncio
async def test_search_goes_round_from_the_end_of_the_list() -> None:
    """At the last row (where follow mode keeps a live list) the next match is the first one,
    as in less and Wireshark's Find; N at the first row goes round to the last."""
    app = app_for(SAMPLE)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("2", "end")
        pdus = app.screen.query_one(PduList)
        first = next(r for r in range(app.model.count)
                     if app.model.command_id[r] == C.CMPP_SUBMIT_RESP)
        last = max(r for r in range(app.model.count)
                   if app.model.command_id[r] == C.CMPP_SUBMIT_RESP)
        await pilot.press("slash", *"submit_resp", "enter")
        await settle(pilot, "match 1 of")
        assert pdus.current_row() == first
        await pilot.press("N")
        await settle(pilot, "match 24 of 24")
        assert pdus.current_row() == last
