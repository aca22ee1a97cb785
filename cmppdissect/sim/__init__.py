"""A CMPP 2.0/3.0 simulator: an ISMG server and an SP client over real TCP.

The protocol logic is sans-IO (:class:`SpSession`, :class:`IsmgSession`, both built on
:class:`Connection`): bytes and the time go in, bytes to write come out, so tests can drive
it without sockets. :class:`IsmgServer` and :class:`SpClient` wrap it in asyncio, and every
side keeps a :class:`SimLog` of what it wrote and read, for comparison with what the analyzer
makes of a capture. It imports neither Scapy nor Textual.

    async with IsmgServer(IsmgConfig(accounts={"901234": "secret"})) as server:
        host, port = await server.start("127.0.0.1", 0)
        log = await SpClient(SpConfig("901234", "secret", count=10)).run(host, port)
"""

from __future__ import annotations

from cmppdissect.sim.behaviour import Behaviour, Faults
from cmppdissect.sim.client import SpClient
from cmppdissect.sim.connection import Connection
from cmppdissect.sim.endpoint import Action, Close, Endpoint, State, Write
from cmppdissect.sim.errors import SimError
from cmppdissect.sim.ismg import IsmgConfig, IsmgSession, IsmgState
from cmppdissect.sim.log import ConnectionLog, Pair, PduEvent, SimLog
from cmppdissect.sim.messages import MessageMix
from cmppdissect.sim.server import IsmgServer
from cmppdissect.sim.sp import SpConfig, SpSession

__all__ = [
    "Action", "Behaviour", "Close", "Connection", "ConnectionLog", "Endpoint", "Faults",
    "IsmgConfig", "IsmgServer", "IsmgSession", "IsmgState", "MessageMix", "Pair", "PduEvent",
    "SimError", "SimLog", "SpClient", "SpConfig", "SpSession", "State", "Write",
]
