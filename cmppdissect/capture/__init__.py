"""Capture input and TCP reassembly: from pcap/pcapng bytes to ordered stream events.

:mod:`.pcapsource` is the only part that does I/O; :mod:`.tcp` and :mod:`.ipfrag` are sans-IO
and work on the plain records of :mod:`.records`.
"""

from .pcapsource import PcapSource, SourceStats, iter_segments
from cmppdissect.core.records import (
    CaptureFormatError,
    CaptureNote,
    ConnectionClosed,
    ConnectionOpened,
    ConnStats,
    StreamData,
    StreamEvent,
    StreamGap,
    TcpSegment,
)
from cmppdissect.core import TcpTracker

__all__ = [
    "CaptureFormatError",
    "CaptureNote",
    "ConnStats",
    "ConnectionClosed",
    "ConnectionOpened",
    "PcapSource",
    "SourceStats",
    "StreamData",
    "StreamEvent",
    "StreamGap",
    "TcpSegment",
    "TcpTracker",
    "iter_segments",
]
