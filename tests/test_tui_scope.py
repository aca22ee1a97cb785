"""Statistics scoped to a list (issue 14): ``z`` on a filtered PDU list, a session's list, a
ladder or a session row opens the statistics of those rows only, the scope in the title; the
numbers are the report's over the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pcaputil import connect_pdu, connect_resp_pdu, submit_pdu, submit_resp_pdu, write_pcap
from test_tui import SAMPLE, V2, conversation, indexed
from textual.pilot import Pilot
from textual.widgets import DataTable

from cmppdissect.tui.app import CmppApp, make_app
from cmppdissect.tui.screens.stats import StatsScreen
from cmppdissect.tui.source import FileSource
from cmppdissect.tui.widgets.tables import ExpertList, SessionList


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
        # only SUBMITs: one row in the response-time tables, its requests and responses
        assert [r[0] for r in table(app, "srt-table")] == ["SUBMIT"]
        rows = table(app, "counts-table")
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


# -- the Sessions screen: sorted by any column, filtered by text ---------------------------------

SP_IDS = ("901111", "902222", "903333", "904444")
SUBMITS = (3, 9, 1, 5)  # per session, so PDUs sort differently from capture order


@pytest.fixture(scope="module")
def four_sessions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames: list[bytes] = []
    for n, (sp, count) in enumerate(zip(SP_IDS, SUBMITS, strict=True)):
        pdus: list[tuple[bool, bytes]] = [(True, connect_pdu(V2, sp=sp)),
                                          (False, connect_resp_pdu(V2, sp=sp))]
        for seq in range(2, 2 + count):
            pdus += [(True, submit_pdu(V2, seq)), (False, submit_resp_pdu(V2, seq, seq))]
        frames += conversation(pdus, client=("10.0.0.1", 41000 + n))
    path = tmp_path_factory.mktemp("sessions") / "four.pcap"
    write_pcap(path, frames)
    return path


def shown_sp_ids(app: CmppApp) -> list[str | None]:
    sessions = app.screen.query_one(SessionList)
    return [s.sp_id for i in range(sessions.row_count())
            if (s := sessions.session_at(i)) is not None]


@pytest.mark.asyncio
async def test_sessions_sort_by_any_column_and_filter_by_text(four_sessions: Path) -> None:
    app = make_app(FileSource(four_sessions))
    async with app.run_test(size=(120, 40)) as pilot:
        await indexed(pilot)
        assert shown_sp_ids(app) == list(SP_IDS)  # capture order
        sessions = app.screen.query_one(SessionList)
        keys = sessions.sort_keys()
        pdus_at = keys.index("pdus") + 1
        await pilot.press(*["s"] * pdus_at)  # s steps through the columns
        assert sessions.sort_key == "pdus" and "sorted by PDUs▲" in title(app)
        by_size = [sp for _n, sp in sorted(zip(SUBMITS, SP_IDS, strict=True))]
        assert shown_sp_ids(app) == by_size
        await pilot.press("S")
        assert shown_sp_ids(app) == by_size[::-1] and "PDUs▼" in title(app)
        header = "".join(seg.text for seg in sessions.render_line(0))
        assert "PDUs▼" in header

        # the cursor keeps its session through a new order
        await pilot.press("down")
        held = sessions.session_at(sessions.cursor)
        await pilot.press("S")
        assert sessions.session_at(sessions.cursor) == held

        # a click on a column's title sorts by it, a second one turns it round
        at = header.index("SP id")
        await pilot.click(SessionList, offset=(at + 1, 0))
        assert sessions.sort_key == "sp" and shown_sp_ids(app) == list(SP_IDS)
        await pilot.click(SessionList, offset=(at + 1, 0))
        assert shown_sp_ids(app) == list(SP_IDS)[::-1]

        # f: only the sessions whose row contains the text
        await pilot.press("f", *"9022", "enter")
        assert shown_sp_ids(app) == ["902222"]
        assert "1 of 4 contain “9022”" in title(app)
        await pilot.press("enter")  # Enter opens the one session shown
        await pilot.pause()
        assert "41001" in title(app)
        await pilot.press("escape", "f", "ctrl+u", "enter")  # emptied: every session again
        assert len(shown_sp_ids(app)) == 4 and "contain" not in title(app)
