"""Shared records and sink interfaces of the compiled stages (their C side is in the .pxd)."""

class SegmentSink:
    """Receives the TCP segments of a capture (a C interface; no Python methods)."""

class StreamSink:
    """Receives ordered byte-stream events (a C interface; no Python methods)."""
