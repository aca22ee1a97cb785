"""Write the scripted sample captures of ``samples/`` (run: python samples/generate.py).

Each capture is a real TCP conversation (handshake, data with correct sequence numbers and
ACKs, FIN) built with Scapy around PDUs from the project's own encoder, so every byte on the
wire is what a CMPP peer would send. The simulator (issue 4) will add recorded captures.
"""

from __future__ import annotations

import sys
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

from cmppdissect.protocol.auth import authenticator_ismg, authenticator_source
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.encode import encode_fields, encode_pdu
from cmppdissect.protocol.layouts import REPORT_60, REPORT_71
from cmppdissect.protocol.msgid import make_msg_id
from cmppdissect.protocol.version import Version

HERE = Path(__file__).parent


class Conversation:
    """Frames of one TCP connection between an SP client and an ISMG server."""

    def __init__(self, client: tuple[str, int], server: tuple[str, int], t0: float) -> None:
        self.client, self.server = client, server
        self.seq = {True: 1000, False: 5000}
        self.t = t0
        self.frames: list[Ether] = []
        self._tcp(True, "S", b"")
        self._tcp(False, "SA", b"")
        self._tcp(True, "A", b"")

    def _tcp(self, from_client: bool, flags: str, data: bytes, dt: float = 0.0001) -> None:
        (sip, sport), (dip, dport) = ((self.client, self.server) if from_client
                                      else (self.server, self.client))
        self.t += dt
        pkt = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=sip, dst=dip) /
               TCP(sport=sport, dport=dport, flags=flags, seq=self.seq[from_client],
                   ack=self.seq[not from_client]) / (Raw(data) if data else b""))
        pkt.time = self.t
        self.frames.append(pkt)
        self.seq[from_client] = (self.seq[from_client] + len(data)
                                 + (1 if ("S" in flags or "F" in flags) else 0)) & 0xFFFFFFFF

    def send(self, from_client: bool, pdu: bytes, dt: float = 0.002) -> None:
        self._tcp(from_client, "PA", pdu, dt)

    def close(self) -> None:
        self._tcp(True, "FA", b"")
        self._tcp(False, "FA", b"")
        self._tcp(True, "A", b"")


def session(version: Version, sp_id: str, secret: str, port: int, t0: float,
            client_port: int) -> Conversation:
    v = version
    conv = Conversation(("192.0.2.10", client_port), ("198.51.100.7", port), t0)
    ts = 1124101500
    auth = authenticator_source(sp_id, secret, ts)
    conv.send(True, encode_pdu(C.CMPP_CONNECT, 1, {
        "Source_Addr": sp_id, "AuthenticatorSource": auth, "Timestamp": ts,
        "Version": 0x20 if v is Version.V2_0 else 0x30}, v))
    width = 1 if v is Version.V2_0 else 4
    conv.send(False, encode_pdu(C.CMPP_CONNECT_RESP, 1, {
        "Status": 0, "AuthenticatorISMG": authenticator_ismg(0, auth, secret,
                                                              status_width=width),
        "Version": 0x30 if v is Version.V3_0 else 0x20}, v), dt=0.012)
    seq = 2
    report = REPORT_60 if v is Version.V2_0 else REPORT_71
    texts = ["您的验证码是 482913，5分钟内有效。", "Your code is 482913", "退订回T"]
    for i in range(12):
        dest = f"86138{i:08d}".encode()
        text = texts[i % len(texts)]
        fmt, content = (8, text.encode("utf-16-be")) if i % 3 != 1 else (0, text.encode())
        conv.send(True, encode_pdu(C.CMPP_SUBMIT, seq, {
            "Pk_total": 1, "Pk_number": 1, "Registered_Delivery": 1, "Service_Id": "MVERIFY",
            "Fee_UserType": 2, "Msg_Fmt": fmt, "Msg_src": sp_id, "FeeType": "01",
            "FeeCode": "000000", "Src_Id": "1065712345", "Dest_terminal_Id": [dest],
            "Msg_Content": content}, v))
        msg_id = make_msg_id(11, 24, 10, 15, i % 60, 79101, 100 + i)
        result = 0 if i != 7 else 8  # one flow-control error
        conv.send(False, encode_pdu(C.CMPP_SUBMIT_RESP, seq, {
            "Msg_Id": msg_id, "Result": result}, v), dt=0.003 + 0.001 * (i % 5))
        if result == 0 and i % 4 != 3:
            stat = "DELIVRD" if i % 5 else "UNDELIV"
            rep = encode_fields(report, {"Msg_Id": msg_id, "Stat": stat,
                                         "Submit_time": "2611241015", "Done_time": "2611241015",
                                         "Dest_terminal_Id": dest, "SMSC_sequence": i})
            conv.send(False, encode_pdu(C.CMPP_DELIVER, 900 + i, {
                "Msg_Id": make_msg_id(11, 24, 10, 16, i, 79101, 500 + i),
                "Dest_Id": "1065712345", "Service_Id": "MVERIFY", "Registered_Delivery": 1,
                "Src_terminal_Id": dest, "Msg_Content": rep}, v), dt=0.05)
            conv.send(True, encode_pdu(C.CMPP_DELIVER_RESP, 900 + i, {
                "Msg_Id": make_msg_id(11, 24, 10, 16, i, 79101, 500 + i), "Result": 0}, v))
        seq += 1
    # an MO message, a heartbeat each way, and a SUBMIT left unanswered
    conv.send(False, encode_pdu(C.CMPP_DELIVER, 950, {
        "Dest_Id": "1065712345", "Msg_Fmt": 15, "Src_terminal_Id": "8613900000001",
        "Msg_Content": "TD".encode("gbk")}, v))
    conv.send(True, encode_pdu(C.CMPP_DELIVER_RESP, 950, {"Result": 0}, v))
    conv.send(True, encode_pdu(C.CMPP_ACTIVE_TEST, seq, {}, v))
    conv.send(False, encode_pdu(C.CMPP_ACTIVE_TEST_RESP, seq, {}, v), dt=0.001)
    seq += 1
    conv.send(True, encode_pdu(C.CMPP_SUBMIT, seq, {
        "Dest_terminal_Id": [b"8613800000999"], "Msg_Content": b"never answered"}, v))
    seq += 1
    conv.send(True, encode_pdu(C.CMPP_TERMINATE, seq, {}, v), dt=0.5)
    conv.send(False, encode_pdu(C.CMPP_TERMINATE_RESP, seq, {}, v))
    conv.close()
    return conv


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    frames = (session(Version.V2_0, "901234", "s3cret", 7890, 1764000000.0, 40001).frames
              + session(Version.V3_0, "905678", "other", 7890, 1764000010.0, 40002).frames)
    wrpcap(str(out / "cmpp-basic.pcap"), frames)
    print(f"wrote {out / 'cmpp-basic.pcap'} ({len(frames)} frames)")


if __name__ == "__main__":
    main()
