"""Code tables of reference §8 and §5/§7 value tables, and the Stat semantics of §7.9."""

from __future__ import annotations

import pytest

from cmppdissect.protocol.codes import STR_TABLES, TABLES, code_name
from cmppdissect.protocol.report import STAT_MEANINGS, stat_class, stat_meaning
from cmppdissect.protocol.version import Version

V2, V3 = Version.V2_0, Version.V3_0

# The stable identifiers display and layer code use.
INT_TABLE_NAMES = [
    "connect_status",
    "submit_result",
    "deliver_result",
    "cancel_result",
    "fwd_result",
    "gns_route_result",
    "gns_get_mt_route_result",
    "gns_get_mo_route_result",
    "gns_update_result",
    "gns_push_result",
    "msg_fmt",
    "submit_registered_delivery",
    "fwd_registered_delivery",
    "deliver_registered_delivery",
    "fee_user_type",
    "terminal_type",
    "msg_fwd_type",
    "update_type",
    "user_type",
    "sp_access_type",
    "query_type",
    "gotone_user_type",
]


def test_every_table_is_exported() -> None:
    assert sorted(TABLES) == sorted(INT_TABLE_NAMES)
    assert sorted(STR_TABLES) == ["fee_type", "fwd_fee_type"]


@pytest.mark.parametrize("table", INT_TABLE_NAMES)
def test_tables_agree_with_lookup_and_names_fit_a_column(table: str) -> None:
    assert TABLES[table]
    for value, name in TABLES[table].items():
        assert code_name(table, value) == name
        assert 0 < len(name) <= 32


@pytest.mark.parametrize(
    ("table", "value", "version", "name"),
    [
        # §8.1: ≥5 other
        ("connect_status", 0, None, "correct"),
        ("connect_status", 3, V3, "authentication error"),
        ("connect_status", 4, V2, "version too high"),
        ("connect_status", 5, V2, "other error (5)"),
        ("connect_status", 150, V3, "vendor-defined (150)"),
        ("connect_status", 200, V3, "other error (200)"),
        # §8.2: 9-13 named for the 2.0 wire family too (2.1 shares it)
        ("submit_result", 8, V2, "flow control error"),
        ("submit_result", 1, V3, "message structure error"),
        ("submit_result", 9, V2, "charged number not served"),
        ("submit_result", 13, V2, "Dest_terminal_Id error"),
        ("submit_result", 13, V3, "Dest_terminal_Id error"),
        ("submit_result", 14, V3, "other error (14)"),
        ("submit_result", 100, V2, "vendor-defined (100)"),
        ("submit_result", 199, V3, "vendor-defined (199)"),
        # §8.3: ≥9 other
        ("deliver_result", 8, V3, "flow control error"),
        ("deliver_result", 9, V3, "other error (9)"),
        # §8.4
        ("cancel_result", 0, V2, "success"),
        ("cancel_result", 1, V3, "failure"),
        ("cancel_result", 2, V3, None),
        # §8.5: 9 depends on the version
        ("fwd_result", 8, V2, "flow control error"),
        ("fwd_result", 9, V3, "forward decision error"),
        ("fwd_result", 9, None, "forward decision error"),
        ("fwd_result", 9, V2, "other error (9)"),
        ("fwd_result", 10, V3, "other error (10)"),
        # §5.14 GNS
        ("gns_route_result", 1, None, "no matching route"),
        ("gns_route_result", 9, None, "busy"),
        ("gns_get_mt_route_result", 3, None, "bad route type"),
        ("gns_get_mo_route_result", 3, None, "bad route type"),
        ("gns_update_result", 0, None, "accepted, pending check"),
        ("gns_update_result", 18, None, "bad User_type"),
        ("gns_update_result", 21, None, "bad SP_AcessType"),
        ("gns_push_result", 0, None, "changed"),
        ("gns_push_result", 6, None, "GNS timestamp older"),
        ("gns_push_result", 1, None, "no matching route (1)"),  # shared GNS space, S1 §8.7.3
        ("gns_push_result", 150, None, "vendor-defined (150)"),
        ("gns_push_result", 7, None, None),
        ("gns_push_result", 200, None, None),
        # values
        ("msg_fmt", 8, None, "UCS2"),
        ("msg_fmt", 15, None, "GB Chinese"),
        ("msg_fmt", 1, None, None),
        ("submit_registered_delivery", 2, V2, "SMC billing record only"),
        ("submit_registered_delivery", 2, None, "SMC billing record only"),
        ("submit_registered_delivery", 2, V3, None),  # removed in 3.0
        ("submit_registered_delivery", 1, V3, "report requested"),
        ("fwd_registered_delivery", 2, V3, "SMC billing record only"),  # kept in 3.0 FWD
        ("deliver_registered_delivery", 0, V3, "MO message"),
        ("deliver_registered_delivery", 1, V2, "status report"),
        ("fee_user_type", 3, None, "Fee_terminal_Id pays"),
        ("terminal_type", 1, V3, "pseudo-number"),
        ("msg_fwd_type", 3, None, "MO status report"),
        ("update_type", 2, None, "update"),
        ("user_type", 2, None, "M-Zone"),
        ("gotone_user_type", 1, None, "Shenzhouxing"),
        ("gotone_user_type", 2, None, None),
        ("sp_access_type", 1, None, "mirror"),
        ("query_type", 1, None, "per service"),
    ],
)
def test_code_name(table: str, value: int, version: Version | None, name: str | None) -> None:
    assert code_name(table, value, version) == name


