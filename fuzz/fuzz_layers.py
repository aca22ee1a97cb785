"""atheris harness: the Scapy layers (dissect, show, expert findings, rebuild).

Slower than the core decoder (Scapy builds objects per field), so it has its own harness. Fails
on any exception and on a dissection that does not rebuild to the bytes it was given.
"""

from __future__ import annotations

from common import instrumented, main

with instrumented():
    from cmppdissect.layers import CMPP, CMPPv2, CMPPv3

HEADERS = (CMPP, CMPPv2, CMPPv3, CMPP)


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    header = HEADERS[data[0] & 3]
    body = data[1:]
    pkt = header(body)
    pkt.show(dump=True)
    pkt.summary()
    pkt.expert()
    if bytes(pkt) != body:
        raise AssertionError("dissection does not rebuild byte for byte")


if __name__ == "__main__":
    main(test_one_input)
