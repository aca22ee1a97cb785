"""The Python API: ``cmppdissect.analyze(path)`` for notebooks and scripts.

It is the command line without the printing: the same reader, engine and statistics, giving
Python objects. A capture streams through once, so a file of millions of packets is never held in
memory; iterate :meth:`Analysis.pdus` or :meth:`Analysis.transactions` to see each item as it
completes, or ask for :meth:`Analysis.report` straight away to just get the statistics. Nothing
here imports Scapy (use :mod:`cmppdissect.layers` for that).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, Protocol, runtime_checkable

from cmppdissect.analysis.dfilter import DisplayFilter, compile_filter
from cmppdissect.analysis.engine import Analyzer, ExpertItem, PduRecord, Session
from cmppdissect.analysis.linker import Key, ResponseLinker, request_key
from cmppdissect.capture.pcapsource import PcapSource
from cmppdissect.core.records import CaptureNote, TcpSegment
from cmppdissect.protocol.commands import DEFAULT_PORTS
from cmppdissect.protocol.layouts import result_of
from cmppdissect.protocol.version import Version, parse_version


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


@runtime_checkable
class SegmentSource(Protocol):
    """Where segments come from: a file (:class:`PcapSource`) or a live capture.

    :class:`cmppdissect.capture.live.LiveCapture` is one; reader findings go to ``notes``.
    """

    name: str
    notes: list[CaptureNote]

    def __iter__(self) -> Iterator[TcpSegment]: ...

    @property
    def progress(self) -> float | None: ...

    def close(self) -> None: ...


class Analysis:
    """One capture being analysed. Create it with :func:`analyze`."""

    def __init__(self, source: str | os.PathLike[str] | IO[bytes] | SegmentSource,
                 analyzer: Analyzer) -> None:
        self.source: SegmentSource
        if isinstance(source, SegmentSource):
            self.notes: list[CaptureNote] = source.notes
            self.source = source
        else:
            self.notes = []
            self.source = PcapSource(source, notes=self.notes)
        self.analyzer = analyzer
        self._started = False
        self.done = False

    # -- streaming --------------------------------------------------------------------------

    def pdus(self, display_filter: str | None = None) -> Iterator[PduRecord]:
        """Every PDU in capture order as it completes; ``display_filter`` as for ``-Y``.

        A filter that reads ``latency_ms`` or ``response_frame`` sees requests with their
        response already linked: records are then held back (in order) until that is known.
        """
        return (rec for rec, _ in self.records(display_filter))

    def records(self, display_filter: str | None = None
                ) -> Iterator[tuple[PduRecord, dict[str, Any] | None]]:
        """As :meth:`pdus`, each with the dict the filter was run on (None without a filter),
        so that a writer of ``-T`` records does not build it a second time."""
        if self._started:
            raise RuntimeError("a capture is read once: call analyze() again to re-read it")
        self._started = True
        test = compile_filter(display_filter) if display_filter else None
        linker = (ResponseLinker(self.analyzer.timeout_ns)
                  if test is not None and test.needs_pairing else None)
        feed = self.analyzer.feed
        try:
            for seg in self.source:
                batch = feed(seg)
                if batch:
                    yield from self._shown(batch, test, linker)
            yield from self._shown(self.analyzer.finish(), test, linker)
            if linker is not None:
                yield from self._shown(linker.flush(), test, None)
        finally:
            self.source.close()
        self._finish()

    @staticmethod
    def _shown(batch: list[PduRecord], test: DisplayFilter | None,
               linker: ResponseLinker | None
               ) -> Iterator[tuple[PduRecord, dict[str, Any] | None]]:
        if test is None:
            for rec in batch:
                yield rec, None
            return
        from cmppdissect.output.records import record_dict

        if linker is not None:
            batch = [ready for rec in batch for ready in linker.push(rec)]
        for rec in batch:
            d = record_dict(rec)
            if test(d):
                yield rec, d

    def transactions(self) -> Iterator[Transaction]:
        """Requests with their responses, in the order the exchanges complete.

        A request is held only until its response arrives or the timeout passes (then it
        comes out with ``response=None``), so memory follows the requests in flight. A request
        resent with the same Sequence_Id while in flight is part of the first one's exchange.
        """
        waiting: OrderedDict[Key, PduRecord] = OrderedDict()
        timeout = self.analyzer.timeout_ns
        for rec in self.pdus():
            # Expire first: a request resent after the timeout starts a new exchange, which
            # its response (paired with the resend by the engine) must find.
            while waiting:
                oldest = next(iter(waiting.values()))
                if rec.ts_ns - oldest.ts_ns < timeout:
                    break
                waiting.popitem(last=False)
                yield Transaction(oldest, None)
            key = request_key(rec)
            if key is not None:
                if rec.request_frame is None:
                    waiting.setdefault(key, rec)  # a resend belongs to the first send's exchange
                else:
                    req = waiting.pop(key, None)
                    if req is not None:
                        yield Transaction(req, rec)
        for req in waiting.values():
            yield Transaction(req, None)

    def stop(self) -> Analysis:
        """Stop reading here (``-c N``): what was read is analysed as if the capture ended."""
        if not self.done:
            self._started = True
            self.source.close()
            self.analyzer.finish()
            self._finish()
        return self

    def run(self) -> Analysis:
        """Read the rest of the capture without keeping records (for the statistics)."""
        if not self._started:
            for _ in self.pdus():
                pass
        return self

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        self.analyzer.add_capture_notes(self.notes)

    # -- results ----------------------------------------------------------------------------

    @property
    def progress(self) -> float | None:
        """Fraction of the file read so far (None for stdin or pipes)."""
        return self.source.progress

    @property
    def sessions(self) -> list[Session]:
        return list(self.analyzer.sessions.values())

    @property
    def expert(self) -> list[ExpertItem]:
        return self.analyzer.expert

    def report(self) -> dict[str, Any]:
        """The ``--report json`` document (reads the capture to the end first if needed)."""
        from cmppdissect.output.report import build_report

        self.run()
        return build_report(self.analyzer)

    def session_rows(self) -> list[dict[str, Any]]:
        """One row per session, as in the report (for a DataFrame)."""
        from cmppdissect.output.report import session_dict

        self.run()
        return [session_dict(s) for s in self.analyzer.sessions.values()]


def analyze(source: str | os.PathLike[str] | IO[bytes] | SegmentSource, *,
            ports: tuple[int, ...] = (),
            version: str | Version | None = None, timeout_s: float = 60.0,
            secrets: Mapping[str, str] | None = None, heuristic: bool = True) -> Analysis:
    """Open a pcap/pcapng capture (path, ``"-"`` or a binary file) for analysis.

    ``source`` may also be a :class:`SegmentSource` such as a
    :class:`~cmppdissect.capture.live.LiveCapture`, analysed as it is captured.

    ``ports`` adds TCP ports to the four CMPP defaults; ``version`` forces "2.0"/"3.0" for
    captures without a CONNECT; ``secrets`` maps SP ids to shared secrets to check logins.
    Raises :class:`~cmppdissect.core.records.CaptureFormatError` for a non-capture and
    ``OSError`` for a file that cannot be opened, before anything is read.
    """
    analyzer = Analyzer(ports=(*DEFAULT_PORTS, *ports), version=parse_version(version),
                        timeout_s=timeout_s,
                        secrets=secrets, heuristic=heuristic)
    return Analysis(source, analyzer)


__all__ = ["Analysis", "SegmentSource", "Transaction", "analyze"]
