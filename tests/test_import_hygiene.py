"""The sans-IO core and the engine load without Scapy or Textual (harlequin-style check)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE = [
    "cmppdissect.protocol.decode", "cmppdissect.protocol.encode",
    "cmppdissect.protocol.content", "cmppdissect.protocol.auth", "cmppdissect.protocol.codes",
    "cmppdissect.core", "cmppdissect.engine", "cmppdissect.store", "cmppdissect.query",
    "cmppdissect.api", "cmppdissect.cli",
]


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_neither_scapy_nor_textual(module: str) -> None:
    code = (f"import sys, {module}; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('scapy', 'textual'));"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == "", f"{module} pulled in {out}"


def test_compiled_stages_import_only_the_protocol_and_their_own_records() -> None:
    """The .pyx sources are outside import-linter's reach (it reads .py files): the same
    layering, checked here, is that the core imports nothing above itself."""
    import re
    from pathlib import Path

    core = Path(__file__).resolve().parents[1] / "cmppdissect" / "core"
    allowed = ("cmppdissect.core", "cmppdissect.protocol")
    for path in sorted(core.glob("*.pyx")) + sorted(core.glob("*.pxd")):
        for module in re.findall(r"^\s*(?:from|c?import)\s+(cmppdissect[\w.]*)",
                                 path.read_text(), re.MULTILINE):
            assert module.startswith(allowed), f"{path.name} imports {module}"
