"""What the atheris harnesses share: instrumentation, the segment-stream input format, checks.

A harness is a plain module with ``test_one_input(data: bytes) -> None`` that raises only when
it found a bug, so the same function runs under atheris (``python fuzz/fuzz_x.py``), over a
corpus directory without atheris (``python fuzz/fuzz_x.py --replay DIR``), and in the test
suite (``tests/test_regressions.py`` replays the seeds). atheris is an optional tool, never a
dependency: without it the harnesses still import and replay.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # running ``python fuzz/x.py`` from anywhere
    sys.path.insert(0, str(ROOT))

HAVE_ATHERIS = importlib.util.find_spec("atheris") is not None


def instrumented() -> contextlib.AbstractContextManager[Any]:
    """Instrument our own modules for coverage feedback when a harness runs under atheris.

    Only ``cmppdissect`` is instrumented (not Scapy or the standard library), which keeps the
    executions per second high and the coverage signal about our code.
    """
    if HAVE_ATHERIS and os.environ.get("CMPP_FUZZ_RUNNING") == "1":
        import atheris  # type: ignore[import-untyped, unused-ignore]

        return atheris.instrument_imports(include=["cmppdissect"])  # type: ignore[no-any-return]
    return contextlib.nullcontext()


def _counts(values: tuple[int, ...]) -> None:
    """One loop per value: libFuzzer keeps the hit count of each loop's line in a bucket (1, 2,
    3, 4-7, 8-15, ... 128+), so a value that reaches a new bucket is new coverage."""
    a, b, c, d, e, f, g, h = (min(max(v, 0), 255) for v in (*values, 0, 0, 0, 0, 0, 0, 0, 0)[:8])
    for _ in range(a):
        pass
    for _ in range(b):
        pass
    for _ in range(c):
        pass
    for _ in range(d):
        pass
    for _ in range(e):
        pass
    for _ in range(f):
        pass
    for _ in range(g):
        pass
    for _ in range(h):
        pass


def feedback(*values: int) -> None:
    """Coverage for what the compiled core did with an input (up to eight counters).

    atheris sees the lines of Python that run, not the C++ of the core: an input that makes
    the capture reader walk more frames, or find a new kind of damage, looks the same to it as
    one that stops at the file header. Handing the core's counters (frames, malformed frames,
    segments, PDUs...) to this function turns how far an input got into coverage. Call it with
    the same counters in the same order each time; it does nothing outside a fuzzing run.
    """
    if _instrumented_counts is not None:
        _instrumented_counts(values)


_instrumented_counts: Callable[[tuple[int, ...]], None] | None = None
if HAVE_ATHERIS and os.environ.get("CMPP_FUZZ_RUNNING") == "1":
    import atheris  # type: ignore[import-untyped, unused-ignore]

    _instrumented_counts = atheris.instrument_func(_counts)


def main(test_one_input: Callable[[bytes], None]) -> None:
    """``--replay PATH...``: run files (or directories of them) once; else hand over to atheris."""
    args = sys.argv[1:]
    if args[:1] == ["--replay"]:
        count = 0
        for path in _files(args[1:]):
            test_one_input(path.read_bytes())
            count += 1
        print(f"replayed {count} inputs without a failure")
        return
    if not HAVE_ATHERIS:
        sys.exit("atheris is not installed: `pip install atheris` (or use --replay DIR)")
    import atheris  # type: ignore[import-untyped, unused-ignore]

    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


def _files(paths: list[str]) -> Iterator[Path]:
    for name in paths:
        path = Path(name)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


# -- the segment-stream format of fuzz_engine --------------------------------------------------
#
# The engine harness reads its input as a list of TCP segments between a few fixed endpoints,
# so that libFuzzer's byte mutations turn into the shapes real captures have (reordering,
# retransmission, odd flags, damaged PDUs) instead of mostly invalid framing. One record:
#
#   byte 0   bits 0-1 connection (0-3), bit 2 direction (1: server to client),
#            bits 3-7 index into FLAGS
#   byte 1   sequence jitter, signed: added to the next expected sequence number of that
#            direction (0 = in order; a retransmission or a hole otherwise)
#   byte 2   time step in milliseconds since the previous segment (x 16 when bit 7 is set)
#   byte 3-4 payload length, big-endian (cut to what is left)
#   payload

RECORD = struct.Struct(">BbBH")
FLAGS = (0x18, 0x10, 0x18, 0x10, 0x02, 0x12, 0x11, 0x19, 0x04, 0x14, 0x00, 0x08, 0x01, 0x03,
         0x3F, 0x18)
CONNECTIONS = (
    (("10.0.0.1", 40001), ("10.0.0.2", 7890)),
    (("10.0.0.1", 40002), ("10.0.0.2", 7890)),
    (("10.0.0.3", 50000), ("10.0.0.4", 7900)),
    (("10.0.0.5", 40003), ("10.0.0.6", 5018)),  # not a CMPP port: the heuristic must decide
)
BASE_TS_NS = 1_700_000_000_000_000_000


def segments_from_bytes(data: bytes) -> list[Any]:
    """Decode a segment-stream input into :class:`TcpSegment` records (never raises)."""
    from cmppdissect.core.records import TcpSegment

    segs: list[Any] = []
    nxt: dict[tuple[int, bool], int] = {}
    pos = 0
    ts = BASE_TS_NS
    while len(data) - pos >= RECORD.size:
        head, jitter, step, length = RECORD.unpack_from(data, pos)
        pos += RECORD.size
        payload = data[pos:pos + length]
        pos += len(payload)
        conn, reverse, flags = head & 3, bool(head & 4), FLAGS[(head >> 3) % len(FLAGS)]
        client, server = CONNECTIONS[conn]
        src, dst = (server, client) if reverse else (client, server)
        base = nxt.get((conn, reverse), 1000 if not reverse else 500_000)
        seq = (base + jitter) & 0xFFFFFFFF
        nxt[(conn, reverse)] = (seq + len(payload) + (1 if flags & 0x03 else 0)) & 0xFFFFFFFF
        ack = nxt.get((conn, not reverse), 0)
        ts += (step & 0x7F) * (16 if step & 0x80 else 1) * 1_000_000
        segs.append(TcpSegment(len(segs) + 1, ts, f"{src[0]}:{src[1]}", f"{dst[0]}:{dst[1]}",
                               src[0], src[1], dst[0], dst[1], seq, ack, flags, payload))
    return segs


def segments_to_bytes(segs: list[Any]) -> bytes:
    """The inverse for seeds: a real capture's segments, mapped onto the fixed endpoints."""
    conns: dict[frozenset[str], int] = {}
    clients: dict[int, str] = {}
    out = []
    last_ts = None
    for seg in segs:
        key = frozenset((seg.src, seg.dst))
        if key not in conns:
            if len(conns) >= len(CONNECTIONS) - 1:
                continue
            conns[key] = len(conns)
            clients[conns[key]] = seg.src if seg.dst_port in (7890, 7900) else seg.dst
        conn = conns[key]
        reverse = seg.src != clients[conn]
        flag_index = FLAGS.index(seg.flags) if seg.flags in FLAGS else 0
        step = 0 if last_ts is None else min(127, max(0, (seg.ts_ns - last_ts) // 1_000_000))
        last_ts = seg.ts_ns
        payload = seg.payload[:0xFFFF]
        out.append(RECORD.pack(conn | (4 if reverse else 0) | (flag_index << 3), 0, step,
                               len(payload)) + payload)
    return b"".join(out)


def segments_to_pcap(segs: list[Any]) -> bytes:
    """Segments as a real capture (nanosecond pcap, Ethernet, IPv4, TCP): what the compiled
    core reads."""
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    from pcaputil import pcap_bytes, tcp_frame

    return pcap_bytes([(s.ts_ns, tcp_frame(s.src_ip, s.src_port, s.dst_ip, s.dst_port, s.seq,
                                           s.ack, s.flags, s.payload)) for s in segs],
                      nano=True)


def no_raw_escapes(text: str) -> None:
    """Wire text may reach a terminal only with its controls made visible."""
    if "\x1b" in text or "\x9b" in text or "\x07" in text:
        raise AssertionError(f"raw control character in output: {text[:200]!r}")
