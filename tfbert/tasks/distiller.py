"""Knowledge distillation: a small student task learns a large teacher task's soft outputs.

`Distiller(teacher, student, temperature=2.0, alpha=0.5)` is a Keras model for `fit`: it runs
the teacher (frozen, in inference mode) and the student on the same batch and trains the student
on a mix of two losses (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network"):

    loss = alpha * T^2 * KL(teacher softened by T || student softened by T)
         + (1 - alpha) * the student's own loss on the hard labels

The soft term follows each head's output: a softmax over the labels (multiclass), one
Bernoulli per logit (binary, multilabel), a softmax over the tags at every real token (token
classification; a CRF student or teacher contributes its emission scores). The T^2 factor keeps
the soft term's gradients on the scale of the hard term's when the temperature changes.

Batches are `(features, targets)`, where targets are the task's encoded labels, or
`{"labels": ..., "labelled": ...}` with a 1/0 flag per row for a transfer set that mixes labelled
rows with unlabelled or augmented ones (`labelled` 0: the teacher's soft labels alone teach that
row), or nothing at all (soft labels only). `tfbert.training.distill` builds them.

Intermediate-layer transfer (TinyBERT, Jiao et al. 2020): with `hidden_weight > 0` the student's
hidden states also match the teacher's (mean squared error over real tokens) at the layers of
`layer_map` (student layer -> teacher layer, 0 the embeddings), through a learned linear
projection when the widths differ. It needs backbones that return their hidden states (BERT does)
and costs a second pass of the student's encoder per step. Attention-distribution transfer
(MiniLM) would need the encoder to return its attention probabilities, which it does not.

    teacher = BertClassifier.from_pretrained("runs/imdb")
    student = student_from_teacher(teacher, num_layers=3)   # every other layer of 6
    distiller = Distiller(teacher, student, temperature=2.0, alpha=0.5)
    distiller.compile()
    distiller.fit(dataset, epochs=3)
    student.save_pretrained("runs/imdb-3l")                 # an ordinary classifier

When training ends the student is an ordinary `BertClassifier` / `TokenClassifier`: it saves,
exports and serves like any other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras
from keras import ops

from tfbert.config import BertConfig
from tfbert.modeling.bert import BertEncoder
from tfbert.tasks.classifier import TextClassifier
from tfbert.tasks.task import Task, default_optimizer
from tfbert.tasks.token_classifier import TokenClassifier
from tfbert.text.tokenizer import BertTokenizer

LABELS, LABELLED = "labels", "labelled"  # the keys of targets that flag unlabelled rows


def softened_kl(teacher_logits: Any, student_logits: Any, temperature: float, kind: str) -> Any:
    """Per-row (or per-token) KL divergence of the student's softened outputs from the
    teacher's, times temperature^2.

    `kind` "softmax": one distribution over the last axis (multiclass, tags); "sigmoid": one
    Bernoulli per logit, averaged over the last axis (binary, multilabel). Returns the logits'
    shape without the last axis.
    """
    t = ops.cast(teacher_logits, "float32") / temperature
    s = ops.cast(student_logits, "float32") / temperature
    if kind == "softmax":
        log_p, log_q = ops.log_softmax(t, axis=-1), ops.log_softmax(s, axis=-1)
        kl = ops.sum(ops.exp(log_p) * (log_p - log_q), axis=-1)
    elif kind == "sigmoid":
        p = ops.sigmoid(t)
        log_p, log_not_p = ops.log_sigmoid(t), ops.log_sigmoid(-t)
        log_q, log_not_q = ops.log_sigmoid(s), ops.log_sigmoid(-s)
        kl = ops.mean(p * (log_p - log_q) + (1.0 - p) * (log_not_p - log_not_q), axis=-1)
    else:
        raise ValueError(f"kind must be 'softmax' or 'sigmoid', got {kind!r}.")
    return kl * (temperature**2)


def _masked_mean(values: Any, mask: Any) -> Any:
    mask = ops.cast(mask, "float32")
    return ops.sum(values * mask) / ops.maximum(ops.sum(mask), 1.0)


class Distiller(keras.Model):
    """Trains `student` on `teacher`'s softened outputs and the hard labels (module docstring).

    Args:
        teacher: the trained task (`TextClassifier` or `TokenClassifier`); frozen.
        student: a task of the same kind, labels and problem type; the model being trained.
        temperature: T, softens both distributions (1: none; Hinton et al. use 2-20).
        alpha: weight of the soft term; 1 - alpha weighs the hard labels.
        hidden_weight: weight of the hidden-state term (0: off).
        layer_map: student layer -> teacher layer for the hidden-state term (0 = embeddings);
            default: the embeddings and every student layer to the teacher layer at the same
            relative depth (`uniform_layer_map`).
    """

    def __init__(
        self,
        teacher: Task,
        student: Task,
        temperature: float = 2.0,
        alpha: float = 0.5,
        hidden_weight: float = 0.0,
        layer_map: Mapping[int, int] | None = None,
        **kwargs: Any,
    ) -> None:
        check_pair(teacher, student)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
        if not hidden_weight >= 0.0:
            raise ValueError(f"hidden_weight must be at least 0, got {hidden_weight}.")
        super().__init__(name=kwargs.pop("name", "distiller"), **kwargs)
        self.teacher = teacher
        self.student = student
        teacher.trainable = False
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.hidden_weight = float(hidden_weight)
        self.tokens = isinstance(student, TokenClassifier)
        self.kind = "softmax" if self.tokens or student.problem_type == "multiclass" else "sigmoid"
        self.layer_map: dict[int, int] = {}
        self.projections: list[Any] = []
        if self.hidden_weight > 0:
            self._set_up_hidden_transfer(layer_map)
        self.soft_tracker = keras.metrics.Mean(name="soft_loss")
        self.hard_tracker = keras.metrics.Mean(name="hard_loss")
        self.hidden_tracker = keras.metrics.Mean(name="hidden_loss") if hidden_weight else None
        self.accuracy = None
        if not self.tokens:
            self.accuracy = (
                keras.metrics.SparseCategoricalAccuracy(name="accuracy")
                if student.problem_type == "multiclass"
                else keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)
            )

    def _set_up_hidden_transfer(self, layer_map: Mapping[int, int] | None) -> None:
        for model, role in ((self.teacher, "teacher"), (self.student, "student")):
            if not model.backbone.supports_hidden_states:
                raise ValueError(
                    f"hidden_weight needs the {role}'s backbone to return its hidden states; "
                    f"{type(model.backbone).__name__} does not (set hidden_weight=0)."
                )
        teacher_layers = self.teacher.backbone.config.num_layers
        student_layers = self.student.backbone.config.num_layers
        layer_map = dict(layer_map or uniform_layer_map(student_layers, teacher_layers))
        for s, t in layer_map.items():
            if not (0 <= s <= student_layers and 0 <= t <= teacher_layers):
                raise ValueError(
                    f"layer_map entry {s}: {t} is outside the student's 0..{student_layers} or "
                    f"the teacher's 0..{teacher_layers} hidden states."
                )
        self.layer_map = layer_map
        width_s = self.student.backbone.config.hidden_size
        width_t = self.teacher.backbone.config.hidden_size
        if width_s != width_t:
            self.projections = [
                keras.layers.Dense(width_t, name=f"projection_{s}") for s in layer_map
            ]
            for projection in self.projections:
                projection.build((None, None, width_s))

    # ----- the forward pass ----------------------------------------------------------------------
    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.student(inputs, training=training)

    def compile(self, optimizer: Any = "auto", **kwargs: Any) -> None:
        """Keras `compile`; the loss is the distillation loss (no `loss` argument), "auto"
        takes AdamW at 5e-5. The student is compiled with its own hard-label loss."""
        if "loss" in kwargs or "metrics" in kwargs:
            raise ValueError("Distiller computes its own loss and metrics; give only optimizer.")
        if optimizer == "auto":
            optimizer = default_optimizer(5e-5)
        self.student.compile(optimizer=optimizer)
        super().compile(optimizer=optimizer, **kwargs)

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        labels, labelled = split_targets(y)
        teacher_logits = self.teacher(x, training=False)
        mask = x["padding_mask"] if self.tokens else None
        soft = softened_kl(teacher_logits, y_pred, self.temperature, self.kind)
        soft = _masked_mean(soft, mask) if mask is not None else ops.mean(soft)
        hard = self.hard_loss(labels, labelled, y_pred)
        loss = self.alpha * soft + (1.0 - self.alpha) * hard
        self.soft_tracker.update_state(soft)
        self.hard_tracker.update_state(hard)
        if self.hidden_weight > 0:
            hidden = self.hidden_loss(x, training)
            self.hidden_tracker.update_state(hidden)
            loss = loss + self.hidden_weight * hidden
        return loss + ops.sum(self.losses) if self.losses else loss

    def hard_loss(self, labels: Any, labelled: Any, logits: Any) -> Any:
        """The student's own loss on the labelled rows (0 without labels)."""
        if labels is None:
            return ops.convert_to_tensor(0.0)
        if self.tokens:  # unlabelled windows carry IGNORE_LABEL everywhere: no term
            return self.student.loss(labels, logits)
        logits = ops.cast(logits, "float32")
        if self.student.problem_type == "multiclass":
            rows = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        else:
            rows = keras.losses.binary_crossentropy(
                ops.cast(labels, "float32"), logits, from_logits=True
            )
        return _masked_mean(rows, labelled) if labelled is not None else ops.mean(rows)

    def hidden_loss(self, x: Any, training: bool) -> Any:
        """Mean squared error between mapped hidden states, over real tokens."""
        teacher_states = self.teacher.backbone(x, training=False, return_all_layers=True)
        student_states = self.student.backbone(x, training=training, return_all_layers=True)
        mask = ops.cast(x["padding_mask"], "float32")
        total = 0.0
        for index, (s, t) in enumerate(self.layer_map.items()):
            mine = ops.cast(student_states["hidden_states"][s], "float32")
            if self.projections:
                mine = self.projections[index](mine)
            theirs = ops.cast(teacher_states["hidden_states"][t], "float32")
            total += _masked_mean(ops.mean(ops.square(mine - theirs), axis=-1), mask)
        return total / max(len(self.layer_map), 1)

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        labels, labelled = split_targets(y)
        if self.accuracy is not None and labels is not None:
            self.accuracy.update_state(labels, ops.cast(y_pred, "float32"), labelled)
        return self.get_metrics_result()


