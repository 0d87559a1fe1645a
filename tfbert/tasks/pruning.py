"""Pruning a BERT task: what each head, neuron and layer is worth on labelled data, and the task
rebuilt on a smaller encoder.

Importance is measured on validation data with the task's own loss:

- a head: |d loss / d mask| at mask 1, where the mask multiplies the head's output (Michel et
  al. 2019, "Are Sixteen Heads Really Better than One?"), accumulated over the batches;
- a feed-forward neuron: the same with a mask on its activation (which equals
  |sum of activation x gradient| over the batch's tokens);
- a layer: how much the loss grows when the layer is removed (the pruned model's own loss).

`pruning_plan` turns the scores and the fractions to remove into a `PruningPlan`: the least
important layers go first; heads and neurons are then ranked across the remaining layers after
each layer's scores are divided by their L2 norm (as Michel et al. do), keeping at least one
head and one neuron in every layer. `prune_task` builds the smaller task, heads copied.

    scores = importance(model, validation)           # TextClassificationData, TaggedSentences
    plan = pruning_plan(scores, heads=0.5, neurons=0.5, layers=1)   # or a tf.data.Dataset
    smaller = prune_task(model, plan)                 # fine-tune it (tfbert.training.prune)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfbert.data.ner import TaggedSentences
from tfbert.data.pipeline import classification_dataset
from tfbert.data.readers import TextClassificationData
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.pruning import PruningPlan, aligned_width, prune_encoder
from tfbert.tasks.task import Task
from tfbert.text.tokenizer import BertTokenizer


@dataclasses.dataclass
class Importance:
    """Importance scores of one encoder's parts on one set of labelled data.

    heads[l][h], neurons[l][n]: accumulated |d loss / d mask| (larger: more important).
    layers[l]: the loss increase when layer l is removed (None when not measured).
    loss: the unpruned model's mean loss on the data.
    """

    heads: list[np.ndarray]
    neurons: list[np.ndarray]
    layers: np.ndarray | None
    loss: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready lists (rounded to 6 significant digits)."""

        def plain(values: Any) -> list[float]:
            return [float(f"{v:.6g}") for v in np.asarray(values).tolist()]

        return {
            "loss": float(f"{self.loss:.6g}"),
            "heads": [plain(v) for v in self.heads],
            "neurons": [plain(v) for v in self.neurons],
            "layers": None if self.layers is None else plain(self.layers),
        }


def bert_encoder_of(task: Task) -> BertEncoder:
    """The task's BERT encoder; a TypeError for other backbones, which cannot be pruned."""
    if type(task.backbone) is not BertEncoder:
        raise TypeError(
            f"Structured pruning needs a BERT model; this one's backbone is "
            f"{type(task.backbone).__name__}."
        )
    return task.backbone


def labelled_batches(task: Task, data: Any, batch_size: int = 32) -> tf.data.Dataset:
    """(features, targets) batches of `data` for `task`: a `tf.data.Dataset` as it is, a
    `TextClassificationData` (classifiers) or `TaggedSentences` (token classifiers)."""
    if isinstance(data, tf.data.Dataset):
        return data
    if isinstance(data, TaggedSentences):
        return task.dataset(data, batch_size=batch_size, shuffle=False)
    if isinstance(data, TextClassificationData):
        return classification_dataset(task, data, batch_size)
    raise TypeError(
        "data must be a tf.data.Dataset of (features, targets), TextClassificationData or "
        f"TaggedSentences, got {type(data).__name__}."
    )


def _loss_function(task: Task) -> Any:
    if not task.compiled:
        task.compile()  # the task's own loss ("auto")
    loss = task.loss
    return keras.losses.get(loss) if isinstance(loss, str) else loss


def _rows(targets: Any) -> int:
    return int(tf.shape(tf.nest.flatten(targets)[0])[0])


