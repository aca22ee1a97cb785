"""The report's fast lane, back half: account framed PDUs without decoding most of them.

:mod:`cmppdissect.capture.columnar` hands over a chunk's PDUs as columns. Most of a busy link's
PDUs are SUBMIT, SUBMIT_RESP, status-report DELIVERs, DELIVER_RESP and ACTIVE_TEST; for the
statistics each needs its header and a handful of fields. numpy reads those for the whole chunk
at the offsets :mod:`cmppdissect.protocol.layouts` gives, for both versions, and checks that
the layout explains every byte, so that the full decoder would have read the same values and
found nothing worth a finding. The loop that follows does what must go in order (pairing,
status-report matching, expert findings); counters and per-second rates are added per chunk.

Every other PDU, and any that fails a check, goes through :meth:`Analyzer._pdu` whole, so both
paths meet in the same sessions, pairers and counters. The loop mirrors ``Analyzer._pdu``
step by step, in the same order (findings are listed in the order they arise), and
``tests/test_fastlane.py`` proves the reports of the two paths equal.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Generator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from cmppdissect.analysis.engine import Analyzer, Session
from cmppdissect.analysis.pairing import Pairer, Pending
from cmppdissect.analysis.stats import CommandStats
from cmppdissect.capture.columnar import (
    Batch,
    ColumnScanner,
    ConnEvent,
    IrregularCaptureError,
    Pdus,
)
from cmppdissect.capture.records import ConnectionClosed, ConnectionOpened
from cmppdissect.protocol.commands import CommandId, command_name, request_of
from cmppdissect.protocol.content import decode_text
from cmppdissect.protocol.decode import CONTENT_LIMIT, CONTENT_LIMIT_DEFAULT, PLAN_FOR
from cmppdissect.protocol.expert import Finding, Severity
from cmppdissect.protocol.framing import FramedPdu
from cmppdissect.protocol.layouts import RESULT_FIELDS, Kind, Layout
from cmppdissect.protocol.version import Version

_CHUNK = 16 << 20
_SUBMIT, _DELIVER = CommandId.CMPP_SUBMIT, CommandId.CMPP_DELIVER
_SUBMIT_RESP = CommandId.CMPP_SUBMIT_RESP
_RESPONSES = (CommandId.CMPP_SUBMIT_RESP, CommandId.CMPP_DELIVER_RESP)
_EMPTY = (CommandId.CMPP_ACTIVE_TEST, CommandId.CMPP_ACTIVE_TEST_RESP)
_REPORT_SIZE = {Version.V2_0: 60, Version.V3_0: 71}
# What the loop does with a PDU (per version: the checks depend on the layout).
_FULL, _RESULT, _PLAIN, _SUBMIT_KIND, _REPORT_KIND = 0, 1, 2, 3, 4
_CHECK_TEXT = 8  # added to a kind: the content's text must be decoded to know it is clean
_SEC = 1_000_000_000


@dataclass(frozen=True, slots=True)
class _Geometry:
    """Where the fields the statistics need sit in a SUBMIT or DELIVER body."""

    registered_delivery: int
    tp_udhi: int
    msg_fmt: int
    count: int  # DestUsr_tl (SUBMIT; -1 for DELIVER)
    array: int  # where Dest_terminal_Id starts (SUBMIT)
    element: int  # its element size (0: no array)
    msg_length: int  # Msg_Length, counted from the end of the array
    after_content: int  # bytes after Msg_Content (Reserve, LinkID)


def _geometry(layout: Layout) -> _Geometry:
    at: dict[str, int] = {}
    off = array = element = after = tail = 0
    in_array = seen_content = False
    for f in layout.fields:
        if seen_content:
            tail += f.size
        elif f.kind is Kind.STR_ARRAY:
            array, element, in_array = off, f.size, True
        elif f.kind is Kind.CONTENT:
            seen_content = True
        elif in_array:
            at[f.name] = after
            after += f.size
        else:
            at[f.name] = off
            off += f.size
    return _Geometry(at["Registered_Delivery"], at["TP_udhi"], at["Msg_Fmt"],
                     at.get("DestUsr_tl", -1), array if in_array else off, element,
                     at["Msg_Length"], tail)


def _result_at(layout: Layout) -> tuple[int, int]:
    off = 0
    for f in layout.fields:
        if f.name in RESULT_FIELDS:
            return off, f.size
        off += f.size
    raise LookupError(layout.name)


_GEOMETRY = {(cmd, v): _geometry(PLAN_FOR[(cmd, v)].layout)
             for cmd in (_SUBMIT, _DELIVER) for v in Version}


def scan_file(path: str | os.PathLike[str], analyzer: Analyzer,
              progress: Callable[[float], None] | None = None, *,
              parallel: bool | None = None) -> bool:
    """Analyse the capture at ``path`` through the fast lane into ``analyzer``.

    False if the capture is not regular: ``analyzer`` is then spoilt and the caller starts
    again with a fresh one on the per-segment path. With ``parallel`` (the default where
    there are two cores and ``fork``), the front half (reading, TCP, framing, the numpy field
    reads) runs in a child process while this one accounts the batches it sends, through a
    pipe whose capacity bounds what waits in between.
    """
    if parallel is None:
        parallel = can_fork()
    ports = analyzer.ports
    source = _forked(path, ports) if parallel else _prepared(path, ports)
    try:
        for item in source:
            feed_batch(analyzer, item.batch, item.columns)
            if progress is not None:
                progress(item.done)
    except IrregularCaptureError:
        return False
    except Exception:  # a lane that trips over a file hands it to the long way
        return False
    finally:
        source.close()
    analyzer.finish()
    return True


def can_fork() -> bool:
    """Two cores, ``fork``, and no other thread: forking a process with threads (a notebook
    kernel, a GUI) can leave a lock held forever in the child. A caller that is about to start
    a thread of its own (the CLI's progress bar) asks first."""
    return ((os.cpu_count() or 1) > 1 and "fork" in mp.get_all_start_methods()
            and threading.active_count() == 1)


@dataclass(slots=True)
class _Prepared:
    batch: Batch
    columns: _Columns
    done: float  # fraction of the file read


def _prepared(path: str | os.PathLike[str], ports: frozenset[int],
              chunk_size: int = _CHUNK, first: int | None = None
              ) -> Generator[_Prepared, None, None]:
    """The front half: chunks of the file to batches with their columns read (a smaller
    ``first`` chunk gets the accounting process going sooner)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size or 1
        scanner = ColumnScanner(ports=ports)
        done = 0
        while chunk := f.read(first or chunk_size):
            first = None
            done += len(chunk)
            batch = scanner.feed(chunk)
            yield _Prepared(batch, _Columns(batch.pdus), done / size)
        batch = scanner.finish()
        yield _Prepared(batch, _Columns(batch.pdus), 1.0)


def _forked(path: str | os.PathLike[str], ports: frozenset[int]
            ) -> Generator[_Prepared, None, None]:
    ctx = mp.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_produce, args=(path, ports, sender, receiver), daemon=True)
    child.start()
    sender.close()
    try:
        while True:
            try:
                item = receiver.recv()
            except EOFError:
                raise IrregularCaptureError("the reading process ended early") from None
            if item is None:
                return
            if isinstance(item, str):
                raise IrregularCaptureError(item)
            yield item
    finally:
        receiver.close()
        child.join(timeout=5)
        if child.is_alive():
            child.terminate()
            child.join()


def _produce(path: str | os.PathLike[str], ports: frozenset[int], sender: Connection,
             receiver: Connection) -> None:
    """The child's work: small chunks, so that the parent starts early (a pipe carries them).

    The child closes its copy of the pipe's reading end, so that a parent that stops reading
    makes its next send fail at once; Ctrl-C is the parent's to handle.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    receiver.close()
    try:
        for item in _prepared(path, ports, _CHUNK // 4, first=_CHUNK // 32):
            sender.send(item)
        sender.send(None)
    except IrregularCaptureError as exc:
        _try_send(sender, str(exc))
    except Exception as exc:  # the per-segment path will meet it again and say what it is
        _try_send(sender, f"{type(exc).__name__}: {exc}")
    finally:
        with contextlib.suppress(OSError):
            sender.close()


def _try_send(sender: Connection, message: str) -> None:
    with contextlib.suppress(OSError):
        sender.send(message)


def _u8(b: np.ndarray[Any, Any], at: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    out: np.ndarray[Any, Any] = b[np.minimum(at, len(b) - 1)].astype(np.int64)
    return out


def _uint(b: np.ndarray[Any, Any], at: np.ndarray[Any, Any], size: int) -> np.ndarray[Any, Any]:
    out = np.zeros(len(at), np.uint64)
    for i in range(size):
        out = (out << np.uint64(8)) | _u8(b, at + i).astype(np.uint64)
    return out


class _Columns:
    """What the loop needs of every PDU of a batch, for either version (numpy arrays), and the
    batch's per-second rates (they depend on no version): all made in the reading process."""

    def __init__(self, p: Pdus) -> None:
        b = np.frombuffer(p.blob, np.uint8)
        at = p.at
        self.total = _uint(b, at, 4).astype(np.int64)
        cmd = _uint(b, at + 4, 4).astype(np.int64)
        self.command_id = cmd
        self.sequence_id = _uint(b, at + 8, 4).astype(np.int64)
        body = at + 12
        blen = self.total - 12
        msg_id = _uint(b, body, 8)
        Array = np.ndarray[Any, Any]
        self._rates(p, cmd)
        self.per_version: dict[Version, tuple[Array, Array, Array, Array]] = {}
        self.stat: dict[Version, tuple[Array, Array]] = {}  # reports: their rows, their Stat
        for v in Version:
            kind = np.full(len(at), _FULL, np.int64)
            x = np.zeros(len(at), np.int64)  # Result; a SUBMIT's Registered_Delivery
            y: np.ndarray[Any, Any] = np.zeros(len(at), np.uint64)  # Msg_Id; DestUsr_tl
            text = np.zeros(len(at), np.int64)  # a SUBMIT's content: start << 16 | fmt << 8 | len
            for c in _EMPTY:
                kind[(cmd == c) & (blen == PLAN_FOR[(c, v)].fixed)] = _PLAIN
            for c in _RESPONSES:
                plan = PLAN_FOR[(c, v)]
                m = (cmd == c) & (blen == plan.fixed)
                off, size = _result_at(plan.layout)
                kind[m] = _RESULT
                x[m] = _uint(b, body[m] + off, size).astype(np.int64)
                y[m] = msg_id[m]
            g = _GEOMETRY[(_SUBMIT, v)]
            m = (cmd == _SUBMIT) & (blen > g.count)
            count = _u8(b, body + g.count)
            at_len = body + g.array + count * g.element + g.msg_length
            fmt = _u8(b, body + g.msg_fmt)
            m &= self._plain_text(b, body, blen, g, at_len, fmt)
            kind[m] = _SUBMIT_KIND
            x[m] = _u8(b, body[m] + g.registered_delivery)
            y[m] = count[m].astype(np.uint64)
            text[m] = ((at_len[m] + 1) << 16) | (fmt[m] << 8) | _u8(b, at_len[m])
            g = _GEOMETRY[(_DELIVER, v)]
            at_len = body + g.msg_length
            fmt = _u8(b, body + g.msg_fmt)
            m = ((cmd == _DELIVER) & (_u8(b, body + g.registered_delivery) == 0)
                 & self._plain_text(b, body, blen, g, at_len, fmt))
            kind[m] = _PLAIN  # a mobile-originated message: only its content has to be checked
            text[m] = ((at_len[m] + 1) << 16) | (fmt[m] << 8) | _u8(b, at_len[m])
            text_rows = (kind == _SUBMIT_KIND) | ((kind == _PLAIN) & (cmd == _DELIVER))
            kind[text_rows & ~_surely_clean(b, text)] += _CHECK_TEXT
            g = _GEOMETRY[(_DELIVER, v)]
            size = _REPORT_SIZE[v]
            at_len = body + g.msg_length
            m = ((cmd == _DELIVER) & (blen == g.msg_length + 1 + size + g.after_content)
                 & (_u8(b, at_len) == size) & (_u8(b, body + g.registered_delivery) == 1))
            kind[m] = _REPORT_KIND
            content = at_len[m] + 1
            y[m] = _uint(b, content, 8)
            stat = b[content[:, None] + np.arange(8, 15)].copy().view("S7").ravel()
            self.per_version[v] = (kind, x, y, text)
            self.stat[v] = (np.flatnonzero(m), stat)

    def _rates(self, p: Pdus, cmd: np.ndarray[Any, Any]) -> None:
        """PDUs and SUBMITs per second, overall and per session (runs in time order)."""
        secs = p.ts_ns // _SEC
        submit = cmd == _SUBMIT
        self.rates: list[tuple[list[int], list[int]]] = []
        for s in (secs, secs[submit]):
            u, c = np.unique(s, return_counts=True)
            self.rates.append((u.tolist(), c.tolist()))
        self.peaks: list[tuple[int, tuple[list[int], list[int]], tuple[list[int], list[int]]]] = []
        if not len(secs):
            return
        order = np.argsort(p.conn, kind="stable")
        bounds = np.flatnonzero(np.diff(p.conn[order])) + 1
        for part in np.split(order, bounds):
            self.peaks.append((int(p.conn[part[0]]), _runs(secs[part]),
                               _runs(secs[part[submit[part]]])))

    @staticmethod
    def _plain_text(b: np.ndarray[Any, Any], body: np.ndarray[Any, Any],
                    blen: np.ndarray[Any, Any], g: _Geometry, at_len: np.ndarray[Any, Any],
                    fmt: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Rows whose layout explains every byte, with no UDH and content within its limit."""
        length = _u8(b, at_len)
        rows: np.ndarray[Any, Any] = (
            (blen > max(g.count, g.msg_length))
            & (blen == at_len + 1 + length + g.after_content - body)
            & (_u8(b, body + g.tp_udhi) == 0) & (length <= _content_limits(fmt)))
        return rows


def _content_limits(fmt: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The decoder's Msg_Length limit (its ``msg-length`` finding) for each Msg_Fmt."""
    limits = np.full(len(fmt), CONTENT_LIMIT_DEFAULT, np.int64)
    for value, limit in CONTENT_LIMIT.items():
        limits[fmt == value] = limit
    return limits


def _surely_clean(b: np.ndarray[Any, Any], text: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Contents that decode by their Msg_Fmt without a finding, as far as numpy can tell.

    ASCII with no byte above 0x7F; UCS2 of even length with no surrogate (so nothing that
    could be unpaired); binary. Anything else (GBK, surrogate pairs...) is decoded by
    :func:`decode_text` itself in the loop.
    """
    rows = np.flatnonzero(text)
    start, fmt, length = text[rows] >> 16, (text[rows] >> 8) & 0xFF, text[rows] & 0xFF
    group = np.repeat(np.arange(len(rows)), length)
    offset = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
    values = b[np.repeat(start, length) + offset]
    high = np.bincount(group, weights=values >= 0x80, minlength=len(rows)) > 0
    surrogate = np.bincount(group, weights=(offset % 2 == 0) & ((values & 0xF8) == 0xD8),
                            minlength=len(rows)) > 0
    ok = (((fmt == 0) & ~high) | ((fmt == 8) & (length % 2 == 0) & ~surrogate)
          | (fmt == 3) | (fmt == 4))
    out = np.zeros(len(text), bool)
    out[rows[ok]] = True
    return out


# One version's reading of a batch: kinds, two value columns, packed text positions, the
# reports' Stat by row, and the code ``used`` records for that version.
_Lists = tuple[list[int], list[int], list[int], list[int], dict[int, bytes], int]


def feed_batch(an: Analyzer, batch: Batch, cols: _Columns | None = None) -> None:
    """Account one batch of PDUs and connection events, in capture order."""
    events = batch.events
    p = batch.pdus
    n = len(p)
    if not n:
        for ev in events:
            _conn_event(an, ev)
        return
    if cols is None:
        cols = _Columns(p)
    per_version: dict[Version, _Lists] = {
        v: (kind.tolist(), x.tolist(), y.tolist(), text.tolist(),
            dict(zip(cols.stat[v][0].tolist(), cols.stat[v][1].tolist(), strict=True)),
            1 + list(Version).index(v))
        for v, (kind, x, y, text) in cols.per_version.items()}
    full, result_kind, submit_kind, report_kind, check_text = (
        _FULL, _RESULT, _SUBMIT_KIND, _REPORT_KIND, _CHECK_TEXT)
    submit_resp = _SUBMIT_RESP
    blob = p.blob
    ei = 0
    next_frame = events[0].frame if events else 1 << 62
    sessions = an.sessions
    timeout = an.timeout_ns
    unanswered = an._unanswered
    note = an._note
    last_conn = -1
    used = bytearray(n)  # per PDU: 0 went the long way, else 1 + the index of the version read
    at_list = p.at.tolist()
    totals = cols.total.tolist()
    expert_counts = an.expert_counts
    submits = an._submits
    reports = an._reports
    max_reports = an.max_awaiting_reports
    submit_ts: list[int] = []  # paired SUBMIT_RESPs: their time and latency, for the
    submit_latency: list[int] = []  # mean latency per second (added below, per batch)
    report_for = (Severity.CHAT, "report-for")
    no_version: _Lists = ([full] * n, [], [], [], {}, 0)
    # Set at the first PDU (last_conn is -1), then whenever the session changes.
    sess: Session
    kinds: list[int]
    xs: list[int]
    ys: list[int]
    texts: list[int]
    stat_of: dict[int, bytes]
    vcode: int
    pairer: Pairer
    pending: OrderedDict[tuple[bool, tuple[int, int]], Pending]
    window: dict[bool, int]
    session_entries: dict[int, tuple[CommandStats, CommandStats]]
    for i, (frame, ts, conn, fc, cmd, seq) in enumerate(zip(
            p.frame.tolist(), p.ts_ns.tolist(), p.conn.tolist(), p.from_client.tolist(),
            cols.command_id.tolist(), cols.sequence_id.tolist(), strict=True)):
        if next_frame <= frame:
            while next_frame < frame or (next_frame == frame and events[ei].opened):
                _conn_event(an, events[ei])
                ei += 1
                next_frame = events[ei].frame if ei < len(events) else 1 << 62
                last_conn = -1
        if conn != last_conn:
            sess = sessions[conn]
            last_conn = conn
            version = sess.version
            kinds, xs, ys, texts, stat_of, vcode = (
                no_version if version is None else per_version[version])
            pairer = sess.pairer
            pending = pairer._pending
            window = pairer.window
            session_entries = sess.entries
        kind = kinds[i]
        if kind & check_text:
            kind -= check_text
            packed = texts[i]
            start = packed >> 16
            found_text: list[Finding] = []
            decode_text(blob[start:start + (packed & 0xFF)], (packed >> 8) & 0xFF, found_text)
            if any(f.severity >= Severity.WARN for f in found_text):
                kind = full
        if kind == full:
            at = at_list[i]
            an._pdu(sess, fc, FramedPdu(blob[at:at + totals[i]], frame, ts, frame), rates=False)
            last_conn = -1  # a CONNECT may have told the session's version
            continue
        used[i] = vcode
        # From here on: Analyzer._pdu for a PDU the decoder finds nothing wrong with; the
        # counters, rates and result codes are added for the whole batch below.
        if ts >= pairer.deadline:
            if pending and ts - next(iter(pending.values())).ts_ns >= timeout:
                for exp in pairer.expire(ts, timeout):
                    unanswered(sess, exp.frame, exp.command_id, exp.sequence_id)
            pairer.deadline = (next(iter(pending.values())).ts_ns if pending else ts) + timeout
        entries = session_entries.get(cmd)
        if entries is None:
            name = command_name(request_of(cmd))
            entries = session_entries[cmd] = (an.stats.command(name), sess.stats.command(name))
        entry, mine = entries
        if cmd & 0x80000000:
            req = pending.pop((not fc, (cmd & 0x7FFFFFFF, seq)), None)
            if req is None:
                entry.orphan_responses += 1
                mine.orphan_responses += 1
                note(Severity.WARN, frame, sess.id, "orphan-response",
                     f"no request for this {command_name(cmd)} (Sequence_Id {seq})")
            else:
                window[not fc] -= 1
                latency = ts - req.ts_ns
                entry.paired += 1
                mine.paired += 1
                mine.latency.samples_ns.append(latency)
                if cmd == submit_resp:
                    submit_ts.append(ts)
                    submit_latency.append(latency)
                    # Analyzer._submit_answered, with its usual case (one recipient) inline.
                    count = submits.pop((sess.id, seq), 0)
                    if count and not xs[i]:
                        if count == 1 and len(reports) < max_reports:
                            reports[ys[i]] = (req.frame, ts - latency)
                        else:
                            an._await_reports(sess, ys[i], count, frame, ts - latency,
                                              req.frame)
            continue
        key = (fc, (cmd, seq))
        if key not in pending and len(pending) < pairer.max_pending:
            # The usual case of Pairer.request, inline: a new request in flight.
            pending[key] = Pending(frame, ts, cmd, seq)
            w = window[fc] = window[fc] + 1
            if w > pairer.max_window[fc]:
                pairer.max_window[fc] = w
            if w == 17:
                note(Severity.NOTE, frame, sess.id, "window",
                     "more than 16 requests in flight (spec window W=16)")
        else:
            earlier, evicted = pairer.request(fc, cmd, seq, frame, ts)
            if evicted is not None:
                an._cap("pending", frame, sess.id,
                        f"more than {pairer.max_pending} requests in flight in one session: "
                        "the oldest are counted as unanswered and forgotten")
                unanswered(sess, evicted.frame, evicted.command_id, evicted.sequence_id)
            if earlier is not None:
                entry.retransmitted += 1
                mine.retransmitted += 1
                note(Severity.WARN, frame, sess.id, "sequence-reused",
                     f"Sequence_Id {seq} reused while frame {earlier.frame}'s "
                     f"{command_name(cmd)} is still unanswered (retransmission?)")
            if window[fc] == 17:
                note(Severity.NOTE, frame, sess.id, "window",
                     "more than 16 requests in flight (spec window W=16)")
        if kind == submit_kind:
            if xs[i]:
                submits[(sess.id, seq)] = max(1, ys[i])
        elif kind == report_kind and an._report_seen(ys[i], stat_of[i], ts) is not None:
            expert_counts[report_for] += 1  # a chat: counted, not listed (as Analyzer._pdu)
    for ev in events[ei:]:
        _conn_event(an, ev)
    _add_counts(an, p, cols, np.frombuffer(bytes(used), dtype=np.uint8), result_kind)
    an.stats.submit_latency.add_many(submit_ts, submit_latency)
    an.last_ts = batch.last_ts


def _add_counts(an: Analyzer, p: Pdus, cols: _Columns, used: np.ndarray[Any, Any],
                result_kind: int) -> None:
    """The batch's counters, result codes and per-second rates, as ``Analyzer._pdu`` adds them
    one by one to the PDUs it sees (``used``: the version each PDU was read with, or 0).

    The rates cover every PDU of the batch (the long path was told to leave them out), so
    that each session's busiest second is followed in time order.
    """
    stats = an.stats
    sessions = an.sessions
    slim = used != 0
    stats.pdus += int(slim.sum())
    cmd = cols.command_id
    for (conn, fc, c), count in Counter(zip(p.conn[slim].tolist(), p.from_client[slim].tolist(),
                                            cmd[slim].tolist(), strict=True)).items():
        sess = sessions[conn]
        sess.pdus[fc] += count
        mine = sess.entries[c]
        if c & 0x80000000:
            mine[0].responses += count
            mine[1].responses += count
        else:
            mine[0].requests += count
            mine[1].requests += count
    for code, version in enumerate(Version, start=1):
        kind, x = cols.per_version[version][:2]
        rows = (used == code) & (kind == result_kind)
        for (conn, c, result), count in Counter(zip(
                p.conn[rows].tolist(), cmd[rows].tolist(), x[rows].tolist(),
                strict=True)).items():
            sess = sessions[conn]
            key = (command_name(c), result)
            stats.results[key] += count
            sess.stats.results[key] += count
            if result != 0:
                sess.errors += count
    for rate, (secs, counts) in zip((stats.pdu_rate, stats.submit_rate), cols.rates,
                                    strict=True):
        rate.add_runs(secs, counts)
    for conn, pdu_runs, submit_runs in cols.peaks:
        sess = sessions[conn]
        sess.pdu_peak.add_runs(*pdu_runs)
        sess.submit_peak.add_runs(*submit_runs)


def _runs(values: np.ndarray[Any, Any]) -> tuple[list[int], list[int]]:
    """Runs of equal values in an ascending array: (value, length) each."""
    if not len(values):
        return [], []
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    lengths = np.diff(np.append(starts, len(values)))
    return values[starts].tolist(), lengths.tolist()


def _conn_event(an: Analyzer, ev: ConnEvent) -> None:
    if ev.opened:
        if len(an.sessions) >= an.max_sessions or ev.conn >= an.tracker.max_connections:
            # Past either cap the engine or the tracker starts dropping old connections.
            raise IrregularCaptureError("more connections than the session cap")
        assert ev.ts_ns is not None
        an._event(ConnectionOpened(ev.conn, ev.client, ev.server, ev.frame, ev.ts_ns, True),
                  [])
        return
    sess = an.sessions.get(ev.conn)
    if sess is not None and ev.last_data_ts is not None:
        sess.end_ns = ev.last_data_ts  # what the engine keeps from the last data it saw
    an._event(ConnectionClosed(ev.conn, ev.how, ev.frame or None, ev.ts_ns, ev.stats), [])


__all__ = ["feed_batch", "scan_file"]
