"""atheris harness: the whole analysis engine (TCP tracker, framer, decoder, pairing, outputs).

The input is a segment stream (see ``common.segments_from_bytes``). Fails on any exception, on
a tracker that exceeds its caps, and on outputs (records, report, summary) that carry a raw
terminal control.
"""

from __future__ import annotations

import io

from common import instrumented, main, no_raw_escapes, segments_from_bytes

with instrumented():
    from cmppdissect.analysis.engine import Analyzer
    from cmppdissect.output.records import dumps, record_dict
    from cmppdissect.output.report import build_report
    from cmppdissect.output.text import write_summary


def test_one_input(data: bytes) -> None:
    an = Analyzer(timeout_s=0.5)
    tracker = an.tracker
    records = []
    for seg in segments_from_bytes(data):
        records += an.feed(seg)
        tracker.check_invariants()
    records += an.finish()
    for rec in records:
        no_raw_escapes(dumps(record_dict(rec)))
    report = build_report(an)
    no_raw_escapes(dumps(report))
    out = io.StringIO()
    write_summary(report, out)
    no_raw_escapes(out.getvalue())


if __name__ == "__main__":
    main(test_one_input)
