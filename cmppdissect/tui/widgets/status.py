"""The status line under every screen: indexing progress, counts, pause, errors.

The bar is drawn as text rather than with Textual's ProgressBar, whose ETA and animation
would make every snapshot of a running index different.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.widget import Widget

from cmppdissect.tui.columns import format_count
from cmppdissect.tui.model import CaptureModel

_BAR = 20


def progress_text(model: CaptureModel, extra: str = "",
                  counters: tuple[tuple[str, int], ...] | None = None) -> Text:
    """The status words; ``counters`` overrides the snapshot's (a live source's fresh ones)."""
    p = model.progress
    out = Text(no_wrap=True, overflow="ellipsis")
    if p.error:
        out.append(f" error: {p.error} ", style="bold red")
    elif p.done:
        out.append(" ✓ capture ended " if p.live else " ✓ indexed ", style="bold")
    elif p.paused:
        out.append(" ⏸ paused ", style="bold reverse")
    else:
        out.append(" capturing " if p.live else " indexing ", style="bold")
    if not p.done and p.fraction is not None:
        filled = round(p.fraction * _BAR)
        out.append("━" * filled, style="bold")
        out.append("─" * (_BAR - filled), style="dim")
        out.append(f" {p.fraction * 100:3.0f}% ")
    out.append(f" {format_count(model.count)} PDUs · {len(model.sessions)} sessions · "
               f"{format_count(model.expert_count)} findings")
    dropped = model.dropped_note()
    if dropped:  # the cap on rows held (--max-pdus) let the oldest go
        out.append(" · ")
        out.append(dropped, style="bold")
    for name, value in p.counters if counters is None else counters:
        if name != "frames" or not p.done:
            out.append(f" · {format_count(value)} {name}")
    if extra:
        out.append(" · ")
        out.append(extra)
    return out


class StatusLine(Widget):
    """One line; the screen calls :meth:`update_from` on each model change."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        background: $panel;
        color: $text;
    }
    """

    def __init__(self, model: CaptureModel, *,
                 counters: Callable[[], tuple[tuple[str, int], ...]] | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.extra = ""
        self._counters = counters  # read at each paint while a live source runs

    def update_from(self, extra: str | None = None) -> None:
        if extra is not None:
            self.extra = extra
        self.refresh()

    def render(self) -> Text:
        p = self.model.progress
        fresh = self._counters() if self._counters and p.live and not p.done else None
        return progress_text(self.model, self.extra, fresh)


__all__ = ["StatusLine", "progress_text"]
