"""Search (``/``): the rows of a view whose line holds a text, without decoding most of them.

What a row's line is, for search, is :func:`search_text`: frame, command, Sequence_Id, the
endpoints (all from the store's columns), then the key fields and the result (decoded), in
lower case. Deciding that for every row by decoding it took 10 s on 500,000 PDUs, so
:func:`search_masks` decides from the columns and the bytes first, as the display filter's
column path does (:meth:`~cmppdissect.query.dfilter.DisplayFilter.masks`):

* the part from the columns is matched as it is, so a needle found there is a sure match;
* the rest of the line is the PDU's own text (strings as ASCII, message text in one of the
  content codecs) plus what :data:`~cmppdissect.tui.summary.DERIVED` says the line adds
  (words, code names, numbers, escapes). A needle that overlaps none of the added words can
  only be found where the PDU's bytes (ASCII letters in lower case) hold it in one of the
  codecs, past an escape's tail at most; a needle of digits can also be a field's number,
  read from the bytes at its offsets. Any other row is left to the decode.

The same rows as the row-by-row search, by construction and by test
(``tests/test_search_columns.py``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cmppdissect.output.sanitize import UNSAFE_RANGES
from cmppdissect.protocol.commands import command_name
from cmppdissect.store.records import RecordColumns
from cmppdissect.store.schema import TEXT_CODECS
from cmppdissect.tui import summary
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.views import Masks

__all__ = ["holds_digits", "search_masks", "search_predicate", "search_text"]


def line_head(model: CaptureModel, row: int) -> str:
    """The part of a row's search line that the columns give (lower case)."""
    src, dst = model.endpoints(row)
    return (f"{model.frame[row]} {command_name(int(model.command_id[row]))} "
            f"{model.sequence_id[row]} {src} {dst}").lower()


def search_text(model: CaptureModel, row: int) -> str:
    """What ``/`` searches in a row: the columns a user reads, in lower case."""
    pdu = model.pdu(row)
    res = summary.result(pdu)
    tail = f"{summary.info(pdu)} {'' if res is None else f'{res[0]} {res[1]}'}".lower()
    return f"{line_head(model, row)} {tail}"


def search_predicate(model: CaptureModel, needle: str) -> Callable[[int], bool]:
    """The row-by-row search: decodes the row."""
    return lambda row: needle in search_text(model, row)


@functools.cache
def _lowering() -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """Characters some other character lowers into, and for each ASCII one the non-ASCII
    characters that lower into it (``İ`` into ``i``, the Kelvin sign into ``k``). Every code
    point lowered in one string: only ``İ`` lowers into two characters, so the rest line up."""
    expands = "\u0130"
    codes = np.arange(0x110000, dtype=np.uint32)
    codes = codes[((codes < 0xD800) | (codes >= 0xE000)) & (codes != ord(expands))]
    every = codes.tobytes().decode("utf-32-le")
    lowered = every.lower()
    if len(lowered) != len(every):  # pragma: no cover - a Unicode with another expansion
        raise RuntimeError("lower() expands more than U+0130")
    before = np.frombuffer(every.encode("utf-32-le"), dtype=np.uint32)
    after = np.frombuffer(lowered.encode("utf-32-le"), dtype=np.uint32)
    changed = before != after
    targets = {chr(c) for c in np.unique(after[changed]).tolist()} | set(expands.lower())
    ascii_from: dict[str, set[str]] = {c: {expands} for c in expands.lower() if c.isascii()}
    for low, high in zip(after[changed & (after < 0x80) & (before >= 0x80)].tolist(),
                         before[changed & (after < 0x80) & (before >= 0x80)].tolist(),
                         strict=True):
        ascii_from.setdefault(chr(low), set()).add(chr(high))
    return frozenset(targets), {c: frozenset(s) for c, s in ascii_from.items()}


def holds_digits(values: np.ndarray, needle: str) -> np.ndarray:
    """Which of unsigned ``values`` show the digits ``needle`` in decimal (``str(v)``), in
    numpy: a window of ``len(needle)`` digits at each place that is inside the number, the
    numbers divided by ten from one place to the next, as far as the largest one has digits
    (frames and Sequence_Ids have too few for a long needle: no place at all)."""
    width = len(needle)
    hit = np.zeros(len(values), dtype=bool)
    if width > 20 or not len(values) or int(needle) >= 1 << 64:
        return hit
    want = np.uint64(int(needle))
    unit = np.uint64(10 ** width) if width < 20 else None
    # ``cur`` holds the numbers divided by 10 ** place: the window at that place is inside the
    # number when what is left has ``width`` digits (any number shows "0" at place 0)
    low = np.uint64(10 ** (width - 1))
    cur = values.astype(np.uint64)
    ten = np.uint64(10)
    for place in range(len(str(int(cur.max()))) - width + 1):
        window = cur if unit is None else cur % unit
        hit |= (window == want) if width == 1 and place == 0 else (window == want) & (cur >= low)
        cur = cur // ten
    return hit


