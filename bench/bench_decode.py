"""PDUs/s of the fast decoder against Scapy dissection of the same PDUs, same process.

    python bench/bench_decode.py [--pdus N] [--repeat R]

Prints both rates and their ratio (median of R runs). The issue asks for the fast decoder to be
at least 10x faster than Scapy; the mix is what a gateway link carries: SUBMIT and its
response, DELIVER (MO and status report) and its response, and ACTIVE_TEST.
"""

from __future__ import annotations

import argparse
import statistics
import time

from cmppdissect.layers import CMPP, CMPPv3
from cmppdissect.protocol.commands import CommandId as C
from cmppdissect.protocol.decode import decode_pdu
from cmppdissect.protocol.encode import encode_fields, encode_pdu
from cmppdissect.protocol.layouts import REPORT_71
from cmppdissect.protocol.version import Version


def workload(n: int) -> list[bytes]:
    v = Version.V3_0
    report = encode_fields(REPORT_71, {"Msg_Id": 1, "Stat": b"DELIVRD",
                                       "Dest_terminal_Id": b"8613800138000"})
    kinds = [
        encode_pdu(C.CMPP_SUBMIT, 1, {"Dest_terminal_Id": [b"8613800138000"], "Msg_Fmt": 8,
                                      "Msg_Content": "验证码 123456".encode("utf-16-be"),
                                      "Registered_Delivery": 1, "Src_Id": b"106571234"}, v),
        encode_pdu(C.CMPP_SUBMIT_RESP, 1, {"Msg_Id": 0x7FD913C12D34B9C9, "Result": 0}, v),
        encode_pdu(C.CMPP_DELIVER, 2, {"Registered_Delivery": 1, "Msg_Content": report}, v),
        encode_pdu(C.CMPP_DELIVER_RESP, 2, {"Msg_Id": 1}, v),
        encode_pdu(C.CMPP_DELIVER, 3, {"Msg_Fmt": 15, "Msg_Content": "退订".encode("gbk")}, v),
        encode_pdu(C.CMPP_ACTIVE_TEST, 4, {}, v),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


def rate(fn: object, pdus: list[bytes]) -> float:
    start = time.perf_counter()
    for raw in pdus:
        fn(raw)  # type: ignore[operator]
    return len(pdus) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pdus", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    pdus = workload(args.pdus)
    few = pdus[: max(1, args.pdus // 10)]
    v3 = Version.V3_0
    modes = {
        # the capture engine knows the session's version from its CONNECT
        "session version known": (lambda raw: decode_pdu(raw, v3), CMPPv3),
        # a PDU on its own: both decoders find the version from the lengths
        "version from lengths": (decode_pdu, CMPP),
    }
    for label, (fast_fn, scapy_cls) in modes.items():
        fast, scapy, ratios = [], [], []
        for _ in range(args.repeat):
            f = rate(fast_fn, pdus)
            s = rate(scapy_cls, few)
            fast.append(f)
            scapy.append(s)
            ratios.append(f / s)
        print(f"[{label}]")
        print(f"  fast decoder (decode_pdu): {statistics.median(fast):10,.0f} PDUs/s")
        print(f"  scapy dissection:          {statistics.median(scapy):10,.0f} PDUs/s")
        print(f"  ratio fast/scapy, median of {args.repeat}: {statistics.median(ratios):.1f}x")


if __name__ == "__main__":
    main()
