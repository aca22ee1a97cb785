"""Several captures read as one, merged by time as ``mergecap`` does.

``tcpdump -C``/``-G`` rotates its output, and two hosts may each capture one side of the same
traffic: a connection then spans several files. :class:`MergedSource` reads every input as a
stream of frames and hands the engine ONE pcapng byte stream (a section header, an interface
description per distinct interface of each input, then the frames as Enhanced Packet Blocks in
time order), so the compiled core reads it unchanged, a connection continues from one file to
the next, and frames are numbered 1..N over the merged stream, as mergecap's output would be.

The merge is a k-way merge on each input's next frame (ties in time keep the inputs' order, as
mergecap's does; an input whose own time goes backwards is not re-sorted), streaming: each input
holds at most one chunk and one record, so memory is bounded by the number of inputs, not by
their size. Equal frames from overlapping files are both kept (mergecap keeps them too; telling
a retransmission from a duplicate capture is the TCP reassembler's job).

Inputs may also be grouped into *chains* (``chains=``): the rotated pieces of one capture,
read one after another in the order given, as ``mergecap -a`` joins them, each chain then one
input of the merge by time. Merged by time instead, the pieces of a capture whose clock ran
backwards across a rotation (several queues, taps or CPUs stamping frames) would have their
frames around the cut interleaved by time: frames the capture wrote in one order, read in
another, so TCP sees segments out of order and latencies move (``bench/suite.py``'s
``jitter.pcap`` cut where its time steps back). Read as a chain, the pieces are the capture.

The inputs' records are walked by the compiled core: :class:`~cmppdissect.core.FrameReader` is
the :class:`~cmppdissect.core.CaptureReader` walk (the same length checks, findings and
:class:`CaptureLayout`) handing over frames, and writes a run of an input's frames as the merged
stream's blocks itself (its timestamps as stored, its interfaces declared here). This module
only decides whose frames come next. The layout each input's walk built lets a frame be read
again from its input by :class:`~cmppdissect.sources.frames.FrameFile` (``-w``).

Each input is opened by :class:`~cmppdissect.sources.file.FileSource` (gzip, sniffing, the
one-line error for a non-capture); findings about an input name it.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Final

from cmppdissect.core import FrameReader
from cmppdissect.core.records import (
    CaptureFormatError,
    CaptureLayout,
    CaptureNote,
    InterfaceLayout,
)
from cmppdissect.sources.file import CHUNK_SIZE, FileIdentity, FileSource, open_error
from cmppdissect.sources.frames import Frame, FrameError, FrameFile

__all__ = ["InputError", "MergedFrames", "MergedSource", "interface_block", "open_inputs",
           "section_header"]

CHAIN_OVERLAP_NS: Final = 1_000_000_000
"""How far (ns) a chain's next file may start before the end of the one it follows and still be
read as the next piece of one capture (a clock stepping back at a rotation: microseconds to
milliseconds); further, the two were captured side by side, and a note says so."""

_SHB: Final = 0x0A0D0D0A
_IDB: Final = 1
_BOM: Final = 0x1A2B3C4D


def section_header() -> bytes:
    """A little-endian pcapng Section Header Block of unknown length (a stream's first block)."""
    return struct.pack("<IIIHHqI", _SHB, 28, _BOM, 1, 0, -1, 28)


def interface_block(iface: InterfaceLayout) -> bytes:
    """The interface as declared to the merged stream: link type, snapshot length, and the
    timestamp resolution and offset its frames' stored timestamps are in (copied unchanged)."""
    opts = b""
    if iface.tsresol != 6:
        opts += struct.pack("<HHB3x", 9, 1, iface.tsresol)
    if iface.tsoffset:
        opts += struct.pack("<HHq", 14, 8, iface.tsoffset)
    if opts:
        opts += struct.pack("<HH", 0, 0)
    blen = 20 + len(opts)
    # A link type of -1 (an unusable description block) is declared as 0xFFFF: unsupported.
    return (struct.pack("<IIHHI", _IDB, blen, iface.linktype & 0xFFFF, 0, iface.snaplen)
            + opts + struct.pack("<I", blen))


class _Named(list[CaptureNote]):
    """The findings of one input's walk, each put straight into the merge's notes with the
    input's name (and no frame number: the input's numbers are not the merged stream's)."""

    def __init__(self, name: str, into: list[CaptureNote]) -> None:
        super().__init__()
        self._name = name
        self._into = into

    def append(self, note: CaptureNote) -> None:
        self._into.append(CaptureNote(None, f"{self._name}: {note.message}", note.severity))


class _Input:
    """One input of the merge: its chunks, walked by the core a frame at a time."""

    def __init__(self, source: FileSource, notes: list[CaptureNote],
                 declare: Callable[[InterfaceLayout], tuple[int, bytes]]) -> None:
        self.source = source
        self.reader = FrameReader(_Named(source.name, notes), declare)
        self._chunks = source.chunks()
        self._done = False

    def fill(self) -> bool:
        """Whether a frame is held, reading chunks for one (False: the input is over)."""
        reader = self.reader
        while not reader.ready:
            if self._done:
                return False
            chunk = next(self._chunks, None)
            if chunk is None:
                self._done = True
                reader.finish()
                self.source.close()
                return False
            reader.feed(chunk)
        return True


# Where the frames of a piece of the merged stream came from: the input, where the piece starts
# in the stream, and (position in the piece, offset in the input) pairs, flattened.
_Seen = Callable[[int, int, list[int]], None]


class MergedSource:
    """Several captures as one pcapng byte stream in time order (a :class:`ByteSource`).

    ``sources`` are opened inputs, in the order given (ties in time go to the earlier one).
    ``chains``: the indices of ``sources`` grouped into chains, each read one after another
    in its order (see the module); every source in exactly one; by default each its own.
    Offsets the core records are offsets in the merged stream; :meth:`frame_reader` maps them
    back to the inputs by merging again, for ``-w``.
    """

    live = False

    def __init__(self, sources: Sequence[FileSource], *,
                 chains: Sequence[Sequence[int]] | None = None,
                 notes: list[CaptureNote] | None = None,
                 reopen: Callable[[str], FileSource] = FileSource) -> None:
        if len(sources) < 2:
            raise ValueError("a merge takes two inputs or more")
        self.chains = ([[i] for i in range(len(sources))] if chains is None
                       else [list(chain) for chain in chains])
        if sorted(i for chain in self.chains for i in chain) != list(range(len(sources))) \
                or not all(self.chains):
            raise ValueError("chains must hold every input once")
        self.sources = list(sources)
        self.notes: list[CaptureNote] = notes if notes is not None else []
        # (file that ended, the next in its chain, seconds it starts before the other's end)
        self.overlaps: list[tuple[str, str, float]] = []
        # One chain: per input begun, the number its first frame has in the merged stream
        # (the next input's is one past its last frame), as the reading reaches it.
        self.first_frames: dict[int, int] = {}
        self.name = ", ".join(s.name for s in self.sources)
        self.compressed = any(s.compressed for s in self.sources)
        self.paths = [s.path for s in self.sources]
        self.identities = [s.identity for s in self.sources]
        self._reopen = reopen
        self._started = False
        self._stopped = False

    # -- the merged stream --------------------------------------------------------------------

    def _merge(self, sources: Sequence[FileSource], notes: list[CaptureNote],
               seen: _Seen | None = None, readers: list[FrameReader] | None = None
               ) -> Generator[bytes, None, None]:
        """The merged stream in chunks of about :data:`CHUNK_SIZE` bytes: the section header,
        then the frames (each interface's description before its first frame). ``seen`` is
        told where each frame came from; ``readers`` receives each input's reader (for its
        layout).

        A k-way merge on the chains' next frames (a chain's next frame is its current
        input's); the chain that comes first keeps going while its frames come before every
        other chain's next one, without touching the heap (files rotated by tcpdump follow
        each other: a file is one run, written by the core). An input that ends hands over
        to the next of its chain, whatever the time of that one's first frame."""
        count = 0

        def declare(iface: InterfaceLayout) -> tuple[int, bytes]:
            nonlocal count
            count += 1
            return count - 1, interface_block(iface)

        inputs = [_Input(source, notes, declare) for source in sources]
        if readers is not None:
            readers.extend(i.reader for i in inputs)
        chains = self.chains
        at = [0] * len(chains)  # each chain's current input, as a position in the chain

        def current(c: int) -> int | None:
            """Chain ``c``'s input that holds its next frame (those that ended passed), or None."""
            while at[c] < len(chains[c]):
                if len(chains) == 1:  # the frame number its first frame gets (if it has one)
                    self.first_frames.setdefault(chains[c][at[c]],
                                                 1 + sum(i.reader.handed for i in inputs))
                if inputs[chains[c][at[c]]].fill():
                    return chains[c][at[c]]
                at[c] += 1
            return None

        out = [section_header()]
        size = len(out[0])
        start = 0  # where out[0] starts in the stream
        try:
            heap = [(inputs[first].reader.ts, c) for c in range(len(chains))
                    if (first := current(c)) is not None]
            heapq.heapify(heap)
            while heap and not self._stopped:
                _, c = heapq.heappop(heap)
                index: int | None = chains[c][at[c]]
                until = heap[0][0] if heap else None
                inclusive = bool(heap) and c < heap[0][1]  # ties: the earlier chain first
                while index is not None and not self._stopped:
                    reader = inputs[index].reader
                    positions: list[int] | None = [] if seen is not None else None
                    piece = reader.blocks(until, inclusive, CHUNK_SIZE - size, positions)
                    if piece:
                        if seen is not None and positions:
                            seen(index, start + size, positions)
                        out.append(piece)
                        size += len(piece)
                        if size >= CHUNK_SIZE:
                            yield b"".join(out)
                            start += size
                            out, size = [], 0
                    if not reader.ready and not inputs[index].fill():
                        ended, index = index, current(c)  # the chain's next input
                        if index is not None:
                            self._overlap(inputs, ended, index, notes)
                        continue
                    ts = reader.ts
                    if until is not None and (ts > until or (ts == until and not inclusive)):
                        heapq.heappush(heap, (ts, c))
                        break
            if out:
                yield b"".join(out)
        finally:
            for source in sources:
                source.close()
                for note in source.notes:
                    notes.append(CaptureNote(note.frame, f"{source.name}: {note.message}",
                                             note.severity))
                source.notes.clear()

    def _overlap(self, inputs: Sequence[_Input], ended: int, following: int,
                 notes: list[CaptureNote]) -> None:
        """A chain's next input starting well before the one that ended: not the next piece of
        a rotation but a file captured side by side (another interface, the other end of a
        link), which a chain reads after the other instead of merged by time. Said once, as a
        warning, and kept in :attr:`overlaps` for whoever must not pretend otherwise."""
        first = inputs[following].reader.ts
        latest = inputs[ended].reader.latest_ts
        if latest is None or latest - first <= CHAIN_OVERLAP_NS:
            return
        seconds = (latest - first) / 1e9
        a, b = inputs[ended].source.name, inputs[following].source.name
        if notes is self.notes:
            self.overlaps.append((a, b, seconds))
        notes.append(CaptureNote(None, f"{b} starts {seconds:.1f} s before the end of {a}, "
                                 "the file before it in its chain: read after it, as the next "
                                 "piece of one capture; files captured side by side must be "
                                 "given apart (or merged by time first: mergecap -w)", "warn"))

    def chunks(self) -> Iterator[bytes]:
        """The merged pcapng stream in chunks of about :data:`CHUNK_SIZE` bytes (once)."""
        if self._started:
            raise RuntimeError("a capture source can be read only once")
        self._started = True
        yield from self._merge(self.sources, self.notes)
    # -- the ByteSource and the TUI's CaptureSource -------------------------------------------

    @property
    def path(self) -> str | None:
        """None: the merged stream is no file; :meth:`frame_reader` reads its frames again."""
        return None

    @property
    def progress(self) -> float | None:
        """The fraction of all the inputs consumed, or None when a size is unknown."""
        sizes = [s.file_size for s in self.sources]
        if not all(sizes):
            return None
        total = sum(size or 0 for size in sizes)
        return min(1.0, sum(s.bytes_read for s in self.sources) / total)

    @property
    def file_size(self) -> int | None:
        sizes = [s.file_size for s in self.sources]
        return sum(size or 0 for size in sizes) if all(sizes) else None

    def counters(self) -> tuple[tuple[str, int], ...]:
        return (("files", len(self.sources)),)

    def stop(self) -> None:
        """End the merge after the run of frames being written (a chunk at most; any thread)."""
        self._stopped = True

    def close(self) -> None:
        for source in self.sources:
            source.close()

    def __enter__(self) -> MergedSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- frames again ---------------------------------------------------------------------------

    def unreadable(self) -> str | None:
        """Why frames cannot be read again from the inputs (None when they can)."""
        for source, path in zip(self.sources, self.paths, strict=True):
            if path is None:
                why = ("is gzip-compressed (gunzip it first)" if source.compressed
                       else "is not a regular file")
                return f"{source.name} {why}"
        return None

    def frame_reader(self, offsets: Sequence[int], layout: CaptureLayout) -> MergedFrames:
        """A reader of the frames at ``offsets`` (offsets in the merged stream, ascending), as
        :class:`FrameFile` reads one file's: the inputs are merged again, as far as the last
        offset wanted, to find which input and where in it each frame is. ``layout`` is the
        merged stream's (the engine's). :class:`FrameError` when an input cannot be read again
        or changed since."""
        why = self.unreadable()
        if why is not None:
            raise FrameError(f"frames are read again from the capture files: {why}")
        wanted = sorted(set(offsets))
        found: dict[int, tuple[int, int]] = {}
        sources: list[FileSource] = []
        try:
            for path, was in zip(self.paths, self.identities, strict=True):
                assert path is not None
                try:
                    source = self._reopen(path)
                except (CaptureFormatError, OSError) as exc:
                    raise FrameError(f"{path}: cannot be read again ({exc})") from None
                sources.append(source)
                if _changed(was, source.identity):
                    raise FrameError(f"{path}: changed since it was read")
            notes: list[CaptureNote] = []
            readers: list[FrameReader] = []
            want, last = set(wanted), wanted[-1] if wanted else -1

            def seen(index: int, base: int, positions: list[int]) -> None:
                for k in range(0, len(positions), 2):
                    if base + positions[k] in want:
                        found[base + positions[k]] = (index, positions[k + 1])

            position = 0
            stream = self._merge(sources, notes, seen, readers)
            try:
                for chunk in stream:
                    position += len(chunk)
                    if position > last:
                        break
                layouts = [reader.capture_layout() for reader in readers]
            finally:
                stream.close()
        finally:
            for source in sources:
                source.close()
        missing = [o for o in wanted if o not in found]
        if missing:
            raise FrameError(f"no frame at offset {missing[0]} of the merged capture: an input "
                             "changed since it was read?")
        files = []
        for path, was, lay in zip(self.paths, self.identities, layouts, strict=True):
            assert path is not None
            files.append(FrameFile(path, lay or CaptureLayout("pcap", 16, ()), identity=was))
        return MergedFrames(layout, found, files)


class InputError(Exception):
    """An input of several that cannot be opened; the message names it, in one line."""


def open_inputs(paths: Sequence[str]) -> MergedSource:
    """Every input opened in turn (its header checked) and merged; the first that cannot be
    is named in an :class:`InputError`, and those opened before it are closed. The one
    opener of several inputs, for the command line and the TUI alike."""
    opened: list[FileSource] = []
    for path in paths:
        try:
            opened.append(FileSource(path))
        except (CaptureFormatError, OSError) as exc:
            for done in opened:
                done.close()
            raise InputError(open_error(path, exc) or str(exc)) from None
    return MergedSource(opened)


def _changed(was: FileIdentity | None, now: FileIdentity | None) -> bool:
    if was is None or now is None:
        return False
    return ((now.device, now.inode) != (was.device, was.inode) or now.size < was.size
            or (now.size == was.size and now.mtime_ns != was.mtime_ns))


class MergedFrames:
    """The frames of a merged capture, read again from their inputs (what ``-w`` writes):
    the :class:`FrameFile` surface over merged-stream offsets."""

    def __init__(self, layout: CaptureLayout, found: dict[int, tuple[int, int]],
                 files: list[FrameFile]) -> None:
        self.layout = layout
        self._found = found
        self._files = files

    def _where(self, offset: int) -> tuple[FrameFile, int]:
        where = self._found.get(offset)
        if where is None:
            raise FrameError(f"no frame at offset {offset} of the merged capture")
        return self._files[where[0]], where[1]

    def interface_at(self, offset: int) -> InterfaceLayout:
        """The interface of the frame at ``offset``, as its input declares it."""
        frames, at = self._where(offset)
        return frames.interface_at(at)

    def read(self, offset: int) -> Frame:
        frames, at = self._where(offset)
        return frames.read(at)

    def close(self) -> None:
        for frames in self._files:
            frames.close()

    def __enter__(self) -> MergedFrames:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
