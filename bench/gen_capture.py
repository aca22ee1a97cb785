"""Write a large, deterministic capture of mixed CMPP traffic, and say exactly what is in it.

    python bench/gen_capture.py OUT.pcap [--frames N] [--seed S] [--sessions K] [--ipv6]

The benchmarks need a capture of half a million frames or more that looks like a busy SP link,
and the engine's tests need to know what the right answers are on such a capture. So the
generator writes the frames and returns a :class:`Tally` of what it wrote: PDUs per command,
pairs, unanswered requests, result codes, status reports and which of them belong to a
SUBMIT of the capture, in the shape of the ``--report json`` document.

What the traffic holds: ``sessions`` concurrent links to port 7890 (alternately CMPP 3.0 and
2.0, each opened by a TCP handshake and a CONNECT, closed by TERMINATE and FIN; a link that has
run its course is replaced by a new one from a new client port). On each link: SUBMIT bursts
answered by SUBMIT_RESP (with Msg_Id; a few error Results, a few SUBMITs never answered), long
SMS sent as UDH parts, group sends to several recipients, status reports (DELIVER with
Registered_Delivery=1) for submits that asked for one, a few reports of submits made before
the capture, MO DELIVERs, ACTIVE_TEST both ways. Segments sometimes carry several PDUs and a
PDU is sometimes split over two segments (also inside its 12-byte header); the receiver
sometimes answers data with a bare ACK.

Speed: PDUs come from :func:`cmppdissect.protocol.encode.encode_pdu` once per template and are
then patched (Sequence_Id, Msg_Id) by ``struct``; frames are packed with ``struct`` and written
as classic pcap (microseconds, Ethernet). About 10 s for 500,000 frames on one core. The TCP
checksum is left 0 (what a capture on the sending host shows with checksum offload); IPv4
header checksums are correct.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import struct
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cmppdissect.protocol.auth import authenticator_ismg, authenticator_source
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_fields, encode_pdu
from cmppdissect.protocol.layouts import REPORT_60, REPORT_71
from cmppdissect.protocol.version import Version

SERVER_IP = "198.51.100.7"
SERVER_IP6 = "2001:db8::7"
SERVER_PORT = 7890
GATEWAY = 79101  # ISMG code of the Msg_Ids the gateway hands out (§7.1)
OLD_GATEWAY = 79102  # Msg_Ids of submits made before the capture started
MSS = 1460

_FIN, _SYN, _PSH, _ACK = 0x01, 0x02, 0x08, 0x10
_HEAD = struct.Struct(">III")
_RECORD = struct.Struct("<IIII")
_IP4_TCP = struct.Struct(">BBHHHBBH4s4sHHIIHHHH")
_IP6_TCP = struct.Struct(">IHBB16s16sHHIIHHHH")
_Q = struct.Struct(">Q")
_ETH4 = bytes.fromhex("020000000002" "020000000001" "0800")
_ETH6 = bytes.fromhex("020000000002" "020000000001" "86dd")


@dataclass(frozen=True)
class Mix:
    """How often each kind of thing happens (probabilities per occasion)."""

    burst_max: int = 8  # messages per burst: 1..burst_max
    burst_pdus: int = 12  # SUBMIT PDUs per burst at most (long SMS parts count one each)
    registered_delivery: float = 0.7  # a SUBMIT asks for a status report
    long_sms: float = 0.04  # a message of the burst is a long SMS in 2..4 UDH parts
    group_send: float = 0.03  # a message goes to 2..5 recipients
    error_result: float = 0.012  # SUBMIT_RESP with a Result other than 0
    unanswered: float = 0.0005  # a SUBMIT never gets its SUBMIT_RESP
    coalesce: float = 0.25  # the next PDU goes into the same segment
    split: float = 0.03  # a PDU is cut over two segments
    split_in_header: float = 0.3  # ... and the cut falls inside its 12-byte header
    bare_ack: float = 0.35  # the receiver of a data segment answers with a bare ACK
    slow_response: float = 0.01  # a response takes 0.2-2 s instead of a few ms
    old_reports: int = 2  # reports for submits from before the capture, at each session start
    group_gap_ms: float = 30.0  # mean pause between activities of one link
    # The first link of each client opens at a random time in [0, this) after the start; a
    # wide spread lets a capture begin while some links are up and others not yet opened.
    first_link_spread_ms: float = 200.0


@dataclass
class CommandTally:
    """Counts of one request type, as the report's ``commands`` entry has them."""

    requests: int = 0
    responses: int = 0
    paired: int = 0
    unanswered: int = 0
    orphan_responses: int = 0


