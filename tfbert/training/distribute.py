"""Choosing a `tf.distribute` strategy by name, with clear errors for bad set-ups.

- "default": no distribution (one device).
- "mirrored": `MirroredStrategy` over all local GPUs, or over the devices given (e.g.
  ["/gpu:0", "/gpu:1"], or logical CPU devices in tests).
- "multi-worker": `MultiWorkerMirroredStrategy`, the cluster read from `TF_CONFIG`.

Models must be built inside `strategy.scope()`; `fit` then splits each global batch over the
replicas. Training always runs on numeric features (RESOURCES trap 1: Keras 3.15's `fit` under
MirroredStrategy fails on string inputs), which the tf.data pipelines provide.

Multi-worker rules, as tfbert applies them:
- Input: the pipelines set the auto-shard policy to DATA. The text is in memory, not in files
  (FILE sharding has nothing to split); with DATA every worker runs the same pipeline and keeps
  its share of each global batch, so each example is seen once per epoch, in the batches a
  single process would form, at the price of every worker tokenizing everything (cheap).
- Outputs: only the chief (`is_chief`) writes the model directory and exports; the other
  workers run the same callbacks but write to `worker_directory(...)`, their own directory,
  removed at the end.
- `create_strategy("multi-worker")` must run before TensorFlow runs any op.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

STRATEGY_NAMES = ("default", "mirrored", "multi-worker")


def create_strategy(
    name: str = "default", devices: Sequence[str] | None = None
) -> tf.distribute.Strategy:
    if name == "default":
        if devices:
            raise ValueError("--devices needs --strategy mirrored.")
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=_check_devices(devices))
    if name == "multi-worker":
        check_tf_config(os.environ.get("TF_CONFIG"))
        return MultiWorkerStrategy()
    raise ValueError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGY_NAMES)}.")


class MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy with the two `reduce` calls Keras 3.15's `fit` makes.

    Stock Keras 3.15 `fit` cannot run under MultiWorkerMirroredStrategy with two or more
    workers; both failures are in how its TensorFlow trainer calls `strategy.reduce`:

    1. Every `fit`/`evaluate` starts with `strategy.reduce("MEAN", first_batch)` on the whole
       (features, targets) structure, only to read shapes. MirroredStrategy lets a structure
       through; this strategy fails ("Attempt to convert a value ({'token_ids': PerReplica...})
       ... to a Tensor"; keras-team/keras#20329). Here a structure is reduced leaf by leaf.
    2. Every step reduces its logs with `strategy.reduce("MEAN", scalar, axis=0)`, which
       fails on a scalar ("Invalid reduction dimension 0 for input with 0 dimensions";
       tensorflow/tensorflow#72388). For a per-replica scalar the only axis to reduce is the
       replicas, which is what `axis=None` does (and what Keras computes under
       MirroredStrategy: the mean of the replicas' values).

    Only the public `Strategy.reduce` is overridden; no private Keras code is patched.
    """

    def reduce(self, reduce_op, value, axis):
        reduce_one = super().reduce

        def reduce_leaf(leaf):
            local = (
                self.experimental_local_results(leaf)[0]
                if isinstance(leaf, tf.distribute.DistributedValues)
                else leaf
            )
            scalar = getattr(getattr(local, "shape", None), "rank", None) == 0
            return reduce_one(reduce_op, leaf, None if scalar else axis)

        return tf.nest.map_structure(reduce_leaf, value)


def _check_devices(devices: Sequence[str] | None) -> list[str] | None:
    available = {
        d.name.replace("/device:", "/").lower(): d.name for d in tf.config.list_logical_devices()
    }
    if not devices:
        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        return gpus or None  # None: MirroredStrategy falls back to the CPU
    resolved = []
    for device in devices:
        key = device.lower()
        key = key if key.startswith("/") else "/" + key
        key = key.replace("/device:", "/")
        matches = [full for short, full in available.items() if short.endswith(key)]
        if not matches:
            raise ValueError(
                f"Device {device!r} does not exist here; available devices: "
                f"{', '.join(sorted(available.values()))}. Check --devices."
            )
        resolved.append(matches[0])
    return resolved


def check_tf_config(raw: str | None) -> dict:
    """Validates TF_CONFIG for multi-worker training and returns it parsed."""
    example = (
        '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
        '"task": {"type": "worker", "index": 0}}'
    )
    if not raw:
        raise ValueError(
            f"--strategy multi-worker needs the TF_CONFIG environment variable, e.g. {example}"
        )
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"TF_CONFIG is not valid JSON ({error}); expected e.g. {example}"
        ) from None
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster.get("worker"):
        raise ValueError(f"TF_CONFIG has no cluster.worker list; expected e.g. {example}")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError(f"TF_CONFIG has no task with type and index; expected e.g. {example}")
    members = cluster.get(task["type"])
    if not isinstance(members, list) or not 0 <= int(task["index"]) < len(members):
        raise ValueError(
            f"TF_CONFIG task {task} is not in the cluster {cluster}; the index must point into "
            f"cluster[{task['type']!r}]."
        )
    return config


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes shared outputs (model directory, export) under `strategy`."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def worker_directory(output_dir: str | Path, strategy: tf.distribute.Strategy) -> Path:
    """Where this process writes its training files (logs, checkpoints, backups).

    The chief: `output_dir`. Any other multi-worker task: `<output_dir>.<type>-<index>`, a
    directory of its own that is removed when training ends. This is the usual
    MultiWorkerMirroredStrategy rule: every worker runs the same callbacks and saves (so that
    all of them hold the same best weights and can resume), but only the chief's files are
    kept, and two workers never write the same file, whether or not they share a file system.
    """
    output_dir = Path(output_dir)
    if is_chief(strategy):
        return output_dir
    resolver = strategy.cluster_resolver
    return output_dir.with_name(f"{output_dir.name}.{resolver.task_type}-{resolver.task_id}")


def split_cpu(num_devices: int) -> list[str]:
    """Splits the CPU into logical devices (call before TensorFlow runs any op); for tests and
    for trying strategies on a machine without GPUs."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)]
    )
    return [d.name for d in tf.config.list_logical_devices("CPU")]
