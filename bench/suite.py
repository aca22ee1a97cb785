"""A suite of benchmark captures: one regular, six with the irregularities of real captures.

    python bench/suite.py OUTDIR [--frames N] [--seed S] [--only NAME,...] [--force]

``bench/gen_capture.py`` writes one kind of file: a single clock, Ethernet, IPv4, every
connection from its SYN to its FIN, every segment once and in order. Real captures are rarely
like that, and an analyzer fast on that file alone may be slow, or wrong, on the others. Each
capture below holds the same kind of traffic (most of them the very frames of ``clean.pcap``,
transformed) with one family of irregularities, so that a benchmark can say what each costs:

``clean.pcap``
    ``gen_capture.generate()`` as it is: 8 concurrent SP links, CMPP 3.0 and 2.0 alternating.
    The reference every other capture is compared with.
``irregular.pcap``
    The frames of ``clean.pcap`` as a capture on a lossy SPAN port shows them, per connection:
    TCP retransmissions (0.5% of the data segments sent again 1-50 ms later, same seq and
    bytes, a new IP ID), exact duplicate frames right after their original (0.3% of the frames:
    a SPAN port that mirrors both directions of a switch, a duplicating tap), reordering (for
    0.5% of the data segments, the segment and the connection's next frame, a data segment of
    the same direction, change places: multipath, a multi-queue NIC; no ACK of the first
    comes between them), exactly one gap per connection (a data segment, never the first or
    last of its direction, missing: the capture dropped it, the receiver did not, so the
    peer's ACKs cover it), and a mid-stream start (the capture begins ~0.5% into the traffic,
    so the links already up show no SYN and no CONNECT, and the first frame starts inside a
    PDU). The analyzer must take every byte once, resynchronise after the gaps and the start,
    and infer the version of the sessions whose CONNECT it missed. Should the cut take more
    frames than the copies add, a few more duplicates bring the file to ``frames``.
``jitter.pcap``
    The frames of ``clean.pcap`` in the same order, each stamped 0-99 µs late (per frame): the
    clock of a capture merged from several queues or taps. Time sometimes runs backwards
    between frames of different connections (and, rarely, within one); the PDUs are the same.
``loopback.pcap``
    What ``tcpdump -i any`` on the loopback writes (the simulator's own captures, a gateway and
    SP on one host): Linux cooked capture (SLL, link type 113), addresses 127.0.0.x, and every
    packet twice in a row, once outgoing (packet type 4) and once incoming (packet type 0), the
    same bytes, 0-1 µs apart. TCP reassembly must drop the second copies (exact duplicates).
``ipv6.pcap``
    ``gen_capture.generate(ipv6=True)``: the same traffic over IPv6, a 40-byte IP header and
    endpoints written ``[addr]:port``.
``multi-if.pcapng``
    pcapng as dumpcap writes a capture on two interfaces: an Ethernet one with microsecond
    timestamps (``if_tsresol`` absent: the default) and a Linux cooked v2 one ("any": SLL2, link
    type 276) with ``if_tsresol`` = 9 (nanoseconds, sub-microsecond digits filled in). The
    odd-numbered connections of ``clean.pcap`` go out on the second interface, as Enhanced
    Packet Blocks. Halfway through, a second section (big-endian this time, both interfaces
    described again, ``if_tsresol`` = 6 stated) continues the traffic, as concatenated pcapng
    files do; a reader must start a new interface list and byte order per section.
``mixed-versions.pcap``
    16 concurrent links whose first opening is spread over 20 s, captured from a moment when
    about half of them are already logged in: those sessions show neither SYN nor CONNECT
    (and may start mid-PDU), so their version (2.0 or 3.0, both present) must be inferred from
    PDU lengths, while the others and every later reconnection open with a CONNECT. Models a
    capture started on a busy gateway.

Every file holds at least ``frames`` frames (``loopback`` twice as many), all valid: IPv4
header checksums correct, TCP checksums 0 as with checksum offload. The same ``frames`` and
``seed`` always give the same bytes. Each file has a sidecar ``NAME.json`` (frames, seed, what
is in it, a hash of this script and the generator); a file whose sidecar matches is not built
again. Building the whole suite at the default 600,000 frames takes about 30 s on one core and
writes about 820 MB (``loopback.pcap`` is 200 MB of it).
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import io
import json
import os
import random
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_capture

SUITE_VERSION = 1
NAMES = ("clean", "irregular", "jitter", "loopback", "ipv6", "multi-if", "mixed-versions")
FILES = {name: f"{name}.pcapng" if name == "multi-if" else f"{name}.pcap" for name in NAMES}

LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
PACKET_HOST, PACKET_OUTGOING = 0, 4
_SYN, _FIN = 0x02, 0x01
SERVER_PORT = gen_capture.SERVER_PORT

_PCAP_HEAD = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
_TCP = struct.Struct(">HHIIH")  # ports, seq, ack, data offset + flags
_SLL = struct.Struct(">HHH8sH")  # packet type, ARPHRD type, address length, address, protocol
_SLL2 = struct.Struct(">HHIHBB8s")  # protocol, reserved, ifindex, ARPHRD, type, addr len, addr

Frame = tuple[int, bytes]  # (time in µs, Ethernet frame as gen_capture writes it)


# -- reading and writing ---------------------------------------------------------------------


def read_pcap(data: bytes) -> list[Frame]:
    """The records of a little-endian, microsecond, Ethernet pcap (what gen_capture writes)."""
    magic, _major, _minor, _zone, _sig, _snap, linktype = _PCAP_HEAD.unpack_from(data)
    if magic != 0xA1B2C3D4 or linktype != LINKTYPE_ETHERNET:
        raise ValueError("not a little-endian microsecond Ethernet pcap")
    frames: list[Frame] = []
    append = frames.append
    unpack = _RECORD.unpack_from
    pos, n = _PCAP_HEAD.size, len(data)
    while pos + 16 <= n:
        sec, usec, incl, _orig = unpack(data, pos)
        pos += 16
        append((sec * 1_000_000 + usec, data[pos:pos + incl]))
        pos += incl
    return frames


def _write_atomically(path: Path, chunks: Iterable[bytes]) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        batch: list[bytes] = []
        for chunk in chunks:
            batch.append(chunk)
            if len(batch) >= 16384:
                fh.write(b"".join(batch))
                batch.clear()
        fh.write(b"".join(batch))
    os.replace(tmp, path)


def _pcap_chunks(frames: Iterable[Frame], linktype: int) -> Iterable[bytes]:
    yield _PCAP_HEAD.pack(0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)
    pack = _RECORD.pack
    for t, frame in frames:
        yield pack(t // 1_000_000, t % 1_000_000, len(frame), len(frame))
        yield frame


def write_pcap(path: Path, frames: Iterable[Frame], linktype: int = LINKTYPE_ETHERNET) -> None:
    _write_atomically(path, _pcap_chunks(frames, linktype))


# -- dissecting gen_capture's frames ---------------------------------------------------------


@dataclass
class Dissection:
    """Per frame: its connection (numbered by first appearance), direction, TCP fields."""

    conn: list[int] = field(default_factory=list)
    from_client: list[bool] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)
    payload_at: list[int] = field(default_factory=list)
    payload_len: list[int] = field(default_factory=list)
    clients: list[tuple[bytes, int]] = field(default_factory=list)  # per connection

    def payload(self, frames: Sequence[Frame], i: int) -> bytes:
        at = self.payload_at[i]
        return frames[i][1][at:at + self.payload_len[i]]

    def by_conn(self) -> list[list[int]]:
        """The frame indices of each connection, in file order."""
        out: list[list[int]] = [[] for _ in self.clients]
        for i, c in enumerate(self.conn):
            out[c].append(i)
        return out


def dissect(frames: Sequence[Frame]) -> Dissection:
    d = Dissection()
    ids: dict[tuple[bytes, int], int] = {}
    unpack = _TCP.unpack_from
    for _t, fr in frames:
        if fr[12:14] == b"\x08\x00":
            src, dst = fr[26:30], fr[30:34]
            sport, dport, seq, _ack, offfl = unpack(fr, 34)
            at, plen = 54, int.from_bytes(fr[16:18], "big") - 40
        elif fr[12:14] == b"\x86\xdd":
            src, dst = fr[22:38], fr[38:54]
            sport, dport, seq, _ack, offfl = unpack(fr, 54)
            at, plen = 74, int.from_bytes(fr[18:20], "big") - 20
        else:
            raise ValueError("a frame that is not TCP over IP over Ethernet")
        fc = dport == SERVER_PORT
        key = (src, sport) if fc else (dst, dport)
        c = ids.get(key)
        if c is None:
            c = ids[key] = len(d.clients)
            d.clients.append(key)
        d.conn.append(c)
        d.from_client.append(fc)
        d.flags.append(offfl & 0x3F)
        d.seq.append(seq)
        d.payload_at.append(at)
        d.payload_len.append(plen)
    return d


class _Framer:
    """Just enough of CMPP framing to tell whether a segment starts on a PDU boundary."""

    __slots__ = ("head", "rest")

    def __init__(self) -> None:
        self.rest = 0  # bytes of the current PDU still to come
        self.head = b""  # the part of a Total_Length field seen so far

    def feed(self, data: bytes) -> bool:
        """Consume ``data``; return whether it began on a PDU boundary."""
        boundary = not self.rest and not self.head
        i, n = 0, len(data)
        while i < n:
            if self.rest:
                take = min(self.rest, n - i)
                self.rest -= take
                i += take
            else:
                piece = data[i:i + 4 - len(self.head)]
                self.head += piece
                i += len(piece)
                if len(self.head) == 4:
                    self.rest = max(0, int.from_bytes(self.head, "big") - 4)
                    self.head = b""
        return boundary


def _ipv4_checksum(header: bytes) -> int:
    s: int = sum(struct.unpack(">10H", header[:10] + b"\0\0" + header[12:20]))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _with_ident(frame: bytes, ident: int) -> bytes:
    """An Ethernet/IPv4 frame with another IP ID (and the header checksum that goes with it)."""
    ip = bytearray(frame[14:34])
    ip[4:6] = ident.to_bytes(2, "big")
    ip[10:12] = _ipv4_checksum(bytes(ip)).to_bytes(2, "big")
    return frame[:14] + bytes(ip) + frame[34:]


# -- the captures ----------------------------------------------------------------------------


Built = tuple[list[Frame], dict[str, Any]]


def build_irregular(frames: list[Frame], rng: random.Random, target: int) -> Built:
    """Mid-stream start, then per connection retransmissions, duplicates, reordering, a gap."""
    d = dissect(frames)
    plen, conn_of = d.payload_len, d.conn
    # Mid-stream start: from ~0.5% in, at the first data segment that starts inside a PDU of a
    # connection already carrying data, once two connections have their login behind them.
    first_reply: dict[int, int] = {}
    for i, c in enumerate(conn_of):
        if plen[i] and not d.from_client[i] and c not in first_reply:
            first_reply[c] = i
            if len(first_reply) == 2:
                break
    nominal = max(len(frames) // 200, *(i + 1 for i in first_reply.values()))
    framers: dict[tuple[int, bool], _Framer] = {}
    cut = -1
    for i in range(len(frames)):
        if not plen[i]:
            continue
        key = (conn_of[i], d.from_client[i])
        framer = framers.get(key)
        if framer is None:
            framer = framers[key] = _Framer()
        if not framer.feed(d.payload(frames, i)) and i >= nominal:
            cut = i
            break
    if cut < 0:
        raise ValueError("capture too small for a mid-stream start")
    frames = frames[cut:]
    d = dissect(frames)
    plen, conn_of, fc, flags = d.payload_len, d.conn, d.from_client, d.flags
    per_conn = d.by_conn()
    midstream = [c for c, idx in enumerate(per_conn) if not flags[idx[0]] & _SYN]
    n = len(frames)
    drop: set[int] = set()
    swap: dict[int, int] = {}
    dup: set[int] = set()
    retrans: list[Frame] = []
    used: set[int] = set()
    gaps = 0
    for idx in per_conn:
        data = [i for i in idx if plen[i]]
        fin_ts = next((frames[i][0] for i in idx if flags[i] & _FIN), frames[idx[-1]][0])
        # One gap: a data segment, not the first or last of its direction.
        by_dir = {True: [i for i in data if fc[i]], False: [i for i in data if not fc[i]]}
        inner = [i for segs in by_dir.values() for i in segs[1:-1]]
        if inner:
            g = rng.choice(inner)
            drop.add(g)
            segs = by_dir[fc[g]]
            k = segs.index(g)
            used.update(segs[k - 1:k + 2])
            gaps += 1
        # Reordering: a data segment and the next frame of its connection, if that is a data
        # segment of the same direction (no ACK of the first can be between them).
        pairs = [(a, b) for a, b in pairwise(idx)
                 if plen[a] and plen[b] and fc[a] == fc[b] and not {a, b} & used]
        for a, b in rng.sample(pairs, min(len(pairs), max(1, round(0.005 * len(data))))):
            if a in used or b in used:
                continue
            swap[a], swap[b] = b, a
            used.update((a, b))
        # Retransmissions 1-50 ms later, before the connection's FIN.
        free = [i for i in data if i not in used]
        for i in rng.sample(free, min(len(free), max(1, round(0.005 * len(data))))):
            t = frames[i][0] + rng.randint(1_000, 50_000)
            if t >= fin_ts:
                continue
            ident = (int.from_bytes(frames[i][1][18:20], "big") + rng.randint(1, 0xFFFE)) & 0xFFFF
            retrans.append((t, _with_ident(frames[i][1], ident)))
            used.add(i)
        # Exact duplicates, of any kind of frame.
        free = [i for i in idx if i not in used]
        for i in rng.sample(free, min(len(free), max(1, round(0.003 * len(idx))))):
            dup.add(i)
            used.add(i)
    # Top up with more duplicates should the cut have taken more than was added.
    short = target - (n - len(drop) + len(dup) + len(retrans))
    if short > 0:
        free = [i for i in range(n) if i not in used]
        dup.update(rng.sample(free, min(short, len(free))))
    retrans.sort(key=lambda f: f[0])
    main: list[Frame] = []
    for i in range(n):
        if i in drop:
            continue
        t = frames[i][0]
        frame = frames[swap[i]][1] if i in swap else frames[i][1]
        main.append((t, frame))
        if i in dup:
            main.append((t, frame))
    out = list(heapq.merge(main, retrans, key=lambda f: f[0]))
    facts = {
        "cut_frames": cut,
        "connections": len(per_conn),
        "midstream_connections": len(midstream),
        "mid_pdu_start_client": _endpoint(d.clients[conn_of[0]]),
        "retransmissions": len(retrans),
        "duplicates": len(dup),
        "swapped_pairs": len(swap) // 2,
        "gaps": gaps,
    }
    return out, facts


def _endpoint(key: tuple[bytes, int]) -> str:
    import ipaddress

    ip = ipaddress.ip_address(key[0])
    return f"[{ip}]:{key[1]}" if ip.version == 6 else f"{ip}:{key[1]}"


def build_jitter(frames: list[Frame], rng: random.Random) -> Built:
    out = [(t + rng.randrange(100), fr) for t, fr in frames]
    d = dissect(frames)
    last: dict[int, int] = {}
    backwards = within = 0
    prev = -1
    for (t, _fr), c in zip(out, d.conn, strict=True):
        backwards += t < prev
        prev = t
        within += t < last.get(c, -1)
        last[c] = t
    return out, {"backward_steps": backwards, "backward_steps_within_a_connection": within}


def build_loopback(frames: list[Frame], rng: random.Random) -> Iterator[Frame]:
    """Each IPv4 packet of ``frames`` twice behind a Linux cooked header, moved to 127.0.0.x
    (streamed: the file is twice the size of the others)."""
    server = bytes((198, 51, 100, 7))
    moved: dict[bytes, bytes] = {}  # addresses (src + dst) -> their 127.0.0.x counterparts
    sll_out = _SLL.pack(PACKET_OUTGOING, ARPHRD_LOOPBACK, 6, bytes(8), 0x0800)
    sll_in = _SLL.pack(PACKET_HOST, ARPHRD_LOOPBACK, 6, bytes(8), 0x0800)
    n = len(frames)
    for i, (t, fr) in enumerate(frames):
        if fr[12:14] != b"\x08\x00":
            raise ValueError("loopback is built from IPv4 frames")
        addrs = fr[26:34]
        new = moved.get(addrs)
        if new is None:
            new = moved[addrs] = b"".join(
                bytes((127, 0, 0, 1)) if a == server else bytes((127, 0, 0, a[3]))
                for a in (addrs[:4], addrs[4:]))
        head = fr[14:26] + new
        packet = head[:10] + _ipv4_checksum(head).to_bytes(2, "big") + head[12:] + fr[34:]
        nxt = frames[i + 1][0] if i + 1 < n else t + 1
        yield t, sll_out + packet
        yield min(t + rng.randrange(2), max(t, nxt)), sll_in + packet


def _option(code: int, value: bytes, order: str) -> bytes:
    pad = -len(value) % 4
    return struct.pack(order + "HH", code, len(value)) + value + bytes(pad)


def _block(btype: int, body: bytes, order: str) -> bytes:
    total = 12 + len(body)
    return struct.pack(order + "II", btype, total) + body + struct.pack(order + "I", total)


def _section(order: str, interfaces: list[tuple[int, bytes, int | None]]) -> bytes:
    """A Section Header Block and one Interface Description Block per (linktype, name,
    if_tsresol or None for the default)."""
    opts = _option(4, b"cmppdissect bench/suite.py", order) + _option(0, b"", order)
    out = [_block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1) + opts, order)]
    for linktype, name, resol in interfaces:
        opts = _option(2, name, order)
        if resol is not None:
            opts += _option(9, bytes((resol,)), order)
        opts += _option(0, b"", order)
        out.append(_block(1, struct.pack(order + "HHI", linktype, 0, 262144) + opts, order))
    return b"".join(out)


def build_multi_if(frames: list[Frame], rng: random.Random,
                   facts: dict[str, Any]) -> Iterator[bytes]:
    """The pcapng file's bytes, block by block; ``facts`` is filled in once they are all out."""
    d = dissect(frames)
    half = len(frames) // 2
    counts = {0: 0, 1: 0}
    conns: dict[int, set[int]] = {0: set(), 1: set()}
    order = "<"
    epb = struct.Struct(order + "IIIIIII")
    for i, (t, fr) in enumerate(frames):
        if i == 0 or i == half:
            order = "<" if i == 0 else ">"
            epb = struct.Struct(order + "IIIIIII")
            yield _section(order, [(LINKTYPE_ETHERNET, b"eth0", None if i == 0 else 6),
                                   (LINKTYPE_LINUX_SLL2, b"any", 9)])
        c = d.conn[i]
        iface = c & 1
        if iface:
            fc = d.from_client[i]
            sll2 = _SLL2.pack(int.from_bytes(fr[12:14], "big"), 0, 3, ARPHRD_ETHER,
                              PACKET_HOST if fc else PACKET_OUTGOING, 6, fr[6:12] + b"\0\0")
            packet = sll2 + fr[14:]
            stamp = t * 1000 + rng.randrange(1000)
        else:
            packet = fr
            stamp = t
        counts[iface] += 1
        conns[iface].add(c)
        pad = -len(packet) % 4
        yield epb.pack(6, 32 + len(packet) + pad, iface, stamp >> 32, stamp & 0xFFFFFFFF,
                       len(packet), len(packet))
        yield packet + bytes(pad) + struct.pack(order + "I", 32 + len(packet) + pad)
    facts.update({"sections": 2, "second_section_from_frame": half + 1,
                  "frames_per_interface": {"0 (Ethernet, µs)": counts[0],
                                           "1 (SLL2, ns)": counts[1]},
                  "connections_per_interface": {"0": len(conns[0]), "1": len(conns[1])}})


