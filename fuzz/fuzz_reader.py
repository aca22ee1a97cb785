"""atheris harness: the pcap/pcapng/gzip reader on arbitrary file bytes.

The reader may refuse an input only with CaptureFormatError, raised when it is opened, with a
one-line message; anything else must end in notes. Fails on any other exception.

The same bytes also go through the walk's frame side (``core.FrameReader``, as a merge of
several inputs and ``-w`` use it): read whole and in 7-byte chunks, the frames and notes must be
the same; every frame's bytes must lie in its record at the offset given; and two copies merged
(``sources.merge.MergedSource``) must be read back as each frame twice.
"""

from __future__ import annotations

import io

from common import feedback, instrumented, main

with instrumented():
    from cmppdissect.core import FrameReader
    from cmppdissect.core.records import CaptureNote
    from cmppdissect.sources.file import FileSource
    from cmppdissect.sources.merge import MergedSource
    from cmppdissect.sources.segments import CaptureFormatError, PcapSource


def frames_of(data: bytes, chunk: int) -> tuple[list[tuple[int, int, bytes]], list[str]]:
    """(offset, ts, bytes) of every frame the core's FrameReader hands over, and its notes."""
    notes: list[CaptureNote] = []
    reader = FrameReader(notes)
    got = []
    for at in range(0, len(data), chunk):
        reader.feed(data[at:at + chunk])
        while (frame := reader.frame()) is not None:
            got.append((frame[0], frame[2], frame[5]))
            reader.next()
    reader.finish()
    return got, [f"{n.frame} {n.message}" for n in notes]


def check_frames(data: bytes) -> int:
    whole, notes = frames_of(data, 1 << 20)
    if frames_of(data, 7) != (whole, notes):
        raise AssertionError("FrameReader's frames depend on the chunk size")
    last = -1
    for offset, _ts, frame in whole:
        if offset <= last:
            raise AssertionError("frame offsets must increase")
        last = offset
        # pcap: after a 16/24-byte record header; pcapng: after an EPB/PB or SPB's fields.
        if not any(data[offset + skip:offset + skip + len(frame)] == frame
                   for skip in (12, 16, 24, 28)):
            raise AssertionError(f"the frame at offset {offset} is not in its record")
    merged = MergedSource([FileSource(io.BytesIO(data)), FileSource(io.BytesIO(data))])
    again, _ = frames_of(b"".join(merged.chunks()), 1 << 20)
    if sorted(f for _, _, f in again) != sorted(f for _, _, f in whole for _ in range(2)):
        raise AssertionError("a merge of two copies is not each frame twice")
    return len(whole)


def test_one_input(data: bytes) -> None:
    try:
        src = PcapSource(io.BytesIO(data))
    except CaptureFormatError as exc:
        if "\n" in str(exc) or not str(exc):
            raise AssertionError(f"format error is not one line: {exc!r}") from None
        return
    last = 0
    for seg in src:
        if seg.frame <= last:
            raise AssertionError("frame numbers must increase")
        last = seg.frame
    st = src.stats
    feedback(st.frames, st.tcp_segments, st.non_tcp, st.malformed, st.truncated_frames,
             st.ip_fragments, st.reassembled, len(src.notes))
    if len(src.notes) > 150:
        raise AssertionError(f"{len(src.notes)} notes: a damaged file floods the user")
    if data[:2] != b"\x1f\x8b":  # (gzip is undone by FileSource, not by the walk)
        check_frames(data)


if __name__ == "__main__":
    main(test_one_input)
