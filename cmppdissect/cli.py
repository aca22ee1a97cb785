"""``cmppdissect``: tshark-like command line over the analysis engine.

Errors the user can fix (bad options, a missing or unreadable file) are one line on stderr and
exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, TextIO

# The command line does no linear algebra, but numpy's OpenBLAS starts a thread per core on
# import that costs CPU time in every run: one is enough (set before numpy is first imported;
# a library import of cmppdissect leaves the user's setting alone).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from cmppdissect import __version__
from cmppdissect.api import Analysis, analyze
from cmppdissect.core.records import CaptureFormatError
from cmppdissect.options import UsageError, format_hostport, parse_hostport, parse_secrets
from cmppdissect.output.lines import TIME_FORMATS, LineFormat
from cmppdissect.sources.file import open_error
from cmppdissect.tui.indexer import LIVE_MAX_PDUS

if TYPE_CHECKING:
    from cmppdissect.output.periodic import ReportSeries, WallClock
    from cmppdissect.output.writers import RecordWriter
    from cmppdissect.sources.live import LiveCapture
    from cmppdissect.sources.ring import LineRing, RingSpec


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is our one-line error instead of a usage block."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")  # analyze, diff: their own


#: Latency and delay samples a live capture keeps exactly (32 MB) before it folds them into
#: sketches: a capture left running for days must not grow with its duration.
LIVE_MAX_SAMPLES = 4_000_000


def _read_error(name: str, exc: OSError) -> BaseException:
    """An error reading or writing while analysing ``name``: one line (exit 2); a broken pipe
    (a reader such as ``head`` left) goes on up as itself, to end quietly."""
    if isinstance(exc, BrokenPipeError):
        return exc
    return UsageError(f"{name}: {exc.strerror or exc}")


def _whole(name: str, low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``; argparse names it ``name``
    in its message ("invalid port value: '70000'")."""
    def parse(text: str) -> int:
        value = int(text)
        if value < low or (high is not None and value > high):
            raise ValueError(text)
        return value

    parse.__name__ = name
    return parse


_port = _whole("port", 1, 65535)
_count = _whole("positive count", 1)
_cap = _whole("count (0: no cap)", 0)
_mebibytes = _whole("MiB (2 to 65536)", 2, 65536)  # two 1 MiB blocks; 64 GiB is past any need


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise ValueError(text)
    return value


_seconds.__name__ = "seconds"


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="cmppdissect",
        description="Analyze CMPP 2.0/3.0 (China Mobile SMS gateway) traffic in a capture.",
        epilog="Also: cmppdissect diff A B (two captures side by side); cmppdissect analyze "
        "--dask [SCHEDULER] FILES... (many hosts' files on a Dask cluster); cmppdissect sim "
        "{server,client,demo} ... (a CMPP simulator).")
    p.add_argument("file", nargs="*", help="pcap/pcapng file (gzip ok), or - for stdin; "
                   "several are merged by time, as mergecap does")
    p.add_argument("-r", dest="read", metavar="FILE", action="append", default=[],
                   help="read this capture (as tshark -r; repeatable: merged by time)")
    p.add_argument("-i", dest="interface", metavar="IFACE",
                   help="capture live on IFACE (lo, eth0, any); needs root or CAP_NET_RAW")
    p.add_argument("-f", dest="capture_filter", metavar="BPF",
                   help="with -i: capture filter in tcpdump syntax, e.g. 'tcp port 7890'")
    p.add_argument("-w", dest="write", metavar="OUT",
                   help="write the frames that carried the PDUs shown (-Y; all without it) to "
                   "OUT, pcapng unless OUT ends in .pcap or -F pcap; with -i: every captured "
                   "frame; - is stdout")
    p.add_argument("-F", dest="out_format", choices=("pcapng", "pcap"),
                   help="the file format of -w OUT (default: pcapng, pcap for *.pcap)")
    p.add_argument("-b", dest="ring_options", action="append", default=[],
                   metavar="KEY:VALUE",
                   help="ring buffer, as dumpcap's (repeatable): -w OUT, --jsonl and --parquet "
                   "switch to a new file OUT_NNNNN_YYYYmmddHHMMSS.EXT after filesize:KB (kB of "
                   "1000 bytes; or 100MB, 2GB), duration:S, interval:S (on multiples of S), "
                   "packets:N (frames, or records); files:N keeps the last N files of each "
                   "(docs/live.md#ring-buffer)")
    p.add_argument("--duration", type=_seconds, metavar="S",
                   help="with -i: stop after S seconds")
    p.add_argument("-B", dest="buffer_mib", type=_mebibytes, metavar="MiB",
                   help="with -i: the kernel's capture ring, in MiB (default 64; as tshark -B)")
    p.add_argument("-T", dest="format",
                   choices=("jsonl", "json", "csv", "text", "fields", "transactions"),
                   help="one record per PDU in this format (never the TUI); fields: the -e "
                   "columns only; transactions: a JSON line per request with its response, "
                   "latency, result and status report (CSV of the -e columns with -e)")
    p.add_argument("-e", dest="fields", action="append", default=[], metavar="FIELD",
                   help="with -T fields or csv: a column, any field name of -Y (repeatable; "
                   "as tshark -e), e.g. -e frame -e Msg_Id -e report.Stat")
    p.add_argument("-E", dest="field_options", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="with -T fields: header=y|n, separator=/t|/s|CHAR, quote=d|s|n, "
                   "occurrence=f|l|a, aggregator=,|/s|CHAR (as tshark -E)")
    p.add_argument("-t", dest="time_format", choices=TIME_FORMATS,
                   help="the time of -T text (and of fields/csv): r seconds since the first "
                   "PDU (text's default), a local time of day, ad local date and time, u/ud "
                   "the same in UTC, e seconds since 1970 (fields/csv default), d since the "
                   "previous line")
    p.add_argument("-Y", dest="display_filter", metavar="EXPR",
                   help='display filter, e.g. \'command == "CMPP_SUBMIT" and latency_ms > '
                   '100\'; with --report, -q or -z alone the statistics cover what it keeps')
    p.add_argument("-q", dest="quiet", action="store_true",
                   help="no records: only the statistics (-z, --report, or the summary), as "
                   "tshark -q")
    p.add_argument("-z", dest="zstats", action="append", default=[], metavar="STAT",
                   help="statistics after the records (repeatable): srt[,FILTER], "
                   "results[,FILTER], reports[,FILTER], conv[,FILTER], "
                   "io,stat,INTERVAL[,FILTER], expert[,FILTER]")
    p.add_argument("--report", choices=("json",), help="statistics as one JSON document")
    p.add_argument("--report-file", metavar="FILE",
                   help="write the --report json document to FILE instead of stdout (so that "
                   "records can go to stdout)")
    p.add_argument("--report-every", type=_seconds, metavar="S",
                   help="with --report-file FILE: every S seconds (of capture time for a file, "
                   "of wall-clock time with -i) write the report so far to a new "
                   "FILE_NNNNN_YYYYmmddHHMMSS.EXT and replace FILE with it, each atomically "
                   "(-b files:N keeps the last N); the final report ends the series")
    p.add_argument("-d", dest="ports", metavar="PORT", action="append", type=_port, default=[],
                   help="also decode TCP PORT as CMPP (repeatable)")
    p.add_argument("--cmpp-version", default="auto",
                   help="auto, 2.0 (2.x: 2, 2.1) or 3.0, for sessions whose CONNECT was not "
                   "captured (a captured CONNECT's Version byte wins)")
    p.add_argument("--secret", action="append", default=[], metavar="SP_ID=SECRET",
                   help="check CONNECT authenticators of SP_ID with SECRET")
    p.add_argument("-c", dest="count", type=_count, metavar="N", help="stop after N PDUs")
    p.add_argument("--timeout", type=_seconds, default=60.0,
                   help="seconds after which a request counts as unanswered (default 60)")
    p.add_argument("--max-samples", type=_count, metavar="N",
                   help="latency and delay samples kept exactly (8 bytes each); past N they "
                   "are folded into DDSketches, percentiles then within 1%% (default: every "
                   f"sample of a file; {LIVE_MAX_SAMPLES:,} with -i)")
    p.add_argument("--max-pdus", type=_cap, metavar="N",
                   help="the TUI holds at most N PDUs, letting the oldest go a tenth of N at a "
                   "time and saying so (the statistics still count every PDU); 0: no cap "
                   f"(default: {LIVE_MAX_PDUS:,} with -i, no cap for a file)")
    p.add_argument("--list-fields", action="store_true",
                   help="list every field name of the display filter (-Y) with its type, "
                        "both versions, and exit (as tshark -G fields)")
    p.add_argument("-G", dest="glossary", choices=("fields",),
                   help="fields: the same list as --list-fields (as tshark -G fields)")
    p.add_argument("--parquet", metavar="DIR",
                   help="write pdus.parquet (-Y: the PDUs it keeps), transactions.parquet and "
                   "sessions.parquet into DIR, as the capture streams (-b: pdus_NNNNN_TIME.parquet "
                   "and transactions_NNNNN_TIME.parquet files)")
    p.add_argument("--jsonl", metavar="FILE",
                   help="write the records of -T jsonl (-Y: those it keeps) to FILE instead of "
                   "stdout, rotated with -b")
    p.add_argument("--metrics", metavar="ADDR:PORT",
                   help="serve Prometheus metrics over HTTP on ADDR:PORT while the capture is "
                   "analysed (:PORT for every IPv4 address; docs/live.md#metrics)")
    p.add_argument("-V", "--version", action="version", version=f"cmppdissect {__version__}")
    return p


