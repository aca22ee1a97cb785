"""The statistics screen's Diagnosis tab (issue 16, parts 3-5): what became of the requests
called unanswered or resent (Enter jumps to one), what bound each session's rate, and each
SP's links, as the report's sections say; for a scope, the whole capture's only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_tui import ROOT, app_for, cursor_frame, indexed
from textual.widgets import DataTable, Static, TabbedContent

import cmppdissect
from cmppdissect.tui.screens.pdus import PduScreen
from cmppdissect.tui.screens.stats import StatsScreen

GATEWAY = ROOT / "samples" / "misbehaving-gateway.pcap"


def rows(screen: StatsScreen, name: str) -> list[list[str]]:
    t: DataTable[Any] = screen.query_one(f"#{name}", DataTable)
    return [[str(c) for c in t.get_row_at(i)] for i in range(t.row_count)]


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_diagnosis_tab_shows_the_report_sections(size: tuple[int, int]) -> None:
    report = cmppdissect.analyze(GATEWAY).report()
    app = app_for(GATEWAY)
    async with app.run_test(size=size) as pilot:
        await indexed(pilot)
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, StatsScreen)
        await pilot.press("right_square_bracket", "right_square_bracket",
                          "right_square_bracket")
        assert screen.query_one("#tabs", TabbedContent).active == "diagnosis"
        for _ in range(200):
            if rows(screen, "links-table"):
                break
            await pilot.pause(0.02)
        # Every request the report lists, in its order, with its outcome.
        listed = report["timeouts"]["listed"]
        table = rows(screen, "timeouts-table")
        assert [(int(r[0]), r[4]) for r in table] == [(e["frame"], e["outcome"])
                                                      for e in listed]
        summary = str(screen.query_one("#timeouts-summary", Static).render())
        assert f"{report['timeouts']['requests']} requests (timeout 60 s)" in summary
        flow = report["flow_control"]["sessions"]
        assert [(int(r[0]), r[2], int(r[6])) for r in rows(screen, "flow-table")] == [
            (f["session"], f["side"].replace("_", " "), f["refusal_runs"]) for f in flow]
        links = report["links"]["per_sp"]
        assert [(r[0], int(r[1]), int(r[2])) for r in rows(screen, "links-table")] == [
            (sp, e["sessions"], e["connects"]) for sp, e in links.items()]
        # Enter on a request: the PDU list at it.
        timeouts = screen.query_one("#timeouts-table", DataTable)
        timeouts.focus()
        timeouts.move_cursor(row=1)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PduScreen)
        assert cursor_frame(app.screen.pdus) == listed[1]["frame"]


@pytest.mark.asyncio
async def test_diagnosis_needs_the_whole_capture_in_a_scope(tmp_path: Path) -> None:
    app = app_for(GATEWAY)
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("1")  # sessions
        await pilot.press("z")  # statistics of the session under the cursor
        screen = app.screen
        for _ in range(200):
            if isinstance(screen, StatsScreen) and screen._scope_report is not None:
                break
            await pilot.pause(0.02)
            screen = app.screen
        assert isinstance(screen, StatsScreen) and screen.scope is not None
        await pilot.press("right_square_bracket", "right_square_bracket",
                          "right_square_bracket")
        assert not app.model.want_diagnosis.is_set()
        assert "whole capture only" in str(
            screen.query_one("#timeouts-summary", Static).render())
        assert rows(screen, "timeouts-table") == []
