"""Scale-out on Dask against the single-process engine, on the same files; and the merge's cost.

    python bench/bench_scale.py [--hosts H] [--frames N] [--files F] [--runs R] [--parquet]
    python bench/bench_scale.py --suite [--only NAME,...] [--frames N] [--files F] [--runs R]
                                [--parquet]

Builds ``H`` host directories (cached under ``$TMPDIR/cmppdissect-bench/scale-...``), each a
capture of ``bench/gen_capture.py`` (``N`` frames, its own seed) rotated into ``F`` files, and
times, each the median of ``R`` runs:

* one process: ``cmppdissect.analyze(all files).report()`` (every file merged by time into one
  stream, the one-machine answer);
* ``cmppdissect.analyze_many(all files, client=...)`` on a local ``distributed`` cluster of 1
  and of 2 worker processes (one thread each), the cluster started before the clock (a real
  cluster is up already); the speed-up is one process's time over it;
* with ``--parquet``: the same with the Parquet outputs (``write_parquet`` against the dataset).

Then the merge step alone (:func:`cmppdissect.scale.merge.merge_parts`) over 4 to 256 parts
(the parts of the hosts above, repeated), and a host's task (its chain ordered by the files'
first timestamps, read as one stream) as the number of files it is rotated into grows.

``--suite``: the captures of ``bench/suite.py`` instead (``--only`` some of them, ``N``
frames, 300,000 by default), each rotated into ``F`` files as ``tcpdump -C`` would
(:func:`rotate`: at packet boundaries, the container kept). For each capture, whether
``analyze_many(its files)`` is exactly ``analyze(the capture).report()`` in every section
(:func:`verdict`, field by field, frame numbers included: one host), then the times of one
process on the capture against ``analyze_many`` with 1 and 2 workers; last, every capture
as a host of its own at once (each its own gateway address), for the 2-worker speed-up.
``--suite --parquet``: instead of the hosts at once, each capture's dataset: whether it holds
``analyze(the capture).tables()``'s rows (:func:`dataset_differences`), and the times of
``write_parquet`` in one process against ``analyze_many(..., parquet=...)`` with 1 and 2
workers (the host's own task, and a task per share of its files writing their PDU rows).
"""

from __future__ import annotations

import argparse
import bisect
import copy
import datetime
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite
from gen_capture import generate

import cmppdissect
from cmppdissect.protocol.commands import DEFAULT_PORTS
from cmppdissect.scale.dask import local_client
from cmppdissect.scale.hosts import Host
from cmppdissect.scale.merge import merge_parts
from cmppdissect.scale.parts import analyze_host

SETTINGS: dict[str, Any] = {"ports": DEFAULT_PORTS, "version": None, "timeout_s": 60.0,
                            "secrets": {}, "heuristic": True}


# -- a capture rotated into files, as tcpdump -C / -G would -----------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """A record of a capture file as it is stored: a frame, or a block that is none."""

    raw: bytes
    frame: bool  # a packet (a pcap record; a pcapng EPB, SPB or PB)
    head: int  # 2: starts a section (the pcap header, a pcapng SHB); 1: an IDB; 0: neither
    linktype: int = -1  # a frame's
    at: int = 0  # where the frame's bytes start in ``raw``
    length: int = 0
    ts: int = 0  # a frame's time, ns


_PCAP = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",  # microseconds
         b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}  # nanoseconds
_SHB, _IDB, _PB, _SPB, _EPB = 0x0A0D0D0A, 1, 2, 3, 6


