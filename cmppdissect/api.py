"""The one driver: a capture source through the engine into the store, for every consumer.

``cmppdissect.analyze(path)`` opens a capture; the :class:`Analysis` it returns feeds the
source's bytes to the :class:`~cmppdissect.engine.Engine` and, when rows are wanted, keeps them
in a :class:`~cmppdissect.store.PduStore`. The command line's ``-T``/``-Y``/``--report``, the
TUI's indexer and notebooks all read a capture through this class, so they see the same PDUs,
the same pairs and the same findings.

A capture streams through once. Ask for :meth:`Analysis.report` straight away and no row is
kept at all (the compiled core does the statistics); iterate :meth:`Analysis.pdus` or
:meth:`Analysis.transactions` and each item comes out once its pairing is known (a request when
its response arrived or it timed out). Nothing here imports Scapy or Textual.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

import numpy as np

from cmppdissect.core.records import CaptureNote, InterfaceLayout
from cmppdissect.engine import Batch, Engine, ExpertItem, SessionState
from cmppdissect.engine.findings import cap_message
from cmppdissect.protocol.commands import DEFAULT_PORTS, command_id_of
from cmppdissect.protocol.layouts import result_of
from cmppdissect.protocol.version import Version, parse_version
from cmppdissect.sources.file import FileSource
from cmppdissect.store import RESEND, PduRecord, PduStore, RecordView, record_at
from cmppdissect.store.records import RowSlice, records_between, row_slice
from cmppdissect.store.store import WINDOW

if TYPE_CHECKING:
    import numpy
    import pandas
    import pyarrow

    from cmppdissect.output.tables import TableBuilder
    from cmppdissect.query import DisplayFilter
    from cmppdissect.sources.frames import FrameFile
    from cmppdissect.sources.merge import MergedFrames
    from cmppdissect.sources.ring import Ring, RingSpec
    from cmppdissect.sources.ticks import CaptureTicks

__all__ = ["Analysis", "ByteSource", "Transaction", "analyze", "compare"]

PIECE_ROWS = 4096  # the most rows a streaming reader is handed at once (see Analysis._settling)
PIECE_BYTES = 1 << 20  # ... and the most PDU bytes, unless one PDU is longer


def _piece_end(store: PduStore, start: int, settled: int) -> int:
    """Where the piece of settled rows that starts at ``start`` ends."""
    stop = min(settled, start + PIECE_ROWS)
    ends = np.cumsum(store.length[start:stop], dtype=np.int64)
    return start + max(1, int(np.searchsorted(ends, PIECE_BYTES, side="right")))


@runtime_checkable
class ByteSource(Protocol):
    """Where capture bytes come from: a file (:class:`FileSource`) or a live capture."""

    name: str
    notes: list[CaptureNote]

    def chunks(self) -> Iterator[bytes]: ...

    @property
    def progress(self) -> float | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Transaction:
    """A request with its response (``response`` is None when none came in time), as
    records to look into; the rows of a table are :meth:`Analysis.transaction_rows`."""

    request: PduRecord
    response: PduRecord | None

    @property
    def latency_ms(self) -> float | None:
        return None if self.response is None else self.response.latency_ms

    @property
    def result(self) -> int | None:
        if self.response is None:
            return None
        outcome = result_of(self.response.pdu.fields)
        return None if outcome is None else outcome[1]


class Analysis:
    """One capture being analysed. Create it with :func:`analyze`."""

    def __init__(self, source: ByteSource, settings: Mapping[str, Any]) -> None:
        self.source = source
        self.notes = source.notes
        self.settings = dict(settings)
        # Not the engine's: the rows a streaming store holds behind a waiting request.
        self.max_held_rows = int(self.settings.pop("max_held_rows", WINDOW))
        if self.max_held_rows < 1:
            raise ValueError(f"max_held_rows must be >= 1, not {self.max_held_rows}")
        self.engine: Engine | None = None
        self.store: PduStore | None = None
        self.done = False
        self._started = False
        self._tables: dict[str, pyarrow.Table] | None = None
        self.parquet_stats: dict[str, int] = {}  # write_parquet's most rows held at once
        self._noted_given_up = False
        # Held while the engine is fed: another thread (the --metrics server) reads the
        # engine's counters under it, never between two halves of a batch.
        self.lock = threading.Lock()
        self._ticks: CaptureTicks | None = None

    def __repr__(self) -> str:
        """One line, whatever the capture's size (a notebook shows it after every cell)."""
        state = "done" if self.done else "reading" if self._started else "not read"
        pdus = self.engine.core.pdus if self.engine is not None else 0
        sessions = len(self.engine.core.session_ids()) if self.engine is not None else 0
        return (f"<Analysis {self.source.name!r}: {state}, {pdus} PDUs, "
                f"{sessions} sessions>")

    # -- driving ------------------------------------------------------------------------------

    def start(self, *, keep_rows: bool, pdu_limit: int = 0, carriers: bool = False,
              window: int = 0) -> Engine:
        """Create the engine (once): ``keep_rows`` when PDUs are to be shown, not only counted;
        ``carriers`` when every frame of a PDU split over several is wanted (writing frames);
        ``window``: the store lets rows go once written, holding at most that many behind a
        request awaiting its response (:class:`~cmppdissect.store.PduStore`; 0 keeps all).

        Rows know their frame's offset in the file when the source is a regular uncompressed
        file (:attr:`FileSource.path`).
        """
        if self._started:
            raise RuntimeError("a capture is read once: call analyze() again to re-read it")
        self._started = True
        self.engine = Engine(**self.settings, keep_rows=keep_rows, pdu_limit=pdu_limit,
                             notes=self.notes, offsets=self._rereadable(),
                             carriers=carriers)
        if keep_rows:
            self.store = PduStore(window=window)
        return self.engine

    def feed(self, chunk: bytes) -> Batch:
        """Analyse the next chunk of the source (for drivers that read it themselves)."""
        engine = self.engine
        if engine is None:
            raise RuntimeError("start() the analysis first")
        with self.lock:
            batch = engine.feed(chunk)
        if self.store is not None:
            self.store.append(batch)
        return batch

    def finish(self, *, cut: bool = False) -> Batch:
        """The source ended (``cut``: reading stopped before its end, as ``-c`` does): close
        what is open, flush what is pending."""
        engine = self.engine
        if engine is None:
            raise RuntimeError("start() the analysis first")
        with self.lock:
            batch = engine.finish(cut=cut)
        if self.store is not None:
            self.store.append(batch)
            self.store.finish(cut=engine.core.cut_short)
        self.done = True
        return batch

    def batches(self) -> Iterator[Batch]:
        """Feed the whole source through the engine (into the store, when rows are kept)."""
        engine = self.engine
        if engine is None:
            raise RuntimeError("start() the analysis first")
        try:
            for chunk in self._chunks():
                yield self.feed(chunk)
                if engine.stopped:
                    break
            yield self.finish()
        finally:
            self.source.close()

    def _chunks(self) -> Iterator[bytes]:
        ticks = self._ticks
        if ticks is None:
            yield from self.source.chunks()
            return
        for chunk in self.source.chunks():
            yield from ticks.cut(chunk)

    def tick_every(self, seconds: float, on_tick: Callable[[int, int], None]) -> None:
        """Call ``on_tick(number, time_ns)`` each time the capture's time passes its first
        frame's plus a multiple of ``seconds``, with the engine fed exactly the frames before
        that time (``--report-every`` over a capture file; :mod:`cmppdissect.sources.ticks`).
        Called from the thread that reads the capture, between two batches; before reading."""
        if self._started:
            raise RuntimeError("tick_every() is set before the capture is read")
        from cmppdissect.sources.ticks import CaptureTicks

        self._ticks = CaptureTicks(max(1, round(seconds * 1e9)), on_tick)

    def run(self) -> Analysis:
        """Read the rest of the capture for the statistics (no row is kept if none was)."""
        if not self._started:
            self.start(keep_rows=False)
        if not self.done:
            for _ in self.batches():
                pass
        return self

    def stop(self) -> Analysis:
        """Stop reading here (``-c N``): what was read is analysed as if the capture ended,
        except that requests still waiting for a response are in flight, not unanswered (the
        response may well be in the part not read)."""
        if not self.done and self.engine is not None:
            self.source.close()
            self.finish(cut=True)
        return self

    # -- streaming ----------------------------------------------------------------------------

    def _settling(self, *, pdu_limit: int = 0, carriers: bool = False, release: bool = False
                  ) -> Iterator[tuple[PduStore, int, int]]:
        """Read the capture keeping rows; after each batch, the rows that just settled (their
        pairing known) as ``(store, start, stop)``: what every streaming reader walks. A run
        of settled rows comes in pieces of at most ``PIECE_ROWS`` rows and ``PIECE_BYTES``
        bytes (or one PDU), so that a reader that copies a piece's bytes (a slice, a worker's
        share) holds a bounded amount however many rows settle at once (every request behind
        one that waits for its response or its timeout).

        ``release``: each piece is done with once the reader asks for the next, and the store
        lets the rows read go (:meth:`PduStore.release`; row numbers then start again from
        the first row held), holding at most ``max_held_rows`` rows behind a request that
        awaits its response: memory stays bounded whatever the capture's size."""
        self.start(keep_rows=True, pdu_limit=pdu_limit, carriers=carriers,
                   window=self.max_held_rows if release else 0)
        store, engine = self.store, self.engine
        assert store is not None and engine is not None
        shown = 0
        for _ in self.batches():
            settled = store.settled
            if store.given_up and not self._noted_given_up:
                self._noted_given_up = True
                engine.expert.cap("held-rows", None, None,
                                  cap_message("held-rows", {"window": store.window}))
            while shown < settled:
                stop = _piece_end(store, shown, settled)
                yield store, shown, stop
                shown = stop
            if release:
                shown -= store.release(shown, engine.core.long_part_rows)

    @staticmethod
    def _filter(display_filter: str | None) -> DisplayFilter | None:
        if not display_filter:
            return None
        from cmppdissect.query import compile_filter

        return compile_filter(display_filter)

    def pdus(self, display_filter: str | None = None) -> Iterator[PduRecord]:
        """Every PDU in capture order, each once its pairing is known; ``display_filter`` as
        for ``-Y``."""
        return (rec for rec, _ in self.records(display_filter))

    def records(self, display_filter: str | None = None, *, pdu_limit: int = 0,
                release: bool = False) -> Iterator[tuple[PduRecord, dict[str, Any] | None]]:
        """As :meth:`pdus`, each with the dict the filter read (None without a filter), so a
        writer of ``-T`` records does not build it a second time. ``release``: rows are let
        go once handed out (see :meth:`slices`)."""
        test = self._filter(display_filter)
        for store, start, stop in self._settling(pdu_limit=pdu_limit, release=release):
            yield from self._shown(store, start, stop, test)

    def rows(self, display_filter: str | None = None, *, pdu_limit: int = 0,
             carriers: bool = False) -> Iterator[int]:
        """The store's row numbers of the PDUs ``display_filter`` keeps (all without one), in
        capture order, each once its pairing is known; ``carriers`` as for :meth:`start`."""
        return (view.row for view in self.views(display_filter, pdu_limit=pdu_limit,
                                                 carriers=carriers))

    def views(self, display_filter: str | None = None, *, pdu_limit: int = 0,
              carriers: bool = False) -> Iterator[RecordView]:
        """As :meth:`rows`, each row as the view the filter read: a caller that wants the
        record too gets the one decode the filter already made (``view.record()``)."""
        test = self._filter(display_filter)
        for store, start, stop in self._settling(pdu_limit=pdu_limit, carriers=carriers):
            for row in range(start, stop):
                view = RecordView(store, row)
                if test is None or test(view):
                    yield view

    def matching_rows(self, display_filter: str | None = None, start: int = 0,
                      stop: int | None = None) -> np.ndarray:
        """The rows of the store (read already) that ``display_filter`` keeps, ascending:
        what a report or a ``-z`` table over a filter counts; ``start``/``stop``: only among
        those rows (a slice just read, as live ``-c N`` counts them)."""
        store = self.store
        if store is None:
            raise RuntimeError("the rows were not kept: start(keep_rows=True) first")
        if store.base:
            raise RuntimeError("the rows written were let go (release=True): keep them all")
        every = np.arange(start, store.count if stop is None else stop, dtype=np.int64)
        if not display_filter:
            return every
        test = self._filter(display_filter)
        assert test is not None
        from cmppdissect.store.records import RecordColumns

        kept = []
        for start in range(0, len(every), 20_000):
            rows = every[start:start + 20_000]
            # The display filter's column path decides most rows without decoding; the rows
            # it leaves open are read as records (the same answer either way).
            kept.append(rows[test.select(RecordColumns(store, rows)).keep])
        return np.concatenate(kept) if kept else every[:0]

    def slices(self, *, pdu_limit: int = 0, release: bool = False) -> Iterator[RowSlice]:
        """The rows of the capture in slices, each as soon as its pairing is known: what a
        writer turns into records (in this process, or in others: slices are plain values).

        ``release``: the store lets rows go once they were handed out, so memory stays
        bounded on any capture (the one-pass command-line outputs); :attr:`store` then holds
        the last rows only, and a request that awaits its response while ``max_held_rows``
        rows (an :func:`analyze` limit, 262,144 by default) came after it is handed out
        without it, with a ``not-waited`` finding."""
        for store, start, stop in self._settling(pdu_limit=pdu_limit, release=release):
            yield row_slice(store, start, stop)

    @staticmethod
    def _shown(store: PduStore, start: int, stop: int, test: DisplayFilter | None
               ) -> Iterator[tuple[PduRecord, dict[str, Any] | None]]:
        if test is None:
            for rec in records_between(store, start, stop):
                yield rec, None
            return
        for row in range(start, stop):
            view = RecordView(store, row)
            if test(view):
                yield view.record(), view.full()

    def transactions(self) -> Iterator[Transaction]:
        """Requests with their responses, in request order, each once its fate is known.

        A request resent with the same Sequence_Id while in flight is part of the first send's
        exchange (the response answers every send; the exchange counts from the first).
        """
        for store, start, stop in self._settling():
            for row in range(start, stop):
                if store.is_response(row) or store.flags[row] & RESEND:
                    continue
                pair = store.partner(row)
                yield Transaction(record_at(store, row),
                                  record_at(store, pair) if pair is not None else None)

    # -- tables ---------------------------------------------------------------------------------

    def _built(self, builder: TableBuilder, *, release: bool = False
               ) -> Iterator[tuple[str, pyarrow.RecordBatch]]:
        """The three tables' batches as the capture streams (or, when it was read already
        with rows kept, from the store), in pieces as :meth:`_settling` hands them
        (``release``: letting rows go once built)."""
        if self._started:
            store = self.store
            if store is None or not self.done or store.base:
                raise RuntimeError("a capture is read once: call analyze() again to re-read it")
            start = 0
            while start < store.count:
                stop = _piece_end(store, start, store.count)
                yield from builder.add(store, start, stop)
                start = stop
        else:
            for store, start, stop in self._settling(release=release):
                yield from builder.add(store, start, stop)
        assert self.engine is not None and self.store is not None
        yield from builder.finish(self.engine, self.store)

    def transaction_rows(self, *, release: bool = False) -> Iterator[dict[str, Any]]:
        """The rows of the transactions table (``-T transactions``) as the capture streams,
        one dict per request with its response, latency and result, and for a SUBMIT its
        Msg_Id and status report, its recipients each with its own (a list of dicts) and its
        long message: times in seconds since 1970, a Msg_Id as a
        :class:`~cmppdissect.store.schema.U64` (JSON writes it as a decimal string).
        ``release`` as for :meth:`slices`."""
        import pyarrow.compute as pc

        from cmppdissect.output.tables import TableBuilder
        from cmppdissect.store.schema import U64

        for table, batch in self._built(TableBuilder(pdus=False), release=release):
            if table != "transactions":
                continue
            columns = batch.to_pydict()
            for name in ("request_time", "response_time"):  # ns, exactly, then seconds
                ns = pc.cast(batch.column(name), "int64").to_pylist()
                columns[name] = [None if v is None else v / 1e9 for v in ns]
            columns["Msg_Id"] = [None if v is None else U64(v) for v in columns["Msg_Id"]]
            for recipients in columns["recipients"]:
                for r in recipients or ():
                    if r["Msg_Id"] is not None:
                        r["Msg_Id"] = U64(r["Msg_Id"])
            names = list(columns)
            for values in zip(*columns.values(), strict=True):
                yield dict(zip(names, values, strict=True))

    def table_batches(self, display_filter: str | None = None, *, release: bool = False,
                      pdus: bool = True, transactions: bool = True,
                      frames: Callable[[numpy.ndarray], numpy.ndarray] | None = None
                      ) -> Iterator[tuple[str, pyarrow.RecordBatch]]:
        """The three tables as ``(table, batch)`` pairs while the capture streams, each batch
        once its rows are settled: what :meth:`write_parquet` writes, for a writer of its own
        (the partitioned dataset of ``analyze --dask``). ``display_filter`` and ``release``
        as for :meth:`write_parquet`; without ``pdus`` no PDU table, without
        ``transactions`` no transactions and sessions tables; ``frames``: the PDU table's
        rows of the frames it keeps only (given frame numbers, a mask)."""
        from cmppdissect.output.tables import TableBuilder

        builder = TableBuilder(self._filter(display_filter), pdus=pdus,
                               transactions=transactions, frames=frames)
        yield from self._built(builder, release=release)

    def write_parquet(self, directory: str | os.PathLike[str],
                      display_filter: str | None = None, *,
                      row_group_rows: int | None = None, release: bool = False,
                      ring: RingSpec | None = None) -> dict[str, int]:
        """Write ``pdus.parquet``, ``transactions.parquet`` and ``sessions.parquet`` into
        ``directory`` (made if missing) as the capture streams; the rows of each.

        ``display_filter`` (``-Y``) keeps only the PDUs it matches in ``pdus.parquet``. What
        is held at once is a row group per table (``row_group_rows``, 65,536 by default),
        whatever the capture's size, and with ``release`` (as for :meth:`slices`) the store's
        rows not written yet; :attr:`parquet_stats` says how much it was. Raises
        ``OSError`` when the directory or a file cannot be written (before reading anything
        when it cannot be made or opened). ``ring`` (``-b``): the PDU and transaction tables
        go to a new file whenever it says (:class:`~cmppdissect.output.parquet.ParquetSink`).
        """
        from cmppdissect.output.parquet import ROW_GROUP_ROWS, ParquetSink
        from cmppdissect.output.tables import TableBuilder, counts

        builder = TableBuilder(self._filter(display_filter))
        with ParquetSink(directory, row_group_rows=row_group_rows or ROW_GROUP_ROWS,
                         ring=ring) as sink:
            for table, batch in self._built(builder, release=release):
                sink.write(table, batch)
        self.parquet_stats = {"max_buffered_rows": sink.max_buffered_rows,
                              "max_arrow_bytes": sink.max_arrow_bytes,
                              "max_held_transactions": builder.held,
                              "held_rows_peak": self.store.held_peak if self.store else 0}
        return counts(builder.rows)

    def tables(self) -> dict[str, pyarrow.Table]:
        """The three tables (``pdus``, ``transactions``, ``sessions``) as Arrow tables, the
        same as :meth:`write_parquet` writes. Built once, in one pass over the capture (or
        from the store when the capture was read already with rows kept), then kept."""
        if self._tables is None:
            import pyarrow as pa

            from cmppdissect.output.tables import TABLES, TableBuilder, schema_of

            builder = TableBuilder()
            batches: dict[str, list[pa.RecordBatch]] = {name: [] for name in TABLES}
            for table, batch in self._built(builder):
                batches[table].append(batch)
            self._tables = {name: pa.Table.from_batches(found, schema=schema_of(name))
                            for name, found in batches.items()}
        return self._tables

    def to_arrow(self, table: str = "pdus") -> pyarrow.Table:
        """One of :meth:`tables` (``"pdus"``, ``"transactions"`` or ``"sessions"``)."""
        tables = self.tables()
        if table not in tables:
            raise ValueError(f"no table {table!r}: one of {', '.join(tables)}")
        return tables[table]

    def to_pandas(self, table: str = "pdus") -> pandas.DataFrame:
        """:meth:`to_arrow` as a pandas DataFrame. Integer columns keep their width and
        nulls (pandas' nullable dtypes): a Msg_Id above 2**53 stays exact, never a float."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        import pyarrow as pa

        nullable = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(),
                    pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(),
                    pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
                    pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype()}
        frame: pandas.DataFrame = self.to_arrow(table).to_pandas(types_mapper=nullable.get)
        return frame

    # -- frames -------------------------------------------------------------------------------

    @property
    def path(self) -> str | None:
        """The capture file's path when its frames can be read again (a regular, uncompressed
        file opened by path), else None."""
        path = getattr(self.source, "path", None)
        return path if isinstance(path, str) else None

    def _rereadable(self) -> bool:
        """Whether frames can be read again at the core's offsets: a file's (:attr:`path`), or
        a merge of several files' (its ``frame_reader`` maps offsets back to them)."""
        return self.path is not None or callable(getattr(self.source, "frame_reader", None))

    def _frame_reader(self, offsets: list[int]) -> FrameFile | MergedFrames | None:
        """What reads the frames at ``offsets`` again: the capture file, or for several inputs
        merged, the inputs (merged again to find them); None before a header was read."""
        reader = getattr(self.source, "frame_reader", None)
        if not callable(reader):
            return self.frame_file()
        layout = self.engine.capture_layout() if self.engine is not None else None
        if layout is None:
            return None
        frames: MergedFrames = reader(offsets, layout)
        return frames

    def frame_file(self) -> FrameFile | None:
        """The capture file opened to read frames again at the store's offsets (None when
        they are unknown, or before the capture's header was read)."""
        layout = self.engine.capture_layout() if self.engine is not None else None
        if self.path is None or layout is None:
            return None
        from cmppdissect.sources.frames import FrameFile  # dpkt: imported when needed

        return FrameFile(self.path, layout, identity=getattr(self.source, "identity", None))

    def frame_records(self, rows: Iterable[int]) -> np.ndarray:
        """The file offsets of every frame that carried the given rows, each once, in file
        order (the fragments of a fragmented IPv4 datagram included): what ``-w`` writes. An
        int64 array: 8 bytes a frame, whatever the capture's size."""
        store, engine = self.store, self.engine
        if store is None or engine is None:
            return np.empty(0, np.int64)
        picked = np.fromiter(rows, np.int64)
        own = store.offset[picked]
        parts = [own[own >= 0]]
        if store.carriers:  # split PDUs name their frames instead of their own one
            split = np.fromiter(store.carriers, np.int64, len(store.carriers))
            mine = np.isin(picked, split)
            parts[0] = own[(own >= 0) & ~mine]
            parts += [np.asarray(store.carriers[int(r)], np.int64) for r in picked[mine]]
        out = np.unique(np.concatenate(parts))
        fragments = engine.core.fragment_records
        if fragments:
            keys = np.fromiter(fragments, np.int64, len(fragments))
            hits = out[np.isin(out, keys)]
            if len(hits):
                more = [np.asarray(fragments[int(o)], np.int64) for o in hits]
                out = np.unique(np.concatenate([out, *more]))
        return out

    def write_frames(self, rows: Iterable[int], sink: IO[bytes] | Ring, fmt: str = "pcapng"
                     ) -> int:
        """Read the frames that carried ``rows`` from the capture file again and write them to
        ``sink`` with :class:`~cmppdissect.sources.frames.FrameWriter` (``fmt``: ``"pcapng"``
        or ``"pcap"``); returns how many. What ``-w`` and the TUI's save both do, so a saved
        file holds the same frames whichever wrote it.

        Without a capture header read yet, an empty capture; with no frame to write, an empty
        capture of the input's first interface. A frame that cannot be read or written raises
        :class:`~cmppdissect.sources.frames.FrameError` (the file then ends on a whole frame).
        ``sink`` a :class:`~cmppdissect.sources.ring.Ring` (``-b``): the frames go to its
        files, each declaring the same interfaces (:class:`~cmppdissect.sources.ring.FrameRing`).
        """
        from cmppdissect.sources.frames import FrameWriter  # dpkt: imported when needed
        from cmppdissect.sources.ring import FrameRing, Ring

        def writer_for(interfaces: list[InterfaceLayout]) -> FrameWriter | FrameRing:
            if isinstance(sink, Ring):
                return FrameRing(sink, fmt, interfaces)
            return FrameWriter(sink, fmt, interfaces)

        offsets = self.frame_records(rows).tolist()
        frames = self._frame_reader(offsets)
        if frames is None:  # not even a capture header was read
            writer = writer_for([])
            writer.flush()
            return writer.frames
        with frames:
            # The writer declares its interfaces first: those of the frames to write, in order.
            interfaces = list(dict.fromkeys(frames.interface_at(offset) for offset in offsets))
            if not interfaces:  # nothing kept: an empty capture of the input's first interface
                interfaces = [s.interfaces[0] for s in frames.layout.sections
                              if s.interfaces][:1]
            writer = writer_for(interfaces)
            try:
                for offset in offsets:
                    writer.write(frames.read(offset))
                writer.flush()
            finally:
                if isinstance(writer, FrameRing):
                    writer.close()
            return writer.frames

    # -- results ------------------------------------------------------------------------------

    @property
    def progress(self) -> float | None:
        """Fraction of the file read so far (None for stdin, pipes and live capture)."""
        return self.source.progress

    @property
    def expert(self) -> list[ExpertItem]:
        return self.engine.expert.items if self.engine is not None else []

    @property
    def sessions(self) -> list[SessionState]:
        """The sessions, in the order they opened (reads the capture to the end first)."""
        self.run()
        assert self.engine is not None
        return self.engine.session_states()

    def session_rows(self) -> list[dict[str, Any]]:
        """One row per session, as in the report (for a DataFrame)."""
        from cmppdissect.output.report import session_dicts

        self.run()
        assert self.engine is not None
        return session_dicts(self.engine)

    def latency_samples(self, command: str) -> Any:
        """Every latency (ns) of one request type, as a numpy array (for your own statistics)."""
        from cmppdissect.engine.stats import samples

        self.run()
        assert self.engine is not None
        return samples(self.engine.core.latency_samples(command_id_of(command)))

    def reconciliation(self) -> dict[str, Any]:
        """Where did the status reports go (the report's ``reconciliation`` section): per SP
        the SUBMITs that awaited a report and what came, by Stat with the delay; the SUBMITs
        never reported (per SP, per hour, listed with their age and recipient); reports that
        matched no SUBMIT, duplicates, reports on another connection, near misses. Reads the
        capture to the end first if needed."""
        from cmppdissect.output.reconcile import reconciliation

        self.run()
        assert self.engine is not None
        return reconciliation(self.engine)

    def timeouts(self) -> dict[str, Any]:
        """Is it really a timeout (the report's ``timeouts`` section): each request called
        unanswered or resent and what became of it (answered late, on another connection,
        with a wrong Sequence_Id, twice, or never), counted per SP and listed."""
        from cmppdissect.output.timeouts import timeouts

        self.run()
        assert self.engine is not None
        return timeouts(self.engine)

    def flow_control(self) -> dict[str, Any]:
        """Why was I throttled (the report's ``flow_control`` section, and each session's
        ``flow`` under ``sessions``): requests in flight against the window, refusals with
        the rate and window they met, what bound the rate over time. Keys: ``window``,
        ``sessions`` (the summary rows) and ``per_session`` ({session id: its flow})."""
        from cmppdissect.output.flow import flow_summary
        from cmppdissect.output.report import session_dicts

        self.run()
        assert self.engine is not None
        sessions = session_dicts(self.engine)
        return {**flow_summary(sessions), "per_session": {s["id"]: s["flow"] for s in sessions}}

    def links(self) -> dict[str, Any]:
        """How the links lived (the report's ``links`` section, and each session's
        ``lifecycle``): per SP its sessions, logins, CONNECTs per minute, reconnect storms,
        idle gaps and who closed how. Keys as the section, plus ``per_session``."""
        from cmppdissect.output.links import links
        from cmppdissect.output.report import session_dicts

        self.run()
        assert self.engine is not None
        sessions = session_dicts(self.engine)
        return {**links(self.engine, sessions),
                "per_session": {s["id"]: s["lifecycle"] for s in sessions}}

    def report(self, *, details: bool = True) -> dict[str, Any]:
        """The ``--report json`` document (reads the capture to the end first if needed)."""
        from cmppdissect.output.report import build_report

        self.run()
        assert self.engine is not None
        return build_report(self.engine, details=details)


