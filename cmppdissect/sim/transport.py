"""The thin asyncio loop around a sans-IO session: read, write, sleep until the next deadline.

One loop per connection, and it is the only writer, so a PDU written in chunks (with pauses
between them, to make captures show split headers) can never be interleaved with another.
TCP_NODELAY is set so each chunk leaves as its own segment instead of waiting for Nagle.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import time
from collections.abc import Sequence
from typing import Any

from cmppdissect.sim.endpoint import Action, Close, Endpoint, Write

READ_SIZE = 65536


def _address(value: Any) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return None


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Wire:
    """Writes actions to the stream; chunks PDUs when the session's behaviour says so."""

    def __init__(self, endpoint: Endpoint, writer: asyncio.StreamWriter) -> None:
        self.endpoint = endpoint
        self.writer = writer
        self.chunk = endpoint.behaviour.chunk
        self.gap = endpoint.behaviour.chunk_gap

    async def apply(self, actions: Sequence[Action]) -> None:
        """Write the actions' PDUs, and log as sent those that reached the socket."""
        if not actions:
            return
        writer = self.writer
        transport = writer.transport
        if not self.chunk:
            # One write (one send() at most) for all PDUs of this batch: at thousands of
            # PDUs per second the system calls, not the encoding, would cost the most.
            writes = [a for a in actions if isinstance(a, Write)]
            if not writes:
                await writer.drain()
                return
            if transport.is_closing():  # reset or closed: nothing of this batch goes out
                raise ConnectionResetError(errno.ECONNRESET, "connection closed")
            data = b"".join(w.data for w in writes)
            queued = transport.get_write_buffer_size()
            writer.write(data)
            # What the kernel did not take at once waits in the transport's buffer; if the
            # connection fails before it drains, those bytes (the batch's last) never left.
            behind = max(0, transport.get_write_buffer_size() - queued)
            try:
                await writer.drain()
            except OSError:
                self._log_sent(writes, len(data) - behind)
                raise
            self._log_sent(writes, len(data))
        else:
            for action in actions:
                if isinstance(action, Close):
                    break
                if transport.is_closing():
                    raise ConnectionResetError(errno.ECONNRESET, "connection closed")
                await self._chunked(action.data)
                await writer.drain()
                self.endpoint.sent(action)
            await writer.drain()

    def _log_sent(self, writes: Sequence[Write], reached: int) -> None:
        """Log the writes whose every byte is within the first ``reached`` of the batch."""
        end = 0
        for write in writes:
            end += len(write.data)
            if end > reached:
                break
            self.endpoint.sent(write)

    async def _chunked(self, data: bytes) -> None:
        if len(data) <= self.chunk:
            self.writer.write(data)
            return
        self.endpoint.log.faults["chunked"] += 1
        for i in range(0, len(data), self.chunk):
            self.writer.write(data[i:i + self.chunk])
            await asyncio.sleep(self.gap)


async def drive(endpoint: Endpoint, reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter, *, stop: asyncio.Event | None = None) -> None:
    """Run ``endpoint`` over one TCP connection until it closes, the peer leaves, or ``stop``.

    When ``stop`` is set the session is asked to end politely (TERMINATE and its response);
    connection errors end the session with the error as its close reason, never an exception.
    """
    _nodelay(writer)
    log = endpoint.log
    log.local = _address(writer.get_extra_info("sockname"))
    log.peer = _address(writer.get_extra_info("peername"))
    clock = time.monotonic
    wire = _Wire(endpoint, writer)
    read_task: asyncio.Task[bytes] | None = None
    stop_task: asyncio.Task[Any] | None = (
        asyncio.ensure_future(stop.wait()) if stop is not None else None)
    try:
        await wire.apply(endpoint.start(clock()))
        while not endpoint.closed:
            if read_task is None:
                read_task = asyncio.ensure_future(reader.read(READ_SIZE))
            waiting: set[asyncio.Future[Any]] = {read_task}
            if stop_task is not None:
                waiting.add(stop_task)
            deadline = endpoint.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - clock())
            done, _pending = await asyncio.wait(waiting, timeout=timeout,
                                                return_when=asyncio.FIRST_COMPLETED)
            if read_task in done:
                data = read_task.result()
                read_task = None
                if not data:
                    endpoint.connection_lost(clock(), "peer closed the connection")
                    break
                await wire.apply(endpoint.receive(data, clock()))
            if stop_task is not None and stop_task in done:
                stop_task = None
                await wire.apply(endpoint.stop(clock()))
            await wire.apply(endpoint.handle_timer(clock()))
    except OSError as exc:  # ConnectionResetError, BrokenPipeError, ...
        endpoint.connection_lost(clock(), f"connection error: {exc.strerror or exc}")
    finally:
        for task in (read_task, stop_task):
            if task is None:
                continue
            if task.done() and not task.cancelled():
                task.exception()  # retrieved, so asyncio does not warn about it
            task.cancel()
        endpoint.connection_lost(clock(), "closed")
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


__all__ = ["Close", "Write", "drive"]