def build_mixed_versions(frames_wanted: int, seed: int) -> tuple[list[Frame], dict[str, Any]]:
    """16 links opened over 20 s; the capture starts once about half of them are logged in."""
    mix = gen_capture.Mix(first_link_spread_ms=20_000.0)
    sessions = 16
    asked = frames_wanted + frames_wanted // 20
    while True:
        buf = io.BytesIO()
        tally = gen_capture.generate(buf, frames=asked, seed=seed, sessions=sessions, mix=mix)
        frames = read_pcap(buf.getvalue())
        del buf
        d = dissect(frames)
        per_conn = d.by_conn()
        first = per_conn[:sessions]
        clients = d.clients[:sessions]  # each slot's first link (links open in slot order)
        syn = [frames[idx[0]][0] for idx in first]
        # Logged in: the CONNECT_RESP (first server data) seen; version from CONNECT's byte.
        logged = [frames[next(i for i in idx if d.payload_len[i] and not d.from_client[i])][0]
                  for idx in first]
        version = [_connect_version(frames, d, idx) for idx in first]
        by_syn = sorted(range(len(first)), key=lambda k: syn[k])
        cut_t = None
        early: list[int] = []
        for k in sorted(range(1, len(first)), key=lambda k: abs(k - len(first) // 2)):
            early = by_syn[:k]
            later_syn = syn[by_syn[k]]
            if max(logged[j] for j in early) < later_syn and len({version[j] for j in early}) == 2:
                cut_t = (max(logged[j] for j in early) + later_syn) // 2
                break
        if cut_t is None:
            raise ValueError("no moment with part of the links logged in (too few frames?)")
        kept = [f for f in frames if f[0] >= cut_t]
        if len(kept) >= frames_wanted:
            break
        asked += frames_wanted - len(kept) + frames_wanted // 100
    del frames
    d = dissect(kept)
    per_conn = d.by_conn()
    midstream = [c for c, idx in enumerate(per_conn) if not d.flags[idx[0]] & _SYN]
    version_of = {client: version[j] for j, client in enumerate(clients)}
    hidden = Counter(version_of.get(d.clients[c], "?") for c in midstream)
    # Most links open at once: +1 at a connection's first frame, -1 after its last.
    events = sorted([(kept[idx[0]][0], 1) for idx in per_conn]
                    + [(kept[idx[-1]][0], -1) for idx in per_conn])
    level = peak = 0
    for _t, step in events:
        level += step
        peak = max(peak, level)
    facts = {
        "generated_frames": tally.frames,
        "sessions_argument": sessions,
        "first_link_spread_ms": mix.first_link_spread_ms,
        "cut_frames": tally.frames - len(kept),
        "sessions": len(per_conn),
        "sessions_without_connect": len(midstream),
        "versions_without_connect": dict(sorted(hidden.items())),
        "sessions_with_connect": len(per_conn) - len(midstream),
        "max_concurrent_sessions": peak,
    }
    return kept, facts


def _connect_version(frames: Sequence[Frame], d: Dissection, idx: list[int]) -> str:
    """The Version byte of a link's CONNECT (its first client bytes), as "2.0" or "3.0"."""
    head = b""
    for i in idx:
        if d.payload_len[i] and d.from_client[i]:
            head += d.payload(frames, i)
            if len(head) > 34:
                break
    return {0x20: "2.0", 0x30: "3.0"}.get(head[34], "?") if len(head) > 34 else "?"


# -- the suite -------------------------------------------------------------------------------


def _code_hash() -> str:
    here = Path(__file__).resolve()
    h = hashlib.sha256()
    for path in (here, here.parent / "gen_capture.py"):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def build_suite(directory: str | Path, frames: int = 600_000, seed: int = 1,
                only: Iterable[str] | str | None = None, *, force: bool = False,
                log: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Write the suite's captures (those named in ``only``, default all) into ``directory``.

    A capture whose sidecar ``NAME.json`` says it was built with the same frames, seed and code
    and whose file has the recorded size is kept as it is (unless ``force``). Returns the path
    of each requested capture.
    """
    if isinstance(only, str):
        only = [n.strip() for n in only.split(",") if n.strip()]
    wanted = list(NAMES) if only is None else list(dict.fromkeys(only))
    unknown = [n for n in wanted if n not in NAMES]
    if unknown:
        raise ValueError(f"unknown capture(s) {', '.join(unknown)}; known: {', '.join(NAMES)}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    code = _code_hash()
    say = log or (lambda _msg: None)
    paths = {name: out / FILES[name] for name in wanted}

    done: set[str] = set()  # built by this call

    def cached(name: str) -> bool:
        side = out / f"{name}.json"
        path = out / FILES[name]
        if name in done:
            return True
        if force or not side.exists() or not path.exists():
            return False
        try:
            meta = json.loads(side.read_text())
        except (OSError, ValueError):
            return False
        return bool(meta.get("suite_version") == SUITE_VERSION and meta.get("code") == code
                    and meta.get("frames_requested") == frames and meta.get("seed") == seed
                    and meta.get("size") == path.stat().st_size)

    def sidecar(name: str, count: int, started: float, facts: dict[str, Any]) -> None:
        path = out / FILES[name]
        size = path.stat().st_size
        meta = {"name": name, "file": path.name, "frames_requested": frames, "seed": seed,
                "frames": count, "size": size, "suite_version": SUITE_VERSION,
                "code": code, "build_s": round(time.perf_counter() - started, 1),
                "description": _DESCRIPTIONS[name], "content": facts}
        tmp = out / f"{name}.json.part"
        tmp.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
        os.replace(tmp, out / f"{name}.json")
        done.add(name)
        say(f"{name}: built {path.name}, {count:,} frames, {size / 1e6:.1f} MB "
            f"in {meta['build_s']} s")

    base: list[Frame] | None = None

    def clean_frames() -> list[Frame]:
        nonlocal base
        if base is None:
            path = out / FILES["clean"]
            if cached("clean"):
                base = read_pcap(path.read_bytes())
            else:
                started = time.perf_counter()
                buf = io.BytesIO()
                tally = gen_capture.generate(buf, frames=frames, seed=seed)
                base = read_pcap(buf.getvalue())
                if "clean" in wanted:
                    _write_atomically(path, [buf.getvalue()])
                    sidecar("clean", len(base), started, {"tally": tally.summary()})
        return base

    for name in wanted:
        if cached(name):
            say(f"{name}: {FILES[name]} is up to date")
            continue
        started = time.perf_counter()
        rng = random.Random(f"{name}:{seed}")
        path = out / FILES[name]
        if name == "clean":
            clean_frames()  # writes clean.pcap, as "clean" is wanted
            continue
        if name == "ipv6":
            tally = gen_capture.generate(path.with_name(path.name + ".part"), frames=frames,
                                         seed=seed, ipv6=True)
            os.replace(path.with_name(path.name + ".part"), path)
            sidecar(name, tally.frames, started, {"tally": tally.summary()})
            continue
        if name == "multi-if":
            facts: dict[str, Any] = {}
            _write_atomically(path, build_multi_if(clean_frames(), rng, facts))
            sidecar(name, len(clean_frames()), started, facts)
            continue
        if name == "loopback":
            write_pcap(path, build_loopback(clean_frames(), rng), LINKTYPE_LINUX_SLL)
            sidecar(name, 2 * len(clean_frames()), started,
                    {"packets": len(clean_frames()), "copies": 2})
            continue
        if name == "irregular":
            result, facts = build_irregular(clean_frames(), rng, frames)
        elif name == "jitter":
            result, facts = build_jitter(clean_frames(), rng)
        else:  # mixed-versions
            result, facts = build_mixed_versions(frames, seed)
        write_pcap(path, result)
        sidecar(name, len(result), started, facts)
    return paths


_DESCRIPTIONS = {
    "clean": "gen_capture.generate() as it is: 8 concurrent links, CMPP 3.0/2.0 alternating",
    "irregular": "clean's frames with a mid-stream start (one link inside a PDU), per "
                 "connection 0.5% of data segments retransmitted (1-50 ms later), 0.3% of "
                 "frames duplicated, 0.5% of data segments swapped with the next, one gap",
    "jitter": "clean's frames in the same order, each stamped 0-99 us late",
    "loopback": "clean's packets as tcpdump -i any on lo writes them: Linux cooked (113), "
                "127.0.0.x, each packet outgoing then incoming",
    "ipv6": "gen_capture.generate(ipv6=True)",
    "multi-if": "pcapng: clean's frames over two interfaces (Ethernet us, SLL2 ns; odd "
                "connections on the second), two sections (little-, then big-endian)",
    "mixed-versions": "16 links opened over 20 s, captured from when about half are logged in: "
                      "their version only visible in PDU lengths",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("outdir", type=Path, help="directory to write the captures into")
    ap.add_argument("--frames", type=int, default=600_000,
                    help="at least this many frames per capture (default 600,000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", metavar="NAME,...",
                    help=f"build only these captures ({', '.join(NAMES)})")
    ap.add_argument("--force", action="store_true", help="rebuild even what is up to date")
    args = ap.parse_args(argv)
    if args.frames < 1:
        print("suite: --frames must be at least 1", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        paths = build_suite(args.outdir, args.frames, args.seed, args.only, force=args.force,
                            log=lambda msg: print(msg, flush=True))
    except (OSError, ValueError) as exc:
        print(f"suite: {exc}", file=sys.stderr)
        return 2
    print(f"{len(paths)} capture(s) in {args.outdir} ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
