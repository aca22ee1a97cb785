"""Search's column path finds exactly the rows the row-by-row search finds.

``/`` decides most rows from the store's columns and raw bytes
(:func:`cmppdissect.tui.search.search_masks`) and decodes only the rest. These tests run both
ways over every sample, a generated capture, the filter tests' odd capture and one of text
that bends lower-casing and escaping (``İ``, the Kelvin sign, Greek capitals, controls and
bidi overrides, bytes above 0x7F in ASCII fields), for needles that hit the columns, the wire's
text, the decoded-only words (result names, ``Msg_Id``, encodings), numbers, escapes and
nothing at all; and they count the decodes saved.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pcaputil import write_pcap
from test_filter_columns import SAMPLES, _conversation, _odd_pcap, gen, model_of

from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.version import Version
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.search import search_masks, search_predicate, search_text
from cmppdissect.tui.views import AllRows, FilteredRows

NEEDLES = [
    "flow control", "delivrd", "undeliv", "8613800138000", "13800", "0013", "1", "42",
    "submit", "submit_resp", "resp 3", "10.0.0.1", ":7890", "验证码", "好的", "stop",
    "msg_id", "msg_id 1", "x81", "81", "\\x", "x1b", "u202e", "report", "report for",
    "+2", "[1/2]", "bytes", "utf-16-be", "没有这段话", "zzzz", "correct", "k", "i", "istanbul",
    "kelvin k", "σοφια", "àbc", "“", "…", " ", "  ", "0 ", "→", "mverify", "1065712345",
    "106571234", "other error", "version", "?", "message number 21", "”", "latin-1", "ascii",
    "bytes utf-16-be", "1 bytes", "13999999999",
    # recipients and sources the line shows as they are (the first recipient only), or
    # escaped (a control, a byte above 0x7F): test_filter_columns._arrays, the tricky capture
    "8613800000071", "8613800000072", "8613800000077", "1065700", "0000071 +", "6\\xe91",
    "1065\x1b71", "065\\x1b7", "delivrd for",
]

TRICKY = "İSTANBUL Kelvin \u212a ΣΟΦΙΑ \x1b[31m \u202eevil\u202c 验证码 42 and the rest past sixty"


def _tricky_pcap(path: Path) -> Path:
    v = Version.V2_0
    pdus = [
        (True, encode_pdu(C.CMPP_SUBMIT, 1, {
            "Msg_Fmt": 8, "Src_Id": b"\x811065\x1b71", "Dest_terminal_Id": [b"86\xe9138"],
            "Msg_Content": TRICKY.encode("utf-16-be")}, v)),
        (True, encode_pdu(C.CMPP_SUBMIT, 2, {
            "Msg_Fmt": 0, "Src_Id": "1065", "Dest_terminal_Id": [b"8613800000001"],
            "Msg_Content": "Àbc Kelvin".encode("latin-1")}, v)),
        (True, encode_pdu(C.CMPP_SUBMIT, 3, {
            "Msg_Fmt": 15, "Dest_terminal_Id": [b"8613800000001"],
            "Msg_Content": TRICKY[:40].encode("gb18030")}, v)),
    ]
    write_pcap(path, _conversation(pdus, client=("10.0.0.9", 40009)))
    return path


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CaptureModel]:
    tmp = tmp_path_factory.mktemp("search")
    generated = tmp / "generated.pcap"
    gen.generate(generated, frames=2500, sessions=3,
                 mix=gen.Mix(unanswered=0.03, error_result=0.08, long_sms=0.08,
                             group_send=0.08))
    paths = {p.name: p for p in SAMPLES}
    paths["generated"] = generated
    paths["odd"] = _odd_pcap(tmp / "odd.pcap")
    paths["tricky"] = _tricky_pcap(tmp / "tricky.pcap")
    return {name: model_of(path) for name, path in paths.items()}


@pytest.fixture(scope="module")
def lines(captures: dict[str, CaptureModel]) -> dict[str, list[str]]:
    return {name: [search_text(m, r) for r in range(m.count)] for name, m in captures.items()}


def fast(model: CaptureModel, needle: str, budget: int = 613) -> FilteredRows:
    view = FilteredRows(AllRows(model), search_predicate(model, needle), needle,
                        masks=search_masks(model, needle))
    while not view.caught_up:
        view.advance(budget)
    return view


def test_the_tricky_capture_reads_as_meant(lines: dict[str, list[str]]) -> None:
    text = " ".join(lines["tricky"])
    assert "i̇stanbul" in text and "kelvin k" in text and "σοφια" in text
    assert "\\x81" in text and "\\x1b" in text and "\\u202e" in text and "àbc" in text


@pytest.mark.parametrize("needle", NEEDLES)
def test_column_path_finds_the_rows_the_decoding_search_finds(
        needle: str, captures: dict[str, CaptureModel], lines: dict[str, list[str]]) -> None:
    for name, model in captures.items():
        view = fast(model, needle)
        want = [row for row, line in enumerate(lines[name]) if needle in line]
        assert list(view.matched) == want, (name, needle)
        assert view.errors == 0


def test_msg_ids_and_result_codes_are_found_by_number(
        captures: dict[str, CaptureModel], lines: dict[str, list[str]]) -> None:
    """Numbers the line shows but the bytes hold in binary: read at the fields' offsets."""
    model = captures["generated"]
    resp = next(r for r in range(model.count) if model.command_id[r] == C.CMPP_SUBMIT_RESP)
    msg_id = str(model.pdu(resp).fields["Msg_Id"])
    for needle in (msg_id, msg_id[3:12], msg_id[-6:]):
        view = fast(model, needle)
        want = [row for row, line in enumerate(lines["generated"]) if needle in line]
        assert resp in want and list(view.matched) == want


