#!/usr/bin/env bash
# Run a command with the sanitizer build of the core loadable (fuzz/README.md):
#
#   fuzz/asan.sh .venv/bin/python -m pytest -q tests/test_fuzz_regressions.py
#   fuzz/asan.sh --fuzz .venv/bin/python fuzz/fuzz_capture.py fuzz/corpus/capture -max_total_time=480
#
# GCC's libasan must be the first library of the process (the core's modules link it, and
# Python does not), LeakSanitizer is off (CPython does not free everything at exit), and UBSan
# stops at its first report (else it only prints, and libFuzzer never sees it). ``--fuzz`` adds
# fuzz/sancov_forward.so before libasan, so atheris's libFuzzer gets its coverage callbacks,
# and turns on the harnesses' instrumentation (CMPP_FUZZ_RUNNING=1).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
preload="$(gcc -print-file-name=libasan.so)"
if [ "${1:-}" = "--fuzz" ]; then
    shift
    if [ ! -f "$here/sancov_forward.so" ] || [ "$here/sancov_forward.c" -nt "$here/sancov_forward.so" ]; then
        gcc -O2 -shared -fPIC -o "$here/sancov_forward.so" "$here/sancov_forward.c" -ldl
    fi
    atheris_dir="$("$1" -c 'import atheris, os; print(os.path.dirname(atheris.__file__))')"
    export CMPP_FUZZ_LIBFUZZER="$(ls "$atheris_dir"/core_with_libfuzzer.*.so)"
    export CMPP_FUZZ_RUNNING=1
    preload="$here/sancov_forward.so:$preload"
fi
exec env LD_PRELOAD="$preload" \
    ASAN_OPTIONS="detect_leaks=0:verify_asan_link_order=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" "$@"
