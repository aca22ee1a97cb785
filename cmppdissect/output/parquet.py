"""``--parquet DIR``: the three tables of :mod:`.tables` as Parquet files, written as they come.

``pdus.parquet``, ``transactions.parquet`` and ``sessions.parquet`` are written with pyarrow's
own :class:`pyarrow.parquet.ParquetWriter`. Batches are gathered per table until a row group's
worth (``row_group_rows``) and written as one row group, so what is held is at most one row
group per table, whatever the capture's size.

The files are opened (and the directory made) before anything is read, so a directory that
cannot be written is one ``OSError`` up front, not a traceback after minutes of work.

With a ring (``-b``, :class:`~cmppdissect.sources.ring.RingSpec`) the PDU and transaction
tables go to a new file whenever the ring says (``pdus_00001_20261204235959.parquet``, ...; the
time of a row is its PDU's, or its request's): a batch is split at the row where its time or
the file's count of rows is reached, and a file whose row groups on disk reached the size is
closed before the next row (Parquet compresses a row group at a time, so with ``filesize``
row groups are written as soon as the rows held could fill what is left of it). Each file is
closed (its footer written) when the next one starts, so every file but the last is complete
while the capture goes on. ``sessions.parquet`` is written once, at the end.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Final

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cmppdissect.output.tables import TABLES, schema_of
from cmppdissect.sources.ring import Ring, RingSpec

__all__ = ["ROW_GROUP_ROWS", "ParquetSink"]

ROW_GROUP_ROWS = 65_536
# The tables a ring rotates, and the column that gives a row's time.
ROTATED: Final = {"pdus": "time", "transactions": "request_time"}


class ParquetSink:
    """Three Parquet files in ``directory``, each written in row groups of ``row_group_rows``.

    ``max_buffered_rows`` is the most rows held for any table at once, and
    ``max_arrow_bytes`` the most bytes Arrow's memory pool held when a batch came in: what
    bounds the memory of a write, checked by the tests at two capture sizes.
    """

    def __init__(self, directory: str | os.PathLike[str], *,
                 row_group_rows: int = ROW_GROUP_ROWS, ring: RingSpec | None = None) -> None:
        self.directory = Path(directory)
        self.row_group_rows = row_group_rows
        self.max_buffered_rows = 0
        self.max_arrow_bytes = 0
        self._buffers: dict[str, list[pa.RecordBatch]] = {name: [] for name in TABLES}
        self._buffered = dict.fromkeys(TABLES, 0)
        self._files: dict[str, IO[bytes]] = {}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self.rings: dict[str, Ring] = {}
        if ring is not None and ring.switches:
            self.rings = {name: Ring(self.directory / f"{name}.parquet", ring)
                          for name in ROTATED}
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            for name in TABLES:
                if name in self.rings:  # opened at its first row, named with its time
                    self.rings[name].check()
                else:
                    self._open(name, self.directory / f"{name}.parquet")
        except BaseException:
            self.close()
            raise

    def _open(self, table: str, path: str | os.PathLike[str]) -> None:
        # Opened by Python: an unwritable file is an OSError with its strerror.
        sink = self._files[table] = open(path, "wb")  # noqa: SIM115
        self._writers[table] = pq.ParquetWriter(sink, schema_of(table), compression="zstd")

    def write(self, table: str, batch: pa.RecordBatch) -> None:
        """Add rows to ``table``; a full row group is written at once."""
        ring = self.rings.get(table)
        if ring is None:
            self._add(table, batch)
            return
        times = batch.column(ROTATED[table]).cast(pa.int64()).fill_null(0).to_numpy()
        start, rows = 0, batch.num_rows
        while start < rows:
            ts = int(times[start])
            if ring.due(ts, 1):
                self._switch(table, ring, ts)
            stop = rows
            if ring.ends_ns is not None:
                later = np.flatnonzero(times[start:] >= ring.ends_ns)
                if len(later):
                    stop = start + max(1, int(later[0]))
            if ring.spec.packets is not None:
                stop = min(stop, start + max(1, ring.spec.packets - ring.items))
            self._add(table, batch.slice(start, stop - start))
            ring.added(0, stop - start)
            size = ring.spec.filesize
            if size is not None and sum(b.nbytes for b in self._buffers[table]) >= \
                    size - ring.size:
                self._flush(table)
            start = stop

    def _switch(self, table: str, ring: Ring, ts_ns: int) -> None:
        """Close ``table``'s current file (its footer written) and start the next one."""
        self._close(table)
        self._open(table, ring.advance(ts_ns))

    def _add(self, table: str, batch: pa.RecordBatch) -> None:
        self._buffers[table].append(batch)
        self._buffered[table] += batch.num_rows
        self.max_buffered_rows = max(self.max_buffered_rows, self._buffered[table])
        self.max_arrow_bytes = max(self.max_arrow_bytes, pa.total_allocated_bytes())
        if self._buffered[table] >= self.row_group_rows:
            self._flush(table)

    def _flush(self, table: str) -> None:
        batches = self._buffers[table]
        if batches:
            self._writers[table].write_table(pa.Table.from_batches(batches),
                                             row_group_size=max(self.row_group_rows,
                                                                self._buffered[table]))
        self._buffers[table] = []
        self._buffered[table] = 0
        ring = self.rings.get(table)
        if ring is not None and table in self._files:
            ring.size = self._files[table].tell()

    def _close(self, table: str) -> None:
        """Write what ``table`` holds and close its file."""
        try:
            if table in self._writers:
                self._flush(table)
                self._writers.pop(table).close()
        finally:
            sink = self._files.pop(table, None)
            if sink is not None:
                sink.close()

    def close(self) -> None:
        """Write what is buffered and close the files (each one, even if another fails). A
        rotated table that got no row at all still gets a file (of no rows)."""
        error: BaseException | None = None
        for name in TABLES:
            try:
                ring = self.rings.get(name)
                if ring is not None and ring.path is None and error is None:
                    self._open(name, ring.advance(time.time_ns()))
                self._close(name)
            except BaseException as exc:  # keep closing the others
                error = error or exc
        if error is not None:
            raise error

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