def split_targets(y: Any) -> tuple[Any, Any]:
    """(labels, labelled flags) of a batch's targets: a tensor, a {"labels", "labelled"}
    dict, or None."""
    if y is None:
        return None, None
    if isinstance(y, Mapping):
        return y[LABELS], y.get(LABELLED)
    return y, None


def check_pair(teacher: Any, student: Any) -> None:
    """Refuses a teacher and student that do not answer the same question."""
    for model, role in ((teacher, "teacher"), (student, "student")):
        if not isinstance(model, (TextClassifier, TokenClassifier)):
            raise TypeError(
                f"the {role} must be a TextClassifier or TokenClassifier, got "
                f"{type(model).__name__}."
            )
    if isinstance(teacher, TokenClassifier) != isinstance(student, TokenClassifier):
        raise TypeError("teacher and student must both classify texts or both tag tokens.")
    if isinstance(student, TokenClassifier):
        if teacher.tags != student.tags:
            raise ValueError(f"the teacher's tags {teacher.tags} differ from {student.tags}.")
        return
    if teacher.labels != student.labels or teacher.problem_type != student.problem_type:
        raise ValueError(
            f"the teacher ({teacher.problem_type}, {teacher.labels}) and the student "
            f"({student.problem_type}, {student.labels}) must share labels and problem type."
        )


