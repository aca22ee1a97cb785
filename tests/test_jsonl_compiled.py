"""The compiled ``-T jsonl`` writer against the record schema, byte for byte.

``cmppdissect/output/_jsonl.pyx`` writes the line of a plain PDU straight from its bytes; every
other PDU's line comes from :func:`record_dict` and :func:`dumps_line`. Both must give the
same bytes for every PDU type of both versions, hostile text, every content and report shape,
any timestamp, and every kind of finding the engine adds; and the compiled path must really
serve the everyday PDUs (a writer that fell back on everything would pass the rest).
These are core tests: the rows are built in memory, no capture file is read.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import ALL_PDUS, field_values, report_values

from cmppdissect.api import analyze
from cmppdissect.engine import findings as words
from cmppdissect.output import _jsonl
from cmppdissect.output.records import _text_keys, dumps_line, jsonl_slice
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_fields, encode_pdu
from cmppdissect.protocol.layouts import (
    LAYOUTS,
    MO_REPORT,
    REPORT_60,
    REPORT_71,
    REPORT_LAYOUTS,
    Kind,
    Layout,
)
from cmppdissect.protocol.version import Version
from cmppdissect.store.records import LongSms, RowSlice, records_of
from cmppdissect.store.schema import record_dict
from cmppdissect.store.store import FROM_CLIENT, UNANSWERED

SAMPLES = sorted(Path(__file__).resolve().parent.parent.joinpath("samples").glob("*.pcap*"))
HINTS = (20, 30, 0)
V = {Version.V2_0: 20, Version.V3_0: 30}


def make_slice(pdus: list[bytes], hints: list[int] | int, **kw: Any) -> RowSlice:
    n = len(pdus)
    values: dict[str, Any] = {
        "start": 100, "raw": b"".join(pdus), "length": [len(p) for p in pdus],
        "frame": [10 + i for i in range(n)], "ts": [1_764_000_000_123_456_789 + i * 997_001
                                                    for i in range(n)],
        "session": [i % 2 for i in range(n)], "flags": [FROM_CLIENT * (i % 3 != 0)
                                                        for i in range(n)],
        "latency": [1_234_567 + i for i in range(n)], "partner_frame": [-1] * n,
        "hint": hints if isinstance(hints, list) else [hints] * n,
        "endpoints": {0: ("192.0.2.1:40000", "198.51.100.7:7890"),
                      1: ("[2001:db8::1]:40001", "[2001:db8::2]:7890")},
        "findings": {}, "report_for": {}, "long_sms": {}, "done": False,
    }
    values.update(kw)
    return RowSlice(**values)


def python_lines(sl: RowSlice) -> bytes:
    return b"".join(dumps_line(record_dict(rec)) for rec in records_of(sl))


def compiled_lines(sl: RowSlice) -> tuple[bytes, int]:
    """The compiled writer's lines, and how many rows it left to the Python path."""
    fallbacks = 0
    lines, _count = jsonl_slice(sl)

    def fallback(index: int, pos: int) -> bytes:
        nonlocal fallbacks
        fallbacks += 1
        return b"<fallback>\n"

    def tail(*args: Any) -> bytes:
        return b'"expert":[]'

    _jsonl.emit(sl, _text_keys, tail, fallback)
    return lines, fallbacks


def same(sl: RowSlice) -> int:
    """Assert both writers agree on ``sl``; return how many rows the compiled one handed back."""
    lines, fallbacks = compiled_lines(sl)
    expected = python_lines(sl)
    if lines != expected:
        for mine, theirs in zip(lines.splitlines(), expected.splitlines(), strict=True):
            assert mine == theirs
    assert lines.count(b"\n") == len(sl)
    return fallbacks


@pytest.mark.parametrize(("command_id", "version"), ALL_PDUS,
                         ids=[f"{C(c).name}-{v}" for c, v in ALL_PDUS])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_layout_with_random_fields(command_id: int, version: Version,
                                         data: st.DataObject) -> None:
    """Random field values (any byte in any string) under every session version."""
    pdus = [encode_pdu(command_id, data.draw(st.integers(0, 2**32 - 1)),
                       data.draw(field_values(LAYOUTS[(command_id, version)])), version)
            for _ in range(3)]
    for hint in HINTS:
        same(make_slice(pdus, hint))


