"""The sans-IO core and the engine load without Scapy or Textual (harlequin-style check)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE = [
    "cmppdissect.protocol.decode", "cmppdissect.protocol.encode",
    "cmppdissect.protocol.content", "cmppdissect.protocol.auth", "cmppdissect.protocol.codes",
    "cmppdissect.core", "cmppdissect.analysis.engine", "cmppdissect.cli",
]


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_neither_scapy_nor_textual(module: str) -> None:
    code = (f"import sys, {module}; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('scapy', 'textual'));"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == "", f"{module} pulled in {out}"
