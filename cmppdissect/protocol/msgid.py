"""Msg_Id: the 64-bit id an ISMG stamps on every SUBMIT and DELIVER (reference §7.1).

The id packs the ISMG's clock, its gateway code and a counter. Not every gateway follows the
layout (reference D20: a captured gateway field of 3214560 is outside the 6-digit ISMG_Id
space), so splitting never fails: a caller shows the raw value next to the decoded parts and
uses :attr:`MsgId.looks_valid` to decide how much to trust them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MSG_ID_MAX = (1 << 64) - 1

# (field, shift, width) from the most significant bits down; 4+5+5+6+6+22+16 = 64.
_LAYOUT: tuple[tuple[str, int, int], ...] = (
    ("month", 60, 4),
    ("day", 55, 5),
    ("hour", 50, 5),
    ("minute", 44, 6),
    ("second", 38, 6),
    ("gateway", 16, 22),
    ("sequence", 0, 16),
)

MSG_ID_LAYOUT = _LAYOUT
"""(part, shift, width) of each part of a Msg_Id, most significant first (§7.1)."""

MSG_ID_GATEWAY_BITS = next(((1 << width) - 1) << shift
                           for name, shift, width in _LAYOUT if name == "gateway")
"""The bits of the gateway that made a Msg_Id: ids alike but for them come from one SUBMIT's
answer seen through another gateway (the core's other-gateway near-miss rule)."""

_GATEWAY_MAX = 999_999  # ISMG_Id is six decimal digits (0XYZnn)

PLAUSIBLE: dict[str, tuple[int, int]] = {
    "month": (1, 12), "day": (1, 31), "hour": (0, 23), "minute": (0, 59), "second": (0, 59),
    "gateway": (0, _GATEWAY_MAX),
}
"""The range of each part of a Msg_Id that follows the spec layout (the sequence is free).
The compiled core loads the same table for its byte-order test (reference D22)."""

TIME_PARTS = ("month", "day", "hour", "minute", "second")


@dataclass(frozen=True, slots=True)
class MsgId:
    """A Msg_Id together with its parts; ``raw`` is kept because the parts may be nonsense."""

    raw: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    gateway: int
    sequence: int

    @property
    def looks_valid(self) -> bool:
        """Whether the parts fit the spec layout; False for gateways that use their own scheme.

        Day 31 is accepted in every month: the id carries no year, so February 29 cannot be
        told from an error anyway, and a plausibility check is all this is.
        """
        return all(low <= getattr(self, name) <= high for name, (low, high) in PLAUSIBLE.items())

    @property
    def impossible_time(self) -> list[str]:
        """The time parts no clock shows ("month 14", "day 0"): another gateway's scheme (D20),
        or bytes in the wrong order if the reversed reading is plausible."""
        return [f"{name} {getattr(self, name)}" for name in TIME_PARTS
                if not PLAUSIBLE[name][0] <= getattr(self, name) <= PLAUSIBLE[name][1]]

    def __str__(self) -> str:
        return (
            f"{self.month:02d}-{self.day:02d} "
            f"{self.hour:02d}:{self.minute:02d}:{self.second:02d} "
            f"gw={self.gateway:06d} seq={self.sequence}"
        )


def _check_64(value: int) -> None:
    """``ValueError`` for a value no 8-byte Msg_Id field holds."""
    if not 0 <= value <= MSG_ID_MAX:
        raise ValueError(f"Msg_Id {value} does not fit in 64 bits")


def split_msg_id(value: int) -> MsgId:
    """Cut a Msg_Id into its parts with the shifts of §7.1 (not Wireshark's, see D9)."""
    _check_64(value)
    parts = {name: (value >> shift) & ((1 << width) - 1) for name, shift, width in _LAYOUT}
    return MsgId(raw=value, **parts)


def byte_reversed(value: int) -> MsgId | None:
    """The reading of a Msg_Id written little-endian by its sender (reference D22: a C
    library writes body integers little-endian), when that is the likely story: the
    big-endian reading has impossible time parts and the byte-reversed one fits the layout.
    None otherwise. The reversed reading must also name a gateway (not 0): a small counter
    used as an id (D20) reversed fits every range with gateway 0. The value itself stays the
    big-endian reading the spec defines, and reports still match by the 8 bytes as echoed."""
    _check_64(value)
    if _time_fits(value):  # the common case, told without making the parts
        return None
    reversed_id = split_msg_id(int.from_bytes(value.to_bytes(8, "big"), "little"))
    return reversed_id if reversed_id.looks_valid and reversed_id.gateway else None


def _time_fits_function() -> Any:
    """Whether every time part of a Msg_Id is one a clock shows (``not
    split_msg_id(value).impossible_time``, asked of every Msg_Id decoded): one expression
    generated from ``_LAYOUT`` and :data:`PLAUSIBLE`, as :func:`_parts_function`."""
    tests = " and ".join(f"{PLAUSIBLE[name][0]} <= (v >> {shift}) & {(1 << width) - 1} "
                         f"<= {PLAUSIBLE[name][1]}"
                         for name, shift, width in _LAYOUT if name in TIME_PARTS)
    env: dict[str, Any] = {}
    exec(compile(f"def fits(v):\n    return {tests}\n", "<Msg_Id time fits>", "exec"), env)
    return env["fits"]


_time_fits = _time_fits_function()


def msg_id_parts(value: int) -> dict[str, int]:
    """The parts of a Msg_Id as a dict (what records show; :func:`split_msg_id` without the
    object, for the writers that do this once per PDU)."""
    return _parts(value)  # type: ignore[no-any-return]


def _parts_function() -> Any:
    """:func:`msg_id_parts` as one dict display generated from ``_LAYOUT`` (it runs once per
    PDU that has a Msg_Id, and a loop over the layout costs several times more)."""
    items = ", ".join(f"{name!r}: (v >> {shift}) & {(1 << width) - 1}"
                      for name, shift, width in _LAYOUT)
    env: dict[str, Any] = {}
    exec(compile(f"def parts(v):\n    return {{{items}}}\n", "<Msg_Id parts>", "exec"), env)
    return env["parts"]


_parts = _parts_function()


def make_msg_id(
    month: int, day: int, hour: int, minute: int, second: int, gateway: int, sequence: int
) -> int:
    """Pack parts into a Msg_Id.

    Only the bit widths are enforced, not calendar sense, so that test generators can build
    the off-layout ids real gateways send (D20).
    """
    values = {
        "month": month,
        "day": day,
        "hour": hour,
        "minute": minute,
        "second": second,
        "gateway": gateway,
        "sequence": sequence,
    }
    result = 0
    for name, shift, width in _LAYOUT:
        part = values[name]
        if not 0 <= part < (1 << width):
            raise ValueError(f"Msg_Id {name} {part} does not fit in {width} bits")
        result |= part << shift
    return result


def msg_id_range(first: int, count: int) -> tuple[int, ...]:
    """The Msg_Ids of a group send: one per recipient, in Dest_terminal_Id order (§7.1).

    The spec appendix adds 1 to the whole 64-bit integer, so a sequence of 0xFFFF carries into
    the gateway bits instead of wrapping inside its own field; beyond 2**64 - 1 it wraps to 0,
    as the unsigned wire field would.
    """
    _check_64(first)
    if count < 0:
        raise ValueError(f"negative recipient count {count}")
    return tuple((first + i) & MSG_ID_MAX for i in range(count))


def msg_id_index(msg_id: int, first: int, count: int) -> int | None:
    """Which recipient of a group send ``msg_id`` belongs to (0-based), or None.

    Reports of a group send carry the per-recipient id, so this is how a report finds its
    SUBMIT_RESP; the arithmetic matches :func:`msg_id_range`, wrap included.
    """
    offset = (msg_id - first) & MSG_ID_MAX
    return offset if offset < count else None