def mean_loss(task: Task, data: Any, batch_size: int = 32) -> float:
    """The task's loss on labelled `data`, averaged over its examples (inference mode)."""
    loss_of = _loss_function(task)
    batches = labelled_batches(task, data, batch_size)

    def batch_loss(features: Any, targets: Any) -> tf.Tensor:
        return loss_of(targets, task(features, training=False))

    step = tf.function(batch_loss, input_signature=list(batches.element_spec))
    total = count = 0.0
    for features, targets in batches:
        rows = _rows(targets)
        total += float(step(features, targets)) * rows
        count += rows
    if not count:
        raise ValueError("No labelled examples to measure the loss on.")
    return total / count


def importance(
    task: Task,
    data: Any,
    *,
    batch_size: int = 32,
    layers: bool = True,
    verbose: int = 0,
) -> Importance:
    """Scores every head, feed-forward neuron and (with `layers`) layer of `task`'s BERT
    encoder on labelled `data` (see the module docstring); `verbose=1` shows a progress bar."""
    encoder = bert_encoder_of(task)
    config = encoder.config
    loss_of = _loss_function(task)
    batches = labelled_batches(task, data, batch_size)
    head_sizes = [config.heads_in_layer(i) for i in range(config.num_layers)]
    neuron_sizes = [config.intermediate_size_of_layer(i) for i in range(config.num_layers)]

    def step(features: Any, targets: Any) -> Any:
        heads = [tf.ones([n]) for n in head_sizes]
        neurons = [tf.ones([n]) for n in neuron_sizes]
        with tf.GradientTape() as tape:
            tape.watch(heads + neurons)
            with encoder.masked(head_mask=heads, neuron_mask=neurons):
                loss = loss_of(targets, task(features, training=False))
        gradients = tape.gradient(loss, heads + neurons)
        return loss, [tf.abs(g) for g in gradients]

    step = tf.function(step, input_signature=list(batches.element_spec))
    head_scores = [np.zeros(n) for n in head_sizes]
    neuron_scores = [np.zeros(n) for n in neuron_sizes]
    total = count = 0.0
    steps = int(batches.cardinality())
    bar = keras.utils.Progbar(steps if steps > 0 else None, verbose=verbose, unit_name="batch")
    for features, targets in batches:
        loss, gradients = step(features, targets)
        rows = _rows(targets)
        total, count = total + float(loss) * rows, count + rows
        for scores, gradient in zip(head_scores + neuron_scores, gradients, strict=True):
            scores += gradient.numpy()
        bar.add(1)
    if not count:
        raise ValueError("No labelled examples to score the model on.")
    loss = total / count
    layer_scores = None
    if layers and config.num_layers > 1:
        layer_scores = np.array(
            [
                mean_loss(prune_task(task, PruningPlan(layers=(i,))), batches) - loss
                for i in range(config.num_layers)
            ]
        )
    return Importance(head_scores, neuron_scores, layer_scores, loss)


def _least_important(scores: list[np.ndarray], layers: list[int], fraction: float) -> dict:
    """{layer: indices} of the `fraction` of units with the lowest layer-normalised scores
    among `layers`, keeping each layer's most important unit."""
    ranked = []
    for layer in layers:
        values = np.asarray(scores[layer], np.float64)
        norm = np.linalg.norm(values)
        normalised = values / norm if norm > 0 else values
        keep = int(np.argmax(normalised))
        ranked += [(v, layer, i) for i, v in enumerate(normalised) if i != keep]
    total = sum(len(scores[layer]) for layer in layers)
    count = min(int(round(fraction * total)), len(ranked))
    removed: dict[int, list[int]] = {}
    for _, layer, index in sorted(ranked)[:count]:
        removed.setdefault(layer, []).append(index)
    return removed


