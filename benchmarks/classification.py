"""The inference and training scenarios of the benchmarks: a text classifier on real reviews.

- inference: raw strings in, probabilities out, for every text of a seeded sample of a test
  split, batch by batch (examples/s; one call = all the texts). tfbert's user path
  (`predict_texts`) and its exported SavedModel's `serving_default` called in-process; keras-hub's
  `BertTextClassifier.predict` on a tf.data pipeline of strings (default and XLA); transformers'
  tokenizer + `BertForSequenceClassification` on torch (padding to the batch's longest, its
  documented default; bf16 autocast; padding to max length, the fixed-shape setting).
- training: fine-tuning steps, forward + backward + AdamW update with the same recipe for all
  (learning rate 5e-5, weight decay 0.01 except LayerNorm and biases, global gradient-norm
  clipping at 1.0; tfbert's `TrainingConfig` defaults), on (text, real label) batches of the
  same samples (examples/s; one call = `train_steps` steps). tfbert's `model.fit` on its own
  tf.data pipeline (`classification_dataset`), keras-hub's `.fit` on (strings, labels) with its
  preprocessor, and a torch loop that tokenizes each batch (float32 and bf16 autocast).

Weights: with the minilm-l6 preset every row loads all-MiniLM-L6-v2 from the same Hugging Face
directory (tfbert through `tfbert.modeling.checkpoints`, keras-hub through its transformers
converter, transformers itself), each with a fresh 2-label head; with any other preset
(--quick: tiny), random weights of that preset's sizes for every row. Speed does not depend on
the values; real weights make the check that tfbert's two inference paths agree meaningful.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import common
from benchmarks.common import (
    VOCABULARY_CHECKPOINT,
    Settings,
    Vocabulary,
    keras_hub_backbone,
    load_vocabulary,
    percent,
    thread_counts,
    transformers_config,
    unavailable,
)
from benchmarks.harness import (
    Case,
    Column,
    format_number,
    measure,
    progress,
    progress_done,
    rate_columns,
    ratios,
    render_table,
    short_dtype,
    summarise,
)
from tfbert.config import BertConfig

LABELS = ("negative", "positive")  # the label names of both built-in review sets
PRETRAINED = "minilm-l6"  # the preset whose rows use the real checkpoint
AGREEMENT_TOLERANCE = 1e-5  # max |probability difference| between tfbert's inference paths
PREDICT_TEXTS = "tfbert predict_texts"
SAVED_MODEL = "tfbert SavedModel serving_default"
TFBERT_FIT = "tfbert model.fit"
BFLOAT16_FIT = f"{TFBERT_FIT}, pad_to=longest, bfloat16"
FASTEST_FIT = f"{TFBERT_FIT}, length buckets, bfloat16"


@dataclasses.dataclass(frozen=True)
class Weights:
    """What every row starts from: a pretrained Hugging Face directory, or random weights."""

    preset: str
    config: BertConfig
    vocabulary: Vocabulary
    directory: Path | None  # the checkpoint's Hugging Face directory; None: random weights
    description: str


def resolve_weights(preset: str) -> Weights:
    """MiniLM-L6's files for the minilm-l6 preset; otherwise random weights of `preset`."""
    if preset == PRETRAINED:
        from tfbert.modeling.checkpoints import load_pretrained, resolve_checkpoint

        pretrained = load_pretrained(PRETRAINED)
        strip = (
            pretrained.lowercase if pretrained.strip_accents is None else pretrained.strip_accents
        )
        vocabulary = Vocabulary(list(pretrained.vocabulary), pretrained.lowercase, strip)
        directory = resolve_checkpoint(PRETRAINED)  # the Hugging Face directory tfbert read
        return Weights(
            preset,
            pretrained.config,
            vocabulary,
            directory,
            f"pretrained {PRETRAINED} (all-MiniLM-L6-v2) for every row, each with a fresh "
            "2-label head",
        )
    vocabulary = load_vocabulary()
    config = BertConfig.from_preset(preset, vocab_size=len(vocabulary.tokens))
    return Weights(
        preset,
        config,
        vocabulary,
        None,
        f"random, {preset} sizes, for every row ({VOCABULARY_CHECKPOINT} vocabulary)",
    )


def load_examples(dataset: str, count: int, seed: int) -> Any:
    """The same seeded sample of the test split as `common.load_texts`, with its labels."""
    from tfbert.data import load_dataset

    data = load_dataset(dataset).test
    order = np.random.default_rng(seed).permutation(len(data))[:count]
    sample = data.subset(order)
    unknown = sorted(set(sample.labels) - set(LABELS))
    if unknown:
        raise ValueError(f"{dataset} has labels {unknown} outside {LABELS}.")
    return sample


def label_ids(labels: Sequence[str]) -> np.ndarray:
    return np.array([LABELS.index(label) for label in labels], np.int64)


