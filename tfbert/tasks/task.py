"""The base of tfbert's task models: a backbone and a preprocessor given to it, a head of its own.

A task is a Keras functional model on numeric features (`token_ids`, `segment_ids`,
`padding_mask`): that is what `fit` trains under any `tf.distribute` strategy (Keras's `fit`
under MirroredStrategy cannot take string inputs). The preprocessor (the in-graph tokenizer
and packer) turns strings into those features; the task puts the two together for prediction
and export, so a SavedModel takes raw strings.

    backbone = BertEncoder(BertConfig.from_preset("mini", vocab_size=len(vocabulary)))
    preprocessor = BertTokenizer(vocabulary, max_length=128)
    model = TextClassifier(backbone, preprocessor, labels=["negative", "positive"])

A new task subclasses `Task`: it builds its head on `backbone(features)` and passes the
inputs and outputs to `Task.__init__`; it says how to encode its labels (`encode_labels`),
what its text face returns (`predict_texts`) and which signatures it exports (`export`).
Saving and loading (`save_pretrained` / `load_task`), inference copies in lower precision
(`for_inference`) and the cached inference functions are shared here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tfbert.config import BertConfig
from tfbert.contract import CONFIG_FILE, FEATURE_NAMES, VOCAB_FILE, WEIGHTS_FILE
from tfbert.errors import ModelFileError
from tfbert.modeling.backbone import Backbone
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.precision import INFERENCE_POLICIES, dtype_policy, warn_if_emulated
from tfbert.text.tokenizer import BertTokenizer, legacy_defaults, saved_settings
from tfbert.text.vocab import load_vocabulary, save_vocabulary
from tfbert.weights import assign_weights, read_safetensors, save_safetensors


def feature_inputs() -> dict[str, keras.KerasTensor]:
    """Symbolic inputs for the numeric features, any batch and length."""
    return {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in FEATURE_NAMES}


def default_optimizer(learning_rate: float) -> keras.optimizers.Optimizer:
    """Keras's AdamW with BERT's weight-decay exclusions, for `compile()` without an optimizer.

    `tfbert.training` builds the full recipe (warm-up and decay, clipping across replicas,
    gradient accumulation); this default only makes a bare `compile()` train sensibly.
    """
    optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=0.01)
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return optimizer


def serialize_backbone(backbone: Backbone) -> dict[str, Any]:
    """How a model directory records its backbone: a BERT config, or any Keras backbone."""
    if type(backbone) is BertEncoder:
        return {"bert": backbone.config.to_dict()}
    return {"backbone": keras.saving.serialize_keras_object(backbone)}


def deserialize_backbone(description: dict[str, Any], *, name: str = "encoder") -> Backbone:
    """The backbone a model directory's config.json describes (see `serialize_backbone`)."""
    if "bert" in description:
        return BertEncoder(BertConfig.from_dict(description["bert"]), name=name)
    if "backbone" in description:
        return keras.saving.deserialize_keras_object(_without_dtype(description["backbone"]))
    raise ModelFileError("The model's config.json has neither a 'bert' nor a 'backbone' entry.")


def _without_dtype(serialized: dict[str, Any]) -> dict[str, Any]:
    """A serialized layer that takes the global dtype policy when rebuilt (for_inference)."""
    config = {k: v for k, v in serialized.get("config", {}).items() if k != "dtype"}
    return {**serialized, "config": config}


