"""What the TUI shows of a capture: the store's rows, and snapshots of the rest.

No Textual here. The rows are the one :class:`~cmppdissect.store.PduStore` the indexer fills
(through :class:`cmppdissect.api.Analysis`, as every other consumer does); sessions, expert
findings, the report and the progress are snapshots the indexer publishes a few times a second,
replaced whole and never changed in place, so the UI thread reads them without locks.

**Rows let go.** With a cap (``--max-pdus``, a live capture's default) the oldest rows go a
chunk at a time (:meth:`CaptureModel.release_oldest`, run by the indexer on the UI thread), and
the rows left are numbered from 0 again, as the store numbers them (:attr:`PduStore.base
<cmppdissect.store.PduStore.base>` counts the rows gone). Everything that holds rows by number
is told, on the UI thread, in one go: the model's own marks and long-SMS index, the views that
hold row numbers (:meth:`CaptureModel.add_view`: filters, searches, a long SMS's parts; a
view's rows shift, those gone are dropped) and then the lists and screens
(:meth:`CaptureModel.add_holder`: a cursor stays on its row, or goes to the nearest row held).
Worker threads that read rows by number (filters, the Messages builder, a save, a list's
statistics) hold :attr:`CaptureModel.rows_gate` while they read a slice, so rows are never
renumbered under them.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from cmppdissect.core.records import CaptureLayout
from cmppdissect.engine import Engine, ExpertItem
from cmppdissect.protocol.commands import CommandId
from cmppdissect.protocol.decode import DecodedPdu
from cmppdissect.protocol.expert import Finding
from cmppdissect.sources.file import FileIdentity
from cmppdissect.store import NO_PAIR, PduRecord, PduStore, RecordColumns, RecordView, record_at
from cmppdissect.store.records import long_sms_of

_SUBMIT = int(CommandId.CMPP_SUBMIT)
_SUBMIT_RESP = int(CommandId.CMPP_SUBMIT_RESP)

LATENCY_EVERY_S = 1.0  # how often a busy session's response-time percentiles are redone

if TYPE_CHECKING:
    from cmppdissect.sources.frames import Layer

__all__ = ["NO_PAIR", "CaptureModel", "Extra", "Progress", "RowHolder", "RowsGate",
           "SessionInfo"]


class RowsGate:
    """Keeps rows from being renumbered while a worker thread reads them by number.

    A worker holds :meth:`reading` for a slice of its work; the UI thread, to let rows go,
    :meth:`shut` s the gate: from then on new slices wait, and once no slice is being read
    (``shut()`` returns True; else it is asked again at the next tick) the rows are renumbered
    and the gate :meth:`open` ed. Shutting before waiting means a worker that reads slice after
    slice (a filter catching up) cannot put a release off for ever. A thread already reading
    may read again (nested) without waiting.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._shut = False
        self._closed = False
        self._local = threading.local()

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        depth: int = getattr(self._local, "depth", 0)
        if not depth:
            with self._cond:
                while self._shut and not self._closed:
                    self._cond.wait()
                self._readers += 1
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if not depth:
                with self._cond:
                    self._readers -= 1
                    if not self._readers:
                        self._cond.notify_all()

    def shut(self) -> bool:
        """Keep new readers out; whether no reader is in (rows may be renumbered now)."""
        with self._cond:
            if self._closed:
                return False
            self._shut = True
            return self._readers == 0

    def open(self) -> None:
        with self._cond:
            self._shut = False
            self._cond.notify_all()

    def close(self) -> None:
        """The app ends: nothing is renumbered any more, and no reader waits."""
        with self._cond:
            self._closed = True
            self._shut = False
            self._cond.notify_all()


