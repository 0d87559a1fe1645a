"""Entity-level evaluation of named-entity recognition, counted as conlleval and seqeval count.

An entity counts as found only when its span (start and end) and its type both match a true
entity exactly; precision, recall and F1 are then computed per entity type, micro-averaged over
all entities and macro-averaged over the types. Tag sequences are read with conlleval's rules
(`tfbert.data.ner.entities_from_tags`), so an ill-formed prediction such as an `I-PER` after `O`
still counts as an entity, as it does in those tools.

    report = evaluate_entities(data.test, predicted_tags)   # gold TaggedSentences, tags
    print(report.format_table())                            # per type, micro/macro, confusion
    report.to_json("runs/ner/evaluation/test.json")         # load_report() reads it back

Besides the scores, `EntityReport` holds a confusion table over types (true type x predicted
type for spans that match exactly, plus the true entities whose span nobody predicted, "missed",
and the predicted spans that are no true entity, "spurious"), a few example errors, and token
accuracy as an extra (it is dominated by the `O` tag and says little about entities).
`evaluate_entity_spans` scores entities given directly, e.g. character spans returned by an
exported model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfbert.data.ner import (
    Entity,
    TaggedSentences,
    convert_scheme,
    detect_scheme,
    entities_from_tags,
)
from tfbert.errors import DataError
from tfbert.evaluation.report import ClassReport, Report, _fit, _width

__all__ = [
    "ERROR_KINDS",
    "EntityExample",
    "EntityReport",
    "ExportedTagger",
    "evaluate_entities",
    "evaluate_entity_spans",
    "evaluate_tagger",
]

# What an example error can be, in the order examples are picked (round-robin over kinds).
ERROR_KINDS = ("missed", "spurious", "wrong type", "wrong span")
# The confusion table's extra column (true entities not predicted) and row (predictions that
# are no true entity).
_MISSED, _SPURIOUS = "missed", "spurious"
_TEXT_WIDTH = 100  # long example sentences show this many characters around the entity


@dataclass
class EntityExample:
    """One error: sentence index, kind (`ERROR_KINDS`), the true and the predicted entity as
    "TYPE 'text'" (empty when there is none) and the sentence's text (cut when long)."""

    sentence: int
    kind: str
    gold: str
    predicted: str
    text: str


