#!/usr/bin/env bash
# Installs (scripts/setup.sh) and runs the test suite: the fast tests by default; pass `-m slow`
# or any other pytest arguments through.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh datasets,serving,dev,reference
.venv/bin/ruff check tfbert tests benchmarks
exec .venv/bin/python -m pytest "$@"