def test_a_recipient_shown_in_the_line_needs_no_decode(
        captures: dict[str, CaptureModel], lines: dict[str, list[str]]) -> None:
    """A SUBMIT's source and first recipient and a report's Stat and recipient are shown as
    the bytes hold them: rows where they hold the needle are kept without a decode."""
    model = captures["generated"]
    first = next(r for r in range(model.count) if model.command_id[r] == C.CMPP_SUBMIT)
    dest = model.record_dict(first)["fields"]["Dest_terminal_Id"][0]
    logins = sum(int(c) in (C.CMPP_CONNECT, C.CMPP_CONNECT_RESP)
                 for c in model.command_id[:model.count])
    for needle in (dest, dest[2:9], "undeliv"):
        view = fast(model, needle)
        want = [row for row, line in enumerate(lines["generated"]) if needle in line]
        assert first in want or needle == "undeliv"
        assert list(view.matched) == want != [] and view.decoded <= logins, needle


def test_a_result_name_needs_no_decode(
        captures: dict[str, CaptureModel], lines: dict[str, list[str]]) -> None:
    """A response's result is read from the bytes; a needle in every text its code may show
    (either version's name) keeps the row without a decode."""
    from cmppdissect.tui import summary

    model = captures["generated"]
    failed = next(r for r in range(model.count) if model.command_id[r] == C.CMPP_SUBMIT_RESP
                  and model.pdu(r).fields["Result"] != 0)
    _code, name = summary.result(model.pdu(failed)) or (0, "")
    logins = sum(int(c) in (C.CMPP_CONNECT, C.CMPP_CONNECT_RESP)
                 for c in model.command_id[:model.count])
    for needle in (name.lower()[:-1], name.lower()[1:-1]):  # "r" may begin "report "
        view = fast(model, needle)
        want = [row for row, line in enumerate(lines["generated"]) if needle in line]
        assert failed in want and list(view.matched) == want, needle
        assert view.decoded <= logins, needle


@pytest.mark.parametrize(("needle", "most"), [
    ("没有这段话", 0.01), ("zzzz", 0.01), ("8613800138000", 0.5), ("验证码", 0.2),
    ("submit", 0.01), ("submit_resp", 0.01), ("13999999999", 0.01),
])
def test_column_path_decodes_few_rows(needle: str, most: float,
                                      captures: dict[str, CaptureModel]) -> None:
    """Only logins (their lines are all decoded words) and rows whose bytes hold the needle
    are decoded: ``most`` of the rows at most, and no more than it finds plus the logins."""
    model = captures["generated"]
    view = fast(model, needle)
    logins = sum(int(c) in (C.CMPP_CONNECT, C.CMPP_CONNECT_RESP)
                 for c in model.command_id[:model.count])
    assert view.decoded <= most * model.count
    assert view.decoded <= len(view) + logins or needle == "8613800138000"