@pytest.mark.parametrize("fmt", [0xF5, 0xF6])
def test_msg_fmt_gsm_dcs_bytes(fmt: int) -> None:
    name = code_name("msg_fmt", fmt)
    assert name is not None and name.startswith("GSM DCS 8-bit data")


@pytest.mark.parametrize(
    ("table", "value", "version", "name"),
    [
        ("fee_type", "02", V3, "per message"),
        ("fee_type", "04", V2, "capped"),
        ("fee_type", "05", None, "charged by SP"),
        ("fee_type", "04", V3, None),
        ("fee_type", "06", V2, None),
        ("fwd_fee_type", "06", V3, "monthly query fee"),
        ("fwd_fee_type", "06", V2, None),
        ("fwd_fee_type", "00", V2, "symmetric channel fee deducted"),
        ("fwd_fee_type", "00", V3, None),
    ],
)
def test_fee_type(table: str, value: str, version: Version | None, name: str | None) -> None:
    assert code_name(table, value, version) == name


def test_value_of_the_wrong_type_has_no_name() -> None:
    assert code_name("fee_type", 2) is None
    assert code_name("connect_status", "0") is None


def test_unknown_table_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="no_such_table"):
        code_name("no_such_table", 0)


# --- Stat (§7.9) ----------------------------------------------------------------------------------

WORDS = {
    "DELIVRD": "delivered",
    "ACCEPTD": "pending",
    "UNKNOWN": "unknown",
    "EXPIRED": "failed",
    "DELETED": "failed",
    "UNDELIV": "failed",
    "REJECTD": "failed",
}
FAMILIES = ["MA", "MB", "MC", "CA", "CB", "DA", "DB", "SA", "SB", "IA", "IB", "IC"]


@pytest.mark.parametrize(("word", "cls"), WORDS.items())
def test_stat_words(word: str, cls: str) -> None:
    assert stat_meaning(word) == STAT_MEANINGS[word]
    assert stat_class(word) == cls


def test_stat_word_meanings() -> None:
    assert stat_meaning("DELIVRD") == "delivered"
    assert stat_meaning("UNKNOWN") == "invalid state"
    assert stat_meaning("EXPIRED") == "validity period expired"


@pytest.mark.parametrize("family", FAMILIES)
def test_stat_families(family: str) -> None:
    stat = f"{family}:0012"
    assert stat_meaning(stat) == STAT_MEANINGS[family]
    assert stat_meaning(stat) != "vendor-specific code"
    assert stat_class(stat) == "failed"


def test_stat_family_examples() -> None:
    assert stat_meaning("MB:0001") == "SMSC error answer"
    assert stat_meaning("IC:0000") == "no report from next ISMG"


@pytest.mark.parametrize("stat", ["MK:0012", "AF:4\x00\x00\x00", "AF:4", "MA0012", "XXXXXXX"])
def test_stat_vendor_codes(stat: str) -> None:
    # The reference's vectors carry MK:0012 and a NUL-padded AF:4.
    assert stat_meaning(stat) == "vendor-specific code"
    assert stat_class(stat) == "failed"


@pytest.mark.parametrize("stat", ["", "\x00" * 7, "       "])
def test_stat_empty(stat: str) -> None:
    assert stat_meaning(stat) == "empty"
    assert stat_class(stat) == "unknown"


def test_stat_padding_is_ignored() -> None:
    assert stat_class("DELIVRD\x00") == "delivered"
    assert stat_meaning("SB:0001\x00") == "SP error answer"
