"""The display filter's column path keeps exactly the rows the record path keeps.

The TUI filters a view by asking the filter first what the store's columns and raw bytes say
(:meth:`DisplayFilter.masks`), and decodes only the rows they leave open. These tests run both
ways over every sample, a generated capture and a capture of odd PDUs (bytes past a layout,
the other version's responses, reports of the other version's size, a Msg_Length that says
more than the bytes hold, non-ASCII bytes in strings), for expressions of every shape, and
compare the rows kept; they also count the decodes the column path saved.
"""

from __future__ import annotations

import importlib.util
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from pcaputil import (
    SP_ID,
    bare_pdu,
    connect_pdu,
    connect_resp_pdu,
    deliver_resp_pdu,
    mo_pdu,
    report_pdu,
    sample_msg_id,
    submit_pdu,
    submit_resp_pdu,
    write_pcap,
)

from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.version import Version
from cmppdissect.query.dfilter import compile_filter, select
from cmppdissect.store.schema import field_place, raw_patterns, report_spot
from cmppdissect.tui.app import make_app
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.source import FileSource
from cmppdissect.tui.views import (
    AllRows,
    FilteredRows,
    SessionRows,
    filter_predicate,
    filtered_view,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "samples").glob("*.pcap*"))
V2, V3 = Version.V2_0, Version.V3_0

_SPEC = importlib.util.spec_from_file_location("gen_capture", ROOT / "bench" / "gen_capture.py")
assert _SPEC is not None and _SPEC.loader is not None
gen = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("gen_capture", gen)
_SPEC.loader.exec_module(gen)

EXPRESSIONS = [
    # header keys only
    'command == "SUBMIT" and latency_ms > 1',
    "command in {SUBMIT_RESP, DELIVER_RESP} and not latency_ms < 0.5",
    "session == 1 or frame < 40",
    "sequence_id >= 3 && sequence_id != 7",
    "time > 0 and total_length > 100",
    'version == "3.0"',
    "request_frame",
    "not response_frame",
    "latency_ms",
    "latency_ms == 0",
    'src contains "10.0.0.1"',
    "tcp.port == 7890",
    'ip.dst == "10.0.0.2"',
    "cmpp.Command_Id == 4",
    'session == "1"',
    "frame == 12.0",
    'ip.src != "10.0.0.2" and tcp.srcport > 40000',
    "frame < 1e30",
    # body fields, numbers
    "Result != 0",
    "Result == 8 or Status != 0",
    "not Result == 0",
    "Registered_Delivery == 1 && report.Stat != \"DELIVRD\"",
    "Msg_Fmt == 8",
    "Msg_Id",
    "Msg_Id > 0 and command == DELIVER",
    "DestUsr_tl > 1",
    "Result & 8",
    "report.Msg_Id > 0 and report.SMSC_sequence != 30",
    'Stat == "REJECTD" or report.Submit_time == "2611241015"',
    "Msg_Length > 59 and not Registered_Delivery == 1",
    "Result == 5 or Result == 0 and version == \"3.0\"",
    "len(Service_Id) == 7 or Msg_Id & 1",
    # body fields, strings
    'Dest_terminal_Id == "8613800138000"',
    'Dest_terminal_Id contains "00138"',
    'Dest_terminal_Id matches "^86139"',
    "Src_terminal_Id == 8613900000001",
    'Src_Id contains "x81"',
    'Src_Id contains "8113800"',
    'Src_Id == "\\x811380"',
    'Stat == "UNDELIV"',
    'report.Stat in {"EXPIRED", "REJECTD"}',
    'not report.Stat == "DELIVRD"',
    'Stat matches "^D"',
    'Service_Id == "MVERIFY" and not Msg_Fmt == 0',
    'Source_Addr contains "90"',
    "len(Dest_terminal_Id) > 1",
    # arrays after a count (tests/_arrays)
    'Dest_terminal_Id == "8613800000071"',
    'Dest_terminal_Id == "8613800000077" and DestUsr_tl > 1',
    'Dest_terminal_Id != "8613800000071"',
    'Dest_terminal_Id contains "\\\\xe9"',
    'Dest_terminal_Id == "861380"',
    'Dest_terminal_Id matches "^8613800000072$" or Dest_Id == "1065"',
    "len(Dest_terminal_Id) == 0",
    "len(Dest_terminal_Id) >= 6",
    "Dest_terminal_Id",
    'Dest_Id contains "8613800000071"',
    # text, extras, missing names
    'text contains "验证码"',
    'text contains "TD" or text == "STOP"',
    'text matches "[0-9]{4}"',
    'text contains "好的"',
    "udh.total > 1",
    "udh",
    "Msg_Id_parts.gateway == 79101",
    "trailing",
    "long_sms",
    "expert",
    'expert.code == "unanswered"',
    "reference",
    "not Dest_terminal_Id",
    "Pk_total == 1 or sequence_id == 2",
]


