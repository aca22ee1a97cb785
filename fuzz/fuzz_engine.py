"""atheris harness: the whole analysis, compiled core included (capture walk, TCP, framing,
light fields, pairing) and the Python engine, store and outputs.

The input is a segment stream (see ``common.segments_from_bytes``), written as a real pcap and
read by the one driver in small chunks (so records straddle them). Fails on any exception, on
a TCP stage past its caps, and on outputs (records, report, summary) that carry a raw terminal
control.
"""

from __future__ import annotations

import io

from common import (
    feedback,
    instrumented,
    main,
    no_raw_escapes,
    segments_from_bytes,
    segments_to_pcap,
)

with instrumented():
    from cmppdissect.engine import Engine
    from cmppdissect.output.records import dumps, record_dict
    from cmppdissect.output.report import build_report
    from cmppdissect.output.text import write_summary
    from cmppdissect.store import PduStore, record_at


def test_one_input(data: bytes) -> None:
    capture = segments_to_pcap(segments_from_bytes(data))
    an = Engine(timeout_s=0.5, keep_rows=True)
    store = PduStore()
    for i in range(0, len(capture), 509):
        store.append(an.feed(capture[i:i + 509]))
        an.core.tracker.check_invariants()
    store.append(an.finish())
    store.finish()
    for row in range(store.count):
        no_raw_escapes(dumps(record_dict(record_at(store, row))))
    report = build_report(an)
    feedback(an.core.pdus, len(report["sessions"]), len(report["expert_counts"]),
             len(report["results"]), report["long_sms"]["parts"], store.count)
    no_raw_escapes(dumps(report))
    out = io.StringIO()
    write_summary(report, out)
    no_raw_escapes(out.getvalue())


if __name__ == "__main__":
    main(test_one_input)
