"""The simulated ISMG as an asyncio TCP server; real SPs and the simulated one can log in.

Usage from Python (port 0 picks a free port)::

    async with IsmgServer(IsmgConfig(accounts={"901234": "secret"})) as server:
        host, port = await server.start("127.0.0.1", 0)
        ...
    server.log  # a SimLog: one ConnectionLog per SP connection
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from types import TracebackType

from cmppdissect.options import format_hostport
from cmppdissect.sim.endpoint import Clock
from cmppdissect.sim.errors import SimError, os_reason
from cmppdissect.sim.ismg import IsmgConfig, IsmgSession, IsmgState
from cmppdissect.sim.log import DEFAULT_MAX_EVENTS, SimLog
from cmppdissect.sim.transport import drive


class IsmgServer:
    """Accepts SP connections and runs an :class:`IsmgSession` on each."""

    def __init__(self, config: IsmgConfig | None = None, *, keep_bytes: bool = False,
                 max_events: int = DEFAULT_MAX_EVENTS, clock: Clock = datetime.now) -> None:
        self.config = config or IsmgConfig()
        self.log = SimLog("ismg", keep_bytes=keep_bytes, max_events=max_events)
        self.state = IsmgState(self.config, clock=clock)
        self.sessions: list[IsmgSession] = []
        self._server: asyncio.Server | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self.address: tuple[str, int] | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen; returns the bound address (the real port when ``port`` is 0)."""
        self._stop = asyncio.Event()
        try:
            self._server = await asyncio.start_server(self._accept, host, port)
        except OSError as exc:
            raise SimError(f"cannot listen on {format_hostport(host, port)}: "
                           f"{os_reason(exc)}") from None
        sockname = self._server.sockets[0].getsockname()
        self.address = (str(sockname[0]), int(sockname[1]))
        return self.address

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        session = IsmgSession(self.state, self.log.new_connection())
        self.sessions.append(session)
        try:
            await drive(session, reader, writer, stop=self._stop)
        except Exception as exc:  # a bug must not take the other sessions down with it
            self.log.errors.append(f"session {session.log.peer}: {type(exc).__name__}: {exc}")
        finally:
            if task is not None:
                self._tasks.discard(task)
            self.sessions.remove(session)  # its log stays in self.log

    @property
    def active(self) -> int:
        """Sessions connected right now."""
        return len(self.sessions)

    async def stop(self, grace: float = 3.0) -> None:
        """Stop listening, TERMINATE every session, wait up to ``grace`` seconds for them."""
        if self._server is None:
            return
        self._server.close()
        if self._stop is not None:
            self._stop.set()
        tasks = set(self._tasks)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> IsmgServer:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()
