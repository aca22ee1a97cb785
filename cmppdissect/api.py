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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from cmppdissect.core.records import CaptureNote
from cmppdissect.engine import Batch, Engine, ExpertItem, SessionState
from cmppdissect.protocol.commands import DEFAULT_PORTS, command_id_of
from cmppdissect.protocol.layouts import result_of
from cmppdissect.protocol.version import Version, parse_version
from cmppdissect.sources.file import FileSource
from cmppdissect.store import RESEND, PduRecord, PduStore, RecordView, record_at
from cmppdissect.store.records import RowSlice, records_between, row_slice

if TYPE_CHECKING:
    from cmppdissect.query import DisplayFilter
    from cmppdissect.sources.frames import FrameFile

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
    """A request with its response (``response`` is None when none came in time)."""

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

    def row(self) -> dict[str, Any]:
        """A flat dict, one row of a table (``pandas.DataFrame(rows)`` takes a list of them)."""
        req, resp = self.request, self.response
        return {"session": req.session, "command": req.command,
                "sequence_id": req.pdu.Sequence_Id, "request_frame": req.frame,
                "request_time": req.ts_ns / 1e9,
                "response_frame": resp.frame if resp else None,
                "response_time": resp.ts_ns / 1e9 if resp else None,
                "latency_ms": self.latency_ms, "result": self.result}


class Analysis:
    """One capture being analysed. Create it with :func:`analyze`."""

    def __init__(self, source: ByteSource, settings: Mapping[str, Any]) -> None:
        self.source = source
        self.notes = source.notes
        self.settings = dict(settings)
        self.engine: Engine | None = None
        self.store: PduStore | None = None
        self.done = False
        self._started = False

    # -- driving ------------------------------------------------------------------------------

    def start(self, *, keep_rows: bool, pdu_limit: int = 0, carriers: bool = False) -> Engine:
        """Create the engine (once): ``keep_rows`` when PDUs are to be shown, not only counted;
        ``carriers`` when every frame of a PDU split over several is wanted (writing frames).

        Rows know their frame's offset in the file when the source is a regular uncompressed
        file (:attr:`FileSource.path`).
        """
        if self._started:
            raise RuntimeError("a capture is read once: call analyze() again to re-read it")
        self._started = True
        self.engine = Engine(**self.settings, keep_rows=keep_rows, pdu_limit=pdu_limit,
                             notes=self.notes, offsets=self.path is not None,
                             carriers=carriers)
        if keep_rows:
            self.store = PduStore()
        return self.engine

    def feed(self, chunk: bytes) -> Batch:
        """Analyse the next chunk of the source (for drivers that read it themselves)."""
        engine = self.engine
        if engine is None:
            raise RuntimeError("start() the analysis first")
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
            for chunk in self.source.chunks():
                yield self.feed(chunk)
                if engine.stopped:
                    break
            yield self.finish()
        finally:
            self.source.close()

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

    def _settling(self, *, pdu_limit: int = 0, carriers: bool = False
                  ) -> Iterator[tuple[PduStore, int, int]]:
        """Read the capture keeping rows; after each batch, the rows that just settled (their
        pairing known) as ``(store, start, stop)``: what every streaming reader walks. A run
        of settled rows comes in pieces of at most ``PIECE_ROWS`` rows and ``PIECE_BYTES``
        bytes (or one PDU), so that a reader that copies a piece's bytes (a slice, a worker's
        share) holds a bounded amount however many rows settle at once (every request behind
        one that waits for its response or its timeout)."""
        self.start(keep_rows=True, pdu_limit=pdu_limit, carriers=carriers)
        store = self.store
        assert store is not None
        shown = 0
        for _ in self.batches():
            settled = store.settled
            while shown < settled:
                stop = _piece_end(store, shown, settled)
                yield store, shown, stop
                shown = stop

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

    def records(self, display_filter: str | None = None, *, pdu_limit: int = 0
                ) -> Iterator[tuple[PduRecord, dict[str, Any] | None]]:
        """As :meth:`pdus`, each with the dict the filter read (None without a filter), so a
        writer of ``-T`` records does not build it a second time."""
        test = self._filter(display_filter)
        for store, start, stop in self._settling(pdu_limit=pdu_limit):
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

    def matching_rows(self, display_filter: str | None = None) -> np.ndarray:
        """The rows of the store (read already) that ``display_filter`` keeps, ascending:
        what a report or a ``-z`` table over a filter counts."""
        store = self.store
        if store is None:
            raise RuntimeError("the rows were not kept: start(keep_rows=True) first")
        if not display_filter:
            return np.arange(store.count, dtype=np.int64)
        test = self._filter(display_filter)
        assert test is not None
        return np.fromiter((row for row in range(store.count) if test(RecordView(store, row))),
                           dtype=np.int64)

    def slices(self, *, pdu_limit: int = 0) -> Iterator[RowSlice]:
        """The rows of the capture in slices, each as soon as its pairing is known: what a
        writer turns into records (in this process, or in others: slices are plain values)."""
        for store, start, stop in self._settling(pdu_limit=pdu_limit):
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

    # -- frames -------------------------------------------------------------------------------

    @property
    def path(self) -> str | None:
        """The capture file's path when its frames can be read again (a regular, uncompressed
        file opened by path), else None."""
        path = getattr(self.source, "path", None)
        return path if isinstance(path, str) else None

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

    def write_frames(self, rows: Iterable[int], sink: IO[bytes], fmt: str = "pcapng") -> int:
        """Read the frames that carried ``rows`` from the capture file again and write them to
        ``sink`` with :class:`~cmppdissect.sources.frames.FrameWriter` (``fmt``: ``"pcapng"``
        or ``"pcap"``); returns how many. What ``-w`` and the TUI's save both do, so a saved
        file holds the same frames whichever wrote it.

        Without a capture header read yet, an empty capture; with no frame to write, an empty
        capture of the input's first interface. A frame that cannot be read or written raises
        :class:`~cmppdissect.sources.frames.FrameError` (the file then ends on a whole frame).
        """
        from cmppdissect.sources.frames import FrameWriter  # dpkt: imported when needed

        frames = self.frame_file()
        if frames is None:  # not even a capture header was read
            writer = FrameWriter(sink, fmt, [])
            writer.flush()
            return writer.frames
        offsets = self.frame_records(rows).tolist()
        with frames:
            # The writer declares its interfaces first: those of the frames to write, in order.
            interfaces = list(dict.fromkeys(frames.interface_at(offset) for offset in offsets))
            if not interfaces:  # nothing kept: an empty capture of the input's first interface
                interfaces = [s.interfaces[0] for s in frames.layout.sections
                              if s.interfaces][:1]
            writer = FrameWriter(sink, fmt, interfaces)
            for offset in offsets:
                writer.write(frames.read(offset))
            writer.flush()
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

    def report(self, *, details: bool = True) -> dict[str, Any]:
        """The ``--report json`` document (reads the capture to the end first if needed)."""
        from cmppdissect.output.report import build_report

        self.run()
        assert self.engine is not None
        return build_report(self.engine, details=details)


