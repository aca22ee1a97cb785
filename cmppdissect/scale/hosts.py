"""Which capture files are one host, and in which order a host's files are read.

A *host* is one capture point (a gateway, a tap): its files are rotated pieces of one stream
(``tcpdump -G``/``-C``, dumpcap rings), so a TCP connection, a PDU cut by a rotation, a SUBMIT
and its response, the parts of a long SMS all continue from one file to the next. A host is
therefore read whole, as ONE stream, in one task: its files form a *chain*, ordered by their
first frame's time and read one after another (``mergecap -a``, a chain of
:class:`~cmppdissect.sources.merge.MergedSource`), so the engine itself joins what crosses a
file boundary, and frames come in the order the capture wrote them even where its clock ran
backwards across a rotation. Hosts are what run in parallel.

Which files are one host is stated, never guessed from the traffic (predictable):

* by default, the files of one directory are one host (``/captures/gw1/*.pcap``);
* ``host_pattern`` (``--host REGEX``): the host is what the pattern matches in the file's path
  (its first group if it has one), files it does not match are refused;
* ``hosts={name: [paths]}`` in Python: given outright.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cmppdissect.core import FrameReader
from cmppdissect.core.records import CaptureFormatError, CaptureNote
from cmppdissect.sources.file import FileSource, open_error

__all__ = ["Host", "first_timestamp", "group_hosts"]


@dataclass(frozen=True, slots=True)
class Host:
    """A host's name and its files, as given (the task orders them by time)."""

    name: str
    paths: tuple[str, ...]


def group_hosts(paths: Sequence[str | os.PathLike[str]], *,
                host_pattern: str | None = None,
                hosts: Mapping[str, Sequence[str | os.PathLike[str]]] | None = None
                ) -> list[Host]:
    """The hosts of ``paths`` (see the module): in the order each first appears, each with
    its files in the order given, as absolute paths (a worker's working directory is not
    this one's: shared storage must show the files at the same absolute paths).
    ``ValueError`` for a file that is given twice, missing, a directory or not readable, a
    file that ``host_pattern`` does not match, ``-`` (standard input is no file to share) or
    nothing."""
    if hosts is not None:
        if paths:
            raise ValueError("give the files either as paths or as hosts, not both")
        named = [(str(name), [os.fspath(p) for p in files]) for name, files in hosts.items()]
    else:
        pattern = re.compile(host_pattern) if host_pattern is not None else None
        groups: dict[str, list[str]] = {}
        for raw in paths:
            path = os.fspath(raw)
            if pattern is None:
                name = os.path.dirname(os.path.abspath(path))
            else:
                found = pattern.search(path)
                if found is None:
                    raise ValueError(f"{path}: --host {host_pattern!r} does not match it")
                name = found.group(1) if pattern.groups else found.group(0)
                if not name:  # an empty match, or a group that took no part: no name
                    raise ValueError(f"{path}: --host {host_pattern!r} names no host in it "
                                     "(it matches an empty string)")
            groups.setdefault(name, []).append(path)
        named = list(groups.items())
    seen: set[str] = set()
    out = []
    for name, files in named:
        if not files:
            raise ValueError(f"host {name!r} has no file")
        for path in files:
            if path == "-":
                raise ValueError("- (standard input) cannot be shared with workers: give files")
            key = os.path.realpath(path)
            if key in seen:
                raise ValueError(f"{path}: given twice")
            seen.add(key)
            _check_file(path)
        out.append(Host(name, tuple(os.path.abspath(p) for p in files)))
    if not out:
        raise ValueError("no capture given")
    return out


def _check_file(path: str) -> None:
    """A path that names no file to read (missing, a directory, not permitted, a pipe or a
    device, which a worker would wait on for ever) is a mistake in the command, said before
    any task runs; a file that is there but is no capture is a finding of its host's task
    (:func:`first_timestamp`)."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        if not os.access(path, os.R_OK):
            raise PermissionError(path)
    except OSError as exc:
        raise ValueError(open_error(path, exc)) from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path}: not a regular file (a task reads its files from shared "
                         "storage)")


def first_timestamp(path: str) -> tuple[int | None, str | None]:
    """The time (ns) of the file's first frame, read by the compiled container walk (the
    first records only), or None for a capture without frames; with the one-line reason when
    the file cannot be read as a capture (then the time is None)."""
    notes: list[CaptureNote] = []
    try:
        source = FileSource(path)
    except (CaptureFormatError, OSError) as exc:
        return None, open_error(path, exc) or str(exc)
    with source:
        reader = FrameReader(notes)
        for chunk in source.chunks():
            reader.feed(chunk)
            if reader.ready:
                return reader.ts, None
        reader.finish()
        return (reader.ts if reader.ready else None), None
