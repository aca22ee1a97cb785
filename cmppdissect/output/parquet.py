"""``--parquet DIR``: the three tables of :mod:`.tables` as Parquet files, written as they come.

``pdus.parquet``, ``transactions.parquet`` and ``sessions.parquet`` are written with pyarrow's
own :class:`pyarrow.parquet.ParquetWriter`. Batches are gathered per table until a row group's
worth (``row_group_rows``) and written as one row group, so what is held is at most one row
group per table, whatever the capture's size.

The files are opened (and the directory made) before anything is read, so a directory that
cannot be written is one ``OSError`` up front, not a traceback after minutes of work.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

from cmppdissect.output.tables import TABLES, schema_of

__all__ = ["ROW_GROUP_ROWS", "ParquetSink"]

ROW_GROUP_ROWS = 65_536


class ParquetSink:
    """Three Parquet files in ``directory``, each written in row groups of ``row_group_rows``.

    ``max_buffered_rows`` is the most rows held for any table at once, and
    ``max_arrow_bytes`` the most bytes Arrow's memory pool held when a batch came in: what
    bounds the memory of a write, checked by the tests at two capture sizes.
    """

    def __init__(self, directory: str | os.PathLike[str], *,
                 row_group_rows: int = ROW_GROUP_ROWS) -> None:
        self.directory = Path(directory)
        self.row_group_rows = row_group_rows
        self.max_buffered_rows = 0
        self.max_arrow_bytes = 0
        self._buffers: dict[str, list[pa.RecordBatch]] = {name: [] for name in TABLES}
        self._buffered = dict.fromkeys(TABLES, 0)
        self._files: dict[str, IO[bytes]] = {}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            for name in TABLES:
                # Opened by Python: an unwritable file is an OSError with its strerror.
                sink = self._files[name] = open(self.directory / f"{name}.parquet", "wb")  # noqa: SIM115
                self._writers[name] = pq.ParquetWriter(sink, schema_of(name), compression="zstd")
        except BaseException:
            self.close()
            raise

    def write(self, table: str, batch: pa.RecordBatch) -> None:
        """Add rows to ``table``; a full row group is written at once."""
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

    def close(self) -> None:
        """Write what is buffered and close the files (each one, even if another fails)."""
        error: BaseException | None = None
        for name in TABLES:
            try:
                if name in self._writers:
                    self._flush(name)
                    self._writers.pop(name).close()
            except BaseException as exc:  # keep closing the others
                error = error or exc
            sink = self._files.pop(name, None)
            if sink is not None:
                sink.close()
        if error is not None:
            raise error

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