def _secrets(items: Sequence[str]) -> dict[str, str]:
    try:
        return parse_secrets(items)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _open(paths: Sequence[str], args: argparse.Namespace) -> Analysis:
    """The analysis of one capture, or of several merged by time (each input opened and
    checked in turn: the first that cannot be read is named in the one-line error)."""
    source: Any = sys.stdin.buffer if paths == ["-"] else paths[0]
    merged = None
    if len(paths) > 1:
        from cmppdissect.sources.merge import InputError, open_inputs

        try:
            source = merged = open_inputs(paths)
        except InputError as exc:
            raise UsageError(str(exc)) from None
    try:
        analysis = analyze(source, ports=tuple(args.ports), version=args.cmpp_version,
                           timeout_s=args.timeout, secrets=_secrets(args.secret),
                           max_samples=_max_samples(args))
        if args.metrics_server is not None:
            args.metrics_server.analysis = analysis
        if args.reports is not None:
            analysis.tick_every(args.report_every, _capture_time_reports(analysis, args.reports))
        return analysis
    except ValueError as exc:  # a bad --cmpp-version
        if merged is not None:
            merged.close()
        raise UsageError(str(exc)) from None
    except (CaptureFormatError, OSError) as exc:
        raise UsageError(open_error(paths[0], exc) or str(exc)) from None


def _inputs(args: argparse.Namespace) -> list[str]:
    """The captures to read: every ``-r FILE``, then the files named without it."""
    paths = [*args.read, *args.file]
    if len(paths) > 1 and "-" in paths:
        raise UsageError("- (standard input) can only be read alone, not merged with other "
                         "captures")
    return paths


class _MetricsServer:
    """``--metrics ADDR:PORT``: the engine's counters served to Prometheus from a thread
    (prometheus_client's HTTP server, on a registry of its own) for as long as the run lasts.
    The analysis and the live capture are attached once they are opened."""

    def __init__(self, spec: str) -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        from cmppdissect.output.metrics import EngineCollector

        try:
            host, port = parse_hostport(spec, listening=True)
        except ValueError as exc:
            raise UsageError(f"--metrics {spec}: {exc}; give ADDR:PORT, e.g. 127.0.0.1:9464, "
                             "[::1]:9464 or :9464 for every IPv4 address") from None
        self.analysis: Analysis | None = None
        self.capture: LiveCapture | None = None
        registry = CollectorRegistry(auto_describe=False)
        registry.register(EngineCollector(lambda: self.analysis, capture=self._capture))
        try:
            self.server, self.thread = start_http_server(port, host, registry=registry)
        except OSError as exc:
            raise UsageError(f"--metrics {spec}: {exc.strerror or exc}") from None
        bound = self.server.server_address
        self.address = format_hostport(host, bound[1])

    def _capture(self) -> dict[str, Any] | None:
        """The live capture's counters; None for a file (no kernel counters to export)."""
        capture = self.capture
        return capture.refresh_stats().as_dict() if capture is not None else None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run(argv: Sequence[str] | None, out: TextIO) -> int:
    # Intermixed: files may come before and after options (cmppdissect a.pcap -Y X b.pcap).
    args = _parser().parse_intermixed_args(argv)
    args.metrics_server = args.ring = args.reports = None
    if args.metrics is None or args.list_fields or args.glossary == "fields":
        return _outputs_failing(args, out)
    server = args.metrics_server = _MetricsServer(args.metrics)
    print(f"Serving metrics on http://{server.address}/metrics", file=sys.stderr, flush=True)
    try:
        return _outputs_failing(args, out)
    finally:
        server.close()


def _outputs_failing(args: argparse.Namespace, out: TextIO) -> int:
    """:func:`_run`, where an output file that cannot be written any more (a full disk: a
    rotated file, a periodic report) is the one-line error it says, the outputs closed."""
    from cmppdissect.output.periodic import ReportError
    from cmppdissect.sources.ring import RingError

    try:
        return _run(args, out)
    except (RingError, ReportError) as exc:
        raise UsageError(str(exc)) from None


