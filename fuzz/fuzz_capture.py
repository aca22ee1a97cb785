"""atheris harness: arbitrary bytes as a capture, through the one driver (``api.Analysis``) to
the outputs a user sees: ``-T jsonl`` and ``-T text`` lines made from the store's slices, the
``--report json`` document and the text summary.

Byte 0 of the input chooses how the rest becomes a capture, so that mutations reach past the
file header instead of dying at the magic number:

* ``mode & 3 == 0``: the rest *is* the file (pcap, pcapng, gzip, or anything at all);
* ``1``: a pcap file header (byte order: bit 2, nanoseconds: bit 3, snaplen 0: bit 4, link
  type: bits 5-7) and then the rest, as records;
* ``2``: a pcapng section header and one interface description block (``if_tsresol``: bits
  2-4, an ``if_tsoffset`` of -2**62 s: bit 5, link type: bits 6-7) and then the rest, as
  blocks;
* ``3``: the rest as the client's byte stream of one CMPP connection (after a handshake), cut
  into TCP segments of ``(mode >> 2) + 1`` bytes, with an answering byte stream made of the
  same bytes reversed: raw TCP streams into the framing.

Byte 1 picks the chunk size of a second reading (``CHUNKS``): the capture is read twice, and
the two reports must be equal: how the input was cut must not change what it means. Fails on
any exception (but ``CaptureFormatError`` in mode 0), on a raw terminal control in any output,
on reports that differ between the two readings, and on a reader that held more than a record
for a record split over chunks, and on a ``-T jsonl`` line of the compiled writer that is not
byte for byte the record schema's.
"""

from __future__ import annotations

import hashlib
import io
import struct
import sys

from common import ROOT, feedback, instrumented, main, no_raw_escapes

if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

with instrumented():
    from pcaputil import ACK, PSH, SYN, pcap_bytes, tcp_frame

    from cmppdissect.api import Analysis, analyze
    from cmppdissect.core import MAX_BLOCK, MAX_CAPLEN
    from cmppdissect.core.records import CaptureFormatError
    from cmppdissect.output.records import dumps, dumps_line, record_dict
    from cmppdissect.output.text import write_summary
    from cmppdissect.output.writers import format_slice
    from cmppdissect.sources.file import FileSource
    from cmppdissect.store.records import records_of

LINKTYPES = (1, 101, 113, 276, 0, 228, 229, 147)  # 147: a user link type (unsupported)
NG_LINKTYPES = (1, 101, 276, 147)
RESOLUTIONS = (6, 9, 0, 0x80 | 30, 0x80 | 63, 0x80 | 127, 20, 255)
CHUNKS = (1 << 20, 1, 3, 7, 16, 61, 509, 4096)


def capture_of(data: bytes) -> tuple[bytes, int]:
    """The capture file the input stands for, and the chunk size of the second reading (at
    most 256 chunks: a big input cut into single bytes would take the fuzzer's whole time)."""
    mode, rest = data[0], data[2:]
    chunk = max(CHUNKS[data[1] & 7], -(-len(rest) // 256))
    kind = mode & 3
    if kind == 0:
        return rest, chunk
    if kind == 1:
        order = ">" if mode & 4 else "<"
        magic = 0xA1B23C4D if mode & 8 else 0xA1B2C3D4
        head = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 0 if mode & 16 else 65535,
                           LINKTYPES[mode >> 5])
        return head + rest, chunk
    if kind == 2:
        shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack(
            "<I", 28)
        options = struct.pack("<HHB3x", 9, 1, RESOLUTIONS[(mode >> 2) & 7])
        if mode & 32:
            options += struct.pack("<HHq", 14, 8, -(1 << 62))
        options += b"\0\0\0\0"
        body = struct.pack("<HHI", NG_LINKTYPES[mode >> 6], 0, 0) + options
        idb = struct.pack("<II", 1, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
        return shb + idb + rest, chunk
    return stream_capture(rest, (mode >> 2) + 1), chunk


def stream_capture(stream: bytes, mss: int) -> bytes:
    client, server = ("10.0.0.1", 40001), ("10.0.0.2", 7890)
    frames = [tcp_frame(*client, *server, 999, 0, SYN),
              tcp_frame(*server, *client, 499, 1000, SYN | ACK)]
    answer = stream[::-1]
    cseq, sseq = 1000, 500
    for i in range(0, max(len(stream), 1), mss):
        piece, back = stream[i:i + mss], answer[i:i + mss]
        frames.append(tcp_frame(*client, *server, cseq, sseq, PSH | ACK, piece))
        cseq += len(piece)
        frames.append(tcp_frame(*server, *client, sseq, cseq, PSH | ACK, back))
        sseq += len(back)
    return pcap_bytes(frames, nano=True)


def _text(lines: list[bytes] | tuple[bytes, int]) -> str:
    # format_slice gives a list of lines, or (joined lines, count) where lines are joined.
    return (lines[0] if isinstance(lines, tuple) else b"".join(lines)).decode()


def read(capture: bytes, chunk: int) -> tuple[Analysis, bytes]:
    """One reading as ``-T jsonl``/``-T text`` do it: slices of rows, turned into lines
    (checked here; only their digest is kept, since a big input has many)."""
    an = analyze(FileSource(io.BytesIO(capture), chunk_size=chunk), timeout_s=0.5)
    digest = hashlib.sha256()
    for sl in an.slices():
        jsonl = _text(format_slice(sl, "jsonl"))
        if jsonl.encode() != b"".join(dumps_line(record_dict(r)) for r in records_of(sl)):
            raise AssertionError("the compiled -T jsonl writer disagrees with the schema")
        no_raw_escapes(jsonl)
        digest.update(jsonl.encode())
        no_raw_escapes(_text(format_slice(sl, "text")))
    return an, digest.digest()


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    capture, chunk = capture_of(data)
    try:
        whole, digest = read(capture, 1 << 20)
    except CaptureFormatError as exc:
        if data[0] & 3 != 0:
            raise
        if "\n" in str(exc) or not str(exc):
            raise AssertionError(f"format error is not one line: {exc!r}") from None
        return
    report = whole.report()
    assert whole.engine is not None
    rs = whole.engine.core.reader_stats
    feedback(rs["frames"], rs["tcp_segments"], rs["malformed"] + rs["truncated_frames"],
             rs["ip_fragments"] + rs["reassembled"], report["pdus"], len(report["sessions"]),
             len(report["expert_counts"]), len(whole.notes))
    text = dumps(report)
    no_raw_escapes(text)
    out = io.StringIO()
    write_summary(report, out)
    no_raw_escapes(out.getvalue())

    cut, cut_digest = read(capture, chunk)
    if cut_digest != digest:
        raise AssertionError(f"records depend on the chunk size {chunk}")
    if dumps(cut.report(), sort_keys=True) != dumps(report, sort_keys=True):
        raise AssertionError(f"the report depends on the chunk size {chunk}")
    assert cut.engine is not None
    peak = cut.engine.core.memory_peaks()["reader_pending"]
    if peak > max(MAX_CAPLEN + 24, MAX_BLOCK) + chunk:
        raise AssertionError(f"the reader held {peak} bytes for one record")


if __name__ == "__main__":
    main(test_one_input)
