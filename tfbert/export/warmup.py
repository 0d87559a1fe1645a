"""TF Serving warm-up records: `assets.extra/tf_serving_warmup_requests`.

When TF Serving (or tfbert's embedded server) loads a version it replays these requests before
marking the version AVAILABLE. The first call of a freshly loaded SavedModel traces and optimises
its functions, which takes far longer than a normal request; replaying a few requests moves that
cost from the first user to load time. The file is a TFRecord file of serialized
`tensorflow_serving.apis.prediction_log_pb2.PredictionLog`s; only their requests matter.

tfbert writes one Predict request (signature `serving_default`) and one Classify request
(signature `classify`) so that both entry points are warm.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tensorflow as tf

from tfbert.contract import (
    ASSETS_EXTRA,
    CLASSIFY_SIGNATURE,
    PREDICT_SIGNATURE,
    TEXT_INPUT,
    TEXT_PAIR_INPUT,
    WARMUP_FILE,
)

# Short and long, English and Chinese: different token counts and both tokenizer paths
# (WordPiece on Latin words, per-character CJK splitting) get exercised at load time.
DEFAULT_WARMUP_TEXTS: tuple[str, ...] = (
    "Great!",
    "The plot dragged a little in the middle, but the acting was superb and the ending made "
    "the whole film worth watching twice.",
    "很好",
    "物流很快，包装也很结实，但是说明书写得不太清楚，安装花了我差不多一个小时。",
)


def warmup_path(version_dir: str | Path) -> Path:
    """Where TF Serving looks for warm-up requests inside a version directory."""
    return Path(version_dir) / ASSETS_EXTRA / WARMUP_FILE


def _example(text: str, text_pair: str | None) -> tf.train.Example:
    def feature(value: str) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))

    features = {TEXT_INPUT: feature(text)}
    if text_pair is not None:
        features[TEXT_PAIR_INPUT] = feature(text_pair)
    return tf.train.Example(features=tf.train.Features(feature=features))


def build_warmup_logs(
    texts: Sequence[str],
    *,
    model_name: str = "tfbert",
    pair: bool = False,
    text_pairs: Sequence[str] | None = None,
    classify: bool = True,
) -> list[Any]:
    """One PredictLog and one ClassifyLog carrying `texts` as a single batch (the PredictLog
    alone with `classify=False`, for exports without a Classify signature).

    For pair models without explicit `text_pairs`, each text is paired with the next one, so
    the second segment also sees varied lengths.
    """
    from tensorflow_serving.apis import (
        classification_pb2,
        predict_pb2,
        prediction_log_pb2,
    )

    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise ValueError("warm-up needs at least one text.")
    if pair:
        pairs = list(text_pairs) if text_pairs is not None else texts[1:] + texts[:1]
        if len(pairs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(pairs)} text pairs for the warm-up.")
    elif text_pairs is not None:
        raise ValueError("text_pairs given for a single-text model; pass pair=True.")
    else:
        pairs = None

    predict = predict_pb2.PredictRequest()
    predict.model_spec.name = model_name
    predict.model_spec.signature_name = PREDICT_SIGNATURE
    predict.inputs[TEXT_INPUT].CopyFrom(tf.make_tensor_proto(texts, dtype=tf.string))
    if pairs is not None:
        predict.inputs[TEXT_PAIR_INPUT].CopyFrom(tf.make_tensor_proto(pairs, dtype=tf.string))

    classify_request = classification_pb2.ClassificationRequest()
    classify_request.model_spec.name = model_name
    classify_request.model_spec.signature_name = CLASSIFY_SIGNATURE
    for index, text in enumerate(texts):
        example = _example(text, None if pairs is None else pairs[index])
        classify_request.input.example_list.examples.add().CopyFrom(example)

    logs = [
        prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=predict))
    ]
    if classify:
        logs.append(
            prediction_log_pb2.PredictionLog(
                classify_log=prediction_log_pb2.ClassifyLog(request=classify_request)
            )
        )
    return logs


def write_warmup_requests(
    version_dir: str | Path,
    texts: Sequence[str] = DEFAULT_WARMUP_TEXTS,
    *,
    model_name: str = "tfbert",
    pair: bool = False,
    text_pairs: Sequence[str] | None = None,
    classify: bool = True,
) -> Path:
    """Writes `<version_dir>/assets.extra/tf_serving_warmup_requests` and returns its path.

    `model_name` only fills the requests' model_spec; TF Serving replays them against the
    version being loaded whatever name it is served under.
    """
    logs = build_warmup_logs(
        texts, model_name=model_name, pair=pair, text_pairs=text_pairs, classify=classify
    )
    path = warmup_path(version_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(path: str | Path) -> list[Any]:
    """The PredictionLogs of a warm-up file (or of a version directory's warm-up file)."""
    from tensorflow_serving.apis import prediction_log_pb2

    path = Path(path)
    if path.is_dir():
        path = warmup_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no warm-up requests at {path}")
    return [
        prediction_log_pb2.PredictionLog.FromString(record.numpy())
        for record in tf.data.TFRecordDataset(str(path))
    ]
