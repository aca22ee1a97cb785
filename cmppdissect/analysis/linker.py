"""Linking requests to their responses for readers that look back (sans-IO).

The engine emits a request the moment it completes, long before its response exists, so a
request record cannot carry its latency when it is emitted. A display filter such as
``command == "CMPP_SUBMIT" and latency_ms > 100`` needs exactly that. :class:`ResponseLinker`
holds records, in capture order, until each request has its response or has timed out, and fills
in ``response_frame`` and ``latency_ns`` on the request: what Wireshark's second pass does, in a
window bounded by the timeout and by ``max_held`` records. A request that times out gets an
``unanswered`` finding, so ``expert.code == "unanswered"`` finds it.

Requests are keyed as the engine pairs them: session, direction, Command_Id and Sequence_Id.
A request resent with the same Sequence_Id while the first is in flight is answered by the same
response, so every copy is linked to it (each with its own latency).
"""

from __future__ import annotations

from collections import deque

from cmppdissect.analysis.engine import PduRecord
from cmppdissect.protocol.commands import command_name, is_response, request_of
from cmppdissect.protocol.expert import Finding, Severity

Key = tuple[int, bool, int, int]  # session, request sent by the client, request Command_Id, seq


def request_key(rec: PduRecord) -> Key | None:
    """The key a request is filed under, or that a paired response looks for; else None."""
    cmd = rec.pdu.Command_Id
    if not is_response(cmd):
        if command_name(cmd).startswith("CMPP_"):  # not an unknown Command_Id
            return (rec.session, rec.from_client, cmd, rec.pdu.Sequence_Id)
        return None
    if rec.request_frame is None:
        return None
    return (rec.session, not rec.from_client, request_of(cmd), rec.pdu.Sequence_Id)


def unanswered(rec: PduRecord) -> None:
    """Mark a request that timed out (or was still open at the end) on the record itself."""
    rec.expert.append(Finding(Severity.WARN, "unanswered",
                              f"{rec.command} Sequence_Id {rec.pdu.Sequence_Id} got no response"))


class ResponseLinker:
    """Records in, the same records out in the same order, requests linked to responses."""

    def __init__(self, timeout_ns: int, *, max_held: int = 200_000) -> None:
        self.timeout_ns = timeout_ns
        self.max_held = max_held
        self._queue: deque[PduRecord] = deque()
        self._open: dict[Key, list[PduRecord]] = {}

    def push(self, rec: PduRecord) -> list[PduRecord]:
        key = request_key(rec)
        if key is not None:
            if rec.request_frame is None:
                self._open.setdefault(key, []).append(rec)
            else:
                for req in self._open.pop(key, ()):
                    req.response_frame, req.latency_ns = rec.frame, rec.ts_ns - req.ts_ns
        self._queue.append(rec)
        return self._release(rec.ts_ns)

    def _release(self, now_ns: int) -> list[PduRecord]:
        out: list[PduRecord] = []
        queue = self._queue
        while queue:
            head = queue[0]
            if self._waiting(head):
                if now_ns - head.ts_ns < self.timeout_ns and len(queue) <= self.max_held:
                    break
                self._forget(head)
                unanswered(head)
            queue.popleft()
            out.append(head)
        return out

    def _waiting(self, rec: PduRecord) -> bool:
        if rec.request_frame is not None or rec.response_frame is not None:
            return False
        key = request_key(rec)
        return key is not None and any(r is rec for r in self._open.get(key, ()))

    def _forget(self, rec: PduRecord) -> None:
        key = request_key(rec)
        if key is None:
            return
        left = [r for r in self._open.get(key, ()) if r is not rec]
        if left:
            self._open[key] = left
        else:
            self._open.pop(key, None)

    def flush(self) -> list[PduRecord]:
        """The end of the capture: what is still open was never answered."""
        out = list(self._queue)
        for rec in out:
            if self._waiting(rec):
                unanswered(rec)
        self._queue.clear()
        self._open.clear()
        return out

    def __len__(self) -> int:
        return len(self._queue)