def weights_changed(before: Sequence[np.ndarray], after: Sequence[np.ndarray]) -> float:
    """The share of trainable tensors with at least one element changed (training check)."""
    if not before:
        return 0.0
    changed = [not np.array_equal(a, b) for a, b in zip(before, after, strict=True)]
    return float(np.mean(changed))


def _quiet_transformers(transformers: Any) -> None:
    """No load reports or progress bars from transformers between the tables."""
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


# A "factory" is set up once per max length (models, exports); given a text sample and a batch
# size it returns the rows to time, each a Case plus, for training rows, a function returning
# a copy of the trainable weights (to check that a call really updates them).
Row = tuple[Case, Callable[[], list[np.ndarray]] | None]
Factory = Callable[[Any, int], list[Row]]
Builder = tuple[str, str, Callable[[], Factory]]


def _case(name: str, library: str, run: Callable[[], Any], units: float, **info: Any) -> Case:
    return Case(name, run, units=units, unit="examples", library=library, info=info)


# =================================================================================================
# Inference
# =================================================================================================
def _tfbert_classifier(weights: Weights, length: int, seed: int) -> Any:
    """The user path: `classifier_from_pretrained` (or a random classifier of the preset).

    With the peers' head: BERT's pooler over [CLS] (transformers' BertForSequenceClassification,
    keras-hub's BertTextClassifier), not the mean pooling MiniLM's checkpoint declares.
    """
    import keras

    from tfbert.tasks.classifier import BertClassifier, classifier_from_pretrained

    keras.utils.set_random_seed(seed)  # the fresh head
    if weights.directory is not None:
        return classifier_from_pretrained(
            PRETRAINED, list(LABELS), max_length=length, pooling="cls"
        )
    vocabulary = weights.vocabulary
    return BertClassifier.from_preset(
        weights.preset,
        vocabulary=vocabulary.tokens,
        labels=list(LABELS),
        max_length=length,
        tokenizer_options={
            "lowercase": vocabulary.lowercase,
            "strip_accents": vocabulary.strip_accents,
        },
    )


def _padded_to_longest(model: Any) -> Any:
    """The same classifier (same weights) whose tokenizer pads to each batch's longest text."""
    from tfbert.tasks.classifier import BertClassifier

    tokenizer = model.tokenizer.with_padding("longest")
    twin = BertClassifier.from_config({**model.get_config(), "tokenizer": tokenizer})
    twin.set_weights(model.get_weights())
    return twin


def _tfbert_inference(
    weights: Weights, length: int, seed: int, stack: contextlib.ExitStack, shared: dict[str, Any]
) -> Factory:
    """tfbert's rows; `shared["float32"]` receives the float32 classifier for the peers that
    run its very weights (`_runtimes_inference`)."""
    import tensorflow as tf

    from tfbert.export import load_exported

    models = {"float32": _tfbert_classifier(weights, length, seed)}
    shared["float32"] = models["float32"]
    models["bfloat16"] = models["float32"].for_inference("bfloat16")
    progress("inference: exporting the tfbert SavedModels")
    base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tfbert-bench-")))
    servings = {
        precision: load_exported(model.export(base, version=version, warmup_texts=())).signatures[
            "serving_default"
        ]
        for version, (precision, model) in enumerate(models.items(), start=1)
    }
    pooling, head = models["float32"].pooling, models["float32"].problem_type

    def factory(data: Any, batch: int) -> list[Row]:
        texts = list(data.texts)
        rows = []
        for precision, model in models.items():
            serving = servings[precision]
            suffix = "" if precision == "float32" else f", {precision}"
            info = {"precision": precision, "pooling": pooling, "head": head}

            def saved_model(serving=serving) -> np.ndarray:
                outputs = [
                    serving(text=tf.constant(texts[i : i + batch]))["probabilities"]
                    for i in range(0, len(texts), batch)
                ]
                return np.concatenate([output.numpy() for output in outputs])

            predict = lambda model=model: model.predict_texts(texts, batch_size=batch)
            rows += [
                (
                    _case(
                        PREDICT_TEXTS + suffix,
                        "tfbert",
                        lambda predict=predict: predict()["probabilities"],
                        len(texts),
                        padding="sorted, longest",
                        **info,
                    ),
                    None,
                ),
                (
                    _case(
                        SAVED_MODEL + suffix,
                        "tfbert",
                        saved_model,
                        len(texts),
                        padding="longest, micro-batches of 8 sorted",
                        **info,
                    ),
                    None,
                ),
            ]
        return rows

    return factory


def _keras_hub_parts(weights: Weights, length: int) -> tuple[Any, Any, Any, str]:
    """(keras_hub, backbone, preprocessor at `length`, where the weights come from)."""
    keras_hub = common.optional_import("keras_hub")
    if weights.directory is not None:
        directory = str(weights.directory)
        backbone = keras_hub.models.BertBackbone.from_preset(directory)
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor.from_preset(
            directory, sequence_length=length
        )
        return keras_hub, backbone, preprocessor, "MiniLM-L6, read from the same directory"
    vocabulary = weights.vocabulary
    tokenizer = keras_hub.tokenizers.BertTokenizer(
        vocabulary=vocabulary.tokens,
        lowercase=vocabulary.lowercase,
        strip_accents=vocabulary.strip_accents,
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=length
    )
    return keras_hub, keras_hub_backbone(keras_hub, weights.config), preprocessor, "random"


