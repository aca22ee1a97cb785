"""Messages: one row per request (the ``-T transactions`` rows), a filter bar above them.

The rows are built in a worker thread (:class:`~cmppdissect.tui.transactions.TransactionTable`)
from the first time the screen is shown, as the capture's rows settle; the list shows them by
request frame and grows while the capture is read. The filter bar takes the display-filter
language over a row's names (:data:`~cmppdissect.tui.transactions.TX_NAMES`); ``u``, ``e``
and ``d`` put one of three filters in it (unanswered requests, non-zero Results, status
reports missing or not DELIVRD), pressed again they clear it. Enter opens the request's PDU.
"""

from __future__ import annotations

import time
from typing import ClassVar

import numpy as np
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.worker import get_current_worker

from cmppdissect.output.sanitize import safe_text
from cmppdissect.tui.columns import format_count
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.screens.base import INDEXING_REDRAW_S, CaptureScreen
from cmppdissect.tui.transactions import (
    PRESETS,
    TX_NAMES,
    TransactionTable,
    TxFilter,
    request_row,
)
from cmppdissect.tui.widgets.filterbar import FilterBar
from cmppdissect.tui.widgets.rowlist import RowList
from cmppdissect.tui.widgets.txlist import TransactionList

PLACEHOLDER = ('filter the rows, e.g. result != 0 or latency_ms > 100 or '
               'recipients.report_stat == "UNDELIV" (Enter applies)')

__all__ = ["TransactionsScreen"]


