"""Msg_Ids as an ISMG hands them out, and the time strings it stamps on reports.

An ISMG builds each Msg_Id from its clock, its gateway code and a counter (reference §7.1). A
group send of n recipients takes n consecutive ids, the first one returned in SUBMIT_RESP; so
the counter skips ahead rather than let a range run from 0xFFFF into the gateway bits.
"""

from __future__ import annotations

from datetime import datetime

from cmppdissect.protocol.msgid import make_msg_id
from cmppdissect.protocol.timefmt import encode_timestamp

_SEQUENCE_SPACE = 1 << 16
GATEWAY_MAX = (1 << 22) - 1


class MsgIdAllocator:
    """Hands out Msg_Ids (and ranges of them) for one ISMG."""

    def __init__(self, gateway: int, *, first_sequence: int = 0) -> None:
        if not 0 <= gateway <= GATEWAY_MAX:
            raise ValueError(f"gateway code {gateway} does not fit in 22 bits")
        self.gateway = gateway
        self._sequence = first_sequence % _SEQUENCE_SPACE

    def take(self, when: datetime, count: int = 1) -> int:
        """The first of ``count`` consecutive ids stamped with ``when``."""
        if not 1 <= count <= _SEQUENCE_SPACE:
            raise ValueError(f"cannot allocate {count} Msg_Ids at once")
        if self._sequence + count > _SEQUENCE_SPACE:
            self._sequence = 0
        first = make_msg_id(when.month, when.day, when.hour, when.minute, when.second,
                            self.gateway, self._sequence)
        self._sequence += count
        return first


def report_time(when: datetime) -> str:
    """Submit_time / Done_time of a status report: YYMMDDHHMM."""
    return when.strftime("%y%m%d%H%M")


def query_date(when: datetime) -> str:
    """QUERY Time: YYYYMMDD."""
    return when.strftime("%Y%m%d")


def connect_timestamp(when: datetime) -> int:
    """CONNECT Timestamp: MMDDHHMMSS as an integer."""
    return encode_timestamp(when.month, when.day, when.hour, when.minute, when.second)
