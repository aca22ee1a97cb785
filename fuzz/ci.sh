#!/usr/bin/env bash
# A bounded atheris run of every harness (about a minute in all), as CI does it: each one
# starts from fresh seeds with coverage on, and any crash, hang or memory blow-up fails the
# run (libFuzzer exits non-zero and leaves the input in fuzz/crashes/ to replay).
# Usage: fuzz/ci.sh [SECONDS_PER_HARNESS]   (default 10; the venv is .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
py=.venv/bin/python
"$py" -c "import atheris" 2>/dev/null || .venv/bin/pip install -q atheris
"$py" fuzz/make_seeds.py > /dev/null
mkdir -p fuzz/crashes
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for name in decode capture reader engine layers ring; do
    status=0
    CMPP_FUZZ_RUNNING=1 "$py" "fuzz/fuzz_${name}.py" "fuzz/corpus/${name}" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=20000 \
        -artifact_prefix=fuzz/crashes/ -print_final_stats=1 > "$log" 2>&1 || status=$?
    runs="$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || true)"
    echo "== fuzz_${name}: ${runs:-?} inputs in ${seconds} s, status ${status}"
    if [ "$status" -ne 0 ]; then
        tail -40 "$log"
        exit "$status"
    fi
done
