"""Code tables of the reference (§8 result codes, the value tables of §5/§7) and one lookup.

Names are short because they fill a TUI column; the spec's Chinese wording lives in the
reference. Tables are keyed by stable identifiers so that display code, Scapy enum fields and
filters all name a table the same way. :data:`TABLES` holds, for each table, every value
defined in any version; :func:`code_name` applies the version rules (values that exist only in
2.0 or only in 3.0) and the spec's "≥ N: other error" catch-alls on top of that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from cmppdissect.protocol.version import Version

K = TypeVar("K", int, str)

# --- result codes ----------------------------------------------------------------------------

CONNECT_STATUS: Final[dict[int, str]] = {
    0: "correct",
    1: "message structure error",
    2: "illegal source address",
    3: "authentication error",
    4: "version too high",
}

# 0-8 are shared by SUBMIT_RESP, DELIVER_RESP and FWD_RESP (§8.2, §8.3, §8.5).
_COMMON_RESULT: Final[dict[int, str]] = {
    0: "correct",
    1: "message structure error",
    2: "command word error",
    3: "duplicate sequence number",
    4: "message length error",
    5: "fee code error",
    6: "message too long",
    7: "service code error",
    8: "flow control error",
}

# 9-13 came with 2.1, which uses the 2.0 wire format, so they are named for 2.0 sessions too.
SUBMIT_RESULT: Final[dict[int, str]] = {
    **_COMMON_RESULT,
    9: "charged number not served",
    10: "Src_Id error",
    11: "Msg_src error",
    12: "Fee_terminal_Id error",
    13: "Dest_terminal_Id error",
}

DELIVER_RESULT: Final[dict[int, str]] = dict(_COMMON_RESULT)

CANCEL_RESULT: Final[dict[int, str]] = {0: "success", 1: "failure"}

FWD_RESULT: Final[dict[int, str]] = {**_COMMON_RESULT, 9: "forward decision error"}

# The GNS code space is one list (S1 §8.7.3); each response uses part of it (§5.14).
GNS_RESULT: Final[dict[int, str]] = {
    0: "correct",
    1: "no matching route",
    2: "bad source gateway code",
    3: "bad route type",
    4: "node cannot update",
    5: "update failed",
    6: "GNS timestamp older",
    9: "busy",
    10: "bad Update_type",
    11: "bad Route_Id",
    12: "bad Destination_Id",
    13: "bad Gateway_IP",
    14: "bad Gateway_port",
    15: "bad Start_Id",
    16: "bad End_Id",
    17: "bad Area_code",
    18: "bad User_type",
    19: "bad SP_Id",
    20: "bad SP_Code",
    21: "bad SP_AcessType",
    22: "bad Service_Id",
    23: "bad Start_code",
    24: "bad End_code",
}

# MT_ROUTE_RESP and MO_ROUTE_RESP; for MO, code 2 also covers a bad service code.
GNS_ROUTE_RESULT: Final[dict[int, str]] = {
    0: "correct",
    1: "no matching route",
    2: "bad source gateway/service code",
    9: "busy",
}

# GET_MT_ROUTE_RESP; GET_MO_ROUTE_RESP lists no codes of its own and uses the same.
GNS_GET_ROUTE_RESULT: Final[dict[int, str]] = {k: GNS_RESULT[k] for k in (0, 1, 2, 3, 9)}

# MT_ROUTE_UPDATE_RESP and MO_ROUTE_UPDATE_RESP (15-18 are MT-only, 19-24 MO-only).
GNS_UPDATE_RESULT: Final[dict[int, str]] = {
    0: "accepted, pending check",
    **{k: GNS_RESULT[k] for k in (4, 9, *range(10, 25))},
}

GNS_PUSH_RESULT: Final[dict[int, str]] = {
    0: "changed",
    5: "update failed",
    6: "GNS timestamp older",
    9: "busy",
}

# --- field values ----------------------------------------------------------------------------

MSG_FMT: Final[dict[int, str]] = {
    0: "ASCII",
    3: "SIM card write",
    4: "binary",
    8: "UCS2",
    15: "GB Chinese",
    0xF5: "GSM DCS 8-bit data (class 1)",
    0xF6: "GSM DCS 8-bit data (SIM)",
}

SUBMIT_REGISTERED_DELIVERY: Final[dict[int, str]] = {
    0: "no report",
    1: "report requested",
    2: "SMC billing record only",  # 2.0 only
}

# FWD still lists value 2 in 3.0.
FWD_REGISTERED_DELIVERY: Final[dict[int, str]] = dict(SUBMIT_REGISTERED_DELIVERY)

DELIVER_REGISTERED_DELIVERY: Final[dict[int, str]] = {0: "MO message", 1: "status report"}

FEE_USER_TYPE: Final[dict[int, str]] = {
    0: "destination pays",
    1: "source pays",
    2: "SP pays",
    3: "Fee_terminal_Id pays",
}

FEE_TYPE: Final[dict[str, str]] = {
    "01": "free",
    "02": "per message",
    "03": "monthly",
    "04": "capped",  # 2.0 only
    "05": "charged by SP",  # 2.0 only
}

FWD_FEE_TYPE: Final[dict[str, str]] = {
    "00": "symmetric channel fee deducted",  # 2.x only (核减对称信道费)
    "01": "free",
    "02": "per message",
    "03": "monthly",
    "04": "capped",  # 2.x only
    "05": "charged by SP",  # 2.x only
    "06": "monthly query fee",  # 3.0 only
}

# Fee_terminal_type, Dest_terminal_type, Src_terminal_type and FWD Src_type.
TERMINAL_TYPE: Final[dict[int, str]] = {0: "real number", 1: "pseudo-number"}

MSG_FWD_TYPE: Final[dict[int, str]] = {
    0: "MT forward",
    1: "MO forward",
    2: "MT status report",
    3: "MO status report",
}

UPDATE_TYPE: Final[dict[int, str]] = {0: "add", 1: "delete", 2: "update"}

# GNS User_type.
USER_TYPE: Final[dict[int, str]] = {0: "GoTone", 1: "Shenzhouxing", 2: "M-Zone"}

# FWD Fee_terminal_UserType, Src_UserType, Dest_UserType.
GOTONE_USER_TYPE: Final[dict[int, str]] = {0: "GoTone", 1: "Shenzhouxing"}

SP_ACCESS_TYPE: Final[dict[int, str]] = {0: "main access point", 1: "mirror"}

QUERY_TYPE: Final[dict[int, str]] = {0: "totals", 1: "per service"}

# --- lookup rules ----------------------------------------------------------------------------


def _vendor(value: int) -> str | None:
    # S1 §8.7.2 / §8.7.3: 0-99 belong to CMPP, vendors define 100-199.
    return f"vendor-defined ({value})" if 100 <= value <= 199 else None


def _other_from(first: int) -> Callable[[int], str | None]:
    """The spec's "≥ first: other errors" catch-all, with the vendor range carved out."""

    def fallback(value: int) -> str | None:
        return _vendor(value) or (f"other error ({value})" if value >= first else None)

    return fallback


