"""Statistics scoped to a list (issue 14): ``z`` on a filtered PDU list, a session's list, a
ladder or a session row opens the statistics of those rows only, the scope in the title; the
numbers are the report's over the same rows."""

from __future__ import annotations

from typing import Any

import pytest
from test_tui import SAMPLE, indexed
from textual.pilot import Pilot
from textual.widgets import DataTable

from cmppdissect.tui.app import CmppApp, make_app
from cmppdissect.tui.screens.stats import StatsScreen
from cmppdissect.tui.source import FileSource
from cmppdissect.tui.widgets.tables import ExpertList


def title(app: CmppApp) -> str:
    return str(app.screen.query_one("#title").render())


def table(app: CmppApp, name: str) -> list[list[str]]:
    t: DataTable[Any] = app.screen.query_one(f"#{name}", DataTable)
    return [[str(c) for c in t.get_row_at(i)] for i in range(t.row_count)]


async def scoped(pilot: Pilot[int], app: CmppApp) -> StatsScreen:
    for _ in range(200):
        await pilot.pause(0.02)
        screen = app.screen
        if isinstance(screen, StatsScreen) and screen._scope_report is not None:
            return screen
    raise AssertionError(f"no scoped statistics: {title(app)}")


@pytest.mark.asyncio
async def test_z_on_a_filtered_list_counts_only_its_rows() -> None:
    app = make_app(FileSource(SAMPLE))
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("2", "f", *'command in {SUBMIT, SUBMIT_RESP} and session == 1',
                          "enter")
        for _ in range(100):
            await pilot.pause(0.02)
            if "Displayed" in title(app) and "filtering" not in title(app):
                break
        shown = len(app.screen.query_one("#pdus").view)  # type: ignore[attr-defined]
        await pilot.press("z")
        screen = await scoped(pilot, app)
        head = title(app)
        assert head.startswith("Statistics") and "filter: command in" in head
        assert f"{shown:,} PDUs" in head and "counting" not in head
        report = screen._scope_report
        assert report is not None and report["pdus"] == shown
        # only SUBMITs: one row in the response-time table, its requests and responses
        rows = table(app, "srt-table")
        assert [r[0] for r in rows] == ["SUBMIT"]
        submit = report["commands"]["CMPP_SUBMIT"]
        assert rows[0][1] == str(submit["requests"]) and rows[0][3] == str(submit["responses"])
        assert submit["requests"] + submit["responses"] == shown
        assert {r[0] for r in table(app, "results-table")} == {"SUBMIT_RESP"}
        # the whole capture's statistics are still one key away, and differ
        await pilot.press("escape", "3")
        await pilot.pause(0.3)
        assert not title(app).startswith("Statistics  ·  All PDUs  ·  filter")
        assert app.model.report is not None and app.model.report["pdus"] == 102 != shown


@pytest.mark.asyncio
async def test_z_on_a_session_row_counts_that_session_and_its_findings() -> None:
    app = make_app(FileSource(SAMPLE))
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        await pilot.press("down", "z")  # the second session
        screen = await scoped(pilot, app)
        sid = app.model.sessions[1].id
        info = app.model.session_info(sid)
        assert info is not None
        assert f"Session {sid}" in title(app) and f"{info.pdus:,} PDUs" in title(app)
        report = screen._scope_report
        assert report is not None and report["pdus"] == info.pdus
        expert = screen.query_one(ExpertList)
        items = [expert.item(i) for i in range(expert.row_count())]
        everything = app.model.expert[:app.model.expert_count]
        assert all(e is not None and e.session == sid for e in items)
        assert len(items) == sum(e.session == sid for e in everything) < len(everything)