def _keras_hub_inference(weights: Weights, length: int, seed: int, variants: bool) -> Factory:
    import keras
    import tensorflow as tf

    keras_hub, backbone, preprocessor, source = _keras_hub_parts(weights, length)
    keras.utils.set_random_seed(seed)
    tasks = {}
    # One backbone (the same weights), two compiled predict functions (one without `variants`).
    for xla in (False, True) if variants else (False,):
        task = keras_hub.models.BertTextClassifier(
            backbone, num_classes=len(LABELS), preprocessor=preprocessor, activation="softmax"
        )
        task.compile(jit_compile=xla)
        tasks[xla] = task

    def factory(data: Any, batch: int) -> list[Row]:
        texts = list(data.texts)
        dataset = tf.data.Dataset.from_tensor_slices(texts).batch(batch)
        rows = []
        for xla, task in tasks.items():
            name = "keras-hub BertTextClassifier.predict, tf.data" + (" XLA" if xla else "")
            run = lambda task=task: task.predict(dataset, verbose=0)
            info = {"precision": "float32", "padding": "max_length", "weights": source}
            rows.append((_case(name, "keras-hub", run, len(texts), **info), None))
        return rows

    return factory


def _transformers_parts(weights: Weights, seed: int) -> tuple[Any, Any, Any, str]:
    """(torch, tokenizer, BertForSequenceClassification with 2 labels, attention kernel)."""
    torch = common.optional_import("torch")
    transformers = common.optional_import("transformers")
    _quiet_transformers(transformers)
    torch.manual_seed(seed)
    if weights.directory is not None:
        tokenizer = transformers.BertTokenizerFast.from_pretrained(str(weights.directory))
        model = transformers.BertForSequenceClassification.from_pretrained(
            str(weights.directory), num_labels=len(LABELS)
        )
    else:
        vocabulary = weights.vocabulary
        tokenizer = transformers.BertTokenizerFast(
            vocab=vocabulary.ids,
            do_lower_case=vocabulary.lowercase,
            strip_accents=vocabulary.strip_accents,
        )
        model = transformers.BertForSequenceClassification(
            transformers_config(transformers, weights.config, num_labels=len(LABELS))
        )
    attention = getattr(model.config, "_attn_implementation", None) or "default"
    return torch, tokenizer, model, attention


def _transformers_inference(weights: Weights, length: int, seed: int, variants: bool) -> Factory:
    torch, tokenizer, model, attention = _transformers_parts(weights, seed)
    model.eval()
    settings = [  # (row suffix, padding, bf16 autocast)
        ("padding=True", True, False),
        ("bf16 autocast, padding=True", True, True),
        ("padding=max_length", "max_length", False),
    ][: 3 if variants else 2]

    def factory(data: Any, batch: int) -> list[Row]:
        texts = list(data.texts)
        batches = [texts[i : i + batch] for i in range(0, len(texts), batch)]

        def predict(padding: bool | str, bf16: bool) -> np.ndarray:
            outputs = []
            autocast = (
                torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
            )
            with torch.inference_mode(), autocast:
                for texts_ in batches:
                    encoded = tokenizer(
                        texts_,
                        padding=padding,
                        truncation=True,
                        max_length=length,
                        return_tensors="pt",
                    )
                    outputs.append(model(**encoded).logits.float().softmax(dim=-1))
            return torch.cat(outputs).numpy()

        rows = []
        for suffix, padding, bf16 in settings:
            name = f"transformers BertForSequenceClassification, torch ({attention}), {suffix}"
            info = {
                "precision": "bfloat16" if bf16 else "float32",
                "padding": "longest" if padding is True else str(padding),
            }
            run = lambda padding=padding, bf16=bf16: predict(padding, bf16)
            rows.append((_case(name, "transformers", run, len(texts), **info), None))
        return rows

    return factory