class RowHolder(Protocol):
    """Something that holds rows by number (a list's cursor, a screen's row): told on the UI
    thread before rows go (still numbered as before) and after (``k`` fewer)."""

    def rows_releasing(self) -> None: ...

    def rows_released(self, k: int) -> None: ...


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One row of the Sessions screen, as of the last publish."""

    id: int
    client: str
    server: str
    sp_id: str | None
    version: str | None
    login: str | None
    start_ns: int
    end_ns: int
    pdus: int
    tps: float
    submit_p50_ms: float | None
    submit_p99_ms: float | None
    errors: int
    unanswered: int
    ended: str | None

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


@dataclass(frozen=True, slots=True)
class Progress:
    """How far indexing has got; ``fraction`` is None when the input size is unknown (live)."""

    fraction: float | None
    done: bool
    paused: bool
    frames: int
    elapsed_s: float
    counters: tuple[tuple[str, int], ...] = ()  # source counters, e.g. captured/dropped
    error: str | None = None
    live: bool = False


@dataclass(frozen=True, slots=True)
class Extra:
    """What a row carries besides its fields: its findings and a completed long SMS."""

    findings: tuple[Finding, ...] = ()
    long_sms: Mapping[str, Any] | None = None


class CaptureModel:
    """The store's rows plus snapshots of sessions, expert findings and the report."""

    def __init__(self, *, name: str = "", store: PduStore | None = None) -> None:
        self.name = name
        self.store = store if store is not None else PduStore()
        self.sessions: tuple[SessionInfo, ...] = ()
        self.expert: list[ExpertItem] = []
        self.expert_count = 0
        self.report: dict[str, Any] | None = None
        self.report_generation = 0
        self.progress = Progress(None, False, False, 0, 0.0)
        self.generation = 0  # bumped by every publish: the UI redraws when it changes
        self.want_report = threading.Event()
        # The report's flow_control and links sections cost every session's figures: only
        # while a screen shows them.
        self.want_diagnosis = threading.Event()
        self.pair_timeout_ns = 60_000_000_000  # the engine's --timeout; the app sets it
        self._known_sessions: dict[int, SessionInfo] = {}
        self._session_marks: dict[int, tuple[int, int, int, int]] = {}
        self._latency_at: dict[int, float] = {}  # sid -> when its percentiles were worked out
        # The capture file, when its frames can be read again (a regular uncompressed file),
        # and what reading them needs as of the last publish.
        self.capture_path: str | None = None
        self.capture_identity: FileIdentity | None = None
        self.capture_layout: CaptureLayout | None = None
        # Rows the user marked (the PDU lists and the ladder show them; a save can keep them).
        self.marks: set[int] = set()
        self.marks_generation = 0  # bumped by every change: lists repaint the rows
        # part -> the row that completed its message, both by number since the capture began
        self._long_parts: dict[int, int] = {}
        self._long_scanned = 0
        # The cap on rows held (0: none; the indexer sets it) and how many go at once.
        self.max_pdus = 0
        self.release_chunk = 0
        self.releases = 0  # how many times rows were let go
        self.rows_gate = RowsGate()
        self._views: weakref.WeakSet[Any] = weakref.WeakSet()
        self._holders: weakref.WeakSet[Any] = weakref.WeakSet()

    # -- the store's columns (read by the lists at every paint) ------------------------------

    @property
    def count(self) -> int:
        return self.store.count

    @property
    def frame(self) -> np.ndarray:
        return self.store.frame

    @property
    def ts_ns(self) -> np.ndarray:
        return self.store.ts_ns

    @property
    def session(self) -> np.ndarray:
        return self.store.session

    @property
    def command_id(self) -> np.ndarray:
        return self.store.command_id

    @property
    def sequence_id(self) -> np.ndarray:
        return self.store.sequence_id

    @property
    def length(self) -> np.ndarray:
        return self.store.length

    @property
    def pair(self) -> np.ndarray:
        return self.store.pair

    @property
    def latency_ns(self) -> np.ndarray:
        return self.store.latency_ns

    @property
    def severity(self) -> np.ndarray:
        return self.store.severity

    @property
    def version(self) -> np.ndarray:
        return self.store.version

    @property
    def first_ts_ns(self) -> int | None:
        return self.store.first_ts_ns

    def latency(self, row: int) -> int | None:
        """A paired row's latency (ns), None without a pair."""
        return int(self.store.latency_ns[row]) if self.store.pair[row] != NO_PAIR else None

    def paired(self, row: int) -> bool:
        """Whether ``row`` has its request or response (held or let go)."""
        return bool(self.store.pair[row] != NO_PAIR)

    def partner(self, row: int) -> int | None:
        """The row ``row`` is paired with, if it has one and it is held."""
        return self.store.partner(row)

    def partner_frame(self, row: int) -> int | None:
        """The frame of ``row``'s request or response, also when that row was let go."""
        return self.store.partner_frame(row)

    # -- rows let go (see the module docs) --------------------------------------------------

    @property
    def released(self) -> int:
        """Rows let go since the capture began (the oldest first)."""
        return self.store.base

    def dropped_note(self) -> str:
        """What the status line says once rows went: ``oldest 200,000 PDUs dropped (cap
        2,000,000)``; empty before."""
        if not self.released:
            return ""
        return f"oldest {self.released:,} PDUs dropped (cap {self.max_pdus:,})"

    def gone_frame(self, frame: int) -> bool:
        """Whether ``frame`` came before the first row held, which went (frames ascend)."""
        store = self.store
        return bool(self.released) and store.count > 0 and frame < int(store.frame[0])

    def add_view(self, view: Any) -> None:
        """A view holding row numbers (``rows_released(k)``; ``depth``: views over views are
        told after their base)."""
        self._views.add(view)

    def add_holder(self, holder: RowHolder) -> None:
        self._holders.add(holder)

    def remove_holder(self, holder: RowHolder) -> None:
        self._holders.discard(holder)

    def release_oldest(self, release: Callable[[int], int], upto: int) -> int:
        """Let the rows below ``upto`` go, fewer if a holder still needs some
        (``rows_needed_from()``, the Messages builder's next row), through ``release`` (the
        store's, which says how many went): then renumber everything that holds rows. On the
        UI thread, the indexer's lock held and :attr:`rows_gate` shut."""
        holders = list(self._holders)
        for holder in holders:
            needed = getattr(holder, "rows_needed_from", None)
            floor = needed() if needed is not None else None
            if floor is not None:
                upto = min(upto, floor)
        if upto <= 0:
            return 0
        for holder in holders:
            holder.rows_releasing()
        k = release(upto)
        if not k:
            return 0
        self.releases += 1
        if self.marks:
            self.marks = {row - k for row in self.marks if row >= k}
            self.marks_generation += 1
        base = self.store.base
        self._long_parts = {part: home for part, home in self._long_parts.items()
                            if home >= base}
        self._long_scanned = max(0, self._long_scanned - k)
        for view in sorted(self._views, key=lambda v: int(getattr(v, "depth", 1))):
            view.rows_released(k)
        for holder in holders:
            holder.rows_released(k)
        self.generation += 1
        return k

    # -- writing (the indexer thread) ---------------------------------------------------------

    def publish(self, engine: Engine, progress: Progress, *, report: bool = False) -> None:
        """Snapshot what the UI shows besides rows; called by the writer between batches."""
        from cmppdissect.engine.stats import summarize_ms

        core = engine.core
        for sid, mark in core.session_marks().items():
            names = engine.sessions.get(sid)
            if names is None:
                continue
            known = self._known_sessions.get(sid)
            if self._session_marks.get(sid) == mark and known is not None \
                    and names.login == known.login and names.sp_id == known.sp_id:
                continue
            s = core.session(sid)
            if s is None:
                continue
            self._session_marks[sid] = mark
            # Percentiles sort every sample of the session: while indexing, a busy session's
            # are worked out again once a second, not at every publish (the rest is cheap).
            now = time.monotonic()
            if (known is None or progress.done or s["ended"]
                    or now - self._latency_at.get(sid, 0.0) >= LATENCY_EVERY_S):
                latency = summarize_ms((s["commands"][4][6],) if 4 in s["commands"] else (),
                                       engine.sketches.get(("latency", sid, 4)))
                p50, p99 = latency["p50"], latency["p99"]
                self._latency_at[sid] = now
            else:
                p50, p99 = known.submit_p50_ms, known.submit_p99_ms
            duration = (s["end_ns"] - s["start_ns"]) / 1e9
            self._known_sessions[sid] = SessionInfo(
                sid, names.client, names.server, names.sp_id, s["version"], names.login,
                s["start_ns"], s["end_ns"], mark[0], mark[0] / max(duration, 1.0),
                p50, p99, s["errors"], s["unanswered"], s["ended"])
        if len(self._known_sessions) > len(engine.sessions):
            # Sessions the engine dropped past its max_sessions leave the list too (a capture
            # of a connection per message would otherwise grow it for days).
            for sid in [sid for sid in self._known_sessions if sid not in engine.sessions]:
                del self._known_sessions[sid]
                self._session_marks.pop(sid, None)
                self._latency_at.pop(sid, None)
        self.sessions = tuple(self._known_sessions.values())
        if self.capture_path is not None:
            self.capture_layout = engine.capture_layout()
        items = engine.expert.items
        if len(items) > len(self.expert):
            self.expert.extend(items[len(self.expert):])
        self.expert_count = len(self.expert)
        if report:
            from cmppdissect.output.report import build_report

            # The last report (a file read to its end) has them all the same: nothing
            # would build it again when the Diagnosis tab is opened later.
            self.report = build_report(engine, details=False,
                                       diagnosis=self.want_diagnosis.is_set() or progress.done)
            self.report_generation += 1
        self.progress = progress
        self.generation += 1

    def touch(self) -> None:
        """Tell the UI that rows arrived, without a full publish (live captures)."""
        self.generation += 1

    def set_progress(self, progress: Progress) -> None:
        self.progress = progress
        self.generation += 1

    # -- reading (UI thread) ------------------------------------------------------------------

    def from_client(self, row: int) -> bool:
        return self.store.from_client(row)

    def raw(self, row: int) -> bytes:
        return self.store.raw(row)

    def pdu(self, row: int) -> DecodedPdu:
        """The PDU decoded again from its bytes (its decode findings included)."""
        return self.store.pdu(row)

    def extra(self, row: int) -> Extra:
        """Every finding on a row (its decoding's, then the engine's) and its long SMS."""
        long_sms = long_sms_of(self.store, row)
        summary = None if long_sms is None else {
            "reference": long_sms.reference, "total": long_sms.total,
            "frames": long_sms.frames, "text": long_sms.text()}
        pdu = self.store.pdu(row)
        return Extra((*pdu.findings, *self.store.engine_findings(row, pdu)), summary)

    def endpoints(self, row: int) -> tuple[str, str]:
        return self.store.endpoints_of(row)

    def frame_layers(self, row: int) -> list[Layer] | None:
        """The layers of the frame that completed ``row`` (Frame, link, IP, TCP), read again
        from the capture file; None when the file cannot be read again (stdin, gzip, live).
        A frame that cannot be read is one malformed layer saying why."""
        offset = int(self.store.offset[row])
        layout = self.capture_layout
        if self.capture_path is None or layout is None or offset < 0:
            return None
        from cmppdissect.sources.frames import FrameError, FrameFile, Layer, frame_layers

        try:
            with FrameFile(self.capture_path, layout, identity=self.capture_identity) as frames:
                frame = frames.read(offset)
        except FrameError as exc:
            return [Layer(f"Frame {self.store.frame[row]}", f"cannot be read again: {exc}",
                          malformed=True)]
        return frame_layers(frame, int(self.store.frame[row]))

    def session_info(self, sid: int) -> SessionInfo | None:
        return self._known_sessions.get(int(sid))

    def session_rows(self, sid: int) -> np.ndarray:
        return self.store.session_rows(sid)

    def record(self, row: int) -> PduRecord:
        return record_at(self.store, row)

    def settled(self, row: int) -> bool:
        """Whether ``row``'s pairing is final (and its session known, for src/dst)."""
        if self.session_info(int(self.store.session[row])) is None:
            return False
        return self.progress.done or self.store.is_settled(row)

    def record_dict(self, row: int) -> dict[str, Any]:
        """What ``-T jsonl`` prints for this PDU: the display filter runs on this."""
        return self.lazy_record(row).full()

    def lazy_record(self, row: int) -> RecordView:
        return RecordView(self.store, row)

    def columns(self, rows: np.ndarray) -> RecordColumns:
        """Rows (ascending) as the display filter's column path reads them."""
        return RecordColumns(self.store, rows)

    def settled_prefix(self, rows: np.ndarray) -> int:
        """How many of ``rows`` (ascending), from the first, are :meth:`settled`."""
        if not len(rows):
            return 0
        known = np.fromiter((s.id for s in self.sessions), np.int64)
        ok = np.isin(self.store.session[rows], known)
        if not self.progress.done:
            ok &= rows < self.store.settled
        bad = np.flatnonzero(~ok)
        return int(bad[0]) if len(bad) else len(rows)

    def row_of_frame(self, frame: int) -> int | None:
        return self.store.row_of_frame(frame)

    def session_ids(self) -> list[int]:
        return [s.id for s in self.sessions]

    # -- marks (UI thread) -----------------------------------------------------------------

    def toggle_mark(self, row: int) -> bool:
        """Mark ``row``, or unmark it if it was; whether it is marked now."""
        row = int(row)
        self.marks_generation += 1
        if row in self.marks:
            self.marks.discard(row)
            return False
        self.marks.add(row)
        return True

    def clear_marks(self) -> None:
        self.marks.clear()
        self.marks_generation += 1

    def marked_rows(self) -> np.ndarray:
        """The marked rows, ascending (capture order: what a save writes)."""
        return np.array(sorted(self.marks), dtype=np.int64)

    # -- links between rows beyond request and response ----------------------------------

    def submit_of_report(self, row: int) -> int | None:
        """The SUBMIT a status report answers, as the engine matched it (by Msg_Id); None
        if ``row`` is no report or its SUBMIT is not in the capture.

        The engine keeps the SUBMIT's frame; when that segment carried several SUBMITs, the
        one whose SUBMIT_RESP gave out the report's Msg_Id (one Msg_Id per recipient) is it.
        """
        store = self.store
        frame = store.report_for(int(row))
        if frame is None:
            return None
        submits = [int(r) for r in store.rows_of_frame(frame)
                   if int(store.command_id[r]) == _SUBMIT]
        if len(submits) <= 1:
            return submits[0] if submits else None
        report = self.pdu(row).report or {}
        wanted = report.get("Msg_Id")
        for candidate in submits:
            resp = store.partner(candidate)
            if resp is None:
                continue
            first = self.pdu(resp).fields.get("Msg_Id")
            count = max(1, int(self.pdu(candidate).fields.get("DestUsr_tl", 1) or 1))
            if isinstance(first, int) and isinstance(wanted, int) \
                    and 0 <= wanted - first < count:
                return candidate
        return submits[0]

    def reports_of(self, row: int) -> list[int]:
        """The status reports matched to a SUBMIT (or to the SUBMIT a SUBMIT_RESP answers),
        in capture order: one per recipient that was reported on."""
        store = self.store
        row = int(row)
        cmd = int(store.command_id[row])
        if cmd == _SUBMIT_RESP:
            partner = store.partner(row)
            if partner is None:
                return []
            row = partner
        elif cmd != _SUBMIT:
            return []
        return [r for r in store.reports_for_frame(int(store.frame[row]))
                if self.submit_of_report(r) == row]

    def long_sms_home(self, row: int) -> int | None:
        """The row that completed the long SMS ``row`` is a part of (where the joined
        message is kept), or None if it is no part of a completed message (or that row went:
        the engine's part rows are numbers since the capture began)."""
        store = self.store
        count = store.count
        base = store.base
        if self._long_scanned < count:
            for done in store.long_sms_between(self._long_scanned, count):
                for part in store.long_sms[done][2]:
                    self._long_parts[int(part)] = int(done) + base
            self._long_scanned = count
        home = self._long_parts.get(int(row) + base)
        return None if home is None or home < base else home - base

    def long_sms_parts(self, home: int) -> list[int]:
        """The part rows held of the long SMS completed at ``home``, in part order."""
        found = self.store.long_sms.get(int(home))
        base = self.store.base
        return [] if found is None else [int(r) - base for r in found[2] if r >= base]