def _run(args: argparse.Namespace, out: TextIO) -> int:
    if args.list_fields or args.glossary == "fields":
        from cmppdissect.query.dfilter import field_list

        for name, kind, where in field_list():
            out.write(f"{name}\t{kind}\t{where}\n")
        return 0
    paths = _inputs(args)
    if args.display_filter:
        from cmppdissect.query import FilterError, compile_filter

        try:
            checked = compile_filter(args.display_filter)
        except FilterError as exc:
            raise UsageError(f"-Y: {exc}") from None
        for warning in checked.warnings:
            print(f"cmppdissect: -Y: warning: {warning}", file=sys.stderr)
    if args.jsonl is not None:
        if args.format not in (None, "jsonl"):
            raise UsageError(f"--jsonl FILE writes -T jsonl records: give -T {args.format} "
                             "(to stdout) in a separate run")
        args.format = "jsonl"
    args.line = _line_format(args)
    if args.jsonl is not None:
        args.format = None  # the records go to the file; stdout has the summary
    args.zstat = _zstats(args.zstats)
    args.ring = _ring(args)
    _outputs_apart(paths, ("-w", args.write), ("--jsonl", args.jsonl),
                  ("--report-file", args.report_file))
    if args.report_file is not None:
        args.report = "json"
        args.reports = _report_series(args)
        from cmppdissect.output.periodic import check_report_file

        try:  # said before anything is read, not after the records went out
            if args.reports is not None:
                args.reports.check()  # FILE itself appears with the first report
            else:
                check_report_file(args.report_file)
        except OSError as exc:
            raise UsageError(f"--report-file {args.report_file}: {exc.strerror or exc}"
                             ) from None
    elif args.report_every is not None:
        raise UsageError("--report-every S writes the reports to --report-file FILE: give it")
    # stdout carries one format: a JSON document after text lines reads as neither, and the
    # -z tables are text, so they follow text records only.
    if args.report == "json" and args.report_file is None and args.zstat:
        raise UsageError("--report json and the -z tables would share stdout: give "
                         "--report-file FILE for the report")
    if args.report == "json" and args.report_file is None and args.format and not args.quiet:
        raise UsageError("--report json and the records (-T) would share stdout: give "
                         "--report-file FILE, or -q to leave the records out")
    if args.zstat and args.format not in (None, "text") and not args.quiet:
        raise UsageError(f"the -z tables are text and would follow -T {args.format} records "
                         "on stdout: give -q to print only the tables, or -T text")
    if args.out_format is not None and args.write is None:
        raise UsageError("-F sets the format of -w OUT: give -w too")
    if args.max_pdus is not None and not _opens_tui(args, out):
        raise UsageError("--max-pdus caps the PDUs the TUI holds (on a terminal, without -T, "
                         "--report, -q, -z, --jsonl or --parquet): the other outputs let each "
                         "PDU go once written")
    if args.interface is not None:
        if paths:
            raise UsageError("give either -i IFACE or a capture file, not both")
        return _run_live(args, out)
    for given, opt in ((args.capture_filter, "-f"), (args.duration, "--duration"),
                       (args.buffer_mib, "-B")):
        if given is not None:
            raise UsageError(f"{opt} needs a live capture (-i IFACE)")
    if not paths:
        raise UsageError("no capture given: cmppdissect FILE... (or -r FILE)")
    if args.parquet is not None:  # --report json or -z still go to stdout
        if args.format or args.write is not None or args.count is not None or args.jsonl:
            raise UsageError("--parquet writes its own files: give -T, --jsonl, -w or -c in a "
                             "separate run")
        analysis = _open(paths, args)
        _write_parquet(analysis, args)
        _summary(analysis, args, "parquet", out)
        return 0
    if args.jsonl is not None:
        if args.write is not None:
            raise UsageError("--jsonl and -w each read the capture their own way: give them "
                             "in separate runs")
        return _run_jsonl(paths, args, out)
    if args.write is not None:
        return _run_write(paths, args, out)
    if args.format == "transactions":
        return _run_transactions(paths, args, out)
    if _opens_tui(args, out):
        # The TUI opens the files itself (errors: one line, exit 2); -Y opens them filtered.
        return _run_tui(paths, args)
    fmt = _records_format(args)
    analysis = _open(paths, args)
    from cmppdissect.output.progress import progress_bar
    from cmppdissect.output.writers import RecordWriter, workers_for

    src = analysis.source
    size: int | None = getattr(src, "file_size", None)
    # Created before the progress bar's thread: its workers are forked from this one.
    writer = (RecordWriter(args.line, out,
                           workers=workers_for(size, fmt, args.display_filter))
              if fmt else None)
    try:
        with progress_bar(lambda: analysis.progress, size, src.name):
            if writer is None:
                # Statistics only: -c stops the core at that many PDUs. Rows are kept only
                # when a filter (-Y for the report, a -z table's) must read them.
                analysis.start(keep_rows=bool(args.display_filter or args.zstat),
                               pdu_limit=args.count or 0)
                analysis.run()
            else:
                # -c without -Y: the core stops after that many PDUs, so the statistics
                # cover exactly those (as tshark -c); with -Y, after that many are shown.
                slices = analysis.slices(pdu_limit=0 if args.display_filter else
                                         args.count or 0, release=_release(args))
                writer.write_slices(slices, expression=args.display_filter, limit=args.count)
                analysis.stop()
    except OSError as exc:
        raise _read_error(src.name, exc) from None
    finally:
        if writer is not None:
            writer.shutdown()
    if writer is not None:
        writer.close()
    _summary(analysis, args, fmt, out)
    return 0


def _opens_tui(args: argparse.Namespace, out: TextIO) -> bool:
    """Whether this run opens the TUI, for :func:`_run` and :func:`_run_live`: on a terminal,
    unless an output says what to print (``-T``, ``--report``, ``-q`` and ``-z`` as tshark's)
    or where to write (``--jsonl``, ``--parquet``; ``-w`` with a capture file)."""
    if args.format is not None or args.report is not None or not out.isatty():
        return False
    if args.quiet or args.zstat or args.jsonl is not None or args.parquet is not None:
        return False
    return args.interface is not None or args.write is None


def _ring(args: argparse.Namespace) -> RingSpec | None:
    """``-b``, checked against the outputs it rotates (as dumpcap: a ring needs a file to
    write and something that switches files)."""
    if not args.ring_options:
        return None
    from cmppdissect.sources.ring import RingError, parse_ring

    try:
        spec = parse_ring(args.ring_options)
    except RingError as exc:
        raise UsageError(str(exc)) from None
    if args.write == "-":
        raise UsageError("-b rotates files: -w - (stdout) is not one")
    outputs = [opt for opt, given in (("-w", args.write), ("--jsonl", args.jsonl),
                                      ("--parquet", args.parquet)) if given is not None]
    if not outputs and args.report_every is None:
        raise UsageError("-b rotates the files of -w OUT, --jsonl FILE and --parquet DIR (and "
                         "keeps --report-every's reports): give one of them")
    if outputs and not spec.switches:
        raise UsageError(f"-b: {outputs[0]} needs filesize, duration, interval or packets to "
                         "switch files (files:N only says how many are kept)")
    return spec


