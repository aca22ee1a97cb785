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

Why not the existing readers: the core's container walk goes straight to TCP segments and
keeps no frame, and dpkt's readers give float timestamps (nanoseconds lost), one interface
per pcapng file and no length on the wire, and trust block lengths. :class:`_Walk` reads the
records with every length checked against the same caps as the core (``MAX_CAPLEN``,
``MAX_BLOCK``), and builds the :class:`CaptureLayout` of what it read, so that a frame can be
read again from its input by :class:`~cmppdissect.sources.frames.FrameFile` (``-w``).

Each input is opened by :class:`~cmppdissect.sources.file.FileSource` (gzip, sniffing, the
one-line error for a non-capture); findings about an input name it.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Final, NamedTuple

from cmppdissect.core import MAX_BLOCK, MAX_CAPLEN
from cmppdissect.core._capture import PCAP_MAGICS
from cmppdissect.core.records import (
    CaptureFormatError,
    CaptureLayout,
    CaptureNote,
    InterfaceLayout,
    SectionLayout,
)
from cmppdissect.sources.file import CHUNK_SIZE, FileIdentity, FileSource, open_error
from cmppdissect.sources.frames import Frame, FrameError, FrameFile, ts_to_ns

__all__ = ["InputError", "MergedFrames", "MergedSource", "open_inputs"]

_SHB: Final = 0x0A0D0D0A
_IDB: Final = 1
_PB: Final = 2
_SPB: Final = 3
_EPB: Final = 6
_BOM: Final = 0x1A2B3C4D
_EPB_HEAD: Final = struct.Struct("<IIIIIII")
_TRAILER: Final = struct.Struct("<I")
_NS: Final = 1_000_000_000
_PAD: Final = (b"", b"\0\0\0", b"\0\0", b"\0")