def _runtimes_inference(
    length: int,
    threads: int | None,
    stack: contextlib.ExitStack,
    shared: dict[str, Any],
    datasets: Sequence[str] = (),
) -> Factory:
    """ONNX Runtime (float32, dynamic int8), OpenVINO and LiteRT (tfbert's own tflite export,
    dynamic and full-integer int8 calibrated on training texts of `datasets`) rows on tfbert's
    float32 classifier's own weights (`benchmarks.runtimes`), each checked on tfbert's token
    ids before timing."""
    import tensorflow as tf

    from benchmarks import runtimes

    model = shared["float32"]
    progress("inference: converting the tfbert classifier to ONNX")
    base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tfbert-onnx-")))
    converted = runtimes.convert_classifier(model, base)
    loaded = runtimes.load_runtimes(converted, length, threads)
    progress("inference: exporting the tfbert classifier to LiteRT (int8)")
    calibration = [text for name in datasets for text in _calibration_texts(name)]
    try:
        loaded.update(runtimes.load_litert(model, base / "litert", calibration, threads))
    except ImportError as error:
        loaded.update({name: error for name in runtimes.LITERT.values()})
    numeric = model.numeric_logits()

    def factory(data: Any, batch: int) -> list[Row]:
        texts = list(data.texts)
        checked = texts[: runtimes.CHECK_TEXTS]
        features = model.tokenizer.with_padding("longest")(tf.constant(checked))
        reference = model.probabilities(numeric(features)).numpy()
        ids = runtimes.onnx_inputs(features)
        rows: list[Row] = []
        for name, runtime in loaded.items():
            library = name.split()[0]  # onnxruntime, openvino, litert
            if isinstance(runtime, BaseException):
                rows.append((unavailable(name, library, runtime, "examples"), None))
                continue
            check = runtimes.numeric_check(runtime, ids, reference)
            if not check["numeric_check_passed"]:
                reason = (
                    f"failed the check: max |dp| {check['numeric_max_abs_difference']:.1e} from "
                    f"tfbert float32 on the same token ids > {check['numeric_tolerance']:g}"
                )
                rows.append((Case.unavailable(name, library, reason), None))
                continue
            padding = "sorted, longest" if library == "litert" else "longest"
            info = {"precision": runtime.precision, "padding": padding, "same_weights": True}
            info.update(check, size_mb=round(runtime.size_bytes / 1e6, 1))
            run = lambda runtime=runtime: runtime.predict(texts, batch)
            rows.append((_case(name, library, run, len(texts), **info), None))
        return rows

    return factory


def _calibration_texts(dataset: str, count: int = 100) -> list[str]:
    """`count` texts of `dataset`'s training split: int8 calibration never sees the test texts."""
    from tfbert.data import load_dataset

    return list(load_dataset(dataset, max_examples_per_split=count).train.texts)


def _agreement(reference: np.ndarray, output: Any) -> dict[str, Any]:
    """How `output` probabilities compare with tfbert predict_texts' (same texts, same order)."""
    output = np.asarray(output)
    if output.shape != reference.shape:
        return {"same_label_ids": False, "max_abs_difference": None, "agrees": False}
    same = bool(np.array_equal(output.argmax(-1), reference.argmax(-1)))
    difference = float(np.max(np.abs(output - reference))) if output.size else 0.0
    return {
        "same_label_ids": same,
        "max_abs_difference": difference,
        "agrees": same and difference <= AGREEMENT_TOLERANCE,
    }


# =================================================================================================
# Training
# =================================================================================================
def _training_recipe() -> dict[str, Any]:
    """The optimizer settings every row uses: tfbert's fine-tuning defaults, constant rate."""
    from tfbert.training.fine_tune import TrainingConfig

    config = TrainingConfig()
    return {
        "learning_rate": config.learning_rate,
        "weight_decay": config.weight_decay,
        "clip_norm": config.clip_norm,
        "epsilon": 1e-6,  # create_optimizer's
    }


def _keras_optimizer() -> Any:
    """tfbert's `create_optimizer` (AdamW with the fused update, no decay on LayerNorm/biases).

    keras-hub's row trains with it too, so the optimizer is no part of the difference between
    the Keras rows."""
    from tfbert.training.optimization import create_optimizer

    recipe = _training_recipe()
    return create_optimizer(
        recipe["learning_rate"], weight_decay=recipe["weight_decay"], clip_norm=recipe["clip_norm"]
    )


def _keras_snapshot(model: Any) -> Callable[[], list[np.ndarray]]:
    return lambda: [np.array(variable) for variable in model.trainable_variables]


def _keras_steps(model: Any, dataset: Any, steps: int) -> Callable[[], float]:
    """`steps` optimizer steps of Keras's compiled train step on batches from one long-lived
    iterator over `dataset` (an infinite tf.data pipeline); returns the last loss.

    What `model.fit` does per step, without its per-call set-up and teardown: a `fit` call on
    an infinite pipeline intermittently spends seconds after `on_train_end`, which the bench
    would otherwise count as training time.
    """
    iterator = iter(dataset)

    def run() -> float:
        logs: dict[str, Any] = {}
        for _ in range(steps):
            features, labels = next(iterator)
            logs = model.train_on_batch(features, labels, return_dict=True)
        return float(logs["loss"])

    return run