def _conversation(pdus: list[tuple[bool, bytes]], client: tuple[str, int],
                  server: tuple[str, int] = ("10.0.0.2", 7890)) -> list[bytes]:
    from pcaputil import ACK, PSH, SYN, tcp_frame

    (cip, cport), (sip, sport) = client, server
    seq = {True: 1000, False: 5000}
    frames = [tcp_frame(cip, cport, sip, sport, 999, 0, SYN),
              tcp_frame(sip, sport, cip, cport, 4999, 1000, SYN | ACK),
              tcp_frame(cip, cport, sip, sport, 1000, 5000, ACK)]
    for from_client, pdu in pdus:
        a, b = ((cip, cport), (sip, sport)) if from_client else ((sip, sport), (cip, cport))
        frames.append(tcp_frame(a[0], a[1], b[0], b[1], seq[from_client],
                                seq[not from_client], PSH | ACK, pdu))
        seq[from_client] += len(pdu)
    return frames


def _cut(pdu: bytes, size: int) -> bytes:
    """The first ``size`` bytes of a PDU, its Total_Length saying so."""
    return struct.pack(">I", size) + pdu[4:size]


def _arrays(v: Version) -> list[tuple[bool, bytes]]:
    """SUBMITs and FWDs whose recipients (an array after its count) bend the layout: none, one,
    many (repeated, with bytes after a NUL, non-ASCII bytes), a count larger than the PDU holds
    (what follows is read as recipients), cut inside the array, at its start, before the count."""
    place = field_place(C.CMPP_SUBMIT, v, "Dest_terminal_Id", False)
    assert place is not None and place.array is not None
    at_count, _count, start, spec = place.array

    def submit(seq: int, dests: list[bytes], count: int | None = None) -> bytes:
        pdu = bytearray(encode_pdu(C.CMPP_SUBMIT, seq, {
            "Msg_Fmt": 0, "Src_Id": "1065700", "Dest_terminal_Id": dests,
            "Msg_Content": b"recipients 8613800000077"}, v))
        if count is not None:
            pdu[at_count] = count
        return bytes(pdu)

    many = [b"8613800000071", b"8613800000072", b"8613800000071", b"861380\x00\x0099",
            b"86\xe9138", b"8613800000077"]
    pdus = [submit(50, []), submit(51, [b"8613800000071"]), submit(52, many),
            submit(53, [b"8613800000072", b"8613800000077"], count=200),
            submit(54, many[:2], count=0),
            _cut(submit(55, many), start + 2 * spec.size + 5),
            _cut(submit(56, many), start), _cut(submit(57, many), at_count),
            encode_pdu(C.CMPP_FWD, 58, {"Source_Id": SP_ID, "Destination_Id": "079101",
                                        "Dest_Id": [b"8613800000071", b"1065"],
                                        "Msg_Content": b"fwd"}, v)]
    return [(True, pdu) for pdu in pdus]


