"""The tokenization and encoder scenarios of the benchmarks (`python benchmarks/run.py`).

- tokenization: texts/s and tokens/s of turning real reviews into padded ids, with tfbert's
  `BertTokenizer` (compiled, in tf.data, eager) against transformers' and tokenizers' fast
  tokenizers and keras-hub's preprocessor, all on the same vocabulary.
- encoder: forward-only examples/s of the encoder at one shape, against keras-hub's
  `BertBackbone` and transformers' `BertModel` on torch, with FLOPs and the measured matmul peak.

Each scenario builds `Case`s for tfbert and its peers, times them interleaved with
`harness.measure`, prints one table per group and returns a JSON-ready dict:
{"scenario", "settings", "groups": [{"name", "rows", "ratios", "table", ...}]}. Ratios are
`tfbert row / other row` of median rates from the same `measure` call (above 1: tfbert faster).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks import common
from benchmarks.common import (
    VOCABULARY_CHECKPOINT,
    Settings,
    Vocabulary,
    keras_hub_backbone,
    load_texts,
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

# =================================================================================================
# Tokenization
# =================================================================================================
# A tokenizer case: `run()` encodes all texts, in batches, and returns its raw outputs; `collect`
# turns those into ([texts, max_length] token ids, [texts, max_length] 0/1 mask) numpy arrays.
Collect = Callable[[Any], tuple[np.ndarray, np.ndarray]]


def _collect_tf(outputs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.concatenate([np.asarray(out["token_ids"]) for out in outputs])
    mask = np.concatenate([np.asarray(out["padding_mask"]) for out in outputs])
    return ids.astype(np.int64), mask.astype(np.int64)


def _tf_variants(
    prefix: str,
    library: str,
    layer: Any,
    texts: list[str],
    batch_size: int,
    threads: int | None = None,
) -> list[tuple[str, str, Callable[[], Any], Collect]]:
    """A Keras preprocessing layer called three ways: compiled, in tf.data, and eagerly."""
    import tensorflow as tf

    batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
    compiled = tf.function(
        lambda strings: layer(strings), input_signature=[tf.TensorSpec([None], tf.string)]
    )
    dataset = (
        tf.data.Dataset.from_tensor_slices(texts)
        .batch(batch_size)
        .map(layer, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    if threads:
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        dataset = dataset.with_options(options)
    return [
        (f"{prefix}, tf.function", library, lambda: [compiled(b) for b in batches], _collect_tf),
        (f"{prefix}, tf.data", library, lambda: list(dataset), _collect_tf),
        (f"{prefix}, eager", library, lambda: [layer(b) for b in batches], _collect_tf),
    ]


def _tfbert_tokenizers(vocabulary: Vocabulary, texts: list[str], settings: Settings) -> list:
    from tfbert.text.tokenizer import BertTokenizer

    layer = BertTokenizer(
        vocabulary.tokens,
        max_length=settings.max_length,
        lowercase=vocabulary.lowercase,
        strip_accents=vocabulary.strip_accents,
    )
    return _tf_variants(
        "tfbert BertTokenizer", "tfbert", layer, texts, settings.batch_size, settings.threads
    )


def _keras_hub_tokenizers(vocabulary: Vocabulary, texts: list[str], settings: Settings) -> list:
    keras_hub = common.optional_import("keras_hub")
    tokenizer = keras_hub.tokenizers.BertTokenizer(
        vocabulary=vocabulary.tokens,
        lowercase=vocabulary.lowercase,
        strip_accents=vocabulary.strip_accents,
    )
    layer = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=settings.max_length
    )
    name = "keras-hub BertTextClassifierPreprocessor"
    return _tf_variants(name, "keras-hub", layer, texts, settings.batch_size, settings.threads)


def _transformers_tokenizer(vocabulary: Vocabulary, texts: list[str], settings: Settings) -> list:
    transformers = common.optional_import("transformers")
    tokenizer = transformers.BertTokenizerFast(
        vocab=vocabulary.ids,
        do_lower_case=vocabulary.lowercase,
        strip_accents=vocabulary.strip_accents,
    )
    size, length = settings.batch_size, settings.max_length
    batches = [texts[i : i + size] for i in range(0, len(texts), size)]

    def run() -> list[Any]:
        return [
            tokenizer(
                b, padding="max_length", truncation=True, max_length=length, return_tensors="np"
            )
            for b in batches
        ]

    def collect(outputs: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.concatenate([out["input_ids"] for out in outputs])
        return ids.astype(np.int64), np.concatenate([out["attention_mask"] for out in outputs])

    name = "transformers BertTokenizerFast (numpy)"
    return [(name, "transformers", run, collect)]


def _tokenizers_tokenizer(vocabulary: Vocabulary, texts: list[str], settings: Settings) -> list:
    tokenizers = common.optional_import("tokenizers")
    tokenizer = tokenizers.BertWordPieceTokenizer(
        vocabulary.ids, lowercase=vocabulary.lowercase, strip_accents=vocabulary.strip_accents
    )
    tokenizer.enable_truncation(max_length=settings.max_length)
    tokenizer.enable_padding(length=settings.max_length, pad_id=0, pad_token="[PAD]")
    size = settings.batch_size
    batches = [texts[i : i + size] for i in range(0, len(texts), size)]

    def run() -> list[tuple[np.ndarray, np.ndarray]]:
        outputs = []
        for batch in batches:  # arrays, as a model needs them (not just Encoding objects)
            encodings = tokenizer.encode_batch(batch)
            outputs.append(
                (
                    np.array([e.ids for e in encodings], dtype=np.int32),
                    np.array([e.attention_mask for e in encodings], dtype=np.int32),
                )
            )
        return outputs

    def collect(outputs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.concatenate([ids for ids, _ in outputs]).astype(np.int64)
        return ids, np.concatenate([mask for _, mask in outputs]).astype(np.int64)

    name = "tokenizers BertWordPieceTokenizer (numpy)"
    return [(name, "tokenizers", run, collect)]


def tokenization_cases(texts: list[str], vocabulary: Vocabulary, settings: Settings) -> list[Case]:
    """Every tokenizer encoding `texts` (one call = all of them, in batches), checked once.

    The check runs each tokenizer once before timing and records, per row, the non-padding
    tokens it produced ([CLS] and [SEP] included), their share of [UNK], and how many texts got
    exactly tfbert's ids: the peers share the vocabulary, so their counts should agree.
    """
    builders: list[tuple[str, str, Callable[[], list]]] = [
        ("tfbert BertTokenizer", "tfbert", lambda: _tfbert_tokenizers(vocabulary, texts, settings)),
        (
            "transformers BertTokenizerFast (numpy)",
            "transformers",
            lambda: _transformers_tokenizer(vocabulary, texts, settings),
        ),
        (
            "tokenizers BertWordPieceTokenizer (numpy)",
            "tokenizers",
            lambda: _tokenizers_tokenizer(vocabulary, texts, settings),
        ),
        (
            "keras-hub BertTextClassifierPreprocessor",
            "keras-hub",
            lambda: _keras_hub_tokenizers(vocabulary, texts, settings),
        ),
    ]
    unk = vocabulary.tokens.index("[UNK]")
    cases: list[Case] = []
    reference_ids: np.ndarray | None = None
    reference_tokens = 0
    for name, library, build in builders:
        progress(f"tokenization: setting up {name}")
        try:
            variants = build()
        except Exception as error:  # a peer that cannot run must not stop the others
            if library == "tfbert":
                raise
            cases.append(unavailable(name, library, error, "texts"))
            continue
        for variant, variant_library, run, collect in variants:
            try:
                ids, mask = collect(run())
            except Exception as error:
                if library == "tfbert":
                    raise
                cases.append(unavailable(variant, variant_library, error, "texts"))
                continue
            tokens = int(mask.sum())
            if reference_ids is None:
                reference_ids, reference_tokens = ids, tokens
            same = (
                float(np.mean(np.all(ids == reference_ids, axis=1)))
                if ids.shape == reference_ids.shape
                else 0.0
            )
            info = {
                "tokens": tokens,
                "tokens_per_text": tokens / len(texts),
                "tokens_vs_tfbert": tokens / reference_tokens if reference_tokens else None,
                "same_ids_as_tfbert": same,
                "unk_fraction": float(((ids == unk) & (mask > 0)).sum() / max(tokens, 1)),
            }
            cases.append(
                Case(
                    variant, run, units=len(texts), unit="texts", library=variant_library, info=info
                )
            )
    return cases


def tokenization(settings: Settings) -> dict[str, Any]:
    """Texts/s and tokens/s of tokenizing real reviews to padded ids, for each text set."""
    progress(f"tokenization: reading the {VOCABULARY_CHECKPOINT} vocabulary")
    vocabulary = load_vocabulary()
    casing = ("lowercased" if vocabulary.lowercase else "cased") + (
        ", accents stripped" if vocabulary.strip_accents else ""
    )
    groups = []
    for dataset in settings.datasets:
        progress(f"tokenization: loading {dataset} test texts")
        texts = load_texts(dataset, settings.num_texts, settings.seed)
        cases = tokenization_cases(texts, vocabulary, settings)
        rates = measure(
            cases,
            settings.repeats,
            settings.min_seconds,
            settings.warmup,
            progress=lambda m, d=dataset: progress(f"tokenization {d}: {m}"),
        )
        progress_done()
        rows = summarise(cases, rates)
        for row in rows:
            if row["median"] is not None:
                row["tokens_per_s"] = row["median"] * row["tokens_per_text"]
        tfbert_rows = [r["name"] for r in rows if r["library"] == "tfbert" and r["median"]]
        pairs = ratios(rows, tfbert_rows)
        pairs += ratios(rows, tfbert_rows, key="tokens_per_s", metric="tokens/s")
        mean_chars = float(np.mean([len(t) for t in texts]))
        title = (
            f"tokenization: {dataset} test split, {len(texts):,} texts (seeded sample, mean "
            f"{mean_chars:,.0f} characters), batches of {settings.batch_size}, padded/truncated "
            f"to {settings.max_length} tokens, {VOCABULARY_CHECKPOINT} vocabulary "
            f"({len(vocabulary.tokens):,} WordPieces, {casing}); median of {settings.repeats} "
            "interleaved rounds"
        )
        table = render_table(
            rows,
            _tokenization_columns(rows, tfbert_rows),
            title=title,
            notes=[
                "tokens: non-padding tokens produced ([CLS]/[SEP] included), [UNK]: their share of "
                "[UNK]; same: share of texts with exactly tfbert's ids;",
                "X/row: how many times faster tfbert's X row is than the row (same rounds).",
            ],
        )
        print(table + "\n", flush=True)
        groups.append(
            {
                "name": dataset,
                "texts": len(texts),
                "mean_characters": mean_chars,
                "rows": rows,
                "ratios": pairs,
                "table": table,
            }
        )
    return {
        "scenario": "tokenization",
        "settings": {
            **settings.to_dict(),
            "batch_size": settings.batch_size,  # the first of batch_sizes, the one used here
            "max_length": settings.max_length,
            "vocabulary": f"{VOCABULARY_CHECKPOINT}'s ({len(vocabulary.tokens)} WordPieces, "
            f"{casing}) for every tokenizer; Chinese text uses the same English vocabulary: CJK "
            "characters become single-character tokens when in it, else [UNK]",
            "one_call": "tokenize all texts, batch by batch, to padded int arrays/tensors; the "
            "tf.data rows iterate a fresh pipeline (one epoch) per call",
            "rate": "texts/s; tokens/s = texts/s x the row's non-padding tokens per text",
        },
        "groups": groups,
    }


def _tokenization_columns(rows: list[dict[str, Any]], references: Sequence[str]) -> list[Column]:
    labels = {name: name.rsplit(", ", 1)[-1] for name in references}
    return [
        Column("texts/s", lambda r: format_number(r["median"])),
        Column("tokens/s", lambda r: format_number(r["tokens_per_s"])),
        Column("tokens", lambda r: f"{r['tokens']:,}"),
        Column("[UNK]", lambda r: f"{r['unk_fraction']:.1%}"),
        Column("same", lambda r: f"{r['same_ids_as_tfbert']:.0%}"),
        *rate_columns(rows, references[:2], labels),
    ]


# =================================================================================================
# Encoder
# =================================================================================================
# Short headers of the tfbert encoder rows' ratio columns.
_ENCODER_LABELS = {
    "tfbert BertEncoder, tf.function": "graph",
    "tfbert BertEncoder, tf.function XLA": "XLA",
    "tfbert BertEncoder, bfloat16 Dense": "bf16",
}


def encoder_flops(config: BertConfig, length: int) -> dict[str, int]:
    """Matmul FLOPs of one example through the encoder (2 per multiply-add), by part.

    Per layer and token: Q, K, V and output projections 4 x 2*H*H; attention scores (each query
    against `length` keys, all heads together H wide) 2*length*H and the weighted sum of values
    as much; the feed-forward network 2 x 2*H*I. The pooler is one H x H matmul on [CLS].
    Embedding lookups, LayerNorm, softmax and GELU are not matmuls and are not counted.
    """
    h, i, n = config.hidden_size, config.intermediate_size, length
    parts = {
        "qkv_projections": config.num_layers * 3 * 2 * n * h * h,
        "attention_output_projection": config.num_layers * 2 * n * h * h,
        "attention_scores": config.num_layers * 2 * n * n * h,
        "attention_weighted_sum": config.num_layers * 2 * n * n * h,
        "feed_forward": config.num_layers * 2 * 2 * n * h * i,
        "pooler": 2 * h * h,
    }
    parts["total"] = sum(parts.values())
    return parts


def _encoder_inputs(config: BertConfig, batch: int, length: int, seed: int) -> dict[str, Any]:
    """All-valid numpy inputs: random non-special token ids, segment 0, no padding."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(1000, config.vocab_size, size=(batch, length), dtype=np.int32)
    if config.vocab_size <= 1000:
        token_ids = rng.integers(0, config.vocab_size, size=(batch, length), dtype=np.int32)
    return {
        "token_ids": token_ids,
        "segment_ids": np.zeros((batch, length), np.int32),
        "padding_mask": np.ones((batch, length), np.int32),
    }


