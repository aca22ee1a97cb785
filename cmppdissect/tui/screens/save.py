"""The save dialog: what to save (a session, the rows displayed, the marked rows, a ladder as
text) and the file name. It writes nothing itself: it checks the name can be written and
hands the choice back to the app, which saves in a worker (:mod:`cmppdissect.tui.save`)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, RadioButton, RadioSet, Static

from cmppdissect.output.sanitize import safe_text
from cmppdissect.tui.columns import TimeMode
from cmppdissect.tui.ladder import ladder_text
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.save import check_target, frames_unavailable, view_rows
from cmppdissect.tui.views import FilteredRows, RowSet, SessionRows


@dataclass(frozen=True, slots=True)
class SaveChoice:
    """One thing the dialog offers: the frames of ``rows`` as pcapng, or the text ``text``
    makes (given a cancelled() check). ``problem`` says why it cannot be saved now."""

    label: str
    name: str  # the file name proposed
    rows: np.ndarray | None = None  # numbered since the capture began (tui/save.py)
    text: Callable[[Callable[[], bool]], str] | None = None
    problem: str | None = None


def file_name(capture: str, what: str, suffix: str) -> str:
    """A file name proposed for ``what`` of ``capture``: ``cmpp-basic-session2.pcapng``."""
    stem = os.path.splitext(os.path.basename(capture))[0] if capture else ""
    stem = re.sub(r"[^\w.-]+", "_", stem).strip("._") or "capture"
    return f"{stem}-{what}{suffix}"


def _count(n: int) -> str:
    return f"{n:,} PDU" + ("" if n == 1 else "s")


def _since_start(model: CaptureModel, rows: np.ndarray) -> np.ndarray:
    """Model rows as numbers since the capture began: what a save names them by."""
    return np.asarray(rows, dtype=np.int64) + model.released


def _held(model: CaptureModel) -> str:
    """What a choice of frames adds once the oldest rows went: only rows held are saved."""
    return f" (held only: {model.dropped_note()})" if model.released else ""


def session_frames(model: CaptureModel, sid: int) -> SaveChoice:
    """The frames of one session's PDUs."""
    rows = np.array(model.session_rows(sid), dtype=np.int64)
    return SaveChoice(f"Session {sid}: {_count(len(rows))}, their frames (pcapng){_held(model)}",
                      file_name(model.name, f"session{sid}", ".pcapng"),
                      rows=_since_start(model, rows), problem=frames_unavailable(model) or (
                          None if len(rows) or not model.released else
                          "no PDU of this session is held: they went with the oldest"))


def session_ladder(model: CaptureModel, sid: int, *, time_mode: TimeMode = TimeMode.RELATIVE,
                   sms: bool = False) -> SaveChoice:
    """One session's ladder as plain text (with the SMS text when the ladder shows it)."""
    view = SessionRows(model, sid)

    def text(cancelled: Callable[[], bool]) -> str:
        return ladder_text(model, view, f"Ladder  ·  {view.title}", time_mode=time_mode,
                           sms=sms, cancelled=cancelled)

    return SaveChoice(f"Session {sid}: its ladder as text", file_name(
        model.name, f"session{sid}-ladder", ".txt"), text=text)


def displayed(model: CaptureModel, view: RowSet) -> SaveChoice:
    """The rows a list displays (after its filter), their frames."""
    rows = view_rows(view)
    what = "Displayed"
    if isinstance(view, FilteredRows):
        what += f" (filter: {view.expression}"
        what += ")" if view.caught_up else ", filtering: the matches so far)"
    return SaveChoice(f"{what}: {_count(len(rows))}, their frames (pcapng){_held(model)}",
                      file_name(model.name, "displayed", ".pcapng"),
                      rows=_since_start(model, rows),
                      problem=frames_unavailable(model) or (
                          None if len(rows) else "no PDU is displayed"))


def marked(model: CaptureModel) -> SaveChoice:
    """The marked rows, their frames."""
    rows = model.marked_rows()
    return SaveChoice(f"Marked: {_count(len(rows))}, their frames (pcapng){_held(model)}",
                      file_name(model.name, "marked", ".pcapng"),
                      rows=_since_start(model, rows),
                      problem=frames_unavailable(model) or (
                          None if len(rows) else
                          "no PDU is marked: m on a PDU list marks the row under the cursor"))


class SaveScreen(ModalScreen[tuple[SaveChoice, str] | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=True),
    ]

    DEFAULT_CSS = """
    SaveScreen {
        align: center middle;
        & > Vertical {
            width: 76; max-width: 95%; height: auto;
            border: thick $primary; background: $surface; padding: 0 1;
        }
        & #save-title { text-style: bold; }
        & RadioSet { width: 100%; margin: 1 0 0 0; }
        & #save-error { color: $error; text-style: bold; height: auto; }
        & #save-hint { color: $text-muted; }
        &:nocolor #save-error { text-style: bold reverse; }
    }
    """

    def __init__(self, choices: Sequence[SaveChoice], *, capture_path: str | None,
                 initial: int = 0) -> None:
        super().__init__()
        self.choices = list(choices)
        self.capture_path = capture_path
        self.initial = max(0, min(initial, len(self.choices) - 1))
        self._proposed = self.choices[self.initial].name if self.choices else ""
        self._confirm: str | None = None  # a file that exists: Enter again replaces it

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Save", id="save-title")
            with RadioSet(id="save-what"):
                for i, choice in enumerate(self.choices):
                    yield RadioButton(Text(safe_text(choice.label)), value=i == self.initial)
            yield Input(self._proposed, placeholder="file name", id="save-name")
            yield Static("", id="save-error")
            yield Static("enter saves · ↑↓ in the list choose · escape cancels", id="save-hint")

    def on_mount(self) -> None:
        self.query_one("#save-name", Input).focus()

    @property
    def chosen(self) -> int:
        index = self.query_one("#save-what", RadioSet).pressed_index
        return index if index >= 0 else self.initial

    @on(RadioSet.Changed)
    def _chosen(self, event: RadioSet.Changed) -> None:
        box = self.query_one("#save-name", Input)
        choice = self.choices[event.index]
        if box.value == self._proposed:  # not edited: propose the name for this choice
            box.value = choice.name
        self._proposed = choice.name
        self._error(choice.problem or "")

    def _error(self, message: str) -> None:
        self.query_one("#save-error", Static).update(Text(message))

    @on(Input.Submitted, "#save-name")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_save(self) -> None:
        if not self.choices:
            self.dismiss(None)
            return
        choice = self.choices[self.chosen]
        if choice.problem:
            self._error(choice.problem)
            return
        path = self.query_one("#save-name", Input).value.strip()
        problem = check_target(path, self.capture_path)
        if problem:
            self._error(problem)
            return
        if os.path.exists(os.path.expanduser(path)) and self._confirm != path:
            self._confirm = path
            self._error(f"{path} exists: enter again replaces it")
            return
        self.dismiss((choice, path))

    def action_cancel(self) -> None:
        self.dismiss(None)


__all__ = ["SaveChoice", "SaveScreen", "displayed", "file_name", "marked", "session_frames",
           "session_ladder"]
