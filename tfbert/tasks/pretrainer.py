"""BertPretrainer: BERT's masked-LM and next-sentence-prediction pretraining, as one Keras model.

`next_sentence_prediction=False` drops the NSP head (masked LM alone, as RoBERTa and Cramming
train: NSP did not pay for itself there); the pooler, which only NSP reads, then stays as
initialised and is not trained.

    token_ids, segment_ids, padding_mask [batch, length], mask_positions [batch, predictions]
      -> BertEncoder (named "encoder", as in BertClassifier, so weights move between the two),
         asked for the outputs at [CLS] and mask_positions only (its last layer computes just
         those)
      -> masked LM:  the outputs at mask_positions -> Dense(hidden, act) ->
                     LayerNorm -> x @ token_embeddings^T + output_bias  "mlm_logits" [b, p, vocab]
      -> NSP:        pooled_output -> Dense(2)                           "nsp_logits" [b, 2]

The decoder is tied to the token embedding matrix (Devlin et al. 2019; there is no separate
[vocab, hidden] kernel) and both logits are float32, also under mixed precision.

Losses (`compile()` defaults): sparse cross-entropy from logits for each output (the masked-LM
one, `MaskedLMLoss`, and the perplexity metric through `tfbert.modeling.kernels.
sparse_cross_entropy`, TensorFlow's function fused for CPUs). The masked-LM loss takes
`mask_weights` as sample weights with the reduction "mean_with_sample_weight", so it is the mean
over real predictions only (the original `sum(w * ce) / sum(w)`): padded prediction slots count
neither in the sum nor in the divisor. The data of
`tfbert.data.pretraining.pretraining_dataset` comes as `(inputs, targets, sample_weights)`
keyed by output name, which is how Keras 3 routes per-output sample weights to losses and
weighted metrics. Metrics: masked-LM accuracy and perplexity (exp of the weighted mean
cross-entropy) over real predictions, NSP accuracy.

Keras 3.15 quirk: when `fit`/`evaluate` read a dataset of unknown length to its end, the
per-output loss logs (`mlm_logits_loss`, `nsp_logits_loss`) are averaged over one step too
many (n / (n + 1) of the true value; `loss` and the metrics are right). Train on
`repeat=True` data with `steps_per_epoch`, or read the masked-LM loss as
`log(mlm_logits_perplexity)`, which is exact.

Saving (`save_pretrained`) writes Hugging Face's `BertForPreTraining` layout: config.json,
vocab.txt, tokenizer_config.json and model.safetensors with `bert.`-prefixed encoder tensors
and the `cls.predictions.*` / `cls.seq_relationship.*` heads. `tfbert.modeling.checkpoints.
load_pretrained` reads it (encoder weights and `mlm_weights`), so `BertClassifier.
from_pretrained(dir, labels=...)` starts a classifier from the pretrained encoder and
`BertPretrainer.from_pretrained(dir)` resumes pretraining with both heads; tfbert's own
`"tfbert-classifier"` format could not carry the heads.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfbert.config import BertConfig
from tfbert.contract import CONFIG_FILE, FEATURE_NAMES, WEIGHTS_FILE
from tfbert.data.pretraining import MODEL_INPUTS, pretraining_dataset
from tfbert.errors import ModelFileError
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.checkpoints import (
    NEW_TOKEN_SAMPLE_CHARACTERS,
    carry_shared_rows,
    cooccurrence_vectors,
    export_huggingface,
    load_encoder_weights,
    load_pretrained,
    shared_token_rows,
    similar_token_embeddings,
)
from tfbert.modeling.checkpoints.names import TFBERT_TOKENIZER_KEY
from tfbert.modeling.heads import MaskedLMHead
from tfbert.modeling.kernels import sparse_cross_entropy
from tfbert.modeling.layers import weight_initializer
from tfbert.tasks.task import Task, default_optimizer
from tfbert.text.tokenizer import SAVED_SETTINGS, BertTokenizer, legacy_defaults, saved_settings
from tfbert.text.vocab import CLS, MASK, SEP, is_reserved
from tfbert.weights import read_safetensors, save_tensors

INPUT_NAMES = MODEL_INPUTS
OUTPUT_NAMES = ("mlm_logits", "nsp_logits")

# Pretraining-head variables: tfbert.modeling.checkpoints' `mlm_weights` name -> Hugging Face
# tensor name and whether the tensor is stored transposed (torch.nn.Linear layout).
HEAD_NAMES: dict[str, tuple[str, bool]] = {
    "transform/dense/kernel": ("cls.predictions.transform.dense.weight", True),
    "transform/dense/bias": ("cls.predictions.transform.dense.bias", False),
    "transform/layer_norm/gamma": ("cls.predictions.transform.LayerNorm.weight", False),
    "transform/layer_norm/beta": ("cls.predictions.transform.LayerNorm.bias", False),
    "output_bias": ("cls.predictions.bias", False),
    "seq_relationship/kernel": ("cls.seq_relationship.weight", True),
    "seq_relationship/bias": ("cls.seq_relationship.bias", False),
}


@keras.saving.register_keras_serializable(package="tfbert")
class MaskedLMPerplexity(keras.metrics.Metric):
    """exp(weighted mean cross-entropy) of the masked-LM logits; weights = `mask_weights`."""

    def __init__(self, name: str = "perplexity", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        losses = sparse_cross_entropy(y_true, ops.cast(y_pred, "float32"))
        weights = (
            ops.ones_like(losses) if sample_weight is None else ops.cast(sample_weight, "float32")
        )
        weights = ops.reshape(weights, ops.shape(losses))
        self.total.assign_add(ops.sum(ops.cast(losses, "float32") * weights))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        return ops.exp(ops.divide_no_nan(self.total, self.count))

    def reset_state(self) -> None:
        self.total.assign(0.0)
        self.count.assign(0.0)


@keras.saving.register_keras_serializable(package="tfbert")
class BertPretrainer(Task):
    """A BERT encoder with the masked-LM and next-sentence-prediction heads, and its tokenizer.

    Args:
        config: the encoder's BertConfig (or its dict).
        tokenizer: the BertTokenizer (or its Keras config) whose vocabulary the model embeds.

    Inputs: `token_ids`, `segment_ids`, `padding_mask` [batch, length] and `mask_positions`
    [batch, predictions] (int32). Outputs: {"mlm_logits": [batch, predictions, vocab_size],
    "nsp_logits": [batch, 2]}, float32; NSP class 0 = IsNext, 1 = NotNext. With
    `next_sentence_prediction=False` there is no NSP head and no "nsp_logits".
    """

    def __init__(
        self,
        config: BertConfig | dict[str, Any],
        tokenizer: BertTokenizer | dict[str, Any],
        next_sentence_prediction: bool = True,
        **kwargs: Any,
    ) -> None:
        config = config if isinstance(config, BertConfig) else BertConfig.from_dict(config)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        encoder = BertEncoder(config, name="encoder")
        self.check_parts(encoder, tokenizer)
        inputs = {
            name: keras.Input(shape=(None,), dtype="int32", name=name) for name in INPUT_NAMES
        }
        # The last layer computes only what the heads read: [CLS] and the masked positions.
        first = ops.zeros_like(inputs["mask_positions"][:, :1])
        encoded = encoder(
            {name: inputs[name] for name in FEATURE_NAMES},
            output_positions=ops.concatenate([first, inputs["mask_positions"]], axis=1),
        )
        mlm_head = MaskedLMHead(config, encoder.embeddings.token_embedding, name="mlm")
        # Identity layers give the outputs their names (Keras names outputs after layers).
        outputs = {
            "mlm_logits": keras.layers.Activation("linear", dtype="float32", name="mlm_logits")(
                mlm_head(encoded["sequence_output"][:, 1:])
            )
        }
        nsp_head = None
        if next_sentence_prediction:
            nsp_head = keras.layers.Dense(
                2, kernel_initializer=weight_initializer(config), dtype="float32", name="nsp"
            )
            outputs["nsp_logits"] = keras.layers.Activation(
                "linear", dtype="float32", name="nsp_logits"
            )(nsp_head(encoded["pooled_output"]))
        else:
            encoder.pooler.trainable = False  # only NSP reads it: no gradient reaches it
        super().__init__(
            inputs=inputs, outputs=outputs, backbone=encoder, preprocessor=tokenizer, **kwargs
        )
        self.bert_config = config
        self.next_sentence_prediction = bool(next_sentence_prediction)
        self.mlm_head = mlm_head
        self.nsp_head = nsp_head
        self.fresh_heads = sorted(self.head_variables())  # heads not loaded from a checkpoint
        # The word-embedding rows a new vocabulary took from a checkpoint (from_pretrained with
        # `vocabulary`; else None), and how many rows embed_new_tokens started from them.
        self.carried_rows: np.ndarray | None = None
        self.similar_tokens = 0

    @property
    def carried_tokens(self) -> int:
        """How many word-embedding rows a new vocabulary took from the checkpoint."""
        return 0 if self.carried_rows is None else len(self.carried_rows)

    # ----- construction ------------------------------------------------------------------------
    @classmethod
    def from_preset(
        cls,
        preset: str,
        *,
        vocabulary: Sequence[str] | str | Path,
        max_length: int = 128,
        tokenizer_options: dict[str, Any] | None = None,
        next_sentence_prediction: bool = True,
        **config_overrides: Any,
    ) -> BertPretrainer:
        """A randomly initialised pretrainer of a named size; `vocab_size` fits the vocabulary."""
        config, tokenizer = preset_parts(
            preset, vocabulary, max_length, tokenizer_options, config_overrides
        )
        return cls(config, tokenizer=tokenizer, next_sentence_prediction=next_sentence_prediction)

    @classmethod
    def from_pretrained(
        cls,
        path_or_name: str | Path,
        *,
        max_length: int | None = None,
        allow_missing: bool = False,
        dropout: float | None = None,
        next_sentence_prediction: bool | None = None,
        vocabulary: Sequence[str] | str | Path | None = None,
        **tokenizer_options: Any,
    ) -> BertPretrainer:
        """A pretrainer starting from any checkpoint `tfbert.modeling.checkpoints` reads.

        `vocabulary` (a list of tokens or a vocab.txt path) replaces the checkpoint's: its word
        embeddings start fresh while the transformer layers, position embeddings and the
        masked-LM transform come from the checkpoint, so that continued pretraining adapts an
        encoder to another language (Artetxe et al. 2020).

        A directory written by `save_pretrained` restores everything (encoder, heads,
        tokenizer settings). A Hugging Face or Google checkpoint gives the encoder and, when
        it has them, the pretraining heads; heads it lacks start fresh (e.g. "minilm-l6", a
        sentence-embedding model, has none), which `self.fresh_heads` lists. `max_length`
        defaults to the saved one, else 128; `dropout` replaces the checkpoint's.
        `next_sentence_prediction` defaults to the checkpoint's: off when it has a masked-LM
        head but no NSP head, else on.
        """
        pretrained = load_pretrained(path_or_name)
        if next_sentence_prediction is None:
            heads = pretrained.mlm_weights or {}
            next_sentence_prediction = "seq_relationship/kernel" in heads or (
                "output_bias" not in heads
            )
        config, tokenizer = pretrained_parts(
            pretrained, path_or_name, max_length, dropout, tokenizer_options, vocabulary
        )
        model = cls(config, tokenizer=tokenizer, next_sentence_prediction=next_sentence_prediction)
        new_vocabulary = model.tokenizer.vocabulary if vocabulary is not None else None
        load_encoder_weights(
            model.encoder, pretrained, allow_missing=allow_missing, new_vocabulary=new_vocabulary
        )
        if new_vocabulary is not None:
            model.carried_rows = shared_token_rows(pretrained.vocabulary, new_vocabulary)[0]
        heads = dict(pretrained.mlm_weights or {})
        old_bias = heads.pop("output_bias", None) if new_vocabulary is not None else None
        loaded = model.load_head_weights(heads, source=pretrained.source)
        if old_bias is not None:  # per token: carried over for the shared tokens only
            carry_shared_rows(
                model.mlm_head.output_bias, old_bias, pretrained.vocabulary, new_vocabulary
            )
        model.fresh_heads = sorted(set(model.head_variables()) - set(loaded))
        return model

    def embed_new_tokens(
        self,
        texts: Sequence[str],
        *,
        max_characters: int = NEW_TOKEN_SAMPLE_CHARACTERS,
        temperature: float = 0.1,
        seed: int = 13,
    ) -> int:
        """Starts the word embeddings of the tokens a new vocabulary added (`from_pretrained`
        with `vocabulary`) at mixes of the carried tokens' embeddings, weighted by how alike
        `texts` (a corpus of the new language) uses them, instead of at random
        (`tfbert.modeling.checkpoints.new_tokens`). Reads a random sample of the texts of about
        `max_characters` in all. Returns how many rows it set; call it before training.
        """
        if self.carried_rows is None:
            raise ValueError(
                "embed_new_tokens applies to a checkpoint moved to a new vocabulary: "
                "BertPretrainer.from_pretrained(..., vocabulary=...)."
            )
        order = np.random.default_rng(seed).permutation(len(texts))
        sample, characters = [], 0
        for index in order:
            if characters >= max_characters:
                break
            sample.append(str(texts[index]))
            characters += len(sample[-1])
        token_ids: list[list[int]] = []
        for start in range(0, len(sample), 1024):
            chunk = tf.constant(sample[start : start + 1024])
            token_ids.extend(self.tokenizer.wordpiece_ids(chunk).to_list())
        table = self.encoder.embeddings.token_embedding.embeddings
        vectors, counts = cooccurrence_vectors(token_ids, int(table.shape[0]), seed=seed)
        vocabulary = self.tokenizer.vocabulary  # mix text tokens only, not [UNK] and the like
        values, rows = similar_token_embeddings(
            ops.convert_to_numpy(table),
            self.carried_rows,
            vectors,
            counts,
            mix_from=[row for row in self.carried_rows if not is_reserved(vocabulary[row])],
            temperature=temperature,
        )
        table.assign(values)
        self.similar_tokens = len(rows)
        return self.similar_tokens

    # ----- heads -------------------------------------------------------------------------------
    def head_variables(self) -> dict[str, keras.Variable]:
        """The pretraining-head variables, by the `mlm_weights` names of checkpoints.py."""
        head, nsp = self.mlm_head, self.nsp_head
        variables = masked_lm_head_variables(head)
        if nsp is not None:
            variables |= {"seq_relationship/kernel": nsp.kernel, "seq_relationship/bias": nsp.bias}
        return variables

    def load_head_weights(
        self, weights: dict[str, np.ndarray], source: str = "checkpoint"
    ) -> list[str]:
        """Assigns the heads found in `weights` (checkpoints.py names); returns their names."""
        variables = self.head_variables()
        misshaped = [
            f"{name}: {tuple(np.shape(value))} vs {tuple(variables[name].shape)}"
            for name, value in weights.items()
            if name in variables and tuple(np.shape(value)) != tuple(variables[name].shape)
        ]
        if misshaped:
            raise ModelFileError(
                f"The pretraining heads of the {source} do not fit this model: "
                + "; ".join(misshaped)
            )
        if "decoder/embeddings" in weights:
            warnings.warn(
                f"The {source} has a masked-LM decoder untied from the word embeddings; "
                "BertPretrainer ties it to them, so that decoder matrix is not used.",
                stacklevel=2,
            )
        loaded = [name for name in variables if name in weights]
        for name in loaded:
            variables[name].assign(np.asarray(weights[name], dtype=np.float32))
        return loaded

    # ----- training ----------------------------------------------------------------------------
    def compile(
        self,
        optimizer: Any = "auto",
        loss: Any = "auto",
        metrics: Any = "auto",
        weighted_metrics: Any = "auto",
        **kwargs: Any,
    ) -> None:
        """Keras `compile` with BERT's pretraining losses and metrics by default.

        Defaults: AdamW at 1e-4 (BERT's pretraining rate; pass `create_optimizer(...,
        total_steps=...)` for warm-up and decay), masked-LM cross-entropy averaged over real
        predictions (sample weights `mask_weights`), NSP cross-entropy, masked-LM accuracy
        and perplexity (weighted metrics), NSP accuracy (without NSP: the masked-LM ones).
        """
        nsp = self.next_sentence_prediction
        if optimizer == "auto":
            optimizer = default_optimizer(1e-4)
        if loss == "auto":
            loss = {"mlm_logits": masked_lm_loss(name="mlm_loss")}
            if nsp:
                loss["nsp_logits"] = keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True, name="nsp_loss"
                )
        if metrics == "auto":
            metrics = (
                {"nsp_logits": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}
                if nsp
                else None
            )
        if weighted_metrics == "auto":
            weighted_metrics = {
                "mlm_logits": [
                    keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                    MaskedLMPerplexity(name="perplexity"),
                ]
            }
        super().compile(
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            weighted_metrics=weighted_metrics,
            **kwargs,
        )

    def compile_from_config(self, config: dict[str, Any]) -> None:
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def pretraining_dataset(self, source: Any, **options: Any):
        """`tfbert.data.pretraining.pretraining_dataset(source, self.tokenizer, **options)`,
        with targets for this model's outputs (the masked LM alone without NSP)."""
        if self.next_sentence_prediction:
            return pretraining_dataset(source, self.tokenizer, **options)
        return unpaired_dataset(source, self.tokenizer, masked_lm_format, **options)

    # ----- what it has learned -----------------------------------------------------------------
    def fill_mask(
        self, texts: Sequence[str], top_k: int = 5
    ) -> list[list[list[tuple[str, float]]]]:
        """The likeliest tokens for each "[MASK]" in each text: per text, one list per mask of
        (token, probability) pairs, best first. A quick look at what pretraining has taught the
        model, e.g. `fill_mask(["中华人民共[MASK]国"])` or `fill_mask(["paris is the [MASK] of
        france"])`. A text must hold at least one "[MASK]" and fit in `max_length` pieces.
        """
        if not texts:
            return []
        tokenizer = self.tokenizer
        specials = [tokenizer.token_to_id(t) for t in (CLS, SEP, MASK)]
        rows, positions = [], []
        for text in texts:
            parts = str(text).split(MASK)
            if len(parts) < 2:
                raise ValueError(f"{text!r} holds no {MASK} to fill.")
            pieces = tokenizer.wordpiece_ids(tf.constant(parts)).to_list()
            ids, where = [specials[0]], []
            for index, part in enumerate(pieces):
                if index:
                    where.append(len(ids))
                    ids.append(specials[2])
                ids += part
            ids.append(specials[1])
            if len(ids) > tokenizer.max_length:
                raise ValueError(
                    f"{text[:40]!r}... is {len(ids)} pieces long with [CLS] and [SEP]; the model "
                    f"takes {tokenizer.max_length}."
                )
            rows.append(ids)
            positions.append(where)
        token_ids = np.zeros((len(rows), max(map(len, rows))), np.int32)
        mask_positions = np.zeros((len(rows), max(map(len, positions))), np.int32)
        for index, (ids, where) in enumerate(zip(rows, positions, strict=True)):
            token_ids[index, : len(ids)] = ids
            mask_positions[index, : len(where)] = where
        inputs = {
            "token_ids": token_ids,
            "segment_ids": np.zeros_like(token_ids),
            "padding_mask": (
                np.arange(token_ids.shape[1]) < np.array([[len(r)] for r in rows])
            ).astype(np.int32),
            "mask_positions": mask_positions,
        }
        probabilities = ops.convert_to_numpy(ops.softmax(self(inputs)["mlm_logits"], axis=-1))
        results = []
        for row, where in zip(probabilities, positions, strict=True):
            row = row[: len(where)]
            best = np.argsort(-row, axis=-1)[:, :top_k]
            results.append(
                [
                    [(tokenizer.id_to_token(int(i)), float(p[i])) for i in order]
                    for p, order in zip(row, best, strict=True)
                ]
            )
        return results

    # ----- saving ------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Writes a `BertForPreTraining`-layout directory (see the module docstring); without
        NSP the `BertForMaskedLM` one (no `cls.seq_relationship.*`)."""
        heads = {}
        for name, variable in self.head_variables().items():
            target, transpose = HEAD_NAMES[name]
            value = np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float32)
            heads[target] = np.ascontiguousarray(value.T if transpose else value)
        architecture = "BertForPreTraining" if self.next_sentence_prediction else "BertForMaskedLM"
        return save_encoder_directory(
            self.encoder, self.tokenizer, directory, heads=heads, architecture=architecture
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "config": self.bert_config.to_dict(),
            "tokenizer": keras.saving.serialize_keras_object(self.preprocessor),
            "next_sentence_prediction": self.next_sentence_prediction,
        }

    def _rebuilt(self) -> BertPretrainer:
        return type(self).from_config(self.get_config())

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BertPretrainer:
        return cls(**config)


@keras.saving.register_keras_serializable(package="tfbert")
class MaskedLMLoss(keras.losses.Loss):
    """Sparse softmax cross-entropy from logits (Keras's `SparseCategoricalCrossentropy(
    from_logits=True)`), computed by `tfbert.modeling.kernels.sparse_cross_entropy`, the fused
    kernel: over a vocabulary of tens of thousands of tokens TensorFlow's own op is the slowest
    part of a masked-LM training step on CPUs."""

    def __init__(
        self, name: str = "mlm_loss", reduction: str = "mean_with_sample_weight", dtype=None
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return sparse_cross_entropy(y_true, ops.cast(y_pred, "float32"))


def masked_lm_loss(name: str) -> keras.losses.Loss:
    """Masked-LM cross-entropy from logits, averaged over the real predictions only (sample
    weights `mask_weights`): BERT's `sum(w * ce) / sum(w)`."""
    return MaskedLMLoss(name=name, reduction="mean_with_sample_weight")


def masked_lm_head_variables(head: MaskedLMHead) -> dict[str, keras.Variable]:
    """A masked-LM head's variables, by the `mlm_weights` names of checkpoints.py."""
    return {
        "transform/dense/kernel": head.transform.kernel,
        "transform/dense/bias": head.transform.bias,
        "transform/layer_norm/gamma": head.layer_norm.gamma,
        "transform/layer_norm/beta": head.layer_norm.beta,
        "output_bias": head.output_bias,
    }


def masked_lm_format(batch: dict[str, Any]) -> tuple[dict, dict, dict]:
    """(inputs, targets, sample weights) for a pretrainer without NSP (masked LM only)."""
    inputs = {name: batch[name] for name in MODEL_INPUTS}
    return inputs, {"mlm_logits": batch["mask_ids"]}, {"mlm_logits": batch["mask_weights"]}


def unpaired_dataset(source: Any, tokenizer: BertTokenizer, to_model: Any, **options: Any):
    """Masked batches for an objective without next-sentence prediction, mapped by `to_model`
    (a batch dict -> what `fit` takes): packed sequences without sentence pairs
    (`next_sentence=False`), so no position is padding that could hold text."""
    options.setdefault("next_sentence", False)
    batches = pretraining_dataset(source, tokenizer, keras_format=False, **options)
    return batches.map(to_model, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def save_encoder_directory(
    encoder: BertEncoder,
    tokenizer: BertTokenizer,
    directory: str | Path,
    *,
    heads: dict[str, np.ndarray] | None = None,
    architecture: str = "BertModel",
) -> Path:
    """Writes `encoder` as a Hugging Face BERT directory that `tfbert train --init-from` and
    `BertClassifier.from_pretrained` read: encoder tensors (`bert.`-prefixed when there are
    `heads`, Hugging Face tensor names -> arrays), vocab.txt, config.json with the tokenizer
    settings."""
    directory = Path(directory)
    export_huggingface(
        encoder,
        tokenizer.vocabulary,
        directory,
        lowercase=tokenizer.lowercase,
        strip_accents=tokenizer.strip_accents,
    )
    if heads:
        weights = directory / WEIGHTS_FILE
        tensors = {f"bert.{name}": value for name, value in read_safetensors(weights).items()}
        tensors.update(heads)
        save_tensors(tensors, weights, metadata={"format": "pt"})
    config_path = directory / CONFIG_FILE
    values = json.loads(config_path.read_text(encoding="utf-8"))
    values["architectures"] = [architecture]
    values[TFBERT_TOKENIZER_KEY] = saved_settings(tokenizer)
    config_path.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n", "utf-8")
    return directory


def preset_parts(
    preset: str,
    vocabulary: Sequence[str] | str | Path,
    max_length: int,
    tokenizer_options: dict[str, Any] | None,
    config_overrides: dict[str, Any],
) -> tuple[BertConfig, BertTokenizer]:
    """The config of a named size (`vocab_size` fitting the vocabulary) and the tokenizer."""
    tokenizer = BertTokenizer(vocabulary, max_length=max_length, **(tokenizer_options or {}))
    config_overrides = {"vocab_size": tokenizer.vocabulary_size, **config_overrides}
    return BertConfig.from_preset(preset, **config_overrides), tokenizer


def pretrained_parts(
    pretrained: Any,
    path_or_name: str | Path,
    max_length: int | None,
    dropout: float | None,
    tokenizer_options: dict[str, Any] | None = None,
    vocabulary: Sequence[str] | str | Path | None = None,
) -> tuple[BertConfig, BertTokenizer]:
    """The config and tokenizer of a loaded checkpoint (`load_pretrained(path_or_name)`):
    its tokenizer settings (those a `save_pretrained` directory recorded first), then
    `tokenizer_options`; `max_length` defaults to the saved one, else 128; `dropout` replaces
    the checkpoint's; `vocabulary` replaces the checkpoint's (and its size in the config)."""
    options: dict[str, Any] = {"lowercase": pretrained.lowercase}
    if pretrained.strip_accents is not None:
        options["strip_accents"] = pretrained.strip_accents
    if pretrained.normalize_full_width is not None:
        options["normalize_full_width"] = pretrained.normalize_full_width
    options.update(_saved_settings(path_or_name))
    options.update(tokenizer_options or {})
    if max_length is not None:
        options["max_length"] = max_length
    options.setdefault("max_length", 128)
    tokenizer = BertTokenizer(
        pretrained.vocabulary if vocabulary is None else vocabulary, **options
    )
    config = pretrained.config if dropout is None else pretrained.config.with_dropout(dropout)
    if vocabulary is not None:
        config = dataclasses.replace(config, vocab_size=tokenizer.vocabulary_size)
    return config, tokenizer


def _saved_settings(path_or_name: str | Path) -> dict[str, Any]:
    """Tokenizer settings a `save_pretrained` directory recorded, else {}."""
    path = Path(path_or_name).expanduser()
    if path.is_file():
        path = path.parent
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        return {}
    try:
        values = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    settings = values.get(TFBERT_TOKENIZER_KEY) if isinstance(values, dict) else None
    if not isinstance(settings, dict):
        return {}
    return {key: settings[key] for key in SAVED_SETTINGS if key in legacy_defaults(settings)} | {
        "normalize_full_width": legacy_defaults(settings)["normalize_full_width"]
    }
