"""The simulated SP as an asyncio TCP client; it can talk to the simulated ISMG or a real one.

Usage from Python::

    client = SpClient(SpConfig(sp_id="901234", secret="secret", count=100, rate=50))
    log = await client.run("127.0.0.1", 7890)   # returns when the session has ended
    log.sent_by_name(), log.pairs, log.reports_received
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from cmppdissect.options import format_hostport
from cmppdissect.sim.endpoint import Clock
from cmppdissect.sim.errors import SimError, os_reason
from cmppdissect.sim.log import DEFAULT_MAX_EVENTS, ConnectionLog, SimLog
from cmppdissect.sim.sp import SpConfig, SpSession
from cmppdissect.sim.transport import drive


class SpClient:
    """One SP connection; :meth:`run` may be called again for another connection."""

    def __init__(self, config: SpConfig, *, keep_bytes: bool = False,
                 max_events: int = DEFAULT_MAX_EVENTS, clock: Clock = datetime.now) -> None:
        self.config = config
        self.clock = clock
        self.log = SimLog("sp", keep_bytes=keep_bytes, max_events=max_events)
        self.session: SpSession | None = None

    async def run(self, host: str, port: int, *, stop: asyncio.Event | None = None,
                  connect_timeout: float = 10.0) -> ConnectionLog:
        """Connect, run the session to its end, and return its log.

        Raises :class:`SimError` when the TCP connection cannot be made.
        """
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                                    connect_timeout)
        except TimeoutError:
            raise SimError(f"cannot connect to {format_hostport(host, port)}: timed out") from None
        except OSError as exc:
            raise SimError(f"cannot connect to {format_hostport(host, port)}: "
                           f"{os_reason(exc)}") from None
        session = SpSession(self.config, self.log.new_connection(), clock=self.clock)
        self.session = session
        await drive(session, reader, writer, stop=stop)
        return session.log