class TransactionsScreen(CaptureScreen):
    screen_title = "Messages"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "filter", "Filter", show=True),
        Binding("u", "preset('unanswered')", "Unanswered", show=True),
        Binding("e", "preset('failed')", "Failed", show=True),
        Binding("d", "preset('reports')", "Not DELIVRD", show=True),
        Binding("t", "time", "Time fmt", show=False),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self, model: CaptureModel, table: TransactionTable) -> None:
        super().__init__(model)
        self.table = table
        self.filter: TxFilter | None = None
        self._table_seen = -1
        self._table_at = 0.0

    def compose(self) -> ComposeResult:
        yield from self.compose_title()
        yield FilterBar(id="filter", vocabulary=TX_NAMES, placeholder=PLACEHOLDER)
        snapshot = self.table.snapshot
        yield TransactionList(self.model, snapshot, snapshot.order, id="transactions")
        yield from self.compose_footer()

    @property
    def rows(self) -> TransactionList:
        return self.query_one("#transactions", TransactionList)

    def on_mount(self) -> None:
        self.capture_app.build_transactions()
        self.rows.focus()
        self.set_title_text(self.title_text())

    def title_text(self) -> str:
        """How many requests (with a filter, "Displayed N of M" first, as the PDU list
        says it, then the filter), and while the rows are built, how far."""
        snapshot = self.table.snapshot
        total = snapshot.count
        parts = ["Messages"]
        if self.model.name:
            parts.append(safe_text(self.model.name))
        flt = self.filter
        if flt is not None and self.is_mounted:
            shown = len(self.rows.order)
            share = f"{shown * 100 / total:.1f}" if total else "0.0"
            parts.append(f"Displayed {format_count(shown)} of {format_count(total)} "
                         f"({share}%)")
            parts.append(f"filter: {safe_text(flt.expression)}")
            if flt.scanned < total:
                parts.append(f"filtering {flt.scanned * 100 // max(1, total)}%")
        else:
            parts.append(f"{format_count(total)} requests")
        if not snapshot.done:
            waiting = snapshot.waiting
            parts.append("building" + (f" ({format_count(waiting)} awaiting status reports)"
                                       if waiting else ""))
        if snapshot.evicted:
            parts.append(f"{format_count(snapshot.evicted)} without every report (cap)")
        if snapshot.dropped:
            parts.append(f"the oldest {snapshot.dropped:,} went (cap {self.table.max_rows:,})")
        if self.table.started_at:
            parts.append(f"from the oldest PDU held when opened ({self.table.started_at:,} "
                         "went before)")
        if self.is_mounted and self.rows.follow:
            parts.append("following (A)")
        return "  ·  ".join(parts)

    # -- the table grows ------------------------------------------------------------------

    def model_changed(self) -> None:
        """The app's tick: the model's news, and the table's (built in its own worker)."""
        super().model_changed()
        if not self._ready or self.table.generation == self._table_seen:
            return
        snapshot = self.table.snapshot
        now = time.monotonic()
        if (not snapshot.done and self._table_seen >= 0
                and now - self._table_at < INDEXING_REDRAW_S):
            return
        self._table_seen = self.table.generation
        self._table_at = now
        self._show()

    def _show(self) -> None:
        snapshot = self.table.snapshot
        flt = self.filter
        if flt is None:
            self.rows.show(snapshot, snapshot.order)
        else:
            self.rows.show(snapshot, flt.order(snapshot))
        self.set_title_text(self.title_text())

    def on_row_list_follow_changed(self, event: RowList.FollowChanged) -> None:
        self.set_title_text(self.title_text())

    # -- keys -----------------------------------------------------------------------------

    def on_row_list_selected(self, event: RowList.Selected) -> None:
        """Enter: the request's PDU in Detail (over all PDUs: ``[``/``]`` walk on from it)."""
        event.stop()
        rows = self.rows
        row = rows.row_at(event.position)
        target = request_row(self.model, row)
        if target is None:
            frame = int(row["request_frame"])
            self.notify(self.capture_app.gone_words(frame) if self.model.gone_frame(frame)
                        else f"frame {frame} is not in the PDU list", timeout=3, markup=False)
            return
        self.capture_app.open_detail(self.capture_app.all_rows, target)

    def action_time(self) -> None:
        self.rows.time_mode = self.rows.time_mode.next
        self.notify(f"time: {self.rows.time_mode.value}", timeout=1.5, markup=False)

    def action_filter(self) -> None:
        self.query_one(FilterBar).input.focus()

    def action_preset(self, name: str) -> None:
        """Put one of :data:`PRESETS` in the filter bar and apply it; the same key again
        clears it."""
        expression, what = PRESETS[name]
        bar = self.query_one(FilterBar)
        if self.filter is not None and self.filter.expression == expression:
            bar.apply("")
            return
        bar.apply(expression)
        self.notify(what, timeout=1.5, markup=False)

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    # -- filter ---------------------------------------------------------------------------

    @on(FilterBar.Left)
    def _filter_left(self) -> None:
        self.rows.focus()

    @on(FilterBar.Applied)
    def _apply_filter(self, event: FilterBar.Applied) -> None:
        self.workers.cancel_group(self, "txfilter")
        if event.compiled is None:
            self.filter = None
        else:
            self.filter = TxFilter(event.compiled, event.expression)
            self._run_filter(self.filter)
        self.rows.move_to(0)
        self._show()
        self.rows.focus()

    @work(thread=True, exclusive=True, group="txfilter")
    def _run_filter(self, flt: TxFilter) -> None:
        """Decide every row built so far, then the new ones as the table grows."""
        worker = get_current_worker()
        seen = -1
        while not worker.is_cancelled:
            generation = self.table.generation
            snapshot = self.table.snapshot
            if generation != seen:
                seen = generation
                flt.advance(snapshot, cancelled=lambda: worker.is_cancelled)
                if not worker.is_cancelled:
                    self.app.call_from_thread(self._filter_progress, flt)
                if snapshot.done and flt.scanned >= snapshot.count:
                    return
            time.sleep(0.1)

    def _filter_progress(self, flt: TxFilter) -> None:
        if flt is self.filter and self.is_mounted:
            self._show()

    def shown_rows(self) -> np.ndarray:
        """The table rows the list shows, in its order (the tests compare them)."""
        return self.rows.order