def _report_series(args: argparse.Namespace) -> ReportSeries | None:
    """``--report-every S`` (with ``--report-file FILE``): the series of reports to write,
    on capture time for files, on the wall clock for a live capture."""
    if args.report_every is None:
        return None
    if args.display_filter:
        raise UsageError("--report-every reports the whole capture: -Y cannot scope the "
                         "reports (give -Y in a separate run)")
    from cmppdissect.output.periodic import ReportSeries

    return ReportSeries(args.report_file, args.report_every,
                        "wall" if args.interface is not None else "capture",
                        keep=args.ring.files if args.ring is not None else None)


def _capture_time_reports(analysis: Analysis, series: ReportSeries
                          ) -> Callable[[int, int], None]:
    """What writes a report at each step of capture time (``--report-every`` on files)."""
    from cmppdissect.output.report import build_report

    def tick(_number: int, ts_ns: int) -> None:
        assert analysis.engine is not None
        series.write(build_report(analysis.engine), ts_ns)

    return tick


def _write_parquet(analysis: Analysis, args: argparse.Namespace) -> None:
    try:
        analysis.write_parquet(args.parquet, args.display_filter, release=_release(args),
                               ring=args.ring)
    except OSError as exc:
        raise UsageError(f"--parquet {args.parquet}: {exc.strerror or exc}") from None


def _jsonl_ring(args: argparse.Namespace) -> LineRing:
    """``--jsonl FILE``: its file, or with ``-b`` its ring of files."""
    from cmppdissect.sources.ring import LineRing, Ring

    ring = Ring(args.jsonl, args.ring)
    try:
        ring.check()
    except OSError as exc:
        raise UsageError(f"--jsonl {args.jsonl}: {exc.strerror or exc}") from None
    return LineRing(ring)


def _run_jsonl(paths: Sequence[str], args: argparse.Namespace, out: TextIO) -> int:
    """``--jsonl FILE``: the ``-T jsonl`` records to FILE (and with ``-b`` to its ring of
    files, each switched on a record's boundary and time), the summary or report on stdout.
    Without ``-Y`` the compiled writer makes the lines, a slice at a time."""
    from cmppdissect.output.progress import progress_bar
    from cmppdissect.output.writers import format_slice, line_maker

    lines = _jsonl_ring(args)
    analysis = _open(paths, args)
    src = analysis.source
    size: int | None = getattr(src, "file_size", None)
    limit = args.count
    try:
        with progress_bar(lambda: analysis.progress, size, src.name):
            if args.display_filter:  # the filter built each record's dict: write that
                make = line_maker(args.line)
                records = analysis.records(args.display_filter, release=_release(args))
                for shown, (rec, as_dict) in enumerate(records, 1):
                    assert as_dict is not None
                    lines.write(make(as_dict, rec.ts_ns), rec.ts_ns)
                    if limit is not None and shown >= limit:
                        break
            else:
                shown = 0
                for sl in analysis.slices(pdu_limit=limit or 0, release=_release(args)):
                    left = None if limit is None else limit - shown
                    data, count = format_slice(sl, args.line, None, left)
                    lines.write_lines(data, sl.ts[:count])
                    shown += count
            analysis.stop()
    except OSError as exc:
        raise _read_error(src.name, exc) from None
    finally:
        lines.close()
    _summary(analysis, args, None, out)
    return 0


def _run_transactions(paths: Sequence[str], args: argparse.Namespace, out: TextIO) -> int:
    """``-T transactions``: one line per request (a Zeek-style log), JSON, or CSV of the
    ``-e`` columns; the rows of the Parquet/Arrow transactions table, as they complete."""
    if args.display_filter or args.count is not None:
        raise UsageError("-T transactions lists every request: -Y and -c choose PDUs, not "
                         "transactions")
    analysis = _open(paths, args)
    from cmppdissect.output.lines import csv_row
    from cmppdissect.output.records import dumps_line

    columns = args.line.fields
    sink = getattr(out, "buffer", None)

    def write(line: bytes) -> None:
        if sink is not None:
            sink.write(line)
        else:
            out.write(line.decode())

    if columns:
        write(csv_row(columns).encode())
    try:
        for row in analysis.transaction_rows(release=_release(args)):
            if columns:
                write(csv_row([_transaction_cell(row, c) for c in columns]).encode())
            else:
                write(dumps_line(row))
    except OSError as exc:
        raise _read_error(analysis.source.name, exc) from None
    out.flush()
    if args.report == "json" or args.zstat:
        _summary(analysis, args, "transactions", out)
    return 0


def _transaction_cell(row: dict[str, Any], column: str) -> str:
    """One CSV cell of ``-T transactions -e``: a column, or ``recipients.FIELD``: that field
    of each recipient, joined with ``;`` (empty for a value missing), made inert as any."""
    from cmppdissect.output.lines import csv_cell

    if column.startswith("recipients."):
        key = column.removeprefix("recipients.")
        return csv_cell(["" if r[key] is None else r[key] for r in row["recipients"] or ()],
                        ";")
    return csv_cell(row[column])


def _release(args: argparse.Namespace) -> bool:
    """Whether a one-pass output may let the rows it wrote go (memory bounded on any
    capture): not when the statistics after it read the rows again (the ``-z`` tables, or
    ``--report json`` of what ``-Y`` keeps)."""
    return not (args.zstat or (args.display_filter and args.report == "json"))


def _records_format(args: argparse.Namespace) -> str | None:
    """The ``-T`` format of the records on stdout, or None: ``-q`` leaves them out, and so does
    ``--report`` without ``-T``; ``-Y`` or ``-z`` alone shows text records, as tshark does."""
    if args.quiet or args.jsonl is not None:  # --jsonl: the records go to its file
        return None
    if args.format:
        return str(args.format)
    if (args.display_filter or args.zstat) and args.report is None:
        return "text"  # -Y or -z alone: the packets, then the tables (as tshark)
    return None


