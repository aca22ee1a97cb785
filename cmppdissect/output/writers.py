"""The ``-T`` writers: one record per PDU as JSON lines, one JSON array, CSV, or text.

``-T jsonl`` without a filter is written by the compiled writer (``_jsonl.pyx``) for every
plain PDU, at about a tenth of the Python cost, and through the record schema for the rest.
Everything else makes records in Python, ten microseconds or more each (the PDU decoded in
full, its dict built, encoded), where the compiled core accounts for a PDU in about one. So
when the input is big and the machine has several cores, those records are made by worker
processes (one per core but this one) from slices of the store
(:class:`~cmppdissect.store.records.RowSlice`, plain values), and by this process too, which
reads the capture, formats a slice whenever the workers have enough in flight, and writes
every slice's lines in order. The records and their order are the same either way: every
path calls :func:`format_slice`.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, TextIO

from cmppdissect.output.lines import (
    CSV_COLUMNS,
    LineFormat,
    TimeFormat,
    fields_line,
    header_line,
    text_line,
)
from cmppdissect.output.records import dumps, dumps_line, jsonl_slice
from cmppdissect.store.records import PduRecord, RowSlice, records_of
from cmppdissect.store.schema import record_dict

__all__ = ["CSV_COLUMNS", "FORMATS", "LineFormat", "RecordWriter", "format_slice", "text_line"]

FORMATS = ("jsonl", "json", "csv", "text", "fields")
# Formats whose records are independent lines (json is one array: made in order, in process).
_LINES = frozenset({"jsonl", "csv", "text", "fields"})
SLICE_ROWS = 4096  # rows per slice handed to a worker


Maker = Callable[[dict[str, Any], int], bytes]  # (record dict, its time in ns) -> line


def line_maker(spec: LineFormat) -> Maker:
    """What turns a record dict into its line, for one stream of lines in order (a ``-t d``
    clock remembers the previous line)."""
    if spec.fmt == "jsonl":
        return lambda d, _ts: dumps_line(d)
    clock = None
    if spec.fmt == "text" or spec.time is not None:
        clock = TimeFormat(spec.time or "r", spec.base_ns)
    if spec.fmt == "text":
        return lambda d, ts: text_line(d, ts, clock).encode()
    return lambda d, ts: fields_line(d, ts, spec, clock).encode()


_JOIN = 256  # lines joined at a time (see format_slice)


def format_slice(sl: RowSlice, spec: LineFormat | str, expression: str | None = None,
                 limit: int | None = None, *,
                 make: Maker | None = None) -> tuple[bytes, int]:
    """The lines of the slice's records that ``expression`` (a display filter) keeps, at most
    ``limit`` of them, joined; and how many there are. ``make``: the line maker of a stream
    made in this process (its ``-t d`` clock runs on across slices); a worker makes its own.

    Lines are joined every few hundred, not kept one object each: an encoder's output buffer
    can be far bigger than its line (orjson's is 4 KiB), and a slice's worth of them would
    cost hundreds of megabytes, and the page faults of taking them.
    """
    if isinstance(spec, str):
        spec = LineFormat(spec)
    if compiled(spec.fmt, expression):
        return jsonl_slice(sl, limit)
    test = None
    if expression:
        from cmppdissect.query import compile_filter

        test = compile_filter(expression)
    make = make or line_maker(spec)
    chunks: list[bytes] = []
    batch: list[bytes] = []
    count = 0
    for rec in records_of(sl):
        if limit is not None and count >= limit:
            break
        d = record_dict(rec)
        if test is None or test(d):
            batch.append(make(d, rec.ts_ns))
            count += 1
            if len(batch) == _JOIN:
                chunks.append(b"".join(batch))
                batch.clear()
    chunks.append(b"".join(batch))
    return b"".join(chunks), count


class RecordWriter:
    """Writes records in one ``-T`` format, from records or from whole slices of rows."""

    def __init__(self, fmt: str | LineFormat, out: TextIO, *, workers: int = 0) -> None:
        spec = fmt if isinstance(fmt, LineFormat) else LineFormat(fmt)
        if spec.fmt not in FORMATS:
            raise ValueError(f"unknown record format {spec.fmt!r}")
        self.spec = spec
        self.fmt = spec.fmt
        self.out = out
        self._bytes: BinaryIO | None = getattr(out, "buffer", None)
        self._make: Maker | None = None
        # -t d: each line's time is the previous line's and so made in order, in process.
        sequential = spec.time == "d"
        self.workers = workers if self.fmt in _LINES and not sequential else 0
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        if self.workers and threading.active_count() == 1:
            # Forked now, before the caller starts any thread (a progress bar): a fork copies
            # one thread only, and the workers need nothing but the code already imported.
            ctx = multiprocessing.get_context("fork")
            self._pool = concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=ctx)
            list(self._pool.map(_ready, range(self.workers)))
        else:
            self.workers = 0
        self._items = 0  # -T json: the records of the array written so far
        self.written = 0
        if self.fmt == "csv" or (self.fmt == "fields" and spec.header):
            self._write(header_line(spec).encode())

    def _started(self, ts_ns: int) -> None:
        """The first record's time: ``-t r`` counts from it, in this process and in the
        workers (which get the format with it)."""
        if self.spec.base_ns is None:
            self.spec = self.spec.with_base(ts_ns)

    def _write(self, data: bytes) -> None:
        if self._bytes is not None:
            self._bytes.write(data)
        else:
            self.out.write(data.decode())

    def write(self, rec: PduRecord, d: dict[str, Any] | None = None) -> None:
        """One record; ``d`` is its dict when the caller has it already (a filter built it)."""
        d = record_dict(rec) if d is None else d
        self.written += 1
        if self.fmt == "json":
            self._item(d)
            return
        if self._make is None:
            self._started(rec.ts_ns)
            self._make = line_maker(self.spec)
        self._write(self._make(d, rec.ts_ns))

    def write_slices(self, slices: Iterable[RowSlice], *, expression: str | None = None,
                     limit: int | None = None) -> int:
        """Write the records of every slice that ``expression`` keeps, in order, at most
        ``limit`` of them; returns how many were written."""
        slices = self._first_time(slices)
        pool = self._pool
        if pool is None or limit is not None:
            # In process (also with a limit: -c asks for few records, and a worker could not
            # know how many the slices before its own will keep).
            for part in _pieces(slices):
                left = None if limit is None else limit - self.written
                if left is not None and left <= 0:
                    break
                self._emit(*self._format(part, expression, left))
            return self.written
        # In order: each piece is a worker's future or lines this process made itself. The
        # workers get a piece while fewer than two each are in flight; otherwise this process
        # formats it, so every core (this one too) makes records and none waits on another.
        queue: deque[concurrent.futures.Future[tuple[bytes, int]] | tuple[bytes, int]] = deque()
        in_flight = 0
        for part in _pieces(slices):
            if in_flight < 2 * self.workers:
                queue.append(pool.submit(format_slice, part, self.spec, expression))
                in_flight += 1
            else:
                queue.append(format_slice(part, self.spec, expression))
            while queue and (isinstance(queue[0], tuple) or queue[0].done()):
                in_flight -= self._drain(queue.popleft())
        while queue:
            self._drain(queue.popleft())
        return self.written

    def _drain(self, item: concurrent.futures.Future[tuple[bytes, int]] | tuple[bytes, int]
               ) -> int:
        """Write one piece's lines (waiting for its worker); 1 if a worker made them."""
        if isinstance(item, tuple):
            self._emit(*item)
            return 0
        self._emit(*item.result())
        return 1

    def _first_time(self, slices: Iterable[RowSlice]) -> Iterator[RowSlice]:
        for sl in slices:
            if len(sl):
                self._started(sl.ts[0])
            yield sl

    def _format(self, sl: RowSlice, expression: str | None, limit: int | None
                ) -> tuple[bytes, int]:
        if self.fmt != "json":
            if self._make is None:
                self._make = line_maker(self.spec)
            return format_slice(sl, self.spec, expression, limit, make=self._make)
        test = None
        if expression:
            from cmppdissect.query import compile_filter

            test = compile_filter(expression)
        count = 0
        for rec in records_of(sl):
            if limit is not None and count >= limit:
                break
            d = record_dict(rec)
            if test is None or test(d):
                self._item(d)
                count += 1
        return b"", count

    def _item(self, d: dict[str, Any]) -> None:
        """-T json: one record of the array, written now (the text ``dump`` makes of the
        whole list, a record at a time), so a capture that runs for days holds none of them
        and a live one shows each as it completes."""
        body = dumps(d, indent=1).replace("\n", "\n ")
        self.out.write(("[\n " if not self._items else ",\n ") + body)
        self._items += 1

    def _emit(self, data: bytes, count: int) -> None:
        if data:
            self._write(data)
        self.written += count

    def flush(self) -> None:
        if self._bytes is not None:
            self._bytes.flush()
        self.out.flush()

    def shutdown(self) -> None:
        """Stop the worker processes (whatever happened: call it in a ``finally``)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        self.shutdown()
        self.flush()
        if self.fmt == "json":
            self.out.write("\n]\n" if self._items else "[]\n")
            self.out.flush()


def _ready(_: int) -> bool:
    """A task that only proves a worker is up (the pool is started before any thread)."""
    return True


def _pieces(slices: Iterable[RowSlice]) -> Iterator[RowSlice]:
    """Slices cut to at most SLICE_ROWS rows, so the workers' shares stay even."""
    for sl in slices:
        if len(sl) <= SLICE_ROWS:
            yield sl
            continue
        yield from sl.split(SLICE_ROWS)


def compiled(fmt: str | None, expression: str | None) -> bool:
    """Whether the compiled writer makes these records (unfiltered ``jsonl``; a filter reads
    the records' dicts, which only the record schema builds)."""
    return fmt == "jsonl" and not expression


def workers_for(size: int | None, fmt: str | None = None,
                expression: str | None = None) -> int:
    """How many worker processes make ``fmt`` records for an input of ``size`` bytes: none for
    small or unknown inputs (starting them costs more than they save), none where the compiled
    writer makes them (unfiltered ``jsonl``: handing rows to another process would cost more
    CPU than making their lines here), else one per core but this process's."""
    if compiled(fmt, expression):
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    if cores < 2 or size is None or size < 16 << 20:
        return 0
    return cores - 1  # this process makes records too
