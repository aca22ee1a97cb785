"""``cmppdissect``: tshark-like command line over the analysis engine.

Errors the user can fix (bad options, a missing or unreadable file) are one line on stderr and
exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from typing import TextIO

from cmppdissect import __version__
from cmppdissect.analysis.engine import Analyzer, ExpertItem, PduRecord
from cmppdissect.capture.pcapsource import iter_segments
from cmppdissect.capture.records import CaptureFormatError, CaptureNote
from cmppdissect.protocol.commands import DEFAULT_PORTS
from cmppdissect.protocol.expert import Severity
from cmppdissect.protocol.version import parse_version


class UsageError(Exception):
    """A mistake on the command line or an input we cannot open: one line, exit 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cmppdissect",
        description="Analyze CMPP 2.0/3.0 (China Mobile SMS gateway) traffic in a capture.")
    p.add_argument("file", nargs="?", help="pcap/pcapng file (gzip ok), or - for stdin")
    p.add_argument("-r", dest="read", metavar="FILE", help="read this capture (as tshark -r)")
    p.add_argument("-T", dest="format", choices=("jsonl", "json", "csv", "text"),
                   help="one record per PDU in this format (never the TUI)")
    p.add_argument("--report", choices=("json",), help="statistics as one JSON document")
    p.add_argument("-d", dest="ports", metavar="PORT", action="append", type=int, default=[],
                   help="also decode TCP PORT as CMPP (repeatable)")
    p.add_argument("--cmpp-version", default="auto", help="auto, 2.0 or 3.0")
    p.add_argument("--secret", action="append", default=[], metavar="SP_ID=SECRET",
                   help="check CONNECT authenticators of SP_ID with SECRET")
    p.add_argument("-c", dest="count", type=int, metavar="N", help="stop after N PDUs")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds after which a request counts as unanswered (default 60)")
    p.add_argument("-V", "--version", action="version", version=f"cmppdissect {__version__}")
    return p


def _secrets(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        sp, sep, secret = item.partition("=")
        if not sep or not sp:
            raise UsageError(f"--secret wants SP_ID=SECRET, got {item!r}")
        out[sp] = secret
    return out


def _open_input(path: str, notes: list[CaptureNote]) -> object:
    try:
        return iter_segments(sys.stdin.buffer if path == "-" else path, notes=notes)
    except CaptureFormatError as exc:
        raise UsageError(str(exc) if path in str(exc) else f"{path}: {exc}") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory") from None
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except PermissionError:
        raise UsageError(f"{path}: permission denied") from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None


def run(argv: Sequence[str] | None, out: TextIO) -> int:
    args = _parser().parse_args(argv)
    path = args.read or args.file
    if path is None:
        raise UsageError("no capture given: cmppdissect FILE (or -r FILE)")
    try:
        version = parse_version(args.cmpp_version)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    analyzer = Analyzer(ports=(*DEFAULT_PORTS, *args.ports), version=version,
                        timeout_s=args.timeout, secrets=_secrets(args.secret))
    notes: list[CaptureNote] = []
    segments = _open_input(path, notes)
    from cmppdissect.output.records import dumps, record_dict

    fmt = args.format
    records: list[PduRecord] = []
    writer = None
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(["frame", "time", "session", "src", "dst", "version", "command",
                         "sequence_id", "total_length", "request_frame", "latency_ms"])
    shown = 0

    def emit(batch: list[PduRecord]) -> bool:
        nonlocal shown
        for rec in batch:
            if args.count is not None and shown >= args.count:
                return False
            shown += 1
            if fmt == "jsonl":
                out.write(dumps(record_dict(rec)) + "\n")
            elif fmt == "json":
                records.append(rec)
            elif fmt == "csv" and writer is not None:
                d = record_dict(rec)
                writer.writerow([d["frame"], f"{d['time']:.6f}", d["session"], d["src"],
                                 d["dst"], d["version"], d["command"], d["sequence_id"],
                                 d["total_length"], d.get("request_frame", ""),
                                 d.get("latency_ms", "")])
            elif fmt == "text":
                d = record_dict(rec)
                lat = f" [{d['latency_ms']:.2f} ms after #{d['request_frame']}]" \
                    if "latency_ms" in d else ""
                out.write(f"{d['frame']:>7} {d['time']:.6f} {d['src']} -> {d['dst']} "
                          f"{d['command']} seq={d['sequence_id']}{lat}\n")
        return True

    try:
        for seg in segments:  # type: ignore[attr-defined]
            if not emit(analyzer.feed(seg)):
                break
        emit(analyzer.finish())
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    from cmppdissect.output.report import build_report

    for note in notes:
        severity = Severity.__members__.get(note.severity.upper(), Severity.WARN)
        analyzer.expert.append(ExpertItem(severity, note.frame, None, note.message, "capture"))
    if fmt == "json":
        out.write(dumps([record_dict(r) for r in records], indent=1) + "\n")
    if args.report == "json":
        out.write(dumps(build_report(analyzer), indent=1) + "\n")
    elif fmt is None:
        from cmppdissect.output.text import write_summary

        write_summary(build_report(analyzer), out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(argv, sys.stdout)
    except UsageError as exc:
        print(f"cmppdissect: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