def _line_format(args: argparse.Namespace) -> LineFormat:
    """``-T`` with ``-e``, ``-E`` and ``-t``, checked: a field name the filter language does
    not know, or an option that the format does not take, is a usage error."""
    fmt = args.format or "text"
    if fmt == "transactions":
        from cmppdissect.output.tables import RECIPIENT_FIELDS, TRANSACTION_SCHEMA

        known = [n for n in TRANSACTION_SCHEMA.names if n != "recipients"] + [
            f"recipients.{n}" for n in RECIPIENT_FIELDS]
        for name in args.fields:
            if name not in known:
                raise UsageError(f"-e {name}: not a transactions column (one of: "
                                 f"{', '.join(known)})")
        if args.field_options or args.time_format:
            raise UsageError("-E and -t shape -T text, fields and csv lines, not transactions")
        return LineFormat(fmt, fields=tuple(args.fields))
    if args.fields and fmt not in ("fields", "csv"):
        raise UsageError("-e FIELD sets the columns of -T fields or -T csv")
    if fmt == "fields" and not args.fields:
        raise UsageError("-T fields needs at least one -e FIELD (cmppdissect -G fields lists "
                         "them)")
    if args.field_options and fmt != "fields":
        raise UsageError("-E sets how -T fields writes its lines")
    if args.time_format and fmt in ("json", "jsonl"):
        raise UsageError("-t sets the time of -T text, fields and csv lines (JSON records "
                         "have seconds since 1970)")
    from cmppdissect.query import FilterError
    from cmppdissect.query.dfilter import compile_field

    for name in args.fields:
        try:
            compile_field(name)
        except FilterError as exc:
            raise UsageError(f"-e {name}: {exc.args[0]}") from None
    options: dict[str, Any] = {}
    for item in args.field_options:
        key, sep, value = item.partition("=")
        options.update(_field_option(key.strip(), value, bool(sep)))
    return LineFormat(fmt, time=args.time_format, fields=tuple(args.fields), **options)


_SPECIAL = {"/t": "\t", "/s": " "}


def _field_option(key: str, value: str, given: bool) -> dict[str, Any]:
    """One ``-E key=value`` as LineFormat's keyword."""
    if not given:
        raise UsageError(f"-E {key}: give it as KEY=VALUE, e.g. -E header=y")
    if key == "header" and value in ("y", "n"):
        return {"header": value == "y"}
    if key in ("separator", "aggregator") and (value in _SPECIAL or len(value) == 1):
        return {key: _SPECIAL.get(value, value)}
    if key == "quote" and value in ("d", "s", "n"):
        return {"quote": value}
    if key == "occurrence" and value in ("f", "l", "a"):
        return {"occurrence": value}
    raise UsageError(f"-E {key}={value}: header=y|n, separator=/t|/s|CHAR, quote=d|s|n, "
                     "occurrence=f|l|a, aggregator=,|/s|CHAR")


def _zstats(items: Sequence[str]) -> list[Any]:
    from cmppdissect.output.zstats import parse_zstat

    out = []
    for item in items:
        try:
            out.append(parse_zstat(item))
        except ValueError as exc:
            raise UsageError(f"-z {item}: {exc}" if not str(exc).startswith("-z")
                             else str(exc)) from None
    return out


def _run_write(paths: Sequence[str], args: argparse.Namespace, out: TextIO) -> int:
    """``-w OUT`` with a capture file: the frames that carried the PDUs ``-Y`` keeps.

    The PDUs are found as for ``-T``; each row knows its frame's offset in the file (and, for a
    PDU split over several frames, every frame that carried it), so the frames are then read
    again from the file, each once and in file order, and written with their original
    timestamps, link types and lengths. As with tshark, nothing is printed unless ``-T`` or
    ``--report`` asks for it. A capture that is not a regular uncompressed file cannot be
    read again, so it is refused before anything is read. Several captures merged: the
    offsets are in the merged stream, and the inputs are merged again to find the frames in
    them (each input must then be a regular uncompressed file).
    """
    from cmppdissect.output.progress import progress_bar
    from cmppdissect.output.writers import RecordWriter
    from cmppdissect.sources.frames import FrameError
    from cmppdissect.sources.ring import Ring

    target = args.write
    kind = args.out_format or ("pcap" if target.lower().endswith(".pcap") else "pcapng")
    if target == "-" and (args.format or args.report):
        raise UsageError("-w - writes the frames to stdout: -T and --report cannot go there too")
    if target == "-" and sys.stdout.isatty():
        raise UsageError("-w -: stdout is a terminal; redirect it to a file or a pipe")
    analysis = _open(paths, args)
    src = analysis.source
    unreadable = getattr(src, "unreadable", None)
    why = unreadable() if callable(unreadable) else None
    if why is None and analysis.path is None and not callable(unreadable):
        why = (f"{src.name} is gzip-compressed (gunzip it first)"
               if getattr(src, "compressed", False) else f"{src.name} is not a regular file")
    if why is not None:
        src.close()
        raise UsageError("-w: frames are copied from the capture file, which must be regular "
                         f"and uncompressed: {why}")
    to_stdout = target == "-"
    created = not to_stdout and args.ring is None and not os.path.lexists(target)
    sink: BinaryIO | Ring
    try:
        if args.ring is not None:  # -b: files made as the frames come, named by their time
            sink = Ring(target, args.ring)
            sink.check()
        else:  # unbuffered: the frame writer gathers records, and knows what reached the file
            sink = (sys.stdout.buffer if to_stdout
                    else open(target, "wb", buffering=0))  # noqa: SIM115
    except OSError as exc:
        analysis.source.close()
        raise UsageError(f"{target}: {exc.strerror or exc}") from None
    records = RecordWriter(args.line, out) if args.format and not args.quiet else None
    try:
        size: int | None = getattr(src, "file_size", None)
        with progress_bar(lambda: analysis.progress, size, src.name):
            rows = _write_rows(analysis, args, records)
        written = analysis.write_frames(rows, sink, kind)
        if not isinstance(sink, Ring):
            sink.flush()
    except FrameError as exc:
        message = str(exc)
        if isinstance(sink, Ring):  # the message names the file of the ring
            raise UsageError(message) from None
        if created:  # refused before a byte was written (frames of several link types...):
            with contextlib.suppress(OSError):  # no empty file is left behind
                if os.path.getsize(target) == 0:
                    os.unlink(target)
        raise UsageError(message if message.startswith(tuple(paths)) else
                         f"{target}: {message}") from None
    except OSError as exc:
        raise _read_error(target, exc) from None
    finally:
        if not to_stdout and not isinstance(sink, Ring):
            with contextlib.suppress(OSError):
                sink.close()
    if records is not None:
        records.close()
    if args.report == "json" or args.zstat:
        _summary(analysis, args, args.format, out, {"frames_written": written})
    return 0


def _write_rows(analysis: Analysis, args: argparse.Namespace,
                records: RecordWriter | None) -> array[int]:
    """The rows ``-Y`` keeps (``-c``: as for ``-T``, the core stops after N PDUs, or with
    ``-Y`` after N are kept), their records written on the way when ``-T`` asks."""
    limit = args.count
    rows = array("q")  # 8 bytes a PDU: every PDU of a big capture may be kept
    for view in analysis.views(args.display_filter, carriers=True,
                               pdu_limit=0 if args.display_filter else limit or 0):
        rows.append(view.row)
        if records is not None:  # the record the filter decoded, not a second decode
            records.write(view.record(), view.full() if args.display_filter else None)
        if limit is not None and len(rows) >= limit:
            break
    analysis.stop()
    return rows


