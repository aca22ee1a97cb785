"""Linking requests to their responses for readers that look back (sans-IO).

The engine emits a request the moment it completes, long before its response exists, so a
request record cannot carry its latency when it is emitted. A display filter such as
``command == "CMPP_SUBMIT" and latency_ms > 100`` needs exactly that. :class:`ResponseLinker`
holds records, in capture order, until each request has its response or has timed out, and fills
in ``response_frame`` and ``latency_ns`` on the request: what Wireshark's second pass does, in a
window bounded by the timeout and by ``max_held`` records.
"""

from __future__ import annotations

from collections import deque

from cmppdissect.analysis.engine import PduRecord
from cmppdissect.protocol.commands import command_name, is_response, request_of

Key = tuple[int, int, int, int]  # session, request frame, request Command_Id, Sequence_Id


def request_key(rec: PduRecord) -> Key | None:
    """The key a request is filed under, and the key its response looks for; None otherwise."""
    cmd = rec.pdu.Command_Id
    if not is_response(cmd):
        if command_name(cmd).startswith("CMPP_"):  # not an unknown Command_Id
            return (rec.session, rec.frame, cmd, rec.pdu.Sequence_Id)
        return None
    if rec.request_frame is None:
        return None
    return (rec.session, rec.request_frame, request_of(cmd), rec.pdu.Sequence_Id)


class ResponseLinker:
    """Records in, the same records out in the same order, requests linked to responses."""

    def __init__(self, timeout_ns: int, *, max_held: int = 200_000) -> None:
        self.timeout_ns = timeout_ns
        self.max_held = max_held
        self._queue: deque[PduRecord] = deque()
        self._open: dict[Key, PduRecord] = {}

    def push(self, rec: PduRecord) -> list[PduRecord]:
        key = request_key(rec)
        if key is not None:
            if rec.request_frame is None:
                self._open[key] = rec
            else:
                req = self._open.pop(key, None)
                if req is not None:
                    req.response_frame, req.latency_ns = rec.frame, rec.latency_ns
        self._queue.append(rec)
        return self._release(rec.ts_ns)

    def _release(self, now_ns: int) -> list[PduRecord]:
        out: list[PduRecord] = []
        queue, open_ = self._queue, self._open
        while queue:
            head = queue[0]
            key = request_key(head) if head.request_frame is None else None
            waiting = key is not None and key in open_
            if waiting and now_ns - head.ts_ns < self.timeout_ns and len(queue) <= self.max_held:
                break
            queue.popleft()
            if waiting and key is not None:
                del open_[key]
            out.append(head)
        return out

    def flush(self) -> list[PduRecord]:
        out = list(self._queue)
        self._queue.clear()
        self._open.clear()
        return out

    def __len__(self) -> int:
        return len(self._queue)
