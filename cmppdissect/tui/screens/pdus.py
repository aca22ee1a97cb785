"""The PDU list screen: a virtual list of a view, a filter bar above it, search below it."""

from __future__ import annotations

import time
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input
from textual.worker import Worker, get_current_worker

from cmppdissect.protocol.commands import command_name
from cmppdissect.tui import summary
from cmppdissect.tui.columns import format_count
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.screens.base import CaptureScreen
from cmppdissect.tui.views import FilteredRows, RowSet, filtered_view
from cmppdissect.tui.widgets.filterbar import FilterBar
from cmppdissect.tui.widgets.pdulist import PduList
from cmppdissect.tui.widgets.rowlist import RowList
from cmppdissect.tui.widgets.status import StatusLine

_FILTER_SLICE = 20_000  # rows tested between checks for cancellation (most by the columns)


def search_text(model: CaptureModel, row: int) -> str:
    """What ``/`` searches in a row: the columns a user reads, in lower case."""
    pdu = model.pdu(row)
    src, dst = model.endpoints(row)
    res = summary.result(pdu)
    parts = [str(model.frame[row]), command_name(pdu.Command_Id), str(pdu.Sequence_Id), src,
             dst, summary.info(pdu), "" if res is None else f"{res[0]} {res[1]}"]
    return " ".join(parts).lower()


class PduScreen(CaptureScreen):
    screen_title = "PDUs"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "filter", "Filter", show=True),
        Binding("slash", "search", "Search", show=True),
        Binding("n", "find(1)", "Next", show=False),
        Binding("N", "find(-1)", "Prev", show=False),
        Binding("r", "pair", "Req↔Resp", show=True),
        Binding("t", "time", "Time fmt", show=True),
        Binding("l", "ladder", "Ladder", show=True),
        Binding("escape", "back", "Back", show=True),
    ]

    DEFAULT_CSS = """
    PduScreen {
        & > #search { display: none; height: 3; border: tall $secondary; }
        & > #search.-shown { display: block; }
    }
    """

    def __init__(self, model: CaptureModel, view: RowSet, *, start_row: int | None = None,
                 show_session: bool = True, display_filter: str | None = None) -> None:
        super().__init__(model)
        self.base_view = view
        self.start_row = start_row
        self.show_session = show_session
        self.display_filter = display_filter  # applied when the screen first opens
        self.needle = ""
        self.filtered: FilteredRows | None = None

    def title_text(self) -> str:
        """The view's title; filtered, "Displayed N of M (x%)" as Wireshark's status bar says
        it (M: the rows the filter runs over), kept up to date as rows arrive."""
        view = self.pdus.view if self.is_mounted else self.base_view
        extra = ""
        if isinstance(view, FilteredRows):
            total = len(view.base)
            share = f"{len(view) * 100 / total:.1f}" if total else "0.0"
            extra = (f"  ·  Displayed {format_count(len(view))} of {format_count(total)} "
                     f"({share}%)")
            if not view.caught_up:
                extra += f"  ·  filtering {view.scanned * 100 // max(1, total)}%"
        return f"{view.title}{extra}"

    def compose(self) -> ComposeResult:
        yield from self.compose_title()
        yield FilterBar(id="filter")
        yield PduList(self.model, self.base_view, show_session=self.show_session, id="pdus")
        yield Input(placeholder="search text (Enter finds the next row; n / N repeat)",
                    id="search")
        yield from self.compose_footer()

    @property
    def pdus(self) -> PduList:
        return self.query_one("#pdus", PduList)

    def on_mount(self) -> None:
        self.pdus.focus()
        if self.start_row is not None:
            self.pdus.sync()
            self.pdus.move_to(self.pdus.view.nearest(self.start_row), center=True)
        self.set_title_text(self.title_text())
        if self.display_filter:
            self.query_one(FilterBar).apply(self.display_filter)

    def refresh_from_model(self) -> None:
        self.pdus.sync()
        self.set_title_text(self.title_text())

    # -- detail, pair, ladder, time -------------------------------------------------------

    def on_row_list_selected(self, event: RowList.Selected) -> None:
        event.stop()
        self.capture_app.open_detail(self.pdus.view, event.position)

    def action_pair(self) -> None:
        self.capture_app.jump_to_pair(self.pdus)

    def action_time(self) -> None:
        self.pdus.time_mode = self.pdus.time_mode.next
        self.notify(f"time: {self.pdus.time_mode.value}", timeout=1.5, markup=False)

    def action_ladder(self) -> None:
        row = self.pdus.current_row()
        if row is not None:
            self.capture_app.open_ladder(self.model.session[row], row)

    def action_back(self) -> None:
        box = self.query_one("#search", Input)
        if box.has_focus:
            box.set_class(False, "-shown")
            self.pdus.focus()
        elif len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    # -- filter ---------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one(FilterBar).input.focus()

    @on(FilterBar.Left)
    def _filter_left(self) -> None:
        self.pdus.focus()

    @on(FilterBar.Applied)
    def _apply_filter(self, event: FilterBar.Applied) -> None:
        self.workers.cancel_group(self, "filter")
        if event.compiled is None:
            self.filtered = None
            self.pdus.set_view(self.base_view)
        else:
            self.filtered = filtered_view(self.model, self.base_view, event.compiled,
                                          event.expression)
            self.pdus.set_view(self.filtered)
            self._run_filter(self.filtered)
        self.set_title_text(self.title_text())
        self.pdus.focus()

    @work(thread=True, exclusive=True, group="filter")
    def _run_filter(self, view: FilteredRows) -> None:
        worker = get_current_worker()
        last = 0.0
        while not worker.is_cancelled:
            tested = view.advance(_FILTER_SLICE)
            now = time.perf_counter()
            if now - last > 0.2 or (view.caught_up and tested):
                last = now
                self.app.call_from_thread(self._filter_progress, view)
            if view.caught_up:
                if self.model.progress.done:
                    break
                time.sleep(0.1)
        if not worker.is_cancelled:
            self.app.call_from_thread(self._filter_progress, view)

    def _filter_progress(self, view: FilteredRows) -> None:
        if self.pdus.view is view:
            self.pdus.sync(changed=False)
            self.set_title_text(self.title_text())

    # -- search ---------------------------------------------------------------------------

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.set_class(True, "-shown")
        box.focus()

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.needle = event.value.strip().lower()
        box = self.query_one("#search", Input)
        box.set_class(False, "-shown")
        self.pdus.focus()
        self.action_find(1)

    def action_find(self, direction: int) -> None:
        if not self.needle:
            self.action_search()
            return
        self._search(self.needle, self.pdus.cursor, direction)

    @work(thread=True, exclusive=True, group="search")
    def _search(self, needle: str, start: int, direction: int) -> int | None:
        worker = get_current_worker()
        view = self.pdus.view
        total = len(view)
        pos = start + direction
        last = time.perf_counter()
        while 0 <= pos < total and not worker.is_cancelled:
            if needle in search_text(self.model, view[pos]):
                return pos
            pos += direction
            now = time.perf_counter()
            if now - last > 0.25:
                last = now
                done = abs(pos - start) * 100 // max(1, total)
                self.app.call_from_thread(self._search_status, f"searching “{needle}” {done}%")
        return None

    def _search_status(self, text: str) -> None:
        self.query_one("#status", StatusLine).update_from(text)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "search" or not worker.is_finished:
            return
        self._search_status("")
        if worker.is_cancelled:
            return
        if worker.result is None:
            self.notify(f"“{self.needle}” not found", severity="warning", timeout=2,
                        markup=False)
        else:
            self.pdus.move_to(worker.result, center=True)