@pytest.mark.parametrize(("command_id", "version"), ALL_PDUS,
                         ids=[f"{C(c).name}-{v}" for c, v in ALL_PDUS])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_cut_short_too_long_and_lying(command_id: int, version: Version,
                                      data: st.DataObject) -> None:
    """Bodies cut at any length, with extra bytes, or with a Total_Length that lies."""
    pdu = encode_pdu(command_id, 1, data.draw(field_values(LAYOUTS[(command_id, version)])),
                     version)
    body = pdu[12:]
    cut = data.draw(st.integers(0, len(body)))
    extra = data.draw(st.binary(max_size=40))
    lie = data.draw(st.integers(0, 2**32 - 1))
    pdus = [struct.pack(">III", 12 + len(b), command_id, 1) + b for b in (body[:cut], body + extra)]
    pdus.append(struct.pack(">III", lie, command_id, 1) + body)
    pdus.append(pdu[:data.draw(st.integers(0, 11))])
    for hint in HINTS:
        same(make_slice(pdus, hint))


def test_every_byte_in_every_kind_of_string() -> None:
    """Each byte value in an Octet String, a number, a recipient and a report: control
    characters, quotes, backslashes, DEL, bytes above 0x7F; numbers with and without their
    NUL; NULs inside a value."""
    pdus = []
    for b in range(256):
        byte = bytes([b])
        for version in Version:
            pdus.append(encode_pdu(C.CMPP_SUBMIT, b, {
                "Service_Id": b"a" + byte + b"z", "Msg_src": byte * 6,
                "Src_Id": b"1065" + byte, "FeeCode": byte + b"\0" + byte,
                "Dest_terminal_Id": [b"139" + byte, b"x" * (21 if version is Version.V2_0
                                                            else 32)],
                "Msg_Fmt": 0, "Msg_Content": b"hello"}, version))
            report = {"Stat": b"DELIV" + byte, "Submit_time": byte * 10,
                      "Dest_terminal_Id": b"138" + byte,
                      "_size": 60 if version is Version.V2_0 else 71}
            pdus.append(encode_pdu(C.CMPP_DELIVER, b, {
                "Registered_Delivery": 1, "Src_terminal_Id": b"139" + byte,
                "Msg_Content": report}, version))
    for hint in HINTS:
        same(make_slice(pdus, hint))


@settings(max_examples=200, deadline=None)
@given(version=st.sampled_from(list(Version)), fmt=st.sampled_from([0, 3, 4, 8, 15, 0xF5, 25]),
       udhi=st.sampled_from([0, 1, 0x40, 0x41, 2]), content=st.binary(max_size=200),
       dests=st.integers(0, 3), pk=st.tuples(st.integers(0, 4), st.integers(0, 4)),
       rd=st.integers(0, 3),
       udh=st.one_of(st.none(), st.tuples(st.sampled_from([0, 8, 4, 5, 0x24]),
                                          st.integers(0, 5), st.binary(max_size=6))))
def test_submit_and_deliver_contents(version: Version, fmt: int, udhi: int, content: bytes,
                                     dests: int, pk: tuple[int, int], rd: int,
                                     udh: tuple[int, int, bytes] | None) -> None:
    """Every text format, UDH shape, Pk_* value, recipient count and Registered_Delivery the
    decoder has a finding for (and Msg_Length over its limit)."""
    if udh is not None:
        iei, iedl, data = udh
        content = bytes([2 + len(data), iei, iedl]) + data + content
    content = content[:255]
    submit = encode_pdu(C.CMPP_SUBMIT, 7, {
        "Msg_Fmt": fmt, "TP_udhi": udhi, "Msg_Content": content, "Pk_total": pk[0],
        "Pk_number": pk[1], "Registered_Delivery": rd,
        "Dest_terminal_Id": [b"1380013800%d" % i for i in range(dests)]}, version)
    deliver = encode_pdu(C.CMPP_DELIVER, 8, {
        "Msg_Fmt": fmt, "TP_udhi": udhi, "Msg_Content": content, "Registered_Delivery": 0,
        "Src_terminal_Id": b"13900139000"}, version)
    for hint in HINTS:
        same(make_slice([submit, deliver], hint))


_ESCAPED = ("plain", "中文短信", "\u202eevil\u202c", "a\x85b\x7fc", "line\u2028sep",
            "\U0001F600 emoji", "tab\tnew\nline")
_CODECS = {8: "utf-16-be", 15: "gb18030", 0: "latin-1"}


def _encodable() -> list[tuple[str, int]]:
    out = []
    for fmt, codec in _CODECS.items():
        for text in _ESCAPED:
            try:
                text.encode(codec)
            except UnicodeEncodeError:
                continue
            out.append((text, fmt))
    return out


