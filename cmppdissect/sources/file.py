"""Capture files as chunks of bytes: a path, ``-`` (standard input) or a binary file object.

This is where files are opened and read; the container walk itself is the compiled core's
(:class:`cmppdissect.core.CaptureReader`), which takes the bytes this module hands over. gzip is
recognised by its magic (not by the file name) and undone here, concatenated members included,
so the core only ever sees pcap/pcapng bytes. A pipe is read with ``read1``, which returns what
the pipe has now instead of waiting for a full chunk, so ``tcpdump -w - | cmppdissect -`` stays
responsive.

A capture read from a regular file this module opened by its path, not compressed, has a
:attr:`FileSource.path`: the core's frame offsets are then offsets in that file, and a frame
can be read again from it (:mod:`cmppdissect.sources.frames`).

Opening reads the first bytes and checks them: an input that is not a capture raises
:class:`~cmppdissect.core.records.CaptureFormatError` with a one-line message, before anything
is read further. Read errors and damaged gzip data later on become
:class:`~cmppdissect.core.records.CaptureNote` findings: what was read is still analysed.
"""

from __future__ import annotations

import os
import stat
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final, NamedTuple

from cmppdissect.core import sniff
from cmppdissect.core.records import CaptureFormatError, CaptureNote

__all__ = ["CHUNK_SIZE", "FileIdentity", "FileSource"]

CHUNK_SIZE: Final = 256 * 1024
_GZIP_MAGIC: Final = b"\x1f\x8b"
_GZIP_OUT_MAX: Final = 4 * CHUNK_SIZE
_SNIFF: Final = 28  # enough for a pcap file header, or a pcapng section header's byte order


class FileIdentity(NamedTuple):
    """What a file was when it was opened, to tell later whether it is still that file."""

    device: int
    inode: int
    size: int
    mtime_ns: int


def open_error(path: str, exc: BaseException) -> str | None:
    """The one line (after ``cmppdissect: ``) for an input that cannot be opened as a capture,
    or None when ``exc`` is no such failure. The input is named as the user typed it, once: the
    reader's own name for it (``<stdin>`` for ``-``) is not repeated."""
    if isinstance(exc, CaptureFormatError):
        why = str(exc).removeprefix(f"{'<stdin>' if path == '-' else path}: ")
        return f"{path}: {why}"
    if isinstance(exc, IsADirectoryError):
        return f"{path}: is a directory"
    if isinstance(exc, FileNotFoundError):
        return f"{path}: no such file"
    if isinstance(exc, PermissionError):
        return f"{path}: permission denied"
    if isinstance(exc, OSError):
        return f"{path}: {exc.strerror or exc}"
    return None