def _tfbert_training(weights: Weights, length: int, seed: int, steps: int) -> Factory:
    """Rows from the plain setting (fixed-length padding, float32) to the fastest one (length
    buckets padded to their longest text, bfloat16 matmuls), one change at a time."""
    from tfbert.data.pipeline import classification_dataset
    from tfbert.training.precision import PRECISIONS, dtype_policy

    first = _tfbert_classifier(weights, length, seed)
    with dtype_policy(PRECISIONS["bfloat16"]):  # the training policy: mixed_bfloat16
        bfloat16 = _padded_to_longest(first)
    variants = [  # (name suffix, model, padding, length buckets, precision)
        ("", first, "max_length", False, "float32"),
        (", pad_to=longest", _padded_to_longest(first), "longest", False, "float32"),
        (", length buckets", _padded_to_longest(first), "buckets, longest", True, "float32"),
        # bfloat16 without buckets: buckets reorder training (see benchmarks/results/
        # bucket_by_length_2026-11-27_c0f3f65.json).
        (BFLOAT16_FIT.removeprefix(TFBERT_FIT), bfloat16, "longest", False, "bfloat16"),
        (FASTEST_FIT.removeprefix(TFBERT_FIT), bfloat16, "buckets, longest", True, "bfloat16"),
    ]
    for variant in variants:
        variant[1].compile(optimizer=_keras_optimizer())

    def factory(data: Any, batch: int) -> list[Row]:
        rows = []
        for suffix, model, padding, buckets, precision in variants:
            # The real training path's pipeline: tokenize in tf.data map, batch, prefetch.
            dataset = classification_dataset(
                model,
                data,
                batch,
                shuffle=True,
                seed=seed,
                drop_remainder=True,
                bucket_by_length=buckets,
                # Buckets of at least four full batches (--quick samples are tiny).
                num_buckets=max(1, min(8, len(data) // (4 * batch))),
            ).repeat()
            info = {"precision": precision, "padding": padding, "pooling": model.pooling}
            case = _case(TFBERT_FIT + suffix, "tfbert", _keras_steps(model, dataset, steps),
                         steps * batch, **info)  # fmt: skip
            rows.append((case, _keras_snapshot(model)))
        return rows

    return factory


def _keras_hub_training(weights: Weights, length: int, seed: int, steps: int) -> Factory:
    import keras
    import tensorflow as tf

    keras_hub, backbone, preprocessor, source = _keras_hub_parts(weights, length)
    keras.utils.set_random_seed(seed)
    task = keras_hub.models.BertTextClassifier(
        backbone, num_classes=len(LABELS), preprocessor=preprocessor
    )
    task.compile(optimizer=_keras_optimizer())  # loss and metrics: keras-hub's defaults
    # The preprocessor runs in tf.data below, as keras-hub's Task.fit maps it; detached from the
    # task so train_on_batch does not preprocess a second time, eagerly.
    task.preprocessor = None

    def factory(data: Any, batch: int) -> list[Row]:
        dataset = (
            tf.data.Dataset.from_tensor_slices((list(data.texts), label_ids(data.labels)))
            .shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
            .batch(batch, drop_remainder=True)
            .repeat()
            .map(lambda x, y: preprocessor(x, y=y), num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE)
        )
        info = {"precision": "float32", "padding": "max_length", "weights": source}
        run = _keras_steps(task, dataset, steps)
        name = "keras-hub BertTextClassifier.fit, tf.data"
        return [(_case(name, "keras-hub", run, steps * batch, **info), _keras_snapshot(task))]

    return factory


def _transformers_training(weights: Weights, length: int, seed: int, steps: int) -> Factory:
    torch, tokenizer, model, attention = _transformers_parts(weights, seed)
    model.train()
    recipe = _training_recipe()
    # No weight decay on LayerNorm weights and biases, as tfbert's optimizer (and HF's Trainer).
    no_decay = [p for n, p in model.named_parameters() if "LayerNorm" in n or n.endswith("bias")]
    decay = [p for n, p in model.named_parameters() if not ("LayerNorm" in n or n.endswith("bias"))]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": recipe["weight_decay"]},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=recipe["learning_rate"],
        eps=recipe["epsilon"],
    )
    parameters = [p for p in model.parameters() if p.requires_grad]

    def snapshot() -> list[np.ndarray]:
        return [p.detach().numpy().copy() for p in parameters]

    def factory(data: Any, batch: int) -> list[Row]:
        order = np.random.default_rng(seed).permutation(len(data))
        texts, ids = list(data.texts), label_ids(data.labels)
        batches = [
            ([texts[i] for i in chunk], torch.from_numpy(ids[chunk]))
            for chunk in (order[i : i + batch] for i in range(0, len(order) - batch + 1, batch))
        ]
        position = [0]

        def train(bf16: bool) -> float:
            loss = None
            for _ in range(steps):
                texts_, labels = batches[position[0] % len(batches)]
                position[0] += 1
                encoded = tokenizer(
                    texts_, padding=True, truncation=True, max_length=length, return_tensors="pt"
                )
                autocast = (
                    torch.autocast("cpu", dtype=torch.bfloat16)
                    if bf16
                    else contextlib.nullcontext()
                )
                with autocast:
                    loss = model(**encoded, labels=labels).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(parameters, recipe["clip_norm"])
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            return float(loss.detach())

        rows = []
        for bf16 in (False, True):
            name = f"transformers BertForSequenceClassification, torch ({attention})" + (
                ", bf16 autocast" if bf16 else ""
            )
            info = {"precision": "bfloat16" if bf16 else "float32", "padding": "longest"}
            run = lambda bf16=bf16: train(bf16)
            rows.append((_case(name, "transformers", run, steps * batch, **info), snapshot))
        return rows

    return factory


# =================================================================================================
# Running a scenario: set up per max length, measure per (text set, batch size)
# =================================================================================================
def _set_up(scenario: str, builders: Sequence[Builder]) -> list[tuple[str, str, Any]]:
    """(name, library, factory or the exception that stopped a peer's set-up)."""
    ready = []
    for name, library, build in builders:
        progress(f"{scenario}: setting up {name}")
        try:
            ready.append((name, library, build()))
        except Exception as error:  # a peer that cannot run must not stop the others
            if library == "tfbert":
                raise
            ready.append((name, library, error))
    return ready


def _group_cases(
    scenario: str,
    ready: Sequence[tuple[str, str, Any]],
    data: Any,
    batch: int,
    check: Callable[[Case, Any], dict[str, Any]],
) -> list[Case]:
    """The rows of one group; each runs once untimed (its first trace/compile) and is checked."""
    cases: list[Case] = []
    for name, library, factory in ready:
        if isinstance(factory, Exception):
            cases.append(unavailable(name, library, factory, "examples"))
            continue
        try:
            rows = factory(data, batch)
        except Exception as error:
            if library == "tfbert":
                raise
            cases.append(unavailable(name, library, error, "examples"))
            continue
        for case, snapshot in rows:
            if not case.runnable:  # a row that failed its factory's own check
                cases.append(case)
                continue
            progress(f"{scenario}: first call of {case.name}")
            try:
                before = snapshot() if snapshot else None
                output = case.run()
                if snapshot:
                    case.info["trainable_tensors_changed"] = weights_changed(before, snapshot())
            except Exception as error:
                if library == "tfbert":
                    raise
                cases.append(unavailable(case.name, case.library, error, "examples"))
                continue
            case.info.update(check(case, output))
            cases.append(case)
    return cases


def _measure_group(scenario: str, cases: list[Case], settings: Settings, label: str) -> list[dict]:
    rates = measure(
        cases,
        settings.repeats,
        settings.min_seconds,
        settings.warmup,
        progress=lambda m: progress(f"{scenario} {label}: {m}"),
    )
    progress_done()
    return summarise(cases, rates)


def _run(
    scenario: str,
    settings: Settings,
    builders: Callable[[Weights, int, contextlib.ExitStack], list[Builder]],
    group: Callable[[Weights, list[tuple[str, str, Any]], Any, str, int, int], dict[str, Any]],
) -> tuple[Weights, list[dict[str, Any]]]:
    """Every (max length, text set, batch size) group; models are set up once per max length."""
    progress(f"{scenario}: reading the weights ({settings.preset})")
    weights = resolve_weights(settings.preset)
    for length in settings.max_lengths:
        if length > weights.config.max_position_embeddings:
            raise ValueError(
                f"--max-length {length} exceeds the {settings.preset} preset's "
                f"{weights.config.max_position_embeddings} positions."
            )
    samples = {}
    for dataset in settings.datasets:
        progress(f"{scenario}: loading {dataset} test texts")
        samples[dataset] = load_examples(dataset, settings.num_texts, settings.seed)
    groups = []
    with contextlib.ExitStack() as stack:
        for length in settings.max_lengths:
            ready = _set_up(scenario, builders(weights, length, stack))
            for dataset, data in samples.items():
                for batch in settings.batch_sizes:
                    groups.append(group(weights, ready, data, dataset, batch, length))
    return weights, groups


def _title(
    scenario: str, what: str, weights: Weights, data: Any, dataset: str, batch: int, length: int
) -> str:
    mean_chars = float(np.mean([len(t) for t in data.texts]))
    return (
        f"{scenario}: {dataset} test split, {len(data):,} texts (seeded sample, mean "
        f"{mean_chars:,.0f} characters), batch {batch}, max length {length}; {what}; "
        f"weights: {weights.description}"
    )


def _group_record(
    dataset: str, data: Any, batch: int, length: int, rows: list[dict], pairs: list, table: str
) -> dict[str, Any]:
    return {
        "name": f"{dataset}, batch {batch}, max length {length}",
        "dataset": dataset,
        "batch_size": batch,
        "max_length": length,
        "texts": len(data),
        "mean_characters": float(np.mean([len(t) for t in data.texts])),
        "rows": rows,
        "ratios": pairs,
        "table": table,
    }


def _scenario_record(
    scenario: str, settings: Settings, weights: Weights, groups: list, **extra: Any
) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "settings": {
            **settings.to_dict(),
            "config": weights.config.to_dict(),
            "weights": weights.description,
            "checkpoint_directory": None if weights.directory is None else str(weights.directory),
            "labels": list(LABELS),
            "threads": {**thread_counts(), "requested": settings.threads},
            **extra,
        },
        "groups": groups,
    }


