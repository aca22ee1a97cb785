"""The compiled core: the hot stages of the pipeline, in Cython compiled as C++.

Bytes of a capture go in; segments, stream events, PDUs and their accounting come out, without
a Python object per frame or PDU on the way. Each stage is a module of its own, and calls the
next one through the C interfaces of :mod:`._types` (``.pxd``):

=================  ============================================================================
``_capture``       container walk (pcap, pcapng; segments, or frames for a merge), link
                   layers, IPv4 (fragments), IPv6
``_tcp``           TCP reassembly: ordered byte streams, gaps, connection lifecycle
``_framing``       CMPP framing by Total_Length, resynchronisation after damage
``_pdu``           the light fields of a PDU, read at offsets derived from ``protocol/layouts``
``_engine``        sessions, request/response pairing, counters, latency samples, rates
``_ring``          live capture's TPACKET_V3 ring blocks to pcap records (before ``_capture``)
=================  ============================================================================

Everything here is sans-IO (no files, sockets, threads or global state). This package's Python
modules are its typed interface: the records the stages' Python-facing methods return
(:mod:`.records`).
"""

from __future__ import annotations

from cmppdissect.core._capture import (
    LINKTYPE_NAMES,
    MAX_BLOCK,
    MAX_CAPLEN,
    MAX_FRAME_NOTES,
    SUPPORTED_LINKTYPES,
    CaptureReader,
    FrameReader,
    Ipv4Reassembler,
    SegmentList,
    sniff,
)
from cmppdissect.core._engine import ROW_FIELDS, ROW_SIZE, Core
from cmppdissect.core._framing import PduFramer, reason_text
from cmppdissect.core._pdu import light
from cmppdissect.core._pdu import plausible_header_py as plausible_header
from cmppdissect.core._pdu import plausible_pdu_py as plausible_pdu
from cmppdissect.core._ring import BlockWalk, RxRing
from cmppdissect.core._tcp import DEFAULT_SERVER_PORTS, TcpTracker
from cmppdissect.core.records import FramedPdu, Skipped

__all__ = [
    "DEFAULT_SERVER_PORTS",
    "LINKTYPE_NAMES",
    "MAX_BLOCK",
    "MAX_CAPLEN",
    "MAX_FRAME_NOTES",
    "ROW_FIELDS",
    "ROW_SIZE",
    "SUPPORTED_LINKTYPES",
    "BlockWalk",
    "CaptureReader",
    "Core",
    "FrameReader",
    "FramedPdu",
    "Ipv4Reassembler",
    "PduFramer",
    "RxRing",
    "SegmentList",
    "Skipped",
    "TcpTracker",
    "light",
    "plausible_header",
    "plausible_pdu",
    "reason_text",
    "sniff",
]
