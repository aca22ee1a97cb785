"""Column layouts for the list screens, and the cell formatting they share.

A terminal may be 80 columns or 250; rather than scroll sideways, every list drops its least
useful columns until the rest fit and gives what is left to its free-text column, so an
80x24 terminal still shows number, direction, command, Sequence_Id, time and latency.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from rich.cells import cell_len, set_cell_size


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    width: int
    priority: int  # lower is dropped later
    right: bool = False
    fill: bool = False  # takes the width that is left (one per layout)


def fit(columns: Sequence[Column], width: int, *, min_fill: int = 16) -> list[tuple[Column, int]]:
    """The columns that fit ``width`` (one space between them) with their widths, in order."""
    kept = list(columns)
    while True:
        fixed = sum(c.width for c in kept if not c.fill) + max(0, len(kept) - 1)
        has_fill = any(c.fill for c in kept)
        room = width - fixed
        if room >= (min_fill if has_fill else 0) or len(kept) <= 2:
            break
        victim = max((c for c in kept if not c.fill), key=lambda c: c.priority)
        kept.remove(victim)
    out: list[tuple[Column, int]] = []
    for c in kept:
        out.append((c, max(1, room) if c.fill else c.width))
    return out


def cell(text: str, width: int, *, right: bool = False) -> str:
    """``text`` cut or padded to exactly ``width`` terminal cells (CJK counts double)."""
    length = cell_len(text)
    if length > width:
        if width <= 1:
            return set_cell_size(text, width)
        return set_cell_size(text, width - 1) + "…"
    pad = " " * (width - length)
    return pad + text if right else text + pad


class TimeMode(Enum):
    """How the Time column reads: Wireshark's three most used formats."""

    RELATIVE = "relative"
    ABSOLUTE = "absolute"
    DELTA = "delta"

    @property
    def next(self) -> TimeMode:
        modes = list(TimeMode)
        return modes[(modes.index(self) + 1) % len(modes)]

    @property
    def title(self) -> str:
        return {"relative": "Time (s)", "absolute": "Time", "delta": "Delta (s)"}[self.value]


def format_time(mode: TimeMode, ts_ns: int, first_ns: int, prev_ns: int | None) -> str:
    """The Time cell. Stamps come from the store's int64 columns: they are made Python ints
    first, since two stamps at opposite ends of the range (a pcapng if_tsoffset, a clock
    years off) overflow as numpy scalars; a time the platform's calendar cannot show is
    written as seconds since 1970."""
    ts_ns = int(ts_ns)
    if mode is TimeMode.ABSOLUTE:
        seconds, rest = divmod(ts_ns, 1_000_000_000)
        try:
            return time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{rest // 1000:06d}"
        except (OverflowError, OSError, ValueError):
            return f"{ts_ns / 1e9:.6f}"
    base = int(first_ns if mode is TimeMode.RELATIVE else (ts_ns if prev_ns is None else prev_ns))
    return f"{(ts_ns - base) / 1e9:.6f}"


def format_ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 10_000:
        return f"{value / 1000:.1f}s"
    if value >= 100:
        return f"{value:.0f}ms"
    return f"{value:.2f}ms"


def format_number(value: float | None) -> str:
    """A latency in a column whose title already says ms."""
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 1000 else f"{value:.2f}"


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_count(n: int) -> str:
    return f"{n:,}"