def inference(settings: Settings) -> dict[str, Any]:
    """Examples/s from raw strings to probabilities, per text set, batch size and max length."""

    def builders(weights: Weights, length: int, stack: contextlib.ExitStack) -> list[Builder]:
        seed = settings.seed
        shared: dict[str, Any] = {}  # tfbert's float32 classifier, for the runtimes' rows
        return [
            (
                "tfbert BertClassifier",
                "tfbert",
                lambda: _tfbert_inference(weights, length, seed, stack, shared),
            ),
            (
                "keras-hub BertTextClassifier",
                "keras-hub",
                lambda: _keras_hub_inference(weights, length, seed, settings.peer_variants),
            ),
            (
                "transformers BertForSequenceClassification",
                "transformers",
                lambda: _transformers_inference(weights, length, seed, settings.peer_variants),
            ),
            (
                "ONNX Runtime, OpenVINO and LiteRT, tfbert's weights",
                "onnxruntime",
                lambda: _runtimes_inference(
                    length, settings.threads, stack, shared, settings.datasets
                ),
            ),
        ]

    def group(
        weights: Weights, ready: list, data: Any, dataset: str, batch: int, length: int
    ) -> dict[str, Any]:
        reference: dict[str, np.ndarray] = {}

        def check(case: Case, output: Any) -> dict[str, Any]:
            output = np.asarray(output)
            info: dict[str, Any] = {"probabilities_shape": list(output.shape)}
            if case.name == PREDICT_TEXTS:
                reference["p"] = output
            elif case.library == "tfbert" or case.info.get("same_weights"):
                agreement = _agreement(reference["p"], output)
                info.update({f"{k}_vs_predict_texts": v for k, v in agreement.items()})
            return info

        cases = _group_cases("inference", ready, data, batch, check)
        label = f"{dataset} b{batch} L{length}"
        rows = _measure_group("inference", cases, settings, label)
        tfbert_rows = [r["name"] for r in rows if r["library"] == "tfbert" and r["median"]]
        pairs = ratios(rows, tfbert_rows)
        saved = next(r for r in rows if r["name"] == SAVED_MODEL)
        agreement = {
            "reference": PREDICT_TEXTS,
            "compared": SAVED_MODEL,
            "tolerance": AGREEMENT_TOLERANCE,
            "same_label_ids": saved["same_label_ids_vs_predict_texts"],
            "max_abs_difference": saved["max_abs_difference_vs_predict_texts"],
            "agrees": saved["agrees_vs_predict_texts"],
        }
        fastest = (PREDICT_TEXTS, f"{PREDICT_TEXTS}, bfloat16", f"{SAVED_MODEL}, bfloat16")
        references = [n for n in fastest if n in tfbert_rows]
        columns = [
            Column("ex/s", lambda r: format_number(r["median"])),
            Column("padding", lambda r: _short_padding(r.get("padding")), "<"),
            Column("dtype", lambda r: short_dtype(r.get("precision")), "<"),
            Column("max|dp|", lambda r: _difference(r.get("max_abs_difference_vs_predict_texts"))),
            *rate_columns(
                rows,
                references,
                {
                    PREDICT_TEXTS: "pt",
                    f"{PREDICT_TEXTS}, bfloat16": "pt bf16",
                    f"{SAVED_MODEL}, bfloat16": "SM bf16",
                },
            ),
        ]
        verdict = "agree" if agreement["agrees"] else "DISAGREE"
        difference = _difference(agreement["max_abs_difference"])
        table = render_table(
            rows,
            columns,
            title=_title(
                "inference",
                f"raw strings to probabilities; median of {settings.repeats} interleaved rounds",
                weights,
                data,
                dataset,
                batch,
                length,
            ),
            notes=[
                f"tfbert SavedModel vs predict_texts: {verdict} (same label ids: "
                f"{agreement['same_label_ids']}, max |dp| {difference}, tolerance "
                f"{AGREEMENT_TOLERANCE:g}); max|dp|: largest probability difference from tfbert "
                "predict_texts;",
                "onnxruntime/openvino/litert rows: tfbert's float32 classifier converted (same "
                "weights, same head), checked on tfbert's token ids before timing; onnxruntime "
                "and openvino tokenize with HF's fast tokenizer, litert with tfbert's;",
                _PADDING_NOTE,
                "ex/s: examples/s; X/row: how many times faster the tfbert row X (pt = "
                "predict_texts, SM = SavedModel) is than the row (same rounds).",
            ],
        )
        print(table + "\n", flush=True)
        record = _group_record(dataset, data, batch, length, rows, pairs, table)
        record["agreement"] = agreement
        return record

    weights, groups = _run("inference", settings, builders, group)
    return _scenario_record(
        "inference",
        settings,
        weights,
        groups,
        one_call="every sampled text, batch by batch, raw strings to a [texts, 2] array of "
        "probabilities; keras-hub's and transformers' heads are their own fresh ones",
        rate="examples (texts)/s",
    )