# ----- students -----------------------------------------------------------------------------
def spread_layers(keep: int, total: int) -> list[int]:
    """`keep` of `total` layer indices (0-based) spread evenly, the top layer always kept:
    3 of 6 -> [1, 3, 5], 2 of 6 -> [2, 5], 6 of 6 -> all."""
    if not 1 <= keep <= total:
        raise ValueError(f"a student keeps 1 to {total} of the teacher's layers, got {keep}.")
    return [math.ceil((i + 1) * total / keep) - 1 for i in range(keep)]


def uniform_layer_map(student_layers: int, teacher_layers: int) -> dict[int, int]:
    """Hidden states to match: the embeddings (0 -> 0) and each student layer to the teacher
    layer at the same relative depth (1-based layer numbers, as `hidden_states` counts; a
    student of the teacher's `spread_layers` matches each kept layer to its original)."""
    return {
        0: 0,
        **{i: math.ceil(i * teacher_layers / student_layers) for i in range(1, student_layers + 1)},
    }


def student_from_teacher(
    teacher: Task,
    num_layers: int | None = None,
    *,
    layers: Sequence[int] | None = None,
    preset: str | None = None,
    **config_overrides: Any,
) -> Task:
    """A smaller student of the teacher's kind, labels and tokenizer.

    With `num_layers` (or explicit 0-based `layers`): a BERT of the teacher's width whose
    embeddings, pooler, head and kept layers are copies of the teacher's (`spread_layers`
    picks which: 3 of 6 keeps layers 1, 3 and 5); keeping every layer gives the teacher's
    outputs. With `preset`: a randomly initialised BERT of that named size
    (`tfbert.config.PRESETS`) on the teacher's vocabulary. `config_overrides` change the
    student's BertConfig (e.g. dropout).
    """
    if not isinstance(teacher, (TextClassifier, TokenClassifier)):
        raise TypeError(f"the teacher must be a task, got {type(teacher).__name__}.")
    given = sum(option is not None for option in (num_layers, layers, preset))
    if given != 1:
        raise ValueError("give one of num_layers, layers or preset for the student.")
    tokenizer = BertTokenizer.from_config(teacher.preprocessor.get_config())
    if preset is not None:
        config_overrides.setdefault("vocab_size", tokenizer.vocabulary_size)
        config = BertConfig.from_preset(preset, **config_overrides)
        return _same_task(teacher, BertEncoder(config, name="encoder"), tokenizer)
    encoder = teacher.backbone
    if type(encoder) is not BertEncoder:
        raise TypeError(
            f"a student from the teacher's layers needs a BERT teacher, not "
            f"{type(encoder).__name__}; give a preset instead."
        )
    total = encoder.config.num_layers
    kept = list(layers) if layers is not None else spread_layers(num_layers, total)
    if not kept or any(not 0 <= i < total for i in kept):
        raise ValueError(f"layers must be indices in 0..{total - 1}, got {kept}.")
    config = encoder.config.replace(num_layers=len(kept), **config_overrides)
    student = _same_task(teacher, BertEncoder(config, name="encoder"), tokenizer)
    copy = student.backbone
    copy.embeddings.set_weights(encoder.embeddings.get_weights())
    if encoder.embedding_projection is not None:
        copy.embedding_projection.set_weights(encoder.embedding_projection.get_weights())
    for block, index in zip(copy.blocks, kept, strict=True):
        block.set_weights(encoder.blocks[index].get_weights())
    copy.pooler.set_weights(encoder.pooler.get_weights())
    student.head.set_weights(teacher.head.get_weights())
    student.forget_inference_functions()
    return student


def _same_task(teacher: Task, encoder: BertEncoder, tokenizer: BertTokenizer) -> Task:
    """A task like `teacher` (class, labels, head settings) on `encoder`."""
    return type(teacher).from_parts(encoder, tokenizer, teacher.task_config())


__all__ = [
    "Distiller",
    "softened_kl",
    "spread_layers",
    "student_from_teacher",
    "uniform_layer_map",
]
