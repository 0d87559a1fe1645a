"""Adversarial training on the word embeddings: the fast gradient method (FGM).

Miyato et al. 2017 ("Adversarial Training Methods for Semi-Supervised Text Classification")
perturb the input embeddings in the direction that raises the loss most, `r = epsilon * g /
||g||` with `g` the loss's gradient with respect to the embeddings, and train on the clean loss
plus the loss of the perturbed input. Here the perturbation is added to the token embedding
matrix for the second forward pass and taken off again before the update, so the weights the
optimizer updates are the clean ones and each step costs about two ordinary steps.

It works with any task whose backbone exposes `token_embeddings`
(`tfbert.modeling.backbone.Backbone`):

    enable_fgm(model, epsilon=1.0)   # after building, before fit (fine_tune: TrainingConfig.fgm)
    model.fit(...)
    disable_fgm(model)
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfbert.errors import TfbertError

_ATTRIBUTE = "train_step"


def embedding_variable(model: keras.Model) -> keras.Variable:
    """The token embedding matrix FGM perturbs; a TfbertError when the backbone has none."""
    backbone = getattr(model, "backbone", None)
    try:
        return backbone.token_embeddings
    except (AttributeError, NotImplementedError):
        raise TfbertError(
            f"adversarial training perturbs the token embeddings, which "
            f"{type(backbone).__name__} does not expose (Backbone.token_embeddings); "
            "drop the FGM option."
        ) from None


def fgm_gradients(
    model: keras.Model, x: Any, y: Any, sample_weight: Any = None, *, epsilon: float = 1.0
) -> tuple[tf.Tensor, tf.Tensor, list, Any]:
    """One FGM step's gradients, without applying them.

    Returns `(clean_loss, adversarial_loss, gradients, clean_predictions)`: `gradients` (one per
    `model.trainable_weights`) are those of `clean_loss + adversarial_loss`, where the
    adversarial loss is computed with the token embeddings moved by `epsilon * g / ||g||`. The
    embeddings hold their clean values again on return.
    """
    embeddings = embedding_variable(model)
    weights = model.trainable_weights
    index = next((i for i, w in enumerate(weights) if w is embeddings), None)
    if index is None:
        raise TfbertError("the token embeddings are frozen; adversarial training needs them.")
    scale = model.optimizer.scale_loss if model.optimizer is not None else (lambda loss: loss)
    with tf.GradientTape() as tape:
        y_pred = model(x, training=True)
        clean = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        scaled = scale(clean)
    gradients = tape.gradient(scaled, weights)
    direction = tf.convert_to_tensor(gradients[index])  # dense: a gather gives IndexedSlices
    direction = tf.cast(direction, embeddings.dtype)
    perturbation = epsilon * direction / (tf.norm(direction) + 1e-12)
    clean_embeddings = tf.identity(embeddings.value)  # restored exactly, not by subtraction
    embeddings.assign_add(perturbation)
    with tf.GradientTape() as tape:
        adversarial = model.compute_loss(
            x=x, y=y, y_pred=model(x, training=True), sample_weight=sample_weight
        )
        scaled_adversarial = scale(adversarial)
    adversarial_gradients = tape.gradient(scaled_adversarial, weights)
    done = [tf.convert_to_tensor(g) for g in adversarial_gradients if g is not None]
    with tf.control_dependencies(done):
        embeddings.assign(clean_embeddings)
    summed = [
        a if b is None else b if a is None else tf.convert_to_tensor(a) + tf.convert_to_tensor(b)
        for a, b in zip(gradients, adversarial_gradients, strict=True)
    ]
    return clean, adversarial, summed, y_pred


def enable_fgm(model: keras.Model, epsilon: float = 1.0) -> None:
    """Makes `model.fit` train with FGM (clean + adversarial loss) until `disable_fgm`.

    The reported `loss` stays the clean loss, so it compares with training without FGM.
    One replica only: the perturbation is written into the embedding variable.
    """
    if not epsilon > 0:
        raise TfbertError(f"the FGM epsilon must be positive, got {epsilon}.")
    embedding_variable(model)
    if model.distribute_strategy.num_replicas_in_sync > 1:
        raise TfbertError(
            "adversarial training (FGM) runs on one replica; drop it or train on one device."
        )

    def train_step(data: Any) -> dict[str, Any]:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        loss, _, gradients, y_pred = fgm_gradients(model, x, y, sample_weight, epsilon=epsilon)
        batch = tf.shape(next(t for t in tf.nest.flatten(x) if t is not None))[0]
        model._loss_tracker.update_state(loss, sample_weight=batch)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_weights, strict=True))
        return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    object.__setattr__(model, _ATTRIBUTE, train_step)
    model.train_function = None  # traced anew with this step


def disable_fgm(model: keras.Model) -> None:
    """Back to the ordinary training step."""
    if _ATTRIBUTE in vars(model):
        object.__delattr__(model, _ATTRIBUTE)
        model.train_function = None