def _odd_pcap(path: Path) -> Path:
    """Two sessions (2.0 and 3.0) of PDUs that bend the layouts."""
    frames: list[bytes] = []
    for n, v in enumerate((V2, V3)):
        high = encode_pdu(C.CMPP_SUBMIT, 20, {
            "Msg_Fmt": 15, "Src_Id": b"\x811380013800", "Dest_terminal_Id": [b"8613900000009"],
            "Msg_Content": "验证码 1234".encode("gb18030")}, v)
        group = submit_pdu(v, 21, dests=3)
        resp = submit_resp_pdu(v, 20, sample_msg_id(20), result=8)
        # the other version's SUBMIT_RESP (a Result of 1 byte in 3.0, of 4 in 2.0)
        other_resp = submit_resp_pdu(V3 if v is V2 else V2, 21, sample_msg_id(21), result=9)
        trailing = group + b"\x01\x02"  # bytes past the layout
        trailing = struct.pack(">I", len(trailing)) + trailing[4:]
        other = report_pdu(v, 30, sample_msg_id(21), "EXPIRED", size=71 if v is V2 else 60)
        # a report whose Msg_Length says more than the bytes hold: the PDU ends with it
        loose = bytearray(report_pdu(v, 31, sample_msg_id(22), "UNDELIV"))
        loose[12 + (64 if v is V2 else 76)] = 200  # Msg_Length
        del loose[len(loose) - (8 if v is V2 else 20):]  # Reserve / LinkID
        loose[:4] = struct.pack(">I", len(loose))
        # a DELIVER_RESP of the 2.0 size (in the 3.0 session: read with the 2.0 layout), and
        # a report cut short before Msg_Length (the framer takes it in 3.0)
        short_resp = _cut(deliver_resp_pdu(v, 32, result=5), 12 + 8 + 1)
        short_report = _cut(report_pdu(v, 36, sample_msg_id(23), "UNDELIV"),
                            12 + (64 if v is V2 else 76))
        # a 60-byte report after a Registered_Delivery of 0: text, no report
        no_report = bytearray(report_pdu(v, 37, sample_msg_id(24), "REJECTD", size=60))
        no_report[12 + (63 if v is V2 else 75)] = 0
        frames += _conversation([
            (True, connect_pdu(v)), (False, connect_resp_pdu(v)), *_arrays(v),
            (False, short_report), (True, short_resp), (False, bytes(no_report)),
            (True, high), (True, trailing), (False, resp), (False, other_resp),
            (True, group), (False, other), (False, bytes(loose)),
            (True, deliver_resp_pdu(v, 30)), (False, mo_pdu(v, 32, "好的，收到")),
            (False, mo_pdu(v, 33, "STOP")), (True, bare_pdu(C.CMPP_ACTIVE_TEST, 41, v)),
            (True, bare_pdu(C.CMPP_TERMINATE, 42, v)),
        ], client=(f"10.0.0.{n + 1}", 40000 + n))
    write_pcap(path, frames)
    return path


def model_of(path: Path) -> CaptureModel:
    app = make_app(FileSource(str(path)))
    app.indexer.run()  # the worker's body, in this thread
    return app.model


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CaptureModel]:
    tmp = tmp_path_factory.mktemp("columns")
    generated = tmp / "generated.pcap"
    gen.generate(generated, frames=3000, sessions=4,
                 mix=gen.Mix(unanswered=0.03, error_result=0.05, long_sms=0.08,
                             group_send=0.08))
    paths = {p.name: p for p in SAMPLES}
    paths["generated"] = generated
    paths["odd"] = _odd_pcap(tmp / "odd.pcap")
    return {name: model_of(path) for name, path in paths.items()}


def slow_rows(model: CaptureModel, expression: str) -> list[int]:
    """The record path: the filter on each row's record, row by row."""
    test = filter_predicate(model, compile_filter(expression))
    return [row for row in range(model.count) if test(row)]


def fast_view(model: CaptureModel, expression: str, base: object = None,
              budget: int = 997) -> FilteredRows:
    view = filtered_view(model, base or AllRows(model), compile_filter(expression), expression)
    while not view.caught_up:
        view.advance(budget)
    return view


def test_odd_capture_has_what_the_tests_need(captures: dict[str, CaptureModel]) -> None:
    model = captures["odd"]
    assert slow_rows(model, "trailing") and slow_rows(model, 'Stat == "EXPIRED"')
    assert slow_rows(model, 'Src_Id contains "x81"') and slow_rows(model, 'Stat == "UNDELIV"')
    assert slow_rows(model, "Result == 9")  # the other version's SUBMIT_RESP
    # the cut PDUs are rows, and their records stop where their bytes do
    assert slow_rows(model, "Registered_Delivery == 1 and not Msg_Length")
    assert slow_rows(model, 'command == DELIVER_RESP and expert.code == "layout-version-mismatch"')
    assert len(slow_rows(model, 'Registered_Delivery == 0 and text contains "REJECTD"')) == 2


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_column_path_keeps_the_rows_the_record_path_keeps(
        expression: str, captures: dict[str, CaptureModel]) -> None:
    for name, model in captures.items():
        view = fast_view(model, expression)
        assert list(view.matched) == slow_rows(model, expression), (name, expression)
        assert view.errors == 0


@pytest.mark.parametrize("expression", EXPRESSIONS[::3])
def test_column_path_over_a_session(expression: str,
                                    captures: dict[str, CaptureModel]) -> None:
    model = captures["generated"]
    sid = model.sessions[1].id
    keep = set(slow_rows(model, expression))
    view = fast_view(model, expression, SessionRows(model, sid), budget=101)
    assert list(view.matched) == [int(r) for r in model.session_rows(sid) if r in keep]


