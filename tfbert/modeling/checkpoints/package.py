"""A compact, documented copy of a pretrained BERT: what tfbert ships inside its package.

`package_checkpoint(source, destination)` turns the output of `tfbert pretrain` (or one of its
`step-N` snapshots, or any Hugging Face-layout BERT directory tfbert reads) into a directory to
hand on: `config.json`, `vocab.txt`, `tokenizer_config.json`, `model.safetensors` with the
floating-point weights stored in half precision, and `README.md`, the model card. The card's
first line is a one-line description (`tfbert datasets` lists it for a shipped checkpoint); a
table of facts read from the source follows (sizes, parameters, vocabulary and, for a pretraining
output, the objective, steps, batch, tokens seen, training time and the command's settings),
then the sections the caller gives (the corpus and its sources, fine-tuning scores, ...).

    from tfbert.modeling.checkpoints import package_checkpoint
    package_checkpoint("runs/zh-bert", "tfbert/pretrained/zh-small",
                       card={"Corpus": "...", "Fine-tuning": "..."})

A directory placed in `tfbert/pretrained/` this way is a built-in name (`--init-from zh-small`,
`BertClassifier.from_pretrained("zh-small", labels=[...])`). Readers widen the weights back to
float32, so a packaged checkpoint fine-tunes like its source, within half-precision rounding.

float16 (the default) keeps 10 mantissa bits and is read by numpy and every framework; values
beyond its range (65,504) are refused rather than turned into infinities. bfloat16 keeps float32's
range with 7 mantissa bits; numpy reads it through `ml_dtypes` (TensorFlow's dependency). Both
take two bytes a parameter on disk, but bfloat16 compresses better wherever files are stored
compressed (git objects, wheels): its high byte is the sign and most of the exponent, which vary
little across a tensor.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tfbert.config import PACKAGE_DTYPES
from tfbert.contract import (
    CONFIG_FILE,
    PRETRAIN_HISTORY_FILE,
    RUN_MARKER,
    VOCAB_FILE,
    WEIGHTS_FILE,
    snapshot_step,
)
from tfbert.errors import MissingDependencyError, ModelFileError, TfbertError
from tfbert.files import fsync_directory, make_public, read_json_object
from tfbert.modeling.checkpoints.huggingface import (
    HF_INDEX,
    HF_TOKENIZER_CONFIG,
    _read_hf_tensors,
    write_tokenizer_config,
)
from tfbert.modeling.checkpoints.loader import load_pretrained, resolve_checkpoint
from tfbert.modeling.checkpoints.pretrained import PretrainedBert, _read_json, _write_json
from tfbert.pretrained import MODEL_CARD
from tfbert.text.vocab import save_vocabulary
from tfbert.weights import save_tensors

POOLING_DIR = "1_Pooling"  # sentence-transformers' pooling settings, kept when the source has them
# Every entry `package_checkpoint` writes: all that replacing an earlier package may remove.
PACKAGE_ENTRIES = frozenset(
    {CONFIG_FILE, VOCAB_FILE, HF_TOKENIZER_CONFIG, WEIGHTS_FILE, MODEL_CARD, POOLING_DIR}
)
HEAD_PREFIX = "cls."  # the Hugging Face pretraining heads: masked LM and next-sentence prediction
ENCODER_PREFIX = "bert."  # encoder tensors' prefix in a checkpoint that also holds the heads
OBJECTIVE_NAMES = {
    "mlm-nsp": "masked LM + next-sentence prediction",
    "mlm": "masked LM",
    "electra": "ELECTRA replaced-token detection (the discriminator)",
}
THROUGHPUT_KEYS = ("examples_per_second", "tokens_per_second", "learning_rate")
ALIASES = {"accumulation": ("gradient_accumulation_steps", "gradient_accumulation")}


@dataclasses.dataclass
class PretrainingRun:
    """What a pretraining output says about how it was made (each field None when unknown).

    `settings` are `tfbert pretrain`'s options (from the run's marker file); `record` is its
    `pretrain_history.json`; `steps` the updates behind these weights (a snapshot's own count);
    `tokens_per_example` the real tokens of an average example (possibly from the whole run's
    record when the weights are a snapshot of it).
    """

    settings: dict[str, Any] | None = None
    record: dict[str, Any] | None = None
    steps: int | None = None
    tokens_per_example: float | None = None

    @classmethod
    def read(cls, directory: Path) -> PretrainingRun:
        """The run behind `directory`: the directory itself, or a `step-N` snapshot inside it."""
        run = cls(record=read_json_object(directory / PRETRAIN_HISTORY_FILE))
        marker = read_json_object(directory / RUN_MARKER)
        snapshot = snapshot_step(directory.name)
        if marker is None and snapshot is not None:
            marker = read_json_object(directory.parent / RUN_MARKER)
            whole_run = read_json_object(directory.parent / PRETRAIN_HISTORY_FILE) or {}
            run.steps = snapshot
            run.tokens_per_example = _number(whole_run.get("tokens_per_example"))
        if marker is not None and marker.get("command") == "pretrain":
            run.settings = (
                marker.get("settings") if isinstance(marker.get("settings"), dict) else {}
            )
        if run.record is not None:
            run.steps = run.steps or _whole(run.record.get("steps"))
            run.tokens_per_example = _number(run.record.get("tokens_per_example"))
        return run

    def setting(self, name: str) -> Any:
        """A setting of the run's record, else of its command line, else None."""
        # The record and the command line name gradient accumulation differently.
        names = ALIASES.get(name, (name,))
        for values in (self.record or {}, self.settings or {}):
            found = next((values[key] for key in names if values.get(key) is not None), None)
            if found is not None:
                return found
        return None

    def sequences(self) -> int | None:
        """Sequences per update (batch size x gradient accumulation)."""
        batch = _whole(self.setting("batch_size"))
        return None if batch is None else batch * (_whole(self.setting("accumulation")) or 1)

    def training_seconds(self) -> tuple[float, bool] | None:
        """(seconds, measured): the training time the record gives, else the sum of each
        epoch's examples over its throughput (an estimate); None when neither is known."""
        record = self.record or {}
        seconds = _number(record.get("training_seconds"))
        if seconds is not None:
            return seconds, True
        rates = (record.get("history") or {}).get("examples_per_second") or []
        steps, sequences = _whole(record.get("steps")), self.sequences()
        if not rates or steps is None or sequences is None or not all(r and r > 0 for r in rates):
            return None
        per_epoch = steps * sequences / len(rates)  # every epoch of a run without a budget
        return sum(per_epoch / rate for rate in rates), False


def package_checkpoint(
    source: str | Path,
    destination: str | Path,
    *,
    dtype: str = "float16",
    keep_mlm_head: bool = True,
    dropout: float | None = None,
    card: Mapping[str, str] | None = None,
    description: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Writes a compact copy of the BERT checkpoint `source` to `destination`, with a model card.

    `source`: a `tfbert pretrain` output directory, one of its `step-N` snapshots, or any
    Hugging Face-layout BERT directory (or built-in name) tfbert reads. `dtype`: "float16" or
    "bfloat16", the type every floating-point tensor is stored in. `keep_mlm_head=False` drops
    the pretraining heads (`cls.*`): a classifier does not use them, continued pretraining
    does. `dropout`: the hidden and attention dropout the copy's config states, which is what
    fine-tuning uses unless told otherwise (a run pretrained without dropout hands on BERT's
    0.1 this way); default: the source's. `card`: extra sections of the model card, title ->
    Markdown text (the corpus and its sources, scores, licence, ...). `description`: the
    card's first line (default: one made from the facts). `overwrite`: replace an earlier
    package at `destination`; a directory holding anything `package_checkpoint` does not write
    is never replaced.

    The directory is staged beside `destination` and renamed into place, so a crash leaves
    either the old directory or the new one; files get the usual permissions. Returns
    `destination`. Raises a `TfbertError` naming the problem and the fix (a
    `ModelFileError` for a source that is no usable checkpoint).
    """
    if dtype not in PACKAGE_DTYPES:
        raise TfbertError(f"dtype must be one of {', '.join(PACKAGE_DTYPES)}, got {dtype!r}.")
    sections = _checked_card(card, description)
    source = resolve_checkpoint(source)
    destination = Path(destination).expanduser()
    _check_destination(source, destination, overwrite)
    pretrained = load_pretrained(source)  # checks config, tensors and vocabulary agree
    source = source.parent if source.is_file() else source  # its model.safetensors, say
    values = _huggingface_config(source)
    tensors, _ = _read_hf_tensors(source)
    tensors = _packed_tensors(tensors, dtype, keep_mlm_head, source)
    if not keep_mlm_head and values.get("architectures") != ["BertModel"]:
        values["architectures"] = ["BertModel"]
    values["torch_dtype"] = dtype
    if dropout is not None:
        if not 0 <= dropout < 1:
            raise TfbertError(f"dropout must be in [0, 1), got {dropout!r}.")
        values["hidden_dropout_prob"] = values["attention_probs_dropout_prob"] = float(dropout)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.partial-", dir=destination.parent))
    try:  # config.json last: a staging directory left by a crash is no checkpoint to list
        save_vocabulary(pretrained.vocabulary, staging / VOCAB_FILE)
        write_tokenizer_config(
            staging,
            pretrained.lowercase,
            pretrained.strip_accents,
            pretrained.config.max_position_embeddings,
        )
        if (source / POOLING_DIR / CONFIG_FILE).is_file():
            (staging / POOLING_DIR).mkdir()
            shutil.copyfile(source / POOLING_DIR / CONFIG_FILE, staging / POOLING_DIR / CONFIG_FILE)
        weights = _save_weights(tensors, staging / WEIGHTS_FILE, dtype)
        text = model_card(
            pretrained,
            PretrainingRun.read(source),
            weights,
            dtype=dtype,
            name=destination.name,
            head_parameters=_head_parameters(pretrained) if keep_mlm_head else 0,
            dropout=values.get("hidden_dropout_prob"),
            sections=sections,
            description=description,
        )
        (staging / MODEL_CARD).write_text(text, encoding="utf-8")
        _write_json(staging / CONFIG_FILE, values)
        make_public(staging)
        _move_into_place(staging, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination


def _checked_card(card: Mapping[str, str] | None, description: str | None) -> dict[str, str]:
    if description is not None and (
        not isinstance(description, str) or not description.strip() or "\n" in description
    ):
        raise TfbertError(
            f"the card's description must be one non-empty line of text, got {description!r}."
        )
    sections = dict(card or {})
    for title, text in sections.items():
        if not isinstance(title, str) or not title.strip() or "\n" in title:
            raise TfbertError(f"a card section's title must be one line of text, got {title!r}.")
        if not isinstance(text, str):
            raise TfbertError(
                f"the card section {title!r} must be Markdown text, got {type(text).__name__}."
            )
    return sections


def _check_destination(source: Path, destination: Path, overwrite: bool) -> None:
    """Refuses, before any work, a destination that is the source or holds it, is a file, or
    exists without `overwrite` or holds entries a package does not have."""
    if source.resolve().is_relative_to(destination.resolve()):
        raise TfbertError(
            f"{destination} is (or holds) the checkpoint being packaged; write the package "
            "elsewhere."
        )
    if destination.is_file():
        raise TfbertError(f"{destination} is a file; give a directory (new or a package).")
    if not destination.exists():
        return
    if not overwrite:
        raise TfbertError(
            f"{destination} already exists; pass overwrite=True (--overwrite) to replace an "
            "earlier package, or choose another destination."
        )
    foreign = sorted(p.name for p in destination.iterdir() if p.name not in PACKAGE_ENTRIES)
    if foreign:
        raise TfbertError(
            f"{destination} holds entries a packaged checkpoint does not have "
            f"({', '.join(foreign[:5])}), so it may be yours: it is not replaced; choose "
            "another destination."
        )


def _huggingface_config(source: Path) -> dict[str, Any]:
    """The source's Hugging Face config.json, refusing the layouts this copy cannot keep."""
    path = source / CONFIG_FILE
    weights = (source / WEIGHTS_FILE).is_file() or (source / HF_INDEX).is_file()
    values = _read_json(path) if path.is_file() else None
    if values is None or not weights or "format" in values or "backbone" in values:
        raise ModelFileError(
            f"{source} is not a Hugging Face-layout BERT directory (config.json with "
            "model.safetensors), which is what packaging copies; `tfbert pretrain` writes one, "
            "and `tfbert.modeling.checkpoints.export_huggingface` converts an encoder to one."
        )
    return values


def _packed_tensors(
    tensors: dict[str, np.ndarray], dtype: str, keep_mlm_head: bool, source: Path
) -> dict[str, np.ndarray]:
    """The tensors to store: floating ones cast to `dtype`, the heads dropped unless kept (the
    encoder's `bert.` prefix goes with them: a plain `BertModel` has none)."""
    target = _numpy_dtype(dtype)
    limit = float(np.finfo(np.float16).max)
    packed = {}
    for name, value in tensors.items():
        bare = name.removeprefix(ENCODER_PREFIX)
        if not keep_mlm_head:
            if bare.startswith(HEAD_PREFIX):
                continue
            name = bare
        if np.issubdtype(value.dtype, np.floating):
            if dtype == "float16" and value.size and float(np.max(np.abs(value))) > limit:
                raise ModelFileError(
                    f"{source}: tensor {name} holds values beyond float16's range (largest "
                    f"{float(np.max(np.abs(value))):.4g}); package it with dtype='bfloat16'."
                )
            value = value.astype(target)
        packed[name] = value
    return packed


def _numpy_dtype(dtype: str) -> Any:
    if dtype == "float16":
        return np.float16
    import ml_dtypes  # installed with TensorFlow and Keras

    return ml_dtypes.bfloat16


def _save_weights(tensors: dict[str, np.ndarray], path: Path, dtype: str) -> Path:
    try:
        return save_tensors(tensors, path, metadata={"format": "pt"})
    except (TypeError, ValueError) as error:  # an old safetensors without bfloat16 from numpy
        if dtype != "bfloat16":
            raise
        raise MissingDependencyError(
            f"this safetensors cannot write bfloat16 from numpy ({error}); upgrade it "
            "(pip install -U safetensors) or package with dtype='float16'."
        ) from None


def _move_into_place(staging: Path, destination: Path) -> None:
    """Renames `staging` onto `destination`, an earlier package there moved aside first."""
    old = None
    if destination.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{destination.name}.old-", dir=destination.parent))
        os.replace(destination, old / destination.name)
    try:
        os.replace(staging, destination)
    except OSError:
        if old is not None:
            os.replace(old / destination.name, destination)  # put the earlier package back
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    fsync_directory(destination.parent)


def _head_parameters(pretrained: PretrainedBert) -> int:
    return sum(int(v.size) for v in (pretrained.mlm_weights or {}).values())


# ----- the model card ---------------------------------------------------------------------------


def model_card(
    pretrained: PretrainedBert,
    run: PretrainingRun,
    weights: Path,
    *,
    dtype: str,
    name: str,
    head_parameters: int = 0,
    dropout: float | None = None,
    sections: Mapping[str, str] | None = None,
    description: str | None = None,
) -> str:
    """The Markdown model card of a packaged checkpoint: `description` (or one made from the
    facts) as its first line, the table of facts, how to use it, then `sections`. `dropout`:
    the dropout the copy's config states, which fine-tuning starts with."""
    config = pretrained.config
    parameters = sum(int(v.size) for v in pretrained.encoder_weights.values())
    objective = run.setting("objective")
    first = description or _description(config, parameters, objective, run.steps)
    facts = [
        (
            "Architecture",
            f"BERT encoder: {config.num_layers} layers, hidden size {config.hidden_size}, "
            f"{config.num_heads} attention heads, feed-forward size {config.intermediate_size:,}, "
            f"up to {config.max_position_embeddings:,} positions",
        ),
        ("Parameters", _parameter_text(parameters, head_parameters)),
        ("Vocabulary", _vocabulary_text(pretrained, run)),
        (
            "Weights",
            f"{WEIGHTS_FILE}, {dtype}, {weights.stat().st_size / 1e6:.1f} MB, sha256 "
            f"{_sha256(weights)}",
        ),
    ]
    facts += _run_facts(run)
    if dropout is not None:
        facts.append(("Fine-tuning dropout", f"{dropout:g} (config.json; `--dropout` changes it)"))
    lines = [first, "", "## Facts", "", "| | |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in facts]
    lines += [
        "",
        "## Use",
        "",
        "A starting point for fine-tuning (the weights load as float32):",
        "",
        "```bash",
        f"tfbert train --init-from {name} --train-file train.csv --output-dir runs/mine",
        "```",
        "",
        "```python",
        "from tfbert.tasks.classifier import BertClassifier",
        f'model = BertClassifier.from_pretrained("{name}", labels=["negative", "positive"])',
        "```",
    ]
    for title, text in (sections or {}).items():
        lines += ["", f"## {title.strip()}", "", text.strip()]
    return "\n".join(lines) + "\n"


def _description(config: Any, parameters: int, objective: Any, steps: int | None) -> str:
    text = (
        f"A {config.num_layers}-layer BERT encoder (hidden size {config.hidden_size}, "
        f"{parameters / 1e6:.1f}M parameters, {config.vocab_size:,}-token vocabulary)"
    )
    if objective in OBJECTIVE_NAMES:
        text += f" pretrained by tfbert with {OBJECTIVE_NAMES[objective]}"
        text += f" for {steps:,} steps" if steps else ""
    return text + "."


def _parameter_text(parameters: int, head_parameters: int) -> str:
    text = f"{parameters:,} in the encoder"
    if head_parameters:
        text += f", {head_parameters:,} more in the pretraining heads (the masked-LM decoder "
        text += "shares the word embeddings)"
    return text


def _vocabulary_text(pretrained: PretrainedBert, run: PretrainingRun) -> str:
    text = f"{len(pretrained.vocabulary):,} WordPieces, {'' if pretrained.lowercase else 'not '}"
    text += "lowercased"
    vocab = run.setting("vocab")
    if vocab:
        text += f"; from `{Path(str(vocab)).name}`"
    elif run.settings is not None and not run.setting("init_from"):
        text += "; learned from the corpus"
    return text


def _run_facts(run: PretrainingRun) -> list[tuple[str, str]]:
    """The pretraining facts the run recorded, as (name, value) rows."""
    if run.settings is None and run.record is None:
        return []
    facts = []
    objective = run.setting("objective")
    if objective is not None:
        masking = run.setting("whole_word_masking")
        masking = {False: "none", True: "pieces"}.get(masking, masking)
        text = OBJECTIVE_NAMES.get(objective, str(objective))
        facts.append(("Objective", f"{text}; whole-word masking: {masking or 'none'}"))
    init_from = run.setting("init_from")
    if run.settings is not None:
        start = (
            f"the transformer layers of `{Path(str(init_from)).name}`"
            if init_from and run.setting("vocab")
            else f"`{Path(str(init_from)).name}`"
            if init_from
            else f"random initialisation (preset `{run.setting('preset') or 'mini'}`)"
        )
        facts.append(("Started from", start))
        facts.append(("Corpus", _corpus_text(run.settings)))
    sequences, length = run.sequences(), _whole(run.setting("max_length"))
    if run.steps is not None:
        batch = f" of {sequences:,} sequences" if sequences else ""
        batch += f" of up to {length} tokens" if sequences and length else ""
        facts.append(("Steps", f"{run.steps:,} updates{batch}"))
        if sequences and run.tokens_per_example:
            tokens = run.steps * sequences * run.tokens_per_example
            facts.append(("Tokens seen", _count(tokens)))
        elif sequences and length:
            bound = _count(run.steps * sequences * length)
            facts.append(("Tokens seen", f"at most {bound} (the mean was not recorded)"))
    timing = run.training_seconds()
    if timing is not None:
        seconds, measured = timing
        hours = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"
        facts.append(
            ("Training time", hours if measured else f"about {hours} (from each epoch's rate)")
        )
    schedule = [
        f"learning rate {run.setting('learning_rate'):g}" if run.setting("learning_rate") else "",
        f"warm-up {run.setting('warmup_fraction'):.0%}"
        if run.setting("warmup_fraction") is not None
        else "",
        f"dropout {run.setting('dropout'):g}" if run.setting("dropout") is not None else "",
        f"precision {run.setting('precision')}" if run.setting("precision") else "",
        f"seed {run.setting('seed')}" if run.setting("seed") is not None else "",
    ]
    if any(schedule):
        facts.append(("Settings", ", ".join(part for part in schedule if part)))
    last = {
        key: values[-1]
        for key, values in ((run.record or {}).get("history") or {}).items()
        if key not in THROUGHPUT_KEYS and values
    }
    if last and run.record is not None and _whole(run.record.get("steps")) == run.steps:
        scores = ", ".join(f"{key} {value:.4g}" for key, value in sorted(last.items()))
        facts.append(("Last epoch", scores))
    return facts


def _corpus_text(settings: dict[str, Any]) -> str:
    if settings.get("corpus"):
        return f"the built-in corpus `{settings['corpus']}` (`tfbert datasets` describes it)"
    if settings.get("dataset"):
        names = ", ".join(f"`{name}`" for name in settings["dataset"])
        return f"the training texts of {names}"
    files = [Path(str(f)).name for f in settings.get("text_files") or []]
    return f"text files {', '.join(files)}" if files else "not recorded"


def _count(number: float) -> str:
    """A large count the way a card says it: 1.23B, 45.6M, or in full below a million."""
    if number >= 1e9:
        return f"{number / 1e9:.2f}B"
    return f"{number / 1e6:.1f}M" if number >= 1e6 else f"{number:,.0f}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok else None


def _whole(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None