@dataclass
class EntityReport(Report, kind="ner"):
    """Entity-level scores of one NER evaluation set, serialisable to JSON.

    `per_type` rows hold precision, recall, F1 and support (true entities) per entity type.
    `confusion` is `(T + 1) x (T + 1)` counts over `entity_types`: `[true][predicted]` for spans
    that match exactly, the last column the true entities whose exact span was not predicted
    ("missed"), the last row the predicted spans that are no true entity's ("spurious").
    `token_accuracy` (tags given) is the share of words whose predicted tag equals the true one.
    """

    num_sentences: int
    entity_types: list[str]
    per_type: list[ClassReport]
    micro_precision: float
    micro_recall: float
    micro_f1: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    weighted_precision: float
    weighted_recall: float
    weighted_f1: float
    num_true: int
    num_predicted: int
    confusion: list[list[int]]
    num_errors: int
    examples: list[EntityExample] = field(default_factory=list)
    token_accuracy: float | None = None
    num_tokens: int | None = None

    @classmethod
    def _from_fields(cls, values: dict[str, Any]) -> dict[str, Any]:
        values["per_type"] = [
            row if isinstance(row, ClassReport) else ClassReport(**row)
            for row in values["per_type"]
        ]
        values["examples"] = [
            item if isinstance(item, EntityExample) else EntityExample(**item)
            for item in values.get("examples", [])
        ]
        return values

    def format_table(self, digits: int = 3) -> str:
        """Per-type scores with micro, macro and weighted averages, token accuracy, the
        confusion table and the example errors, as fixed-width text."""
        name_w = max(_width("weighted avg"), *(_width(t) for t in self.entity_types or ["-"]))
        name_w = min(name_w, 24)
        num_w = max(digits + 2, 9)
        header = _fit("type", name_w) + "".join(
            _fit(h, num_w, ">") for h in ("precision", "recall", "f1-score", "support")
        )
        rule = "-" * _width(header)

        def row(name: str, p: float | None, r: float | None, f: float, support: int) -> str:
            cells = [" " * num_w if v is None else f"{v:>{num_w}.{digits}f}" for v in (p, r)]
            return _fit(name, name_w) + "".join(cells) + f"{f:>{num_w}.{digits}f}{support:>{num_w}}"

        lines = [
            f"named-entity recognition: {self.num_sentences:,} sentences, {self.num_true:,} true "
            f"entities, {self.num_predicted:,} predicted (exact span and type)",
            "",
            header,
            rule,
        ]
        lines += [row(c.label, c.precision, c.recall, c.f1, c.support) for c in self.per_type]
        lines.append(rule)
        total = self.num_true
        lines.append(
            row("micro avg", self.micro_precision, self.micro_recall, self.micro_f1, total)
        )
        lines.append(
            row("macro avg", self.macro_precision, self.macro_recall, self.macro_f1, total)
        )
        lines.append(
            row(
                "weighted avg",
                self.weighted_precision,
                self.weighted_recall,
                self.weighted_f1,
                total,
            )
        )
        if self.token_accuracy is not None:
            lines += [
                "",
                f"token accuracy {self.token_accuracy:.{digits}f} ({self.num_tokens:,} "
                "words; dominated by O tags, not an entity score)",
            ]
        lines += ["", *self._format_confusion(name_w)]
        if self.examples:
            lines += ["", f"Example errors ({len(self.examples)} of {self.num_errors:,}):"]
            for example in self.examples:
                got = example.predicted or "-"
                want = example.gold or "-"
                lines.append(
                    f"  sentence {example.sentence}, {example.kind}: true {want}; predicted {got}"
                )
                lines.append(f"    {example.text}")
        return "\n".join(lines)

    def _format_confusion(self, name_w: int) -> list[str]:
        heads = [*self.entity_types, _MISSED]
        rows = [*self.entity_types, _SPURIOUS]
        count_w = max(len(str(v)) for r in self.confusion for v in r)
        col_w = max(count_w, *(min(_width(h), 10) for h in heads)) + 2
        lines = [
            "Entity confusion (exact spans; rows: true type, columns: predicted type)",
            _fit("true \\ pred", name_w) + "".join(_fit(h, col_w, ">") for h in heads),
        ]
        for name, counts in zip(rows, self.confusion, strict=True):
            cells = [
                " " * col_w if name == _SPURIOUS and i == len(counts) - 1 else f"{v:>{col_w}}"
                for i, v in enumerate(counts)
            ]
            lines.append(_fit(name, name_w) + "".join(cells))
        return lines


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def evaluate_entity_spans(
    true: Sequence[Sequence[Entity]],
    predicted: Sequence[Sequence[Entity]],
    *,
    texts: Sequence[str] | None = None,
    types: Sequence[str] | None = None,
    max_examples: int = 10,
) -> EntityReport:
    """Scores predicted entities against true ones, sentence by sentence (exact span and type).

    Spans may be in any unit (words, characters) as long as both sides use the same. `texts`
    (one per sentence, spans as character offsets into it) lets the examples quote entities;
    `types` adds entity types that may occur in neither list (their scores are then 0). The
    types reported are the union of those seen, sorted, as seqeval reports them.
    """
    return _evaluate(true, predicted, texts, None, types, max_examples)


def evaluate_tagger(
    tagger: Any,
    data: TaggedSentences,
    *,
    batch_size: int = 32,
    max_examples: int = 10,
    verbose: int | str = 0,
) -> EntityReport:
    """Entity-level scores of a NER model on `data`, from raw text as it is served.

    `tagger` is anything with `predict_texts(texts, batch_size=, verbose=)` returning entities
    with character offsets: a `tfbert.tasks.token_classifier.TokenClassifier`, or an export
    through `ExportedTagger`. The sentences' texts (`data.texts()`) go in, and the predicted
    character spans are scored against the true entities' (`data.character_entities()`), so
    the score is the one a served model gets.
    """
    texts = data.texts()
    results = tagger.predict_texts(texts, batch_size=batch_size, verbose=verbose)
    predicted = [[Entity(e["type"], e["start"], e["end"]) for e in r["entities"]] for r in results]
    return evaluate_entity_spans(
        data.character_entities(),
        predicted,
        texts=texts,
        types=data.entity_types(),
        max_examples=max_examples,
    )


