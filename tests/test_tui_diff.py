"""``cmppdissect diff A B`` on a terminal (issue 16, part 6 in the TUI): the comparison shown
in an app, every figure the one :func:`cmppdissect.compare` gives, by scope and by group,
worse changes marked; piped, the text is unchanged (tests/test_diff.py)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pcaputil import connect_pdu, connect_resp_pdu, submit_pdu, submit_resp_pdu
from test_transactions import V3, Builder, msg_id
from textual.pilot import Pilot
from textual.widgets import DataTable, OptionList

import cmppdissect
from cmppdissect.output.diff import GROUPS, format_change, format_value, metric_group
from cmppdissect.sources.file import FileSource
from cmppdissect.tui import run_diff
from cmppdissect.tui.diffapp import DiffApp
from cmppdissect.tui.screens.diff import WHOLE, DiffScreen

ROOT = Path(__file__).resolve().parents[1]
BASIC = str(ROOT / "samples" / "cmpp-basic.pcap")
MISBEHAVING = str(ROOT / "samples" / "misbehaving-gateway.pcap")


def diff_app(a: str, b: str, **settings: Any) -> DiffApp:
    return DiffApp([FileSource(a), FileSource(b)], (a, b), settings)


async def compared(pilot: Pilot[Any]) -> DiffScreen:
    app = pilot.app
    assert isinstance(app, DiffApp)
    for _ in range(500):
        if app.result is not None:
            break
        await pilot.pause(0.02)
    assert app.result is not None, "the comparison did not finish"
    await pilot.pause()
    return app.diff_screen


def expected_tables(rows: list[dict[str, Any]]) -> dict[str, list[list[str]]]:
    """What each group's table should say: the text comparison's cells, by the group the
    metric's name puts it in."""
    out: dict[str, list[list[str]]] = {key: [] for key in GROUPS}
    for r in rows:
        change, pct = format_change(r)
        out[metric_group(r["metric"])].append(
            [r["metric"], format_value(r["a"]), format_value(r["b"]), change, pct])
    return out


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_every_scope_shows_the_figures_of_compare(size: tuple[int, int]) -> None:
    result = cmppdissect.compare(BASIC, MISBEHAVING)
    app = diff_app(BASIC, MISBEHAVING)
    async with app.run_test(size=size) as pilot:
        screen = await compared(pilot)
        names = [WHOLE, *(f"SP {sp}" for sp in result["sp"])]
        options = screen.query_one("#scopes", OptionList)
        assert [str(options.get_option_at_index(i).prompt).split("  ")[0]
                for i in range(options.option_count)] == names
        assert set(result["sp"]) >= {"901234", "905678"}
        scopes = [result["all"], *result["sp"].values()]
        for index, rows in enumerate(scopes):
            assert screen.shown == index
            want = expected_tables(rows)
            for key in GROUPS:
                assert [r[:5] for r in screen.table_rows(key)] == want[key], (index, key)
            # every metric of the scope, once
            assert sum(len(screen.table_rows(k)) for k in GROUPS) == len(rows)
            await pilot.press("right_square_bracket")
        assert screen.shown == 0  # round again to the whole captures


@pytest.mark.asyncio
async def test_worse_changes_are_marked_in_words_and_colour() -> None:
    app = diff_app(BASIC, MISBEHAVING)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await compared(pilot)

        def row(key: str, metric: str) -> tuple[list[str], Any]:
            table: DataTable[Any] = screen.query_one(f"#{key}-table", DataTable)
            for i in range(table.row_count):
                cells = table.get_row_at(i)
                if str(cells[0]) == metric:
                    return [str(c) for c in cells], cells[0].style
            raise AssertionError(f"{metric} not shown")

        # B answers SUBMITs far slower (p99 7.00 -> 568.24 ms), refuses more with Result 8
        # and has a Result 7 A never had; fewer UNDELIV reports (6 -> none) is better, and
        # a volume (fewer PDUs) is neither.
        cells, style = row("latency", "SUBMIT latency p99 ms")
        assert cells[1:] == ["7.00", "568.24", "+561.24", "+8018%", "worse"]
        assert "red" in str(style)
        assert row("results", "SUBMIT_RESP Result 8 (flow control error)")[0][5] == "worse"
        assert row("results", "SUBMIT_RESP Result 7 (service code error)")[0][1:] == [
            "-", "2", "-", "", "worse"]
        assert row("results", "SUBMIT_RESP Result 0 (correct)")[0][5] == ""
        cells, style = row("reports", "reports Stat UNDELIV")
        assert cells[5] == "better" and "green" in str(style)
        assert row("rates", "PDUs")[0][1:] == ["102", "46", "-56", "-55%", ""]
        prompt = str(screen.query_one("#scopes", OptionList).get_option_at_index(0).prompt)
        worse = sum(r[5] == "worse" for k in GROUPS for r in screen.table_rows(k))
        assert prompt == f"{WHOLE}  {worse} worse" and worse >= 5


