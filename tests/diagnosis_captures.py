"""The captures of docs/diagnosis.md's examples, built with the tests' helpers.

    python tests/diagnosis_captures.py DIR

writes ``diag-timeouts.pcap`` (a late answer, a wrong Sequence_Id, one never answered, a resend
answered twice, an answer on the SP's next connection; read it with ``--timeout 2``),
``diag-flow.pcap`` (a full window, then Result 8, then a slow sender) and ``diag-links.pcap``
(an idle gap, a TERMINATE, a reconnect storm) and ``diag-messages.pcap`` (a group send
reported for 2 recipients of 3, a long message with a part refused) and ``diag-long.pcap``
(long SUBMITs whose part 2 never came, a long MO DELIVER with a part refused).
"""

from __future__ import annotations

import sys
from pathlib import Path

from test_diagnosis import SP, V3, Builder, CommandId, bare_pdu, conv, req, resp
from test_transactions import given_up_capture, messages_capture


def build(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    v = V3
    # timeouts
    b = Builder()
    a, other = conv(40001), conv(40002)
    b.login(0, a, v, SP)
    req(b, 1.0, a, v, 10)
    resp(b, 3.5, a, v, 10)
    req(b, 4.0, a, v, 11)
    resp(b, 4.1, a, v, 99)
    req(b, 5.0, a, v, 12)
    req(b, 5.5, a, v, 14)
    req(b, 5.8, a, v, 14)
    resp(b, 5.9, a, v, 14)
    resp(b, 6.0, a, v, 14)
    req(b, 6.0, a, v, 13)
    b.add(6.5, a.close())
    b.login(7.0, other, v, SP)
    resp(b, 7.5, other, v, 13)
    b.add(20.0, other.send(True, bare_pdu(CommandId.CMPP_ACTIVE_TEST, 50, v)))
    b.add(20.01, other.send(False, bare_pdu(CommandId.CMPP_ACTIVE_TEST_RESP, 50, v)))
    b.write(out / "diag-timeouts.pcap")
    # flow
    b = Builder()
    a = conv(40001)
    b.login(0, a, v, SP)
    seq = 100
    t0 = 10.0
    for k in range(2):
        for i in range(16):
            req(b, t0 + k + i * 0.01, a, v, seq + i)
        for i in range(16):
            resp(b, t0 + k + 0.1 + i * 0.01, a, v, seq + i)
        seq += 16
    for i in range(4):
        req(b, t0 + 3 + i * 0.1, a, v, seq)
        resp(b, t0 + 3 + i * 0.1 + 0.001, a, v, seq, result=8)
        seq += 1
    req(b, t0 + 5.2, a, v, seq)
    resp(b, t0 + 5.201, a, v, seq)
    b.write(out / "diag-flow.pcap")
    # links
    b = Builder()
    a = conv(40001)
    b.login(0, a, v, SP)
    req(b, 1.0, a, v, 2)
    resp(b, 1.01, a, v, 2)
    req(b, 301.0, a, v, 3)
    resp(b, 301.01, a, v, 3)
    b.add(302.0, a.send(False, bare_pdu(CommandId.CMPP_TERMINATE, 9, v)))
    b.add(302.01, a.send(True, bare_pdu(CommandId.CMPP_TERMINATE_RESP, 9, v)))
    b.add(302.02, [a.fin(False), a.fin(True), a.ack(False)])
    for i in range(12):
        c = conv(41000 + i)
        b.login(400.0 + i * 2.0, c, v, SP)
        b.add(400.5 + i * 2.0, [c.rst(False)])
    b.write(out / "diag-links.pcap")
    messages_capture(out / "diag-messages.pcap")
    given_up_capture(out, v).rename(out / "diag-long.pcap")


if __name__ == "__main__":
    build(Path(sys.argv[1]))
