"""Capture files that end on a whole record, even when the disk fills up.

``-w`` (copying frames from a file) and ``-i ... -w`` (keeping what a live capture takes) both
write records in batches. When a write fails part way (ENOSPC), the bytes that did reach a
regular file would end in the middle of a record, and tools reading it would stop on a
damaged one: the file is cut back to the last record that reached it whole instead.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Sequence
from typing import IO

__all__ = ["RecordsCutError", "WholeRecords"]


class RecordsCutError(Exception):
    """A write failed; the file now ends with the last whole record. ``kept``: how many
    records of the failed batch are in it."""

    def __init__(self, error: OSError, kept: int) -> None:
        super().__init__(error.strerror or str(error))
        self.error = error
        self.kept = kept


class WholeRecords:
    """Whole records to ``out`` (best unbuffered: what it takes is what the file has).
    ``size``: the bytes of whole records written so far."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.size = 0

    def write(self, batch: bytes, ends: Sequence[int]) -> None:
        """Write ``batch``, whose records end at ``ends`` (increasing offsets in it, the last
        one its length). A reader that went away (a broken pipe) is not the file's error and
        is raised as it is; any other failure cuts a regular file back and raises
        :class:`RecordsCutError`."""
        done = 0
        try:
            while done < len(batch):
                n = self.out.write(batch[done:] if done else batch)
                done = len(batch) if n is None else done + n
            self.out.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            kept = sum(1 for end in ends if end <= done)
            whole = ends[kept - 1] if kept else 0
            try:
                fd = self.out.fileno()
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    os.ftruncate(fd, self.size + whole)
                    os.lseek(fd, self.size + whole, os.SEEK_SET)
            except (OSError, ValueError, io.UnsupportedOperation):
                pass
            self.size += whole
            raise RecordsCutError(exc, kept) from None
        self.size += len(batch)