def records(data: bytes) -> Iterator[Record]:
    """The records of a whole pcap or pcapng capture, in file order (either byte order; a
    pcapng file's sections each with their own byte order and interfaces)."""
    order = _PCAP.get(data[:4])
    if order is not None:
        linktype = struct.unpack_from(order + "I", data, 20)[0] & 0xFFFF
        scale = 1 if data[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1000
        yield Record(data[:24], False, 2)
        pos = 24
        while pos + 16 <= len(data):
            sec, frac, incl = struct.unpack_from(order + "III", data, pos)
            yield Record(data[pos:pos + 16 + incl], True, 0, linktype, 16, incl,
                         sec * 10**9 + frac * scale)
            pos += 16 + incl
        return
    if data[:4] != _SHB.to_bytes(4, "little"):
        raise ValueError("neither pcap nor pcapng")
    pos, order = 0, "<"
    links: list[tuple[int, int]] = []  # per interface: link type, ticks per second
    while pos + 12 <= len(data):
        if data[pos:pos + 4] == b"\x0a\x0d\x0d\x0a":  # the same both ways: the BOM says
            order = "<" if data[pos + 8:pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        btype, blen = struct.unpack_from(order + "II", data, pos)
        raw = data[pos:pos + blen]
        pos += blen
        if btype == _SHB:
            links = []
            yield Record(raw, False, 2)
        elif btype == _IDB:
            links.append((struct.unpack_from(order + "H", raw, 8)[0], _ticks(raw, order)))
            yield Record(raw, False, 1)
        elif btype in (_EPB, _PB):
            iface = struct.unpack_from(order + ("I" if btype == _EPB else "H"), raw, 8)[0]
            high, low, caplen = struct.unpack_from(order + "III", raw, 12)
            linktype, ticks = links[iface]
            yield Record(raw, True, 0, linktype, 28, caplen,
                         ((high << 32) | low) * 10**9 // ticks)
        elif btype == _SPB:  # no time: the one before
            length = min(struct.unpack_from(order + "I", raw, 8)[0], blen - 16)
            yield Record(raw, True, 0, links[0][0], 12, length)
        else:  # statistics, name resolution, ...: where they are
            yield Record(raw, False, 0)


def _ticks(idb: bytes, order: str) -> int:
    """An Interface Description Block's timestamp units per second (if_tsresol; 10**6 when
    it is absent)."""
    pos = 16
    while pos + 4 <= len(idb) - 4:
        code, length = struct.unpack_from(order + "HH", idb, pos)
        if code == 0:
            break
        if code == 9 and length >= 1:
            resol = idb[pos + 4]
            return 2 ** (resol & 0x7F) if resol & 0x80 else 10 ** resol
        pos += 4 + length + (-length % 4)
    return 10**6


def backward_frames(capture: str | Path, *, segments: bool = False) -> list[int]:
    """The indices of the frames stamped earlier than the frame before them (a clock that
    runs backwards): where a rotation makes a file start before the one before it ends.
    ``segments``: only the TCP data segments stamped earlier than the one before them in
    their direction of their connection, which a merge by time would put out of order."""
    out = []
    last: dict[bytes, int] = {}
    index = 0
    for rec in records(Path(capture).read_bytes()):
        if not rec.frame:
            continue
        key = b""
        if segments:
            frame = rec.raw[rec.at:rec.at + rec.length]
            where = _tcp(frame, rec.linktype)
            if where is None or not where[4]:
                index += 1
                continue
            ip, tcp, version, size, _payload = where
            src = ip + (12 if version == 4 else 8)
            key = frame[src:src + 2 * size] + frame[tcp:tcp + 4]
        if key in last and rec.ts < last[key]:
            out.append(index)
        last[key] = rec.ts
        index += 1
    return out


def rotate(capture: str | Path, directory: Path, files: int = 1, *,
           cuts: Iterable[int] | None = None, host: int | None = None,
           prefix: str = "rot") -> list[str]:
    """``capture`` cut into ``files`` files of about as many frames each (or before each
    frame index of ``cuts``), named ``PREFIX-000.EXT`` in ``directory``, as ``tcpdump -C``
    rotates: at packet boundaries, every record as it was stored (timestamps too, backwards
    ones included), each file whole in the capture's own container: a pcap file starts with
    the pcap header, a pcapng file with the Section Header Block and the Interface Description
    Blocks of the section it starts in. ``host``: every connection's gateway address made
    that host's own (:func:`gateway`), for hosts that must not share connections."""
    data = Path(capture).read_bytes()
    recs = list(records(data))
    count = sum(r.frame for r in recs)
    if cuts is None:
        per = -(-count // files)
        cuts = range(per, count, per)
    starts = {c for c in cuts if 0 < c < count}
    ext = Path(capture).suffix
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[str] = []
    head: list[bytes] = []
    pending: list[Record] = []  # blocks since the last frame
    sink: BinaryIO | None = None
    frame = 0
    try:
        for rec in recs:
            if rec.head:
                head = [rec.raw] if rec.head == 2 else [*head, rec.raw]
            if not rec.frame:
                pending.append(rec)
                continue
            if sink is None or frame in starts:
                if sink is not None:
                    sink.close()
                paths.append(str(directory / f"{prefix}-{len(paths):03d}{ext}"))
                sink = open(paths[-1], "wb")  # noqa: SIM115 (one file after another)
                sink.write(b"".join(head))
                pending = [p for p in pending if not p.head]  # in the head already
            sink.write(b"".join(p.raw for p in pending))
            pending.clear()
            sink.write(rec.raw if host is None else _moved(rec, host))
            frame += 1
        if sink is not None:
            sink.write(b"".join(p.raw for p in pending))
    finally:
        if sink is not None:
            sink.close()
    return paths


def _tcp(frame: bytes, linktype: int) -> tuple[int, int, int, int, int] | None:
    """Where a TCP/IP frame's IP header and TCP header start, the IP version, and the length
    of its addresses and TCP payload; None for anything else."""
    if linktype == 1:
        proto, ip = frame[12:14], 14
    elif linktype == 113:  # Linux cooked
        proto, ip = frame[14:16], 16
    elif linktype == 276:  # Linux cooked v2
        proto, ip = frame[0:2], 20
    else:
        return None
    if proto == b"\x08\x00" and len(frame) >= ip + 20 and frame[ip + 9] == 6:
        tcp = ip + (frame[ip] & 0xF) * 4
        total = int.from_bytes(frame[ip + 2:ip + 4], "big")
        version, size = 4, 4
    elif proto == b"\x86\xdd" and len(frame) >= ip + 40 and frame[ip + 6] == 6:
        tcp = ip + 40
        total = 40 + int.from_bytes(frame[ip + 4:ip + 6], "big")
        version, size = 6, 16
    else:
        return None
    if len(frame) < tcp + 20:
        return None
    payload = ip + total - tcp - (frame[tcp + 12] >> 4) * 4
    return ip, tcp, version, size, payload


def gateway(address: bytes, host: int) -> bytes:
    """Host ``host``'s own copy of a gateway address: its last byte but one xored with
    ``host + 1`` (198.51.100.7 to 198.51.101.7 for host 0; 127.0.0.1, 2001:db8::7 alike)."""
    return address[:-2] + bytes((address[-2] ^ (host + 1),)) + address[-1:]


def _moved(rec: Record, host: int) -> bytes:
    """The record with its frame's gateway address (the end on a CMPP port) made the host's
    own, the IPv4 header checksum made again (TCP's is left: the suite's are 0)."""
    frame = rec.raw[rec.at:rec.at + rec.length]
    where = _tcp(frame, rec.linktype)
    if where is None:
        return rec.raw
    ip, tcp, version, size, _payload = where
    sport, dport = struct.unpack_from(">HH", frame, tcp)
    src = ip + (12 if version == 4 else 8)
    at = src if sport in DEFAULT_PORTS else src + size if dport in DEFAULT_PORTS else None
    if at is None:
        return rec.raw
    out = bytearray(frame)
    out[at:at + size] = gateway(frame[at:at + size], host)
    if version == 4:
        end = tcp  # the IPv4 header, options included
        out[ip + 10:ip + 12] = b"\0\0"
        words = struct.unpack(f">{(end - ip) // 2}H", out[ip:end])
        total = sum(words)
        total = (total & 0xFFFF) + (total >> 16)
        out[ip + 10:ip + 12] = (~((total & 0xFFFF) + (total >> 16)) & 0xFFFF).to_bytes(2, "big")
    return rec.raw[:rec.at] + bytes(out) + rec.raw[rec.at + rec.length:]


def mid_pdu_frames(capture: str | Path) -> list[int]:
    """The indices of the frames whose TCP payload continues a CMPP PDU begun in an earlier
    frame: where a rotation cuts inside a PDU. Told exactly (by the suite's framer) on the
    connections seen from their SYN (copies of bytes had already are passed over); a
    connection is left out from its first gap or reordering."""
    framers: dict[bytes, suite._Framer] = {}
    expect: dict[bytes, int] = {}
    lost: set[bytes] = set()
    out = []
    index = -1
    for rec in records(Path(capture).read_bytes()):
        if not rec.frame:
            continue
        index += 1
        frame = rec.raw[rec.at:rec.at + rec.length]
        where = _tcp(frame, rec.linktype)
        if where is None:
            continue
        ip, tcp, version, size, payload = where
        src = ip + (12 if version == 4 else 8)
        key = frame[src:src + 2 * size] + frame[tcp:tcp + 4]  # one direction
        if key in lost:
            continue
        seq = int.from_bytes(frame[tcp + 4:tcp + 8], "big")
        if frame[tcp + 13] & 0x02:  # SYN
            framers[key], expect[key] = suite._Framer(), (seq + 1) & 0xFFFFFFFF
            continue
        if key not in framers:
            lost.add(key)
            continue
        behind = (expect[key] - seq) & 0xFFFFFFFF
        if payload and seq != expect[key]:
            if payload <= behind < 1 << 31:  # bytes had already: a copy, a retransmission
                continue
            lost.add(key)
            continue
        if payload:
            start = tcp + (frame[tcp + 12] >> 4) * 4
            if not framers[key].feed(frame[start:start + payload]):
                out.append(index)
            expect[key] = (seq + payload) & 0xFFFFFFFF
    return out


# -- the verdict: the same report, field by field ---------------------------------------------


def differences(got: Any, want: Any, path: str = "") -> list[str]:
    """Where ``got`` differs from ``want``, field by field: one line per differing leaf."""
    if isinstance(got, dict) and isinstance(want, dict):
        out = []
        for key in [*want, *(k for k in got if k not in want)]:
            where = f"{path}.{key}" if path else str(key)
            if key not in got or key not in want:
                out.append(f"{where}: only in the {'one process' if key in want else 'merge'}")
            else:
                out += differences(got[key], want[key], where)
        return out
    if isinstance(got, list) and isinstance(want, list):
        out = [f"{path}: {len(got)} items, one process {len(want)}"] if len(got) != len(
            want) else []
        for k, (a, b) in enumerate(zip(got, want, strict=False)):
            out += differences(a, b, f"{path}[{k}]")
        return out
    return [] if got == want else [f"{path}: {got!r}, one process {want!r}"]


def without_ids(value: Any) -> Any:
    """Session ids and frame numbers (each host's own) taken out, lists in a fixed order."""
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items()
                if k not in ("id", "host", "session") and not k.endswith("frame")}
    if isinstance(value, list):
        items = [without_ids(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return value


def drop(report: dict[str, Any], path: str) -> None:
    """Take out of ``report`` what the scale key says is not merged (a section, a dotted key,
    an expert_counts code, or a key of every SP of a per_sp table)."""
    if path.endswith("[].expert"):  # each session's findings by severity
        for session in report.get(path.split("[")[0], []):
            session.pop("expert", None)
        return
    if path.endswith("]"):
        section, code = path[:-1].split("[")
        if section in report:
            report[section] = [c for c in report[section] if c["code"] != code]
        return
    keys = path.split(".")
    if keys[0] not in report:  # the whole section is out already
        return
    if keys[-2:-1] == ["per_sp"] or (len(keys) == 3 and keys[1] == "per_sp"):
        for figures in report[keys[0]]["per_sp"].values():
            figures.pop(keys[-1], None)
        return
    node = report
    for key in keys[:-1]:
        node = node.get(key, {})  # already out with a section above it
    node.pop(keys[-1], None)


def verdict(merged: dict[str, Any], whole: dict[str, Any]) -> list[str]:
    """Where ``merged`` (an ``analyze_many`` report) differs from ``whole`` (one process over
    the same captures) in what its scale key says equals it: the merged sections field by
    field (less the parts it names not merged), the host-local ones but for session ids and
    frame numbers; and every section of ``whole`` that the scale key does not account for.
    Empty: exact where it says. With one host nothing is left out: no section is host-local
    or unmerged, so empty means the whole report, frame numbers and session ids included."""
    got, want = copy.deepcopy(merged), copy.deepcopy(whole)
    scale = got.pop("scale")
    for item in scale["not_merged"]:
        for report in (got, want):
            drop(report, item["section"])
    named = {i["section"].split(".")[0].split("[")[0] for i in scale["not_merged"]}
    out = [f"{section}: not accounted for by the scale key" for section in whole
           if section not in {*scale["merged_sections"], *scale["host_local"], *named}]
    for section in scale["merged_sections"]:
        out += differences(got.get(section), want.get(section), section)
    for section in scale["host_local"]:
        out += differences(without_ids(got.get(section)), without_ids(want.get(section)),
                           section)
    return out


def cuts_for(capture: str | Path, files: int) -> list[int]:
    """Where to cut ``capture`` into ``files`` files: evenly, each cut moved on to the next
    frame where a rotation can hurt, inside a PDU (the first, third... cut) or where the time
    steps back (the second, fourth...: a data segment stamped before the one before it on its
    connection, else any frame stamped before the one before it, else inside a PDU again),
    so that the files must be joined exactly for the report to come out the same."""
    count = sum(r.frame for r in records(Path(capture).read_bytes()))
    mid = mid_pdu_frames(capture)
    back = backward_frames(capture, segments=True) or backward_frames(capture) or mid
    cuts: list[int] = []
    for k in range(1, files):
        target = max(count * k // files, cuts[-1] + 1 if cuts else 1)
        kind = mid if k % 2 else back
        i = bisect.bisect_left(kind, target)
        cuts.append(kind[i] if i < len(kind) else target)
    return sorted({c for c in cuts if 0 < c < count})


_ORDER = {"pdus": ["frame"], "transactions": ["request_frame", "request_time"],
          "sessions": ["id"]}


def dataset_differences(directory: str | Path, whole: dict[str, Any]) -> list[str]:
    """How the dataset ``analyze_many(..., parquet=directory)`` wrote for one host differs
    from ``whole`` (``analyze(the capture).tables()``): row counts, then each column, every
    row, sorted alike (the tasks wrote their rows in files of their own). Empty: the same."""
    import pyarrow.dataset as ds

    from cmppdissect.scale.dataset import KEYS

    hive = ds.partitioning(KEYS, flavor="hive")
    wrong = []
    for table, order in _ORDER.items():
        got = ds.dataset(Path(directory) / table, partitioning=hive).to_table()
        want = whole[table]
        if got.num_rows != want.num_rows:
            wrong.append(f"{table}: {got.num_rows} rows, {want.num_rows} wanted")
            continue
        names = [n for n in want.schema.names if n in got.schema.names]
        if set(want.schema.names) - set(names) - {"sp_id"}:
            wrong.append(f"{table}: no {sorted(set(want.schema.names) - set(names))}")
        keys = [(k, "ascending") for k in order]
        got = got.select(names).sort_by(keys).cast(want.select(names).schema)
        want = want.select(names).sort_by(keys)
        wrong += [f"{table}.{name} differs" for name in names
                  if not got.column(name).equals(want.column(name))]
    return wrong


def _median(run: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _workers(n: int) -> str:
    return f"{n} worker{'s' if n > 1 else ''}"


# -- the suite ------------------------------------------------------------------------------


def run_suite(args: argparse.Namespace) -> int:
    """``--suite``: exactness per capture, then the times (see the module)."""
    frames = args.frames or 300_000
    root = Path(tempfile.gettempdir()) / "cmppdissect-bench" / f"suite-{frames}"
    captures = suite.build_suite(root, frames, only=args.only,
                                 log=lambda msg: print(msg, flush=True))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False, cwd=Path(__file__).parent).stdout.strip()
    print(f"\n{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, commit {commit}, "
          f"{os.cpu_count()} cores, load average {_load()}; {frames:,} frames a capture "
          f"(loopback twice), {args.files} files each; medians of {args.runs}\n")
    rotated: dict[str, list[str]] = {}
    cut_kinds: dict[str, tuple[int, int]] = {}
    for name, path in captures.items():
        cuts = cuts_for(path, args.files)
        mid, back = set(mid_pdu_frames(path)), set(backward_frames(path))
        cut_kinds[name] = (sum(c in mid for c in cuts), sum(c in back for c in cuts))
        directory = root / f"rotated-{args.files}" / name
        shutil.rmtree(directory, ignore_errors=True)
        rotated[name] = rotate(path, directory, cuts=cuts)

    exact: dict[str, bool] = {}
    with local_client(2) as client:
        for name, path in captures.items():
            whole = cmppdissect.analyze(str(path)).report()
            merged = cmppdissect.analyze_many(rotated[name], client=client)
            scale = merged["scale"]
            wrong = verdict(merged, whole)
            exact[name] = not wrong and len(scale["hosts"]) == 1 and not scale["not_merged"] \
                and not scale["host_local"]
            print(f"{name}: {len(rotated[name])} files ({cut_kinds[name][0]} cut inside a PDU, "
                  f"{cut_kinds[name][1]} where time steps back), {whole['pdus']:,} PDUs: "
                  + ("exact, every section field by field" if exact[name] else
                     f"NOT exact, {len(wrong)} differences"), flush=True)
            for line in wrong[:10]:
                print(f"    {line}")

    times: dict[str, dict[str, float]] = {
        name: {"one": _median(lambda p=path: cmppdissect.analyze(str(p)).report(), args.runs)}
        for name, path in captures.items()}
    for workers in (1, 2):
        with local_client(workers) as client:
            for name in captures:
                cmppdissect.analyze_many(rotated[name], client=client)  # warm: imports
                times[name][_workers(workers)] = _median(
                    lambda c=client, p=rotated[name]: cmppdissect.analyze_many(p, client=c),
                    args.runs)
    _speeds(times, exact, "exact", "one process s")
    if args.parquet:
        exact.update(_suite_parquet(args, captures, rotated))
    if len(captures) > 1 and not args.parquet:
        _suite_hosts(args, root, captures)
    return 0 if all(exact.values()) else 1


def _suite_parquet(args: argparse.Namespace, captures: dict[str, Path],
                   rotated: dict[str, list[str]]) -> dict[str, bool]:
    """``--suite --parquet``: each capture one host, its dataset written by
    ``analyze_many`` (the host's task and a task per share of its files) against
    ``analyze(capture).write_parquet()``: the rows the same (:func:`dataset_differences`),
    then the times with 1 and 2 workers."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-scale-pq-"))
    exact: dict[str, bool] = {}
    times: dict[str, dict[str, float]] = {}
    try:
        print(f"\n--parquet, load average {_load()}:")
        with local_client(2) as client:
            for name, path in captures.items():
                out = tempfile.mkdtemp(dir=scratch)
                cmppdissect.analyze_many(rotated[name], client=client, parquet=out)
                wrong = dataset_differences(out, cmppdissect.analyze(str(path)).tables())
                exact[f"{name} --parquet"] = not wrong
                print(f"{name}: the dataset " + ("is analyze(capture).tables(), row for row"
                                                 if not wrong else f"DIFFERS: {wrong[:5]}"),
                      flush=True)
                shutil.rmtree(out)
        for name, path in captures.items():
            times[name] = {"one": _median(lambda p=path: cmppdissect.analyze(str(p)).write_parquet(
                tempfile.mkdtemp(dir=scratch), release=True), args.runs)}
        for workers in (1, 2):
            with local_client(workers) as client:
                for name in captures:
                    times[name][_workers(workers)] = _median(
                        lambda c=client, p=rotated[name]: cmppdissect.analyze_many(
                            p, client=c, parquet=tempfile.mkdtemp(dir=scratch)), args.runs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _speeds(times, {name: exact[f"{name} --parquet"] for name in times}, "rows exact",
            "one process `write_parquet` s")
    return exact


def _speeds(times: dict[str, dict[str, float]], exact: dict[str, bool], checked: str,
            one: str) -> None:
    """Per capture: whether it was exact, and one process's time against 1 and 2 workers."""
    print(f"\nload average after: {_load()}\n")
    print(f"| capture | {checked} | {one} | 1 worker s | 2 workers s | speed-up, 1 worker "
          "| speed-up, 2 workers |\n|---|---|---:|---:|---:|---:|---:|")
    for name, t in times.items():
        alone, w1, w2 = t["one"], t[_workers(1)], t[_workers(2)]
        print(f"| {name} | {'yes' if exact[name] else 'NO'} | {alone:.2f} | {w1:.2f} "
              f"| {w2:.2f} | {alone / w1:.2f}x | {alone / w2:.2f}x |")


def _suite_hosts(args: argparse.Namespace, root: Path, captures: dict[str, Path]) -> None:
    """Every capture a host at once, each with its own gateway address: the one process
    reads every host's chain merged by time (``analyze([chain, chain, ...])``)."""
    chains = []
    for h, (name, path) in enumerate(captures.items()):
        directory = root / f"hosts-{args.files}" / name
        shutil.rmtree(directory, ignore_errors=True)
        chains.append(rotate(path, directory, cuts=cuts_for(path, args.files), host=h))
    paths = [p for chain in chains for p in chain]
    with local_client(2) as client:
        merged = cmppdissect.analyze_many(paths, client=client)
    whole = cmppdissect.analyze(chains).report()
    wrong = verdict(merged, whole)
    scale = merged["scale"]
    print(f"\n{len(chains)} hosts at once ({len(paths)} files, {whole['pdus']:,} PDUs): "
          + ("exact" if not wrong else f"NOT exact, {len(wrong)} differences")
          + f" in the sections it says are merged ({', '.join(scale['merged_sections'])}) "
          f"and host-local ({', '.join(scale['host_local'])}); not merged:")
    for item in scale["not_merged"]:
        print(f"    {item['section']}: {item['why']}")
    for line in wrong[:10]:
        print(f"    {line}")
    one = _median(lambda: cmppdissect.analyze(chains).report(), args.runs)
    rows = [("one process (`analyze([chain, ...]).report()`)", one, None)]
    for workers in (1, 2):
        with local_client(workers) as client:
            cmppdissect.analyze_many(paths, client=client)
            t = _median(lambda c=client: cmppdissect.analyze_many(paths, client=c), args.runs)
            if workers == 2:
                both = _two_at_once(client, Host("probe", tuple(chains[0])), args.runs)
        rows.append((f"`analyze_many`, {_workers(workers)}", t, one / t))
    print(f"\nload average after: {_load()}; on the 2 workers, two copies of a host's task at "
          f"once took {both:.2f}x as long as one alone (1.00x: two free cores, 2.00x: one)"
          "\n\n| run | seconds | speed-up |\n|---|---:|---:|")
    for label, t, gain in rows:
        print(f"| {label} | {t:.2f} | {'' if gain is None else f'{gain:.2f}x'} |")


def _two_at_once(client: Any, host: Host, runs: int) -> float:
    """How much longer two copies of ``host``'s task take on two workers at once than one
    alone (medians): what the machine lets the second worker have."""

    def run(copies: int) -> None:
        futures = [client.submit(analyze_host, host, SETTINGS, pure=False)
                   for _ in range(copies)]
        client.gather(futures)

    run(2)
    return _median(lambda: run(2), runs) / _median(lambda: run(1), runs)


# -- gen_capture's hosts --------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", action="store_true", help="bench/suite.py's captures instead")
    ap.add_argument("--only", metavar="NAME,...", help="--suite: only these captures")
    ap.add_argument("--hosts", type=int, default=4)
    ap.add_argument("--frames", type=int, default=None,
                    help="frames per host (250,000; --suite: per capture, 300,000)")
    ap.add_argument("--files", type=int, default=8, help="files per host")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parquet", action="store_true", help="also time the Parquet outputs")
    ap.add_argument("--skip-speed", action="store_true", help="only the merge and chain costs")
    args = ap.parse_args(argv)
    if args.suite:
        return run_suite(args)
    frames = args.frames or 250_000
    root = (Path(tempfile.gettempdir()) / "cmppdissect-bench"
            / f"scale3-{args.hosts}x{frames}x{args.files}")
    root.mkdir(parents=True, exist_ok=True)
    paths: list[str] = []
    hosts: dict[str, list[str]] = {}
    for h in range(args.hosts):
        directory = root / f"gw{h}"
        files = sorted(str(p) for p in directory.glob("rot-*.pcap"))
        if len(files) != args.files:
            shutil.rmtree(directory, ignore_errors=True)
            whole = root / f"gw{h}.pcap"
            generate(whole, frames=frames, seed=100 + h, sessions=6)
            files = rotate(whole, directory, args.files, host=h)
            whole.unlink()
        hosts[f"gw{h}"] = files
        paths += files
    size = sum(os.path.getsize(p) for p in paths)
    print(f"{args.hosts} hosts x {frames:,} frames, {len(paths)} files, "
          f"{size / 1e6:.0f} MB; medians of {args.runs}; {os.cpu_count()} cores\n")
    one = 0.0 if args.skip_speed else _median(lambda: cmppdissect.analyze(paths).report(),
                                              args.runs)
    if not args.skip_speed:  # the same PDUs both ways (a check, not a timing)
        with local_client(2) as client:
            merged = cmppdissect.analyze_many(paths, client=client)
        whole = cmppdissect.analyze(paths).report()
        assert merged["pdus"] == whole["pdus"], (merged["pdus"], whole["pdus"])
        assert merged["commands"] == whole["commands"]
        print(f"{whole['pdus']:,} PDUs; merged sections: "
              f"{', '.join(merged['scale']['merged_sections'])}\n")
    rows = [("one process (analyze(all).report())", one, None)]
    for workers in () if args.skip_speed else (1, 2):
        with local_client(workers) as client:
            cmppdissect.analyze_many(paths, client=client)  # warm: imports on the workers
            t = _median(lambda c=client: cmppdissect.analyze_many(paths, client=c), args.runs)
        rows.append((f"analyze_many, {workers} worker{'s' if workers > 1 else ''}", t, one / t))
    if args.parquet:
        scratch = Path(tempfile.mkdtemp(prefix="bench-scale-"))
        try:
            one_pq = _median(lambda: cmppdissect.analyze(paths).write_parquet(
                scratch / "one", release=True), args.runs)
            rows.append(("one process, write_parquet", one_pq, None))
            for workers in (1, 2):
                with local_client(workers) as client:
                    t = _median(lambda c=client: cmppdissect.analyze_many(  # a dataset a run
                        paths, client=c, parquet=tempfile.mkdtemp(dir=scratch)), args.runs)
                rows.append((f"analyze_many --parquet, {workers} worker"
                             f"{'s' if workers > 1 else ''}", t, one_pq / t))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    print("| run | seconds | speed-up |\n|---|---:|---:|")
    for name, t, gain in rows if not args.skip_speed else ():
        print(f"| {name} | {t:.2f} | {'' if gain is None else f'{gain:.2f}x'} |")

    parts = [analyze_host(Host(name, tuple(files)), SETTINGS) for name, files in hosts.items()]
    print("\n| parts merged | merge_parts (ms) |\n|---:|---:|")
    for count in (4, 16, 64, 256):
        many = [parts[k % len(parts)] for k in range(count)]
        t = _median(lambda m=many: merge_parts(m), args.runs)
        print(f"| {count} | {t * 1e3:.1f} |")

    print("\n| files per host (one host) | its task (s) |\n|---:|---:|")
    whole = root / "chain.pcap"
    generate(whole, frames=frames, seed=100, sessions=6)
    for files in (1, 8, 64, 256):
        chain = rotate(whole, root / f"chain-{files}", files)
        t = _median(lambda c=chain: analyze_host(Host("chain", tuple(c)), SETTINGS), args.runs)
        print(f"| {files} | {t:.2f} |")
        shutil.rmtree(root / f"chain-{files}")
    whole.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
