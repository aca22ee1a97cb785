"""Stage 4: the light fields of a PDU, from the layouts."""

from typing import Any

NAMED_FIELDS: tuple[str | None, ...]
LF_NAMES: dict[int, str]

def plausible_header_py(total: int, cmd: int) -> bool: ...
def plausible_pdu_py(pdu: bytes) -> bool: ...
def light(pdu: bytes, version: object = None) -> dict[str, Any]: ...
