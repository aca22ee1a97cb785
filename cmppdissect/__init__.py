"""cmppdissect: a Wireshark-grade analyzer for CMPP 2.0/3.0, the China Mobile SMS-gateway protocol.

The protocol core (:mod:`cmppdissect.protocol`) and the analysis engine
(:mod:`cmppdissect.analysis`) contain no I/O and import neither Scapy nor Textual; Scapy layers
live in :mod:`cmppdissect.layers` (``from cmppdissect.layers import CMPP``).
"""

__version__ = "0.1.0"
