"""The Messages list: one line per request with its response, Result and status report."""

from __future__ import annotations

from typing import Any

import numpy as np
from textual.cache import LRUCache
from textual.reactive import reactive

from cmppdissect.output.sanitize import safe_text
from cmppdissect.tui.columns import Column, TimeMode, format_ms, format_time
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.summary import command_label
from cmppdissect.tui.transactions import TxSnapshot
from cmppdissect.tui.widgets.rowlist import Cells, RowList


def reports_cell(row: dict[str, Any]) -> tuple[str, str]:
    """``2/3``: the recipients reported on of those whose report was awaited (a SUBMIT
    accepted with Registered_Delivery), in yellow while some are missing."""
    if row["reports_given_up"] is None:
        return "", ""
    recipients = row["recipients"] or []
    got = sum(r["report_frame"] is not None for r in recipients)
    return f"{got}/{len(recipients)}", "" if got == len(recipients) else "rowlist--warn"


def stat_cell(row: dict[str, Any]) -> tuple[str, str]:
    """The first recipient's Stat (the table's flat column), ``none`` when its report was
    awaited and never came; not DELIVRD in yellow."""
    stat = row["report_stat"]
    if stat is None:
        awaited = row["reports_given_up"] is not None
        return ("none", "rowlist--warn") if awaited else ("", "")
    return safe_text(stat), "" if stat == "DELIVRD" else "rowlist--warn"


def long_cell(row: dict[str, Any]) -> tuple[str, str]:
    """The roll-up of a long message on the part that completed its picture; on its other
    parts, which part of how many."""
    outcome = row["long_outcome"]
    if outcome is not None:
        bad = "rejected" in outcome or "unanswered" in outcome
        return safe_text(outcome), "rowlist--error" if bad else ""
    if row["long_total"] is not None:
        return f"part {row['long_part']} of {row['long_total']}", "rowlist--dim"
    return "", ""


class TransactionList(RowList):
    """Rows of a :class:`~cmppdissect.tui.transactions.TxSnapshot` in ``order`` (the list's
    order: all rows by request frame, or a filter's); a row is read from the Arrow table
    when it comes into view, and kept in a small cache."""

    time_mode: reactive[TimeMode] = reactive(TimeMode.RELATIVE, repaint=False)
    min_fill = 40

    def __init__(self, model: CaptureModel, snapshot: TxSnapshot, order: np.ndarray, *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.snapshot = snapshot
        self.order = order
        self._cached: LRUCache[tuple[int, int], dict[str, Any]] = LRUCache(1024)

    def show(self, snapshot: TxSnapshot, order: np.ndarray) -> None:
        """Show ``order`` of ``snapshot``, the cursor staying on its row when the row is
        still listed (new rows come in among the old ones: a SUBMIT that waited for its
        status reports is listed at its request's frame)."""
        current = self.current_index()
        changed = snapshot is not self.snapshot
        gone = snapshot.dropped - self.snapshot.dropped  # the oldest rows went (the cap)
        self.snapshot, self.order = snapshot, order
        if changed:
            self._cached.clear()
        self.sync()
        if current is not None and gone:
            current -= gone
            if current < 0 and not self.follow and len(order):  # its row went: the oldest
                self.move_to(int(np.argmin(order)))
                return
        if current is not None and not self.follow and len(order):
            where = np.flatnonzero(order == current)
            if len(where) and int(where[0]) != self.cursor:
                self.move_to(int(where[0]))

    def current_index(self) -> int | None:
        """The table row under the cursor (None for an empty list)."""
        if 0 <= self.cursor < len(self.order):
            return int(self.order[self.cursor])
        return None

    def row_at(self, position: int) -> dict[str, Any]:
        index = int(self.order[position])
        key = (id(self.snapshot), index)
        row = self._cached.get(key)
        if row is None:
            row = self.snapshot.row(index)
            self._cached[key] = row
        return row

    def watch_time_mode(self) -> None:
        self.forget_layout()
        self.sync()

    def row_count(self) -> int:
        return len(self.order)

    def row_key(self, position: int) -> object:
        return (self.time_mode, int(self.order[position]), id(self.snapshot))

    def columns(self) -> list[Column]:
        """What a user looks for goes last: the command, its latency, Result and status
        report, and the long message's roll-up (at least 40 cells, when the terminal has
        them): at 120 columns frame, command, latency, Result, Stat, reports, delay and the
        roll-up; Sequence_Id, Msg_Id, session and time by scrolling sideways."""
        time_width = 15 if self.time_mode is TimeMode.ABSOLUTE else 12
        return [
            Column("no", "Frame", 7, 0, right=True, frozen=True),
            Column("time", self.time_mode.title, time_width, 7, right=True),
            Column("sess", "Sess", 5, 6, right=True),
            Column("cmd", "Command", 12, 1),
            Column("seq", "Seq", 10, 4, right=True),
            Column("lat", "Latency", 8, 1, right=True),
            Column("result", "Result", 20, 1),
            Column("msgid", "Msg_Id", 20, 5, right=True),
            Column("stat", "Stat", 7, 2),
            Column("reports", "Rep", 5, 3, right=True),
            Column("delay", "Delay", 8, 3, right=True),
            Column("long", "Long message", 0, 0, fill=True),
        ]

    def row_cells(self, position: int, layout: list[tuple[Column, int]]) -> Cells:
        row = self.row_at(position)
        m = self.model
        cells: Cells = []
        for column, _width in layout:
            key = column.key
            if key == "no":
                cells.append((str(row["request_frame"]), ""))
            elif key == "time":
                prev = None
                if position and self.time_mode is TimeMode.DELTA:
                    prev = self.row_at(position - 1)["request_time"]
                cells.append((format_time(self.time_mode, row["request_time"],
                                          m.first_ts_ns or 0, prev), ""))
            elif key == "sess":
                cells.append((str(row["session"]), "rowlist--dim"))
            elif key == "cmd":
                cells.append((safe_text(command_label(str(row["command"]))), ""))
            elif key == "seq":
                cells.append((str(row["sequence_id"]), ""))
            elif key == "lat":
                lat = row["latency_ms"]
                cells.append(("no resp", "rowlist--warn") if lat is None
                             else (format_ms(lat), "rowlist--accent"))
            elif key == "result":
                code = row["result"]
                if code is None:
                    cells.append(("", ""))
                else:
                    name = row["result_name"] or ""
                    cells.append((f"{code} {safe_text(name)}".strip() if code else "0",
                                  "rowlist--error" if code else ""))
            elif key == "msgid":
                msg_id = row["Msg_Id"]
                cells.append(("" if msg_id is None else str(msg_id), "rowlist--dim"))
            elif key == "stat":
                cells.append(stat_cell(row))
            elif key == "reports":
                cells.append(reports_cell(row))
            elif key == "delay":
                cells.append(("" if row["report_delay_ms"] is None
                              else format_ms(row["report_delay_ms"]), ""))
            elif key == "long":
                cells.append(long_cell(row))
        return cells


__all__ = ["TransactionList", "long_cell", "reports_cell", "stat_cell"]