@pytest.mark.parametrize(("expression", "most"), [
    ('command == "SUBMIT" and latency_ms > 1', 0),
    # fixed fields of the body and of a status report are read where the row's own layout
    # (and report) puts them: no decode at all
    ("Result != 0", 0),
    ('Registered_Delivery == 1 && report.Stat != "DELIVRD"', 0),
    ('not report.Stat == "DELIVRD" or Msg_Fmt == 8', 0),
    ("Msg_Id > 0 and command == DELIVER", 0),
    ('Src_terminal_Id == 8613900000001', 0),
    ('Dest_terminal_Id == "8613999999999"', 0),
    ('text contains "没有这段话"', 0),
    ('Src_terminal_Id contains "1390"', 0.25),
])
def test_column_path_decodes_only_what_the_columns_cannot_answer(
        expression: str, most: float, captures: dict[str, CaptureModel]) -> None:
    """Each decode is a row the record path needs: the column path asks for a small share
    (at most ``most`` of the rows, and never more than it keeps plus a few)."""
    model = captures["generated"]
    view = fast_view(model, expression)
    assert view.decoded <= most * model.count
    assert view.decoded <= len(view) + 0.02 * model.count
    slow = FilteredRows(AllRows(model), filter_predicate(model, compile_filter(expression)),
                        expression)
    slow.advance(model.count)
    assert slow.decoded == model.count and list(slow.matched) == list(view.matched)


def test_recipients_are_read_from_the_bytes(captures: dict[str, CaptureModel]) -> None:
    """Dest_terminal_Id, an array after its count (DestUsr_tl), is read where the row's layout
    puts it: a filter on a recipient present in the capture decodes no row, in a capture of
    group sends too, and in the odd one (no recipients, a count past the PDU's end, cut
    arrays) it keeps the record path's rows."""
    model = captures["generated"]
    first = next(r for r in range(model.count) if model.command_id[r] == C.CMPP_SUBMIT)
    dest = model.record_dict(first)["fields"]["Dest_terminal_Id"][0]
    for expression in (f'Dest_terminal_Id == "{dest}"', f'Dest_terminal_Id contains "{dest[3:]}"',
                       "len(Dest_terminal_Id) > 1", "DestUsr_tl > 1 and len(Dest_terminal_Id) < 3"):
        view = fast_view(model, expression)
        assert view.decoded == 0, expression
        assert list(view.matched) == slow_rows(model, expression) != [], expression
    odd = captures["odd"]
    for expression in ('Dest_terminal_Id == "8613800000077"', "len(Dest_terminal_Id) == 0",
                       'Dest_terminal_Id == "861380"', 'Dest_terminal_Id contains "\\\\xe9"'):
        assert list(fast_view(odd, expression).matched) == slow_rows(odd, expression) != []


def test_filtered_view_still_waits_for_unsettled_rows(
        captures: dict[str, CaptureModel]) -> None:
    model = captures["cmpp-basic.pcap"]
    view = FilteredRows(AllRows(model), filter_predicate(model, compile_filter(
        "latency_ms > 0")), "x", settled=lambda row: model.frame[row] < 30,
        masks=lambda rows: compile_filter("latency_ms > 0").masks(model.columns(rows)))
    view.advance(10_000)
    assert view.caught_up and len(view) > 0 and view.scanned < model.count
    assert all(model.frame[r] < 30 for r in view.matched)


def test_settled_prefix_agrees_with_settled(captures: dict[str, CaptureModel]) -> None:
    model = captures["generated"]
    rows = np.arange(model.count, dtype=np.int64)
    assert model.settled_prefix(rows) == model.count  # indexing is over
    model.progress = type(model.progress)(None, False, False, 0, 0.0)
    try:
        model.store.done = False
        ahead = model.settled_prefix(rows)
        assert ahead == next((r for r in range(model.count) if not model.settled(r)),
                             model.count)
    finally:
        model.store.done = True


