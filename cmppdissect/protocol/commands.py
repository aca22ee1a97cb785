"""Command_Id values (reference §3), ports (§9) and the request/response identity.

The pair key is defined here once; Scapy's ``hashret``/``answers`` and the engine's
pairing both use it, so the two can never disagree about what answers what.
"""

from __future__ import annotations

from enum import IntEnum

HEADER_LEN = 12
RESPONSE_BIT = 0x80000000
# Largest legal PDU is a 100-recipient 3.0 SUBMIT of 3523 bytes (reference §6, D12). FWD and
# SUBMIT with DestUsr_tl up to 255 and Msg_Length 255 stay below this bound too.
MAX_PDU_LEN = 12 + 151 + 32 * 255 + 255 + 1

DEFAULT_PORTS: tuple[int, ...] = (7890, 7900, 7930, 9168)
# The sliding window W of reference §9: requests a side may have unanswered on one connection.
WINDOW = 16


class CommandId(IntEnum):
    CMPP_CONNECT = 0x00000001
    CMPP_CONNECT_RESP = 0x80000001
    CMPP_TERMINATE = 0x00000002
    CMPP_TERMINATE_RESP = 0x80000002
    CMPP_SUBMIT = 0x00000004
    CMPP_SUBMIT_RESP = 0x80000004
    CMPP_DELIVER = 0x00000005
    CMPP_DELIVER_RESP = 0x80000005
    CMPP_QUERY = 0x00000006
    CMPP_QUERY_RESP = 0x80000006
    CMPP_CANCEL = 0x00000007
    CMPP_CANCEL_RESP = 0x80000007
    CMPP_ACTIVE_TEST = 0x00000008
    CMPP_ACTIVE_TEST_RESP = 0x80000008
    CMPP_FWD = 0x00000009
    CMPP_FWD_RESP = 0x80000009
    CMPP_MT_ROUTE = 0x00000010
    CMPP_MT_ROUTE_RESP = 0x80000010
    CMPP_MO_ROUTE = 0x00000011
    CMPP_MO_ROUTE_RESP = 0x80000011
    CMPP_GET_MT_ROUTE = 0x00000012  # 2.0 tables call it CMPP_GET_ROUTE (reference D8)
    CMPP_GET_MT_ROUTE_RESP = 0x80000012
    CMPP_MT_ROUTE_UPDATE = 0x00000013
    CMPP_MT_ROUTE_UPDATE_RESP = 0x80000013
    CMPP_MO_ROUTE_UPDATE = 0x00000014
    CMPP_MO_ROUTE_UPDATE_RESP = 0x80000014
    CMPP_PUSH_MT_ROUTE_UPDATE = 0x00000015
    CMPP_PUSH_MT_ROUTE_UPDATE_RESP = 0x80000015
    CMPP_PUSH_MO_ROUTE_UPDATE = 0x00000016
    CMPP_PUSH_MO_ROUTE_UPDATE_RESP = 0x80000016
    CMPP_GET_MO_ROUTE = 0x00000017  # 2.1/3.0 only
    CMPP_GET_MO_ROUTE_RESP = 0x80000017


KNOWN_COMMANDS: frozenset[int] = frozenset(int(c) for c in CommandId)

# Who sends what (§5): the side that opened the connection (an SP, or an ISMG logging in to
# another node) sends CONNECT, and an SP SUBMITs, QUERYs and CANCELs; the ISMG DELIVERs to it.
# The rest (ACTIVE_TEST, TERMINATE, FWD, the route commands) go either way.
OPENER_SENDS: frozenset[int] = frozenset(int(c) for c in (
    CommandId.CMPP_CONNECT, CommandId.CMPP_SUBMIT, CommandId.CMPP_QUERY, CommandId.CMPP_CANCEL,
    CommandId.CMPP_DELIVER_RESP))
"""Commands only the client of a connection sends: a stream picked up without its handshake,
on a port not known to be CMPP's, whose first PDU is one of these is the client's."""
LISTENER_SENDS: frozenset[int] = frozenset(c ^ RESPONSE_BIT for c in OPENER_SENDS)
"""Commands only the server of a connection sends (the answers to :data:`OPENER_SENDS`, and
DELIVER)."""

# Names a user may see; 0x12 carries both names (reference D8).
_DISPLAY = {int(c): c.name for c in CommandId}
_DISPLAY[0x00000012] = "CMPP_GET_MT_ROUTE"
_ALIASES = {"CMPP_GET_ROUTE": 0x00000012, "CMPP_GET_ROUTE_RESP": 0x80000012}


def command_name(command_id: int) -> str:
    """``CMPP_SUBMIT`` for a known id, ``0x0000000A`` style hex for anything else."""
    name = _DISPLAY.get(command_id)
    return name if name is not None else f"0x{command_id:08X}"


def command_id_of(name: str) -> int:
    """Inverse of :func:`command_name`; accepts the 2.0 alias CMPP_GET_ROUTE and hex."""
    key = name.strip().upper()
    if not key.startswith("CMPP_") and not key.startswith("0X"):
        key = "CMPP_" + key
    if key in _ALIASES:
        return _ALIASES[key]
    if key.startswith("0X"):
        return int(key, 16)
    return int(CommandId[key])


def is_response(command_id: int) -> bool:
    return bool(command_id & RESPONSE_BIT)


def response_of(command_id: int) -> int:
    return command_id | RESPONSE_BIT


def request_of(command_id: int) -> int:
    return command_id & ~RESPONSE_BIT


def pair_key(command_id: int, sequence_id: int) -> tuple[int, int]:
    """What a request and its response share: the request's Command_Id and the Sequence_Id."""
    return (command_id & ~RESPONSE_BIT, sequence_id)
