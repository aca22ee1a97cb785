"""The display-filter bar: the ``-Y`` language, checked on every keystroke.

A valid expression turns the bar green and Enter applies it; an invalid one shows the parser's
message under the bar with a caret at the column at fault, so a typo is seen before it is
applied rather than as a filter that matches nothing.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Static

from cmppdissect.query.dfilter import (
    PDU_NAMES,
    DisplayFilter,
    FilterError,
    Vocabulary,
    compile_filter,
)

PLACEHOLDER = 'display filter, e.g. command == "SUBMIT" and latency_ms > 100 (Enter applies)'


class FilterBar(Vertical):
    DEFAULT_CSS = """
    FilterBar {
        height: auto;
        & > Horizontal { height: 1; }
        & #filter-label { width: 10; padding: 0 1; background: $primary 40%; color: $text; }
        & #filter-label.-valid { background: $success; }
        & #filter-label.-invalid { background: $error; }
        & Input, & Input:focus { border: none; height: 1; padding: 0 1; width: 1fr; }
        & > #filter-error { color: $error; height: auto; display: none; padding: 0 1; }
        & > #filter-error.-shown { display: block; }
        &:nocolor #filter-label { text-style: reverse; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Back to list", show=False),
    ]

    class Applied(Message):
        """Enter on a valid expression (``None`` clears the filter)."""

        def __init__(self, bar: FilterBar, compiled: DisplayFilter | None, expression: str):
            super().__init__()
            self.bar = bar
            self.compiled = compiled
            self.expression = expression

    class Left(Message):
        """Escape: the screen puts the focus back on its list."""

    def __init__(self, *, id: str | None = None, vocabulary: Vocabulary = PDU_NAMES,
                 placeholder: str = PLACEHOLDER) -> None:
        """``vocabulary``: the names the list's records have (a PDU's, or a transaction
        row's on the Messages screen)."""
        super().__init__(id=id)
        self.error: FilterError | None = None
        self.vocabulary = vocabulary
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static("filter", id="filter-label")
            yield Input(placeholder=self.placeholder, id="filter-input")
        yield Static("", id="filter-error")

    def _mark(self, state: str) -> None:
        """Show the state in colour and in words, so it survives NO_COLOR."""
        label = self.query_one("#filter-label", Static)
        label.set_class(state == "valid", "-valid")
        label.set_class(state == "invalid", "-invalid")
        label.update({"valid": "filter ✓", "invalid": "filter ✗"}.get(state, "filter"))

    @property
    def input(self) -> Input:
        return self.query_one("#filter-input", Input)

    def check(self, expression: str) -> DisplayFilter | None:
        """Compile ``expression``, showing the outcome; None when it does not compile."""
        message = self.query_one("#filter-error", Static)
        try:
            compiled = compile_filter(expression, self.vocabulary)
        except FilterError as exc:
            self.error = exc
            self._mark("invalid")
            caret = Text(" " * (exc.position + 10) + "^ ", no_wrap=True)
            caret.append(exc.message)
            message.update(caret)
            message.set_class(True, "-shown")
            return None
        self.error = None
        self._mark("valid" if expression.strip() else "")
        if compiled.warnings:  # valid, but likely not what was meant: said, not refused
            warning = compiled.warnings[0]
            caret = Text(" " * (warning.position + 10) + "^ warning: ", no_wrap=True)
            caret.append(warning.message)
            message.update(caret)
            message.set_class(True, "-shown")
            return compiled
        message.update("")
        message.set_class(False, "-shown")
        return compiled

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.check(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.apply(event.value)

    def apply(self, expression: str) -> None:
        """Show ``expression`` in the bar and apply it, as Enter does (``-Y`` on a terminal
        opens the TUI this way)."""
        if self.input.value != expression:
            self.input.value = expression
        compiled = self.check(expression)
        if compiled is None:
            self.app.bell()
            return
        expression = expression.strip()
        self.post_message(self.Applied(self, compiled if expression else None, expression))

    def action_leave(self) -> None:
        self.post_message(self.Left())


__all__ = ["FilterBar"]
