"""Hypothesis strategies that generate field values for any layout, from the layout itself."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from cmppdissect.protocol.layouts import LAYOUTS, REPORT_60, REPORT_71, Kind, Layout
from cmppdissect.protocol.version import Version

ALL_PDUS: list[tuple[int, Version]] = sorted(LAYOUTS)


def octets(size: int) -> st.SearchStrategy[bytes]:
    """An Octet String value as the decoders return it: no trailing NUL padding."""
    return st.binary(max_size=size).map(lambda b: b.rstrip(b"\0"))


def _uint(size: int) -> st.SearchStrategy[int]:
    return st.integers(0, (1 << (8 * size)) - 1)


def field_values(layout: Layout, *, max_recipients: int = 4) -> st.SearchStrategy[dict[str, Any]]:
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for f in layout.fields:
        if f.count_of or f.length_of:
            continue  # derived by the builders
        if f.kind is Kind.UINT:
            parts[f.name] = _uint(f.size)
        elif f.kind is Kind.INT:
            parts[f.name] = st.integers(-(1 << 31), (1 << 31) - 1)
        elif f.kind is Kind.STR:
            parts[f.name] = octets(f.size)
        elif f.kind is Kind.BIN:
            parts[f.name] = st.binary(min_size=f.size, max_size=f.size)
        elif f.kind is Kind.STR_ARRAY:
            parts[f.name] = st.lists(octets(f.size), max_size=max_recipients)
        else:
            parts[f.name] = st.binary(max_size=255)
    return st.fixed_dictionaries(parts)


def report_values(size: int) -> st.SearchStrategy[dict[str, Any]]:
    return field_values(REPORT_60 if size == 60 else REPORT_71)
