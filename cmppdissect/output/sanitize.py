"""Make wire text inert before it reaches a terminal.

SMS content and ids come from the network. A C0/C1 control (ESC, CSI 0x9B), DEL or a
bidirectional override in them could move the cursor, recolour or reorder what the user
reads, so each is shown as a visible escape instead. Rich markup is a separate concern,
handled by the TUI with ``rich.markup.escape``/``Text`` objects.
"""

from __future__ import annotations

import re

# Code points that never reach a terminal raw (the one list: the JSON writers escape the same):
# every control (Unicode category Cc), every format character (Cf: soft hyphen, the Arabic and
# Syriac number signs and letter mark, zero-width characters, LRM/RLM, bidi embeddings,
# overrides and isolates, word joiner and the invisible operators, byte order mark, the
# interlinear annotation marks, shorthand and musical format controls, tags) and the line and
# paragraph separators (Zl, Zp). Blocks of format controls are taken whole, so code points
# a later Unicode assigns there are covered too. tests/test_output_schema.py checks the list
# against the running Python's unicodedata.
UNSAFE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00, 0x1F), (0x7F, 0x9F), (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD),
    (0x70F, 0x70F), (0x890, 0x891), (0x8E2, 0x8E2), (0x180E, 0x180E), (0x200B, 0x200F),
    (0x2028, 0x202E), (0x2060, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0001, 0xE007F))


def char_class(ranges: tuple[tuple[int, int], ...]) -> str:
    """A regular-expression character class of the code point ranges."""
    return "[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges) + "]"


_UNSAFE = re.compile(char_class(UNSAFE_RANGES))


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def safe_text(text: str) -> str:
    """``text`` with every control and bidi override replaced by a visible escape."""
    return _UNSAFE.sub(_escape, text)


def wire_str(value: bytes) -> str:
    """An Octet String field as display text: ASCII as is, anything else escaped."""
    return safe_text(value.decode("ascii", "backslashreplace"))
