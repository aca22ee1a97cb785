"""The report's fast lane, front half: classic pcap bytes to framed PDUs, whole arrays at a time.

Why a second front end: the statistics of a capture of millions of frames are wanted in seconds,
and the per-segment path (reader, :class:`~cmppdissect.capture.tcp.TcpTracker`,
:class:`~cmppdissect.protocol.framing.PduFramer`) costs about 3 µs of Python per frame. Most
captures of a CMPP link are *regular*: Ethernet, IPv4, every connection opened by a handshake,
every segment in order. For those, numpy parses all headers of a chunk of the file at once and
each direction's bytes are joined and cut at Total_Length, with a Python step per PDU only.

The lane knows its limits: anything the per-segment path would treat specially (a
retransmission, a gap, a fragment, a connection picked up mid-stream, a header that is not
plausible, bytes left over at the end, another link type...) raises
:class:`IrregularCaptureError`, and the caller starts again on the per-segment path, which
handles everything. So on a capture the lane accepts it must give exactly what that path
gives: ``tests/test_fastlane.py`` compares the two on every sample, on generated busy links and
on random conversations.

Sans-IO: :meth:`ColumnScanner.feed` takes bytes of the file, in any chunks.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cmppdissect.capture.linklayer import format_endpoint
from cmppdissect.capture.pcapsource import (
    _EPB,
    _IDB,
    _PB,
    _PCAP_MAGICS,
    _PCAPNG_BOM_BE,
    _PCAPNG_BOM_LE,
    _PCAPNG_SHB,
    _SPB,
    FAST_LINKS,
    MAX_BLOCK,
    MAX_CAPLEN,
    interface_fields,
)
from cmppdissect.capture.records import FIN, RST, SYN, ConnStats
from cmppdissect.protocol.commands import MAX_PDU_LEN
from cmppdissect.protocol.framing import LENGTHS as _LENGTHS

_MASK = 0xFFFFFFFF
_LEN_CMD = struct.Struct(">II")
_PCAPNG_BOMS = (_PCAPNG_BOM_LE, _PCAPNG_BOM_BE)


class IrregularCaptureError(Exception):
    """This capture needs the per-segment path; the message says why (for the curious)."""


@dataclass(slots=True)
class ConnEvent:
    """A connection opening (its SYN) or closing, in frame order among the PDUs."""

    frame: int
    ts_ns: int | None
    conn: int
    opened: bool
    client: str = ""
    server: str = ""
    how: str = ""
    stats: ConnStats | None = None
    last_data_ts: int | None = None  # closing: the time of the connection's last data


@dataclass(slots=True)
class Pdus:
    """PDUs completed in one chunk, in capture order, as columns.

    Their bytes are in ``blob`` (every direction's bytes of the chunk, joined once), PDU ``i``
    at ``at[i]``; the header fields are read from there by whoever needs them.
    """

    blob: bytes = b""
    at: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0, np.int64))
    frame: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0, np.int64))
    ts_ns: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0, np.int64))
    conn: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0, np.int64))
    from_client: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0, bool))

    def __len__(self) -> int:
        return len(self.at)


@dataclass(slots=True)
class Batch:
    pdus: Pdus
    events: list[ConnEvent]  # sorted by frame; an opening precedes, a closing follows, the PDUs
    last_ts: int = 0


class _Half:
    __slots__ = ("carry", "conn", "fin_checked", "fin_frame", "from_client", "isn", "nxt32",
                 "peer", "pos", "syn_frame")

    def __init__(self, conn: _Conn, from_client: bool) -> None:
        self.conn = conn
        self.from_client = from_client
        self.isn: int | None = None
        self.nxt32: int | None = None
        self.pos = 0  # stream position of ``carry``'s first byte
        self.carry = b""  # bytes of a PDU not yet complete
        self.fin_frame: int | None = None
        self.fin_checked = False
        self.syn_frame: int | None = None  # the SYN (or SYN-ACK) that started this direction
        self.peer: _Half | None = None


class _Conn:
    __slots__ = ("c2s", "client", "close_frame", "closed", "frames", "id", "last_data_ts",
                 "rst_frame", "s2c", "server")

    def __init__(self, ident: int, client: str, server: str) -> None:
        self.id = ident
        self.client = client
        self.server = server
        self.c2s = _Half(self, True)
        self.s2c = _Half(self, False)
        self.c2s.peer, self.s2c.peer = self.s2c, self.c2s
        self.frames = 0
        self.closed = False
        self.close_frame: int | None = None
        self.rst_frame: int | None = None
        self.last_data_ts: int | None = None

    def stats(self) -> ConnStats:
        return ConnStats(frames=self.frames, bytes_from_client=self.c2s.pos + len(self.c2s.carry),
                         bytes_from_server=self.s2c.pos + len(self.s2c.carry))


def _u16be(a: np.ndarray[Any, Any], at: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    out: np.ndarray[Any, Any] = (a[at].astype(np.int64) << 8) | a[at + 1]
    return out


def _u32(a: np.ndarray[Any, Any], at: np.ndarray[Any, Any], little: bool) -> np.ndarray[Any, Any]:
    b = [a[at + i].astype(np.int64) for i in range(4)]
    if little:
        b.reverse()
    out: np.ndarray[Any, Any] = (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]
    return out


class ColumnScanner:
    """Classic pcap, IPv4, TCP (behind Ethernet with at most one VLAN tag, Linux cooked v1 or
    v2, or raw IP): bytes in, :class:`Batch` es of PDUs out."""

    def __init__(self, *, ports: frozenset[int]) -> None:
        self.ports = ports
        self._rest = b""
        self._little: bool | None = None
        self._unit = 1000
        self._frame = 0  # frames before the current chunk
        self._halves: dict[bytes, _Half] = {}  # directed 12-byte key -> receive half
        self._conns: list[_Conn] = []
        self._last_ts = 0
        self._limit = MAX_CAPLEN
        self._format: str | None = None
        self._at = 0  # where the first record or block of the next chunk starts
        self._link: tuple[int, int, int] | None = None
        self._sections = 0
        self._interfaces = 0
        self._offset_ns = 0  # pcapng if_tsoffset

    # -- input ------------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> Batch:
        buf = self._rest + chunk if self._rest else chunk
        if self._format is None:
            if len(buf) < 28:
                self._rest = buf
                return Batch(Pdus(), [])
            self._header(buf)
        walk = self._walk_pcap if self._format == "pcap" else self._walk_pcapng
        return self._chunk(buf, *walk(buf))

    def _header(self, buf: bytes) -> None:
        magic = _PCAP_MAGICS.get(bytes(buf[:4]))
        if magic is not None:
            order, self._unit, record_header = magic
            if record_header != 16:
                raise IrregularCaptureError("a patched-libpcap record header")
            self._little = order == "<"
            snaplen, network = struct.unpack_from(order + "II", buf, 16)
            self._set_link(network & 0xFFFF)  # as the reader reads it
            # Longer records make the reader note it (or stop): the long way says so.
            self._limit = snaplen if 0 < snaplen < MAX_CAPLEN else MAX_CAPLEN
            self._format = "pcap"
            self._at = 24
        elif bytes(buf[:4]) == b"\x0a\x0d\x0d\x0a" and bytes(buf[8:12]) in _PCAPNG_BOMS:
            self._little = bytes(buf[8:12]) == _PCAPNG_BOMS[0]
            self._format = "pcapng"
            self._at = 0
        else:
            raise IrregularCaptureError("not a pcap or pcapng file")

    def _set_link(self, linktype: int) -> None:
        link = FAST_LINKS.get(linktype)  # the link types the reader reads inline
        if link is None or link[1] == -3:
            raise IrregularCaptureError("a link type the lane does not read")
        if self._link is not None and link != self._link:
            raise IrregularCaptureError("interfaces of different link types")
        self._link = link

    def finish(self) -> Batch:
        if self._rest:
            raise IrregularCaptureError("the file ends inside a record")
        events: list[ConnEvent] = []
        for conn in self._conns:
            if not conn.closed:
                for half in (conn.c2s, conn.s2c):
                    if half.carry:
                        raise IrregularCaptureError("a stream ends inside a PDU")
                events.append(ConnEvent(0, None, conn.id, False, how="end-of-capture",
                                        stats=conn.stats(), last_data_ts=conn.last_data_ts))
        return Batch(Pdus(), events)

    # -- frames -----------------------------------------------------------------------------

    def _walk_pcap(self, buf: bytes) -> tuple[np.ndarray[Any, Any], ...]:
        """The complete records in ``buf``: where each frame starts, its captured and wire
        lengths, its time; the rest of ``buf`` waits for the next chunk."""
        unpack = struct.Struct("<I" if self._little else ">I").unpack_from
        offsets: list[int] = []
        add = offsets.append
        n = len(buf)
        off = self._at
        self._at = 0
        while off + 16 <= n:
            incl = unpack(buf, off + 8)[0]
            if incl > self._limit:
                raise IrregularCaptureError("a record longer than the snapshot length")
            end = off + 16 + incl
            if end > n:
                break
            add(off)
            off = end
        self._rest = bytes(buf[off:])
        a = np.frombuffer(buf, dtype=np.uint8)
        rec = np.asarray(offsets, dtype=np.int64)
        little = bool(self._little)
        sub = _u32(a, rec + 4, little)
        if np.any(sub * self._unit >= 1_000_000_000):
            raise IrregularCaptureError("a time stamp's fraction is a second or more")
        ts = _u32(a, rec, little) * 1_000_000_000 + sub * self._unit
        return rec + 16, _u32(a, rec + 8, little), _u32(a, rec + 12, little), ts

    def _walk_pcapng(self, buf: bytes) -> tuple[np.ndarray[Any, Any], ...]:
        """As :meth:`_walk_pcap` for one pcapng section of Enhanced Packet Blocks (what
        dumpcap and Wireshark write), on interfaces that agree on link type and clock."""
        order = "<" if self._little else ">"
        head = struct.Struct(order + "II").unpack_from
        offsets: list[int] = []
        add = offsets.append
        n = len(buf)
        off = self._at
        self._at = 0
        while off + 12 <= n:
            btype, blen = head(buf, off)
            if blen < 12 or blen & 3 or blen > MAX_BLOCK:
                raise IrregularCaptureError("a pcapng block the reader would note")
            if off + blen > n:
                break
            if btype == _EPB:
                if off + 12 <= n and head(buf, off + 8)[0] >= self._interfaces:
                    raise IrregularCaptureError("a packet on an interface not described yet")
                add(off)
            elif btype == _PCAPNG_SHB:
                if self._sections:
                    raise IrregularCaptureError("a second pcapng section")
                self._sections += 1
            elif btype == _IDB:
                self._interface(buf, off, blen, order)
            elif btype in (_SPB, _PB):
                raise IrregularCaptureError("simple or obsolete packet blocks")
            off += blen
        self._rest = bytes(buf[off:])
        a = np.frombuffer(buf, dtype=np.uint8)
        blk = np.asarray(offsets, dtype=np.int64)
        little = bool(self._little)
        incl = _u32(a, blk + 20, little)
        if (np.any(incl + 32 > _u32(a, blk + 4, little))
                or np.any(_u32(a, blk + 8, little) >= self._interfaces)):
            raise IrregularCaptureError("a packet block the reader would take the long way")
        raw = (_u32(a, blk + 12, little) << 32) | _u32(a, blk + 16, little)
        return blk + 28, incl, _u32(a, blk + 24, little), raw * self._unit + self._offset_ns

    def _interface(self, buf: bytes, block: int, blen: int, order: str) -> None:
        """An Interface Description Block, read as the reader reads it (link type, clock)."""
        if blen < 20:
            raise IrregularCaptureError("an interface block too short")
        linktype, _snaplen, resol, offset_s = interface_fields(buf, block, blen, order)
        if resol & 0x80 or resol > 9:
            raise IrregularCaptureError("a clock resolution the lane does not convert")
        clock = (10 ** (9 - resol), offset_s * 1_000_000_000)
        if self._interfaces and clock != (self._unit, self._offset_ns):
            raise IrregularCaptureError("interfaces with different clocks")
        self._unit, self._offset_ns = clock
        self._set_link(linktype)
        self._interfaces += 1

    def _chunk(self, buf: bytes, start: np.ndarray[Any, Any], incl: np.ndarray[Any, Any],
               wire: np.ndarray[Any, Any], ts: np.ndarray[Any, Any]) -> Batch:
        first_frame = self._frame + 1
        self._frame += len(start)
        if not len(start):
            return Batch(Pdus(), [])
        a = np.frombuffer(buf, dtype=np.uint8)
        if np.any(incl != wire):
            raise IrregularCaptureError("frames cut by the snapshot length")
        assert self._link is not None
        min_len, et_at, ip_at = self._link
        if np.any(incl < min_len):
            raise IrregularCaptureError("a frame too short for its link header, IPv4 and TCP")
        if ts[0] < self._last_ts or np.any(ts[1:] < ts[:-1]):
            raise IrregularCaptureError("time goes backwards")
        self._last_ts = int(ts[-1])
        if et_at >= 0:  # as the reader: IPv4 behind the EtherType, or behind one VLAN tag
            ethertype = _u16be(a, start + et_at)
            tagged = ethertype == 0x8100
            if np.any(tagged):
                ethertype[tagged] = _u16be(a, start[tagged] + ip_at + 2)  # where the reader looks
            ip = start + ip_at + tagged * 4
        else:  # raw IP
            version = a[start] >> 4 if et_at == -1 else np.full(len(start), 4)
            ethertype = np.where(version == 4, 0x0800, 0)
            ip = start + ip_at
        if (np.any(ethertype != 0x0800) or np.any(a[ip] != 0x45)
                or np.any(start + incl - ip < 40)):
            raise IrregularCaptureError("not all frames are IPv4 without options")
        if np.any(_u16be(a, ip + 6) & 0x3FFF):
            raise IrregularCaptureError("IPv4 fragments")
        tcp_frames = np.flatnonzero(a[ip + 9] == 6)  # the reader passes over UDP and the like
        ip, ts, incl, start = ip[tcp_frames], ts[tcp_frames], incl[tcp_frames], start[tcp_frames]
        total = _u16be(a, ip + 2)
        tcp = ip + 20
        data = tcp + (a[tcp + 12] >> 4).astype(np.int64) * 4
        if np.any((total < 40) | (total > start + incl - ip) | (data < ip + 40)
                  | (data > ip + total)):
            raise IrregularCaptureError("IPv4 or TCP lengths the reader would not take as they are")
        plen = ip + total - data
        flags = _u16be(a, tcp + 12) & 0x0FFF
        seq = _u32(a, tcp + 4, False)
        keys = a[np.concatenate([ip[:, None] + np.arange(12, 20), tcp[:, None] + np.arange(4)],
                                axis=1)]
        uniq, inverse = np.unique(np.ascontiguousarray(keys).view("V12").ravel(),
                                  return_inverse=True)
        frames = tcp_frames + first_frame
        events = self._control(uniq, inverse, flags, seq, frames, ts)
        out = _Collector()
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(uniq) + 1))
        for k, raw in enumerate(uniq):
            idx = order[bounds[k]:bounds[k + 1]]
            half = self._halves.get(bytes(raw))
            if half is None:
                raise IrregularCaptureError("a connection without its handshake")
            self._direction(half, buf, idx, frames, ts, flags, seq, data, plen, out)
        for conn in self._conns:
            if conn.close_frame is not None and not conn.closed:
                conn.closed = True
                for half in (conn.c2s, conn.s2c):
                    if half.carry:
                        raise IrregularCaptureError("a connection closes inside a PDU")
                how = "rst" if conn.close_frame == conn.rst_frame else "fin"
                events.append(ConnEvent(conn.close_frame, self._ts_of(conn.close_frame, frames,
                                                                      ts),
                                        conn.id, False, how=how, stats=conn.stats(),
                                        last_data_ts=conn.last_data_ts))
        events.sort(key=lambda e: (e.frame, not e.opened))
        return Batch(out.pdus(), events, int(ts[-1]) if len(ts) else 0)

    @staticmethod
    def _ts_of(frame: int, frames: np.ndarray[Any, Any], ts: np.ndarray[Any, Any]) -> int:
        return int(ts[int(np.searchsorted(frames, frame))])

    def _control(self, uniq: np.ndarray[Any, Any], inverse: np.ndarray[Any, Any],
                 flags: np.ndarray[Any, Any], seq: np.ndarray[Any, Any],
                 frames: np.ndarray[Any, Any], ts: np.ndarray[Any, Any]) -> list[ConnEvent]:
        """SYN, FIN and RST segments in frame order, as the tracker would take them: a SYN
        opens a connection, its SYN-ACK starts the other direction, a RST or the second FIN
        closes it (later segments of a closed connection count for nothing)."""
        events: list[ConnEvent] = []
        for i in np.flatnonzero(flags & (SYN | FIN | RST)).tolist():
            key = bytes(uniq[inverse[i]])
            half = self._halves.get(key)
            f = int(flags[i])
            frame = int(frames[i])
            if half is not None and half.conn.close_frame is not None:
                if f & SYN:
                    raise IrregularCaptureError("a connection's 4-tuple reused")
                continue
            if f & SYN:
                half = self._syn(key, half, f, int(seq[i]), frame)
                if half.from_client:
                    conn = half.conn
                    events.append(ConnEvent(frame, int(ts[i]), conn.id, True,
                                            client=conn.client, server=conn.server))
                if f & (FIN | RST):
                    raise IrregularCaptureError("a SYN with FIN or RST")
                continue
            if half is None:
                raise IrregularCaptureError("a connection without its handshake")
            conn = half.conn
            if f & RST:
                conn.rst_frame = conn.close_frame = frame
            elif half.fin_frame is None:
                half.fin_frame = frame
                peer = half.peer
                if peer is not None and peer.fin_frame is not None:
                    conn.close_frame = frame
        return events

    def _syn(self, key: bytes, half: _Half | None, flags: int, isn: int, frame: int) -> _Half:
        if not flags & 0x10:  # a SYN: a new connection from its client
            if half is not None:
                raise IrregularCaptureError("a SYN for a connection already open (retransmitted?)")
            sport, dport = struct.unpack_from(">HH", key, 8)
            if dport not in self.ports or sport in self.ports:
                raise IrregularCaptureError("a connection on a port that is not CMPP's")
            conn = _Conn(len(self._conns), format_endpoint(key[0:4], sport),
                         format_endpoint(key[4:8], dport))
            self._conns.append(conn)
            self._halves[key] = half = conn.c2s
            self._halves[key[4:8] + key[0:4] + key[10:12] + key[8:10]] = conn.s2c
        elif half is None or half.from_client or half.isn is not None:
            raise IrregularCaptureError("a SYN-ACK out of place")
        half.isn = isn
        half.nxt32 = (isn + 1) & _MASK
        half.syn_frame = frame
        return half

    def _direction(self, half: _Half, buf: bytes, idx: np.ndarray[Any, Any],
                   frames: np.ndarray[Any, Any], ts: np.ndarray[Any, Any],
                   flags: np.ndarray[Any, Any], seq: np.ndarray[Any, Any],
                   data: np.ndarray[Any, Any], plen: np.ndarray[Any, Any],
                   out: _Collector) -> None:
        """One direction's segments of this chunk: check they are in order, frame the bytes."""
        conn = half.conn
        if conn.closed:
            if np.any(flags[idx] & SYN):
                raise IrregularCaptureError("a connection's 4-tuple reused")
            return  # late ACKs of a finished connection: the tracker passes over them too
        fl = flags[idx]
        fr = frames[idx]
        if half.syn_frame is None or int(fr[0]) < half.syn_frame:
            raise IrregularCaptureError("a direction seen before its SYN")
        if conn.close_frame is not None:
            live = fr <= conn.close_frame
            if not np.all(live):
                if np.any(fl[~live] & SYN):
                    raise IrregularCaptureError("a connection's 4-tuple reused")
                idx, fl, fr = idx[live], fl[live], fr[live]
        conn.frames += len(idx)
        pl = plen[idx]
        has = pl > 0
        if np.any(has):
            self._data(half, buf, idx[has], fl[has], fr[has], ts, seq, data, pl[has], out)
        if (half.fin_frame is not None and len(fr) and half.fin_frame <= int(fr[-1])
                and not half.fin_checked):
            # The FIN must come right after the bytes seen: the tracker takes a FIN further on
            # as bytes missing from the capture (a gap at the close).
            j = int(idx[int(np.searchsorted(fr, half.fin_frame))])
            if (int(seq[j]) + int(plen[j])) & _MASK != half.nxt32:
                raise IrregularCaptureError("a FIN past the bytes seen")
            half.fin_checked = True

    def _data(self, half: _Half, buf: bytes, didx: np.ndarray[Any, Any],
              fl: np.ndarray[Any, Any], fr: np.ndarray[Any, Any], ts: np.ndarray[Any, Any],
              seq: np.ndarray[Any, Any], data: np.ndarray[Any, Any], ln: np.ndarray[Any, Any],
              out: _Collector) -> None:
        """The data segments of one direction in this chunk: in order, then framed."""
        conn = half.conn
        if np.any(fl & (SYN | RST)):
            raise IrregularCaptureError("data on a SYN or RST")
        if half.fin_frame is not None and np.any(fr > half.fin_frame):
            raise IrregularCaptureError("data after a FIN")
        sq = seq[didx]
        expected = np.empty_like(sq)
        expected[0] = half.nxt32
        expected[1:] = (sq[:-1] + ln[:-1]) & _MASK
        if np.any(sq != expected):
            raise IrregularCaptureError("segments out of order, retransmitted or missing")
        half.nxt32 = int((sq[-1] + ln[-1]) & _MASK)
        dframes = fr
        conn.last_data_ts = max(conn.last_data_ts or 0, int(ts[didx[-1]]))
        starts = data[didx].tolist()
        pieces = (buf[s:s + n] for s, n in zip(starts, ln.tolist(), strict=True))
        stream = b"".join([half.carry, *pieces])
        base = half.pos
        ends = np.cumsum(ln) + (base + len(half.carry))  # stream position after each segment
        self._frame_pdus(half, stream, base, ends, dframes, ts[didx], out)

    @staticmethod
    def _frame_pdus(half: _Half, stream: bytes, base: int, ends: np.ndarray[Any, Any],
                    dframes: np.ndarray[Any, Any], dts: np.ndarray[Any, Any],
                    out: _Collector) -> None:
        """Cut ``stream`` at Total_Length; each PDU gets the frame that brought its last byte.

        The framer's test of a header (:func:`plausible_header`) is made inline: this loop
        runs once per PDU of the capture.
        """
        unpack = _LEN_CMD.unpack_from
        lengths = _LENGTHS
        n = len(stream)
        pos = 0
        starts: list[int] = []
        add = starts.append
        while pos + 8 <= n:
            total, cmd = unpack(stream, pos)
            entry = lengths.get(cmd)
            if (entry is None or total > MAX_PDU_LEN
                    or not (total in entry[0] or (not entry[0] and total >= entry[1]))):
                raise IrregularCaptureError("a PDU header that is not plausible")
            if pos + total > n:
                break
            add(pos)
            pos += total
        half.carry = stream[pos:]
        half.pos = base + pos
        if not starts:
            return
        at = np.asarray(starts, dtype=np.int64)
        last = at + _u32(np.frombuffer(stream, np.uint8), at, False) + (base - 1)
        seg = np.searchsorted(ends, last, side="right")
        out.add(stream, at, dframes[seg], dts[seg], half.conn.id, half.from_client)


class _Collector:
    """The PDUs of one chunk, gathered per direction, then put in capture order."""

    def __init__(self) -> None:
        self.streams: list[bytes] = []
        self.size = 0
        self.parts: list[tuple[np.ndarray[Any, Any], ...]] = []

    def add(self, stream: bytes, at: np.ndarray[Any, Any], frame: np.ndarray[Any, Any],
            ts: np.ndarray[Any, Any], conn: int, from_client: bool) -> None:
        n = len(at)
        self.parts.append((at + self.size, frame, ts, np.full(n, conn, np.int64),
                           np.full(n, from_client, bool)))
        self.streams.append(stream)
        self.size += len(stream)

    def pdus(self) -> Pdus:
        if not self.parts:
            return Pdus()
        cols = [np.concatenate(c) for c in zip(*self.parts, strict=True)]
        # Capture order: by completing frame; a frame's PDUs are one direction's, in order.
        order = np.argsort(cols[1], kind="stable")
        return Pdus(b"".join(self.streams), *(c[order] for c in cols))


__all__ = ["Batch", "ColumnScanner", "ConnEvent", "IrregularCaptureError", "Pdus"]
