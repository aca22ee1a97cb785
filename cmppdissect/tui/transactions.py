"""The Messages screen's model: one row per request (``-T transactions``), built in a worker.

No Textual here. The rows are the transactions table's (:class:`~cmppdissect.output.tables.
TableBuilder`, the one place requests are joined with their responses, status reports and long
messages), built from the rows of the store the indexer fills as they settle, exactly as
``-T transactions`` builds them from a capture streamed once. They are kept as the Arrow
batches the builder hands back (columns, no dict per row: a quarter of a million rows take a
few tens of megabytes), with times as integer nanoseconds and the few-valued strings
(command, Result name, Stat) dictionary-encoded. A snapshot (:class:`TxSnapshot`) is replaced
whole at each publish, so the UI thread reads it without locks.

Rows come out of the builder in the order they complete (a SUBMIT waiting for its status
reports comes late); the list shows them in the order of their request's frame.

The builder is handed store rows by number (:attr:`TransactionTable.built`, the next one),
under the model's :attr:`~cmppdissect.tui.model.CaptureModel.rows_gate`. When the oldest rows
go (``--max-pdus``) the model lets none go that the builder has not read
(:meth:`TransactionTable.rows_needed_from`) and tells it how many went; the builder itself
names rows by their number since the capture began, as for ``-T transactions`` over a store
that lets rows go, so a request whose response comes after it went is still joined. The table
itself holds at most as many rows as the PDU list (``max_rows``, the same cap): past it the
oldest rows to complete go, a tenth at a time (:attr:`TxSnapshot.dropped` counts them; a
filter's decisions and the list's cursor shift with them). Filters are the
display-filter language (:mod:`cmppdissect.query.dfilter`) over the row's own names
(:data:`TX_NAMES`), decided from the columns where they can (:class:`TxColumns`, the language's
column path) and on a row's record where they cannot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cmppdissect.api import PIECE_ROWS
from cmppdissect.output.tables import RECIPIENT_FIELDS, TRANSACTION_SCHEMA, TableBuilder
from cmppdissect.protocol.commands import RESPONSE_BIT, command_id_of
from cmppdissect.query.dfilter import DisplayFilter, Selection, Vocabulary, select
from cmppdissect.tui.model import CaptureModel

__all__ = ["PRESETS", "TX_NAMES", "TransactionTable", "TxColumns", "TxFilter", "TxSnapshot",
           "request_row", "tx_record"]

PUBLISH_EVERY_S = 0.25  # how often a growing table is shown again while the capture is read
MAX_CHUNKS = 32  # past this many batches, the table is made one again (cheap lookups)
_TIMES = ("request_time", "response_time")
_DICTIONARY = ("command", "result_name", "report_stat")  # a few distinct values each
_NESTED = frozenset(RECIPIENT_FIELDS)  # also a recipient's (recipients.report_stat)
_DERIVED = ("reports_missing", "reports_undelivered")


def _stored_schema() -> pa.Schema:
    fields = []
    for f in TRANSACTION_SCHEMA:
        if f.name in _TIMES:
            f = pa.field(f.name, pa.int64())
        elif f.name in _DICTIONARY:
            f = pa.field(f.name, pa.dictionary(pa.int32(), pa.string()))
        fields.append(f)
    return pa.schema(fields)


STORED_SCHEMA = _stored_schema()
_NUMERIC = frozenset({
    "frame", "time", "session", "sequence_id", "request_frame", "request_time",
    "response_frame", "response_time", "latency_ms", "result", "Msg_Id", "report_frame",
    "report_delay_ms", "long_reference", "long_total", "long_part", *_DERIVED})

TX_NAMES = Vocabulary(
    frozenset(TRANSACTION_SCHEMA.names) | _NESTED | {"frame", "time", *_DERIVED}, _NUMERIC)
"""What a transaction row's filter may read: the columns of ``-T transactions`` (a Sequence_Id
typed as the spec writes it works too), each recipient's fields under ``recipients``
(``recipients.report_stat``), ``Dest_terminal_Id`` (every recipient's number), ``frame`` and
``time`` (the request's), and two counts of the recipients whose status reports were awaited
(a SUBMIT accepted with Registered_Delivery): ``reports_missing`` (no report by the end) and
``reports_undelivered`` (no report, or one whose Stat is not DELIVRD); absent on other rows."""

PRESETS: dict[str, tuple[str, str]] = {
    "unanswered": ("not response_frame", "requests that got no response"),
    "failed": ("result != 0", "responses with a non-zero Result"),
    "reports": ("reports_undelivered > 0",
                "SUBMITs whose status report is missing or not DELIVRD"),
}
"""The screen's one-key filters: each a filter of the same language, shown in its bar."""


RECORD_KEYS: tuple[str, ...] = (*STORED_SCHEMA.names, "frame", "time", "Dest_terminal_Id",
                                *_DERIVED)
_RECORD_KEYS = frozenset(RECORD_KEYS)


def _record_value(get: Callable[[str], Any], name: str) -> Any:
    """The value of record key ``name`` of a row whose stored columns ``get`` reads (times
    in ns): see :func:`tx_record`."""
    if name in _TIMES or name == "time":
        ns = get("request_time" if name == "time" else name)
        return None if ns is None else ns / 1e9
    if name == "frame":
        return get("request_frame")
    if name == "Dest_terminal_Id":
        numbers = [r["Dest_terminal_Id"] for r in get("recipients") or ()
                   if r["Dest_terminal_Id"] is not None]
        return numbers or None
    if name in _DERIVED:
        if get("reports_given_up") is None:  # no report was awaited
            return None
        recipients = get("recipients") or ()
        if name == "reports_missing":
            return sum(r["report_frame"] is None for r in recipients)
        return sum(r["report_stat"] != "DELIVRD" for r in recipients)
    return get(name)


def tx_record(row: dict[str, Any]) -> dict[str, Any]:
    """The record a filter reads of a row (a dict of the table's columns, times in ns):
    every column (times in seconds since 1970, as ``-T transactions`` writes them), plus
    ``frame``/``time``, every recipient's number as ``Dest_terminal_Id`` and the two counts
    of :data:`TX_NAMES`."""
    return {name: _record_value(row.__getitem__, name) for name in RECORD_KEYS}


class _LazyRecord(Mapping[str, Any]):
    """:func:`tx_record` of one row of a :class:`TxColumns`, each key worked out when the
    filter reads it (a filter on ``recipients`` converts no other column)."""

    __slots__ = ("_cols", "_index", "_values")

    def __init__(self, cols: TxColumns, index: int) -> None:
        self._cols = cols
        self._index = index
        self._values: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in _RECORD_KEYS:
            raise KeyError(name)
        if name not in self._values:
            cols, index = self._cols, self._index
            self._values[name] = _record_value(lambda c: cols.cell(c, index), name)
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in _RECORD_KEYS

    def __iter__(self) -> Iterator[str]:
        return iter(RECORD_KEYS)

    def __len__(self) -> int:
        return len(RECORD_KEYS)


@dataclass(frozen=True, slots=True)
class TxSnapshot:
    """The rows built so far: ``table`` (row ``g`` is the ``g``-th to complete), each row's
    request frame, and ``order``, the rows by request frame (what the list shows)."""

    table: pa.Table
    frames: np.ndarray
    order: np.ndarray
    done: bool = False
    waiting: int = 0  # rows still held back by the builder (status reports awaited)
    evicted: int = 0  # rows released without every report (the builder's cap)
    dropped: int = 0  # the oldest rows let go before row 0 (the cap on rows held)

    @property
    def count(self) -> int:
        return int(self.table.num_rows)

    def row(self, index: int) -> dict[str, Any]:
        """Row ``index`` (table order) as a dict of its columns."""
        found: dict[str, Any] = self.table.slice(index, 1).to_pylist()[0]
        return found

    def rows(self, indices: np.ndarray) -> pa.Table:
        return self.table.take(pa.array(indices, pa.int64()))

    def positions(self) -> np.ndarray:
        """Where each row (table order) sits in :attr:`order`."""
        where = np.empty(len(self.order), np.int64)
        where[self.order] = np.arange(len(self.order), dtype=np.int64)
        return where


def _empty() -> TxSnapshot:
    return TxSnapshot(STORED_SCHEMA.empty_table(), np.zeros(0, np.uint32),
                      np.zeros(0, np.int64))


def _stored(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """The builder's batches as one, in the stored form (times as ns, few-valued strings
    dictionary-encoded)."""
    merged = pa.Table.from_batches(batches, schema=TRANSACTION_SCHEMA).combine_chunks()
    columns = []
    for f in TRANSACTION_SCHEMA:
        column = merged.column(f.name).combine_chunks()
        if f.name in _TIMES:
            column = column.cast(pa.int64())
        elif f.name in _DICTIONARY:
            column = pc.dictionary_encode(column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=STORED_SCHEMA)


class TransactionTable:
    """The transactions of the capture the model shows, built by :meth:`run` in a worker
    thread as the store's rows settle; :attr:`snapshot` is what the screen reads."""

    def __init__(self, model: CaptureModel, *, max_waiting: int = 65536,
                 publish_every_s: float = PUBLISH_EVERY_S, max_rows: int = 0) -> None:
        self.model = model
        self.max_rows = max_rows  # 0: every row is kept
        self.dropped = 0
        self.builder = TableBuilder(pdus=False, max_waiting=max_waiting)
        self.publish_every_s = publish_every_s
        self.snapshot = _empty()
        self.generation = 0  # bumped by every publish
        self.built = 0  # store rows handed to the builder
        self.started_at = 0  # rows let go before the builder started (none of theirs is here)
        self._chunks: list[pa.RecordBatch] = []
        self._frames: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._started = False
        model.add_holder(self)

    # -- rows let go (tui/model.py) -------------------------------------------------------

    def rows_needed_from(self) -> int | None:
        """The first row the builder has not read (none may go from it on), while it runs."""
        return self.built if self._started and not self.snapshot.done else None

    def rows_releasing(self) -> None:
        pass

    def rows_released(self, k: int) -> None:
        self.built -= k

    def start(self) -> bool:
        """True the first time only: the caller runs :meth:`run` then (once per capture)."""
        with self._lock:
            if self._started:
                return False
            self._started = True
            self.started_at = self.model.released
            return True

    def run(self, cancelled: Callable[[], bool], *, poll_s: float = 0.1) -> None:
        """The worker's body: feed the builder the store's rows as they settle, publish a
        snapshot a few times a second, and the last when the capture has been read."""
        model = self.model
        store = model.store
        pending: list[pa.RecordBatch] = []
        last = time.monotonic()
        gate = model.rows_gate
        while not cancelled():
            finished = model.progress.done  # read first: the store is complete then
            with gate.reading():  # no row is renumbered while a piece is read
                # Columns are written before the count moves: rows below it are whole.
                settled = store.count if finished else min(store.settled, store.count)
                while self.built < settled and not cancelled():
                    stop = min(settled, self.built + PIECE_ROWS)
                    pending += [batch for _name, batch
                                in self.builder.add(store, self.built, stop)]
                    self.built = stop
                    if time.monotonic() - last >= self.publish_every_s:
                        break  # show what is built, then go on
                ended = finished and self.built >= store.count
                if ended:
                    rest = self.builder.rest(store)
                    if rest is not None:
                        pending.append(rest)
            if ended:
                self._publish(pending, done=True)
                return
            now = time.monotonic()
            if now - last >= self.publish_every_s and (pending or self.snapshot.waiting
                                                       != self.builder.waiting):
                self._publish(pending)
                pending = []
                last = now
            if self.built >= settled:
                time.sleep(poll_s)

    def _merge_smallest(self) -> None:
        """Join the two neighbouring chunks that hold the fewest rows: the count stays
        bounded (a row is found by a search over the chunks) and, the small ones being
        joined first, a row is copied a few times over the life of a live capture, not at
        every publish."""
        sizes = np.array([c.num_rows for c in self._chunks], dtype=np.int64)
        i = int(np.argmin(sizes[:-1] + sizes[1:]))
        self._chunks[i:i + 2] = [_merged(self._chunks[i:i + 2])]

    def _drop_oldest(self) -> None:
        """Past ``max_rows``, let the oldest rows go down to a tenth below it (copied out of
        their chunk, so its memory goes too)."""
        total = sum(c.num_rows for c in self._chunks)
        if not self.max_rows or total <= self.max_rows:
            return
        n = total - self.max_rows + max(1, self.max_rows // 10)
        self.dropped += n
        frames = np.concatenate(self._frames)[n:]
        self._frames = [frames]
        while n:
            first = self._chunks[0]
            if first.num_rows <= n:
                n -= first.num_rows
                del self._chunks[0]
            else:
                self._chunks[0] = first.take(pa.array(np.arange(n, first.num_rows)))
                n = 0

    def _publish(self, batches: list[pa.RecordBatch], *, done: bool = False) -> None:
        if batches:
            batch = _stored(batches)
            self._chunks.append(batch)
            self._frames.append(batch.column("request_frame").to_numpy(zero_copy_only=False)
                                .astype(np.uint32))
            self._drop_oldest()
            while len(self._chunks) > MAX_CHUNKS:
                self._merge_smallest()
        frames = np.concatenate(self._frames) if self._frames else np.zeros(0, np.uint32)
        if len(self._frames) > 1:
            self._frames = [frames]
        # Stable: rows of one frame stay in the order they completed.
        order = np.argsort(frames, kind="stable").astype(np.int64)
        self.snapshot = TxSnapshot(pa.Table.from_batches(self._chunks, schema=STORED_SCHEMA),
                                   frames, order, done, self.builder.waiting,
                                   self.builder.evicted, self.dropped)
        self.generation += 1


def _merged(chunks: list[pa.RecordBatch]) -> pa.RecordBatch:
    whole = pa.Table.from_batches(chunks, schema=STORED_SCHEMA).combine_chunks()
    return pa.RecordBatch.from_arrays([whole.column(i).combine_chunks()
                                       for i in range(whole.num_columns)],
                                      schema=STORED_SCHEMA)


def request_row(model: CaptureModel, row: dict[str, Any]) -> int | None:
    """The store row of a transaction's request: the PDU of its session, command and
    Sequence_Id among those its frame completed (a segment may complete several)."""
    store = model.store
    try:
        command = command_id_of(str(row["command"]))
    except (KeyError, ValueError):
        return None
    for r in store.rows_of_frame(int(row["request_frame"])).tolist():
        if (int(store.command_id[r]) == command and not store.command_id[r] & RESPONSE_BIT
                and int(store.sequence_id[r]) == row["sequence_id"]
                and int(store.session[r]) == row["session"]):
            return int(r)
    return None


# -- filtering ----------------------------------------------------------------------------------

_SCALARS = frozenset(TRANSACTION_SCHEMA.names) - {"recipients"}


class TxColumns:
    """Rows of a snapshot (``indices``, table order) as the display filter's column path reads
    them (:class:`~cmppdissect.query.dfilter.FilterColumns`): the numbers and values of a
    column from its Arrow array, each row's record only where they cannot say."""

    def __init__(self, snapshot: TxSnapshot, indices: np.ndarray) -> None:
        self.indices = indices
        self.sub = snapshot.rows(indices)
        self._lists: dict[str, list[Any]] = {}
        self._records: dict[int, _LazyRecord] = {}

    def __len__(self) -> int:
        return len(self.indices)

    def _column(self, name: str) -> pa.Array:
        name = {"frame": "request_frame", "time": "request_time"}.get(name, name)
        return self.sub.column(name).combine_chunks()

    def _valid(self, name: str) -> np.ndarray:
        return np.asarray(self._column(name).is_valid().to_numpy(zero_copy_only=False),
                          dtype=bool)

    def numbers(self, name: str) -> tuple[np.ndarray, np.ndarray | None]:
        column = self._column(name)
        present = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        values = column.fill_null(0).to_numpy(zero_copy_only=False)
        if name in ("time", "request_time", "response_time"):
            return values.astype(np.float64) / 1e9, present
        if values.dtype.kind == "f":
            return values.astype(np.float64), present
        return values.astype(np.int64), present

    def groups(self, names: frozenset[str]) -> tuple[np.ndarray, list[dict[str, Any]]]:
        n = len(self)
        if not n:
            return np.zeros(0, np.int64), []
        keys = []
        for name in sorted(names):
            column = self._column(name)
            if pa.types.is_dictionary(column.type):
                column = column.dictionary_decode()
            codes = pc.dictionary_encode(column).indices
            keys.append(np.asarray(codes.fill_null(-1).to_numpy(zero_copy_only=False),
                                   dtype=np.int64))
        if len(keys) == 1:
            _keys, first, codes = np.unique(keys[0], return_index=True, return_inverse=True)
        else:
            _keys, first, codes = np.unique(np.stack(keys, axis=1), axis=0, return_index=True,
                                            return_inverse=True)
        rows = first.tolist()
        values = {name: self._values(name, rows) for name in names}
        groups = [{name: values[name][k] for name in names} for k in range(len(rows))]
        return codes.reshape(-1), groups

    def _values(self, name: str, rows: list[int]) -> list[Any]:
        """A header key's values at ``rows`` as the record has them."""
        column = self._column(name).take(pa.array(rows, pa.int64()))
        if name in ("time", "request_time", "response_time"):
            return [None if v is None else v / 1e9 for v in column.to_pylist()]
        found: list[Any] = column.to_pylist()
        return found

    def may_have(self, name: str) -> np.ndarray:
        n = len(self)
        if name in _DERIVED:
            return self._valid("reports_given_up")
        if name in ("recipients", "Dest_terminal_Id"):
            return self._valid("recipients")
        if name in _NESTED:  # the row's own, or a recipient's
            own = self._valid(name) if name in _SCALARS else np.zeros(n, bool)
            either: np.ndarray = own | self._valid("recipients")
            return either
        if name in _SCALARS or name in ("frame", "time"):
            return self._valid(name)
        return np.ones(n, dtype=bool)

    def may_contain(self, name: str, text: str) -> np.ndarray:
        return self.may_have(name)

    def derived(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``reports_missing`` or ``reports_undelivered`` of each row, counted over the
        recipients' columns (as :func:`tx_record` counts them), and which rows have it."""
        recipients = self.sub.column("recipients").combine_chunks()
        flat = pc.list_flatten(recipients)
        parents = np.asarray(pc.list_parent_indices(recipients).to_numpy(
            zero_copy_only=False), dtype=np.int64)
        if name == "reports_missing":
            counted = flat.field("report_frame").is_null()
        else:
            counted = pc.fill_null(pc.not_equal(flat.field("report_stat"), "DELIVRD"), True)
        flags = np.asarray(counted.to_numpy(zero_copy_only=False), dtype=bool)
        counts = np.bincount(parents[flags], minlength=len(self)).astype(np.int64)
        return counts, self._valid("reports_given_up")

    def readings(self, name: str, in_report: bool, among: np.ndarray | None = None) -> tuple[
            np.ndarray, list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]]]:
        n = len(self)
        among = np.ones(n, dtype=bool) if among is None else among
        if name in _DERIVED and not in_report:
            counts, present = self.derived(name)
            which = np.flatnonzero(present & among)
            distinct, codes = np.unique(counts[which], return_inverse=True)
            return np.zeros(n, dtype=bool), [(which, distinct.astype(object),
                                              codes.reshape(-1), False)]
        if in_report or name not in _SCALARS:  # lists: each row's record says
            return among.copy(), []
        column = self._column(name)
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        which = np.flatnonzero(self._valid(name) & among)
        if not len(which):
            return np.zeros(n, dtype=bool), []
        values = column.take(pa.array(which, pa.int64())).to_pylist()
        table: dict[Any, int] = {}
        codes = np.fromiter((table.setdefault(v, len(table)) for v in values), np.int64,
                            len(values))
        distinct = np.empty(len(table), dtype=object)
        distinct[:] = list(table)
        return np.zeros(n, dtype=bool), [(which, distinct, codes, False)]

    def cell(self, column: str, index: int) -> Any:
        """A stored column's value at row ``index``, the column converted once."""
        values = self._lists.get(column)
        if values is None:
            values = self._lists[column] = self.sub.column(column).to_pylist()
        return values[index]

    def record(self, index: int) -> Mapping[str, Any]:
        found = self._records.get(index)
        if found is None:
            found = self._records[index] = _LazyRecord(self, index)
        return found


class TxFilter:
    """The rows of the table a filter keeps, decided for the rows published since the last
    call (:meth:`advance`, in a worker); :meth:`order` is the list's order of those kept."""

    def __init__(self, compiled: DisplayFilter, expression: str) -> None:
        self.compiled = compiled
        self.expression = expression
        self.keep = np.zeros(0, dtype=bool)  # per row of the table (table order)
        self.dropped = 0  # the table's rows let go before ``keep`` begins
        self.errors = 0
        self.decoded = 0  # rows whose record the filter read (the columns could not say)
        self._lock = threading.Lock()

    @property
    def scanned(self) -> int:
        return len(self.keep)

    def _align(self, snapshot: TxSnapshot) -> bool:
        """Forget the decisions on rows the table let go since (lock held); False for a
        snapshot older than those already seen."""
        gone = snapshot.dropped - self.dropped
        if gone < 0:
            return False
        if gone:
            self.keep = self.keep[gone:]
            self.dropped = snapshot.dropped
        return True

    def advance(self, snapshot: TxSnapshot, budget: int = 20_000,
                cancelled: Callable[[], bool] = lambda: False) -> int:
        """Decide the rows of ``snapshot`` not decided yet, ``budget`` at a time; how many."""
        with self._lock:
            if not self._align(snapshot):
                return 0
        start = self.scanned
        done = 0
        while start + done < snapshot.count and not cancelled():
            stop = min(snapshot.count, start + done + budget)
            indices = np.arange(start + done, stop, dtype=np.int64)
            got = self._select(TxColumns(snapshot, indices))
            with self._lock:
                if not self._align(snapshot):
                    return done
                self.keep = np.concatenate([self.keep, got.keep])
            self.decoded += got.decoded
            self.errors += got.errors
            done = stop - start
        return done

    def _select(self, cols: TxColumns) -> Selection:
        """:func:`~cmppdissect.query.dfilter.select`, the one way rows are filtered."""
        compiled = self.compiled
        return select(len(cols), lambda: compiled.masks(cols),
                      lambda i: compiled(cols.record(i)), tolerant=True)

    def order(self, snapshot: TxSnapshot) -> np.ndarray:
        """The kept rows among those decided, in the list's order."""
        with self._lock:
            if not self._align(snapshot):
                return np.zeros(0, np.int64)
            keep = self.keep
        order = snapshot.order
        decided = order[order < len(keep)]
        result: np.ndarray = decided[keep[decided]]
        return result

