"""atheris harness: live capture's block walk (``core.BlockWalk``, ``core.RxRing``) on any block.

The input is the bytes of one TPACKET_V3 ring block, as the kernel shares it with the capture
(``tpacket_block_desc``, then packets behind ``tpacket3_hdr`` headers linked by
``tp_next_offset``); the seeds are well-formed blocks, so mutations hit the counts, offsets and
lengths the walk reads. Fails on any exception; on records that are larger than the block, cut
short, or not bytes of the block; on counters that disagree with the records; on records the
capture reader does not read as that many frames; and on ``RxRing`` (the block handed over as
the kernel would mark it) giving other records than the walk, or not handing the block back.
"""

from __future__ import annotations

import struct

from common import feedback, instrumented, main

with instrumented():
    from cmppdissect.core import BlockWalk, CaptureReader, RxRing, SegmentList

# A nanosecond pcap header, Ethernet, the live capture's snap length.
HEADER = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262_144, 1)


def records_of(data: bytes, block: bytes) -> list[int]:
    """The end of each record; each must be whole, and its bytes a part of the block."""
    ends, at = [], 0
    while at < len(data):
        if at + 16 > len(data):
            raise AssertionError("a record header cut short")
        _sec, nsec, caplen, wire = struct.unpack_from("<IIII", data, at)
        if at + 16 + caplen > len(data):
            raise AssertionError("a record's bytes cut short")
        if nsec >= 1_000_000_000 or wire < caplen:
            raise AssertionError("a record with impossible nanoseconds or length")
        if data[at + 16:at + 16 + caplen] not in block:
            raise AssertionError("a record's bytes are not in the block")
        at += 16 + caplen
        ends.append(at)
    return ends


def test_one_input(block: bytes) -> None:
    walk = BlockWalk()
    data = walk.walk(block)
    if len(data) > len(block):
        raise AssertionError("more bytes of records than the block holds")
    ends = records_of(data, block)
    if walk.frames != len(ends) or walk.blocks != 1:
        raise AssertionError("the walk's counters disagree with its records")
    feedback(walk.frames, walk.damaged, len(data) >> 6)
    reader = CaptureReader(SegmentList(), [])
    reader.feed(HEADER + data)
    reader.finish()
    if reader.frames != len(ends):
        raise AssertionError("the capture reader did not read every record as a frame")
    if len(block) >= 48:
        memory = bytearray(block)
        struct.pack_into("=I", memory, 8, 1)  # TP_STATUS_USER: the kernel handed it over
        ring = RxRing(memory, len(memory), 1)
        if ring.take() != data or struct.unpack_from("=I", memory, 8)[0] != 0:
            raise AssertionError("the ring's walk differs, or the block was not handed back")
        ring.close()


if __name__ == "__main__":
    main(test_one_input)
