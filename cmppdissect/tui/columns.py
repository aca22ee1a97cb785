"""Column layouts for the list screens, and the cell formatting they share.

A terminal may be 80 columns or 250. Every list first drops the columns that matter least to
the user (the highest ``priority`` number) until the rest fit, and gives what is left to its
free-text column: an 80x24 PDU list still shows number, direction, command, latency, result
and the key fields. What was dropped stays reachable: :func:`scrolled` is the layout of a list
scrolled sideways, one column at a time, so that every column can be brought into view.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
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
    frozen: bool = False  # stays at the left when the list scrolls sideways (the row's id)


Layout = list[tuple[Column, int]]


def fit(columns: Sequence[Column], width: int, *, min_fill: int = 16,
        keep: Collection[str] = ()) -> Layout:
    """The columns that fit ``width`` (one space between them) with their widths, in order.

    Columns go highest ``priority`` number first; the free-text (fill) column goes like the
    others when its priority says so, and until then it needs ``min_fill`` cells. Columns
    whose key is in ``keep`` never go, nor do the last two.
    """
    kept = list(columns)
    while True:
        fixed = sum(c.width for c in kept if not c.fill) + max(0, len(kept) - 1)
        has_fill = any(c.fill for c in kept)
        room = width - fixed
        if room >= (min_fill if has_fill else 0) or len(kept) <= 2:
            break
        victims = [c for c in kept if c.key not in keep]
        if not victims:
            break
        kept.remove(max(victims, key=lambda c: c.priority))
    return [(c, max(1, room) if c.fill else c.width) for c in kept]


def scrolled(columns: Sequence[Column], width: int, offset: int, *,
             min_fill: int = 16) -> Layout:
    """The layout of a list scrolled ``offset`` steps to the right.

    At 0 it is :func:`fit`. At ``offset`` n the n-th column that is not frozen is the left
    edge: the ones before it are hidden, it is shown whatever its priority, and the columns
    right of it fit by priority in the room left beside the frozen ones. Each step right so
    brings the next column into view at the left edge, and the view reaches every column.
    """
    if offset <= 0:
        return fit(columns, width, min_fill=min_fill)
    movable = [c for c in columns if not c.frozen]
    edge = movable[min(offset, len(movable)) - 1]
    after = movable[movable.index(edge) + 1:]
    pool = [c for c in columns if c.frozen or c is edge or c in after]
    keep = {c.key for c in columns if c.frozen} | {edge.key}
    return fit(pool, width, min_fill=min_fill, keep=keep)


def scroll_limit(columns: Sequence[Column], width: int, *, min_fill: int = 16) -> int:
    """How far :func:`scrolled` may go: 0 when every column fits, else the first offset at
    which the edge and every column right of it are shown (further would only hide more)."""
    if len(fit(columns, width, min_fill=min_fill)) == len(columns):
        return 0
    movable = [c for c in columns if not c.frozen]
    frozen = len(columns) - len(movable)
    for offset in range(1, len(movable) + 1):
        if len(scrolled(columns, width, offset, min_fill=min_fill)) == \
                frozen + len(movable) - offset + 1:
            return offset
    return len(movable)


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


def format_clock(seconds: float, *, date: bool = False) -> str:
    """Local wall-clock time of ``seconds`` since 1970 (with the date for spans over a day),
    as the absolute Time column reads; seconds since 1970 when the calendar cannot say."""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S",
                             time.localtime(seconds))
    except (OverflowError, OSError, ValueError):
        return f"{seconds:.0f}"


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