def _align_neurons(
    removed: dict[int, list[int]], scores: list[np.ndarray], layers: list[int], multiple: int
) -> dict[int, list[int]]:
    """`removed` with each layer's kept count rounded by `aligned_width`: the extra neurons
    removed are the least important of those kept, the ones put back the most important of
    those removed, so every layer keeps its highest-scoring neurons."""
    aligned = {}
    for layer in layers:
        values = np.asarray(scores[layer], np.float64)
        width, gone = len(values), sorted(removed.get(layer, ()))
        target = width - aligned_width(width - len(gone), width, multiple)
        if target > len(gone):
            kept = np.setdiff1d(np.arange(width), gone)
            extra = kept[np.argsort(values[kept], kind="stable")[: target - len(gone)]]
            gone = sorted([*gone, *extra.tolist()])
        elif target < len(gone):
            order = np.argsort(-values[gone], kind="stable")
            back = {gone[i] for i in order[: len(gone) - target]}
            gone = [i for i in gone if i not in back]
        if gone:
            aligned[layer] = gone
    return aligned


def pruning_plan(
    scores: Importance,
    *,
    heads: float = 0.0,
    neurons: float = 0.0,
    layers: int = 0,
    neuron_multiple: int = 1,
) -> PruningPlan:
    """The plan that removes the `layers` least important layers, then the fraction `heads`
    of the remaining attention heads and `neurons` of the remaining feed-forward neurons with
    the lowest scores (each layer keeps at least one of each). With `neuron_multiple` above 1
    the number of neurons each layer keeps is then rounded to a multiple of it
    (`tfbert.modeling.pruning.aligned_width`; `tfbert prune` uses 16), keeping the most
    important ones, so that the smaller matmuls run on aligned shapes."""
    for name, value in (("heads", heads), ("neurons", neurons)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} is the fraction to remove, in [0, 1); got {value}.")
    multiple = neuron_multiple
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise ValueError(f"neuron_multiple must be a whole number of at least 1, got {multiple!r}.")
    count = len(scores.heads)
    if isinstance(layers, bool) or not 0 <= layers < count:
        raise ValueError(f"layers must be a whole number from 0 to {count - 1}, got {layers}.")
    dropped: tuple[int, ...] = ()
    if layers:
        if scores.layers is None:
            raise ValueError("These scores have no layer importance; score with layers=True.")
        dropped = tuple(int(i) for i in np.argsort(scores.layers, kind="stable")[:layers])
    kept = [i for i in range(count) if i not in dropped]
    removed_neurons = _least_important(scores.neurons, kept, neurons)
    if neuron_multiple > 1:
        removed_neurons = _align_neurons(removed_neurons, scores.neurons, kept, neuron_multiple)
    return PruningPlan(
        heads=_least_important(scores.heads, kept, heads), neurons=removed_neurons, layers=dropped
    )


def prune_task(task: Task, plan: PruningPlan) -> Task:
    """A new task of the same kind and settings on the pruned encoder (`prune_encoder`), its
    head's weights copied; `task` is not changed."""
    encoder = prune_encoder(bert_encoder_of(task), plan)
    preprocessor = BertTokenizer.from_config(task.preprocessor.get_config())
    pruned = type(task).from_parts(encoder, preprocessor, task.task_config())
    if pruned.backbone is not encoder:  # a BERT task builds its encoder from the config
        source = {v.path: v for v in encoder.weights}
        for variable in pruned.backbone.weights:
            variable.assign(source[variable.path])
    own = {id(v) for v in task.backbone.weights}
    rest = [v for v in task.weights if id(v) not in own]
    new_own = {id(v) for v in pruned.backbone.weights}
    new_rest = [v for v in pruned.weights if id(v) not in new_own]
    for mine, theirs in zip(new_rest, rest, strict=True):
        mine.assign(theirs)
    pruned.backbone.trainable = task.backbone.trainable
    return pruned


__all__ = [
    "Importance",
    "importance",
    "labelled_batches",
    "mean_loss",
    "prune_task",
    "pruning_plan",
]