@dataclass
class SessionTally:
    client: str
    server: str
    sp_id: str
    version: str
    pdus: int = 0


@dataclass
class Tally:
    """What :func:`generate` wrote; :meth:`report_view` has the ``--report json`` shape."""

    frames: int = 0
    pdus: int = 0
    data_segments: int = 0
    bare_acks: int = 0
    multi_pdu_segments: int = 0
    split_pdus: int = 0
    split_headers: int = 0
    long_messages: int = 0
    long_parts: int = 0
    group_sends: int = 0
    group_recipients: int = 0
    reports: int = 0  # status reports sent
    reports_matched: int = 0  # ... of which for a SUBMIT_RESP in the capture
    sessions: list[SessionTally] = field(default_factory=list)
    commands: dict[str, CommandTally] = field(default_factory=dict)
    results: Counter[tuple[str, int]] = field(default_factory=Counter)
    report_stats: Counter[str] = field(default_factory=Counter)

    def command(self, name: str) -> CommandTally:
        entry = self.commands.get(name)
        if entry is None:
            entry = self.commands[name] = CommandTally()
        return entry

    def report_view(self) -> dict[str, Any]:
        """The parts of ``cmppdissect --report json`` this tally predicts, in that shape."""
        return {
            "pdus": self.pdus,
            "sessions": sorted(
                ({"client": s.client, "server": s.server, "sp_id": s.sp_id,
                  "version": s.version, "pdus": s.pdus} for s in self.sessions),
                key=lambda s: s["client"]),
            "commands": {name: vars(c).copy() for name, c in sorted(self.commands.items())},
            "results": [{"command": cmd, "code": code, "count": n}
                        for (cmd, code), n in sorted(self.results.items())],
            "reports": {"stat": dict(sorted(self.report_stats.items())),
                        "matched": self.reports_matched},
        }

    def summary(self) -> dict[str, Any]:
        scalars = {k: v for k, v in vars(self).items() if isinstance(v, int)}
        return {**scalars, "sessions": len(self.sessions),
                "commands": {n: vars(c) for n, c in sorted(self.commands.items())}}


# -- PDU templates ---------------------------------------------------------------------------

_TEXTS = [
    ("ucs2", "您的验证码是 482913，5分钟内有效。"),
    ("ascii", "Your code is 482913"),
    ("gbk", "退订回T"),
    ("ucs2", "【银行】您尾号0471的账户支出人民币120.00元。"),
    ("ascii", "Reply STOP to unsubscribe"),
]
_LONG_TEXT = ("尊敬的客户，您好！您本月的账单已出，套餐内通话已用完，超出部分按标准资费收取。"
              "详情请登录网上营业厅查询，或发送短信CXZD到10086查询账单。感谢您的支持！") * 2
_STATS = ["DELIVRD"] * 90 + ["UNDELIV"] * 5 + ["EXPIRED"] * 3 + ["REJECTD", "MA:0054"]
_MARK = 0x0123456789ABCDEF  # placeholder Msg_Id, found and replaced in report templates


def _content(kind: str, text: str) -> tuple[int, bytes]:
    if kind == "ucs2":
        return 8, text.encode("utf-16-be")
    if kind == "gbk":
        return 15, text.encode("gbk")
    return 0, text.encode("ascii")