def training(settings: Settings) -> dict[str, Any]:
    """Fine-tuning examples/s (forward, backward, AdamW) per text set, batch size, max length."""
    steps = settings.train_steps
    too_small = [b for b in settings.batch_sizes if b > settings.num_texts]
    if too_small:
        raise ValueError(
            f"training needs at least one full batch: --num-texts {settings.num_texts} is "
            f"smaller than --batch-size {too_small[0]}."
        )

    def builders(weights: Weights, length: int, stack: contextlib.ExitStack) -> list[Builder]:
        seed = settings.seed
        return [
            (
                "tfbert BertClassifier",
                "tfbert",
                lambda: _tfbert_training(weights, length, seed, steps),
            ),
            (
                "keras-hub BertTextClassifier",
                "keras-hub",
                lambda: _keras_hub_training(weights, length, seed, steps),
            ),
            (
                "transformers BertForSequenceClassification",
                "transformers",
                lambda: _transformers_training(weights, length, seed, steps),
            ),
        ]

    def group(
        weights: Weights, ready: list, data: Any, dataset: str, batch: int, length: int
    ) -> dict[str, Any]:
        def check(case: Case, output: Any) -> dict[str, Any]:
            return {"loss": float(output)}

        cases = _group_cases("training", ready, data, batch, check)
        label = f"{dataset} b{batch} L{length}"
        rows = _measure_group("training", cases, settings, label)
        tfbert_rows = [r["name"] for r in rows if r["library"] == "tfbert" and r["median"]]
        pairs = ratios(rows, tfbert_rows)
        columns = [
            Column("ex/s", lambda r: format_number(r["median"])),
            Column("padding", lambda r: _short_padding(r.get("padding")), "<"),
            Column("dtype", lambda r: short_dtype(r.get("precision")), "<"),
            Column("loss", lambda r: format_number(r.get("loss"))),
            Column("updated", lambda r: percent(r.get("trainable_tensors_changed"))),
            *rate_columns(
                rows,
                [n for n in (TFBERT_FIT, BFLOAT16_FIT, FASTEST_FIT) if n in tfbert_rows],
                {TFBERT_FIT: "fit", BFLOAT16_FIT: "bf16", FASTEST_FIT: "bkt+bf16"},
            ),
        ]
        table = render_table(
            rows,
            columns,
            title=_title(
                "training",
                f"{steps} AdamW steps per call; median of {settings.repeats} interleaved rounds",
                weights,
                data,
                dataset,
                batch,
                length,
            ),
            notes=[
                "loss: after the first (untimed) call; updated: share of trainable tensors that "
                "call changed;",
                "Keras rows (.fit): the compiled train step that fit runs, called on batches "
                "from a long-lived tf.data iterator (fit's per-call set-up and teardown excluded);",
                _PADDING_NOTE,
                "ex/s: examples/s; X/row: how many times faster the tfbert row X (fit = model.fit, "
                "bf16 = bfloat16, bkt = length buckets) is than the row (same rounds).",
            ],
        )
        print(table + "\n", flush=True)
        return _group_record(dataset, data, batch, length, rows, pairs, table)

    recipe = _training_recipe()
    weights, groups = _run("training", settings, builders, group)
    return _scenario_record(
        "training",
        settings,
        weights,
        groups,
        optimizer=f"AdamW, constant learning rate {recipe['learning_rate']:g}, weight decay "
        f"{recipe['weight_decay']:g} (not on LayerNorm and biases), epsilon {recipe['epsilon']:g},"
        f" global gradient-norm clipping at {recipe['clip_norm']:g}, for every row",
        one_call=f"{steps} optimizer steps on shuffled full batches of (text, real label) from "
        "the sample; tokenization included (tf.data map for tfbert and keras-hub, per batch for "
        "transformers); dropout on; each row keeps training its own model across calls (the two "
        "transformers rows share one model and optimizer)",
        rate="examples/s = steps x batch size per call / seconds",
    )


# How the tables show each row's padding (the JSON keeps the full description).
_SHORT_PADDING = {
    "sorted, longest": "sorted",
    "longest, micro-batches of 8 sorted": "sorted/8",
    "buckets, longest": "buckets",
}
_PADDING_NOTE = (
    "padding: longest = to each batch's longest text, max_length = every batch to the max "
    "length, sorted = texts sorted by length, then batches padded to their longest (/8: in "
    "micro-batches of 8), buckets = length buckets padded to their longest; dtype: f32 = "
    "float32, bf16 = bfloat16;"
)


def _short_padding(padding: str | None) -> str:
    return _SHORT_PADDING.get(padding or "", padding or "")


def _difference(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"
