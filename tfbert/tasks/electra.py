"""ElectraPretrainer: replaced-token detection (Clark et al. 2020, ELECTRA), as one Keras model.

    masked batch (token_ids with [MASK]s, segment_ids, padding_mask, mask_positions, mask_ids,
    mask_weights) from `tfbert.data.pretraining`
      -> generator: a narrow BERT (by default a quarter of the discriminator's width, the
         paper's small setting) on the masked tokens, reading the discriminator's embeddings
         (token, position, segment, their LayerNorm) through a projection to its width; its
         masked-LM head decodes with the same token embedding matrix     "generator" [b, p, vocab]
      -> replacements: one token sampled from the generator's softmax at each masked position
         (no gradient flows through the sampling) replaces the original token there
      -> discriminator: the BERT that later fine-tunes ("encoder"), on the corrupted tokens;
         per token Dense(hidden, act) -> Dense(1)                      "discriminator" [b, length]
      -> labels: 1 where the token differs from the original ("replaced" [b, length]); a
         masked position where the generator sampled the original token counts as original, as
         in the paper; padding and unmasked positions are always 0.

Loss: the generator's masked-LM cross-entropy (mean over real predictions, as BertPretrainer's)
plus `discriminator_weight` (50, the paper's lambda) times the discriminator's binary
cross-entropy averaged over the real (non-padding) tokens. The embeddings get gradients from
both. The discriminator learns from every token, not only the 15% masked ones, which is why it
does better than masked LM at equal compute, most at small sizes.

`compile()` sets those losses and the metrics: generator accuracy, discriminator accuracy and
AUC over real tokens, and the share of real tokens replaced (`discriminator_replaced`).
`fit` takes `pretraining_dataset(...)` batches; the losses are computed from the batch and the
sampled labels (`compute_loss`), so the data has no targets.

`save_pretrained(dir)` writes the discriminator alone as a Hugging Face BERT directory:
`tfbert train --init-from dir` and `BertClassifier.from_pretrained(dir, labels=...)` fine-tune
it. The generator is a pretraining device and is not kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
from keras import ops

from tfbert.config import BertConfig
from tfbert.contract import FEATURE_NAMES
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints import load_encoder_weights, load_pretrained
from tfbert.modeling.heads import MaskedLMHead
from tfbert.modeling.layers import activation_function, dense_layer, float32
from tfbert.tasks.pretrainer import (
    MaskedLMPerplexity,
    masked_lm_loss,
    preset_parts,
    pretrained_parts,
    save_encoder_directory,
    unpaired_dataset,
)
from tfbert.tasks.task import Task, default_optimizer
from tfbert.text.tokenizer import BertTokenizer

INPUT_NAMES = (*FEATURE_NAMES, "mask_positions", "mask_ids", "mask_weights")
GENERATOR_FRACTION = 0.25  # the generator's width over the discriminator's (ELECTRA-Small)
DISCRIMINATOR_WEIGHT = 50.0  # lambda of the paper


def generator_config(config: BertConfig, fraction: float = GENERATOR_FRACTION) -> BertConfig:
    """The generator's config: `fraction` of the discriminator's hidden and feed-forward
    widths and head count (at least one head), the same depth, vocabulary and positions."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"generator_fraction must be in (0, 1], got {fraction}.")
    heads = max(1, round(config.num_heads * fraction))
    hidden = max(heads, round(config.hidden_size * fraction / heads) * heads)
    intermediate = max(1, round(config.intermediate_size * fraction))
    return config.replace(hidden_size=hidden, num_heads=heads, intermediate_size=intermediate)


@keras.saving.register_keras_serializable(package="tfbert")
def replaced_share(y_true, y_pred):
    """The labels themselves: their weighted mean is the share of real tokens replaced."""
    return ops.cast(y_true, "float32")