def _tfbert_encoders(config: BertConfig, inputs: dict[str, np.ndarray]) -> list:
    import tensorflow as tf

    from tfbert.modeling.bert import BertEncoder
    from tfbert.training.precision import INFERENCE_POLICIES, dtype_policy

    encoder = BertEncoder(config)
    encoder.build()
    # The inference-precision copy (BertClassifier.for_inference's policy): bfloat16 Dense
    # weights and matmuls, the rest float32; same weights, rounded.
    with dtype_policy(INFERENCE_POLICIES["bfloat16"]):
        fast = BertEncoder(config)
        fast.build()
    fast.set_weights(encoder.get_weights())
    tensors = {key: tf.constant(value) for key, value in inputs.items()}
    call = lambda x: encoder(x, training=False)
    plain, xla = tf.function(call), tf.function(call, jit_compile=True)
    fast_call = tf.function(lambda x: fast(x, training=False))
    return [
        ("tfbert BertEncoder, tf.function", "tfbert", lambda: plain(tensors), "float32"),
        ("tfbert BertEncoder, tf.function XLA", "tfbert", lambda: xla(tensors), "float32"),
        ("tfbert BertEncoder, bfloat16 Dense", "tfbert", lambda: fast_call(tensors), "bfloat16"),
    ]


def _keras_hub_encoder(config: BertConfig, inputs: dict[str, np.ndarray]) -> list:
    keras_hub = common.optional_import("keras_hub")
    import tensorflow as tf

    backbone = keras_hub_backbone(keras_hub, config)
    tensors = {key: tf.constant(value) for key, value in inputs.items()}
    compiled = tf.function(lambda x: backbone(x, training=False))
    name = "keras-hub BertBackbone, tf.function"
    return [(name, "keras-hub", lambda: compiled(tensors), "float32")]


