"""The interactive face of cmppdissect: a Textual app over the analysis engine.

Only this package imports Textual; the CLI imports it lazily, when stdout is a terminal and
no ``-T``/``--report`` was asked for.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from cmppdissect.core.records import CaptureFormatError

if TYPE_CHECKING:
    from cmppdissect.tui.source import CaptureSource


def run_file(path: str, *, analyzer_kwargs: dict[str, Any]) -> int:
    """Open ``path`` and run the TUI on it; returns the exit status.

    The capture is opened before the app starts, so a missing or foreign file is one line on
    stderr and status 2, as on the headless path, instead of a screen that opens and dies.
    """
    from cmppdissect.tui.source import FileSource

    try:
        source = FileSource(sys.stdin.buffer if path == "-" else path)
    except CaptureFormatError as exc:
        return _fail(str(exc) if path in str(exc) else f"{path}: {exc}")
    except IsADirectoryError:
        return _fail(f"{path}: is a directory")
    except FileNotFoundError:
        return _fail(f"{path}: no such file")
    except PermissionError:
        return _fail(f"{path}: permission denied")
    except OSError as exc:
        return _fail(f"{path}: {exc.strerror or exc}")
    return run_source(source, analyzer_kwargs=analyzer_kwargs)


def run_source(source: CaptureSource, *, analyzer_kwargs: dict[str, Any]) -> int:
    """Run the TUI on any segment source (a live capture for ``-i``); returns the exit status."""
    from cmppdissect.tui.app import make_app

    app = make_app(source, analyzer_kwargs=analyzer_kwargs)
    try:
        result = app.run()
    finally:
        source.stop()
        # The indexer thread may still be inside the source: let it leave before closing.
        app.indexer.finished.wait(5)
        source.close()
    return 0 if result is None else int(result)


def _fail(message: str) -> int:
    print(f"cmppdissect: {message}", file=sys.stderr)
    return 2


__all__ = ["run_file", "run_source"]
