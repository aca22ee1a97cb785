"""Make wire text inert before it reaches a terminal.

SMS content and ids come from the network. A C0/C1 control (ESC, CSI 0x9B), DEL or a
bidirectional override in them could move the cursor, recolour or reorder what the user
reads, so each is shown as a visible escape instead. Rich markup is a separate concern,
handled by the TUI with ``rich.markup.escape``/``Text`` objects.
"""

from __future__ import annotations

import re

# C0 controls but keep none, DEL, C1 controls, bidi embeddings/overrides/isolates, LS/PS.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    """``text`` with every control and bidi override replaced by a visible escape."""
    return _UNSAFE.sub(_escape, text)


def wire_str(value: bytes) -> str:
    """An Octet String field as display text: ASCII as is, anything else escaped."""
    return safe_text(value.decode("ascii", "backslashreplace"))