class _Templates:
    """Encoded PDUs of one version, to be completed by a header and a Msg_Id or two."""

    def __init__(self, v: Version, rng: random.Random) -> None:
        self.v = v
        self.result_fmt = struct.Struct(">IIIQB" if v is Version.V2_0 else ">IIIQI")
        common = {"Pk_total": 1, "Pk_number": 1, "Service_Id": "MVERIFY", "Fee_UserType": 2,
                  "Msg_src": "901234", "FeeType": "01", "FeeCode": "000000",
                  "Src_Id": "1065712345"}
        # Single-recipient SUBMIT bodies; Registered_Delivery (body byte 10) is patched per use.
        self.single: list[bytes] = []
        for i in range(24):
            kind, text = _TEXTS[i % len(_TEXTS)]
            fmt, content = _content(kind, text)
            dest = f"86138{rng.randrange(10**8):08d}"
            self.single.append(self._body(C.CMPP_SUBMIT, {
                **common, "Msg_Fmt": fmt, "Dest_terminal_Id": [dest], "Msg_Content": content}))
        self.group: list[tuple[bytes, int]] = []
        for n in range(2, 6):
            fmt, content = _content("ucs2", "今晚八点促销活动，全场五折。")
            dests = [f"86139{rng.randrange(10**8):08d}" for _ in range(n)]
            self.group.append((self._body(C.CMPP_SUBMIT, {
                **common, "Msg_Fmt": fmt, "Dest_terminal_Id": dests, "Msg_Content": content}), n))
        # Long SMS parts: UCS2 text cut into 134-byte parts behind a 6-byte UDH.
        self.common = common
        self.long_units = _LONG_TEXT.encode("utf-16-be")
        # Status reports: (DELIVER body before the report's Msg_Id, after it) per Stat.
        report = REPORT_60 if v is Version.V2_0 else REPORT_71
        self.reports: dict[str, tuple[bytes, bytes]] = {}
        for stat in sorted(set(_STATS)):
            rep = encode_fields(report, {"Msg_Id": _MARK, "Stat": stat,
                                         "Submit_time": "2611241015", "Done_time": "2611241016",
                                         "Dest_terminal_Id": "8613800138000",
                                         "SMSC_sequence": 7})
            body = self._body(C.CMPP_DELIVER, {
                "Dest_Id": "1065712345", "Service_Id": "MVERIFY", "Registered_Delivery": 1,
                "Src_terminal_Id": "8613800138000", "Msg_Content": rep})
            at = body.index(_Q.pack(_MARK))
            self.reports[stat] = (body[8:at], body[at + 8:])
        self.mo: list[bytes] = []
        mo_texts = (("gbk", "TD"), ("ucs2", "好的，收到"), ("ascii", "STOP"), ("gbk", "查询"))
        for kind, text in mo_texts:
            fmt, content = _content(kind, text)
            self.mo.append(self._body(C.CMPP_DELIVER, {
                "Dest_Id": "1065712345", "Msg_Fmt": fmt, "Src_terminal_Id": "8613900000001",
                "Msg_Content": content})[8:])

    def _body(self, cmd: int, fields: dict[str, Any]) -> bytes:
        return encode_pdu(cmd, 0, fields, self.v)[12:]

    @staticmethod
    def pdu(cmd: int, seq: int, body: bytes) -> bytes:
        return _HEAD.pack(12 + len(body), cmd, seq) + body

    def submit(self, seq: int, body: bytes, registered: int) -> bytes:
        return _HEAD.pack(12 + len(body), C.CMPP_SUBMIT, seq) + body[:10] + bytes(
            (registered,)) + body[11:]

    def long_parts(self, first_seq: int, ref: int, parts: int, registered: int) -> list[bytes]:
        out = []
        for i in range(parts):
            chunk = self.long_units[134 * i: 134 * (i + 1)] or "。".encode("utf-16-be")
            udh = bytes((5, 0, 3, ref, parts, i + 1))
            out.append(encode_pdu(C.CMPP_SUBMIT, first_seq + i, {
                **self.common, "Pk_total": parts, "Pk_number": i + 1,
                "Registered_Delivery": registered, "TP_udhi": 1, "Msg_Fmt": 8,
                "Dest_terminal_Id": ["8613800138000"], "Msg_Content": udh + chunk}, self.v))
        return out

    def result(self, cmd: int, seq: int, msg_id: int, code: int) -> bytes:
        return self.result_fmt.pack(self.result_fmt.size, cmd, seq, msg_id, code)

    def report(self, seq: int, own_id: int, stat: str, msg_id: int) -> bytes:
        before, after = self.reports[stat]
        body = _Q.pack(own_id) + before + _Q.pack(msg_id) + after
        return _HEAD.pack(12 + len(body), C.CMPP_DELIVER, seq) + body

    def mo_deliver(self, seq: int, own_id: int, which: int) -> bytes:
        body = _Q.pack(own_id) + self.mo[which]
        return _HEAD.pack(12 + len(body), C.CMPP_DELIVER, seq) + body


