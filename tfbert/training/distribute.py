"""Choosing a `tf.distribute` strategy by name, with clear errors for bad set-ups.

- "default": no distribution (one device).
- "mirrored": `MirroredStrategy` over all local GPUs, or over the devices given (e.g.
  ["/gpu:0", "/gpu:1"], or logical CPU devices in tests).
- "multi-worker": `MultiWorkerMirroredStrategy`, the cluster read from `TF_CONFIG`.

Models must be built inside `strategy.scope()`; `fit` then splits each global batch over the
replicas. Training always runs on numeric features (RESOURCES trap 1: Keras 3.15's `fit` under
MirroredStrategy fails on string inputs), which the tf.data pipelines provide.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

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
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGY_NAMES)}.")


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


def split_cpu(num_devices: int) -> list[str]:
    """Splits the CPU into logical devices (call before TensorFlow runs any op); for tests and
    for trying strategies on a machine without GPUs."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)]
    )
    return [d.name for d in tf.config.list_logical_devices("CPU")]
