"""The header keys of a PDU record, in the order the record schema writes them.

One list for the three that need it: the record schema and its flat tables
(:mod:`cmppdissect.store.schema`), the lazy record a filter reads
(:class:`cmppdissect.store.records.RecordView`) and the display filter's column path
(:mod:`cmppdissect.query.dfilter`). It lives here because the store and the query layers may
not import each other.
"""

from __future__ import annotations

__all__ = ["HEADER_KEYS"]

HEADER_KEYS = ("frame", "time", "session", "src", "dst", "version", "command", "command_id",
               "sequence_id", "total_length", "request_frame", "response_frame", "latency_ms")
