"""Write the seed corpora of the atheris harnesses (run: python fuzz/make_seeds.py [DIR]).

Seeds are valid inputs that reach deep into the code, so the fuzzer starts from real PDUs and
real captures instead of having to discover a CMPP header by chance: every PDU type in both
versions, the vectors of other implementations (``tests/vectors.py``), the sample capture in
pcap, pcapng and gzip form, and that capture as a segment stream for the engine harness.
The corpora are generated, not stored: the default DIR is ``fuzz/corpus`` (git-ignored).
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import sys
from pathlib import Path

from common import ROOT, segments_to_bytes

sys.path.insert(0, str(ROOT / "tests"))

from pcaputil import pcapng_bytes, tpacket3_block
from vectors import VECTORS

from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_pdu
from cmppdissect.protocol.layouts import LAYOUTS, Kind
from cmppdissect.protocol.version import Version
from cmppdissect.sources.segments import iter_segments

SAMPLE = ROOT / "samples" / "cmpp-basic.pcap"

TYPICAL = {
    "Source_Addr": b"901234", "Version": 0x30, "Timestamp": 1124101530,
    "Dest_terminal_Id": [b"13800138000", b"13900139000"], "Msg_Fmt": 8,
    "Msg_Content": "验证码 482913".encode("utf-16-be"), "Registered_Delivery": 1,
    "Src_Id": b"10657000", "Msg_src": b"901234", "Service_Id": b"MXX",
    "Dest_Id": [b"13800138000"],
}


def pdu_seeds() -> list[bytes]:
    seeds = [bytes.fromhex(str(v["hex"])) for v in VECTORS]
    for (command, version), layout in sorted(LAYOUTS.items()):
        fields = {f.name: f for f in layout.fields}
        values = {name: value for name, value in TYPICAL.items() if name in fields
                  and isinstance(value, list) == (fields[name].kind is Kind.STR_ARRAY)}
        seeds.append(encode_pdu(command, 7, values, version))
        seeds.append(encode_pdu(command, 8, {}, version, omit_tail=True))
    report = {"Msg_Id": 0x1234, "Stat": b"DELIVRD", "Dest_terminal_Id": b"13800138000"}
    for version in Version:
        seeds.append(encode_pdu(C.CMPP_DELIVER, 9, {"Registered_Delivery": 1,
                                                     "Msg_Content": report}, version))
    # A few streams: several PDUs back to back, for the framer.
    seeds.append(b"".join(seeds[:6]))
    seeds.append(b"".join(seeds[-8:]))
    return seeds


def write(directory: Path, items: list[bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for item in items:
        (directory / hashlib.sha1(item).hexdigest()).write_bytes(item)


def build(out: Path) -> dict[str, int]:
    pdus = pdu_seeds()
    # byte 0 of the decode/layers inputs picks the version hint and the chunking
    write(out / "decode", [bytes([mode]) + p for p in pdus for mode in (0, 1, 2, 0x86)])
    write(out / "layers", [bytes([mode]) + p for p in pdus for mode in (0, 1, 2)])
    pcap = SAMPLE.read_bytes()
    segs = list(iter_segments(SAMPLE))
    frames = pcap_frames(pcap)
    ng = pcapng_bytes([(1, 6)], [(0, 1_700_000_000_000_000_000 + i * 1000, f)
                                 for i, f in enumerate(frames)])
    write(out / "reader", [pcap, gzip.compress(pcap, mtime=0), ng, pcap[:4000], ng[:4000]])
    stream = segments_to_bytes(segs)
    write(out / "engine", [stream, segments_to_bytes(segs[:40]), segments_to_bytes(segs[40:])])
    write(out / "capture", capture_seeds(pdus, frames))
    write(out / "ring", ring_seeds(frames))
    return {d.name: len(list(d.iterdir())) for d in sorted(out.iterdir()) if d.is_dir()}


def capture_seeds(pdus: list[bytes], frames: list[bytes]) -> list[bytes]:
    """Inputs of fuzz_capture (byte 0: how the rest becomes a capture, byte 1: the chunk size
    of the second reading): every sample as it is, the first sample's frames as the records of
    a pcap and as the blocks of a pcapng, and PDU streams as one connection's bytes."""
    seeds = [bytes([0, chunk]) + path.read_bytes()
             for path in sorted((ROOT / "samples").glob("*.pcap*")) for chunk in (0, 3)]
    records = SAMPLE.read_bytes()[24:]
    seeds += [bytes([1, 3]) + records, bytes([1 | 1 << 5, 5]) + b"".join(
        struct.pack("<IIII", 1_700_000_000 + i, 0, len(f) - 14, len(f) - 14) + f[14:]
        for i, f in enumerate(frames))]  # link type 101: the same frames as raw IP
    blocks = pcapng_bytes([(1, 6)], [(0, 1_700_000_000_000_000_000 + i * 1000, f)
                                     for i, f in enumerate(frames)])
    pos = 0
    while struct.unpack_from("<I", blocks, pos)[0] != 6:  # its packet blocks only
        pos += struct.unpack_from("<I", blocks, pos + 4)[0]
    blocks = blocks[pos:]
    seeds += [bytes([2 | 0 << 2, 4]) + blocks, bytes([2 | 1 << 2 | 32, 6]) + blocks]
    seeds += [bytes([3 | 63 << 2, 0]) + b"".join(pdus[:20]), bytes([3 | 6 << 2, 2]) + pdus[-1]]
    return seeds


def ring_seeds(frames: list[bytes]) -> list[bytes]:
    """Inputs of fuzz_ring: TPACKET_V3 blocks as the kernel fills them, from the sample's
    frames (one, a few, as many as a block of 4 KiB or 16 KiB holds, one cut by the snap
    length), and a block with no packet."""
    def fill(size: int) -> bytes:
        count = 1
        while count < len(frames):
            try:
                tpacket3_block(frames[:count + 1], size=size)
            except ValueError:
                break
            count += 1
        return tpacket3_block(frames[:count], size=size)

    return [tpacket3_block(frames[:1], size=256), tpacket3_block(frames[3:7], size=2048),
            fill(4096), fill(16384), tpacket3_block(frames[:2], size=1024, wire_extra=[0, 9]),
            tpacket3_block([], size=64)]


def pcap_frames(pcap: bytes) -> list[bytes]:
    """The raw frames of a little-endian microsecond pcap (the sample's format)."""
    frames = []
    pos = 24
    while pos + 16 <= len(pcap):
        caplen = int.from_bytes(pcap[pos + 8:pos + 12], "little")
        frames.append(pcap[pos + 16:pos + 16 + caplen])
        pos += 16 + caplen
    return frames


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "corpus"
    print(build(target))
