"""The footer: the keys in reach, and always the two a new user needs (and the palette's).

Textual's footer lists the focused widget's bindings first and the app's last, so on a busy
screen (the PDU list at 120 columns) ``?`` Help and ``q`` Quit were cut off the end. They are
docked at the right edge here, where nothing pushes them out, and the app's bindings for them
are not listed a second time.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Footer, Static

# The command palette's key is Textual's own footer item, docked at the same right edge:
# it is said here too, or it would be hidden under these.
ALWAYS = (("?", "Help"), ("q", "Quit"), ("^p", "palette"))


def always_text() -> Text:
    out = Text(no_wrap=True)
    for key, words in ALWAYS:
        out.append(f" {key} ", style="bold")
        out.append(f"{words} ")
    return out


class KeysFooter(Footer):
    """:class:`Footer` with ``? Help  q Quit  ^p palette`` at its right end on every
    screen."""

    DEFAULT_CSS = """
    KeysFooter > .always-keys {
        dock: right;
        width: auto;
        height: 1;
        color: $footer-key-foreground;
        background: $footer-background;
    }
    """

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield Static(always_text(), classes="always-keys")