@keras.saving.register_keras_serializable(package="tfbert")
class TokenReplacement(keras.layers.Layer):
    """Samples the generator's tokens at the masked positions; returns the discriminator's
    input ids and labels.

    Call with `token_ids` (masked) [b, length], `mask_positions`, `mask_ids`, `mask_weights`
    [b, p] and the generator's logits [b, p, vocab]. Returns (corrupted ids, labels), both
    [b, length] int32: the original tokens with the samples at the real masked positions, and
    1 where a sample differs from the original. Sampling is seeded (`seed`) by a Keras seed
    generator, whose state the model's variables (and training backups) carry.
    """

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="sampling_seed")

    def call(self, token_ids, mask_positions, mask_ids, mask_weights, generator_logits):
        logits = ops.stop_gradient(ops.cast(generator_logits, "float32"))
        vocab = ops.shape(logits)[-1]
        sampled = keras.random.categorical(
            ops.reshape(logits, (-1, vocab)), 1, dtype="int32", seed=self.seed_generator
        )
        sampled = ops.reshape(sampled, ops.shape(mask_ids))
        # [b, p, length]: which position each real prediction slot writes (padded slots none).
        real = ops.cast(ops.greater(mask_weights, 0), "int32")
        hits = ops.one_hot(mask_positions, ops.shape(token_ids)[1], dtype="int32")
        hits = hits * real[:, :, None]
        masked = ops.greater(ops.sum(hits, axis=1), 0)

        def written(values):  # positions are distinct within a row: the sum picks one value
            return ops.sum(hits * ops.cast(values, "int32")[:, :, None], axis=1)

        token_ids = ops.cast(token_ids, "int32")
        original = ops.where(masked, written(mask_ids), token_ids)
        corrupted = ops.where(masked, written(sampled), token_ids)
        labels = ops.cast(ops.not_equal(corrupted, original), "int32")
        return corrupted, labels

    def compute_output_spec(self, token_ids, *args):
        spec = keras.KerasTensor(token_ids.shape, dtype="int32")
        return spec, keras.KerasTensor(token_ids.shape, dtype="int32")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfbert")
class DiscriminatorHead(keras.layers.Layer):
    """Per token: Dense(hidden, activation) -> Dense(1); float32 logits [b, length]."""

    def __init__(self, config: BertConfig | dict[str, Any], **kwargs: Any) -> None:
        kwargs["dtype"] = "float32"  # as the encoder: only the matmuls follow the policy
        super().__init__(**kwargs)
        self.config = config if isinstance(config, BertConfig) else BertConfig.from_dict(config)
        c = self.config
        self.dense = dense_layer(c, c.hidden_size, "dense")
        self.activation = activation_function(c.hidden_act)
        self.logit = keras.layers.Dense(
            1, kernel_initializer=self.dense.kernel_initializer, dtype="float32", name="logit"
        )

    def build(self, input_shape: Any = None) -> None:
        hidden = self.config.hidden_size
        self.dense.build((None, None, hidden))
        self.logit.build((None, None, hidden))
        self.built = True

    def call(self, sequence_output):
        hidden = self.activation(float32(self.dense(sequence_output)))
        return ops.squeeze(self.logit(hidden), -1)

    def compute_output_spec(self, sequence_output):
        return keras.KerasTensor(sequence_output.shape[:2], dtype="float32")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "config": self.config.to_dict()}


