"""The name of a response's Result or Status code, from the code table its layout names."""

from __future__ import annotations

from cmppdissect.protocol.codes import code_name
from cmppdissect.protocol.commands import command_id_of
from cmppdissect.protocol.layouts import LAYOUTS, RESULT_FIELDS
from cmppdissect.protocol.version import Version

__all__ = ["result_name"]


def result_name(command: str, code: int) -> str | None:
    """The name of a response's Result/Status code, from the code table its layout names."""
    try:
        command_id = command_id_of(command)
    except (KeyError, ValueError):
        return None
    for version in (Version.V3_0, Version.V2_0):
        layout = LAYOUTS.get((command_id, version))
        if layout is None:
            continue
        for f in layout.fields:
            if f.name in RESULT_FIELDS and f.codes:
                return code_name(f.codes, code, version)
    return None
