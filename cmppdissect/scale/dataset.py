"""The Parquet dataset of a scaled-out analysis: ``pdus``, ``transactions`` and ``sessions``,
each partitioned by date and SP id (Hive style: ``DIR/pdus/date=2025-01-31/sp_id=901234/``),
each host writing its own files.

The rows are the tables of :mod:`cmppdissect.output.tables` (the same as ``--parquet`` writes
for one capture), with three more columns: ``host`` (session ids and frame numbers are the
host's own), and the partition keys ``date`` (UTC, of the PDU's time, the request's time, the
session's start) and ``sp_id`` (the SP of the row's session, as its login named it; null
without a login seen). Wire text in a key is percent-encoded in the directory name by pyarrow,
so an SP id cannot name a path of its own.

A host's task first writes its three tables streaming (``Analysis.write_parquet``, bounded
memory) into a staging directory beside the dataset, partitions them from there, and renames
each file into place under a name made of the host and a counter: a task run again after a
worker died writes the same names with the same rows, so the dataset never holds a row twice.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from cmppdissect.api import Analysis
from cmppdissect.output.tables import TABLES

__all__ = ["KEYS", "write_host_tables"]

KEYS = pa.schema([("date", pa.string()), ("sp_id", pa.string())])
"""The partition keys, in directory order."""

_TIME_COLUMN = {"pdus": "time", "transactions": "request_time", "sessions": "start"}


def _date(batch: pa.RecordBatch, table: str) -> pa.Array:
    column = batch.column(_TIME_COLUMN[table])
    if table == "sessions":  # seconds since 1970 as a double
        ns = pc.cast(pc.round(pc.multiply(column, 1e9)), pa.int64())
        column = pc.cast(ns, pa.timestamp("ns", tz="UTC"))
    return pc.strftime(column, format="%Y-%m-%d")


def _keyed(batches: Iterator[pa.RecordBatch], table: str, host: str,
           sp_of: dict[int, str | None]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        n = batch.num_rows
        columns = dict(zip(batch.schema.names, batch.columns, strict=True))
        columns["host"] = pa.array([host] * n, pa.string())
        columns["date"] = _date(batch, table)
        if table != "sessions":
            sessions = batch.column("session").to_pylist()
            columns["sp_id"] = pa.array([sp_of.get(s) if s is not None else None
                                         for s in sessions], pa.string())
        yield pa.RecordBatch.from_pydict(columns)


def write_host_tables(analysis: Analysis, host: str, directory: str | os.PathLike[str]
                      ) -> dict[str, int]:
    """Read ``analysis`` (not read yet) writing its tables into the dataset at
    ``directory``; the rows written per table."""
    from cmppdissect.scale.parts import host_id

    root = Path(directory)
    tag = host_id(host)
    for stale in root.glob(f".staging-{tag}-*"):  # an earlier try's, whose worker died
        shutil.rmtree(stale, ignore_errors=True)
    staging = root / f".staging-{tag}-{uuid.uuid4().hex[:12]}"
    try:
        rows = analysis.write_parquet(staging / "tables", release=True)
        engine = analysis.engine
        assert engine is not None
        sp_of = {sid: names.sp_id for sid, names in engine.sessions.items()}
        for table in TABLES:
            source = pq.ParquetFile(staging / "tables" / f"{table}.parquet")
            schema = source.schema_arrow.append(pa.field("host", pa.string()))
            for key in KEYS:
                if key.name not in schema.names:
                    schema = schema.append(key)
            batches = _keyed(source.iter_batches(), table, host, sp_of)
            ds.write_dataset(batches, staging / table, schema=schema, format="parquet",
                             partitioning=ds.partitioning(KEYS, flavor="hive"),
                             basename_template=f"{tag}-{{i}}.parquet",
                             existing_data_behavior="overwrite_or_ignore", use_threads=False)
            # Into place, each rename atomic; what an earlier try of this host left goes first
            # (only this host's task writes files of its tag).
            for old in (root / table).glob(f"*/*/{tag}-*.parquet"):
                old.unlink(missing_ok=True)
            for dirpath, _dirs, files in os.walk(staging / table):
                for name in files:
                    src = Path(dirpath) / name
                    dst = root / table / src.relative_to(staging / table)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(src, dst)
        return rows
    finally:
        shutil.rmtree(staging, ignore_errors=True)
