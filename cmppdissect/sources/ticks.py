"""Capture time in steps: a capture's chunks cut where its time crosses each step.

``--report-every S`` over a capture file reports the analysis every S seconds of *capture*
time: the report at step k covers exactly the frames before ``first + k * S`` (the first
frame's time), wherever that falls in the chunks the file is read in. :class:`CaptureTicks`
walks the chunks with the core's frame walk (``FrameReader``: the same container walk as the
analysis, pcap or pcapng, one frame at a time) and cuts each chunk at the record of the first
frame at or past the next step. The driver feeds the pieces in turn; when it asks for the piece
after a cut, everything before the step has been analysed, and ``on_tick(k, step_ns)`` is
called first (once per step passed: a quiet hour passes several at once, a stretch of more than
:data:`QUIET_STEPS` steps passes the rest as one).

The walk only reads timestamps; what the analysis makes of the frames is not its business.
A frame whose record began in an earlier chunk was not whole there, so the analysis has not
taken it yet: the cut is then at the chunk's start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from cmppdissect.core import FrameReader

__all__ = ["QUIET_STEPS", "CaptureTicks"]

_ROOM: Final = 1 << 62

QUIET_STEPS: Final = 1000
"""The most steps one stretch of capture time without frames passes one by one (each its own
tick); the rest of the stretch passes at once, as one tick at its last step. A quiet hour
at a step of a minute ticks 60 times; a frame stamped decades off (a clock that was wrong,
a damaged record) would otherwise tick millions of times, each a report like the last."""


class CaptureTicks:
    """Cuts a capture's chunks at every ``every_ns`` of capture time after its first frame,
    calling ``on_tick(number, step_ns)`` between the pieces (numbers count from 1)."""

    def __init__(self, every_ns: int, on_tick: Callable[[int, int], None]) -> None:
        if every_ns < 1:
            raise ValueError("a step of capture time is at least 1 ns")
        self.every_ns = every_ns
        self.on_tick = on_tick
        self.count = 0
        self.next_ns: int | None = None  # the next step (None before the first frame)
        self._reader = FrameReader(None, lambda _iface: (0, b""))
        self._fed = 0

    def cut(self, chunk: bytes) -> Iterator[bytes]:
        """The pieces of ``chunk``, with the ticks of the steps between them."""
        reader = self._reader
        base = self._fed
        reader.feed(chunk)
        self._fed += len(chunk)
        at = 0  # bytes of the chunk handed out
        while reader.ready:
            if self.next_ns is None:
                self.next_ns = reader.ts + self.every_ns
            reader.blocks(self.next_ns, False, _ROOM, None)  # the frames before the step
            if not reader.ready:
                break
            frame = reader.frame()  # the first at or past the step: its record starts here
            start = max(at, frame[0] - base) if frame is not None else at
            if start > at:
                yield chunk[at:start]
                at = start
            passed = 0
            while reader.ts >= self.next_ns:
                if passed == QUIET_STEPS:  # the rest of a long quiet stretch at once
                    self.next_ns += (reader.ts - self.next_ns) // self.every_ns * self.every_ns
                self.count += 1
                self.on_tick(self.count, self.next_ns)
                self.next_ns += self.every_ns
                passed += 1
        if at < len(chunk):
            yield chunk[at:] if at else chunk