def _gns_fallback(value: int) -> str | None:
    """A GNS code outside the message's own list still has a meaning in the shared space."""
    name = GNS_RESULT.get(value)
    return f"{name} ({value})" if name is not None else _vendor(value)


@dataclass(frozen=True, slots=True)
class _Table(Generic[K]):
    names: Mapping[K, str]
    only_2_0: frozenset[K] = field(default_factory=frozenset)
    only_3_0: frozenset[K] = field(default_factory=frozenset)
    fallback: Callable[[int], str | None] | None = None

    def lookup(self, value: K, version: Version | None) -> str | None:
        if version is Version.V2_0:
            removed = self.only_3_0
        elif version is Version.V3_0:
            removed = self.only_2_0
        else:
            removed = frozenset()
        name = None if value in removed else self.names.get(value)
        if name is None and self.fallback is not None and isinstance(value, int):
            return self.fallback(value)
        return name


_INT_TABLES: Final[dict[str, _Table[int]]] = {
    "connect_status": _Table(CONNECT_STATUS, fallback=_other_from(5)),
    "submit_result": _Table(SUBMIT_RESULT, fallback=_other_from(14)),
    "deliver_result": _Table(DELIVER_RESULT, fallback=_other_from(9)),
    "cancel_result": _Table(CANCEL_RESULT),
    "fwd_result": _Table(FWD_RESULT, only_3_0=frozenset({9}), fallback=_other_from(9)),
    "gns_route_result": _Table(GNS_ROUTE_RESULT, fallback=_gns_fallback),
    "gns_get_mt_route_result": _Table(GNS_GET_ROUTE_RESULT, fallback=_gns_fallback),
    "gns_get_mo_route_result": _Table(GNS_GET_ROUTE_RESULT, fallback=_gns_fallback),
    "gns_update_result": _Table(GNS_UPDATE_RESULT, fallback=_gns_fallback),
    "gns_push_result": _Table(GNS_PUSH_RESULT, fallback=_gns_fallback),
    "msg_fmt": _Table(MSG_FMT),
    "submit_registered_delivery": _Table(SUBMIT_REGISTERED_DELIVERY, only_2_0=frozenset({2})),
    "fwd_registered_delivery": _Table(FWD_REGISTERED_DELIVERY),
    "deliver_registered_delivery": _Table(DELIVER_REGISTERED_DELIVERY),
    "fee_user_type": _Table(FEE_USER_TYPE),
    "terminal_type": _Table(TERMINAL_TYPE),
    "msg_fwd_type": _Table(MSG_FWD_TYPE),
    "update_type": _Table(UPDATE_TYPE),
    "user_type": _Table(USER_TYPE),
    "gotone_user_type": _Table(GOTONE_USER_TYPE),
    "sp_access_type": _Table(SP_ACCESS_TYPE),
    "query_type": _Table(QUERY_TYPE),
}

_STR_TABLES: Final[dict[str, _Table[str]]] = {
    "fee_type": _Table(FEE_TYPE, only_2_0=frozenset({"04", "05"})),
    "fwd_fee_type": _Table(
        FWD_FEE_TYPE, only_2_0=frozenset({"00", "04", "05"}), only_3_0=frozenset({"06"})
    ),
}

# Whole integer tables, every version's values included (Scapy enum fields, legends).
TABLES: Final[dict[str, dict[int, str]]] = {
    name: dict(table.names) for name, table in _INT_TABLES.items()
}

# The FeeType tables are keyed by the 2-character ASCII field value.
STR_TABLES: Final[dict[str, dict[str, str]]] = {
    name: dict(table.names) for name, table in _STR_TABLES.items()
}


def code_name(table: str, value: int | str, version: Version | None = None) -> str | None:
    """The display name of ``value`` in ``table``, or None when the spec gives it no meaning.

    With a ``version``, values that exist only in the other version are not named (a 3.0
    SUBMIT with Registered_Delivery 2 gets None; a 2.0 FWD_RESP Result 9 is "other error (9)").
    Without one, every version's names apply. A value of the wrong type (an int for FeeType)
    gets None; an unknown table name is a programming error and raises KeyError.
    """
    if table in _INT_TABLES:
        if isinstance(value, str):
            return None
        return _INT_TABLES[table].lookup(value, version)
    if table in _STR_TABLES:
        if not isinstance(value, str):
            return None
        return _STR_TABLES[table].lookup(value, version)
    raise KeyError(f"unknown code table {table!r}")