@pytest.mark.parametrize(("text", "fmt"), _encodable())
def test_text_that_must_be_escaped(text: str, fmt: int) -> None:
    """Content whose text holds C1, bidi or separator characters: escaped alike."""
    raw = text.encode(_CODECS[fmt])
    pdu = encode_pdu(C.CMPP_DELIVER, 1, {"Msg_Fmt": fmt, "Msg_Content": raw[:140],
                                         "Src_terminal_Id": b"1390"}, Version.V3_0)
    same(make_slice([pdu, b"\x00\x00\x00\x0c\x00\x00\x00\x08\x00\x00\x00\x01"], 30))


@settings(max_examples=150, deadline=None)
@given(version=st.sampled_from(list(Version)), size=st.sampled_from([60, 71, 65]),
       data=st.data(), registered=st.sampled_from([0, 1, 2]), fwd_type=st.integers(0, 4))
def test_status_reports_of_every_size(version: Version, size: int, data: st.DataObject,
                                      registered: int, fwd_type: int) -> None:
    """Reports of both sizes in both versions (D3), odd sizes, FWD's report kinds."""
    layout = REPORT_60 if size == 60 else REPORT_71
    report = encode_fields(layout, data.draw(report_values(min(size, 71) if size != 65
                                                           else 60)))
    report = (report + b"\0" * size)[:size]
    deliver = encode_pdu(C.CMPP_DELIVER, 3, {"Registered_Delivery": registered,
                                             "Msg_Content": report}, version)
    mo = encode_fields(MO_REPORT, {"Stat": b"DELIVRD", "Dest_Id": b"1065"})
    fwds = [encode_pdu(C.CMPP_FWD, 4, {"Msg_Fwd_Type": fwd_type, "DestUsr_tl": 1,
                                       "Dest_Id": [b"139"], "Msg_Content": body}, version)
            for body in (report, mo)]
    for hint in HINTS:
        same(make_slice([deliver, *fwds], hint))


def wide(layout: Layout) -> list[str]:
    """The layout's 64-bit fields: Unsigned Integers of 8 bytes (read off the layout here, not
    asked of the code under test)."""
    return [f.name for f in layout.fields if f.kind is Kind.UINT and f.size == 8]


WIDE = sorted(key for key, layout in LAYOUTS.items() if wide(layout))
U64_VALUES = (0, 1, 2**53 + 1, 13558350566173507684, 2**64 - 1)


def test_the_64_bit_layouts_are_those_of_the_msg_ids() -> None:
    """What the parametrisation below covers: every command that carries a Msg_Id, in both
    versions, and every report layout (each carries one too)."""
    assert {(C(c).name, v) for c, v in WIDE} == {
        (name, v) for name in ("CMPP_SUBMIT", "CMPP_SUBMIT_RESP", "CMPP_DELIVER",
                               "CMPP_DELIVER_RESP", "CMPP_CANCEL", "CMPP_FWD", "CMPP_FWD_RESP")
        for v in Version}
    assert all(wide(layout) == ["Msg_Id"] for layout in REPORT_LAYOUTS)


@pytest.mark.parametrize(("command_id", "version"), WIDE,
                         ids=[f"{C(c).name}-{v}" for c, v in WIDE])