# -- TCP -------------------------------------------------------------------------------------


def _ip_words(packed: bytes) -> int:
    return sum(struct.unpack(f">{len(packed) // 2}H", packed))


class _Link:
    """Both directions of one TCP connection: builds frames with consistent seq/ack."""

    def __init__(self, client: tuple[str, int], server: tuple[str, int], rng: random.Random,
                 ipv6: bool) -> None:
        import ipaddress

        self.ipv6 = ipv6
        cip = ipaddress.ip_address(client[0]).packed
        sip = ipaddress.ip_address(server[0]).packed
        self.addr = {True: (cip, sip, client[1], server[1]), False: (sip, cip, server[1],
                                                                       client[1])}
        # IPv4 header words that never change (version/IHL, flags, TTL/proto, addresses).
        self.csum_base = {d: 0x4500 + 0x4000 + 0x4006 + _ip_words(a[0]) + _ip_words(a[1])
                          for d, a in self.addr.items()}
        self.nxt = {True: rng.randrange(1 << 32), False: rng.randrange(1 << 32)}
        self.ident = {True: rng.randrange(1 << 16), False: rng.randrange(1 << 16)}

    def frame(self, from_client: bool, flags: int, payload: bytes = b"") -> bytes:
        src, dst, sport, dport = self.addr[from_client]
        seq = self.nxt[from_client]
        ack = self.nxt[not from_client] if flags & _ACK else 0
        self.nxt[from_client] = (seq + len(payload) + (1 if flags & (_SYN | _FIN) else 0)) \
            & 0xFFFFFFFF
        offflags = 0x5000 | flags
        if self.ipv6:
            return _ETH6 + _IP6_TCP.pack(0x60000000, 20 + len(payload), 6, 64, src, dst, sport,
                                         dport, seq, ack, offflags, 65535, 0, 0) + payload
        total = 40 + len(payload)
        ident = self.ident[from_client] = (self.ident[from_client] + 1) & 0xFFFF
        s = self.csum_base[from_client] + total + ident
        s = (s & 0xFFFF) + (s >> 16)
        s = (s & 0xFFFF) + (s >> 16)
        return _ETH4 + _IP4_TCP.pack(0x45, 0, total, ident, 0x4000, 64, 6, ~s & 0xFFFF, src, dst,
                                     sport, dport, seq, ack, offflags, 65535, 0, 0) + payload


# -- sessions --------------------------------------------------------------------------------


