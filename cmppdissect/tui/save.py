"""Saving from the TUI: the frames of chosen PDUs as pcapng, a session's ladder as text.

No Textual here: the app asks what to save and where (screens/save.py), then runs
:func:`save` in a worker thread, so a session of a million PDUs is written while the UI stays
live. Every failure is one line for the user (:class:`SaveError`), never a traceback.

Frames are written by :meth:`cmppdissect.api.Analysis.write_frames`, the code ``-w`` uses.
The TUI's own analysis keeps, per PDU, the offset of the frame that completed it; a PDU split
over several TCP segments (or IP fragments) was also carried by earlier frames, which only an
analysis asked for ``carriers`` names (it costs the indexing time). So a save reads the
capture again up to the last PDU it writes, with carriers, as ``-w`` does, and writes every
frame that carried a byte of the chosen PDUs. The rows of that second reading are the TUI's
rows (the same engine, settings and file); their frame numbers are checked to be sure.

Rows are named by their number since the capture began (the model's row plus
:attr:`CaptureModel.released <cmppdissect.tui.model.CaptureModel.released>`), which a release
of the oldest rows (``--max-pdus``) does not change while the dialog is open or the save runs.
Only rows held can be chosen: the lists hold no other.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import numpy as np

from cmppdissect.api import Analysis
from cmppdissect.core.records import CaptureFormatError
from cmppdissect.sources.file import FileIdentity, FileSource
from cmppdissect.sources.frames import FrameError
from cmppdissect.tui.model import CaptureModel
from cmppdissect.tui.views import AllRows, FilteredRows, RowSet, SessionRows

__all__ = ["SaveError", "Saved", "check_target", "frames_unavailable", "save_frames",
           "save_text", "view_rows"]


class SaveError(Exception):
    """Saving failed; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Saved:
    """What a save wrote: ``frames`` of ``pdus`` PDUs (pcapng), or ``lines`` of text."""

    path: str
    pdus: int = 0
    frames: int = 0
    lines: int = 0

    def message(self) -> str:
        if self.lines:
            return f"saved {self.lines} lines to {self.path}"
        return f"saved {self.frames} frames ({self.pdus} PDUs) to {self.path}"


def view_rows(view: RowSet) -> np.ndarray:
    """The model rows a view shows now, ascending (a filter still running: its matches so
    far). A copy: the view may grow while a save writes."""
    if isinstance(view, FilteredRows):
        return np.array(view.matched, dtype=np.int64)
    if isinstance(view, AllRows):
        return np.arange(len(view), dtype=np.int64)
    if isinstance(view, SessionRows):
        return np.array(view.model.session_rows(view.session), dtype=np.int64)
    return np.fromiter((view[i] for i in range(len(view))), np.int64)


def frames_unavailable(model: CaptureModel) -> str | None:
    """Why frames cannot be saved from this capture (it cannot be read again), or None."""
    if model.capture_path is not None:
        return None
    live = model.progress.live
    where = "a live capture" if live else (model.name or "this input")
    hint = ("start the capture with -w FILE to keep every frame" if live else
            "open a regular pcap or pcapng file (not standard input, not gzip) to save frames")
    return f"frames cannot be read again from {where}: {hint}"


def check_target(path: str, capture_path: str | None) -> str | None:
    """Why ``path`` cannot be written, in one line, or None (checked before anything is
    written; the write itself may still fail, and says so)."""
    if not path.strip():
        return "give a file name"
    target = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(target):
        return f"{path}: is a directory"
    if capture_path is not None and os.path.exists(target):
        try:
            if os.path.samefile(target, capture_path):
                return f"{path}: that is the capture being read"
        except OSError:
            pass
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        return f"{path}: no such directory {folder}"
    if os.path.exists(target):
        if not os.access(target, os.W_OK):
            return f"{path}: permission denied"
    elif not os.access(folder, os.W_OK | os.X_OK):
        return f"{path}: permission denied (directory {folder})"
    return None


def _open(path: str) -> BinaryIO:
    try:
        return open(os.path.expanduser(path), "wb", buffering=0)
    except OSError as exc:
        raise SaveError(f"{path}: {exc.strerror or exc}") from None


def _changed(was: FileIdentity | None, now: FileIdentity | None) -> bool:
    if was is None or now is None:
        return False
    return ((now.device, now.inode) != (was.device, was.inode) or now.size < was.size
            or (now.size == was.size and now.mtime_ns != was.mtime_ns))


def save_frames(model: CaptureModel, settings: Mapping[str, Any], rows: np.ndarray,
                path: str, *, cancelled: Callable[[], bool] = lambda: False) -> Saved:
    """Write every frame that carried a byte of ``rows`` (ascending, numbered since the
    capture began: see the module docs) to ``path`` as pcapng. Raises :class:`SaveError`."""
    reason = frames_unavailable(model)
    if reason is not None:
        raise SaveError(reason)
    capture = model.capture_path
    assert capture is not None
    rows = np.asarray(rows, dtype=np.int64)
    try:
        analysis = Analysis(FileSource(capture), settings)
    except (CaptureFormatError, OSError) as exc:
        raise SaveError(f"{capture}: cannot be read again ({exc})") from None
    if _changed(model.capture_identity, getattr(analysis.source, "identity", None)):
        analysis.source.close()
        raise SaveError(f"{capture}: changed since it was read: open it again to save")
    need = int(rows.max()) + 1 if len(rows) else 0
    analysis.start(keep_rows=True, carriers=True)
    store = analysis.store
    assert store is not None
    batches = analysis.batches()
    try:
        while store.count < need:
            if cancelled():
                raise SaveError("saving was cancelled")
            if next(batches, None) is None:
                break
    except OSError as exc:
        raise SaveError(f"{capture}: {exc.strerror or exc}") from None
    finally:
        cast(Generator[Any, None, None], batches).close()  # closes the source
    if store.count < need or not _same_frames(model, rows, store.frame[rows]):
        raise SaveError(f"{capture}: changed since it was read: open it again to save")
    sink = _open(path)
    try:
        frames = analysis.write_frames(rows, sink, "pcapng")
    except FrameError as exc:
        raise SaveError(f"{path}: {exc}") from None
    except OSError as exc:
        raise SaveError(f"{path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            sink.close()
    return Saved(path, pdus=len(rows), frames=frames)


def _same_frames(model: CaptureModel, rows: np.ndarray, frames: np.ndarray) -> bool:
    """Whether ``frames`` (read again) are the frames of ``rows`` the model still holds."""
    with model.rows_gate.reading():
        base = model.released
        held = rows >= base
        return bool(np.array_equal(frames[held], model.frame[rows[held] - base]))


def save_text(text: str, path: str) -> Saved:
    """Write ``text`` (UTF-8) to ``path``. Raises :class:`SaveError`."""
    data = text.encode("utf-8")
    sink = _open(path)
    try:
        view = memoryview(data)
        while view:
            n = sink.write(view)
            view = view[n or len(view):]
    except OSError as exc:
        raise SaveError(f"{path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            sink.close()
    return Saved(path, lines=text.count("\n"))
