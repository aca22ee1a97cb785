"""Record the sample captures of ``samples/`` again: ``python samples/record.py`` (as root).

Every sample is real traffic recorded live on loopback with :class:`LiveCapture` (the code
behind ``cmppdissect -i``), never synthesised frame by frame:

* SP <-> ISMG traffic comes from the simulator (:mod:`cmppdissect.sim`), with its knobs for
  long messages, group sends, reports, QUERY/CANCEL, heartbeats, errors, lost, duplicated and
  wrong responses, and writing PDUs in small chunks (split headers).
* The ISMG <-> ISMG (CMPP_FWD) and ISMG <-> GNS (route) PDUs, which no SP or ISMG simulator
  speaks, come from a short scripted exchange below, over real TCP, built with our own codec.

The peers use loopback addresses of their own (127.0.0.76-79) on the standard ports, and the
capture filter ``net 127.0.0.64/28`` keeps anything else on ``lo`` out of the files.

Three reassembly cases cannot happen by themselves on loopback, which loses nothing and never
retransmits; they are made from a recording by editing frames (dpkt parses and writes them, and
recomputes the checksums of an edited frame):

* ``tcp-retransmission.pcap``: two data frames (one each way) appear a second time, a moment
  later, exactly as a retransmission does;
* ``tcp-gap.pcap``: one data frame of the SP (a SUBMIT) is removed;
* ``tcp-midstream.pcap``: everything before the sixth SP data frame is removed and that frame
  loses its first 7 bytes, as when a capture starts in the middle of a PDU.

The other reassembly case, headers split across segments, is recorded as it is: the simulator
writes every PDU in 5-byte pieces with TCP_NODELAY.
"""

from __future__ import annotations

import asyncio
import struct
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import dpkt

from cmppdissect.protocol.auth import authenticator_ismg, authenticator_source
from cmppdissect.protocol.commands import HEADER_LEN, CommandId, response_of
from cmppdissect.protocol.decode import decode_pdu
from cmppdissect.protocol.encode import encode_fields, encode_pdu
from cmppdissect.protocol.layouts import REPORT_60, REPORT_71
from cmppdissect.protocol.msgid import make_msg_id
from cmppdissect.protocol.version import Version
from cmppdissect.sim.behaviour import Behaviour, Faults
from cmppdissect.sim.client import SpClient
from cmppdissect.sim.ismg import IsmgConfig
from cmppdissect.sim.messages import MessageMix
from cmppdissect.sim.msgids import connect_timestamp
from cmppdissect.sim.server import IsmgServer
from cmppdissect.sim.sp import SpConfig
from cmppdissect.sources.live import LiveCapture, LiveCaptureError

HERE = Path(__file__).resolve().parent
C = CommandId

PEER = "127.0.0.76"  # a second ISMG, which forwards to ours
ISMG = "127.0.0.77"  # our gateway: SPs on 7890, ISMGs on 7930, GNS pushes on 9168
GNS = "127.0.0.78"  # the gateway name server, on 9168
FILTER = "net 127.0.0.64/28"
SP_ID, SECRET = "901234", "123456"
MAX_SIZE = 1 << 20

Scenario = Callable[[], Awaitable[None]]


# -- recording ----------------------------------------------------------------------------------


def record(scenario: Scenario, out: Path) -> None:
    """Run ``scenario`` on loopback while capturing it into ``out``."""
    capture = LiveCapture("lo", bpf=FILTER, write=out)
    # Reading the capture is what writes it; the segments themselves are not needed here.
    reader = threading.Thread(target=lambda: sum(1 for _ in capture))
    reader.start()
    try:
        asyncio.run(scenario())
        time.sleep(0.2)  # the last FIN/ACK
    finally:
        capture.stop()
        reader.join()


async def sp_sessions(ismg: IsmgConfig, *sps: SpConfig) -> None:
    """One simulated ISMG on ISMG:7890 and the given SPs, one after the other."""
    async with IsmgServer(ismg) as server:
        host, port = await server.start(ISMG, 7890)
        for config in sps:
            await SpClient(config).run(host, port)


def sp_config(version: Version, **kw: Any) -> SpConfig:
    defaults: dict[str, Any] = {"sp_id": SP_ID, "secret": SECRET, "version": version,
                                "rate": 20, "count": 12, "linger": 0.5, "seed": 4}
    return SpConfig(**{**defaults, **kw})