def test_64_bit_values_are_decimal_strings_in_both_writers(command_id: int,
                                                            version: Version) -> None:
    """Every layout with an 8-byte UInt, in both versions, and the reports inside DELIVER and
    FWD: both writers give the same lines, the compiled one serves them all, and each 64-bit
    value is its decimal string whatever its size (0 too), which a reader that turns every
    number into a double still reads exactly; the Msg_Id parts stay numbers."""
    layout = LAYOUTS[(command_id, version)]
    names = wide(layout)
    pdus: list[bytes] = []
    expected: list[tuple[int, str | None]] = []  # (value, the report's Msg_Id or None)
    reports_seen: set[str] = set()
    for value in U64_VALUES:
        fields: dict[str, Any] = {name: value for name in names}
        fields["Msg_Content"] = b"hi"
        for f in layout.fields:  # numbers NUL-terminated, one recipient: no finding
            if f.kind is Kind.STR_ARRAY:
                fields[f.name] = [b"13800138000"]
            elif f.nul_expected:
                fields[f.name] = b"13900139000"
        variants: list[tuple[dict[str, Any], Layout | None]] = [({}, None)]
        if layout.content_rule == "deliver":
            rep = REPORT_60 if version is Version.V2_0 else REPORT_71  # no report-version
            variants.append(({"Registered_Delivery": 1}, rep))
        elif layout.content_rule == "fwd":
            variants += [({"Msg_Fwd_Type": 2}, REPORT_60), ({"Msg_Fwd_Type": 2}, REPORT_71),
                         ({"Msg_Fwd_Type": 3}, MO_REPORT)]
        for extra, rep in variants:
            body = dict(fields, **extra)
            if rep is not None:
                report_value = U64_VALUES[-1] - value  # not the PDU's own value
                body["Msg_Content"] = encode_fields(rep, {
                    "Msg_Id": report_value, "Stat": b"DELIVRD",
                    "Dest_terminal_Id": b"13800138000", "Dest_Id": b"1065"})
                reports_seen.add(rep.name)
            pdus.append(encode_pdu(command_id, len(pdus) + 1, body, version))
            expected.append((value, None if rep is None else str(report_value)))
    sl = make_slice(pdus, V[version])
    assert same(sl) == 0  # equal lines, every one from the compiled writer
    lines = jsonl_slice(sl)[0].splitlines()
    assert lines == python_lines(sl).splitlines()
    for line, (value, report_id) in zip(lines, expected, strict=True):
        for name in names:
            assert f'"{name}":"{value}"'.encode() in line
        rec = json.loads(line, parse_int=float)  # a reader that holds numbers as doubles
        assert all(rec["fields"][name] == str(value) for name in names)
        assert all(type(n) is float for n in rec["fields"]["Msg_Id_parts"].values())
        if report_id is None:
            assert "report" not in rec["fields"]
        else:
            assert rec["fields"]["report"]["Msg_Id"] == report_id
            assert b'"report":{"Msg_Id":"%s",' % report_id.encode() in line
    if layout.content_rule == "deliver":
        assert len(reports_seen) == 1
    elif layout.content_rule == "fwd":
        assert reports_seen == {rep.name for rep in REPORT_LAYOUTS}


@settings(max_examples=300, deadline=None)
@given(ts=st.integers(-(2**63), 2**63 - 1), latency=st.integers(-(2**63), 2**63 - 1),
       small=st.integers(-10**9, 10**9))