class _Shared:
    """State every link sees: the tally, the stop signal, the gateway's Msg_Id counter."""

    def __init__(self, rng: random.Random, mix: Mix, ipv6: bool, port: int = SERVER_PORT) -> None:
        self.rng = rng
        self.mix = mix
        self.ipv6 = ipv6
        self.port = port
        self.tally = Tally()
        self.stop = False
        self.msg_seq = 0
        self.old_seq = 0
        self.next_port = 40000
        self.templates = {v: _Templates(v, rng) for v in Version}

    def msg_ids(self, t_us: int, count: int = 1, gateway: int = GATEWAY) -> int:
        """The first of ``count`` consecutive Msg_Ids stamped with time ``t_us``."""
        if gateway == GATEWAY:
            if self.msg_seq + count > 0x10000:
                self.msg_seq = 0  # never let a range carry into the gateway bits
            seq = self.msg_seq
            self.msg_seq += count
        else:
            seq = self.old_seq = (self.old_seq + 1) & 0xFFFF
        tm = time.gmtime(t_us // 1_000_000)
        return ((tm.tm_mon << 60) | (tm.tm_mday << 55) | (tm.tm_hour << 50)
                | (tm.tm_min << 44) | (min(tm.tm_sec, 59) << 38) | (gateway << 16) | seq)


Frames = Iterator[tuple[int, bytes]]


class _Session:
    """One CMPP link from CONNECT to TERMINATE; :meth:`run` yields ``(time_us, frame)``."""

    def __init__(self, shared: _Shared, version: Version, t_us: int, budget: int,
                 index: int) -> None:
        self.sh = shared
        self.rng = shared.rng
        self.mix = shared.mix
        self.v = version
        self.tpl = shared.templates[version]
        self.t = t_us
        self.budget = budget  # frames this link carries before it is closed and replaced
        self.frames = 0
        port = shared.next_port
        shared.next_port += 1
        client_ip = f"2001:db8::{10 + index % 200:x}" if shared.ipv6 else \
            f"192.0.2.{10 + index % 200}"
        server_ip = SERVER_IP6 if shared.ipv6 else SERVER_IP
        self.link = _Link((client_ip, port), (server_ip, shared.port), self.rng, shared.ipv6)
        fmt = "[{}]:{}" if shared.ipv6 else "{}:{}"
        self.sp_id = f"9{index % 100000:05d}"
        self.info = SessionTally(fmt.format(client_ip, port), fmt.format(server_ip, shared.port),
                                 self.sp_id, version.value)
        shared.tally.sessions.append(self.info)
        self.seq = {True: 1, False: 1}  # next Sequence_Id per sender
        self.pending_reports: deque[int] = deque()  # Msg_Ids owed a status report
        self.long_ref = self.rng.randrange(256)

    # -- frames ----------------------------------------------------------------------------

    def _step(self, lo_us: int = 20, hi_us: int = 300) -> int:
        self.t += self.rng.randint(lo_us, hi_us)
        return self.t

    def _wait_response(self) -> int:
        mix = self.mix
        if self.rng.random() < mix.slow_response:
            self.t += self.rng.randint(200_000, 2_000_000)
        else:
            self.t += 1500 + int(self.rng.expovariate(1 / 12_000))
        return self.t

    def _emit(self, from_client: bool, flags: int, payload: bytes = b"") -> tuple[int, bytes]:
        self.frames += 1
        self.sh.tally.frames += 1
        return self.t, self.link.frame(from_client, flags, payload)

    def _flight(self, from_client: bool, pdus: list[bytes]) -> Frames:
        """Send ``pdus`` back to back: coalesced or split over segments as a real stack might."""
        rng, mix, tally = self.rng, self.mix, self.sh.tally
        seg = b""
        starts = 0  # PDUs starting in ``seg``
        for i, pdu in enumerate(pdus):
            if rng.random() < mix.split and len(pdu) > 1:
                cut = (rng.randint(1, 11) if rng.random() < mix.split_in_header
                       else rng.randint(12, len(pdu) - 1)) if len(pdu) > 12 else \
                    rng.randint(1, len(pdu) - 1)
                tally.split_pdus += 1
                tally.split_headers += cut < 12
                yield from self._segment(from_client, seg + pdu[:cut], starts + 1)
                seg, starts = pdu[cut:], 0
            else:
                seg += pdu
                starts += 1
            last = i == len(pdus) - 1
            if last or rng.random() >= mix.coalesce or len(seg) + len(pdus[i + 1]) > MSS:
                if seg:
                    yield from self._segment(from_client, seg, starts)
                seg, starts = b"", 0
        if seg:
            yield from self._segment(from_client, seg, starts)

    def _segment(self, from_client: bool, payload: bytes, starts: int) -> Frames:
        tally = self.sh.tally
        tally.data_segments += 1
        tally.multi_pdu_segments += starts > 1
        self._step()
        yield self._emit(from_client, _PSH | _ACK, payload)
        if self.rng.random() < self.mix.bare_ack:
            tally.bare_acks += 1
            self._step(30, 200)
            yield self._emit(not from_client, _ACK)

    # -- PDU bookkeeping -------------------------------------------------------------------

    def _next_seq(self, from_client: bool) -> int:
        seq = self.seq[from_client]
        self.seq[from_client] = seq + 1
        return seq

    def _count(self, n: int = 1) -> None:
        self.sh.tally.pdus += n
        self.info.pdus += n

    def _requests(self, name: str, n: int = 1) -> None:
        self.sh.tally.command(name).requests += n
        self._count(n)

    def _response(self, name: str, result: tuple[str, int] | None = None) -> None:
        entry = self.sh.tally.command(name)
        entry.responses += 1
        entry.paired += 1
        self._count()
        if result is not None:
            self.sh.tally.results[result] += 1

    # -- activities ------------------------------------------------------------------------

    def run(self) -> Frames:
        yield from self._open()
        while not self.sh.stop and self.frames < self.budget:
            self.t += int(self.rng.expovariate(1 / (self.mix.group_gap_ms * 1000)))
            roll = self.rng.random()
            if len(self.pending_reports) > 48 or (self.pending_reports and roll < 0.3):
                yield from self._reports(self.rng.randint(1, 12))
            elif roll < 0.82:
                yield from self._submit_burst()
            elif roll < 0.94:
                yield from self._mo()
            else:
                yield from self._active_test(self.rng.random() < 0.5)
        yield from self._close()

    def _open(self) -> Frames:
        v = self.v
        yield self._emit(True, _SYN)
        self._step(200, 900)
        yield self._emit(False, _SYN | _ACK)
        self._step(100, 400)
        yield self._emit(True, _ACK)
        ts = 1124101500
        auth = authenticator_source(self.sp_id, "secret", ts)
        seq = self._next_seq(True)
        connect = encode_pdu(C.CMPP_CONNECT, seq, {
            "Source_Addr": self.sp_id, "AuthenticatorSource": auth, "Timestamp": ts,
            "Version": 0x20 if v is Version.V2_0 else 0x30}, v)
        self._requests("CMPP_CONNECT")
        yield from self._flight(True, [connect])
        width = 1 if v is Version.V2_0 else 4
        resp = encode_pdu(C.CMPP_CONNECT_RESP, seq, {
            "Status": 0, "AuthenticatorISMG": authenticator_ismg(0, auth, "secret",
                                                                  status_width=width),
            "Version": 0x20 if v is Version.V2_0 else 0x30}, v)
        self._wait_response()
        self._response("CMPP_CONNECT", ("CMPP_CONNECT_RESP", 0))
        yield from self._flight(False, [resp])
        # Reports still owed for submits of an earlier link: their Msg_Ids are not in the file.
        for _ in range(self.mix.old_reports):
            self.pending_reports.appendleft(-1)

    def _submit_burst(self) -> Frames:
        rng, mix, tpl, tally = self.rng, self.mix, self.tpl, self.sh.tally
        pdus: list[bytes] = []
        meta: list[tuple[int, int, int]] = []  # (seq, recipients, Registered_Delivery)
        for _ in range(rng.randint(1, mix.burst_max)):
            if len(pdus) >= mix.burst_pdus:
                break
            rd = 1 if rng.random() < mix.registered_delivery else 0
            roll = rng.random()
            if roll < mix.long_sms and len(pdus) + 4 <= mix.burst_pdus:
                parts = rng.randint(2, 4)
                first = self.seq[True]
                self.seq[True] += parts
                self.long_ref = (self.long_ref + 1) & 0xFF
                pdus += tpl.long_parts(first, self.long_ref, parts, rd)
                meta += [(first + i, 1, rd) for i in range(parts)]
                tally.long_messages += 1
                tally.long_parts += parts
            elif roll < mix.long_sms + mix.group_send:
                body, n = rng.choice(tpl.group)
                seq = self._next_seq(True)
                pdus.append(tpl.submit(seq, body, rd))
                meta.append((seq, n, rd))
                tally.group_sends += 1
                tally.group_recipients += n
            else:
                seq = self._next_seq(True)
                pdus.append(tpl.submit(seq, rng.choice(tpl.single), rd))
                meta.append((seq, 1, rd))
        self._requests("CMPP_SUBMIT", len(pdus))
        yield from self._flight(True, pdus)
        self._wait_response()
        resps: list[bytes] = []
        for seq, n, rd in meta:
            if rng.random() < mix.unanswered:
                tally.command("CMPP_SUBMIT").unanswered += 1
                continue
            if rng.random() < mix.error_result:
                code = rng.choice((8, 8, 8, 13, 10))
                resps.append(tpl.result(C.CMPP_SUBMIT_RESP, seq, 0, code))
            else:
                code = 0
                first = self.sh.msg_ids(self.t, n)
                resps.append(tpl.result(C.CMPP_SUBMIT_RESP, seq, first, code))
                if rd:
                    self.pending_reports.extend(range(first, first + n))
            self._response("CMPP_SUBMIT", ("CMPP_SUBMIT_RESP", code))
        if resps:
            yield from self._flight(False, resps)

    def _reports(self, count: int) -> Frames:
        rng, tpl, tally = self.rng, self.tpl, self.sh.tally
        pdus, seqs = [], []
        for _ in range(min(count, len(self.pending_reports))):
            msg_id = self.pending_reports.popleft()
            if msg_id < 0:
                msg_id = self.sh.msg_ids(self.t - 3_600_000_000, gateway=OLD_GATEWAY)
            else:
                tally.reports_matched += 1
            stat = rng.choice(_STATS)
            tally.reports += 1
            tally.report_stats[stat] += 1
            seq = self._next_seq(False)
            own = self.sh.msg_ids(self.t)
            pdus.append(tpl.report(seq, own, stat, msg_id))
            seqs.append((seq, own))
        self._requests("CMPP_DELIVER", len(pdus))
        yield from self._flight(False, pdus)
        self._wait_response()
        for _ in seqs:
            self._response("CMPP_DELIVER", ("CMPP_DELIVER_RESP", 0))
        yield from self._flight(True, [tpl.result(C.CMPP_DELIVER_RESP, seq, own, 0)
                                       for seq, own in seqs])

    def _mo(self) -> Frames:
        tpl = self.tpl
        seq = self._next_seq(False)
        own = self.sh.msg_ids(self.t)
        self._requests("CMPP_DELIVER")
        yield from self._flight(False, [tpl.mo_deliver(seq, own, self.rng.randrange(4))])
        self._wait_response()
        self._response("CMPP_DELIVER", ("CMPP_DELIVER_RESP", 0))
        yield from self._flight(True, [tpl.result(C.CMPP_DELIVER_RESP, seq, own, 0)])

    def _active_test(self, from_client: bool) -> Frames:
        seq = self._next_seq(from_client)
        self._requests("CMPP_ACTIVE_TEST")
        yield from self._flight(from_client, [self.tpl.pdu(C.CMPP_ACTIVE_TEST, seq, b"")])
        self._wait_response()
        self._response("CMPP_ACTIVE_TEST")
        yield from self._flight(not from_client,
                                [self.tpl.pdu(C.CMPP_ACTIVE_TEST_RESP, seq, b"\0")])

    def _close(self) -> Frames:
        while self.pending_reports:
            yield from self._reports(12)
        seq = self._next_seq(True)
        self._requests("CMPP_TERMINATE")
        yield from self._flight(True, [self.tpl.pdu(C.CMPP_TERMINATE, seq, b"")])
        self._wait_response()
        self._response("CMPP_TERMINATE")
        yield from self._flight(False, [self.tpl.pdu(C.CMPP_TERMINATE_RESP, seq, b"")])
        self._step()
        yield self._emit(True, _FIN | _ACK)
        self._step()
        yield self._emit(False, _FIN | _ACK)
        self._step()
        yield self._emit(True, _ACK)


def _slot(shared: _Shared, slot: int, sessions: int, per_slot: int, t0: int) -> Frames:
    """One client's links, one after the other, until the capture is long enough."""
    rng = shared.rng
    t = t0 + rng.randrange(max(1, round(shared.mix.first_link_spread_ms * 1000)))
    index = slot
    while not shared.stop:
        version = Version.V3_0 if index % 2 == 0 else Version.V2_0
        budget = max(40, int(per_slot * rng.uniform(0.35, 1.5)))
        sess = _Session(shared, version, t, budget, index)
        yield from sess.run()
        t = sess.t + rng.randint(50_000, 2_000_000)  # reconnect after a pause
        index += sessions


def generate(out: str | Path | IO[bytes], *, frames: int = 500_000, seed: int = 1,
             sessions: int = 8, ipv6: bool = False, mix: Mix | None = None,
             port: int = SERVER_PORT) -> Tally:
    """Write a pcap of at least ``frames`` frames to ``out``; return what is in it.

    ``port`` is the gateway's (a live test that replays the capture picks a free one, so that
    two replays on the same interface are told apart by a capture filter).

    The same arguments always give the same bytes. A little more than ``frames`` frames are
    written, because every link still open when the count is reached is closed properly.
    """
    shared = _Shared(random.Random(seed), mix or Mix(), ipv6, port)
    t0 = 1_764_000_000 * 1_000_000
    per_slot = max(1, frames // max(1, sessions))
    heap: list[tuple[int, int, bytes, Frames]] = []
    for slot in range(sessions):
        gen = _slot(shared, slot, sessions, per_slot, t0)
        first = next(gen, None)
        if first is not None:
            heap.append((first[0], slot, first[1], gen))
    heapq.heapify(heap)
    own = not hasattr(out, "write")
    fh: IO[bytes] = open(out, "wb") if own else out  # type: ignore[arg-type,assignment]  # noqa: SIM115
    try:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        chunks: list[bytes] = []
        written = 0
        pack = _RECORD.pack
        while heap:
            t, slot, frame, gen = heap[0]
            chunks.append(pack(t // 1_000_000, t % 1_000_000, len(frame), len(frame)))
            chunks.append(frame)
            written += 1
            if written >= frames:
                shared.stop = True
            nxt = next(gen, None)
            if nxt is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (nxt[0], slot, nxt[1], gen))
            if len(chunks) >= 8192:
                fh.write(b"".join(chunks))
                chunks.clear()
        fh.write(b"".join(chunks))
    finally:
        if own:
            fh.close()
    return shared.tally


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("out", help="pcap file to write")
    ap.add_argument("--frames", type=int, default=500_000, help="at least this many frames")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sessions", type=int, default=8, help="concurrent links (default 8)")
    ap.add_argument("--ipv6", action="store_true", help="IPv6 instead of IPv4 (all links)")
    ap.add_argument("--tally", metavar="JSON", help="also write the tally to this file")
    args = ap.parse_args(argv)
    if args.frames < 1 or args.sessions < 1:
        print("gen_capture: --frames and --sessions must be at least 1", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        tally = generate(args.out, frames=args.frames, seed=args.seed, sessions=args.sessions,
                         ipv6=args.ipv6)
    except OSError as exc:
        print(f"gen_capture: {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    took = time.perf_counter() - start
    if args.tally:
        Path(args.tally).write_text(json.dumps(
            {"summary": tally.summary(), "report": tally.report_view()}, indent=1) + "\n")
    print(f"wrote {args.out}: {tally.frames:,} frames, {tally.pdus:,} PDUs, "
          f"{len(tally.sessions)} sessions in {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
