"""The PDU list screen: a virtual list of a view, a filter bar above it, search below it."""

from __future__ import annotations

import bisect
import time
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input
from textual.worker import get_current_worker

from cmppdissect.output.sanitize import safe_text
from cmppdissect.tui.columns import format_count
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.screens.base import CaptureScreen
from cmppdissect.tui.search import search_masks, search_predicate, search_text
from cmppdissect.tui.views import FilteredRows, RowSet, filtered_view
from cmppdissect.tui.widgets.filterbar import FilterBar
from cmppdissect.tui.widgets.pdulist import PduList
from cmppdissect.tui.widgets.rowlist import RowList
from cmppdissect.tui.widgets.status import StatusLine

_FILTER_SLICE = 20_000  # rows tested between checks for cancellation (most by the columns)

__all__ = ["PduScreen", "search_text"]


class PduScreen(CaptureScreen):
    screen_title = "PDUs"
    holds_rows = True  # the row it opens at

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "filter", "Filter", show=True),
        Binding("slash", "search", "Search", show=True),
        Binding("n", "find(1)", "Next", show=False),
        Binding("N", "find(-1)", "Prev", show=False),
        Binding("r", "pair", "Req↔Resp", show=True),
        Binding("t", "time", "Time fmt", show=True),
        Binding("l", "ladder", "Ladder", show=True),
        Binding("z", "stats", "Stats of list", show=True),
        Binding("w", "save", "Save", show=True),
        Binding("R", "report", "Report↔SUBMIT", show=False),
        Binding("J", "long_sms", "Long SMS", show=False),
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
        self.matches: FilteredRows | None = None  # the rows of the view the search finds
        self._pending: int | None = None  # a find (1 next, -1 previous) waiting for the scan

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
        if self.is_mounted and self.pdus.follow:
            extra += "  ·  following (A)"
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
        self.watch(self.pdus, "cursor", lambda _old, _new: self._show_search(), init=False)
        self.pdus.focus()
        # A live capture opens following the newest PDU, as sngrep does; a jump to a row does not.
        self.pdus.follow = self.capture_app.source.live and self.start_row is None
        if self.start_row is not None:
            self.pdus.sync()
            self.pdus.move_to(self.pdus.view.nearest(self.start_row), center=True)
        self.set_title_text(self.title_text())
        if self.display_filter:
            self.query_one(FilterBar).apply(self.display_filter)

    def rows_released(self, k: int) -> None:
        if self.start_row is not None:  # not opened yet: it opens at the same row
            self.start_row = max(0, self.start_row - k)

    def refresh_from_model(self) -> None:
        self.pdus.sync()
        self.set_title_text(self.title_text())
        self._show_search()

    def on_row_list_follow_changed(self, event: RowList.FollowChanged) -> None:
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

    def action_stats(self) -> None:
        """Statistics of the rows this list shows: its filter's, or its session's."""
        self.capture_app.open_stats(self.pdus.view)
    def action_report(self) -> None:
        self.capture_app.jump_report(self.pdus.current_row(), self.pdus)

    def action_long_sms(self) -> None:
        self.capture_app.open_long_sms(self.pdus.current_row())

    def action_mark(self) -> None:
        self.pdus.action_mark()

    def action_toggle_text(self) -> None:
        self.pdus.action_toggle_text()

    def action_save(self) -> None:
        """Ask what to save: the rows displayed, the cursor's session, the marked rows."""
        from cmppdissect.tui.screens.save import displayed, marked, session_frames

        m = self.model
        choices = [displayed(m, self.pdus.view)]
        row = self.pdus.current_row()
        if row is not None:
            choices.append(session_frames(m, int(m.session[row])))
        choices.append(marked(m))
        self.capture_app.open_save(choices, initial=len(choices) - 1 if m.marks else 0)

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
        if self.needle:
            self._start_search()
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
        self._start_search()
        self.action_find(1)

    def _start_search(self) -> None:
        """Find every row of the view that holds the needle, in a worker, as the filter
        does (columns first, decoding only what they leave open), and go on as rows arrive."""
        self.workers.cancel_group(self, "search")
        self.matches = None
        if not self.needle:
            self._show_search()
            return
        self.matches = FilteredRows(self.pdus.view, search_predicate(self.model, self.needle),
                                    self.needle, masks=search_masks(self.model, self.needle),
                                    model=self.model)
        self._run_search(self.matches)

    def action_find(self, direction: int) -> None:
        if not self.needle:
            self.action_search()
            return
        if self.matches is None or self.matches.base is not self.pdus.view:
            self._start_search()
        self._pending = direction
        self._find_pending()

    def _find_pending(self) -> None:
        """Move to the match after (before) the cursor once the scan has seen it; say "not
        found" when the scan has seen every row without one."""
        matches, direction = self.matches, self._pending
        if matches is None or direction is None:
            return
        view = self.pdus.view
        row = self.pdus.current_row() if len(view) else None
        found = matches.matched
        n = len(found)
        if row is None:
            target = found[0] if n and direction > 0 else None
        elif direction > 0:
            i = bisect.bisect_right(found, row, 0, n)
            target = found[i] if i < n else None
        else:
            i = bisect.bisect_left(found, row, 0, n)
            target = found[i - 1] if i > 0 else None
        if target is None and n and matches.caught_up:
            # None past the cursor (at the end of a live list, say): go round, as less and
            # Wireshark's Find do, and say so.
            target = found[0] if direction > 0 else found[n - 1]
            self.notify("search went round to the " + ("top" if direction > 0 else "bottom"),
                        timeout=1.5, markup=False)
        if target is not None:
            self._pending = None
            position = view.position(target)
            if position is not None:
                self.pdus.move_to(position, center=True)
        elif matches.caught_up:
            self._pending = None
            self.notify(f"“{self.needle}” not found", severity="warning", timeout=2,
                        markup=False)
        self._show_search()

    @work(thread=True, exclusive=True, group="search")
    def _run_search(self, matches: FilteredRows) -> None:
        worker = get_current_worker()
        last = 0.0
        while not worker.is_cancelled:
            tested = matches.advance(_FILTER_SLICE)
            now = time.perf_counter()
            if now - last > 0.2 or (matches.caught_up and tested) or (
                    self._pending is not None and len(matches)):
                last = now
                self.app.call_from_thread(self._search_progress, matches)
            if matches.caught_up:
                if self.model.progress.done:
                    break
                time.sleep(0.1)
        if not worker.is_cancelled:
            self.app.call_from_thread(self._search_progress, matches)

    def _search_progress(self, matches: FilteredRows) -> None:
        if matches is self.matches and self.is_mounted:
            self._find_pending()
            self._show_search()

    def search_status(self) -> str:
        """ "“needle”: match k of n" on a match (else "n matches"), counted over the rows
        searched so far, with the progress while the search still runs."""
        matches = self.matches
        if matches is None or not self.needle:
            return ""
        n = len(matches)
        row = self.pdus.current_row() if len(self.pdus.view) else None
        at = None if row is None else matches.position(row)
        words = (f"match {at + 1} of {format_count(n)}" if at is not None
                 else f"{format_count(n)} match{'es' if n != 1 else ''}")
        total = len(matches.base)
        if not matches.caught_up:
            words += f", searching {matches.scanned * 100 // max(1, total)}%"
        return f"“{safe_text(self.needle)}”: {words}"

    def _show_search(self) -> None:
        # query, not query_one: a worker's news may come while the screen is composed or torn
        # down, with no status line to show it on.
        for status in self.query("#status").results(StatusLine):
            status.update_from(self.search_status())
