#!/usr/bin/env bash
# Installs (scripts/setup.sh) and runs the test suite: the fast tests by default; pass `-m slow`
# or any other pytest arguments through.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh datasets,serving,dev,reference,baselines,runtimes  # jieba; ONNX Runtime, OpenVINO, LiteRT
.venv/bin/ruff check tfbert tests benchmarks
# Two workers, a test file each at a time (module fixtures stay shared): most of a test's time is
# single-threaded tracing and Python, so two files side by side use both cores.
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