@functools.cache
def _escape_tails() -> frozenset[str]:
    """Every tail of an escape the line may hold, lower case and without its backslash:
    ``x81`` and ``81`` and ``1`` of ``\\x81`` (safe_text's escapes, and the ASCII reading's
    of bytes above 0x7F)."""
    codes = [c for lo, hi in UNSAFE_RANGES for c in range(lo, hi + 1)] + list(range(0x80, 0x100))
    tails: set[str] = set()
    for code in codes:
        text = (f"x{code:02x}" if code < 0x100 else
                f"u{code:04x}" if code < 0x10000 else f"u{code:08x}")
        tails.update(text[j:] for j in range(len(text)))
    return frozenset(tails)


@dataclass(frozen=True, slots=True)
class _Needle:
    text: str
    patterns: tuple[bytes, ...]  # one of them is in a row's lowered bytes if the text is


def _needle(text: str) -> _Needle | None:
    """The byte patterns of a needle, or None when bytes cannot rule a row out (a backslash,
    a character lowering can make from another, or a needle an escape's tail could be)."""
    targets, ascii_from = _lowering()
    if not text or "\\" in text or "\ufffd" in text:
        return None
    if any(not c.isascii() and c in targets for c in text):
        return None
    if any(lo <= ord(c) <= hi for c in text for lo, hi in UNSAFE_RANGES):
        return None
    tails = _escape_tails()
    rests = [text]
    for k in range(1, min(len(text), 10) + 1):
        if text[:k] in tails:
            if k == len(text):
                return None
            rests.append(text[k:])
    found: set[bytes] = set()
    for rest in rests:
        # A letter some non-ASCII character lowers into (i, k) may stand for it in the line:
        # the longest run of the needle without one is then what the bytes must hold.
        pieces = re.split(f"[{''.join(sorted(ascii_from))}]", rest)
        longest = max(pieces, key=len)
        if longest != rest and len(longest) < 2:
            return None
        for codec in TEXT_CODECS:
            try:
                found.add(longest.encode(codec).lower())
            except UnicodeEncodeError:
                continue
    return _Needle(text, tuple(sorted(found)))


def _overlaps(needle: str, word: str) -> bool:
    """Whether ``needle``, found in a line, may share a character with ``word`` there."""
    if needle in word or word in needle:
        return True
    return any(word.endswith(needle[:k]) or word.startswith(needle[-k:])
               for k in range(1, len(needle)))


def _head_texts(model: CaptureModel, rows: np.ndarray) -> np.ndarray:
    """:func:`line_head` of every row, as one array of strings."""
    store = model.store
    commands, codes = np.unique(store.command_id[rows], return_inverse=True)
    names = np.array([command_name(c).lower() for c in commands.tolist()], dtype=np.str_)
    ends = (store.session[rows].astype(np.int64) << 1) | (store.flags[rows] & 1)
    pairs, where = np.unique(ends, return_inverse=True)
    pair_text = []
    for key in pairs.tolist():
        row = int(rows[int(np.flatnonzero(ends == key)[0])])
        src, dst = model.endpoints(row)
        pair_text.append(f"{src} {dst}".lower())
    out: np.ndarray = store.frame[rows].astype(np.str_)
    for part in (names[codes.reshape(-1)], store.sequence_id[rows].astype(np.str_),
                 np.array(pair_text, dtype=np.str_)[where.reshape(-1)]):
        out = np.strings.add(np.strings.add(out, " "), part)
    return out


def _overlaps_end(needle: str, word: str) -> bool:
    """:func:`_overlaps` for a word that ends the line but for a space: a needle that does
    not end with a space cannot go on past it (the line's spaces are said by summary.JOINS)."""
    return needle in word or word in needle or any(
        word.startswith(needle[-k:]) for k in range(1, len(needle)))


def _heads(model: CaptureModel, cols: RecordColumns, needle: str) -> np.ndarray:
    """Which rows' column part of the line holds ``needle``, exactly."""
    rows = cols.rows
    hit: np.ndarray
    if " " in needle:  # it may span parts: the heads are built (numpy's strings), then searched
        hit = np.zeros(len(rows), dtype=bool)
        which = np.flatnonzero(_may_span(cols, needle))
        if len(which):
            hit[which] = np.strings.find(_head_texts(model, rows[which]), needle) >= 0
        return hit
    store = model.store
    commands, codes = cols.by_command()
    hit = np.array([needle in command_name(c).lower() for c in commands] + [False],
                   dtype=bool)[codes]
    pairs, codes = cols.by_endpoints()
    hit |= np.array([needle in src.lower() or needle in dst.lower() for src, dst in pairs]
                    + [False], dtype=bool)[codes]
    if needle.isdigit():
        for column in (store.frame, store.sequence_id):
            hit |= holds_digits(column[rows], needle)
    return hit


