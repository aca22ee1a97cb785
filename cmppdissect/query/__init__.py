"""The display-filter language of ``-Y`` and the TUI's filter bar: one engine for both."""

from __future__ import annotations

from cmppdissect.query.dfilter import (
    KNOWN_NAMES,
    PAIRING_NAMES,
    DisplayFilter,
    FilterError,
    compile_filter,
)

__all__ = ["KNOWN_NAMES", "PAIRING_NAMES", "DisplayFilter", "FilterError", "compile_filter"]