class _Walk:
    """The frames of one capture input, in file order, with their offsets in it.

    ``layout`` grows as the walk goes: what :class:`FrameFile` needs to read a frame again.
    A damaged record ends the input with a note (what was read before it is merged).
    """

    def __init__(self, source: FileSource, notes: list[CaptureNote],
                 declare: Callable[[InterfaceLayout], int]) -> None:
        self.source = source
        self.notes = notes
        self._declare = declare  # the merged stream's number for one of this input's interfaces
        self._chunks = source.chunks()
        self._buf = b""
        self._at = 0  # where the next record starts in _buf
        self._base = 0  # the input offset of _buf[0]
        self._eof = False
        self._sections: list[SectionLayout] = []
        self._record_header = 16
        self.format = source.format
        self.records = 0
        self.last_ns = 0  # a pcapng Simple Packet Block has no time: the previous frame's

    # -- bytes ----------------------------------------------------------------------------------

    def _have(self, need: int) -> bool:
        """Whether ``need`` bytes from the next record are in the buffer (reading for them)."""
        while len(self._buf) - self._at < need:
            if self._eof:
                return False
            chunk = next(self._chunks, b"")
            if not chunk:
                self._eof = True
                return False
            self._base += self._at
            self._buf = self._buf[self._at:] + chunk
            self._at = 0
        return True

    def _skip(self, size: int) -> bool:
        """Step over ``size`` bytes without keeping them (an oversized block)."""
        while True:
            avail = len(self._buf) - self._at
            if avail >= size:
                self._at += size
                return True
            size -= avail
            self._base += len(self._buf)
            self._buf, self._at = b"", 0
            if not self._have(1):
                return False

    def _note(self, message: str, severity: str = "warn") -> None:
        self.notes.append(CaptureNote(None, f"{self.source.name}: {message}", severity))

    def _truncated(self) -> None:
        left = len(self._buf) - self._at
        if left:
            self._note(f"file is truncated: the last record is incomplete ({left} bytes "
                       "ignored); everything before it was read")

    # -- the layout ---------------------------------------------------------------------------

    def layout(self) -> CaptureLayout | None:
        """What reading this input's frames again needs (None before its header was read)."""
        if not self._sections:
            return None
        return CaptureLayout(self.format, self._record_header, tuple(self._sections))

    def _section(self, offset: int, big: bool) -> None:
        self._sections.append(SectionLayout(offset, big, ()))

    def _interface(self, iface: InterfaceLayout) -> None:
        last = self._sections[-1]
        self._sections[-1] = SectionLayout(last.offset, last.big_endian,
                                           (*last.interfaces, iface))

    # -- records ------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[_Item]:
        try:
            if self.format == "pcap":
                yield from self._pcap()
            else:
                yield from self._pcapng()
        finally:
            self.source.close()

    def _pcap(self) -> Iterator[_Item]:
        if not self._have(24):
            self._note("pcap file header truncated", "error")
            return
        head = self._buf[self._at:self._at + 24]
        big, mul, self._record_header = PCAP_MAGICS[head[:4]]
        order = ">" if big else "<"
        snaplen, linktype = struct.unpack_from(order + "II", head, 16)
        iface = InterfaceLayout(linktype & 0xFFFF, snaplen, 9 if mul == 1 else 6, 0)
        unit = 10 ** iface.tsresol
        self._section(self._base + self._at, big)
        self._interface(iface)
        self._at += 24
        size = self._record_header
        header = struct.Struct(order + "IIII")
        ifid = -1
        epb_head, trailer = _EPB_HEAD.pack, _TRAILER.pack
        while self._have(size):
            sec, frac, caplen, wire = header.unpack_from(self._buf, self._at)
            if caplen > MAX_CAPLEN:
                self._note(f"record {self.records + 1}: captured length {caplen} is not "
                           "plausible; the file is corrupt from here on and reading stops",
                           "error")
                return
            if not self._have(size + caplen):
                break
            start = self._at + size
            offset = self._base + self._at
            self._at = start + caplen
            self.records += 1
            raw = sec * unit + frac
            ts = sec * _NS + frac * mul
            if ifid < 0:  # declared with the first frame: an input without any declares none
                ifid = self._declare(iface)
            pad = _PAD[caplen & 3]
            blen = 32 + caplen + len(pad)
            yield ts, b"".join((epb_head(_EPB, blen, ifid, raw >> 32, raw & 0xFFFFFFFF, caplen,
                                         max(wire, caplen)),
                                self._buf[start:start + caplen], pad, trailer(blen))), offset
        self._truncated()

    def _pcapng(self) -> Iterator[_Item]:
        order = "<"
        interfaces: list[InterfaceLayout] = []
        ids: dict[InterfaceLayout, int] = {}
        while self._have(12):
            at = self._at
            btype = struct.unpack_from("<I", self._buf, at)[0]
            if btype == _SHB:
                bom = self._buf[at + 8:at + 12]
                if bom == b"\x1a\x2b\x3c\x4d":
                    order = ">"
                elif bom == b"\x4d\x3c\x2b\x1a":
                    order = "<"
                else:
                    self._note("corrupt pcapng section header; reading stops", "error")
                    return
            btype, blen = struct.unpack_from(order + "II", self._buf, at)
            if blen < 12 or blen & 3:
                self._note(f"corrupt pcapng block (length {blen}); reading stops", "error")
                return
            if blen > MAX_BLOCK:
                if btype in (_EPB, _SPB, _PB):
                    self.records += 1
                    self._note(f"record {self.records}: pcapng block of {blen} bytes is not "
                               "plausible; skipped")
                if btype == _SHB:  # its interfaces are the previous section's, as for the core
                    self._sections.append(SectionLayout(
                        self._base + at, order == ">",
                        self._sections[-1].interfaces if self._sections else ()))
                if not self._skip(blen):
                    self._truncated()
                    return
                continue
            if not self._have(blen):
                break
            at = self._at
            offset = self._base + at
            self._at = at + blen
            buf = self._buf
            if btype == _SHB:
                interfaces = []
                self._section(offset, order == ">")
            elif btype == _IDB:
                iface = _idb(buf, at, blen, order)
                interfaces.append(iface)
                self._interface(iface)
            elif btype in (_EPB, _PB, _SPB):
                self.records += 1
                frame = self._packet(buf, at, blen, btype, order, interfaces, offset)
                if frame is not None:
                    on = frame.interface
                    assert on is not None
                    ifid = ids.get(on)
                    if ifid is None:
                        ifid = ids[on] = self._declare(on)
                    yield frame.ts or 0, _epb(ifid, frame), offset
        self._truncated()

    def _packet(self, buf: bytes, at: int, blen: int, btype: int, order: str,
                interfaces: list[InterfaceLayout], offset: int) -> Frame | None:
        if btype == _SPB:
            if blen < 16 or not interfaces:
                self._note(f"record {self.records}: simple packet block without interface")
                return None
            iface = interfaces[0]
            wire = struct.unpack_from(order + "I", buf, at + 8)[0]
            caplen = min(wire, blen - 16)
            if iface.snaplen:
                caplen = min(caplen, iface.snaplen)
            return Frame(iface.linktype, buf[at + 12:at + 12 + caplen], wire, self.last_ns,
                         offset, iface, None)
        if blen < 32:
            self._note(f"record {self.records}: packet block too short")
            return None
        if btype == _PB:
            ifid, _drops, high, low, caplen, wire = struct.unpack_from(order + "HHIIII", buf,
                                                                        at + 8)
        else:
            ifid, high, low, caplen, wire = struct.unpack_from(order + "IIIII", buf, at + 8)
        if ifid >= len(interfaces):
            self._note(f"record {self.records}: packet on undeclared interface {ifid}")
            return None
        if caplen > blen - 32:
            self._note(f"record {self.records}: captured length {caplen} overruns its block")
            return None
        iface = interfaces[ifid]
        raw = (high << 32) | low
        ts = ts_to_ns(raw, iface.tsresol, iface.tsoffset)
        self.last_ns = ts
        return Frame(iface.linktype, buf[at + 28:at + 28 + caplen], max(wire, caplen), ts,
                     offset, iface, raw)


