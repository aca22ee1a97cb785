"""atheris harness: the pcap/pcapng/gzip reader on arbitrary file bytes.

The reader may refuse an input only with CaptureFormatError, raised when it is opened, with a
one-line message; anything else must end in notes. Fails on any other exception.
"""

from __future__ import annotations

import io

from common import feedback, instrumented, main

with instrumented():
    from cmppdissect.sources.segments import CaptureFormatError, PcapSource


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


if __name__ == "__main__":
    main(test_one_input)
