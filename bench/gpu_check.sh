#!/usr/bin/env bash
# One prepared device check (issue 15): installs the GPU runtimes, then prints one JSON line
# (bench/gpu_check.py) within 8 minutes in all. --dry-run: no installs, CPU only, tiny sizes.
#   bash bench/gpu_check.sh [--dry-run]
# PYTHON: the interpreter (default .venv/bin/python, else python3); WHEELS: a folder of
# wheels to install from instead of the package index (a machine without internet).
set -euo pipefail
cd "$(dirname "$0")/.."
TOTAL_S=480
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [[ " $* " != *" --dry-run "* ]]; then
    source=(${WHEELS:+--no-index --find-links "$WHEELS"})
    # onnxruntime-gpu replaces the CPU wheel's module of the same name; failures are reported
    # by the parts that need the runtime (their figure null, the reason in the JSON line).
    timeout 150 "$PYTHON" -m pip install --quiet "${source[@]}" \
        "tensorrt>=10" "cuda-python>=12" onnxruntime-gpu >&2 \
        || echo "gpu_check: installing the GPU runtimes failed; continuing" >&2
fi
left=$((TOTAL_S - SECONDS - 30))  # 30 s for the interpreter's start and the JSON line
exec timeout $((left + 20)) "$PYTHON" bench/gpu_check.py --budget-s "$left" "$@"
