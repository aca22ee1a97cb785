"""Rotated output files, as dumpcap's and tshark's ``-b``: a ring of files, each whole.

``-b filesize:KB``, ``-b duration:S``, ``-b interval:S`` and ``-b packets:N`` say when an output
switches to its next file, ``-b files:N`` how many of its files are kept (the oldest is deleted
when the next one starts). :class:`RingSpec` holds them (:func:`parse_ring` reads the ``-b``
options); :class:`Ring` is the sequence of files of one output: their names, dumpcap's
``OUT_00001_20261204235959.pcapng`` (the name's stem, a number counting from 1, the local time
the file starts, the name's extension), when an item (a frame, a line) starts the next file,
and which file goes. The switch is decided on the items' own timestamps, so a capture file is
split as it was captured, and a live capture by the kernel's clock.

The writers on top of a :class:`Ring` keep every file whole: a file ends on a whole frame or
line, and a write that fails (a full disk) leaves it cut back to its last whole one
(:class:`~cmppdissect.sources.wholefile.WholeRecords`) and raises :class:`RingError`, one line
naming the file:

* :class:`CaptureRing`: a live capture's pcap byte stream to pcap or pcapng files, each with
  its own file header (pcapng: its own section header and interface description), so each is
  readable alone; the pcapng blocks are made by the core's frame walk (``FrameReader``), as for
  a merge;
* :class:`FrameRing`: frames read again from a capture file (``-r IN -w OUT -b ...``), each
  file written by a :class:`~cmppdissect.sources.frames.FrameWriter` of its own;
* :class:`LineRing`: lines, one record each (``--jsonl FILE``).

Without a switch (no ``-b``) a ring is the one file named as given, so an output has one code
path whether it rotates or not.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import struct
import tempfile
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Final

import numpy as np

from cmppdissect.core import FrameReader
from cmppdissect.core.records import InterfaceLayout
from cmppdissect.sources.wholefile import RecordsCutError, WholeRecords

if TYPE_CHECKING:
    from cmppdissect.sources.frames import Frame, FrameWriter

__all__ = ["CaptureRing", "FrameRing", "LineRing", "Ring", "RingError", "RingSpec",
           "parse_ring"]

_NS: Final = 1_000_000_000
KB: Final = 1000  # dumpcap's filesize unit: a kB of 1000 bytes
_UNITS: Final = {"": KB, "k": KB, "kb": KB, "m": KB**2, "mb": KB**2, "g": KB**3, "gb": KB**3}
_KEYS: Final = ("filesize", "duration", "interval", "packets", "files")
_USAGE: Final = ("give KEY:VALUE, one of filesize:KB (also 100MB, 2GB), duration:SECONDS, "
                 "interval:SECONDS, packets:N, files:N")
_PCAP_NS_MAGIC: Final = 0xA1B23C4D
_ROOM: Final = 1 << 62  # no limit on the bytes of a piece of frames


class RingError(Exception):
    """An output file of a ring cannot be made or written; the message is one line."""


@dataclass(frozen=True, slots=True)
class RingSpec:
    """When an output switches files, and how many it keeps (None: no such condition).

    ``filesize`` in bytes, ``duration_ns`` and ``interval_ns`` in nanoseconds.
    """

    filesize: int | None = None
    duration_ns: int | None = None
    interval_ns: int | None = None
    packets: int | None = None
    files: int | None = None

    @property
    def switches(self) -> bool:
        """Whether anything makes an output switch to its next file."""
        return any(v is not None for v in (self.filesize, self.duration_ns, self.interval_ns,
                                            self.packets))


def _number(key: str, text: str) -> int:
    """One ``-b`` value as an int: bytes for filesize, ns for the times, a count otherwise."""
    if key == "filesize":
        match = re.fullmatch(r"(\d+(?:\.\d*)?)\s*([kKmMgG][bB]?)?", text)
        if match is None:
            raise ValueError
        value = float(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
        if not 1 <= value < 2**63:
            raise ValueError
        return int(value)
    if key in ("duration", "interval"):
        seconds = float(text)
        if not (seconds > 0 and math.isfinite(seconds)) or seconds * _NS >= 2**62:
            raise ValueError
        return max(1, round(seconds * _NS))
    count = int(text)
    if count < 1:
        raise ValueError
    return count


def parse_ring(options: Sequence[str]) -> RingSpec:
    """The ``-b KEY:VALUE`` options (repeatable, as dumpcap's) as a :class:`RingSpec`.

    ``filesize`` is in kB of 1000 bytes as dumpcap's (a unit may be given: ``100kB``, ``10MB``,
    ``1GB``); ``duration`` and ``interval`` in seconds (fractions allowed); ``packets`` and
    ``files`` are counts. :class:`RingError` with one line for anything else.
    """
    values: dict[str, int] = {}
    for option in options:
        key, sep, text = option.partition(":")
        key = key.strip().lower()
        if not sep or key not in _KEYS:
            raise RingError(f"-b {option}: {_USAGE}")
        if key in values:
            raise RingError(f"-b {key}: given twice")
        try:
            values[key] = _number(key, text.strip())
        except (ValueError, OverflowError):
            what = ("a size in kB (or with a unit: 100MB)" if key == "filesize" else
                    "seconds > 0" if key in ("duration", "interval") else "a count >= 1")
            raise RingError(f"-b {option}: {key} takes {what}") from None
    return RingSpec(filesize=values.get("filesize"), duration_ns=values.get("duration"),
                    interval_ns=values.get("interval"), packets=values.get("packets"),
                    files=values.get("files"))


class Ring:
    """The files of one output: their names, when the next one starts, the oldest deleted.

    ``numbered`` (default: when ``spec`` switches) names the files ``STEM_NNNNN_TIME.EXT``;
    otherwise the one file is ``target`` itself. A writer asks :meth:`due` before each item,
    calls :meth:`advance` to start a file (the name to open) and :meth:`added` for what it put
    in it.
    """

    def __init__(self, target: str | os.PathLike[str], spec: RingSpec | None = None, *,
                 numbered: bool | None = None) -> None:
        self.target = os.fspath(target)
        self.spec = spec or RingSpec()
        self.numbered = self.spec.switches if numbered is None else numbered
        folder, base = os.path.split(self.target)
        stem, dot, ext = base.rpartition(".")
        if not dot or not stem:  # no extension (or a name starting with its only dot)
            stem, ext = base, ""
        else:
            ext = "." + ext
        self._folder, self._stem, self._ext = folder, stem, ext
        self.number = 0  # of the current file (0: none started yet)
        self.path: str | None = None
        self.items = 0  # in the current file
        self.size = 0  # bytes of the current file
        self.ends_ns: int | None = None  # the current file takes items before this time
        # With ``files``: the files of this ring still on disk, oldest first (at most N).
        self.kept: deque[str] = deque()
        self.deleted = 0

    def name(self, number: int, ts_ns: int) -> str:
        """The name of file ``number`` starting at ``ts_ns`` (dumpcap's form)."""
        if not self.numbered:
            return self.target
        stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(ts_ns // _NS))
        return os.path.join(self._folder, f"{self._stem}_{number:05d}_{stamp}{self._ext}")

    def check(self) -> None:
        """Raise the OSError that creating a file where the ring writes would (before any
        work is done: a missing or read-only directory)."""
        with tempfile.TemporaryFile(dir=self._folder or "."):
            pass

    def due(self, ts_ns: int, size: int) -> bool:
        """Whether an item of ``size`` bytes and time ``ts_ns`` starts the next file: no file
        yet, or the current one (holding an item at least) is past its time, its packets, or
        would pass its size with it."""
        if self.path is None:
            return True
        if not self.items or not self.spec.switches:
            return False
        spec = self.spec
        return ((self.ends_ns is not None and ts_ns >= self.ends_ns)
                or (spec.packets is not None and self.items >= spec.packets)
                or (spec.filesize is not None and self.size + size > spec.filesize))

    def advance(self, ts_ns: int) -> str:
        """Start the next file at ``ts_ns``: its name (to open). Past ``files``, the oldest
        file is deleted first, as dumpcap does, so the ring never holds more."""
        self.number += 1
        path = self.name(self.number, ts_ns)
        files = self.spec.files
        while self.numbered and files is not None and len(self.kept) >= files:
            old = self.kept.popleft()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(old)
            self.deleted += 1
        if self.numbered and files is not None:  # only what may have to go: bounded by N
            self.kept.append(path)
        self.path = path
        self.items = self.size = 0
        ends = []
        if self.spec.duration_ns is not None:
            ends.append(ts_ns + self.spec.duration_ns)
        if self.spec.interval_ns is not None:  # on a multiple of it, as dumpcap's interval
            ends.append((ts_ns // self.spec.interval_ns + 1) * self.spec.interval_ns)
        self.ends_ns = min(ends, default=None)
        return path

    def fits(self, times: np.ndarray, sizes: np.ndarray) -> int:
        """How many of the next items (their times and sizes, in order) go into the current
        file before one is :meth:`due`: 0 when the next starts a new file. The same rule as
        :meth:`due`, worked out over a batch at once."""
        count = len(times)
        if self.path is None:
            return 0
        spec = self.spec
        if not spec.switches:
            return count
        fit = count
        if self.ends_ns is not None:
            late = np.flatnonzero(times >= self.ends_ns)
            if len(late):
                fit = int(late[0])
        if spec.packets is not None:
            fit = min(fit, max(0, spec.packets - self.items))
        if spec.filesize is not None:
            total = self.size + np.cumsum(sizes)
            fit = min(fit, int(np.searchsorted(total, spec.filesize, side="right")))
        return max(fit, 1) if not self.items and count else fit

    def added(self, size: int, items: int = 1) -> None:
        self.size += size
        self.items += items


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _open(path: str) -> IO[bytes]:
    try:
        return open(path, "wb", buffering=0)  # the writer closes it
    except OSError as exc:
        raise RingError(f"{path}: {exc.strerror or exc}") from None


class CaptureRing:
    """A live capture's pcap byte stream (its file header, then batches of whole records) to
    the files of ``ring``, in ``fmt`` ``"pcap"`` (the records as they are, each file starting
    with the stream's file header) or ``"pcapng"`` (each file a section of its own: section
    header, the interface's description, the frames as Enhanced Packet Blocks in ns).

    :meth:`open` starts a file (the first one when the capture starts: an output that cannot
    be written is known before any packet); :meth:`start` takes the stream's file header,
    :meth:`write` each batch. ``frames``: how many were written, in all files.
    """

    def __init__(self, ring: Ring, fmt: str) -> None:
        if fmt not in ("pcap", "pcapng"):
            raise ValueError(f"unknown capture format {fmt!r}")
        self.ring = ring
        self.fmt = fmt
        self.frames = 0
        self._file_frames = 0
        self._sink: IO[bytes] | None = None
        self._whole: WholeRecords | None = None
        self._head: bytes | None = None  # what each file starts with
        self._nano = True
        # Walks the records (where each starts, its time); for pcapng it also writes them as
        # blocks of interface 0, whose description each file declares itself.
        self._reader = FrameReader(None, lambda _iface: (0, b""))
        self._fed = 0

    def open(self, ts_ns: int) -> None:
        """Close the current file and start the next one at ``ts_ns``."""
        self.close()
        path = self.ring.advance(ts_ns)
        self._sink = _open(path)
        self._whole = WholeRecords(self._sink)
        self._file_frames = 0
        if self._head is not None:
            self._put(self._head, [len(self._head)], 0)
            self.ring.added(len(self._head), 0)

    def start(self, header: bytes) -> None:
        """The stream's pcap file header: each file's own header is made from it."""
        self._reader.feed(header)
        self._fed = len(header)
        magic, _major, _minor, _zone, _sigfigs, snaplen, linktype = struct.unpack_from(
            "<IHHiIII", header)
        self._nano = magic == _PCAP_NS_MAGIC
        if self.fmt == "pcapng":
            from cmppdissect.sources.merge import interface_block, section_header

            iface = InterfaceLayout(linktype, snaplen, 9 if self._nano else 6, 0)
            self._head = section_header() + interface_block(iface)
        else:
            self._head = bytes(header)
        if self._sink is None:
            self.open(time.time_ns())
        else:
            self._put(self._head, [len(self._head)], 0)
            self.ring.added(len(self._head), 0)

    def write(self, batch: bytes) -> None:
        """Whole records: to the current file, or split between files where the ring says.
        :class:`RingError` when a file cannot be made or written (it then ends on a whole
        frame). The records are walked by the core, and where a batch is split is worked out
        on arrays: Python's own work is per file, not per frame."""
        base = self._fed
        self._reader.feed(batch)
        self._fed += len(batch)
        found: list[int] = []
        piece = self._reader.blocks(None, False, _ROOM, found)
        positions = np.array(found, np.int64).reshape(-1, 2)
        offsets = positions[:, 1] - base  # each record's start in the batch
        data, marks = (piece, positions[:, 0]) if self.fmt == "pcapng" else (batch, offsets)
        ends = np.append(marks[1:], len(data))  # where each frame ends in data
        ring, count = self.ring, len(marks)
        if not ring.spec.switches:
            self._put(data, ends.tolist(), count)
            ring.added(len(data), count)
            return
        sizes = ends - marks
        head = np.frombuffer(batch, np.uint8)[offsets[:, None] + np.arange(8)]
        sec, frac = head.view("<u4").astype(np.int64).T  # each record's time as stored
        times = sec * _NS + frac * (1 if self._nano else 1000)
        first = 0
        while first < count:
            fit = ring.fits(times[first:], sizes[first:])
            if not fit:
                self.open(int(times[first]))
                continue
            stop = first + fit
            start = int(marks[first])
            self._put(data[start:int(ends[stop - 1])], (ends[first:stop] - start).tolist(),
                      fit)
            ring.added(int(sizes[first:stop].sum()), fit)
            first = stop

    def _put(self, data: bytes, ends: list[int], frames: int) -> None:
        assert self._whole is not None and self.ring.path is not None
        try:
            self._whole.write(data, ends)
        except RecordsCutError as cut:
            if not frames and not self._whole.size:  # not even its header: no capture file
                self.close()
                _remove(self.ring.path)
                raise RingError(f"{self.ring.path}: {cut}: no room for the file's header (the "
                                "empty file is removed)") from None
            kept = self._file_frames + (cut.kept if frames else 0)
            self.frames += cut.kept if frames else 0
            raise RingError(f"{self.ring.path}: {cut}: the file ends with the last whole frame "
                            f"written ({kept} frames)") from None
        self._file_frames += frames
        self.frames += frames

    def close(self) -> None:
        if self._sink is not None:
            with contextlib.suppress(OSError):
                self._sink.close()
            self._sink = self._whole = None


class FrameRing:
    """:class:`~cmppdissect.sources.frames.FrameWriter`'s surface (``write``, ``flush``,
    ``frames``) over the files of ``ring``: each file written by a FrameWriter of its own,
    declaring every interface of ``interfaces`` (so each is readable alone)."""

    def __init__(self, ring: Ring, fmt: str, interfaces: Sequence[InterfaceLayout]) -> None:
        self.ring = ring
        self.fmt = fmt
        self.interfaces = list(interfaces)
        self._writer: FrameWriter | None = None
        self._sink: IO[bytes] | None = None
        self._done = 0  # frames in the files closed
        self._last_ns = 0

    @property
    def frames(self) -> int:
        return self._done + (self._writer.frames if self._writer is not None else 0)

    def write(self, frame: Frame) -> None:
        ts = frame.ts if frame.ts is not None else self._last_ns
        self._last_ns = ts
        n = len(frame.data)
        size = 16 + n if self.fmt == "pcap" else 32 + n + (-n % 4)  # a record, an EPB
        if self.ring.due(ts, size):
            self._next(ts)
        assert self._writer is not None
        with self._named():
            self._writer.write(frame)
        self.ring.added(size)

    def _next(self, ts_ns: int) -> None:
        from cmppdissect.sources.frames import FrameWriter

        self.close()
        path = self.ring.advance(ts_ns)
        self._sink = _open(path)
        with self._named():
            self._writer = FrameWriter(self._sink, self.fmt, self.interfaces)
        self.ring.added(self._writer.size, 0)

    @contextlib.contextmanager
    def _named(self) -> Iterator[None]:
        """A FrameWriter's error, with the name of the file it was writing."""
        from cmppdissect.sources.frames import FrameError

        try:
            yield
        except FrameError as exc:
            path = self.ring.path
            try:
                empty = self._sink is not None and not os.fstat(self._sink.fileno()).st_size
            except OSError:
                empty = False
            if empty and path is not None:  # not even its header: no capture file
                self._writer = None
                self.close()
                _remove(path)
                why = str(exc).split(": the file ends", 1)[0]
                raise FrameError(f"{path}: {why}: no room for the file's header (the empty "
                                 "file is removed)") from None
            raise FrameError(f"{path}: {exc}") from None

    def flush(self) -> None:
        """Write what is gathered (an empty capture file when no frame came at all)."""
        if self._writer is None:
            self._next(time.time_ns())
        assert self._writer is not None
        with self._named():
            self._writer.flush()

    def close(self) -> None:
        """Finish the current file."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                with self._named():
                    writer.flush()
            finally:
                self._done += writer.frames
        if self._sink is not None:
            with contextlib.suppress(OSError):
                self._sink.close()
            self._sink = None


class LineRing:
    """Lines, each a whole record with its newline, to the files of ``ring``: gathered, and
    written a batch at a time (and on :meth:`flush`); a write that fails leaves the file cut
    back to its last whole line and raises :class:`RingError`."""

    BATCH = 1 << 16

    def __init__(self, ring: Ring) -> None:
        self.ring = ring
        self.lines = 0  # written, in all files
        self._file_lines = 0
        self._sink: IO[bytes] | None = None
        self._whole: WholeRecords | None = None
        self._buf = bytearray()
        self._ends: list[int] = []

    def open(self, ts_ns: int) -> None:
        """Close the current file and start the next one at ``ts_ns``."""
        self._close_file()
        path = self.ring.advance(ts_ns)
        self._sink = _open(path)
        self._whole = WholeRecords(self._sink)
        self._file_lines = 0

    def write(self, line: bytes, ts_ns: int) -> None:
        if self.ring.due(ts_ns, len(line)):
            self.open(ts_ns)
        self._buf += line
        self._ends.append(len(self._buf))
        self.ring.added(len(line))
        if len(self._buf) >= self.BATCH:
            self.flush()

    def write_lines(self, data: bytes, times: Sequence[int]) -> None:
        """Lines joined (each ending with its newline), ``times`` the time of each."""
        at = 0
        for ts in times:
            end = data.index(b"\n", at) + 1
            self.write(data[at:end], ts)
            at = end

    def flush(self) -> None:
        if not self._buf:
            return
        assert self._whole is not None
        try:
            self._whole.write(bytes(self._buf), self._ends)
        except RecordsCutError as cut:
            self.lines += cut.kept
            raise RingError(f"{self.ring.path}: {cut}: the file ends with its last whole "
                            f"line ({self._file_lines + cut.kept} lines)") from None
        finally:
            count = len(self._ends)
            self._buf.clear()
            self._ends.clear()
        self._file_lines += count
        self.lines += count

    def _close_file(self) -> None:
        try:
            self.flush()
        finally:
            if self._sink is not None:
                with contextlib.suppress(OSError):
                    self._sink.close()
                self._sink = self._whole = None

    def close(self) -> None:
        """Write what is gathered and close the current file (an empty one when no line came
        at all, so that the output exists)."""
        if self.ring.path is None:
            self.open(time.time_ns())
        self._close_file()