Input = str | os.PathLike[str]


def analyze(source: Input | IO[bytes] | ByteSource | Sequence[Input | Sequence[Input]],
            *more: Input | Sequence[Input],
            ports: tuple[int, ...] = (), version: str | Version | None = None,
            timeout_s: float = 60.0, secrets: Mapping[str, str] | None = None,
            heuristic: bool = True, **limits: Any) -> Analysis:
    """Open a pcap/pcapng capture (path, ``"-"`` or a binary file) for analysis.

    ``source`` may also be a :class:`ByteSource` such as a
    :class:`~cmppdissect.sources.live.LiveCapture`, analysed as it is captured.

    Several paths (``analyze([a, b])`` or ``analyze(a, b)``) are merged by time as mergecap
    does (:class:`~cmppdissect.sources.merge.MergedSource`): a connection that continues from
    one file to the next is one session, and frames are numbered over the merged stream.
    A list among them (``analyze([[a1, a2, a3], b])``) is a *chain*: the rotated pieces of
    one capture, read one after another in that order, as ``mergecap -a`` joins them, so a
    clock that ran backwards across a rotation reorders nothing (the chain is then one input
    of the merge by time). Each input is checked when it is opened; ``"-"`` (standard input)
    can only come alone.

    ``ports`` adds TCP ports to the four CMPP defaults; ``version`` forces "2.0"/"3.0" for
    captures without a CONNECT; ``secrets`` maps SP ids to shared secrets to check logins;
    ``limits`` sets the engine's caps (``max_sessions``, ``max_expert``...).
    Raises :class:`~cmppdissect.core.records.CaptureFormatError` for a non-capture,
    ``OSError`` for a file that cannot be opened and ``ValueError`` for a bad version, before
    anything is read.
    """
    settings = {"ports": (*DEFAULT_PORTS, *ports), "version": parse_version(version),
                "timeout_s": timeout_s, "secrets": secrets, "heuristic": heuristic, **limits}
    if isinstance(source, (list, tuple)) or more:
        paths = [*(source if isinstance(source, (list, tuple)) else [source]), *more]
        return Analysis(_merged(paths), settings)
    if not isinstance(source, ByteSource):
        source = FileSource(cast("str | os.PathLike[str] | IO[bytes]", source))
    return Analysis(source, settings)


