"""cmppdissect: a Wireshark-grade analyzer for CMPP 2.0/3.0, the China Mobile SMS-gateway protocol.

The pipeline, one package a stage: :mod:`~cmppdissect.sources` (files, live capture) hand bytes
to the compiled :mod:`~cmppdissect.core` (capture walk, TCP, framing, light fields, sessions,
pairing, counters); :mod:`~cmppdissect.engine` words what it finds; :mod:`~cmppdissect.store`
keeps the PDUs; :mod:`~cmppdissect.query` filters them; :mod:`~cmppdissect.output` and
:mod:`~cmppdissect.tui` show them; :mod:`~cmppdissect.api` drives it all. The protocol
knowledge (:mod:`~cmppdissect.protocol`), the core and the engine do no I/O and import neither
Scapy nor Textual; Scapy layers live in :mod:`cmppdissect.layers`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from cmppdissect.api import Analysis, Transaction, analyze, compare
    from cmppdissect.scale.dask import analyze_many


def __getattr__(name: str) -> Any:
    """``cmppdissect.analyze`` without importing the engine for ``import cmppdissect.layers``."""
    if name in ("analyze", "Analysis", "Transaction", "compare"):
        from cmppdissect import api

        return getattr(api, name)
    if name == "analyze_many":  # Dask: imported only when asked for
        from cmppdissect.scale.dask import analyze_many

        return analyze_many
    raise AttributeError(f"module 'cmppdissect' has no attribute {name!r}")


__all__ = ["Analysis", "Transaction", "__version__", "analyze", "analyze_many", "compare"]