def _transformers_encoder(config: BertConfig, inputs: dict[str, np.ndarray], seed: int) -> list:
    torch = common.optional_import("torch")
    transformers = common.optional_import("transformers")

    torch.manual_seed(seed)
    model = transformers.BertModel(transformers_config(transformers, config)).eval()
    tensors = {
        "input_ids": torch.from_numpy(inputs["token_ids"].astype(np.int64)),
        "token_type_ids": torch.from_numpy(inputs["segment_ids"].astype(np.int64)),
        "attention_mask": torch.from_numpy(inputs["padding_mask"].astype(np.int64)),
    }

    def float32() -> Any:
        with torch.inference_mode():
            return model(**tensors)

    def bfloat16() -> Any:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            return model(**tensors)

    attention = getattr(model.config, "_attn_implementation", None) or "default"
    return [
        (f"transformers BertModel, torch ({attention})", "transformers", float32, "float32"),
        (
            f"transformers BertModel, torch bf16 autocast ({attention})",
            "transformers",
            bfloat16,
            "bfloat16",
        ),
    ]


def _matmul_case(size: int, dtype: str) -> Case:
    """A size x size matmul through TF (oneDNN on CPU), in FLOPs: the machine's peak now."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = tf.cast(tf.constant(rng.standard_normal((size, size), np.float32)), dtype)
    b = tf.cast(tf.constant(rng.standard_normal((size, size), np.float32)), dtype)
    name, info = f"TF matmul {size}x{size} {dtype}", {"precision": dtype, "role": "peak"}
    run = lambda: tf.linalg.matmul(a, b)
    try:
        run()
    except Exception as error:  # e.g. no bfloat16 matmul kernel on this CPU
        case = unavailable(name, "tensorflow", error, "FLOP")
        case.info = info
        return case
    return Case(name, run, units=2 * size**3, unit="FLOP", library="tensorflow", info=info)


def encoder_cases(config: BertConfig, settings: Settings, flops: int) -> list[Case]:
    """The encoder variants and the matmul peaks, in one list so they are timed interleaved."""
    inputs = _encoder_inputs(config, settings.batch_size, settings.max_length, settings.seed)
    builders: list[tuple[str, str, Callable[[], list]]] = [
        ("tfbert BertEncoder", "tfbert", lambda: _tfbert_encoders(config, inputs)),
        ("keras-hub BertBackbone", "keras-hub", lambda: _keras_hub_encoder(config, inputs)),
        (
            "transformers BertModel",
            "transformers",
            lambda: _transformers_encoder(config, inputs, settings.seed),
        ),
    ]
    cases: list[Case] = []
    for name, library, build in builders:
        progress(f"encoder: setting up {name}")
        try:
            variants = build()
        except Exception as error:
            if library == "tfbert":
                raise
            cases.append(unavailable(name, library, error, "examples"))
            continue
        for variant, variant_library, run, precision in variants:
            info = {"precision": precision, "flops_per_example": flops, "role": "model"}
            try:
                run()  # also the first trace/compile; a failure here is reported, not timed
            except Exception as error:
                if library == "tfbert":
                    raise
                cases.append(unavailable(variant, variant_library, error, "examples"))
                continue
            cases.append(
                Case(
                    variant,
                    run,
                    units=settings.batch_size,
                    unit="examples",
                    library=variant_library,
                    info=info,
                )
            )
    for dtype in ("float32", "bfloat16"):
        cases.append(_matmul_case(settings.matmul_size, dtype))
    return cases


def encoder(settings: Settings) -> dict[str, Any]:
    """Forward-only examples/s of the encoder at one shape, with FLOPs and peak utilisation."""
    config = BertConfig.from_preset(settings.preset)
    batch, length = settings.batch_size, settings.max_length
    if length > config.max_position_embeddings:
        raise ValueError(
            f"--max-length {length} exceeds the {settings.preset} preset's "
            f"{config.max_position_embeddings} positions."
        )
    parts = encoder_flops(config, length)
    cases = encoder_cases(config, settings, parts["total"])
    rates = measure(
        cases,
        settings.repeats,
        settings.min_seconds,
        settings.warmup,
        progress=lambda m: progress(f"encoder: {m}"),
    )
    progress_done()
    all_rows = summarise(cases, rates)
    peaks = {row["precision"]: row for row in all_rows if row.get("role") == "peak"}
    rows = [row for row in all_rows if row.get("role") != "peak"]
    for row in rows:
        if row["median"] is None:
            continue
        row["gflops"] = row["median"] * parts["total"] / 1e9
        for precision, peak in peaks.items():
            if peak["median"]:
                row[f"peak_fraction_{precision}"] = row["gflops"] * 1e9 / peak["median"]
        row["peak_fraction"] = row.get(f"peak_fraction_{row['precision']}")
    tfbert_rows = [r["name"] for r in rows if r["library"] == "tfbert" and r["median"]]
    pairs = ratios(rows, tfbert_rows)
    name = f"batch {batch} x {length} tokens"
    title = (
        f"encoder: {settings.preset} sizes ({config.num_layers} layers, hidden "
        f"{config.hidden_size}, {config.num_heads} heads, FFN {config.intermediate_size}), "
        f"{name}, all tokens valid, forward only, random weights; "
        f"{parts['total'] / 1e9:,.3g} GFLOP per example (matmuls); median of "
        f"{settings.repeats} interleaved rounds"
    )
    peak_notes = [
        f"{precision} matmul peak: {format_number(row['median'] and row['median'] / 1e9)} "
        f"GFLOP/s ({row['name']}, median of the same rounds)"
        + ("" if row["median"] else f" ({row['status']})")
        for precision, row in peaks.items()
    ]
    columns = [
        Column("dtype", lambda r: short_dtype(r["precision"]), "<"),
        Column("ex/s", lambda r: format_number(r["median"])),
        Column("GFLOP/s", lambda r: format_number(r["gflops"])),
        Column("%peak", lambda r: percent(r.get("peak_fraction"))),
        *rate_columns(rows, tfbert_rows, {n: _ENCODER_LABELS.get(n, n) for n in tfbert_rows}),
    ]
    table = render_table(
        rows,
        columns,
        title=title,
        notes=[
            *peak_notes,
            "ex/s: examples/s; dtype: f32 = float32, bf16 = bfloat16; %peak: achieved GFLOP/s "
            "over the matmul peak of the row's precision; X/row: how many times faster "
            "tfbert's X row (graph = tf.function, XLA, bf16 = bfloat16 Dense) is than the row.",
        ],
    )
    print(table + "\n", flush=True)
    threads = {**thread_counts(), "requested": settings.threads}
    return {
        "scenario": "encoder",
        "settings": {
            **settings.to_dict(),
            "batch_size": settings.batch_size,  # the first of batch_sizes, the one used here
            "max_length": settings.max_length,
            "config": config.to_dict(),
            "weights": "random (speed does not depend on the values)",
            "flops_per_example": parts,
            "threads": threads,
            "rate": "examples/s; one call = one batch forward, no gradients",
        },
        "groups": [
            {
                "name": name,
                "rows": rows,
                "ratios": pairs,
                "peaks_gflops": {
                    p: (r["median"] / 1e9 if r["median"] else None) for p, r in peaks.items()
                },
                "peak_rows": list(peaks.values()),
                "table": table,
            }
        ],
    }