def sp_capture(path: Path, sp: str, result: int) -> Path:
    """One SP logged in as ``sp`` sending 3 SUBMITs answered with ``result``."""
    v = V3
    b = Builder()
    for f in b.conv.handshake():
        b.frames.append((b.frames[-1][0] if b.frames else 1_700_000_000_000_000_000, f))
    b.add(0, True, connect_pdu(v, sp=sp))
    b.add(0, False, connect_resp_pdu(v, sp=sp))
    for i in range(3):
        b.add(1 + i, True, submit_pdu(v, 10 + i))
        b.add(1.01 + i, False, submit_resp_pdu(v, 10 + i, msg_id(10 + i), result))
    return b.write(path)


@pytest.mark.asyncio
async def test_an_sp_id_off_the_wire_is_inert(tmp_path: Path) -> None:
    sp = "[b]\x1b9"
    a = str(sp_capture(tmp_path / "a.pcap", sp, 0))
    b = str(sp_capture(tmp_path / "b.pcap", sp, 8))
    result = cmppdissect.compare(a, b)
    assert list(result["sp"]) == [sp]
    app = diff_app(a, b)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await compared(pilot)
        prompt = screen.query_one("#scopes", OptionList).get_option_at_index(1).prompt
        assert str(prompt).startswith("SP [b]\\x1b9") and "\x1b" not in str(prompt)
        await pilot.press("right_square_bracket")
        assert screen.shown == 1
        title = str(screen.query_one("#title").render())
        assert "SP [b]\\x1b9" in title and "\x1b" not in title
        assert ["SUBMIT_RESP Result 8 (flow control error)", "-", "3", "-", "", "worse"] in \
            screen.table_rows("results")


@pytest.mark.asyncio
async def test_quitting_while_the_captures_are_read_is_no_failure() -> None:
    app = diff_app(BASIC, MISBEHAVING)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("q")
    assert app.return_value == 0 and not app.error


def test_bad_inputs_are_one_line_and_status_2(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert run_diff(BASIC, str(tmp_path / "missing.pcap"), settings={}) == 2
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all, not even close" * 4)
    assert run_diff(str(junk), BASIC, settings={}) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("cmppdissect diff: ") for line in err)
    assert "missing.pcap" in err[0] and "junk.pcap" in err[1]


class FailingDisk(FileSource):
    """A capture on a disk that fails once its first chunk has been read (EIO)."""

    def chunks(self) -> Iterator[bytes]:
        for i, chunk in enumerate(super().chunks()):
            if i:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            yield chunk


@pytest.mark.asyncio
async def test_a_capture_that_fails_while_read_ends_with_status_2(tmp_path: Path) -> None:
    big = tmp_path / "big.pcap"
    big.write_bytes(Path(MISBEHAVING).read_bytes())
    app = DiffApp([FileSource(BASIC), FailingDisk(str(big), chunk_size=1024)],
                  (BASIC, str(big)), {})
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(300):
            if app.return_value is not None:
                break
            await pilot.pause(0.02)
    assert app.return_value == 2 and app.result is None
    assert app.error == os.strerror(errno.EIO)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_snapshot(size: tuple[int, int], snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await compared(pilot)
        await pilot.pause()

    # Relative paths: the names shown do not depend on where the repository is.
    app = DiffApp([FileSource(BASIC), FileSource(MISBEHAVING)],
                  ("samples/cmpp-basic.pcap", "samples/misbehaving-gateway.pcap"), {})
    assert snap_compare(app, terminal_size=size, run_before=run_before)
