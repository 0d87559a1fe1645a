"""Self-contained SavedModel export in TF Serving's `<base>/<version>/` layout.

Signatures (raw strings in; the tokenizer is in the graph):
- `serving_default` (Predict API): `text` [batch] string (and `text_pair` for pair models) ->
  `probabilities` [batch, labels] float32, `label_id` [batch] int64, `label` [batch] string.
- `classify` (Classify API, method `tensorflow/serving/classify`): serialized `tf.Example`s
  in `inputs` with a bytes feature `text` (and `text_pair`) -> `classes` [batch, labels]
  string and `scores` [batch, labels] float32.

Why not `model.export`: Keras's ExportArchive tracks every variable twice (`variables/` and
`_all_variables/`), doubling the artifact. Here a plain `tf.Module` tracks each variable once;
a bfloat16/float16 export (`for_inference`) stores its weights once as graph constants
instead, which oneDNN serves faster (`weights_as_constants`).

Warm-up: `assets.extra/tf_serving_warmup_requests` holds one Predict and one Classify request
that TF Serving replays while loading the version (see `tfbert.serving.warmup`).

Atomicity: the version is written into a hidden temporary directory beside its final place
and renamed into `<base>/<version>` only when complete. TF Serving only loads directories whose
name is a number, so a crash mid-export never leaves a half version that a server would load.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tensorflow as tf

from tfbert.errors import ModelFileError
from tfbert.serving.warmup import DEFAULT_WARMUP_TEXTS, write_warmup_requests

if TYPE_CHECKING:
    from tfbert.tasks.classifier import BertClassifier

CLASSIFY_METHOD = "tensorflow/serving/classify"
PREDICT_SIGNATURE, CLASSIFY_SIGNATURE = "serving_default", "classify"
LABELS_FILE = "tfbert_labels.json"  # in assets.extra/, which TF Serving copies but never reads


class _ServingModule(tf.Module):
    """Tracks each variable once (or none, with constant weights); the serving functions close
    over the model untracked."""

    def __init__(
        self,
        classifier: BertClassifier,
        pair: bool,
        micro_batch: int | None,
        constant_weights: bool,
    ) -> None:
        super().__init__(name="tfbert_serving")
        label_names = tf.constant(classifier.labels)
        tokenizer = classifier.tokenizer.with_padding("longest")

        logits_function = numeric_logits_function(classifier, micro_batch, constant_weights)
        # A constant-weight export holds no variables; otherwise track each one once.
        self._weights = [] if constant_weights else [v.value for v in classifier.weights]

        def outputs(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            probabilities = classifier.probabilities(logits_function(features))
            label_id = tf.argmax(probabilities, axis=-1)
            return {
                "probabilities": probabilities,
                "label_id": label_id,
                "label": tf.gather(label_names, label_id),
            }

        def classify(inputs):
            spec = {
                name: tf.io.FixedLenFeature([], tf.string, default_value="")
                for name in (("text", "text_pair") if pair else ("text",))
            }
            parsed = tf.io.parse_example(inputs, spec)
            text = (parsed["text"], parsed["text_pair"]) if pair else parsed["text"]
            scores = outputs(tokenizer(text))["probabilities"]
            classes = tf.tile(label_names[None, :], [tf.shape(scores)[0], 1])
            return {"classes": classes, "scores": scores}

        string_batch = lambda name: tf.TensorSpec([None], tf.string, name=name)
        if pair:
            self.predict = tf.function(
                lambda text, text_pair: outputs(tokenizer((text, text_pair))),
                input_signature=[string_batch("text"), string_batch("text_pair")],
                autograph=False,
            )
        else:
            self.predict = tf.function(
                lambda text: outputs(tokenizer(text)),
                input_signature=[string_batch("text")],
                autograph=False,
            )
        self.classify = tf.function(
            classify, input_signature=[string_batch("inputs")], autograph=False
        )


def numeric_logits_function(
    classifier: BertClassifier, micro_batch: int | None = None, constant_weights: bool = False
) -> Callable[[dict[str, tf.Tensor]], tf.Tensor]:
    """The classifier's numeric part, features -> float32 logits, traced once for any batch
    and length; with `constant_weights`, its weights frozen in (`weights_as_constants`).

    Shared by the export's signatures and by `predict_texts`, so both run the same graph.
    """
    from tfbert.text.tokenizer import FEATURE_NAMES

    def logits(*columns: tf.Tensor) -> tf.Tensor:  # FEATURE_NAMES order: frozen functions
        features = dict(zip(FEATURE_NAMES, columns, strict=True))  # take positional tensors
        if micro_batch is None:
            return tf.cast(classifier(features, training=False), tf.float32)
        return length_sorted_logits(classifier, features, micro_batch)

    feature = tf.TensorSpec([None, None], tf.int32)
    concrete = tf.function(logits, autograph=False).get_concrete_function(
        *[feature] * len(FEATURE_NAMES)
    )
    if constant_weights:
        concrete = weights_as_constants(concrete)

    def call(features: dict[str, tf.Tensor]) -> tf.Tensor:
        result = concrete(*(features[name] for name in FEATURE_NAMES))
        if isinstance(result, (list, tuple)):  # a frozen function returns a flat list
            (result,) = result
        return result

    return call


def weights_as_constants(function: Any) -> Any:
    """`function` (a concrete function) with every variable it reads baked in as a constant.

    oneDNN reorders a bfloat16 matmul's weights into its blocked layout on every call when they
    come from variables, and once when they are constants: a bfloat16 MiniLM export answers
    one text 12-22% faster and batches of 32 ~10% faster this way; outputs agree up to bfloat16
    rounding (identical on MiniLM's test texts). A float32 matmul needs no reorder (no gain
    measured), so float32 exports keep their variables unless asked.
    """
    # TensorFlow's own freezing pass (the TFLite converter's); not under tf.* in TF 2.21.
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    return convert_variables_to_constants_v2(function)


def length_sorted_logits(
    classifier: BertClassifier, features: dict[str, tf.Tensor], micro_batch: int
) -> tf.Tensor:
    """The classifier's logits for a padded batch, computed `micro_batch` rows at a time in
    order of length, each micro-batch cut to its own longest row, then put back in order.

    A request mixing short and long texts otherwise pays for the longest one in every row. A
    micro-batch also takes in every following row exactly as long as its longest (no padding
    added), so a request of equally long texts (long texts truncated to the maximum length)
    runs as one batch: small micro-batches cost matmul efficiency (measured at 128 tokens:
    8 rows 180 examples/s, 32 rows 199). Exact: outputs at real tokens do not depend on padding.
    """
    lengths = tf.reduce_sum(tf.cast(features["padding_mask"], tf.int32), axis=1)
    order = tf.argsort(lengths, stable=True)
    ordered = {name: tf.gather(value, order) for name, value in features.items()}
    ordered_lengths = tf.gather(lengths, order)
    batch = tf.shape(lengths)[0]
    width = classifier.head.num_outputs

    def step(start: tf.Tensor, results: tf.TensorArray) -> tuple[tf.Tensor, tf.TensorArray]:
        longest = ordered_lengths[tf.minimum(start + micro_batch, batch) - 1]  # ascending order
        end = tf.searchsorted(ordered_lengths, longest[None], side="right")[0]
        chunk = {name: value[start:end, :longest] for name, value in ordered.items()}
        logits = tf.cast(classifier(chunk, training=False), tf.float32)
        return end, results.write(results.size(), logits)

    results = tf.TensorArray(
        tf.float32, size=0, dynamic_size=True, infer_shape=False,
        element_shape=tf.TensorShape([None, width]),
    )  # fmt: skip
    _, results = tf.while_loop(
        lambda start, _: start < batch, step, (tf.constant(0), results), parallel_iterations=1
    )
    sorted_logits = tf.reshape(results.concat(), [batch, width])
    return tf.scatter_nd(order[:, None], sorted_logits, [batch, width])


def next_version(export_base: str | Path) -> int:
    """One more than the highest numeric version under `export_base` (1 when there is none)."""
    base = Path(export_base)
    versions = (
        [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
        if base.is_dir()
        else []
    )
    return max(versions, default=0) + 1


def export_saved_model(
    classifier: BertClassifier,
    export_base: str | Path,
    version: int | None = None,
    *,
    pair: bool = False,
    overwrite: bool = False,
    warmup_texts: Sequence[str] | None = None,
    micro_batch: int | None = 8,
    constant_weights: bool | None = None,
) -> Path:
    """Writes `classifier` to `<export_base>/<version>/` atomically and returns that path.

    The version includes TF Serving warm-up requests (`assets.extra/tf_serving_warmup_requests`)
    built from `warmup_texts` (default: a few fixed English and Chinese samples; an empty
    sequence writes none), so a server's first real request is not the one paying for tracing.

    Requests are tokenized and padded to their longest text; with `micro_batch` (rows), the
    model then runs on micro-batches of similar length (see `length_sorted_logits`); None runs
    each request as one batch.

    `constant_weights` stores the weights inside the graph as constants instead of as variables
    (see `weights_as_constants`); None (default) does so when the Dense layers compute in
    bfloat16 or float16 (`for_inference`), where it is faster. Such an export has no
    `variables/` to restore or fine-tune: it is for serving.
    """
    base = Path(export_base)
    base.mkdir(parents=True, exist_ok=True)
    version = next_version(base) if version is None else version
    if not isinstance(version, int) or version <= 0:
        raise ValueError(f"Export version must be a positive integer, got {version!r}.")
    target = base / str(version)
    if target.exists() and not overwrite:
        raise ModelFileError(
            f"{target} already exists; TF Serving versions are immutable. Pick another --version "
            "(or leave it out to take the next one), or pass overwrite=True / --overwrite."
        )
    if micro_batch is not None and (not isinstance(micro_batch, int) or micro_batch < 1):
        raise ValueError(f"micro_batch must be a positive integer or None, got {micro_batch!r}.")
    if constant_weights is None:
        constant_weights = _computes_in_low_precision(classifier)
    module = _ServingModule(classifier, pair, micro_batch, constant_weights)
    signatures = {
        PREDICT_SIGNATURE: module.predict.get_concrete_function(),
        CLASSIFY_SIGNATURE: module.classify.get_concrete_function(),
    }
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.partial-", dir=base))
    try:
        tf.saved_model.save(module, str(staging), signatures=signatures)
        _mark_classify_method(staging)
        extra = staging / "assets.extra"
        extra.mkdir(exist_ok=True)
        (extra / LABELS_FILE).write_text(
            json.dumps(classifier.labels, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        if warmup_texts is None:
            warmup_texts = DEFAULT_WARMUP_TEXTS
        if len(warmup_texts):
            write_warmup_requests(staging, warmup_texts, pair=pair)
        if target.exists():  # overwrite: move the old version aside before the swap
            trash = Path(tempfile.mkdtemp(prefix=f".{version}.old-", dir=base))
            os.replace(target, trash / "old")
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _computes_in_low_precision(classifier: BertClassifier) -> bool:
    """Whether the encoder's Dense layers multiply in bfloat16/float16 (see for_inference)."""
    return classifier.encoder.pooler.compute_dtype in ("bfloat16", "float16")


