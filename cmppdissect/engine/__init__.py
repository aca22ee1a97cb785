"""The analysis engine in Python: what the compiled core hands up, made into findings.

:class:`Engine` drives :class:`cmppdissect.core.Core` over the bytes of a capture; no I/O, no
Textual, no global state.
"""

from __future__ import annotations

from cmppdissect.engine.engine import ROW_DTYPE, Batch, Engine, SessionNames, SessionState
from cmppdissect.engine.findings import ExpertItem, ExpertList

__all__ = ["ROW_DTYPE", "Batch", "Engine", "ExpertItem", "ExpertList", "SessionNames",
           "SessionState"]
