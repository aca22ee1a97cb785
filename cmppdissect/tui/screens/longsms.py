"""A long SMS joined: its text whole, and its parts as a PDU list (enter opens one).

Reached with ``J`` from any of its parts (PDU list, ladder, Detail). The message is the one the
engine completed (:func:`cmppdissect.store.records.long_sms_of`), so its text is the one
``-T json`` prints; it is shown inert, as all wire text is.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from cmppdissect.output.sanitize import safe_text
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.screens.base import CaptureScreen
from cmppdissect.tui.widgets.pdulist import PduList
from cmppdissect.tui.widgets.rowlist import RowList


class PartRows:
    """The parts of one message, in part order (a fixed list of model rows; those let go with
    the oldest rows leave it)."""

    depth = 1

    def __init__(self, rows: list[int], title: str) -> None:
        self.parts = rows
        self.title = title

    def rows_released(self, k: int) -> None:
        self.parts = [row - k for row in self.parts if row >= k]

    def __len__(self) -> int:
        return len(self.parts)

    def __getitem__(self, position: int) -> int:
        return self.parts[position]

    def rows(self) -> np.ndarray:
        return np.array(sorted(self.parts), dtype=np.int64)

    def position(self, row: int) -> int | None:
        return self.parts.index(row) if row in self.parts else None

    def nearest(self, row: int) -> int:
        later = [i for i, r in enumerate(self.parts) if r >= row]
        return later[0] if later else max(0, len(self.parts) - 1)


class LongSmsScreen(CaptureScreen):
    screen_title = "Long SMS"
    holds_rows = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "pair", "Req↔Resp", show=True),
        Binding("escape", "back", "Back", show=True),
    ]

    DEFAULT_CSS = """
    LongSmsScreen {
        & > #long-text { height: auto; max-height: 12; padding: 0 1; margin: 0 0 1 0;
                         border: tall $secondary; }
        & > #long-parts { height: 1fr; }
    }
    """

    def __init__(self, model: CaptureModel, home: int, *, start_row: int | None = None) -> None:
        super().__init__(model)
        self.home = home
        self.start_row = start_row
        sms = model.extra(home).long_sms or {}
        self.reference = sms.get("reference")
        self.total = sms.get("total")
        self.text = sms.get("text")
        self.parts = PartRows(model.long_sms_parts(home),
                              f"Long SMS  ·  reference {self.reference}  ·  "
                              f"{self.total} parts")
        model.add_view(self.parts)

    def rows_released(self, k: int) -> None:
        """Parts that went leave the list (the text stays: it was joined already)."""
        self.home -= k
        if self.start_row is not None:
            self.start_row = max(0, self.start_row - k)
        if self.is_mounted:
            held = len(self.parts)
            self.set_title_text(self.parts.title + (
                f"  ·  {held} held (the others went with the oldest PDUs)"
                if held != self.total else ""))

    def title_text(self) -> str:
        return self.parts.title

    def compose(self) -> ComposeResult:
        yield from self.compose_title()
        body = "(binary: no text)" if self.text is None else f"“{safe_text(str(self.text))}”"
        yield Static(Text(body), id="long-text")
        yield PduList(self.model, self.parts, id="long-parts")
        yield from self.compose_footer()

    @property
    def pdus(self) -> PduList:
        return self.query_one("#long-parts", PduList)

    def on_mount(self) -> None:
        self.pdus.focus()
        if self.start_row is not None:
            self.pdus.sync()
            self.pdus.move_to(self.parts.nearest(self.start_row))

    def refresh_from_model(self) -> None:
        self.pdus.sync()

    def on_row_list_selected(self, event: RowList.Selected) -> None:
        event.stop()
        self.capture_app.open_detail(self.parts, event.position)

    def action_pair(self) -> None:
        self.capture_app.jump_to_pair(self.pdus)

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()


__all__ = ["LongSmsScreen", "PartRows"]