def _idb(buf: bytes, at: int, blen: int, order: str) -> InterfaceLayout:
    """An Interface Description Block's link type, snapshot length, if_tsresol and
    if_tsoffset (options walked with every length checked, as the core does)."""
    if blen < 20:
        return InterfaceLayout(-1, 0)
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", buf, at + 8)
    resol, offset_s = 6, 0
    pos, stop = at + 16, at + blen - 4
    while pos + 4 <= stop:
        code, length = struct.unpack_from(order + "HH", buf, pos)
        pos += 4
        if code == 0 or pos + length > stop:
            break
        if code == 9 and length >= 1:
            resol = buf[pos]
        elif code == 14 and length >= 8:
            offset_s = struct.unpack_from(order + "q", buf, pos)[0]
        pos += (length + 3) & ~3
    return InterfaceLayout(linktype, snaplen, resol, offset_s)


def _shb() -> bytes:
    return struct.pack("<IIIHHqI", _SHB, 28, _BOM, 1, 0, -1, 28)


def _idb_block(iface: InterfaceLayout) -> bytes:
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


def _epb(ifid: int, frame: Frame) -> bytes:
    """An Enhanced Packet Block with the frame's timestamp as stored (struct, not dpkt: this is
    once per frame of every input)."""
    iface = frame.interface
    assert iface is not None
    raw = frame.raw_ts
    if raw is None:  # a Simple Packet Block's guessed time, in its interface's units
        from cmppdissect.sources.frames import ns_to_raw

        raw = ns_to_raw(frame.ts or 0, iface.tsresol, iface.tsoffset)
    raw &= 0xFFFFFFFFFFFFFFFF
    data = frame.data
    pad = _PAD[len(data) & 3]
    blen = 32 + len(data) + len(pad)
    return b"".join((_EPB_HEAD.pack(_EPB, blen, ifid, raw >> 32, raw & 0xFFFFFFFF, len(data),
                                     frame.wire_length), data, pad, struct.pack("<I", blen)))


_Item = tuple[int, bytes, int]  # a frame of one input: time (ns), its merged-stream block, offset


class _Block(NamedTuple):
    data: bytes
    input: int  # which input the frame came from (-1: not a frame)
    offset: int  # the frame's offset in that input