class Task(keras.Model):
    """A backbone and a preprocessor, given, with a head the subclass builds on them.

    Subclasses call `Task.__init__(inputs=..., outputs=..., backbone=..., preprocessor=...)`
    with a functional graph from `feature_inputs()` through the backbone and their head.
    """

    #: written as "format" in the config.json of `save_pretrained`
    format_name = "tfbert-task"
    #: what `load` calls a directory of this task in its errors, and the config.json key that
    #: must hold the task's list of names ("labels", "tags")
    kind = "tfbert task"
    names_key = "labels"

    def __init__(
        self,
        *,
        inputs: Any,
        outputs: Any,
        backbone: Backbone,
        preprocessor: BertTokenizer,
        **kwargs: Any,
    ) -> None:
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor

    @staticmethod
    def check_parts(backbone: Any, preprocessor: Any) -> None:
        """Clear errors for parts that cannot work together (before any layer is built)."""
        if not isinstance(backbone, Backbone):
            raise TypeError(
                f"backbone must be a tfbert.modeling.backbone.Backbone, got "
                f"{type(backbone).__name__}."
            )
        if not isinstance(preprocessor, BertTokenizer):
            raise TypeError(
                f"tokenizer must be a tfbert BertTokenizer, got {type(preprocessor).__name__}."
            )
        backbone.check_preprocessor(preprocessor)

    @staticmethod
    def head_dropout(backbone: Backbone, dropout: float | None) -> float:
        """A head's dropout: `dropout` when given, else the backbone's hidden dropout (0.1
        for backbones without a config)."""
        if dropout is not None:
            return dropout
        return getattr(getattr(backbone, "config", None), "hidden_dropout", 0.1)

    # ----- names kept from the first release ---------------------------------------------------
    @property
    def tokenizer(self) -> BertTokenizer:
        """The preprocessor (in-graph tokenizer and packer); use it in `tf.data.Dataset.map`."""
        return self.preprocessor

    @property
    def encoder(self) -> Backbone:
        """The backbone (the BERT encoder for BERT tasks)."""
        return self.backbone

    # ----- what subclasses provide -----------------------------------------------------------
    def encode_labels(self, labels: Sequence[Any]) -> np.ndarray:
        """Label names to the targets `fit` expects."""
        raise NotImplementedError

    def task_config(self) -> dict[str, Any]:
        """The task's own settings, saved in config.json beside the backbone and tokenizer."""
        return {}

    @classmethod
    def from_parts(
        cls, backbone: Backbone, preprocessor: BertTokenizer, settings: dict[str, Any]
    ) -> Task:
        """Rebuilds the task from its parts and `task_config()` (used by `load_task`)."""
        raise NotImplementedError

    # ----- saving and loading ----------------------------------------------------------------
    @classmethod
    def load(cls, directory: str | Path, **tokenizer_overrides: Any) -> Task:
        """Restores a task written by `save_pretrained` (e.g. by `tfbert train`);
        `tokenizer_overrides` replace saved tokenizer settings (e.g. max_length)."""
        description = read_description(directory)
        config_path = Path(directory) / CONFIG_FILE
        if description.get("format") != cls.format_name:
            raise ModelFileError(f"{config_path} does not describe a {cls.kind}.")
        if not isinstance(description.get(cls.names_key), list):
            raise ModelFileError(f"{config_path} has no list of {cls.names_key}.")
        backbone, preprocessor = load_parts(directory, description, **tokenizer_overrides)
        model = cls.from_parts(backbone, preprocessor, description)
        load_weights_file(model, directory)
        return model

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
            **self.task_config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Task:
        return cls(**config)

    # ----- inference copies ------------------------------------------------------------------
    def for_inference(self, precision: str = "bfloat16") -> Task:
        """A copy for prediction and export whose matmul weights are stored and multiplied in
        `precision` ("float32", "bfloat16" or "float16"); the rest stays float32.

        bfloat16 runs faster on CPUs with AVX-512 BF16 and halves the weights; predictions
        move slightly (`tfbert evaluate --precision` measures it on your data). Train the
        float32 model, not the copy; change its weights with `set_weights`/`load_weights`.
        """
        if precision not in INFERENCE_POLICIES:
            raise ValueError(
                f"Unknown precision {precision!r}; choose one of {', '.join(INFERENCE_POLICIES)}."
            )
        warn_if_emulated(precision)
        with dtype_policy(INFERENCE_POLICIES[precision]):
            twin = self._rebuilt()
        twin.set_weights(self.get_weights())
        return twin

    def _rebuilt(self) -> Task:
        """A new model of the same structure, built under the current dtype policy."""
        backbone = deserialize_backbone(serialize_backbone(self.backbone))
        preprocessor = BertTokenizer.from_config(self.preprocessor.get_config())
        return type(self).from_parts(backbone, preprocessor, self.task_config())

    @property
    def stores_low_precision_weights(self) -> bool:
        """Whether the weights are stored in bfloat16/float16: a `for_inference` copy."""
        return self.backbone.stores_low_precision_weights

    @property
    def computes_in_low_precision(self) -> bool:
        """Whether the backbone's matmuls run in bfloat16/float16."""
        return self.backbone.matmul_dtype in ("bfloat16", "float16")

    def set_weights(self, weights: Any) -> None:
        super().set_weights(weights)
        self.forget_inference_functions()

    def load_weights(self, *args: Any, **kwargs: Any) -> Any:
        result = super().load_weights(*args, **kwargs)
        self.forget_inference_functions()
        return result

    def cached_function(self, key: Any, build: Callable[[], Any]) -> Any:
        """`build()` once per key, kept until the weights change (`set_weights`)."""
        # Kept outside Keras's attribute tracking: the functions are not part of the model.
        cache = self.__dict__.setdefault("_inference_functions", {})
        if key not in cache:
            cache[key] = build()
        return cache[key]

    def forget_inference_functions(self) -> None:
        """Drops the cached predict functions: frozen weights in them are stale now."""
        self.__dict__.pop("_inference_functions", None)

    # ----- saving ------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Writes config.json, vocab.txt and model.safetensors: everything to rebuild the model
        (`load_task`, or the subclass's `from_pretrained`)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        description = {
            "format": self.format_name,
            **serialize_backbone(self.backbone),
            **self.task_config(),
            "tokenizer": saved_settings(self.preprocessor),
        }
        save_vocabulary(self.preprocessor.vocabulary, directory / VOCAB_FILE)
        save_safetensors(self, directory / WEIGHTS_FILE, metadata={"format": self.format_name})
        (directory / CONFIG_FILE).write_text(
            json.dumps(description, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        return directory


def read_description(directory: str | Path) -> dict[str, Any]:
    """The config.json of a model directory written by `save_pretrained`, checked."""
    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise ModelFileError(
            f"{directory} is not a tfbert model directory: {CONFIG_FILE} is missing. "
            "Point to the --output-dir of `tfbert train` (or a save_pretrained directory)."
        )
    try:
        description = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{config_path} is not valid JSON ({error}).") from None
    if not isinstance(description, dict):
        raise ModelFileError(f"{config_path} must hold a JSON object, not {description!r:.40}.")
    if not isinstance(description.get("tokenizer"), dict):
        raise ModelFileError(
            f"{config_path} has no 'tokenizer' settings; was it written by tfbert's "
            "save_pretrained (or `tfbert train`)?"
        )
    return description


def load_parts(
    directory: str | Path, description: dict[str, Any], **tokenizer_overrides: Any
) -> tuple[Backbone, BertTokenizer]:
    """The backbone and preprocessor of a saved model directory (weights not yet loaded)."""
    directory = Path(directory)
    settings = legacy_defaults({**description["tokenizer"], **tokenizer_overrides})
    try:
        preprocessor = BertTokenizer(load_vocabulary(directory / VOCAB_FILE), **settings)
    except TypeError as error:
        message = f"{directory / CONFIG_FILE}: bad tokenizer settings ({error})."
        raise ModelFileError(message) from None
    return deserialize_backbone(description), preprocessor


def load_weights_file(model: keras.Model, directory: str | Path) -> None:
    """Assigns a model directory's model.safetensors to `model`, strictly."""
    path = Path(directory) / WEIGHTS_FILE
    assign_weights(model, read_safetensors(path), source=str(path))
