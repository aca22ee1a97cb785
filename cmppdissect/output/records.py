"""JSON text of records and reports, safe to show in a terminal."""

from __future__ import annotations

import json
import re
from typing import Any

from cmppdissect.store.schema import record_dict

__all__ = ["dumps", "record_dict"]

_C1_AND_BIDI = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def dumps(obj: Any, **kw: Any) -> str:
    """JSON with real Unicode text but no C1 control or bidi override left raw.

    ``json`` escapes C0 controls itself; the rest is escaped as ``\\uXXXX``, which any JSON
    reader turns back into the same string, while a terminal that shows the line stays safe.
    """
    text = json.dumps(obj, ensure_ascii=False, **kw)
    return _C1_AND_BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