def test_any_time_and_latency(ts: int, latency: int, small: int) -> None:
    """Timestamps and latencies anywhere in 64 bits: the same digits as orjson writes."""
    req = encode_pdu(C.CMPP_ACTIVE_TEST, 5, {}, Version.V2_0)
    resp = encode_pdu(C.CMPP_ACTIVE_TEST_RESP, 5, {}, Version.V2_0)
    sl = make_slice([req, resp, req, resp], 20, ts=[ts, small, ts // 7, small * 1013],
                    latency=[latency, latency, small, 0], partner_frame=[11, 10, 13, 12])
    assert same(sl) == 0


def test_engine_findings_unanswered_reports_and_long_sms() -> None:
    """Rows with the engine's own findings, a matched report, a completed long message and
    requests left unanswered (at the end, and given up on before it)."""
    v = Version.V3_0
    report = {"Stat": b"DELIVRD", "Dest_terminal_Id": b"13800138000", "_size": 71}
    pdus = [
        encode_pdu(C.CMPP_SUBMIT, 1, {"Msg_Fmt": 8, "Msg_Content": "你好".encode("utf-16-be"),
                                      "Dest_terminal_Id": [b"13800138000"]}, v),
        encode_pdu(C.CMPP_DELIVER, 2, {"Registered_Delivery": 1, "Msg_Content": report}, v),
        encode_pdu(C.CMPP_ACTIVE_TEST, 3, {}, v),
        encode_pdu(C.CMPP_ACTIVE_TEST, 4, {}, v),
        encode_pdu(C.CMPP_SUBMIT_RESP, 9, {"Result": 8}, v),
    ]
    long_msg = LongSms(7, 2, [10, 11], ((8, "长".encode("utf-16-be"), "长"),
                                          (8, "信".encode("utf-16-be"), "信")))
    found = words.report_for_finding(b"X", 3)
    for done in (False, True):
        sl = make_slice(pdus, 30, findings={104: [found]}, report_for={101: 10},
                        long_sms={100: long_msg}, done=done,
                        flags=[FROM_CLIENT, 0, FROM_CLIENT | UNANSWERED, FROM_CLIENT, 0])
        assert same(sl) == 0
        lines = jsonl_slice(sl)[0].splitlines()
        assert b'"long_sms":{"reference":7,"total":2,"frames":[10,11],"text":"\xe9\x95\xbf' \
            in lines[0]
        assert b'"code":"report-for"' in lines[1]
        assert b'"code":"unanswered"' in lines[2]
        assert (b'"code":"unanswered"' in lines[3]) is done
        assert b'"code":"report-for"' in lines[4]


def test_limit_and_count() -> None:
    pdus = [encode_pdu(C.CMPP_ACTIVE_TEST, i, {}, Version.V2_0) for i in range(10)]
    lines, count = jsonl_slice(make_slice(pdus, 20), limit=4)
    assert count == 4
    assert lines == b"".join(python_lines(make_slice(pdus, 20)).splitlines(True)[:4])


def test_lengths_beyond_the_bytes_are_refused() -> None:
    """A slice whose lengths claim more bytes than it holds is an error, not a read."""
    pdu = encode_pdu(C.CMPP_ACTIVE_TEST, 1, {}, Version.V2_0)
    sl = make_slice([pdu], 20, length=[len(pdu) + 1])
    with pytest.raises(ValueError, match="exceed"):
        jsonl_slice(sl)


LOGINS = (C.CMPP_CONNECT, C.CMPP_CONNECT_RESP)


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_samples(path: Path) -> None:
    """Every sample capture: the same lines, and the compiled writer serves the plain PDUs
    (only logins, PDUs of a session whose version is not known yet and PDUs with a finding
    of their own go back to Python)."""
    rows = handed_back = rich = 0
    for sl in analyze(path).slices():
        handed_back += same(sl)
        rows += len(sl)
        rich += sum(1 for hint, rec in zip(sl.hint, records_of(sl), strict=True)
                    if not hint or rec.pdu.Command_Id in LOGINS or rec.pdu.findings
                    or (rec.pdu.content and rec.pdu.content.findings))
    assert rows > 0
    assert handed_back <= rich


def test_endpoints_limits_and_callbacks_are_held_to_the_schema() -> None:
    """Endpoint text goes through the same escaping as the rest of a line (and one orjson
    refuses falls back); a limit below one writes nothing, as the Python path; a callback
    that returns no bytes is an error, not a read of random memory."""
    at = encode_pdu(C.CMPP_ACTIVE_TEST, 1, {}, Version.V2_0)
    hostile = make_slice([at], 20, session=[0], endpoints={0: ("\u202eevil:1", "a\x85b\u061c:2")})
    lines, fallbacks = compiled_lines(hostile)
    assert fallbacks == 0 and lines == python_lines(hostile)
    assert b"\\u202e" in lines and b"\\u0085" in lines and b"\\u061c" in lines
    surrogate = make_slice([at], 20, session=[0], endpoints={0: ("\ud800:1", "b:2")})
    assert jsonl_slice(surrogate)[0] == python_lines(surrogate)
    for limit in (0, -1):
        assert jsonl_slice(make_slice([at, at], 20), limit=limit) == (b"", 0)
    with pytest.raises(TypeError):
        _jsonl.emit(make_slice([b"\0" * 12], 20), _text_keys, lambda *a: None,
                    lambda i, pos: None)  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize("char", ["\u061c", "\u200b", "\u00ad", "\u2060", "\ufeff", "\ufff9",
                                  "\U000e0041", "\u180e", "\u202e", "\x9b", "\x7f", "\u0600",
                                  "\u06dd", "\u08e2", "\U000110bd", "\U00013430",
                                  "\U0001d173", "\u2028"])
def test_invisible_format_characters_are_escaped_in_every_json(char: str) -> None:
    """Bidi marks and invisible format characters in SMS text (UCS2 from the wire) are
    escaped by both writers (a JSON reader gets the same text back) and by safe_text."""
    from cmppdissect.output.records import dumps
    from cmppdissect.output.sanitize import safe_text

    text = f"pay{char}now"
    pdu = encode_pdu(C.CMPP_DELIVER, 1, {"Msg_Fmt": 8, "Msg_Content": text.encode("utf-16-be"),
                                         "Src_terminal_Id": b"1390"}, Version.V3_0)
    sl = make_slice([pdu], 30)
    lines, _ = compiled_lines(sl)
    assert lines == python_lines(sl)
    assert char.encode() not in lines
    assert json.loads(lines)["fields"]["text"] == text
    assert char not in dumps({"t": text}) and json.loads(dumps({"t": text}))["t"] == text
    assert char not in safe_text(text)