def ismg_config(version: Version, **kw: Any) -> IsmgConfig:
    defaults: dict[str, Any] = {"version": version, "accounts": {SP_ID: SECRET},
                                "report_delay": 0.1, "seed": 9}
    return IsmgConfig(**{**defaults, **kw})


def full_session(version: Version) -> Scenario:
    """Everything an SP and its gateway say to each other, in one session."""
    mix = MessageMix(long_ratio=0.3, group_ratio=0.25, report_ratio=0.7, ascii_ratio=0.3,
                     gbk_ratio=0.5)
    sp = sp_config(version, rate=8, count=14, mix=mix, query_interval=0.6, cancel_ratio=0.3,
                   linger=1.0, behaviour=Behaviour(heartbeat=0.12), seed=5)
    ismg = ismg_config(version, mo_rate=3.0, report_delay=0.15,
                       behaviour=Behaviour(heartbeat=0.3))
    return lambda: sp_sessions(ismg, sp)


def failed_logins() -> Scenario:
    v3 = Version.V3_0
    return lambda: sp_sessions(
        ismg_config(v3),
        sp_config(v3, secret="not-the-secret"),  # Status 3: authentication failed
        sp_config(v3, sp_id="905555"),  # Status 2: unknown Source_Addr
        sp_config(v3, version_byte=0x40))  # Status 4: version too high


def unanswered() -> Scenario:
    """The gateway loses half of its responses; the SP resends once, then gives up."""
    v3 = Version.V3_0
    return lambda: sp_sessions(
        ismg_config(v3, behaviour=Behaviour(faults=Faults(lost=0.5))),
        sp_config(v3, count=12, mix=MessageMix(report_ratio=0.0, long_ratio=0.0),
                  behaviour=Behaviour(timeout=0.2, retries=1, heartbeat=0), linger=0.3))


def misbehaving() -> Scenario:
    """Errors, duplicated and late responses, wrong Sequence_Ids and a 16-byte ACTIVE_TEST_RESP."""
    v3 = Version.V3_0
    faults = Faults(duplicate=0.2, wrong_seq=0.15, slow=0.2, slow_delay=0.3,
                    bad_active_test_resp=1.0)
    return lambda: sp_sessions(
        ismg_config(v3, behaviour=Behaviour(error_rate=0.25, error_codes=(8, 7), heartbeat=0,
                                            faults=faults)),
        sp_config(v3, rate=10, count=12, mix=MessageMix(report_ratio=0.3, long_ratio=0.0),
                  behaviour=Behaviour(heartbeat=0.15, timeout=0.6, retries=1), linger=0.5))


def split_headers() -> Scenario:
    v3 = Version.V3_0
    chunked = Behaviour(chunk=5, chunk_gap=0.002, heartbeat=0)
    return lambda: sp_sessions(
        ismg_config(v3, behaviour=chunked),
        sp_config(v3, rate=10, count=5, mix=MessageMix(report_ratio=0.5, long_ratio=0.0),
                  behaviour=chunked))


def plain_session() -> Scenario:
    """The base of the edited samples: a plain 3.0 session of single-part messages."""
    v3 = Version.V3_0
    return lambda: sp_sessions(
        ismg_config(v3),
        sp_config(v3, rate=20, count=12, mix=MessageMix(long_ratio=0.0, group_ratio=0.0,
                                                        report_ratio=0.5)))


# -- ISMG <-> ISMG and ISMG <-> GNS: a scripted exchange over real TCP --------------------------


def _now_text() -> bytes:
    return datetime.now().strftime("%Y%m%d%H%M%S").encode()


