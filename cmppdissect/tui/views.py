"""Row sets the lists show: all PDUs, one session's, or those a display filter keeps.

A view maps a position on screen to a row of the :class:`~cmppdissect.tui.model.CaptureModel`
and back. Views grow while indexing (or a live capture) goes on, so their length is read
fresh on every paint; a filtered view also grows as its scan catches up.

When the oldest rows go (``--max-pdus``), all PDUs and a session's are the store's rows as they
are; a filtered view holds row numbers, so the model tells it (:meth:`FilteredRows.rows_released`):
its rows shift, those gone are dropped, and its scan goes on from the same row.
"""

from __future__ import annotations

import bisect
import contextlib
import threading
from array import array
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from cmppdissect.query.dfilter import DisplayFilter, select
from cmppdissect.tui.model import CaptureModel, RowsGate


class RowSet(Protocol):
    @property
    def title(self) -> str: ...

    def __len__(self) -> int: ...

    def rows(self) -> np.ndarray:
        """Every model row of the view so far, ascending (what its statistics count)."""
        ...

    def __getitem__(self, position: int) -> int: ...

    def position(self, row: int) -> int | None:
        """Where model ``row`` sits in this view, or None if the view does not hold it."""
        ...

    def nearest(self, row: int) -> int:
        """The position of ``row``, or of the first row after it that the view holds."""
        ...


class AllRows:
    def __init__(self, model: CaptureModel) -> None:
        self.model = model

    @property
    def title(self) -> str:
        held = self.model.released
        return f"All PDUs held (the oldest {held:,} went)" if held else "All PDUs"

    def __len__(self) -> int:
        return self.model.count

    def __getitem__(self, position: int) -> int:
        return position

    def rows(self) -> np.ndarray:
        return np.arange(self.model.count, dtype=np.int64)

    def position(self, row: int) -> int | None:
        return row if 0 <= row < self.model.count else None

    def nearest(self, row: int) -> int:
        return max(0, min(row, self.model.count - 1))


class SessionRows:
    def __init__(self, model: CaptureModel, session: int) -> None:
        self.model = model
        self.session = session
        info = model.session_info(session)
        self.title = f"Session {session}" + (
            f"  {info.client} → {info.server}" if info is not None else "")

    def _rows(self) -> np.ndarray:
        return self.model.session_rows(self.session)

    def __len__(self) -> int:
        return len(self._rows())

    def __getitem__(self, position: int) -> int:
        return int(self._rows()[position])

    def rows(self) -> np.ndarray:
        return self._rows()

    def position(self, row: int) -> int | None:
        rows = self._rows()
        i = int(np.searchsorted(rows, row))
        return i if i < len(rows) and rows[i] == row else None

    def nearest(self, row: int) -> int:
        rows = self._rows()
        return max(0, min(int(np.searchsorted(rows, row)), len(rows) - 1))


Masks = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def count_before(view: RowSet, row: int) -> int:
    """How many rows of ``view`` come before model row ``row``."""
    if isinstance(view, AllRows):
        return max(0, min(row, len(view)))
    if isinstance(view, SessionRows):
        return int(np.searchsorted(view._rows(), row))
    if isinstance(view, FilteredRows):
        return bisect.bisect_left(view.matched, row, 0, len(view.matched))
    return int(np.count_nonzero(view.rows() < row))


def base_rows(view: RowSet, start: int, stop: int) -> np.ndarray:
    """Rows ``start`` to ``stop`` of a view as an array (no loop for all rows or a session)."""
    if isinstance(view, AllRows):
        return np.arange(start, stop, dtype=np.int64)
    if isinstance(view, SessionRows):
        return view._rows()[start:stop].astype(np.int64)
    if isinstance(view, FilteredRows):
        return np.array(view.matched[start:stop], dtype=np.int64)  # a copy: it still grows
    return np.fromiter((view[p] for p in range(start, stop)), np.int64, stop - start)