def analyze(source: str | os.PathLike[str] | IO[bytes] | ByteSource, *,
            ports: tuple[int, ...] = (), version: str | Version | None = None,
            timeout_s: float = 60.0, secrets: Mapping[str, str] | None = None,
            heuristic: bool = True, **limits: Any) -> Analysis:
    """Open a pcap/pcapng capture (path, ``"-"`` or a binary file) for analysis.

    ``source`` may also be a :class:`ByteSource` such as a
    :class:`~cmppdissect.sources.live.LiveCapture`, analysed as it is captured.

    ``ports`` adds TCP ports to the four CMPP defaults; ``version`` forces "2.0"/"3.0" for
    captures without a CONNECT; ``secrets`` maps SP ids to shared secrets to check logins;
    ``limits`` sets the engine's caps (``max_sessions``, ``max_expert``...).
    Raises :class:`~cmppdissect.core.records.CaptureFormatError` for a non-capture,
    ``OSError`` for a file that cannot be opened and ``ValueError`` for a bad version, before
    anything is read.
    """
    settings = {"ports": (*DEFAULT_PORTS, *ports), "version": parse_version(version),
                "timeout_s": timeout_s, "secrets": secrets, "heuristic": heuristic, **limits}
    if not isinstance(source, ByteSource):
        source = FileSource(source)
    return Analysis(source, settings)


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
