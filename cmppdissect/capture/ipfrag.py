"""IPv4 fragment reassembly, sans-IO.

CMPP itself never needs fragmentation, but a gateway behind a small-MTU tunnel does produce
fragmented TCP segments, and dropping them would turn into stream gaps that are not real.
The reassembler only sees fragment payloads with their offsets; it never looks at frames or
files, so it can be tested with plain bytes and kept in bounded memory whatever the input.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

# The IP total length field caps a datagram at 65535 bytes including a 20-byte header.
MAX_DATAGRAM: int = 65535 - 20
# A 64 KiB datagram over the smallest legal IPv4 MTU (68) needs about 1400 fragments; more than
# this is hostile input, and refusing it keeps the completion check from going quadratic.
MAX_PIECES: int = 1500

FragKey = tuple[bytes, bytes, int, int]  # (src, dst, protocol, identification)


@dataclass(slots=True)
class _Pending:
    pieces: list[tuple[int, bytes]] = field(default_factory=list)
    size: int = 0  # bytes held, for the memory bound
    total: int = -1  # payload length, known once the last fragment (MF=0) arrived
    first_ts_ns: int = 0


class Ipv4Reassembler:
    """Collects fragments per (src, dst, protocol, id) and returns the payload once complete.

    Memory is bounded by ``max_datagrams`` pending datagrams and ``max_bytes`` held in total;
    past either bound, or when a datagram is older than ``timeout_ns`` of capture time, the
    oldest pending datagram is dropped and counted in :attr:`dropped` (the missing segment then
    shows up as a TCP gap, which is the truth about what was captured).
    Overlapping fragments keep the bytes of the fragment with the lower offset, which is also
    what most stacks do and keeps the rule independent of arrival order.
    """

    def __init__(
        self,
        *,
        max_datagrams: int = 1024,
        max_bytes: int = 8 << 20,
        timeout_ns: int = 60_000_000_000,
    ) -> None:
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.timeout_ns = timeout_ns
        self._pending: OrderedDict[FragKey, _Pending] = OrderedDict()
        self._held = 0
        self.completed = 0
        self.dropped = 0
        self.malformed = 0

    def __len__(self) -> int:
        return len(self._pending)

    def add(
        self, key: FragKey, offset: int, more: bool, data: bytes, ts_ns: int
    ) -> bytes | None:
        """Add one fragment's payload; return the whole upper-layer payload when it completes."""
        end = offset + len(data)
        if end > MAX_DATAGRAM or (more and len(data) % 8):
            # Only the last fragment may have a length that is not a multiple of 8.
            self.malformed += 1
            return None
        self._expire(ts_ns)
        pend = self._pending.get(key)
        if pend is None:
            pend = _Pending(first_ts_ns=ts_ns)
            self._pending[key] = pend
        if not more:
            if pend.total >= 0 and pend.total != end:
                # Two different "last" fragments: the datagram cannot be trusted.
                self._drop(key, malformed=True)
                return None
            pend.total = end
        if len(pend.pieces) >= MAX_PIECES:
            self._drop(key, malformed=True)
            return None
        pend.pieces.append((offset, data))
        pend.size += len(data)
        self._held += len(data)
        # Sorting the pieces is only worth it once they could possibly cover the datagram.
        result = self._try_complete(key, pend) if 0 <= pend.total <= pend.size else None
        if result is None:
            self._enforce_bounds(key)
        return result

    def flush(self) -> int:
        """Forget every incomplete datagram (end of capture); return how many there were."""
        count = len(self._pending)
        self.dropped += count
        self._pending.clear()
        self._held = 0
        return count

    def _try_complete(self, key: FragKey, pend: _Pending) -> bytes | None:
        covered = 0
        for off, data in sorted(pend.pieces, key=lambda p: p[0]):
            if off > covered:
                return None  # a hole remains
            covered = max(covered, off + len(data))
        if covered < pend.total:
            return None
        out = bytearray(pend.total)
        pos = 0
        for off, data in sorted(pend.pieces, key=lambda p: p[0]):
            if off + len(data) <= pos:
                continue
            skip = pos - off if off < pos else 0
            chunk = data[skip : pend.total - off]
            out[off + skip : off + skip + len(chunk)] = chunk
            pos = off + skip + len(chunk)
        del self._pending[key]
        self._held -= pend.size
        self.completed += 1
        return bytes(out)

    def _drop(self, key: FragKey, *, malformed: bool = False) -> None:
        pend = self._pending.pop(key)
        self._held -= pend.size
        if malformed:
            self.malformed += 1
        else:
            self.dropped += 1

    def _expire(self, now_ns: int) -> None:
        while self._pending:
            key, pend = next(iter(self._pending.items()))
            if now_ns - pend.first_ts_ns <= self.timeout_ns:
                break
            self._drop(key)

    def _enforce_bounds(self, newest: FragKey) -> None:
        while self._pending and (
            len(self._pending) > self.max_datagrams or self._held > self.max_bytes
        ):
            oldest = next(iter(self._pending))
            self._drop(oldest)
            if oldest == newest:
                break