def _merged(paths: Sequence[Any]) -> ByteSource:
    """One source over several capture files, a list among them a chain (one path alone is
    that file)."""
    chains: list[list[int]] = []
    flat: list[Any] = []
    for item in paths:
        group = list(item) if isinstance(item, (list, tuple)) else [item]
        if not group:
            raise ValueError("an empty chain of captures")
        chains.append(list(range(len(flat), len(flat) + len(group))))
        flat += group
    if not flat:
        raise ValueError("no capture given")
    for path in flat:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"several captures are given by path, not {type(path).__name__}")
        if len(flat) > 1 and os.fspath(path) == "-":
            raise ValueError("- (standard input) can only be read alone, not merged")
    if len(flat) == 1:
        return FileSource(flat[0])
    from cmppdissect.sources.merge import MergedSource

    opened: list[FileSource] = []
    try:
        for path in flat:
            opened.append(FileSource(path))
    except BaseException:
        for done in opened:
            done.close()
        raise
    return MergedSource(opened, chains=chains)


def compare(a: str | os.PathLike[str] | IO[bytes] | ByteSource,
            b: str | os.PathLike[str] | IO[bytes] | ByteSource, **settings: Any
            ) -> dict[str, Any]:
    """Two captures side by side (``cmppdissect diff A B``): response-time percentiles,
    Result codes, report Stats and delay, and rates, for the whole of each and per SP, with
    the change from A to B. ``settings`` as for :func:`analyze`, applied to both."""
    from cmppdissect.output.diff import capture_figures
    from cmppdissect.output.diff import compare as side_by_side

    sides = []
    for source in (a, b):
        analysis = analyze(source, **settings)
        analysis.start(keep_rows=True)
        analysis.run()
        store, engine = analysis.store, analysis.engine
        assert store is not None and engine is not None
        n = store.count
        sp_of = {}
        for sid in np.unique(store.session[:n]).tolist():
            names = engine.sessions.get(sid)
            sp_of[sid] = names.sp_id if names is not None else None
        duration = (int(store.ts_ns[:n].max()) - int(store.ts_ns[:n].min())) / 1e9 if n else 0.0
        sides.append(capture_figures(store, sp_of, duration))
    return side_by_side(sides[0], sides[1])
