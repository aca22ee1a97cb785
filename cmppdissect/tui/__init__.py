"""The interactive face of cmppdissect: a Textual app over the analysis engine.

Only this package imports Textual; the CLI imports it lazily, when stdout is a terminal and
no ``-T``/``--report`` was asked for.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

from cmppdissect.core.records import CaptureFormatError

if TYPE_CHECKING:
    from cmppdissect.api import Analysis
    from cmppdissect.tui.source import CaptureSource


def run_file(path: str | Sequence[str], *, analyzer_kwargs: dict[str, Any],
             display_filter: str | None = None,
             on_analysis: Callable[[Analysis], None] | None = None,
             max_pdus: int | None = None) -> int:
    """Open ``path`` and run the TUI on it; returns the exit status. ``max_pdus`` caps the
    rows held (default: none for a file; :func:`~cmppdissect.tui.app.default_max_pdus`).

    The capture is opened before the app starts, so a missing or foreign file is one line on
    stderr and status 2, as on the headless path, instead of a screen that opens and dies.
    Several paths are merged by time (:class:`~cmppdissect.sources.merge.MergedSource`); the
    merged stream is no file, so the detail shows no frame layers and frames cannot be saved.
    """
    from cmppdissect.sources.file import open_error
    from cmppdissect.tui.source import FileSource

    if not isinstance(path, str):
        return _run_merged(path, analyzer_kwargs=analyzer_kwargs, display_filter=display_filter,
                           on_analysis=on_analysis, max_pdus=max_pdus)
    try:
        source = FileSource(_stdin_capture(), name="<stdin>") if path == "-" else FileSource(path)
    except (CaptureFormatError, OSError) as exc:
        return _fail(open_error(path, exc) or str(exc))
    except _NoTerminalError as exc:
        return _fail(str(exc))
    return run_source(source, analyzer_kwargs=analyzer_kwargs, display_filter=display_filter,
                      on_analysis=on_analysis, max_pdus=max_pdus)


def _run_merged(paths: Sequence[str], *, analyzer_kwargs: dict[str, Any],
                display_filter: str | None,
                on_analysis: Callable[[Analysis], None] | None = None,
                max_pdus: int | None = None) -> int:
    from cmppdissect.sources.merge import InputError, open_inputs

    try:
        source = open_inputs(paths)
    except InputError as exc:
        return _fail(str(exc))
    return run_source(source, analyzer_kwargs=analyzer_kwargs, display_filter=display_filter,
                      on_analysis=on_analysis, max_pdus=max_pdus)


class _NoTerminalError(Exception):
    """The capture comes on standard input and there is no terminal to read keys from."""


def _stdin_capture() -> IO[bytes]:
    """The capture on standard input, moved off file descriptor 0 so that the app reads its
    keys from the terminal: Textual reads fd 0, which was the capture pipe (``cat f.pcap |
    cmppdissect -`` then lost the keys or choked on the capture's bytes)."""
    if os.isatty(0):
        raise _NoTerminalError("-: standard input is the terminal, not a capture: pipe one in "
                          "(cat capture.pcap | cmppdissect -) or name the file")
    capture = os.fdopen(os.dup(0), "rb", buffering=0)
    try:
        terminal = os.open("/dev/tty", os.O_RDONLY)
    except OSError:
        capture.close()
        raise _NoTerminalError("-: the TUI reads keys from the terminal and there is none; "
                          "use -T or --report to read a capture from standard input") from None
    os.dup2(terminal, 0)
    os.close(terminal)
    return capture


def run_source(source: CaptureSource, *, analyzer_kwargs: dict[str, Any],
               display_filter: str | None = None,
               on_analysis: Callable[[Analysis], None] | None = None,
               max_pdus: int | None = None) -> int:
    """Run the TUI on any segment source (a live capture for ``-i``); returns the exit status.
    ``on_analysis`` is given the app's analysis before it starts (``--metrics`` serves it);
    ``max_pdus`` caps the rows held (default: :data:`~cmppdissect.tui.indexer.LIVE_MAX_PDUS`
    for a live source, none for a file; 0: no cap)."""
    from cmppdissect.tui.app import make_app

    app = make_app(source, analyzer_kwargs=analyzer_kwargs, display_filter=display_filter,
                   max_pdus=max_pdus)
    if on_analysis is not None:
        on_analysis(app.analysis)
    try:
        with _screen_on_the_terminal():
            result = app.run()
    finally:
        source.stop()
        # The indexer thread may still be inside the source: let it leave before closing.
        app.indexer.finished.wait(5)
        source.close()
    return 0 if result is None else int(result)


@contextlib.contextmanager
def _screen_on_the_terminal() -> Iterator[None]:
    """Textual draws on stderr. With stderr redirected (``cmppdissect f.pcap 2>err.log``) and
    stdout the terminal, the screen would go to the log: file descriptor 2 is the terminal
    for the app's life, and the log again after it."""
    if os.isatty(2) or not os.isatty(1):
        yield
        return
    saved = os.dup(2)
    os.dup2(1, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def run_diff(a: str, b: str, *, settings: dict[str, Any]) -> int:
    """``cmppdissect diff A B`` on a terminal: the comparison in an app; the exit status.

    Both captures are opened first, so a missing or foreign one is one line on stderr and
    status 2 before any screen appears; ``settings`` are :func:`cmppdissect.compare`'s."""
    from cmppdissect.sources.file import FileSource, open_error

    sources: list[FileSource] = []
    for path in (a, b):
        try:
            sources.append(FileSource(path))
        except (CaptureFormatError, OSError) as exc:
            for opened in sources:
                opened.close()
            return _fail(open_error(path, exc) or str(exc), "cmppdissect diff")
    from cmppdissect.tui.diffapp import DiffApp

    app = DiffApp(sources, (a, b), settings)
    try:
        with _screen_on_the_terminal():
            result = app.run()
    finally:
        app.close_sources()
    if app.error:
        return _fail(app.error, "cmppdissect diff")
    return 0 if result is None else int(result)


def _fail(message: str, prog: str = "cmppdissect") -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    return 2


__all__ = ["run_diff", "run_file", "run_source"]