class MergedSource:
    """Several captures as one pcapng byte stream in time order (a :class:`ByteSource`).

    ``sources`` are opened inputs, in the order given (ties in time go to the earlier one).
    Offsets the core records are offsets in the merged stream; :meth:`frame_reader` maps them
    back to the inputs by merging again, for ``-w``.
    """

    live = False

    def __init__(self, sources: Sequence[FileSource], *,
                 notes: list[CaptureNote] | None = None,
                 reopen: Callable[[str], FileSource] = FileSource) -> None:
        if len(sources) < 2:
            raise ValueError("a merge takes two inputs or more")
        self.sources = list(sources)
        self.notes: list[CaptureNote] = notes if notes is not None else []
        self.name = ", ".join(s.name for s in self.sources)
        self.compressed = any(s.compressed for s in self.sources)
        self.paths = [s.path for s in self.sources]
        self.identities = [s.identity for s in self.sources]
        self._reopen = reopen
        self._started = False
        self._stopped = False

    # -- the merged stream --------------------------------------------------------------------

    def _blocks(self, sources: Sequence[FileSource], notes: list[CaptureNote],
                walks: list[_Walk] | None = None) -> Generator[_Block, None, None]:
        """The merged stream as blocks: the section header, then each frame (after the
        description of its interface, declared when its input's first frame on it is read).
        ``walks`` receives each input's walk (for its layout).

        A k-way merge on the inputs' next frames; the input that comes first keeps going while
        its frames come before every other input's next one, without touching the heap (files
        rotated by tcpdump follow each other: a file is one run)."""
        yield _Block(_shb(), -1, -1)
        ids: dict[tuple[int, InterfaceLayout], int] = {}
        declared: list[bytes] = []  # interface descriptions not yet in the stream

        def declarer(index: int) -> Callable[[InterfaceLayout], int]:
            def declare(iface: InterfaceLayout) -> int:
                key = (index, iface)
                ifid = ids.get(key)
                if ifid is None:
                    ifid = ids[key] = len(ids)
                    declared.append(_idb_block(iface))
                return ifid
            return declare

        made = [_Walk(source, notes, declarer(i)) for i, source in enumerate(sources)]
        if walks is not None:
            walks.extend(made)
        frames = [iter(walk) for walk in made]
        heap: list[tuple[int, int, bytes, int]] = []
        try:
            for index, it in enumerate(frames):
                first = next(it, None)
                if first is not None:
                    heap.append((first[0], index, first[1], first[2]))
            heapq.heapify(heap)
            while heap and not self._stopped:
                ts, index, block, offset = heapq.heappop(heap)
                bound = heap[0][:2] if heap else None
                it = frames[index]
                while True:
                    while declared:
                        yield _Block(declared.pop(0), -1, -1)
                    yield _Block(block, index, offset)
                    item = next(it, None)
                    if item is None:
                        break
                    ts, block, offset = item
                    if bound is not None and (ts, index) > bound:
                        heapq.heappush(heap, (ts, index, block, offset))
                        break
                    if self._stopped:
                        break
        finally:
            for it in frames:
                close = getattr(it, "close", None)
                if close is not None:
                    close()
            for source in sources:
                source.close()
                for note in source.notes:
                    notes.append(CaptureNote(note.frame, f"{source.name}: {note.message}",
                                             note.severity))
                source.notes.clear()

    def chunks(self) -> Iterator[bytes]:
        """The merged pcapng stream in chunks of about :data:`CHUNK_SIZE` bytes (once)."""
        if self._started:
            raise RuntimeError("a capture source can be read only once")
        self._started = True
        out: list[bytes] = []
        size = 0
        for block in self._blocks(self.sources, self.notes):
            out.append(block.data)
            size += len(block.data)
            if size >= CHUNK_SIZE:
                yield b"".join(out)
                out, size = [], 0
        if out:
            yield b"".join(out)

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
        """End the merge at the next frame (from any thread)."""
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
            walks: list[_Walk] = []
            position = 0
            pick = iter(wanted)
            target = next(pick, None)
            stream = self._blocks(sources, notes, walks)
            try:
                for block in stream:
                    if target is None:
                        break
                    if position == target:
                        found[position] = (block.input, block.offset)
                        target = next(pick, None)
                    position += len(block.data)
                layouts = [walk.layout() for walk in walks]
            finally:
                stream.close()
        finally:
            for source in sources:
                source.close()
        missing = [o for o in wanted if o not in found or found[o][0] < 0]
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