def _responses(version: Version) -> dict[int, dict[str, Any]]:
    route = {"Route_Id": 17, "Destination_Id": b"002001", "Gateway_IP": b"10.20.30.40",
             "Gateway_port": 7930}
    mt = {"Start_Id": b"139100000", "End_Id": b"139109999", "Area_code": b"0755"}
    mo = {"SP_Id": b"901234", "SP_Code": b"1069901234", "SP_AcessType": 1}
    return {
        C.CMPP_FWD: {"Msg_Id": make_msg_id(11, 24, 9, 30, 0, 2001, 7), "Pk_total": 1,
                     "Pk_number": 1, "Result": 0},
        C.CMPP_MT_ROUTE: {**route, **mt, "Result": 0, "User_type": 0, "Time_stamp": _now_text()},
        C.CMPP_MO_ROUTE: {**route, **mo, "Start_code": 0, "End_code": 9999, "Result": 0,
                          "Time_stamp": _now_text()},
        C.CMPP_GET_MT_ROUTE: {**route, **mt, "Result": 0, "User_type": 0, "Route_total": 1,
                              "Route_number": 1, "Time_stamp": _now_text()},
        C.CMPP_GET_MO_ROUTE: {**route, **mo, "Service_Id": b"MSIM", "Start_code": 0,
                              "End_code": 9999, "Result": 0, "Route_total": 1,
                              "Route_number": 1, "Time_stamp": _now_text()},
        C.CMPP_MT_ROUTE_UPDATE: {"Result": 0, "Route_Id": 17, "Time_stamp": _now_text()},
        C.CMPP_MO_ROUTE_UPDATE: {"Result": 0, "Route_Id": 18, "Time_stamp": _now_text()},
        C.CMPP_PUSH_MT_ROUTE_UPDATE: {"Result": 0},
        C.CMPP_PUSH_MO_ROUTE_UPDATE: {"Result": 0},
        C.CMPP_ACTIVE_TEST: {},
        C.CMPP_TERMINATE: {},
    }


