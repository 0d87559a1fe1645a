"""The contract of tfbert's files: every name that a writer and its readers must agree on (an
export, `tfbert serve` and a client; a model directory and whatever loads it).

Written once here and imported by the text, export and serving code, so that a renamed
signature or feature cannot drift between the writer and the readers; `tagged_texts` reads
a NER export's outputs back, for in-process callers and clients alike. Importing this module
imports nothing else (a client-only install reads it without TensorFlow).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The numeric features a preprocessor hands a backbone, [batch, length] int32 each, in this
# order (frozen functions take them positionally).
FEATURE_NAMES = ("token_ids", "segment_ids", "padding_mask")

# String inputs of an export's Predict signature and feature names inside a Classify request's
# tf.Example: the text, and the second text of a sentence-pair model.
TEXT_INPUT, TEXT_PAIR_INPUT = "text", "text_pair"

# Signatures of an export: the Predict API's default one and the Classify API's.
PREDICT_SIGNATURE, CLASSIFY_SIGNATURE = "serving_default", "classify"
# TF Serving's method names; `tf.saved_model.save` marks every signature as a Predict one.
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
# The Classify signature's tensor names, fixed by TF Serving's Classify API.
CLASSIFY_INPUTS, CLASSIFY_CLASSES, CLASSIFY_SCORES = "inputs", "classes", "scores"

# A token classifier's export (named entities): its second Predict signature, beside
# `serving_default`, and the outputs of both, per text padded to the batch's most, with counts:
# entities (type, character offsets [start, end) in the original string, text, score) and
# each word's tag with its offsets and score.
TAGGER_SIGNATURE = "entities"
TAGGER_OUTPUTS = (
    "entity_count",
    "entity_type",
    "entity_start",
    "entity_end",
    "entity_text",
    "entity_score",
    "token_count",
    "token_tag",
    "token_start",
    "token_end",
    "token_score",
)


def tagged_texts(texts: Sequence[str], outputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A tagger's padded outputs (`TAGGER_OUTPUTS`, as tensors, arrays or the nested lists of a
    REST answer) for `texts` as one dict per text: `entities` (each {"type", "start", "end",
    "text", "score"}, offsets into the text), `words` (each word's original spelling) and
    `tags` (each word's tag)."""
    values = {name: _unwrapped(value) for name, value in outputs.items()}
    results = []
    for row, text in enumerate(texts):
        entities = [
            {
                "type": _text(values["entity_type"][row][k]),
                "start": int(values["entity_start"][row][k]),
                "end": int(values["entity_end"][row][k]),
                "text": _text(values["entity_text"][row][k]),
                "score": float(values["entity_score"][row][k]),
            }
            for k in range(int(values["entity_count"][row]))
        ]
        words = int(values["token_count"][row])
        spans = zip(values["token_start"][row][:words], values["token_end"][row][:words],
                    strict=True)  # fmt: skip
        results.append(
            {
                "entities": entities,
                "words": [text[int(start) : int(end)] for start, end in spans],
                "tags": [_text(tag) for tag in values["token_tag"][row][:words]],
            }
        )
    return results


def _unwrapped(value: Any) -> Any:
    return value.numpy() if hasattr(value, "numpy") else value


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


# What a token classifier's (NER model's) files say it is: the "format" of its model
# directory's config.json, and the "task" of its export's model info (MODEL_INFO_FILE).
TOKEN_CLASSIFIER_FORMAT, TOKEN_CLASSIFIER_TASK = "tfbert-token-classifier", "token_classifier"

# Files in a version's `assets.extra/` (TF Serving copies that folder but reads only the
# warm-up file): the warm-up requests replayed at load, and the label names in column order.
ASSETS_EXTRA = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000  # TF Serving's limit
LABELS_FILE = "tfbert_labels.json"
# What the export holds, for readers that need more than the labels (evaluation of an export):
# {"task": "classifier", "labels": [...], "problem_type": ..., "threshold": ...}.
MODEL_INFO_FILE = "tfbert_model.json"

# A model directory (tfbert's `save_pretrained`, a Hugging Face checkpoint, a shipped model):
# its configuration, its weights (safetensors) and its WordPiece vocabulary.
CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE = "config.json", "model.safetensors", "vocab.txt"

# A `tfbert train` / `tfbert pretrain` output directory: the marker that says tfbert created it
# (with the command's settings), the pretraining record (steps, batch, tokens per example,
# training time, each epoch's metrics) and the prefix of the snapshots taken on the way
# (`step-<N>`: the model after N updates).
RUN_MARKER = ".tfbert-run.json"
PRETRAIN_HISTORY_FILE = "pretrain_history.json"
SNAPSHOT_PREFIX = "step-"


def snapshot_step(name: str) -> int | None:
    """N for a snapshot directory's name (`step-<N>`), None for any other name."""
    digits = name[len(SNAPSHOT_PREFIX) :] if name.startswith(SNAPSHOT_PREFIX) else ""
    return int(digits) if digits.isascii() and digits.isdigit() else None
