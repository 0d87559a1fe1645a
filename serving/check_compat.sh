#!/usr/bin/env bash
# Checks that an export runs under TensorFlow 2.20 + tensorflow-text 2.20, the pair that
# TF Serving 2.20 has compiled in, and gives the same predictions as under this project's
# TensorFlow. Creates its own venv (.cache/tf220-venv) so the project's stays untouched.
#
#   bash serving/check_compat.sh exports/snownlp/1
set -euo pipefail
cd "$(dirname "$0")/.."
EXPORT=${1:?usage: serving/check_compat.sh EXPORT_VERSION_DIR}
TF_VERSION=${TF_VERSION:-2.20}
VENV=${VENV:-.cache/tf${TF_VERSION/./}-venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
      "tensorflow==${TF_VERSION}.*" "tensorflow-text==${TF_VERSION}.*" 2>&1 | grep -v "^WARNING: Location" || true
fi
export TF_CPP_MIN_LOG_LEVEL=3
reference=$(mktemp --suffix=.json)
.venv/bin/python serving/check_export.py "$EXPORT" --write "$reference" >/dev/null 2>&1
"$VENV/bin/python" serving/check_export.py "$EXPORT" --reference "$reference" 2>/dev/null