def _mark_classify_method(saved_model_dir: Path) -> None:
    """Sets the `classify` signature's method name so TF Serving's Classify API accepts it.

    `tf.saved_model.save` marks every signature as a Predict signature; TF Serving's Classify RPC
    requires method_name `tensorflow/serving/classify` with `inputs` -> `classes`/`scores`.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    path = saved_model_dir / "saved_model.pb"
    saved_model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    for meta_graph in saved_model.meta_graphs:
        if CLASSIFY_SIGNATURE in meta_graph.signature_def:
            meta_graph.signature_def[CLASSIFY_SIGNATURE].method_name = CLASSIFY_METHOD
    path.write_bytes(saved_model.SerializeToString())


def load_exported(path: str | Path) -> Any:
    """Loads an exported version directory (needs only TensorFlow and tensorflow-text)."""
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops before loading)

    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise ModelFileError(
            f"{path} is not a SavedModel version directory (no saved_model.pb); pass "
            "<export-dir>/<version>, e.g. exports/imdb/1."
        )
    return tf.saved_model.load(str(path))


def find_version_dir(path: str | Path) -> Path:
    """A version directory itself, or the highest numeric version under a model base path."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    if path.is_dir():
        versions = sorted((int(p.name), p) for p in path.iterdir() if p.name.isdigit())
        if versions and (versions[-1][1] / "saved_model.pb").is_file():
            return versions[-1][1]
    raise ModelFileError(
        f"{path} is neither a tfbert model directory nor a SavedModel export (<base>/<version>/)."
    )


def signature_labels(version_dir: str | Path) -> list[str]:
    """The label names of an export, in probability-column order."""
    path = Path(version_dir) / "assets.extra" / LABELS_FILE
    if not path.is_file():
        raise ModelFileError(f"{path} is missing; was this model exported by tfbert?")
    return json.loads(path.read_text(encoding="utf-8"))


def directory_size(path: str | Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