class FilteredRows:
    """The rows of ``base`` a predicate keeps, found by :meth:`advance` a slice at a time.

    With ``masks`` (rows -> (may keep, surely keeps), from the columns) a slice is decided
    from the store's columns first and the predicate, which decodes, runs only on the rows the
    columns leave open: the same rows are kept, and ``decoded`` counts the predicate's calls.
    ``settled_prefix`` is ``settled`` for an array of rows (how many lead, settled).
    """

    def __init__(self, base: RowSet, predicate: Callable[[int], bool], expression: str, *,
                 settled: Callable[[int], bool] | None = None, masks: Masks | None = None,
                 settled_prefix: Callable[[np.ndarray], int] | None = None,
                 model: CaptureModel | None = None) -> None:
        self.base = base
        self.predicate = predicate
        self.settled = settled  # rows past the first unsettled one wait for a later pass
        self.masks = masks
        self.settled_prefix = settled_prefix
        self.expression = expression
        self.title = f"{base.title}  ·  filter: {expression}"
        self.matched: array[int] = array("I")
        self.scanned = 0
        self.errors = 0
        self.decoded = 0  # rows the predicate was asked about
        self._lock = threading.Lock()
        self._last = -1  # the model row of the last base row tested (a release moves it)
        # Rows are read by number under the model's gate, and the model renumbers them.
        self._gate: RowsGate | None = None
        if model is not None:
            self._gate = model.rows_gate
            model.add_view(self)

    @property
    def depth(self) -> int:
        """1 over a view of the store's rows, one more per filtered view below it: the
        model shifts the views below first."""
        return int(getattr(self.base, "depth", 0)) + 1

    def advance(self, budget: int) -> int:
        """Test up to ``budget`` more rows of the base; returns how many were tested."""
        gate = self._gate.reading() if self._gate is not None else contextlib.nullcontext()
        with gate, self._lock:
            tested = self._advance(budget)
            if self.scanned:
                self._last = int(self.base[self.scanned - 1])
            return tested

    def _advance(self, budget: int) -> int:
        end = min(len(self.base), self.scanned + budget)
        start = self.scanned
        if self.masks is not None:
            end = self._advance_masked(start, end)
            self.scanned = end
            return end - start
        for pos in range(start, end):
            row = self.base[pos]
            if self.settled is not None and not self.settled(row):
                end = pos
                break
            self._test(row)
        self.scanned = end
        return end - start

    def rows_released(self, k: int) -> None:
        """The model's rows below ``k`` went and the rest are ``k`` lower: so are this view's
        (those gone dropped), and the scan goes on after the same row of the base (which the
        model renumbered first)."""
        with self._lock:
            matched = np.frombuffer(self.matched, dtype=np.uint32) if len(self.matched) \
                else np.zeros(0, np.uint32)
            kept = matched[matched >= k] - np.uint32(k)
            shifted: array[int] = array("I")
            shifted.frombytes(kept.astype(np.uint32).tobytes())
            self.matched = shifted
            self._last -= k
            self.scanned = count_before(self.base, self._last + 1) if self._last >= 0 else 0

    def _test(self, row: int) -> None:
        self.decoded += 1
        try:
            keep = self.predicate(row)
        except Exception:  # a filter must never take the UI down: count and skip
            self.errors += 1
            keep = False
        if keep:
            self.matched.append(row)

    def _advance_masked(self, start: int, end: int) -> int:
        """One slice by the columns, then the predicate on the rows they leave open
        (:func:`~cmppdissect.query.dfilter.select`, as ``-Y`` reports select)."""
        assert self.masks is not None
        rows = base_rows(self.base, start, end)
        if self.settled is not None:
            if self.settled_prefix is not None:
                ready = self.settled_prefix(rows)
            else:
                ready = next((i for i, row in enumerate(rows.tolist())
                              if not self.settled(row)), len(rows))
            rows = rows[:ready]
            end = start + ready
        if not len(rows):
            return end
        masks = self.masks
        got = select(len(rows), lambda: masks(rows), lambda i: self.predicate(int(rows[i])),
                     tolerant=True)
        self.decoded += got.decoded
        self.errors += got.errors
        self.matched.extend(rows[got.keep].tolist())
        return end

    @property
    def caught_up(self) -> bool:
        """Every row of the base tested (a wait for unsettled rows counts as caught up)."""
        return self.scanned >= len(self.base) or (
            self.settled is not None and not self.settled(self.base[self.scanned]))

    def __len__(self) -> int:
        return len(self.matched)

    def __getitem__(self, position: int) -> int:
        return self.matched[position]

    def rows(self) -> np.ndarray:
        with self._lock:
            return np.array(self.matched, dtype=np.int64)

    def position(self, row: int) -> int | None:
        n = len(self.matched)
        i = bisect.bisect_left(self.matched, row, 0, n)
        return i if i < n and self.matched[i] == row else None

    def nearest(self, row: int) -> int:
        n = len(self.matched)
        return max(0, min(bisect.bisect_left(self.matched, row, 0, n), n - 1))


def filter_predicate(model: CaptureModel, test: Callable[[Any], bool]) -> Callable[[int], bool]:
    """A row predicate from a compiled display filter (which takes a record mapping)."""
    return lambda row: bool(test(model.lazy_record(row)))


def filter_masks(model: CaptureModel, compiled: DisplayFilter) -> Masks:
    """The column path of a compiled display filter over the model's rows."""
    return lambda rows: compiled.masks(model.columns(rows))


def filtered_view(model: CaptureModel, base: RowSet, compiled: DisplayFilter,
                  expression: str) -> FilteredRows:
    """The view of ``base`` a display filter keeps, decided from the columns where they can;
    a filter that reads pairing waits for unsettled rows."""
    waits = compiled.needs_pairing
    return FilteredRows(base, filter_predicate(model, compiled), expression,
                        settled=model.settled if waits else None,
                        masks=filter_masks(model, compiled),
                        settled_prefix=model.settled_prefix if waits else None, model=model)


__all__ = ["AllRows", "FilteredRows", "RowSet", "SessionRows", "base_rows", "count_before",
           "filter_masks", "filter_predicate", "filtered_view"]