def _outputs_apart(paths: Sequence[str], *outputs: tuple[str, str | None]) -> None:
    """An output file that is one of the captures being read would destroy it (``--jsonl``
    and ``--report-file`` overwrote it), and two outputs to one file (or one ring of names)
    would write over each other: refused before anything is read or written."""
    given: dict[str, str] = {}
    for opt, target in outputs:
        if target is None or target == "-":
            continue
        if any(path != "-" and _same_file(target, path) for path in paths):
            raise UsageError(f"{opt} {target}: that is the capture being read")
        where = os.path.realpath(target)
        if where in given:
            raise UsageError(f"{opt} {target}: {given[where]} writes there too")
        given[where] = opt


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _summary(analysis: Analysis, args: argparse.Namespace, fmt: str | None, out: TextIO,
             extra: dict[str, Any] | None = None, summary_to: TextIO | None = None) -> None:
    """The statistics after the records: the ``-z`` tables, then ``--report json`` (to
    ``--report-file`` when given) or the text summary when neither records nor tables were
    asked for (live capture with ``-T``: to ``summary_to``). With ``-Y`` the report covers
    the PDUs the filter keeps, and says so."""
    from cmppdissect.output.report import build_report

    analysis.run()
    engine, store = analysis.engine, analysis.store
    assert engine is not None
    if args.zstat:
        from cmppdissect.output.zstats import zstat_text

        assert store is not None  # -z keeps the rows
        for stat in args.zstat:
            out.write(zstat_text(stat, store, engine, analysis.matching_rows))
    if args.report != "json" and not ((fmt is None and not args.zstat)
                                      or summary_to is not None):
        return  # neither a report nor a summary is shown
    if args.display_filter and store is not None and not getattr(args, "release", False):
        from cmppdissect.output.scoped import filtered_report

        expression = args.display_filter
        report = filtered_report(engine, store, analysis.matching_rows(expression), expression)
    else:
        report = build_report(engine)
    if extra:
        report.update(extra)
    if args.report == "json":
        from cmppdissect.output.records import dump

        if args.report_file is None:
            dump(report, out, indent=1)
            out.write("\n")
            return
        if args.reports is not None:  # --report-every: the last of the series
            last = engine.core.last_ts if args.reports.clock == "capture" else 0
            args.reports.write(report, last or time.time_ns(), final=True)
            return
        from cmppdissect.output.periodic import write_report

        try:
            write_report(args.report_file, report)
        except OSError as exc:
            raise UsageError(f"--report-file {args.report_file}: {exc.strerror or exc}"
                             ) from None
    elif (fmt is None and not args.zstat) or summary_to is not None:
        from cmppdissect.output.text import write_summary

        write_summary(report, summary_to or out)


def _run_live(args: argparse.Namespace, out: TextIO) -> int:
    """``-i IFACE``: the same engine as for files, fed as packets arrive, until stopped.

    Records stream (flushed per line); ``-c N`` (PDUs), ``--duration``, Ctrl-C or SIGTERM stop
    the capture, and the summary or ``--report json`` follows with a ``capture`` section. With
    ``-T`` the text summary goes to stderr so that stdout stays machine-readable. ``-w``,
    ``--jsonl`` and ``--parquet`` write files (with ``-b``, rings of files); a file that cannot
    be written any more (a full disk) stops the capture: the summary of what was read, then
    one line naming the file, exit status 2.
    """
    from cmppdissect.sources.live import LiveCapture, LiveCaptureError
    from cmppdissect.sources.ring import RingError

    secrets = _secrets(args.secret)
    if args.parquet is not None and (args.format or args.count is not None or args.jsonl):
        raise UsageError("--parquet writes its own files: give -T, --jsonl or -c in a "
                         "separate run")
    lines = _jsonl_ring(args) if args.jsonl is not None else None
    if args.parquet is not None:  # said before capturing, not when the first rows come
        from cmppdissect.sources.ring import Ring

        try:
            os.makedirs(args.parquet, exist_ok=True)
            Ring(os.path.join(args.parquet, "pdus.parquet")).check()
        except OSError as exc:
            raise UsageError(f"--parquet {args.parquet}: {exc.strerror or exc}") from None
    try:
        if lines is not None:  # made now, named with the time the capture starts
            lines.open(time.time_ns())
        buffer = {} if args.buffer_mib is None else {"buffer_bytes": args.buffer_mib << 20}
        capture = LiveCapture(args.interface, bpf=args.capture_filter, write=args.write,
                              duration=args.duration, ring=args.ring,
                              write_format=args.out_format, **buffer)
    except (LiveCaptureError, RingError) as exc:
        if lines is not None:
            lines.close()
        raise UsageError(str(exc)) from None
    metrics = args.metrics_server
    if metrics is not None:
        metrics.capture = capture
    if _opens_tui(args, out):
        # The same app as for files, updating as traffic flows (pause, captured/dropped shown).
        from cmppdissect.tui import run_source

        status: int = run_source(capture, analyzer_kwargs=_analyzer_kwargs(args),
                                 display_filter=args.display_filter,
                                 on_analysis=_attach(metrics), max_pdus=args.max_pdus)
        return status
    try:
        analysis = analyze(capture, ports=tuple(args.ports), version=args.cmpp_version,
                           timeout_s=args.timeout, secrets=secrets,
                           max_samples=_max_samples(args))
    except ValueError as exc:  # a bad --cmpp-version
        capture.close()
        if lines is not None:
            lines.close()
        raise UsageError(str(exc)) from None
    if metrics is not None:
        metrics.analysis = analysis
    fmt = _records_format(args)
    from cmppdissect.output.writers import RecordWriter, format_slice, line_maker
    from cmppdissect.store.schema import record_dict

    writer = RecordWriter(args.line, out) if fmt else None
    make = line_maker(args.line)
    # With records (-T, --jsonl) the rows go once written, as for a file; the summary after
    # them then covers every PDU (a summary of -Y's PDUs kept every row of a capture that may
    # run for days: 2.3 MB a second at 20,000 PDUs/s).
    args.release = _release(args)
    failed: str | None = None  # why an output stopped (the capture stopped with it)
    clock = _wall_clock_reports(analysis, capture, args.reports)
    shown = 0
    with _stop_on_signals(capture):
        # As tshark does: says when packets start being taken (scripts wait for this line,
        # then may stop the capture at once: the signal handlers are in place before it).
        print(f"Capturing on {capture.name}", file=sys.stderr, flush=True)
        if clock is not None:
            clock.start()
        if args.parquet is not None:
            try:
                _write_parquet(analysis, args)
            except UsageError as exc:
                failed = str(exc)
                capture.close()
        elif fmt is None and lines is None:
            # Statistics only (--report, -q, -z): no record is built, as for a file, which
            # is what lets the analysis keep up with 100,000 PDUs/s and more. Rows are kept
            # only when a filter (-Y for the report, a -z table's) must read them; -c stops
            # the core at that many PDUs, and the capture with it, as for a file.
            analysis.start(keep_rows=bool(args.display_filter or args.zstat),
                           pdu_limit=args.count or 0)
            analysis.run()
        elif lines is None or not args.display_filter:
            # A slice of rows at a time, as for a file: the compiled writer makes -T jsonl's
            # lines (without -Y), which is what keeps records up with 100,000 PDUs/s. The rows
            # go once written, so a capture that runs for days holds no more than a while
            # ago, unless the statistics after it read them again (-z, -Y's --report json).
            for sl in analysis.slices(release=args.release):
                left = None if args.count is None else args.count - shown
                if left is not None and left <= 0:
                    continue  # stopping: the last queued packets still count in the summary
                count = 0
                if writer is not None:  # its limit counts what it wrote over every slice
                    before = writer.written
                    writer.write_slices((sl,), expression=args.display_filter,
                                        limit=args.count)
                    writer.flush()
                    count = writer.written - before
                if lines is not None:  # no -Y here: the slice's first rows are the lines
                    data, count = format_slice(sl, args.line, None, left)
                    try:
                        lines.write_lines(data, sl.ts[:count])
                        lines.flush()
                    except RingError as exc:  # stop writing and capturing; the summary follows
                        failed, lines = str(exc), None
                        capture.stop()
                shown += count
                if args.count is not None and shown >= args.count:
                    capture.stop()
        else:  # --jsonl with -Y: the filter built each record's dict, written with its time
            for rec, as_dict in analysis.records(args.display_filter, release=args.release):
                if args.count is not None and shown >= args.count:
                    continue  # stopping: the last queued packets still count in the summary
                shown += 1
                if writer is not None:
                    writer.write(rec, as_dict)
                    writer.flush()
                if lines is not None:
                    try:
                        lines.write(make(record_dict(rec) if as_dict is None else as_dict,
                                         rec.ts_ns), rec.ts_ns)
                        lines.flush()
                    except RingError as exc:  # stop writing and capturing; the summary follows
                        failed, lines = str(exc), None
                        capture.stop()
                if args.count is not None and shown >= args.count:
                    capture.stop()
    if clock is not None:
        clock.stop()
    if writer is not None:
        writer.close()
    if lines is not None:
        try:
            lines.close()
        except RingError as exc:
            failed = str(exc)
    if failed is not None and args.parquet is not None:
        raise UsageError(failed)  # the Parquet files stopped with the analysis: no summary
    _summary(analysis, args, fmt, out, {"capture": capture.refresh_stats().as_dict()},
             summary_to=sys.stderr if fmt is not None else None)
    if args.report != "json":
        (out if fmt is None else sys.stderr).write(f"\n{capture.stats.describe()}\n")
    else:  # the report has these figures; the line says them where a log or journal sees
        print(capture.stats.describe(), file=sys.stderr, flush=True)
    out.flush()
    for error in (capture.write_error, capture.error, failed,
                  clock.error if clock is not None else None):
        if error is not None:  # the capture stopped there: say so, and fail
            raise UsageError(error)
    return 0


