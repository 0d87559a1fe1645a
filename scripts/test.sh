#!/usr/bin/env bash
# Installs (scripts/setup.sh) and runs the test suite: the fast tests by default; pass `-m slow`
# or any other pytest arguments through.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh datasets,serving,dev,reference,baselines,runtimes  # jieba; ONNX Runtime, OpenVINO, LiteRT
.venv/bin/ruff check tfbert tests benchmarks
# The CPU decides oneDNN's kernels (AMX, AVX-512 BF16/VNNI): say which one ran the tests.
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
isa=$(grep -o -w -E 'amx_bf16|avx512_bf16|avx512_vnni|avx2' /proc/cpuinfo 2>/dev/null | sort -u | tr '\n' ' ')
echo "CPU: ${cpu:-unknown}, $(nproc) cores; ${isa:-no AVX2}"
# Two workers, a test file each at a time (module fixtures stay shared): most of a test's time is
# single-threaded tracing and Python, so two files side by side use both cores. A worker that
# dies is not replaced (--max-worker-restart 0): pytest-xdist's file scheduling can wait forever
# for a replacement; the run ends instead, naming the test that took the worker down.
exec .venv/bin/python -m pytest -n 2 --dist loadfile --max-worker-restart 0 "$@"
