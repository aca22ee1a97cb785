"""The Parquet dataset of a scaled-out analysis: ``pdus``, ``transactions`` and ``sessions``,
each partitioned by date and SP id (Hive style: ``DIR/pdus/date=2025-01-31/sp_id=901234/``),
each host writing its own files.

The rows are the tables of :mod:`cmppdissect.output.tables` (the same as ``--parquet`` writes
for one capture) with a ``host`` column (session ids and frame numbers are the host's own);
the partition keys are ``date`` (UTC, of the PDU's time, the request's time, the session's
start) and ``sp_id`` (the SP of the row's session, as its login named it; null without a login
seen), in the directory names, not in the files. Wire text in a key is percent-encoded in the
directory name (as pyarrow's Hive partitioning reads it back), so an SP id cannot name a path
of its own. Read the keys as text (:data:`KEYS`): an SP id such as ``001001`` is no number.

A host's task writes its rows in one pass as the capture streams (``Analysis.table_batches``),
each partition's rows gathered into row groups (at most ``row_group_rows`` held per open
partition, at most :data:`MAX_OPEN` partitions open: past it the least recently written is
closed and a later row of it starts a new file). The files go into a staging directory beside
the dataset and are renamed into place at the end, after what an earlier try of the same host
left is removed: a task run again after its worker died leaves the same rows once.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cmppdissect.api import Analysis
from cmppdissect.engine import SessionNames
from cmppdissect.output.tables import TABLES, schema_of

__all__ = ["KEYS", "MAX_OPEN", "discard_staging", "prepare", "write_host_tables"]

KEYS = pa.schema([("date", pa.string()), ("sp_id", pa.string())])
"""The partition keys, in directory order: read the dataset with
``pyarrow.dataset.partitioning(KEYS, flavor="hive")``."""

MAX_OPEN = 128
"""Partition files open at once per host task."""

ROW_GROUP_ROWS = 65_536
_NULL = "__HIVE_DEFAULT_PARTITION__"
_TIME_COLUMN = {"pdus": "time", "transactions": "request_time", "sessions": "start"}


def _date(batch: pa.RecordBatch, table: str) -> pa.Array:
    column = batch.column(_TIME_COLUMN[table])
    if table == "sessions":  # seconds since 1970 as a double
        ns = pc.cast(pc.round(pc.multiply(column, 1e9)), pa.int64())
        column = pc.cast(ns, pa.timestamp("ns", tz="UTC"))
    return pc.strftime(column, format="%Y-%m-%d")


def _sp(sessions: Mapping[int, SessionNames], sid: int | None) -> str | None:
    names = sessions.get(sid) if sid is not None else None
    return names.sp_id if names is not None else None


def _segment(name: str, value: str | None) -> str:
    return f"{name}={_NULL if value is None else quote(value, safe='')}"


class _Partitions:
    """Per (table, date, SP): a Parquet file in ``staging`` written a row group at a time."""

    def __init__(self, staging: Path, tag: str, row_group_rows: int) -> None:
        self.staging = staging
        self.tag = tag
        self.row_group_rows = row_group_rows
        self.schemas = {t: self._file_schema(t) for t in TABLES}
        self.open: OrderedDict[tuple[str, str | None, str | None],
                               tuple[pq.ParquetWriter, list[pa.RecordBatch], list[int]]] = (
            OrderedDict())
        self.files: dict[tuple[str, str | None, str | None], int] = {}

    @staticmethod
    def _file_schema(table: str) -> pa.Schema:
        schema = schema_of(table)
        if "sp_id" in schema.names:
            schema = schema.remove(schema.get_field_index("sp_id"))
        return schema.append(pa.field("host", pa.string()))

    def write(self, table: str, batch: pa.RecordBatch, host: str,
              sessions: Mapping[int, SessionNames]) -> None:
        n = batch.num_rows
        dates = _date(batch, table)
        if table == "sessions":
            sps = batch.column("sp_id")
        else:
            sps = pa.array([_sp(sessions, s) for s in batch.column("session").to_pylist()],
                           pa.string())
        columns = {name: batch.column(name) for name in self.schemas[table].names[:-1]}
        columns["host"] = pa.array([host] * n, pa.string())
        rows = pa.RecordBatch.from_pydict(columns, schema=self.schemas[table])
        keys = pa.Table.from_arrays([dates, sps], ["date", "sp_id"])
        for combo in keys.group_by(["date", "sp_id"]).aggregate([]).to_pylist():
            date, sp = combo["date"], combo["sp_id"]
            mask = pc.and_kleene(
                pc.is_null(dates) if date is None else pc.equal(dates, date),
                pc.is_null(sps) if sp is None else pc.equal(sps, sp))
            self._add((table, date, sp), rows.filter(pc.fill_null(mask, False)))

    def _add(self, key: tuple[str, str | None, str | None], rows: pa.RecordBatch) -> None:
        entry = self.open.get(key)
        if entry is None:
            if len(self.open) >= MAX_OPEN:
                self._close(next(iter(self.open)))
            table, date, sp = key
            n = self.files.get(key, 0)
            self.files[key] = n + 1
            path = (self.staging / table / _segment("date", date) / _segment("sp_id", sp)
                    / f"{self.tag}-{n}.parquet")
            path.parent.mkdir(parents=True, exist_ok=True)
            entry = (pq.ParquetWriter(path, self.schemas[table], compression="zstd"), [], [0])
            self.open[key] = entry
        self.open.move_to_end(key)
        writer, held, count = entry
        held.append(rows)
        count[0] += rows.num_rows
        if count[0] >= self.row_group_rows:
            writer.write_table(pa.Table.from_batches(held), row_group_size=count[0])
            held.clear()
            count[0] = 0

    def _close(self, key: tuple[str, str | None, str | None]) -> None:
        writer, held, count = self.open.pop(key)
        try:
            if held:
                writer.write_table(pa.Table.from_batches(held), row_group_size=count[0])
        finally:
            writer.close()

    def close(self) -> None:
        error: BaseException | None = None
        for key in list(self.open):
            try:
                self._close(key)
            except BaseException as exc:  # keep closing the others
                error = error or exc
        if error is not None:
            raise error


def prepare(directory: str | os.PathLike[str]) -> str:
    """The dataset's directory as an absolute path, made if missing and checked before any
    task runs. ``OSError`` naming it when it is a file or cannot be written (each task
    would fail on it); ``ValueError`` when it holds a dataset already: this run's rows would
    be read with an earlier run's, or a host's files would replace its earlier ones (of
    every date), so a run takes a new or empty directory, as pyarrow's ``write_dataset``
    does by default."""
    root = os.path.abspath(os.fspath(directory))
    try:
        if os.path.exists(root) and not os.path.isdir(root):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), root)
        os.makedirs(root, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=".staging-check-", dir=root))
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, root) from None
    for table in TABLES:
        held = Path(root, table)
        if held.exists() and (not held.is_dir() or any(
                not p.name.startswith((".", "_")) for p in held.iterdir())):
            raise ValueError(f"{root}: holds a dataset already ({table}): give a new or empty "
                             "directory")
    return root


def discard_staging(directory: str | os.PathLike[str], hosts: Iterable[str]) -> None:
    """Remove what tasks of ``hosts`` left half written in the dataset at ``directory``
    (their workers ended mid-task: killed, or Ctrl-C): their staging directories."""
    from cmppdissect.scale.parts import host_id

    _discard(Path(directory), [host_id(host) for host in hosts])


def _discard(root: Path, tags: Iterable[str]) -> None:
    for tag in tags:
        for stale in root.glob(f".staging-{tag}-*"):
            shutil.rmtree(stale, ignore_errors=True)


def _frames_of_files(source: object, first: int, stop: int
                     ) -> Callable[[np.ndarray], np.ndarray]:
    """Which of some frame numbers are frames of inputs ``first`` to ``stop`` of the chain
    that ``source`` (a :class:`~cmppdissect.sources.merge.MergedSource`) reads: from the
    first frame of input ``first`` to the last before input ``stop``'s, each known once the
    reading reaches that input (rows of frames before it come first)."""
    starts: dict[int, int] = source.first_frames  # type: ignore[attr-defined]
    never = np.iinfo(np.int64).max

    def keep(frames: np.ndarray) -> np.ndarray:
        lo = starts.get(first, never) if first else 0
        mask = frames >= lo
        hi = starts.get(stop)
        if hi is not None:
            mask &= frames < hi
        return mask

    return keep


def write_host_tables(analysis: Analysis, host: str, directory: str | os.PathLike[str], *,
                      row_group_rows: int = ROW_GROUP_ROWS, tables: Sequence[str] = TABLES,
                      files: tuple[int, int] | None = None) -> dict[str, int]:
    """Read ``analysis`` (not read yet) writing its tables into the dataset at
    ``directory``; the rows written per table.

    ``tables``: all three, the PDU table alone, or the other two (a host's work shared by
    several tasks: each writes its own files, under a tag of its own, a PDU table's share
    named by its first file). ``files``: the PDU rows of these inputs of the analysis's
    chain only (``(first, stop)``; None: every input)."""
    from cmppdissect.scale.parts import host_id

    pdus = "pdus" in tables
    others = any(t != "pdus" for t in tables)
    if not pdus and not others:
        raise ValueError("no table to write")
    frames = None
    tag = host_id(host)
    if not others:
        tag += f"-p{files[0] if files else 0}"
        if files is not None and hasattr(analysis.source, "first_frames"):
            frames = _frames_of_files(analysis.source, *files)
    elif not pdus:
        tag += "-t"
    else:  # every table by one task: a tag of its own too, no other task's a prefix of it
        tag += "-a"
    root = Path(directory)
    _discard(root, [tag])  # an earlier try's, whose worker died
    staging = root / f".staging-{tag}-{uuid.uuid4().hex[:12]}"
    written = [t for t in TABLES if t in tables]
    rows = dict.fromkeys(written, 0)
    try:
        sink = _Partitions(staging, tag, row_group_rows)
        try:
            for table, batch in analysis.table_batches(release=True, pdus=pdus,
                                                       transactions=others, frames=frames):
                engine = analysis.engine
                assert engine is not None
                # The SP of a row's session is known by then: its login came first.
                sink.write(table, batch, host, engine.sessions)
                rows[table] += batch.num_rows
        finally:
            sink.close()
        for table in written:  # into place, each rename atomic; an earlier try's files first
            for old in (root / table).glob(f"*/*/{tag}-[0-9]*.parquet"):
                old.unlink(missing_ok=True)
            for src in (staging / table).glob("*/*/*.parquet"):
                dst = root / table / src.relative_to(staging / table)
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
        return rows
    finally:
        shutil.rmtree(staging, ignore_errors=True)
