"""Expert findings: what the decoder or the engine noticed about a PDU, Wireshark style.

A malformed or deviating PDU is never an exception: the decoder returns what it could read
and attaches findings. The four severities are Wireshark's, so users map them at a glance.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntEnum


class Severity(IntEnum):
    """Ordered so that ``max()`` over findings gives the worst one."""

    CHAT = 0  # normal but noteworthy (e.g. a field filled with no NUL terminator)
    NOTE = 1  # a known real-world deviation that decodes fine (TP_udhi 0x40)
    WARN = 2  # something is off (Pk_total disagrees with the UDH, missing Reserve)
    ERROR = 3  # the PDU is malformed (Total_Length disagrees with the body)

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation. ``code`` is stable (for filters and tests), ``message`` is for people."""

    severity: Severity
    code: str
    message: str
    field: str | None = None
    # The frame of the other PDU the finding is about (the earlier request whose Sequence_Id
    # was reused, the SUBMIT a report answers): where the TUI's Detail jumps from it. Not in
    # as_dict(): the message names the frame already.
    frame: int | None = dataclasses.field(default=None, compare=False)

    def as_dict(self) -> dict[str, str | None]:
        return {
            "severity": str(self.severity),
            "code": self.code,
            "message": self.message,
            "field": self.field,
        }
