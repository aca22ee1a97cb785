"""Build of the compiled core (Cython, C++): ``pip install .`` and ``pip install -e .`` run it.

Everything else about the package is declared in ``pyproject.toml``. The core's stages are
separate extension modules so that each has one job (see ``cmppdissect/core/__init__.py``);
they call each other through the C interfaces their ``.pxd`` files declare.

``CMPPDISSECT_SANITIZE=address`` builds the core with AddressSanitizer and
UndefinedBehaviorSanitizer for the fuzzers (``fuzz/README.md`` says how to run Python with
it); ``CMPPDISSECT_CYTHON_TRACE=1`` adds line tracing for coverage tools. Neither is used by
a normal install.
"""

from __future__ import annotations

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

STAGES = ("_types", "_capture", "_tcp", "_framing", "_pdu", "_engine", "_ring")

compile_args = ["-std=c++17", "-O2", "-fno-strict-aliasing"]
link_args: list[str] = []
sanitize = os.environ.get("CMPPDISSECT_SANITIZE")
if sanitize:
    # -O1 keeps the reports' stacks readable; -fno-wrapv undoes the -fwrapv of Python's own
    # CFLAGS, so that UBSan reports a signed overflow instead of letting it wrap silently.
    flags = [f"-fsanitize={sanitize},undefined", "-fno-omit-frame-pointer", "-g"]
    compile_args += [*flags, "-O1", "-fno-wrapv"]
    link_args += flags

macros: list[tuple[str, str | None]] = []
directives = {
    "language_level": 3,
    "boundscheck": True,   # indexing a memoryview with a wire-derived index stays checked
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": True,
    "embedsignature": True,
}
if os.environ.get("CMPPDISSECT_CYTHON_TRACE"):
    directives["linetrace"] = True
    macros.append(("CYTHON_TRACE_NOGIL", "1"))

extensions = [
    Extension(f"cmppdissect.core.{name}", [f"cmppdissect/core/{name}.pyx"], language="c++",
              extra_compile_args=compile_args, extra_link_args=link_args, define_macros=macros)
    for name in STAGES
]
# The compiled ``-T jsonl`` writer (an output, beside the core: it reads the core's layouts).
extensions.append(Extension(
    "cmppdissect.output._jsonl", ["cmppdissect/output/_jsonl.pyx"], language="c++",
    extra_compile_args=compile_args, extra_link_args=link_args, define_macros=macros))

# The stages translate and compile in parallel, one job per core (each is one C++ file).
jobs = os.cpu_count() or 1
setup(ext_modules=cythonize(extensions, compiler_directives=directives,
                            include_path=["cmppdissect/core"], nthreads=jobs),
      options={"build_ext": {"parallel": jobs}})