def _wall_clock_reports(analysis: Analysis, capture: LiveCapture,
                        series: ReportSeries | None) -> WallClock | None:
    """``--report-every`` on a live capture: the report so far (with the capture's counters),
    made under the analysis's lock, every S seconds of wall-clock time, from a thread. A
    report that cannot be written stops the capture."""
    if series is None:
        return None
    from cmppdissect.output.periodic import WallClock
    from cmppdissect.output.report import build_report

    def build() -> dict[str, Any] | None:
        engine = analysis.engine
        if engine is None:
            return None
        with analysis.lock:
            report = build_report(engine)
        report["capture"] = capture.refresh_stats().as_dict()
        return report

    return WallClock(series, build, on_error=capture.stop)


@contextlib.contextmanager
def _stop_on_signals(capture: LiveCapture) -> Iterator[None]:
    """SIGINT and SIGTERM stop the capture cleanly; a second SIGINT aborts (exit 130). So
    does SIGHUP (the terminal of an ssh session that dropped), as in dumpcap, unless it was
    ignored (``nohup``): its default would end the process with no summary, no final report
    and the outputs cut wherever their buffers were."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: Any) -> None:
        if signum == signal.SIGINT and capture.stopping:
            raise KeyboardInterrupt
        capture.stop()

    signals = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:
        signals.append(signal.SIGHUP)
    old = {sig: signal.signal(sig, stop) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _run_tui(paths: Sequence[str], args: argparse.Namespace) -> int:
    """The interactive app, when stdout is a terminal and no output format was asked for."""
    from cmppdissect.tui import run_file

    status: int = run_file(paths[0] if len(paths) == 1 else paths,
                           analyzer_kwargs=_analyzer_kwargs(args),
                           display_filter=args.display_filter,
                           on_analysis=_attach(args.metrics_server), max_pdus=args.max_pdus)
    return status


def _attach(metrics: _MetricsServer | None) -> Callable[[Analysis], None] | None:
    """What the TUI calls with its analysis once made, for ``--metrics`` to serve it."""
    if metrics is None:
        return None

    def attach(analysis: Analysis) -> None:
        metrics.analysis = analysis

    return attach


def _analyzer_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The engine's settings from the options (for the TUI, which builds its own engine)."""
    from cmppdissect.protocol.commands import DEFAULT_PORTS
    from cmppdissect.protocol.version import parse_version

    try:
        version = parse_version(args.cmpp_version)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return {"ports": (*DEFAULT_PORTS, *args.ports), "version": version,
            "timeout_s": args.timeout, "secrets": _secrets(args.secret),
            "max_samples": _max_samples(args)}


def _max_samples(args: argparse.Namespace) -> int:
    """``--max-samples``, else every sample of a file and LIVE_MAX_SAMPLES live."""
    return int(args.max_samples or (LIVE_MAX_SAMPLES if args.interface else 0))


def _run_diff(argv: Sequence[str], out: TextIO) -> int:
    """``cmppdissect diff A B``: two captures side by side (output/diff.py)."""
    p = _Parser(prog="cmppdissect diff",
                description="Compare two captures: response times, Result codes, status "
                "reports and rates, for the whole of each and per SP. On a terminal the "
                "comparison opens as a screen; piped (or with --report json) it is printed.")
    p.add_argument("a", help="the first capture (A: before, or gateway 1)")
    p.add_argument("b", help="the second capture (B: after, or gateway 2)")
    p.add_argument("--report", choices=("json",), help="the comparison as one JSON document")
    p.add_argument("-d", dest="ports", metavar="PORT", action="append", type=_port, default=[],
                   help="also decode TCP PORT as CMPP (repeatable)")
    p.add_argument("--cmpp-version", default="auto", help="as for cmppdissect")
    p.add_argument("--timeout", type=_seconds, default=60.0, help="as for cmppdissect")
    args = p.parse_args(argv)
    from cmppdissect.api import compare
    from cmppdissect.output.diff import write_comparison

    for path in (args.a, args.b):
        if path == "-":
            raise UsageError("diff reads two files: - (stdin) is not one")
    if args.report is None and out.isatty():
        # As the main command: a terminal gets the interactive comparison, a pipe the text.
        from cmppdissect.protocol.version import parse_version
        from cmppdissect.tui import run_diff

        try:
            version = parse_version(args.cmpp_version)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

        status: int = run_diff(args.a, args.b, settings={
            "ports": tuple(args.ports), "version": version, "timeout_s": args.timeout})
        return status
    try:
        result = compare(args.a, args.b, ports=tuple(args.ports), version=args.cmpp_version,
                         timeout_s=args.timeout)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except (CaptureFormatError, OSError) as exc:
        name = getattr(exc, "filename", None) or ""
        raise UsageError(open_error(str(name), exc) or str(exc)) from None
    if args.report == "json":
        from cmppdissect.output.records import dump

        dump(result, out, indent=1)
        out.write("\n")
    else:
        write_comparison(result, (args.a, args.b), out)
    return 0


