"""`tfbert pretrain`: pretrain (or continue pretraining) BERT with masked LM + next sentence
prediction, masked LM alone or ELECTRA; the output directory loads into `tfbert train
--init-from`."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

from tfbert.cli import common
from tfbert.cli.common import dropout_rate, fraction, positive_float, positive_int, sequence_length
from tfbert.config import PRESETS, PRETRAINING_OBJECTIVES, WHOLE_WORD_MASKING
from tfbert.errors import TfbertError


def add_parser(commands: Any) -> None:
    pre = commands.add_parser(
        "pretrain",
        help="pretrain BERT (masked LM + next sentence prediction, masked LM, or ELECTRA)",
        description="Pretrain (or continue pretraining) a BERT encoder; its output directory "
        "loads into `tfbert train --init-from`.",
    )
    corpus = pre.add_mutually_exclusive_group(required=True)
    corpus.add_argument(
        "--dataset", nargs="+", help="built-in datasets whose TRAIN split texts form the corpus"
    )
    corpus.add_argument(
        "--corpus",
        help="a built-in pretraining corpus (`tfbert datasets` lists them), e.g. zh",
    )
    corpus.add_argument(
        "--text-files",
        nargs="+",
        help="corpus files/globs in BERT's format: one sentence per line, a blank "
        "line between documents",
    )
    pre_init = pre.add_mutually_exclusive_group()
    pre_init.add_argument(
        "--preset",
        choices=list(PRESETS),
        default=None,
        help="model size from scratch (default: mini)",
    )
    pre_init.add_argument(
        "--init-from",
        default=None,
        help="continue pretraining a checkpoint (a directory or a name `tfbert datasets` lists); "
        "with --vocab, keep its transformer layers under new word embeddings for that "
        "vocabulary, e.g. to adapt an English model to Chinese (default: none)",
    )
    pre.add_argument(
        "--vocab",
        default=None,
        help="vocab.txt, or the built-in bert-base-chinese (Google's Chinese BERT WordPieces) "
        "(default: learn one from the corpus)",
    )
    pre.add_argument(
        "--new-embeddings",
        choices=("similar", "random"),
        default="similar",
        help="with --init-from and --vocab, where the word embeddings of the tokens the "
        "checkpoint lacks start: similar (mixes of the shared tokens' embeddings, by how alike "
        "the corpus uses the tokens) or random (default: similar)",
    )
    pre.add_argument(
        "--vocab-size",
        type=positive_int,
        default=8000,
        help="largest size of the learned vocabulary (default: 8000)",
    )
    pre.add_argument(
        "--cased", action="store_true", help="keep case and accents (default: lowercase)"
    )
    pre.add_argument("--max-length", type=sequence_length, default=128, help="(default: 128)")
    pre.add_argument("--batch-size", type=positive_int, default=32, help="(default: 32)")
    pre.add_argument(
        "--steps", type=positive_int, default=10_000, help="optimizer updates (default: 10000)"
    )
    pre.add_argument(
        "--steps-per-epoch",
        type=positive_int,
        default=500,
        help="updates between logs/checkpoints (default: 500)",
    )
    pre.add_argument(
        "--objective",
        choices=PRETRAINING_OBJECTIVES,
        default="mlm-nsp",
        help="mlm-nsp: masked LM + next sentence prediction (BERT); mlm: masked LM alone; "
        "electra: replaced-token detection with a small generator, the discriminator being "
        "the saved model (default: mlm-nsp)",
    )
    pre.add_argument(
        "--gradient-accumulation",
        type=positive_int,
        default=1,
        metavar="N",
        help="average the gradients of N batches into one update: an effective batch of "
        "N x --batch-size; --steps and the schedule count updates (default: 1)",
    )
    pre.add_argument(
        "--time-budget",
        type=positive_float,
        default=None,
        metavar="MINUTES",
        help="stop after this much training wall time (counting resumed attempts) and save "
        "the model; compares objectives at equal time (default: none, train --steps)",
    )
    pre.add_argument("--learning-rate", type=positive_float, default=1e-4, help="(default: 0.0001)")
    pre.add_argument(
        "--warmup-fraction",
        type=fraction,
        default=0.01,
        help="share of the updates that warm the learning rate up; post-LN BERT needs a "
        "longer warm-up at high learning rates (default: 0.01)",
    )
    pre.add_argument(
        "--whole-word-masking",
        nargs="?",
        const="pieces",
        default="none",
        choices=WHOLE_WORD_MASKING,
        help="mask whole words: pieces (a token and its ## pieces; the flag alone means this) or "
        "jieba (the characters of a Chinese word, boundaries from jieba) (default: none)",
    )
    pre.add_argument(
        "--dropout",
        type=dropout_rate,
        default=None,
        help="hidden and attention dropout (default: the preset's or checkpoint's; short "
        "pretraining runs often do better with 0)",
    )
    pre.add_argument(
        "--precision",
        choices=common.PRECISION_CHOICES,
        default="float32",
        help="compute precision (default: float32)",
    )
    pre.add_argument(
        "--save-every",
        type=positive_int,
        default=None,
        metavar="STEPS",
        help="also save the model every STEPS updates (a multiple of --steps-per-epoch) to "
        "OUTPUT_DIR/step-N, to fine-tune from while pretraining goes on (default: only at the end)",
    )
    pre.add_argument("--seed", type=int, default=13, help="(default: 13)")
    pre.add_argument("--output-dir", type=Path, required=True, help="where the model goes")
    pre.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the outputs of an earlier run in --output-dir (only a directory tfbert "
        "created) (default: off)",
    )
    pre.set_defaults(handler=cmd_pretrain)


def _check_corpus_files(patterns: list[str]) -> None:
    """A one-line error for a local pattern that matches no file (remote URLs are not checked)."""
    import glob

    from tfbert.errors import DataError

    for pattern in patterns:
        if "://" in pattern or Path(pattern).is_dir() or glob.glob(pattern):
            continue
        raise DataError(
            f"--text-files {pattern!r} matches no file; pass files (or a glob, or a directory) "
            "in BERT's format: one sentence per line, a blank line between documents."
        )


def _corpus_texts(files: list[str], max_characters: int | None = None) -> list[str]:
    """The documents of corpus files (BERT's text format), one text each; with
    `max_characters`, only the first documents of about that many characters (a corpus read
    as a stream may not fit in memory)."""
    from tfbert.data.pretraining import documents_dataset

    texts, characters = [], 0
    for document in documents_dataset(files):
        if max_characters is not None and characters >= max_characters:
            break
        texts.append(" ".join(s.decode("utf-8") for s in document.numpy()))
        characters += len(texts[-1])
    return texts


def cmd_pretrain(args: argparse.Namespace) -> int:
    from tfbert.data.vocabularies import is_builtin_vocabulary
    from tfbert.training.run import (
        check_output_dir,
        check_resume,
        create_output_dir,
        explain_vocabulary_size,
        keras_verbosity,
    )

    started = time.time()
    if args.save_every is not None and args.save_every % args.steps_per_epoch:
        nearest = max(1, round(args.save_every / args.steps_per_epoch)) * args.steps_per_epoch
        raise TfbertError(
            f"--save-every {args.save_every} is not a multiple of --steps-per-epoch "
            f"{args.steps_per_epoch}: snapshots are taken at epoch ends; pass e.g. "
            f"--save-every {nearest}."
        )
    if args.vocab is not None and not is_builtin_vocabulary(args.vocab):
        common.input_file(Path(args.vocab), "--vocab")
    # none/pieces as the booleans of the flag's earlier form, so earlier runs still resume.
    masking = {"none": False, "pieces": True}.get(args.whole_word_masking, "jieba")
    args.whole_word_masking = masking
    resume = check_output_dir(args.output_dir, args.overwrite)
    common.need_tensorflow()
    from tfbert.data.pretraining import documents_from_texts, segment_documents
    from tfbert.data.vocabularies import resolve_vocabulary
    from tfbert.text.vocab import learn_vocabulary, load_vocabulary, save_vocabulary
    from tfbert.training.precision import set_precision
    from tfbert.training.pretrain import create_pretrainer, pretrain

    if args.init_from:
        from tfbert.modeling.checkpoints import resolve_checkpoint

        resolve_checkpoint(args.init_from)  # fails before anything is written
    if args.dataset:
        from tfbert.data import load_dataset

        texts = [t for name in args.dataset for t in load_dataset(name).train.texts]
        source = documents_from_texts(texts)
        if masking == "jieba":
            source = segment_documents(source, show_progress=True)
        common.say(
            f"Corpus: {len(source):,} documents from the train splits of {', '.join(args.dataset)}."
        )
    elif args.corpus:
        from tfbert.data.corpora import load_corpus
        from tfbert.data.pretraining import WORD_SEPARATOR

        source = load_corpus(args.corpus, word_boundaries=masking == "jieba")
        texts = [" ".join(document).replace(WORD_SEPARATOR, "") for document in source]
        common.say(
            f"Corpus {args.corpus!r}: {len(source):,} documents, "
            f"{sum(map(len, texts)):,} characters."
        )
    else:
        _check_corpus_files(args.text_files)  # before anything is written
        source, texts = list(args.text_files), None
    # Settings that do not change the trained model may differ when a run resumes.
    # (A resumed run restores every weight from its backup, so where they started is moot.)
    ignored = {"handler", "output_dir", "overwrite", "steps_per_epoch", "save_every",
               "new_embeddings"}  # fmt: skip
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                if k not in ignored}  # fmt: skip
    if resume:
        check_resume(args.output_dir, "pretrain", settings, None)
    create_output_dir(args.output_dir, resume, command="pretrain", settings=settings, data=None)
    set_precision(args.precision)
    vocabulary = resolve_vocabulary(args.vocab) if args.init_from and args.vocab else None
    if not args.init_from:
        vocab_path = args.output_dir / "vocab.txt"
        if args.vocab:
            vocabulary = resolve_vocabulary(args.vocab)
        elif resume and vocab_path.is_file():
            vocabulary = load_vocabulary(vocab_path)
        else:
            texts = texts if texts is not None else _corpus_texts(source)
            vocabulary = learn_vocabulary(
                texts, args.vocab_size, lowercase=not args.cased, show_progress=True
            )
            explain_vocabulary_size(len(vocabulary), args.vocab_size, common.say)
            save_vocabulary(vocabulary, vocab_path)
    # (a resumed run restores every weight from its backup: nothing to start)
    similar = bool(args.init_from) and vocabulary is not None and not resume
    similar = similar and args.new_embeddings == "similar"
    if similar and texts is None:
        from tfbert.modeling.checkpoints import NEW_TOKEN_SAMPLE_CHARACTERS

        texts = _corpus_texts(source, NEW_TOKEN_SAMPLE_CHARACTERS)
    model = create_pretrainer(
        args.objective,
        preset=args.preset,
        vocabulary=vocabulary,
        init_from=args.init_from,
        max_length=args.max_length,
        lowercase=not args.cased,
        dropout=args.dropout,
        seed=args.seed,
        new_token_texts=texts if similar else None,
    )
    if args.init_from and vocabulary is not None:
        others = (
            f"{model.similar_tokens:,} others start as mixes of those, by how alike the corpus "
            "uses them (--new-embeddings random: at random), and the rest at random"
            if model.similar_tokens
            else "the others start at random"
        )
        common.say(
            f"{model.carried_tokens:,} of the {len(vocabulary):,} word embeddings come from "
            f"{args.init_from} (tokens both vocabularies share); {others}."
        )
    budget = "" if args.time_budget is None else f" or {args.time_budget:g} minutes"
    common.say(
        f"Pretraining {model.count_params():,} parameters ({args.objective}) for "
        f"{args.steps:,} steps{budget}."
    )
    history = pretrain(
        model,
        source,
        steps=args.steps,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup_fraction=args.warmup_fraction,
        whole_word_masking=masking,
        gradient_accumulation_steps=args.gradient_accumulation,
        time_budget_minutes=args.time_budget,
        seed=args.seed,
        output_dir=args.output_dir,
        verbose=keras_verbosity(),
        keep_backup=True,  # until the model is saved
        save_every_epochs=args.save_every and args.save_every // args.steps_per_epoch,
    )
    model.save_pretrained(args.output_dir)
    shutil.rmtree(args.output_dir / "backup", ignore_errors=True)
    made = int(model.optimizer.iterations.numpy())
    if made < args.steps:
        print(f"The time budget ended training after {made:,} of {args.steps:,} steps.")
    last = {k: v[-1] for k, v in history.history.items()}
    summary = ", ".join(f"{k} {v:.4g}" for k, v in sorted(last.items()))
    print(f"Last epoch: {summary}")
    print(
        f"Saved the pretrained model to {args.output_dir} ({time.time() - started:.0f} s); "
        f"fine-tune it with `tfbert train --init-from {args.output_dir}`."
    )
    return 0
