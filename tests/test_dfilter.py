"""The -Y display-filter language over record dicts (core: no files, no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from cmppdissect.query.dfilter import MAX_DEPTH, FilterError, compile_filter

SUBMIT: dict[str, Any] = {
    "frame": 6, "time": 1.5, "session": 0, "src": "192.0.2.10:40001",
    "dst": "198.51.100.7:7890", "version": "2.0", "command": "CMPP_SUBMIT",
    "command_id": 4, "sequence_id": 2, "total_length": 180,
    "response_frame": 7, "latency_ms": 120.5,
    "fields": {"Registered_Delivery": 1, "Msg_Fmt": 8, "Src_Id": "106571234",
               "Dest_terminal_Id": ["13800138000", "13900139000"],
               "text": "您的验证码是 482913 && more"},
    "expert": [{"severity": "warn", "code": "sequence-reused", "message": "x"}],
}
REPORT: dict[str, Any] = {
    "frame": 9, "command": "CMPP_DELIVER", "sequence_id": 3,
    "fields": {"Registered_Delivery": 1, "report": {"Stat": "UNDELIV", "Msg_Id": 42}},
    "expert": [],
}
RESP: dict[str, Any] = {"frame": 7, "command": "CMPP_SUBMIT_RESP", "request_frame": 6,
                        "latency_ms": 3.0, "fields": {"Msg_Id": 42, "Result": 8}, "expert": []}


@pytest.mark.parametrize(("expr", "submit", "report", "resp"), [
    ('command == "CMPP_SUBMIT" and latency_ms > 100', True, False, False),
    ('command == "submit"', True, False, False),
    ('command eq "submit_resp"', False, False,
     True),
    ('command in {"CMPP_SUBMIT_RESP", "deliver"}', False, True, True),
    ('command not in {"CMPP_SUBMIT_RESP", "deliver"}', True, False, False),
    ("Registered_Delivery == 1 && !latency_ms", False, True, False),
    ('report.Stat != "DELIVRD"', False, True, False),
    ('Stat == "UNDELIV"', False, True, False),
    ("Dest_terminal_Id == 13900139000", True, False, False),
    ('Dest_terminal_Id matches "^1380"', True, False, False),
    ('text contains "验证码"', True, False, False),
    ('text contains "&&"', True, False, False),
    ("len(Dest_terminal_Id) >= 2", True, False, False),
    ("Msg_Fmt & 8", True, False, False),
    ('expert.code == "sequence-reused"', True, False, False),
    ("expert", True, False, False),
    ("Result != 0 || Msg_Id == 42", False, True, True),
    ("Msg_Id == 42", False, True, True),
    ("3 <= latency_ms < 100", False, False, True),
    ("not (frame > 6) and frame ge 6", True, False, False),
    ("frame != 6", False, True, True),
    ("", True, True, True),
])
def test_filter_semantics(expr: str, submit: bool, report: bool, resp: bool) -> None:
    f = compile_filter(expr)
    assert (f(SUBMIT), f(REPORT), f(RESP)) == (submit, report, resp)


def test_absent_field_never_matches_a_comparison() -> None:
    # Wireshark: "latency_ms != 5" is false when there is no latency at all.
    assert not compile_filter("latency_ms != 5")(REPORT)
    assert compile_filter("!(latency_ms == 5)")(REPORT)


@pytest.mark.parametrize(("expr", "column", "words"), [
    ("comand == 1", 1, "unknown field 'comand'"),
    ("report.Stt == 1", 1, "unknown field 'Stt'"),
    ('text matches "("', 14, "bad regular expression"),
    ("frame == $", 10, "unexpected character '$'"),
    ("frame = 5", 7, "syntax error"),
    ("frame == 5 frame", 12, "syntax error"),
    ('command in "CMPP_SUBMIT"', 12, "'in' wants a set"),
])
def test_errors_point_at_the_column(expr: str, column: int, words: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter(expr)
    assert words in info.value.message
    assert info.value.position + 1 == column
    assert f"column {column}" in str(info.value)


def test_filter_reports_the_names_it_reads() -> None:
    assert compile_filter("latency_ms > 1").needs_pairing
    assert compile_filter("response_frame").needs_pairing
    assert not compile_filter('command == "submit" and Result != 0').needs_pairing
    assert compile_filter("report.Stat == 1 or frame > 2").names >= {"report", "frame"}


def test_no_code_execution() -> None:
    for expr in ("__import__('os').system('true')", "frame.__class__", "(lambda: 1)()"):
        with pytest.raises(FilterError):
            compile_filter(expr)


@pytest.mark.parametrize(("expr", "column", "words"), [
    ("command == ", 11, "incomplete"),
    ('command == "SUBMIT" and', 24, "incomplete"),
    ('(command == "SUBMIT"', 1, "'(' is never closed"),
    ('text contains "(" and (frame == 1', 23, "'(' is never closed"),
])
def test_unfinished_expressions_point_at_their_end_or_paren(expr: str, column: int,
                                                             words: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter(expr)
    assert words in info.value.message and info.value.position + 1 == column


@pytest.mark.parametrize("expr", [
    "!" * 1000 + "command",
    "not " * 1000 + "command",
    "not " * 100_000 + "command",
    "-" * 5000 + "latency_ms > 1",
])
def test_a_filter_deeper_than_the_limit_is_a_clear_error(expr: str) -> None:
    """Issue 13: a thousand chained ``!`` raised RecursionError. A filter nesting deeper than
    MAX_DEPTH is refused with words that say so, whatever part of Python would give up."""
    with pytest.raises(FilterError, match=f"nests deeper than {MAX_DEPTH} levels"):
        compile_filter(expr)


def test_a_filter_at_the_limit_works() -> None:
    """An odd number of negations under the limit negates; parentheses do not nest the test
    (Python's own parser stops at 200 of them, also a clear error)."""
    deep = compile_filter("!" * (MAX_DEPTH - 3) + 'command == "CMPP_SUBMIT"')
    assert deep(SUBMIT) is False and deep(REPORT) is True
    parens = compile_filter("(" * 150 + 'command == "CMPP_SUBMIT"' + ")" * 150)
    assert parens(SUBMIT) is True and parens(REPORT) is False
    with pytest.raises(FilterError, match="too many nested parentheses"):
        compile_filter("(" * 250 + "command" + ")" * 250)


@pytest.mark.parametrize(("expr", "column", "words"), [
    ('Msg_Id_parts.gateway == "079101"', 25,
     'gateway is a number: "079101" is compared as text; write 79101 without quotes'),
    ('Result in {"8", 0}', 12, 'Result is a number: "8" is compared as text'),
    ('"5" < latency_ms', 1, 'latency_ms is a number: "5" is compared as text'),
    ('sequence_id != "x1"', 16, 'sequence_id is a number: "x1" is compared as text'),
])
def test_a_string_compared_with_a_number_is_a_warning(expr: str, column: int,
                                                      words: str) -> None:
    """Issue 14: ``gateway == "079101"`` compared "79101" with "079101" as text and matched
    nothing, silently. The filter still compiles (Wireshark's users quote freely), with a
    warning that points at the string."""
    compiled = compile_filter(expr)
    [warning] = compiled.warnings
    assert warning.message == words or warning.message.startswith(words)
    assert warning.position + 1 == column


def test_strings_with_string_fields_and_commands_are_no_warning() -> None:
    for expr in ('Src_Id == "106571234"', 'command == "SUBMIT"', 'report.Stat != "DELIVRD"',
                 'text contains "8"', 'version == "3.0"', 'gateway == 79101'):
        assert compile_filter(expr).warnings == ()


ENDPOINTS: dict[str, Any] = {**SUBMIT, "src": "192.0.2.10:40001", "dst": "[2001:db8::7]:7890"}


@pytest.mark.parametrize(("expr", "matches"), [
    ("cmpp.Command_Id == 4", True),
    ("Command_Id == 4 and Sequence_Id == 2 and Total_Length == 180", True),
    ("cmpp.command == SUBMIT", True),
    ("command == SUBMIT", True),
    ("command == DELIVER", False),
    ("command in {DELIVER, SUBMIT}", True),
    ("tcp.port == 7890", True),
    ("tcp.port == 40001 && tcp.dstport == 7890 && tcp.srcport == 40001", True),
    ("tcp.srcport == 7890", False),
    ('ip.src == "192.0.2.10"', True),
    ('ip.dst == "2001:db8::7" and ipv6.dst == "2001:db8::7"', True),
    ('ip.addr == "2001:db8::7"', True),
    ('ip.addr == "198.51.100.7"', False),
    ("cmpp.Registered_Delivery == 1", True),
])
def test_names_a_wireshark_user_types(expr: str, matches: bool) -> None:
    """Issue 14: the cmpp. prefix, the header's spec names, bare command names and ip/tcp
    fields are understood, as Wireshark's filter bar understands them."""
    assert compile_filter(expr)(ENDPOINTS) is matches


@pytest.mark.parametrize(("expr", "words"), [
    ("Dest_terminal == 1", "unknown field 'Dest_terminal'; did you mean 'Dest_terminal_Id'?"),
    ("ip.foo == 1", "unknown field 'ip.foo'; ip has ip.src, ip.dst, ip.addr"),
    ("command == NOPE and lantency_ms > 1", "unknown field 'lantency_ms'; did you mean "
                                            "'latency_ms'?"),
])
def test_an_unknown_name_is_answered_with_a_hint(expr: str, words: str) -> None:
    with pytest.raises(FilterError) as err:
        compile_filter(expr)
    assert err.value.message.startswith(words)
    assert err.value.message.endswith("(cmppdissect --list-fields lists them)")


def test_the_field_list_names_every_field_the_language_takes() -> None:
    """--list-fields (as tshark -G fields): every name it lists compiles, and every name the
    language knows is listed."""
    from cmppdissect.query.dfilter import KNOWN_NAMES, NESTED, field_list

    listed = {name: (kind, where) for name, kind, where in field_list()}
    assert set(KNOWN_NAMES) - NESTED <= set(listed)
    for name in listed:
        compile_filter(f"{name} == 1")
    assert listed["Msg_Id"][0] == "uint64"
    assert listed["Msg_Id"][1].startswith("CANCEL 2.0, CANCEL 3.0, DELIVER 2.0, DELIVER 3.0")
    assert listed["Command_Id"] == ("uint", "header (= command_id)")
    assert listed["tcp.port"][0] == "uint"
