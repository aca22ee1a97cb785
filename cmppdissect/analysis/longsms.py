"""Joining long (concatenated) SMS from their parts by the UDH (sans-IO).

An SP sends a long message as several SUBMITs whose User Data Headers share a reference and a
part count (reference §7.5); a handset's long MO arrives the same way in DELIVERs. The parts may
travel on different connections of the same SP, so they are keyed by who sent them to whom, not
by session. A message is complete when every part number from 1 to the total has been seen; one
that is still missing parts when it times out or the capture ends is reported with the part
numbers that never came, which is what an engineer chasing "the customer got half an SMS" needs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

from cmppdissect.protocol.content import decode_content


@dataclass(frozen=True, slots=True)
class Part:
    frame: int
    ts_ns: int
    Msg_Fmt: int
    payload: bytes
    text: str | None


@dataclass(slots=True)
class LongSms:
    """A message being assembled, or assembled."""

    command: str
    sender: str
    recipients: tuple[str, ...]
    reference: int
    total: int
    parts: dict[int, Part] = field(default_factory=dict)
    duplicates: int = 0

    @property
    def frames(self) -> list[int]:
        return [self.parts[n].frame for n in sorted(self.parts)]

    @property
    def missing(self) -> list[int]:
        return [n for n in range(1, self.total + 1) if n not in self.parts]

    @property
    def first_frame(self) -> int:
        return min(p.frame for p in self.parts.values())

    def text(self) -> str | None:
        """The whole message. Payloads are joined before decoding when the parts agree on
        Msg_Fmt, because a UCS2 or GBK character may be split across two parts."""
        parts = [self.parts[n] for n in sorted(self.parts)]
        formats = {p.Msg_Fmt for p in parts}
        if len(formats) == 1:
            joined = decode_content(b"".join(p.payload for p in parts), formats.pop(), 0)
            if joined.text is not None:
                return joined.text
        texts = [p.text for p in parts]
        return None if any(t is None for t in texts) else "".join(t or "" for t in texts)

    def describe(self) -> str:
        to = ",".join(self.recipients[:3]) + ("..." if len(self.recipients) > 3 else "")
        return f"long SMS ref {self.reference} ({self.total} parts) from {self.sender} to {to}"


class Joiner:
    """Parts in, complete messages out; incomplete ones come out of :meth:`expire`/:meth:`drain`.

    At most ``max_pending`` messages are assembled at once (the oldest is given up past that,
    and counted in ``evicted``), so a flood of unmatched parts cannot grow memory.
    """

    def __init__(self, *, max_pending: int = 50_000) -> None:
        self._pending: OrderedDict[Hashable, tuple[int, LongSms]] = OrderedDict()
        self.max_pending = max_pending
        self.complete = 0
        self.incomplete = 0
        self.evicted = 0
        self.parts = 0

    def add(self, command: str, sender: str, recipients: tuple[str, ...], reference: int,
            total: int, part_no: int, part: Part) -> tuple[LongSms | None, LongSms | None]:
        """Returns (the message this part completed, a message given up to make room)."""
        self.parts += 1
        key = (command, sender, recipients, reference, total)
        entry = self._pending.get(key)
        given_up = None
        if entry is None:
            if len(self._pending) >= self.max_pending:
                _, (_, given_up) = self._pending.popitem(last=False)
                self.evicted += 1
                self.incomplete += 1
            msg = LongSms(command, sender, recipients, reference, total)
            self._pending[key] = (part.ts_ns, msg)
        else:
            msg = entry[1]
        if part_no in msg.parts:
            msg.duplicates += 1
            return None, given_up
        msg.parts[part_no] = part
        if len(msg.parts) == total:
            del self._pending[key]
            self.complete += 1
            return msg, given_up
        return None, given_up

    def expire(self, now_ns: int, timeout_ns: int) -> list[LongSms]:
        """Messages whose first part is older than the timeout (oldest first, stops early)."""
        out: list[LongSms] = []
        while self._pending:
            key, (first_ts, msg) = next(iter(self._pending.items()))
            if now_ns - first_ts < timeout_ns:
                break
            del self._pending[key]
            self.incomplete += 1
            out.append(msg)
        return out

    def drain(self) -> list[LongSms]:
        out = [msg for _, msg in self._pending.values()]
        self.incomplete += len(out)
        self._pending.clear()
        return out

    def __len__(self) -> int:
        return len(self._pending)