async def _read_pdu(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readexactly(HEADER_LEN)
        total = struct.unpack(">I", head[:4])[0]
        return head + await reader.readexactly(total - HEADER_LEN)
    except asyncio.IncompleteReadError:
        return None


def _answering(version: Version, secret: str) -> Callable[..., Awaitable[None]]:
    """A server that answers every request with a plausible response until TERMINATE/EOF."""
    table = _responses(version)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (raw := await _read_pdu(reader)) is not None:
            pdu = decode_pdu(raw, version)
            cmd, seq = pdu.Command_Id, pdu.Sequence_Id
            if cmd == C.CMPP_CONNECT:
                auth = authenticator_ismg(0, pdu.fields["AuthenticatorSource"], secret,
                                          status_width=1 if version is Version.V2_0 else 4)
                fields = {"Status": 0, "AuthenticatorISMG": auth,
                          "Version": pdu.fields["Version"]}
            else:
                fields = table[cmd]
            writer.write(encode_pdu(response_of(cmd), seq, fields, version))
            await writer.drain()
            if cmd == C.CMPP_TERMINATE:
                break
        writer.close()

    return serve


async def _ask(host: str, port: int, local: str, requests: list[tuple[int, dict[str, Any]]],
               version: Version) -> None:
    """Connect from ``local``, send each request and wait for its response, then close."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(local, 0))
    for seq, (cmd, fields) in enumerate(requests, start=1):
        writer.write(encode_pdu(cmd, seq, fields, version))
        await writer.drain()
        await _read_pdu(reader)
    writer.close()
    await writer.wait_closed()


def _fwd_requests(version: Version) -> list[tuple[int, dict[str, Any]]]:
    """CONNECT, an MT and an MO forward, an MT status report forward, ACTIVE_TEST, TERMINATE."""
    source = "001001"
    ts = connect_timestamp(datetime.now())
    common = {"Source_Id": b"002001", "Destination_Id": source.encode(), "NodesCount": 1,
              "Pk_total": 1, "Pk_number": 1, "Msg_level": 1, "Service_Id": b"MSIM",
              "Msg_src": b"901234", "FeeType": b"01", "FeeCode": b"000000",
              "Src_Id": b"10699012341"}
    text = "跨网关转发的短信".encode("utf-16-be")
    report_layout = REPORT_60 if version is Version.V2_0 else REPORT_71
    report = encode_fields(report_layout, {
        "Msg_Id": make_msg_id(11, 24, 9, 29, 58, 1001, 42), "Stat": b"DELIVRD",
        "Submit_time": b"2411240929", "Done_time": b"2411240930",
        "Dest_terminal_Id": b"8613900001111", "SMSC_sequence": 5})
    msg_id = make_msg_id(11, 24, 9, 30, 0, 2001, 1)
    return [
        (C.CMPP_CONNECT, {"Source_Addr": source.encode(),
                          "AuthenticatorSource": authenticator_source(source, SECRET, ts),
                          "Version": 0x20 if version is Version.V2_0 else 0x30,
                          "Timestamp": ts}),
        (C.CMPP_FWD, {**common, "Msg_Fwd_Type": 0, "Msg_Id": msg_id, "Registered_Delivery": 1,
                      "Msg_Fmt": 8, "Dest_Id": [b"8613900001111"], "Msg_Content": text}),
        (C.CMPP_FWD, {**common, "Msg_Fwd_Type": 1, "Msg_Id": msg_id + 1, "Msg_Fmt": 0,
                      "Src_Id": b"8613900001111", "Dest_Id": [b"10699012341"],
                      "Msg_Content": b"TD"}),
        (C.CMPP_FWD, {**common, "Msg_Fwd_Type": 2, "Msg_Id": msg_id + 2, "Msg_Fmt": 0,
                      "Registered_Delivery": 1, "Dest_Id": [b"10699012341"],
                      "Msg_Content": report}),
        (C.CMPP_ACTIVE_TEST, {}),
        (C.CMPP_TERMINATE, {}),
    ]


def _gns_requests() -> list[tuple[str, str, int, dict[str, Any]]]:
    """(from, to, command, fields): ISMG asks the GNS; the GNS pushes updates to the ISMG."""
    route = {"Route_Id": 17, "Destination_Id": b"002001", "Gateway_IP": b"10.20.30.40",
             "Gateway_port": 7930}
    mt = {"Start_Id": b"139100000", "End_Id": b"139109999", "Area_code": b"0755",
          "User_type": 0}
    mo = {"SP_Id": b"901234", "SP_Code": b"1069901234", "SP_AcessType": 1,
          "Service_Id": b"MSIM", "Start_code": 0, "End_code": 9999}
    get = {"Source_Id": b"001001", "Route_type": b"MT", "Last_route_Id": -1}
    return [
        (ISMG, GNS, C.CMPP_MT_ROUTE, {"Source_Id": b"001001", "Terminal_Id": b"13910001234"}),
        (ISMG, GNS, C.CMPP_MO_ROUTE, {"Source_Id": b"001001", "SP_Code": b"1069901234",
                                      "Service_Id": b"MSIM", "Service_Code": 1}),
        (ISMG, GNS, C.CMPP_GET_MT_ROUTE, get),
        (ISMG, GNS, C.CMPP_GET_MO_ROUTE, {**get, "Route_type": b"MO"}),
        (ISMG, GNS, C.CMPP_MT_ROUTE_UPDATE, {"Update_type": 0, **route, **mt}),
        (ISMG, GNS, C.CMPP_MO_ROUTE_UPDATE, {"Update_type": 2, **route, **mo}),
        (GNS, ISMG, C.CMPP_PUSH_MT_ROUTE_UPDATE, {"Update_type": 0, **route, **mt,
                                                  "Time_stamp": _now_text()}),
        (GNS, ISMG, C.CMPP_PUSH_MO_ROUTE_UPDATE, {"Update_type": 1, **route, **mo,
                                                  "Time_stamp": _now_text()}),
    ]


def ismg_and_gns() -> Scenario:
    async def run() -> None:
        # A 2.0 and then a 3.0 forwarding session on the ISMG <-> ISMG port.
        for version in (Version.V2_0, Version.V3_0):
            server = await asyncio.start_server(_answering(version, SECRET), ISMG, 7930)
            await _ask(ISMG, 7930, PEER, _fwd_requests(version), version)
            server.close()
            await server.wait_closed()
        v3 = Version.V3_0
        gns = await asyncio.start_server(_answering(v3, SECRET), GNS, 9168)
        pushes = await asyncio.start_server(_answering(v3, SECRET), ISMG, 9168)
        # Short connections: one request and its response each (reference section 9).
        for src, dst, cmd, fields in _gns_requests():
            await _ask(dst, 9168, src, [(cmd, fields)], v3)
        for server in (gns, pushes):
            server.close()
            await server.wait_closed()

    return run


# -- editing recorded frames (for what loopback cannot produce) ---------------------------------

Frame = tuple[float, bytes]


def read_frames(path: Path) -> list[Frame]:
    with path.open("rb") as f:
        return [(float(ts), bytes(buf)) for ts, buf in dpkt.pcap.Reader(f)]


def write_frames(path: Path, frames: list[Frame], *, pcapng: bool = False) -> None:
    with path.open("wb") as f:
        writer: Any = (dpkt.pcapng.Writer(f, snaplen=262144) if pcapng
                       else dpkt.pcap.Writer(f, snaplen=262144, nano=True))
        for ts, buf in frames:
            writer.writepkt(buf, ts=ts)


def _tcp(buf: bytes) -> Any:
    eth = dpkt.ethernet.Ethernet(buf)
    return eth, eth.data, eth.data.data


def data_frames(frames: list[Frame], *, from_port: int | None = None,
                to_port: int | None = None) -> list[int]:
    """Indexes of frames carrying TCP payload, optionally in one direction only."""
    out = []
    for i, (_ts, buf) in enumerate(frames):
        _eth, _ip, tcp = _tcp(buf)
        if (tcp.data and (from_port is None or tcp.sport == from_port)
                and (to_port is None or tcp.dport == to_port)):
            out.append(i)
    return out


def retransmit(frames: list[Frame], picks: list[int]) -> list[Frame]:
    """Each picked frame is sent again right after the frame that follows it."""
    out = list(frames)
    for i in sorted(picks, reverse=True):
        after = min(i + 1, len(frames) - 1)
        out.insert(after + 1, (frames[after][0] + 1e-6, frames[i][1]))
    return out


def cut_front(frames: list[Frame], first: int, cut: int) -> list[Frame]:
    """Drop frames before ``first``; remove ``cut`` payload bytes from the start of ``first``."""
    ts, buf = frames[first]
    eth, ip, tcp = _tcp(buf)
    tcp.data = tcp.data[cut:]
    tcp.seq = (tcp.seq + cut) & 0xFFFFFFFF
    tcp.sum = 0
    ip.len = ip.hl * 4 + len(bytes(tcp))
    ip.sum = 0
    return [(ts, bytes(eth)), *frames[first + 1:]]


# -- the samples -----------------------------------------------------------------------------


def _recorded(scenario: Scenario) -> Callable[[Path], None]:
    return lambda out: record(scenario, out)


def _edited(scenario: Scenario, edit: Callable[[list[Frame]], list[Frame]],
            *, pcapng: bool = False) -> Callable[[Path], None]:
    def make(out: Path) -> None:
        raw = out.with_suffix(".raw.pcap")
        try:
            record(scenario, raw)
            write_frames(out, edit(read_frames(raw)), pcapng=pcapng)
        finally:
            raw.unlink(missing_ok=True)

    return make


def _retransmit(frames: list[Frame]) -> list[Frame]:
    client = data_frames(frames, to_port=7890)
    server = data_frames(frames, from_port=7890)
    return retransmit(frames, [client[4], server[4]])


def _gap(frames: list[Frame]) -> list[Frame]:
    victim = data_frames(frames, to_port=7890)[5]
    return frames[:victim] + frames[victim + 1:]


def _midstream(frames: list[Frame]) -> list[Frame]:
    return cut_front(frames, data_frames(frames, to_port=7890)[5], 7)


SAMPLES: dict[str, Callable[[Path], None]] = {
    "cmpp30-sp-session.pcap": _recorded(full_session(Version.V3_0)),
    "cmpp20-sp-session.pcapng": _edited(full_session(Version.V2_0), list, pcapng=True),
    "ismg-fwd-gns.pcap": _recorded(ismg_and_gns()),
    "failed-login.pcap": _recorded(failed_logins()),
    "unanswered.pcap": _recorded(unanswered()),
    "misbehaving-gateway.pcap": _recorded(misbehaving()),
    "split-headers.pcap": _recorded(split_headers()),
    "tcp-retransmission.pcap": _edited(plain_session(), _retransmit),
    "tcp-gap.pcap": _edited(plain_session(), _gap),
    "tcp-midstream.pcap": _edited(plain_session(), _midstream),
}


def main(argv: list[str]) -> int:
    names = argv or list(SAMPLES)
    unknown = [n for n in names if n not in SAMPLES]
    if unknown:
        print(f"record.py: unknown sample(s) {', '.join(unknown)}; known: {', '.join(SAMPLES)}",
              file=sys.stderr)
        return 2
    for name in names:
        out = HERE / name
        try:
            SAMPLES[name](out)
        except LiveCaptureError as exc:
            print(f"record.py: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:  # e.g. a sample address/port already in use
            print(f"record.py: {name}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        size = out.stat().st_size
        print(f"{name:<28} {size:>8} bytes")
        if size >= MAX_SIZE:
            print(f"record.py: {name} is over 1 MB", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