class FileSource:
    """One capture input, read once as chunks of (decompressed) capture bytes.

    ``file_size``/``bytes_read`` count bytes of the underlying file (compressed bytes for
    gzip), so ``progress`` is the fraction consumed; both are None/unknown for pipes. Findings
    about the input itself go to ``notes``.
    """

    def __init__(self, source: str | os.PathLike[str] | IO[bytes], *,
                 notes: list[CaptureNote] | None = None, chunk_size: int = CHUNK_SIZE,
                 name: str | None = None) -> None:
        self.notes: list[CaptureNote] = notes if notes is not None else []
        self.name: str
        self.file_size: int | None = None
        self.bytes_read = 0
        self.compressed = False
        self.error: OSError | None = None  # the read error that ended the input, if any
        self.identity: FileIdentity | None = None  # a regular file: what it was when opened
        self._path: str | None = None
        self._chunk = chunk_size
        self._owned: IO[bytes] | None = None
        self._dec: zlib._Decompress | None = None
        self._dec_fed = False
        self._dec_tail = b""
        self._done = False
        self._started = False
        fileobj = self._open(source)
        if name is not None:
            self.name = name
        read1 = getattr(fileobj, "read1", None)
        self._raw_read = read1 if callable(read1) else fileobj.read
        try:
            self._head = self._sniff()
        except BaseException:
            self.close()
            raise

    # -- opening -------------------------------------------------------------------------------

    def _open(self, source: str | os.PathLike[str] | IO[bytes]) -> IO[bytes]:
        if isinstance(source, (str, os.PathLike)):
            if str(source) == "-":
                self.name = "<stdin>"
                fileobj: IO[bytes] = sys.stdin.buffer
            else:
                self.name = str(source)
                fileobj = open(Path(source), "rb", buffering=0)  # noqa: SIM115 - closed in close()
                self._owned = fileobj
        else:
            fileobj = source
            self.name = str(getattr(source, "name", "<stream>"))
        try:
            st = os.fstat(fileobj.fileno())
            if stat.S_ISREG(st.st_mode):
                self.identity = FileIdentity(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
                if self._owned is not None:
                    self._path = self.name
                # A file object may already be past its start; progress counts from there.
                try:
                    here = fileobj.tell() if fileobj.seekable() else 0
                except OSError:
                    here = 0
                self.file_size = st.st_size - here
        except (OSError, AttributeError, ValueError):
            pass
        return fileobj

    def _sniff(self) -> bytes:
        """Read the first bytes, switch to gzip if they say so, and check the capture header."""
        head = b""
        while len(head) < 2:
            data = self._raw()
            if not data:
                break
            head += data
        if head.startswith(_GZIP_MAGIC):
            self.compressed = True
            self._dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._dec_tail = head
            head = b""
            while len(head) < _SNIFF:
                more = self._read_gzip()
                if not more:
                    break
                head += more
        else:
            while len(head) < _SNIFF:
                more = self._raw()
                if not more:
                    self._done = True
                    break
                head += more
        kind, reason = sniff(head[:_SNIFF])
        if kind is None:
            raise CaptureFormatError(self._format_error(reason or "unknown", head))
        self.format = kind
        return head

    def _format_error(self, reason: str, head: bytes) -> str:
        what = "gzip-compressed file" if self.compressed else "file"
        if reason == "empty":
            if self.error is not None:  # e.g. EIO: say so, it is not an empty file
                return f"{self.name}: cannot read: {self.error.strerror or self.error}"
            return f"{self.name}: empty {what}, not a pcap/pcapng capture"
        if reason == "pcap-truncated":
            return f"{self.name}: pcap file header truncated"
        if reason == "pcapng-bom":
            return f"{self.name}: corrupt pcapng section header (bad byte-order magic)"
        hint = ""
        if self.compressed:
            hint = " inside the gzip data"
        elif head[:1] in (b"<", b"{", b"#") or (head[:5].isascii() and head[:5].isalpha()):
            hint = " (looks like text)"
        return f"{self.name}: not a pcap or pcapng capture{hint} (starts with {head[:4].hex()})"

    # -- reading -------------------------------------------------------------------------------

    def _raw(self) -> bytes:
        try:
            data = self._raw_read(self._chunk)
        except OSError as exc:
            self.error = exc
            self.notes.append(CaptureNote(None, f"read error, capture ends here: {exc}", "error"))
            return b""
        self.bytes_read += len(data or b"")
        return data or b""

    def _read_gzip(self) -> bytes:
        dec = self._dec
        assert dec is not None
        while True:
            if self._dec_tail:
                data, self._dec_tail = self._dec_tail, b""
            else:
                data = self._raw()
                if not data:
                    self._done = True
                    if self._dec_fed and not dec.eof:
                        self.notes.append(CaptureNote(
                            None, "gzip stream ends early (file truncated?)", "warn"))
                    return b""
            self._dec_fed = True
            try:
                out: bytes = dec.decompress(data, _GZIP_OUT_MAX)
            except zlib.error as exc:
                self._done = True
                self.notes.append(CaptureNote(
                    None, f"gzip data corrupt, capture ends here ({exc})", "error"))
                return b""
            self._dec_tail = dec.unconsumed_tail
            if dec.eof:
                rest = dec.unused_data
                dec = self._dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._dec_fed = False
                if rest.startswith(_GZIP_MAGIC):  # another member (concatenated .gz files)
                    self._dec_tail = rest
                elif rest.strip(b"\x00"):
                    self.notes.append(CaptureNote(
                        None, "ignored non-gzip data after the gzip stream", "note"))
                    self._done = True
                    return out
                else:
                    self._dec_tail = b""
            if out:
                return out

    def read(self) -> bytes:
        """The next chunk of capture bytes; ``b""`` at the end (after any note about why)."""
        if self._head:
            head, self._head = self._head, b""
            return head
        if self._done:
            return b""
        if self._dec is not None:
            return self._read_gzip()
        data = self._raw()
        if not data:
            self._done = True
        return data

    def chunks(self) -> Iterator[bytes]:
        """Every chunk of the capture, once (a second iteration is refused)."""
        if self._started:
            raise RuntimeError("a capture source can be read only once")
        self._started = True
        while True:
            data = self.read()
            if not data:
                return
            yield data

    # -- public surface ------------------------------------------------------------------------

    @property
    def path(self) -> str | None:
        """The capture's path when frames can be read again from it at the core's offsets: a
        regular file this source opened by its path, not gzip-compressed (None for stdin,
        pipes, file objects handed in and gzip)."""
        return None if self.compressed else self._path

    @property
    def progress(self) -> float | None:
        """Fraction of the input file consumed so far, or None when its size is unknown."""
        if not self.file_size:
            return None
        return min(1.0, self.bytes_read / self.file_size)

    def fileno(self) -> int | None:
        """The descriptor of the file this source opened itself (None for streams it was given)."""
        return self._owned.fileno() if self._owned is not None else None

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
