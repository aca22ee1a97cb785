"""cmppdissect: a Wireshark-grade analyzer for CMPP 2.0/3.0, the China Mobile SMS-gateway protocol.

The protocol core (:mod:`cmppdissect.protocol`) and the analysis engine
(:mod:`cmppdissect.analysis`) contain no I/O and import neither Scapy nor Textual; Scapy layers
live in :mod:`cmppdissect.layers` (``from cmppdissect.layers import CMPP``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from cmppdissect.api import Analysis, Transaction, analyze


def __getattr__(name: str) -> Any:
    """``cmppdissect.analyze`` without importing the engine for ``import cmppdissect.layers``."""
    if name in ("analyze", "Analysis", "Transaction"):
        from cmppdissect import api

        return getattr(api, name)
    raise AttributeError(f"module 'cmppdissect' has no attribute {name!r}")


__all__ = ["Analysis", "Transaction", "__version__", "analyze"]