@keras.saving.register_keras_serializable(package="tfbert")
class ElectraPretrainer(Task):
    """ELECTRA's generator and discriminator, sharing embeddings, and the tokenizer.

    Args:
        config: the discriminator's BertConfig (or its dict): the model that fine-tunes.
        tokenizer: the BertTokenizer (or its Keras config) both models embed.
        generator_fraction: the generator's width over the discriminator's (0.25; the paper
            uses 1/4 to 1/2: a generator too strong makes the task too hard).
        discriminator_weight: lambda, the weight of the discriminator loss (50).
        seed: seeds the sampling of replacements.

    Inputs: `token_ids` (masked), `segment_ids`, `padding_mask` [batch, length],
    `mask_positions`, `mask_ids` (int32) and `mask_weights` (float32) [batch, predictions].
    Outputs: {"generator": [b, p, vocab] logits, "discriminator": [b, length] logits,
    "replaced": [b, length] int32 labels}.
    """

    next_sentence_prediction = False

    def __init__(
        self,
        config: BertConfig | dict[str, Any],
        tokenizer: BertTokenizer | dict[str, Any],
        generator_fraction: float = GENERATOR_FRACTION,
        discriminator_weight: float = DISCRIMINATOR_WEIGHT,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        config = config if isinstance(config, BertConfig) else BertConfig.from_dict(config)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        small = generator_config(config, generator_fraction)
        discriminator = BertEncoder(config, name="encoder")
        self.check_parts(discriminator, tokenizer)
        discriminator.build()  # first: the shared embeddings' variables are the discriminator's
        generator = BertEncoder(
            small, embeddings=discriminator.embeddings, name="generator_encoder"
        )
        # Neither model's pooler is read: no gradient would reach them.
        generator.pooler.trainable = discriminator.pooler.trainable = False
        inputs = {
            name: keras.Input(
                shape=(None,), dtype="float32" if name == "mask_weights" else "int32", name=name
            )
            for name in INPUT_NAMES
        }
        features = {name: inputs[name] for name in FEATURE_NAMES}
        generated = generator(features, output_positions=inputs["mask_positions"])
        generator_head = MaskedLMHead(
            config,
            discriminator.embeddings.token_embedding,
            input_size=small.hidden_size,
            name="generator_mlm",
        )
        generator_logits = generator_head(generated["sequence_output"])
        replacement = TokenReplacement(seed, name="replacement")
        corrupted, labels = replacement(
            inputs["token_ids"],
            inputs["mask_positions"],
            inputs["mask_ids"],
            inputs["mask_weights"],
            generator_logits,
        )
        encoded = discriminator({**features, "token_ids": corrupted})
        discriminator_head = DiscriminatorHead(config, name="discriminator_head")
        linear = lambda name: keras.layers.Activation("linear", dtype="float32", name=name)  # noqa: E731
        outputs = {
            "generator": linear("generator")(generator_logits),
            "discriminator": linear("discriminator")(
                discriminator_head(encoded["sequence_output"])
            ),
            "replaced": labels,
        }
        super().__init__(
            inputs=inputs,
            outputs=outputs,
            backbone=discriminator,
            preprocessor=tokenizer,
            **kwargs,
        )
        self.bert_config = config
        self.generator_fraction = generator_fraction
        self.discriminator_weight = float(discriminator_weight)
        self.seed = seed
        self.generator = generator
        self.generator_head = generator_head
        self.discriminator_head = discriminator_head

    @property
    def discriminator(self) -> BertEncoder:
        """The discriminator: the BERT encoder that `save_pretrained` writes and fine-tunes."""
        return self.backbone

    # ----- construction ------------------------------------------------------------------------
    @classmethod
    def from_preset(
        cls,
        preset: str,
        *,
        vocabulary: Sequence[str] | str | Path,
        max_length: int = 128,
        tokenizer_options: dict[str, Any] | None = None,
        generator_fraction: float = GENERATOR_FRACTION,
        seed: int | None = None,
        **config_overrides: Any,
    ) -> ElectraPretrainer:
        """A randomly initialised ELECTRA whose discriminator has a named size."""
        config, tokenizer = preset_parts(
            preset, vocabulary, max_length, tokenizer_options, config_overrides
        )
        return cls(config, tokenizer, generator_fraction=generator_fraction, seed=seed)

    @classmethod
    def from_pretrained(
        cls,
        path_or_name: str | Path,
        *,
        max_length: int | None = None,
        dropout: float | None = None,
        generator_fraction: float = GENERATOR_FRACTION,
        seed: int | None = None,
    ) -> ElectraPretrainer:
        """An ELECTRA whose discriminator (and so the shared embeddings) starts from a
        checkpoint `tfbert.modeling.checkpoints` reads; the generator and the heads start
        fresh. `max_length` defaults to the saved one, else 128; `dropout` replaces the
        checkpoint's."""
        pretrained = load_pretrained(path_or_name)
        config, tokenizer = pretrained_parts(pretrained, path_or_name, max_length, dropout)
        model = cls(config, tokenizer, generator_fraction=generator_fraction, seed=seed)
        load_encoder_weights(model.discriminator, pretrained)
        return model

    # ----- training ----------------------------------------------------------------------------
    def compile(self, optimizer: Any = "auto", **kwargs: Any) -> None:
        """Keras `compile` with ELECTRA's losses and metrics (see the module docstring).

        Default optimizer: AdamW at 1e-4; pass `create_optimizer(..., total_steps=...)` for
        warm-up and decay.
        """
        if optimizer == "auto":
            optimizer = default_optimizer(1e-4)
        kwargs.setdefault(
            "loss",
            {
                "generator": masked_lm_loss(name="generator_loss"),
                "discriminator": keras.losses.BinaryCrossentropy(
                    from_logits=True, reduction="mean_with_sample_weight", name="rtd_loss"
                ),
            },
        )
        kwargs.setdefault(
            "loss_weights", {"generator": 1.0, "discriminator": self.discriminator_weight}
        )
        kwargs.setdefault(
            "weighted_metrics",
            {
                "generator": [
                    keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                    MaskedLMPerplexity(name="perplexity"),
                ],
                "discriminator": [
                    keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy"),
                    keras.metrics.AUC(from_logits=True, name="auc"),
                    keras.metrics.MeanMetricWrapper(replaced_share, name="replaced"),
                ],
            },
        )
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config: dict[str, Any]) -> None:
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def _targets(self, x: dict[str, Any], y_pred: dict[str, Any]) -> tuple[dict, dict, dict]:
        """(targets, predictions, sample weights) for the compiled losses and metrics."""
        labels = ops.cast(y_pred["replaced"], "float32")[..., None]
        targets = {"generator": x["mask_ids"], "discriminator": labels}
        predictions = {
            "generator": y_pred["generator"],
            "discriminator": y_pred["discriminator"][..., None],
        }
        weights = {
            "generator": x["mask_weights"],
            "discriminator": ops.cast(x["padding_mask"], "float32")[..., None],
        }
        return targets, predictions, weights

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        targets, predictions, weights = self._targets(x, y_pred)
        return super().compute_loss(x, targets, predictions, weights, training=training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        targets, predictions, weights = self._targets(x, y_pred)
        return super().compute_metrics(x, targets, predictions, weights)

    def pretraining_dataset(self, source: Any, **options: Any):
        """Masked batches (`tfbert.data.pretraining.pretraining_dataset` options) as this
        model's inputs; they carry no targets (the labels come from the sampling)."""
        return unpaired_dataset(source, self.tokenizer, _model_inputs, **options)

    # ----- saving ------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Writes the discriminator as a Hugging Face `BertModel` directory with the tokenizer
        settings: it loads with `BertClassifier.from_pretrained` and `tfbert train
        --init-from` (and continues ELECTRA pretraining through `from_pretrained`)."""
        return save_encoder_directory(self.discriminator, self.tokenizer, directory)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "config": self.bert_config.to_dict(),
            "tokenizer": keras.saving.serialize_keras_object(self.preprocessor),
            "generator_fraction": self.generator_fraction,
            "discriminator_weight": self.discriminator_weight,
            "seed": self.seed,
        }

    def _rebuilt(self) -> ElectraPretrainer:
        return type(self).from_config(self.get_config())

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ElectraPretrainer:
        return cls(**config)


def _model_inputs(batch: dict[str, Any]) -> tuple[dict[str, Any]]:
    return ({name: batch[name] for name in INPUT_NAMES},)