class ExportedTagger:
    """A NER export (`TokenClassifier.export`) behind the tagger's face (`predict_texts`).

    Loads `path` (a version directory, or the highest version under an export base directory)
    and tags texts through its `serving_default` signature, in batches of similar length.
    """

    def __init__(self, path: str | Path) -> None:
        from tfbert.contract import PREDICT_SIGNATURE, TOKEN_CLASSIFIER_TASK
        from tfbert.errors import ModelFileError
        from tfbert.export import find_version_dir, load_exported
        from tfbert.export.saved_model import read_model_info

        self.path: Path = find_version_dir(path)
        info = read_model_info(self.path)
        if info.get("task") != TOKEN_CLASSIFIER_TASK:
            raise ModelFileError(
                f"{self.path} is not a NER export (a text classifier's, or an older tfbert's); "
                "export a model trained with `tfbert train --task ner`."
            )
        self.tags: list[str] = [str(tag) for tag in info.get("tags", [])]
        self.scheme: str = str(info.get("scheme", "bio"))
        self.entity_types: list[str] = [str(t) for t in info.get("entity_types", [])]
        self._loaded = load_exported(self.path)  # keeps the variables the signature reads
        self._predict = self._loaded.signatures[PREDICT_SIGNATURE]

    def predict_texts(
        self, texts: Sequence[str], batch_size: int = 32, verbose: int | str = 0
    ) -> list[dict[str, Any]]:
        """Entities and per-word tags of raw strings, as `TokenClassifier.predict_texts`."""
        import tensorflow as tf

        from tfbert.contract import TEXT_INPUT, tagged_texts

        texts = list(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        results: list[dict[str, Any]] = [{}] * len(texts)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            batch = [texts[i] for i in rows]
            outputs = self._predict(**{TEXT_INPUT: tf.constant(batch, tf.string)})
            for row, result in zip(rows, tagged_texts(batch, outputs), strict=True):
                results[row] = result
        return results


def evaluate_entities(
    true: TaggedSentences | Sequence[Sequence[str]],
    predicted: TaggedSentences | Sequence[Sequence[str]],
    *,
    types: Sequence[str] | None = None,
    max_examples: int = 10,
) -> EntityReport:
    """Entity-level scores of predicted tags against true tags (one tag per word).

    `true` is usually a split of a NER dataset (`TaggedSentences`), which also lets the
    examples quote the entities; plain lists of tag lists work too. Both sides are read with
    conlleval's rules (bio and bioes alike); token accuracy compares the tags after rewriting
    the predictions in the true tags' scheme when the two differ.
    """
    gold_tags = true.tags if isinstance(true, TaggedSentences) else [list(t) for t in true]
    pred_tags = (
        predicted.tags if isinstance(predicted, TaggedSentences) else [list(t) for t in predicted]
    )
    if len(gold_tags) != len(pred_tags):
        raise DataError(
            f"{len(gold_tags)} true sentences but {len(pred_tags)} predicted; give one predicted "
            f"tag list per sentence, in the same order."
        )
    for i, (gold, pred) in enumerate(zip(gold_tags, pred_tags, strict=True)):
        if len(gold) != len(pred):
            raise DataError(
                f"sentence {i} has {len(gold)} true tags but {len(pred)} predicted; predict one "
                f"tag per word (for WordPieces, the first piece's tag)."
            )
    gold_entities = [entities_from_tags(t, "bioes") for t in gold_tags]
    pred_entities = [entities_from_tags(t, "bioes") for t in pred_tags]
    texts = offsets = None
    if isinstance(true, TaggedSentences):
        texts, offsets = true.texts(), true.word_offsets()
    report = _evaluate(gold_entities, pred_entities, texts, offsets, types, max_examples)
    gold_scheme = true.scheme if isinstance(true, TaggedSentences) else detect_scheme(gold_tags)
    if detect_scheme(pred_tags) != gold_scheme:
        pred_tags = [convert_scheme(t, gold_scheme) for t in pred_tags]
    tokens = sum(len(t) for t in gold_tags)
    correct = sum(
        g == p
        for gs, ps in zip(gold_tags, pred_tags, strict=True)
        for g, p in zip(gs, ps, strict=True)
    )
    report.token_accuracy = _ratio(correct, tokens)
    report.num_tokens = tokens
    return report


def _evaluate(
    true: Sequence[Sequence[Entity]],
    predicted: Sequence[Sequence[Entity]],
    texts: Sequence[str] | None,
    offsets: Sequence[Sequence[tuple[int, int]]] | None,
    types: Sequence[str] | None,
    max_examples: int,
) -> EntityReport:
    if len(true) != len(predicted):
        raise DataError(
            f"{len(true)} true sentences but {len(predicted)} predicted; give the predictions of "
            f"every sentence, in the same order."
        )
    if texts is not None and len(texts) != len(true):
        raise DataError(f"{len(texts)} texts for {len(true)} sentences; give one per sentence.")
    gold_count: Counter[str] = Counter()
    pred_count: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    pairs: Counter[tuple[str | None, str | None]] = Counter()
    errors: list[EntityExample] = []
    for i, (gold, pred) in enumerate(zip(true, predicted, strict=True)):
        gold_set, pred_set = set(gold), set(pred)
        gold_count.update(e.type for e in gold_set)
        pred_count.update(e.type for e in pred_set)
        hits.update(e.type for e in gold_set & pred_set)
        gold_spans = {(e.start, e.end): e.type for e in gold_set}
        pred_spans = {(e.start, e.end): e.type for e in pred_set}
        for span, kind in gold_spans.items():
            pairs[kind, pred_spans.get(span)] += 1
        for span, kind in pred_spans.items():
            if span not in gold_spans:
                pairs[None, kind] += 1
        errors += _errors(i, gold, pred, texts, offsets)
    names = sorted(set(gold_count) | set(pred_count) | set(types or []))
    per_type = []
    for name in names:
        p = _ratio(hits[name], pred_count[name])
        r = _ratio(hits[name], gold_count[name])
        per_type.append(ClassReport(name, p, r, _f1(p, r), gold_count[name]))
    n_true, n_pred, n_hits = sum(gold_count.values()), sum(pred_count.values()), sum(hits.values())
    micro_p, micro_r = _ratio(n_hits, n_pred), _ratio(n_hits, n_true)
    macro = [
        sum(getattr(c, k) for c in per_type) / len(per_type) if per_type else 0.0
        for k in ("precision", "recall", "f1")
    ]
    weighted = [
        _ratio(sum(getattr(c, k) * c.support for c in per_type), n_true)
        for k in ("precision", "recall", "f1")
    ]
    index = {name: k for k, name in enumerate(names)}
    size = len(names) + 1
    confusion = [[0] * size for _ in range(size)]
    for (gold_type, pred_type), count in pairs.items():
        row = index[gold_type] if gold_type is not None else size - 1
        column = index[pred_type] if pred_type is not None else size - 1
        confusion[row][column] += count
    return EntityReport(
        num_sentences=len(true),
        entity_types=names,
        per_type=per_type,
        micro_precision=micro_p,
        micro_recall=micro_r,
        micro_f1=_f1(micro_p, micro_r),
        macro_precision=macro[0],
        macro_recall=macro[1],
        macro_f1=macro[2],
        weighted_precision=weighted[0],
        weighted_recall=weighted[1],
        weighted_f1=weighted[2],
        num_true=n_true,
        num_predicted=n_pred,
        confusion=confusion,
        num_errors=len(errors),
        examples=_pick(errors, max_examples),
    )


def _errors(
    sentence: int,
    gold: Sequence[Entity],
    pred: Sequence[Entity],
    texts: Sequence[str] | None,
    offsets: Sequence[Sequence[tuple[int, int]]] | None,
) -> list[EntityExample]:
    """Every error of one sentence: each true entity not found exactly (wrong type, wrong span
    or missed) and each prediction overlapping no true entity (spurious)."""
    text = texts[sentence] if texts is not None else ""
    spans = offsets[sentence] if offsets is not None else None

    def characters(entity: Entity) -> tuple[int, int]:
        if spans:
            return spans[entity.start][0], spans[entity.end - 1][1]
        return entity.start, entity.end

    def quote(entity: Entity | None) -> str:
        if entity is None:
            return ""
        if texts is None:
            return f"{entity.type} [{entity.start}, {entity.end})"
        start, end = characters(entity)
        return f"{entity.type} {text[start:end]!r}"

    def context(entity: Entity) -> str:
        """The sentence, or a window of it around `entity` when it is long."""
        if len(text) <= _TEXT_WIDTH:
            return " ".join(text.split())
        start = max(0, min(characters(entity)[0] - _TEXT_WIDTH // 3, len(text) - _TEXT_WIDTH))
        window = text[start : start + _TEXT_WIDTH]
        return (
            ("…" if start else "")
            + " ".join(window.split())
            + ("…" if start + _TEXT_WIDTH < len(text) else "")
        )

    def overlaps(a: Entity, b: Entity) -> bool:
        return a.start < b.end and b.start < a.end

    found = set(pred)
    result = []
    for entity in gold:
        if entity in found:
            continue
        same_span = [p for p in pred if (p.start, p.end) == (entity.start, entity.end)]
        near = [p for p in pred if overlaps(p, entity)]
        kind = "wrong type" if same_span else "wrong span" if near else "missed"
        other = same_span[0] if same_span else near[0] if near else None
        result.append(EntityExample(sentence, kind, quote(entity), quote(other), context(entity)))
    for entity in pred:
        if not any(overlaps(entity, g) for g in gold):
            result.append(EntityExample(sentence, "spurious", "", quote(entity), context(entity)))
    return result


def _pick(errors: list[EntityExample], limit: int) -> list[EntityExample]:
    """Up to `limit` errors, taking the first of each kind in turn (`ERROR_KINDS` order)."""
    by_kind = {kind: [e for e in errors if e.kind == kind] for kind in ERROR_KINDS}
    picked: list[EntityExample] = []
    depth = 0
    while len(picked) < limit and any(len(v) > depth for v in by_kind.values()):
        picked += [v[depth] for v in by_kind.values() if len(v) > depth][: limit - len(picked)]
        depth += 1
    return sorted(picked, key=lambda e: (e.sentence, ERROR_KINDS.index(e.kind)))
