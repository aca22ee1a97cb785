"""How one record reads as a line of ``-T text``, ``-T csv`` or ``-T fields``.

Every line is made from the record schema's dict (:func:`cmppdissect.store.schema.record_dict`),
so a line shows what a filter reads. A :class:`LineFormat` is plain values, pickled to the
writer's worker processes; what it compiles (the field getters) is compiled again where it is
used.

Text from the wire is untrusted everywhere: a text line passes it through
:func:`~cmppdissect.output.sanitize.safe_text`; a CSV or fields cell that a spreadsheet would
run as a formula (``=``, ``+``, ``-``, ``@``, or a tab or carriage return first) gets a leading
``'``, as OWASP recommends, and control characters are escaped as in text.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cmppdissect.output.sanitize import safe_text

__all__ = ["CSV_COLUMNS", "TIME_FORMATS", "LineFormat", "TimeFormat", "csv_cell",
           "field_getters", "fields_line", "text_line"]

#: ``-T csv`` without ``-e``: where and when, the header, the pair, then what a gateway
#: engineer filters on (Result, Msg_Id, the addresses, a report's Stat, the text).
CSV_COLUMNS = ("frame", "time", "session", "src", "dst", "version", "command", "sequence_id",
               "total_length", "request_frame", "response_frame", "latency_ms", "Result",
               "Status", "Msg_Id", "Src_Id", "Src_terminal_Id", "Dest_Id", "Dest_terminal_Id",
               "Stat", "text")

#: ``-t``: tshark's letters. r: seconds since the first PDU (the default), a: local time of
#: day, ad: local date and time, u / ud: the same in UTC, e: seconds since 1970, d: seconds
#: since the previous line shown.
TIME_FORMATS = ("r", "a", "ad", "u", "ud", "e", "d")


@dataclass(frozen=True, slots=True)
class LineFormat:
    """How records become lines: the ``-T`` format and the options that shape its lines."""

    fmt: str
    time: str | None = None  # -t; None: text counts from the first PDU, csv/fields epoch
    fields: tuple[str, ...] = ()  # -e, in order (csv and fields)
    header: bool = False  # -E header=y (csv always has one)
    separator: str = "\t"  # -E separator
    quote: str = "n"  # -E quote: d(ouble), s(ingle), n(one)
    aggregator: str = ","  # -E aggregator: between the values of a field with several
    occurrence: str = "a"  # -E occurrence: f(irst), l(ast), a(ll)
    base_ns: int | None = field(default=None, compare=False)  # -t r: the first PDU's time

    def with_base(self, base_ns: int) -> LineFormat:
        from dataclasses import replace

        return replace(self, base_ns=base_ns)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.fields or CSV_COLUMNS


class TimeFormat:
    """The time column of a text line, per ``-t``; ``d`` remembers the previous line's time,
    so one object serves one stream of lines in order."""

    def __init__(self, letters: str, base_ns: int | None) -> None:
        if letters not in TIME_FORMATS:
            raise ValueError(f"-t {letters}: one of {', '.join(TIME_FORMATS)}")
        self.letters = letters
        self.base_ns = base_ns
        self.prev_ns: int | None = None

    def __call__(self, ts_ns: int) -> str:
        letters = self.letters
        if letters == "r":
            if self.base_ns is None:
                self.base_ns = ts_ns
            return _seconds(ts_ns - self.base_ns)
        if letters == "d":
            prev, self.prev_ns = self.prev_ns, ts_ns
            return _seconds(0 if prev is None else ts_ns - prev)
        if letters == "e":
            return _seconds(ts_ns)
        seconds, rest = divmod(ts_ns, 1_000_000_000)
        try:
            when = time.gmtime(seconds) if letters.startswith("u") else time.localtime(seconds)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S" if letters.endswith("d")
                                  else "%H:%M:%S", when)
        except (OverflowError, OSError, ValueError):  # beyond the platform's calendar
            return _seconds(ts_ns)
        return f"{stamp}.{rest // 1000:06d}"


def _seconds(ns: int) -> str:
    """Seconds with six decimals from integer nanoseconds (no float rounding of big times)."""
    sign = "-" if ns < 0 else ""
    whole, rest = divmod(abs(ns), 1_000_000_000)
    return f"{sign}{whole}.{rest // 1000:06d}"


# -- -T text -----------------------------------------------------------------------------------


def text_line(d: dict[str, Any], ts_ns: int, clock: TimeFormat | None = None) -> str:
    """One PDU as a line of ``-T text``: number, time, who to whom, the command and
    Sequence_Id, then what one filters on: the Result with its name, a report's Stat, and the
    answer (``answered in #19 after 6.00 ms``, ``6.00 ms after #18``, ``no response``), then
    the SMS text."""
    from cmppdissect.protocol.layouts import RESULT_FIELDS
    from cmppdissect.protocol.results import result_name

    fields = d["fields"] if isinstance(d.get("fields"), dict) else {}
    codes = {e.get("code") for e in d.get("expert") or () if isinstance(e, dict)}
    parts = [f"{d['frame']:>7} {(clock or TimeFormat('r', ts_ns))(ts_ns)} "
             f"{safe_text(d['src'])} -> {safe_text(d['dst'])} {d['command']} "
             f"seq={d['sequence_id']}"]
    for name in RESULT_FIELDS:
        code = fields.get(name)
        if isinstance(code, int):
            meaning = result_name(d["command"], code)
            parts.append(f"{name}={code}" + (f" ({meaning})" if meaning else ""))
            break
    report = fields.get("report")
    if isinstance(report, dict) and "Stat" in report:
        parts.append(f"Stat={safe_text(str(report['Stat']))}")
    if "request_frame" in d:
        parts.append(f"[{d['latency_ms']:.2f} ms after #{d['request_frame']}]")
    elif "response_frame" in d:
        parts.append(f"[answered in #{d['response_frame']} after {d['latency_ms']:.2f} ms]")
    elif "unanswered" in codes:
        parts.append("[no response]")
    elif "orphan-response" in codes:
        parts.append("[no request]")
    text = fields.get("text")
    if isinstance(text, str):
        parts.append(f"“{safe_text(text)}”")
    return " ".join(parts) + "\n"


# -- -T csv and -T fields ----------------------------------------------------------------------


def csv_cell(value: Any, aggregator: str = ",", occurrence: str = "a") -> str:
    """One cell: a field's values (``occurrence`` picks first, last or all, joined by
    ``aggregator``), safe for a terminal and a spreadsheet."""
    values = value if isinstance(value, list) else [] if value is None else [value]
    if occurrence == "f":
        values = values[:1]
    elif occurrence == "l":
        values = values[-1:]
    text = aggregator.join(_plain(v) for v in values)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(values):
        text = "'" + text  # a formula in a spreadsheet: shown as text instead
    return safe_text(text)


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") if value != int(value) else str(value)
    if isinstance(value, dict):
        from cmppdissect.output.records import dumps

        return dumps(value)
    return str(value)


def _number(values: list[Any]) -> bool:
    """One number (ours are never formulas, and a negative one must stay a number)."""
    return len(values) == 1 and isinstance(values[0], (int, float)) and \
        not isinstance(values[0], bool)


@lru_cache(maxsize=64)
def field_getters(names: tuple[str, ...]) -> tuple[Callable[[dict[str, Any]], list[Any]], ...]:
    """A getter per ``-e`` name, by the display filter's own rules (one place resolves
    names: ``Msg_Id``, ``cmpp.Result``, ``report.Stat``, ``ip.src``, ``latency_ms``)."""
    from cmppdissect.query.dfilter import compile_field

    return tuple(compile_field(name) for name in names)


def fields_line(d: dict[str, Any], ts_ns: int, spec: LineFormat,
                clock: TimeFormat | None = None) -> str:
    """One record as ``-T fields`` (or ``-T csv``) cells in ``spec``'s columns."""
    cells: list[str] = []
    for name, get in zip(spec.columns, field_getters(spec.columns), strict=True):
        if name == "time":
            cells.append(clock(ts_ns) if clock is not None else _seconds(ts_ns))
        else:
            cells.append(csv_cell(get(d), spec.aggregator, spec.occurrence))
    if spec.fmt == "csv":
        return csv_row(cells)
    quote = {"d": '"', "s": "'"}.get(spec.quote, "")
    return spec.separator.join(f"{quote}{c}{quote}" for c in cells) + "\n"


def csv_row(cells: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


def header_line(spec: LineFormat) -> str:
    """The column names (``-T csv`` always; ``-T fields`` with ``-E header=y``)."""
    if spec.fmt == "csv":
        return csv_row(spec.columns)
    quote = {"d": '"', "s": "'"}.get(spec.quote, "")
    return spec.separator.join(f"{quote}{c}{quote}" for c in spec.columns) + "\n"