def test_a_growing_view_matches_as_rows_arrive(captures: dict[str, CaptureModel]) -> None:
    """The base grows between slices (indexing): rows found are those of the whole set."""
    model = captures["generated"]
    expression = 'Result != 0 or text contains "验证码"'
    shown = [model.count // 3]

    class Growing(AllRows):
        def __len__(self) -> int:
            return shown[0]

    view = FilteredRows(Growing(model), filter_predicate(model, compile_filter(expression)),
                        expression, masks=lambda rows: compile_filter(expression).masks(
                            model.columns(rows)))
    while shown[0] < model.count:
        view.advance(500)
        if view.caught_up:
            shown[0] = min(model.count, shown[0] + 777)
    while not view.caught_up:
        view.advance(500)
    assert list(view.matched) == slow_rows(model, expression)


def test_raw_patterns_and_spots() -> None:
    assert raw_patterns("Dest_terminal_Id", "13800") == [b"00"]  # may start inside \x..
    assert raw_patterns("Dest_terminal_Id", "+13800") == [b"+13800"]
    assert raw_patterns("Dest_terminal_Id", "中") == []  # an Octet String is ASCII
    assert raw_patterns("Dest_terminal_Id", "a\\x81") is None
    assert raw_patterns("Msg_Id", "1") is None  # a number
    assert set(raw_patterns("text", "验") or []) == {"验".encode("utf-16-be"),
                                                    "验".encode("gb18030")}
    assert raw_patterns("text", "\ufffd") is None
    for version, wide in ((V2, 21), (V3, 32)):  # an array after its count
        place = field_place(C.CMPP_SUBMIT, version, "Dest_terminal_Id", False)
        assert place is not None and place.array is not None and place.body is None
        assert (place.array[0] + 1, place.array[1].name, place.array[3].size) == (
            place.array[2], "DestUsr_tl", wide)
    nowhere = field_place(C.CMPP_SUBMIT, V3, "Stat", False)  # a SUBMIT holds no report
    assert nowhere is not None and nowhere.body is None and nowhere.switch is None
    assert field_place(0x99, V2, "Result", False) is None
    assert field_place(C.CMPP_SUBMIT_RESP, V2, "text", False) is None
    for version, size in ((V2, 1), (V3, 4)):  # Result is 1 byte in 2.0, 4 in 3.0
        place = field_place(C.CMPP_SUBMIT_RESP, version, "Result", False)
        assert place is not None and place.body is not None
        assert (place.body[0], place.body[1].size) == (20, size)
    for version in (V2, V3):
        body = field_place(C.CMPP_DELIVER, version, "Msg_Id", False)
        report = field_place(C.CMPP_DELIVER, version, "Msg_Id", True)
        assert body is not None and body.body is not None and body.body[0] == 12
        assert report is not None and report.body is None and report.switch is not None
        # a report by Msg_Content's length as cut (60 or 71 in either version), if RD is 1
        assert report_spot(report, 1, 60, "Stat")[1] == (report.content + 8,
                                                          report_spot(report, 1, 60, "Stat")[0]
                                                          .field("Stat"))  # type: ignore[union-attr]
        assert report_spot(report, 1, 71, "Stat")[1] is not None
        assert report_spot(report, 0, 60, "Stat") == (None, None)
        assert report_spot(report, 1, 59, "Stat") == (None, None)
        assert report_spot(report, 1, 60, "Service_Id")[1] is None  # a report without it


def test_sp_id_in_the_odd_capture(captures: dict[str, CaptureModel]) -> None:
    model = captures["odd"]
    expression = f'Source_Addr == "{SP_ID}"'
    assert fast_view(model, expression).matched.tolist() == slow_rows(model, expression) != []


@pytest.mark.parametrize("expression", EXPRESSIONS[1::4])
def test_reports_and_the_tui_select_the_same_rows(expression: str, tmp_path: Path) -> None:
    """``-Y`` reports and ``-z`` (Analysis.matching_rows) and the TUI's filtered view go
    through one selection (query.dfilter.select): the same rows, the record path's."""
    import cmppdissect

    path = _odd_pcap(tmp_path / "odd.pcap")
    analysis = cmppdissect.analyze(path)
    analysis.start(keep_rows=True)
    analysis.run()
    model = model_of(path)
    rows = analysis.matching_rows(expression).tolist()
    assert rows == list(fast_view(model, expression).matched) == slow_rows(model, expression)


def test_select_counts_errors_when_tolerant_and_raises_otherwise() -> None:
    def masks() -> tuple[np.ndarray, np.ndarray]:
        return np.array([True, True, True, False]), np.array([True, False, False, False])

    def test(i: int) -> bool:
        if i == 2:
            raise ValueError("a broken row")
        return True

    got = select(4, masks, test, tolerant=True)
    assert got.keep.tolist() == [True, True, False, False]
    assert (got.decoded, got.errors) == (2, 1)
    with pytest.raises(ValueError, match="broken row"):
        select(4, masks, test)

    def broken() -> tuple[np.ndarray, np.ndarray]:
        raise RuntimeError("no columns")

    got = select(3, broken, lambda i: i != 1, tolerant=True)  # every row asks the test
    assert got.keep.tolist() == [True, False, True] and (got.decoded, got.errors) == (3, 1)
    with pytest.raises(RuntimeError):
        select(3, broken, lambda i: True)