_SCHEDULER = re.compile(r"^(\w+://.*|[\w.-]+:\d+)$")


def _run_analyze(argv: Sequence[str], out: TextIO) -> int:
    """``cmppdissect analyze --dask [SCHEDULER] FILES...``: many files from many hosts on a
    Dask cluster, one report (cmppdissect/scale, docs/scale.md)."""
    p = _Parser(prog="cmppdissect analyze",
                description="Analyze many capture files from many hosts on a Dask cluster: "
                "the files of one host are read as one stream, hosts in parallel, and the "
                "results merged into one report (docs/scale.md).")
    p.add_argument("--dask", nargs="?", const="", metavar="SCHEDULER", required=True,
                   help="run on Dask: the scheduler's address (tcp://host:8786), or none for "
                   "a local cluster of one worker process per core")
    p.add_argument("files", nargs="*", help="pcap/pcapng files (gzip ok)")
    p.add_argument("--host", dest="host_pattern", metavar="REGEX",
                   help="which files are one host: what REGEX matches in the path (its first "
                   "group if it has one); default: the files of one directory")
    p.add_argument("--workers", type=_count, metavar="N",
                   help="with a local cluster: N worker processes (default: one per core; never "
                   "more than there are tasks: one per host, and with --parquet one more per "
                   "share of a host's files)")
    p.add_argument("--report", choices=("json",), default="json",
                   help="the merged report as one JSON document (the default)")
    p.add_argument("--report-file", metavar="FILE", help="write the report to FILE")
    p.add_argument("--parquet", metavar="DIR",
                   help="write the pdus, transactions and sessions datasets into DIR, "
                   "partitioned by date and SP id")
    p.add_argument("-d", dest="ports", metavar="PORT", action="append", type=_port, default=[],
                   help="also decode TCP PORT as CMPP (repeatable)")
    p.add_argument("--cmpp-version", default="auto", help="as for cmppdissect")
    p.add_argument("--secret", action="append", default=[], metavar="SP_ID=SECRET",
                   help="as for cmppdissect")
    p.add_argument("--timeout", type=_seconds, default=60.0, help="as for cmppdissect")
    args = p.parse_args(argv)
    files = list(args.files)
    scheduler: str | None = args.dask or None
    if scheduler is not None and not _SCHEDULER.match(scheduler):
        files.insert(0, scheduler)  # --dask FILE...: no address given
        scheduler = None
    if not files:
        raise UsageError("analyze --dask reads capture files: none given")
    try:
        from cmppdissect.scale.dask import analyze_many
    except ImportError as exc:
        raise UsageError(f"--dask needs dask and distributed ({exc.name} is missing): "
                         "pip install 'dask[distributed]'") from None
    settings = {"ports": tuple(args.ports), "version": args.cmpp_version,
                "timeout_s": args.timeout, "secrets": _secrets(args.secret)}
    _outputs_apart(files, ("--report-file", args.report_file))
    from cmppdissect.output.periodic import check_report_file, write_report

    if args.report_file is not None:
        try:  # said before the cluster works, not after
            check_report_file(args.report_file)
        except OSError as exc:
            raise UsageError(f"--report-file {args.report_file}: {exc.strerror or exc}"
                             ) from None
    with _host_progress() as progress:
        try:
            report = analyze_many(files, client=scheduler, workers=args.workers,
                                  host_pattern=args.host_pattern, parquet=args.parquet,
                                  progress=progress, **settings)
        except (ValueError, re.error) as exc:
            raise UsageError(str(exc) if not isinstance(exc, re.error)
                             else f"--host {args.host_pattern!r}: {exc}") from None
        except OSError as exc:  # the --parquet directory names itself; the scheduler not
            where = f"--parquet {exc.filename}" if exc.filename else f"scheduler {scheduler}"
            raise UsageError(f"{where}: {exc.strerror or exc}") from None
    from cmppdissect.output.records import dump
    from cmppdissect.output.sanitize import safe_text

    if args.report_file is None:
        dump(report, out, indent=1)
        out.write("\n")
    else:
        try:
            write_report(args.report_file, report)
        except OSError as exc:
            raise UsageError(f"--report-file {args.report_file}: {exc.strerror or exc}"
                             ) from None
    # A host whose task failed for good (a full disk under --parquet, say) is in the report;
    # it is said here too, one line each, and the run fails, as a live capture's full disk.
    failed = [h for h in report["scale"]["hosts"] if "failed" in h]
    for host in failed:
        print(f"cmppdissect analyze: host {safe_text(str(host['name']))} failed: "
              f"{safe_text(str(host['failed']))}", file=sys.stderr)
    return 2 if failed else 0


@contextlib.contextmanager
def _host_progress() -> Iterator[Callable[[int, int, str], None] | None]:
    """A bar of the tasks done on stderr while the cluster works (a terminal only): a task
    per host, and with --parquet one per share of a host's files."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from cmppdissect.output.sanitize import safe_text

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   console=Console(file=sys.stderr), transient=True)
    task = None

    def advance(done: int, total: int, host: str) -> None:
        nonlocal task
        if task is None:
            task = bar.add_task("tasks", total=total)
        name = escape(safe_text(host)[-40:])
        bar.update(task, completed=done,
                   description=f"tasks (one of {name} done)" if host else "tasks")

    with bar:
        yield advance


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["analyze"]:
        return _guarded("cmppdissect analyze", _run_analyze, argv[1:])
    if argv[:1] == ["diff"]:
        return _guarded("cmppdissect diff", _run_diff, argv[1:])
    if argv[:1] == ["sim"]:
        from cmppdissect.sim.cli import main as sim_main

        status: int = sim_main(argv[1:])
        return status
    return _guarded("cmppdissect", run, argv)


def _guarded(prog: str, run: Callable[[list[str], TextIO], int], argv: list[str]) -> int:
    """Run a command: a mistake is one line and status 2, Ctrl-C status 130, a reader that
    left (``| head``) a quiet 0; never a traceback."""
    try:
        return run(argv, sys.stdout)
    except UsageError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
