"""atheris harness: the core decoder, the content decoder, the framer and the record output.

Input: byte 0 chooses the version hint and how the framer is fed; the rest is one would-be
PDU (decoded on its own) and also a stream (framed in chunks). Fails on any exception, on a
framer that loses or invents bytes, or on output that carries a raw terminal control.
"""

from __future__ import annotations

from common import instrumented, main, no_raw_escapes

with instrumented():
    from cmppdissect.core import FramedPdu, PduFramer
    from cmppdissect.output.records import dumps, record_dict
    from cmppdissect.protocol.decode import decode_pdu
    from cmppdissect.protocol.version import Version
    from cmppdissect.store import PduRecord

HINTS = (None, Version.V2_0, Version.V3_0, None)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0], data[1:]
    hint = HINTS[mode & 3]
    pdu = decode_pdu(body, hint)
    _ = pdu.content
    rec = PduRecord(1, 0, 0, True, "10.0.0.1:1", "10.0.0.2:7890", pdu)
    no_raw_escapes(dumps(record_dict(rec)))

    # The same bytes as a stream, fed whole and in chunks of (mode >> 2) + 1 bytes.
    step = (mode >> 2) + 1
    results = []
    for chunks in ([body], [body[i:i + step] for i in range(0, len(body), step)]):
        framer = PduFramer(synced=bool(mode & 0x80))
        pdus: list[bytes] = []
        skipped = 0
        for n, chunk in enumerate(chunks, 1):
            for ev in framer.feed(chunk, n, 0):
                if isinstance(ev, FramedPdu):
                    pdus.append(ev.data)
                    decode_pdu(ev.data, hint)
                else:
                    skipped += ev.size
        skipped += sum(ev.size for ev in framer.close(len(chunks), 0))
        if sum(map(len, pdus)) + skipped != len(body):
            raise AssertionError("framer lost or invented bytes")
        results.append((pdus, skipped))
    if results[0] != results[1]:
        raise AssertionError("framer output depends on how the stream was cut")


if __name__ == "__main__":
    main(test_one_input)
