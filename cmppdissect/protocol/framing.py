"""Cut one direction of a TCP stream into CMPP PDUs, resynchronising after damage.

Sans-IO, after h2's FrameBuffer: ``feed()`` bytes as they arrive, get back complete PDUs and
reports of skipped bytes. A PDU carries the frame that completed it, since that is when the
receiver could act on it. After a capture gap, a capture that starts mid-stream, or a sender
whose Total_Length lies (reference D13), the framer scans for the next *plausible* header: a
known Command_Id with a Total_Length that the command's layouts allow.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from cmppdissect.protocol.commands import HEADER_LEN, KNOWN_COMMANDS, MAX_PDU_LEN
from cmppdissect.protocol.decode import PLAN_FOR
from cmppdissect.protocol.layouts import VERSIONED_COMMANDS, Kind
from cmppdissect.protocol.version import Version

_HEADER = struct.Struct(">II")


class FramedPdu(NamedTuple):
    """One complete PDU's bytes.

    A named tuple rather than a frozen dataclass: one is built per PDU, and a frozen
    dataclass's ``__init__`` costs about 0.5 µs against 0.2 µs here (measured, 4 fields).
    """

    data: bytes
    frame: int  # the frame that completed the PDU
    ts_ns: int
    first_frame: int  # the frame its first byte came in


@dataclass(frozen=True, slots=True)
class Skipped:
    """Bytes that are not part of any PDU: why, and where the framer picked up again."""

    size: int
    frame: int
    ts_ns: int
    reason: str


Event = FramedPdu | Skipped


def _length_table() -> dict[int, tuple[frozenset[int], int]]:
    """Per command: the exact totals its fixed layouts allow, and the least total otherwise."""
    table: dict[int, tuple[frozenset[int], int]] = {}
    for cmd in KNOWN_COMMANDS:
        exact: set[int] = set()
        least = MAX_PDU_LEN
        for v in Version:
            plan = PLAN_FOR[(cmd, v)]
            if plan.fixed is not None:
                exact |= {HEADER_LEN + plan.fixed, HEADER_LEN + plan.fixed - plan.tail}
            else:
                # No recipients is illegal but still a PDU to show (DestUsr_tl 0): the
                # least total counts no array element and no optional tail.
                minimum = sum(f.size for f in plan.layout.fields
                              if f.kind is not Kind.STR_ARRAY) - plan.tail
                least = min(least, HEADER_LEN + minimum)
        table[cmd] = (frozenset(exact), least)
    return table


LENGTHS = _length_table()


# _scan's shortcut relies on this; a new command outside it would need the shortcut changed.
assert all((cmd >> 8) & 0xFFFF == 0 for cmd in KNOWN_COMMANDS)


def plausible_header(total: int, command_id: int) -> bool:
    """Could a PDU with this Total_Length and Command_Id exist? (used to resynchronise)

    :meth:`PduFramer._take_whole` and the fast lane's framing loop
    (:mod:`cmppdissect.capture.columnar`) repeat this test inline for speed: change all three
    together.
    """
    entry = LENGTHS.get(command_id)
    if entry is None or total > MAX_PDU_LEN:
        return False
    exact, least = entry
    return total in exact or (not exact and total >= least)


def plausible_pdu(pdu: bytes) -> bool:
    """A complete candidate PDU whose body one of its layouts explains byte for byte."""
    total, cmd = _HEADER.unpack_from(pdu, 0)
    if not plausible_header(total, cmd):
        return False
    if cmd not in VERSIONED_COMMANDS or PLAN_FOR[(cmd, Version.V2_0)].fixed is not None:
        return True
    body = pdu[HEADER_LEN:total]
    for v in Version:
        plan = PLAN_FOR[(cmd, v)]
        need = plan.measure(body)
        if need is not None and len(body) in (need, need - plan.tail):
            return True
    return False


class PduFramer:
    """One direction of one connection. ``synced`` is False until a plausible header is seen."""

    def __init__(self, *, synced: bool = True) -> None:
        self._buf = bytearray()
        self._first_frame = 0
        self.synced = synced
        self._why = "capture starts mid-stream"  # reason used if we start unsynced
        self.skipped_bytes = 0

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes, frame: int, ts_ns: int) -> list[Event]:
        out: list[Event] = []
        if not data:
            return out
        if not self._buf and self.synced:
            # Fast path: whole PDUs at the start of the segment, no copy into the buffer.
            off = self._take_whole(data, frame, ts_ns, out)
            if off == len(data):
                return out
            data = data[off:]
        if not self._buf:
            self._first_frame = frame
        self._buf += data
        self._drain(frame, ts_ns, out)
        return out

    def _take_whole(self, data: bytes, frame: int, ts_ns: int, out: list[Event]) -> int:
        off = 0
        n = len(data)
        header = _HEADER.unpack_from
        lengths = LENGTHS
        while n - off >= 8:
            total, cmd = header(data, off)
            if off + total > n or total < HEADER_LEN:
                break
            # plausible_header() inlined: this loop runs once per PDU of the capture.
            entry = lengths.get(cmd)
            if entry is None or total > MAX_PDU_LEN:
                break
            exact, least = entry
            if total not in exact and (exact or total < least):
                break
            out.append(FramedPdu(data[off:off + total], frame, ts_ns, frame))
            off += total
        return off

    def _drain(self, frame: int, ts_ns: int, out: list[Event]) -> None:
        buf = self._buf
        pos = 0
        while True:
            n = len(buf) - pos
            if not self.synced:
                found = self._scan(buf, pos)
                if found is None:
                    # Keep the last bytes: a header may start in them.
                    keep = max(pos, len(buf) - (HEADER_LEN - 1))
                    if keep > pos:
                        out.append(Skipped(keep - pos, frame, ts_ns, self._why))
                        self.skipped_bytes += keep - pos
                    pos = keep
                    break
                if found > pos:
                    out.append(Skipped(found - pos, frame, ts_ns, self._why))
                    self.skipped_bytes += found - pos
                pos = found
                if len(buf) - found < _HEADER.unpack_from(buf, found)[0]:
                    # A candidate still incomplete: stay unsynced until it can be checked
                    # whole, or how the stream was cut would decide what is a PDU.
                    break
                self.synced = True
                continue
            if n < 8:
                break
            total, cmd = _HEADER.unpack_from(buf, pos)
            if not plausible_header(total, cmd):
                self.synced = False
                self._why = (f"no CMPP header here (Total_Length {total}, Command_Id "
                             f"0x{cmd:08X}); skipped to the next plausible header")
                continue
            if n < total:
                break
            out.append(FramedPdu(bytes(buf[pos:pos + total]), frame, ts_ns, self._first_frame))
            self._first_frame = frame
            pos += total
        if pos:
            del buf[:pos]
        if buf:
            self._first_frame = self._first_frame or frame

    @staticmethod
    def _scan(buf: bytearray, pos: int) -> int | None:
        """Offset of the next plausible PDU start, or None (a complete one when we can tell)."""
        end = len(buf)
        i = pos
        while end - i >= 8:
            # Every known Command_Id has zero middle bytes (0x000000xx, 0x800000xx), so a
            # header can only start 5 bytes before a pair of NULs: bytes.find skips the rest
            # in C instead of testing each offset in Python (junk costs ns per byte, not µs).
            j = buf.find(b"\x00\x00", i + 5, end - 1)
            if j < 0:
                return None
            i = j - 5
            total, cmd = _HEADER.unpack_from(buf, i)
            if plausible_header(total, cmd):
                if end - i < total:
                    return i  # looks right and is not complete yet: wait for the rest
                if plausible_pdu(bytes(buf[i:i + total])):
                    return i
            i += 1
        return None

    def gap(self, missing: int, frame: int, ts_ns: int) -> list[Skipped]:
        """Bytes were lost: drop the partial PDU and look for the next header."""
        out: list[Skipped] = []
        if self._buf:
            out.append(Skipped(len(self._buf), frame, ts_ns,
                               f"partial PDU lost to a capture gap of {missing} bytes"))
            self.skipped_bytes += len(self._buf)
            self._buf.clear()
        self.synced = False
        self._why = f"resynchronising after a capture gap of {missing} bytes"
        return out

    def close(self, frame: int, ts_ns: int) -> list[Skipped]:
        """End of stream: what is left is an incomplete PDU."""
        out: list[Skipped] = []
        if self._buf:
            out.append(Skipped(len(self._buf), frame, ts_ns,
                               "stream ended inside a PDU" if self.synced else self._why))
            self.skipped_bytes += len(self._buf)
            self._buf.clear()
        return out