def _may_span(cols: RecordColumns, needle: str) -> np.ndarray:
    """Rows whose column part of the line may hold ``needle`` (which has a space; a
    superset): its first space is one between two parts, so what comes before it ends one of
    frame, command, Sequence_Id and source."""
    rows = cols.rows
    before = needle[:needle.index(" ")]
    if not before:
        return np.ones(len(rows), dtype=bool)
    store = cols.store
    may = np.zeros(len(rows), dtype=bool)
    if before.isdigit() and len(before) <= 18:
        unit, want = 10 ** len(before), int(before)
        for column in (store.frame, store.sequence_id):
            may |= column[rows].astype(np.int64) % unit == want
    commands, codes = cols.by_command()
    may |= np.array([command_name(c).lower().endswith(before) for c in commands] + [False],
                    dtype=bool)[codes]
    pairs, codes = cols.by_endpoints()
    may |= np.array([src.lower().endswith(before) for src, _dst in pairs] + [False],
                    dtype=bool)[codes]
    return may


def _crossing(cols: RecordColumns, needle: str) -> np.ndarray:
    """Rows where the needle may begin in the columns' part of the line and go on past its
    end: that part ends with the needle's text up to one of its spaces (rows whose
    destination ends with what comes just before that space, a superset)."""
    befores = [needle[:i].rsplit(" ", 1)[-1] for i, c in enumerate(needle) if c == " "]
    pairs, codes = cols.by_endpoints()
    crossing: np.ndarray = np.array([any(dst.lower().endswith(b) for b in befores)
                                     for _src, dst in pairs] + [False], dtype=bool)[codes]
    return crossing


def _shown(cols: RecordColumns, which: np.ndarray, fields: tuple[tuple[str, bool], ...],
           needle: str, open_: np.ndarray, sure: np.ndarray) -> None:
    """Marks ``sure`` the rows of ``which`` still open whose line surely holds ``needle``: a
    field the line shows as it is (:attr:`~cmppdissect.tui.summary.Derived.shown`), read from
    the bytes, is printable ASCII and holds it."""
    for name, in_report in fields:
        among = which & open_ & ~sure
        if not among.any():
            return
        _unknown, found = cols.readings(name, in_report, among)
        for at, table, back, report in found:
            if report != in_report:
                continue
            values = [(v[0] if v else "") if isinstance(v, list) else v for v in table.tolist()]
            holds = np.array([isinstance(v, str) and v.isascii() and v.isprintable()
                              and needle in v.lower() for v in values], dtype=bool)
            sure[at[holds[back]]] = True


def search_masks(model: CaptureModel, needle: str) -> Masks:
    """The column path of a search for ``needle`` (lower case) over a view's rows."""
    plan = _needle(needle)

    def masks(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cols = model.columns(rows)
        sure = _heads(model, cols, needle)
        maybe = sure.copy()
        commands, codes = cols.by_command()
        held: np.ndarray | None = None
        spaced = " " in needle and (needle[0] == " " or needle[-1] == " " or re.search(
            r"\d | \d", needle) is not None)  # summary.JOINS
        for i, command in enumerate(commands):
            which = codes == i
            derived = summary.DERIVED.get(command)
            if derived is None or plan is None or spaced or any(
                    _overlaps(needle, word.lower()) for word in derived.texts) or any(
                    _overlaps_end(needle, word.lower()) for word in derived.ends):
                maybe |= which
                continue
            if needle.isdigit() and len(needle) <= derived.digits:
                maybe |= which
                continue
            if held is None:
                held = cols.raw_holds(list(plan.patterns), lower=True)
            maybe |= which & held
            if needle.isdigit():
                for name, in_report in derived.numbers:
                    unknown, found = cols.readings(name, in_report, which & ~maybe,
                                                   dedupe=False)
                    maybe |= which & unknown
                    for at, table, back, _in_report in found:
                        shown = (holds_digits(table, needle) if table.dtype != object else
                                 np.array([needle in str(v) for v in table.tolist()],
                                          dtype=bool))[back]
                        maybe[at[shown & which[at]]] = True
            if derived.result is not None:
                unknown, found = cols.readings(derived.result, False, which & ~maybe)
                maybe |= which & unknown
                for at, table, back, _in_report in found:
                    # "code name" ends the line after a space: with no space next to a
                    # digit in it, a needle that meets it lies inside it; in every text
                    # the code may show (either version's name), it is surely there.
                    texts = [[t.lower() for t in summary.result_texts(command, int(v))]
                             for v in table.tolist()]
                    hit = np.array([any(needle in t for t in ts) for ts in texts], dtype=bool)
                    every = np.array([all(needle in t for t in ts) and bool(ts)
                                      for ts in texts], dtype=bool)
                    maybe[at[hit[back] & which[at]]] = True
                    sure[at[every[back] & which[at]]] = True
        if " " in needle:  # the needle may start in the columns' part and end past it
            maybe |= _crossing(cols, needle)
        for i, command in enumerate(commands):
            derived = summary.DERIVED.get(command)
            if derived is not None and derived.shown:
                _shown(cols, codes == i, derived.shown, needle, maybe & ~sure, sure)
        return maybe, sure

    return masks
