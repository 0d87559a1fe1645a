"""`tfbert train --task ner` and the NER model through `evaluate`, `predict`, `export` and
serving: real CoNLL-2003 sentences (a CoNLL column file and a JSONL span file written from the
built-in dataset), a tiny model, one short epoch; and bad input answered in one line."""

from __future__ import annotations

import json
import urllib.request
from types import SimpleNamespace

import pytest

from tfbert.data.ner import load_ner_dataset

from .helpers import assert_usage_error, parse_json, run, run_captured, write_conll

SENTENCES = [
    "Angela Merkel visited Paris on Tuesday .",
    "O'Brien met 王小明 at the Café Zürich in 上海 .",
]


def _write_jsonl(path, data) -> None:
    rows = [
        {"text": text, "entities": [[e.start, e.end, e.type] for e in entities]}
        for text, entities in zip(data.texts(), data.character_entities(), strict=True)
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def ner(tmp_path_factory) -> SimpleNamespace:
    """A tiny BERT-CRF trained from a CoNLL file, validated on a JSONL file, tested on a CoNLL
    file (real CoNLL-2003 sentences), then exported."""
    root = tmp_path_factory.mktemp("ner_cli")
    data = load_ner_dataset("conll2003", max_sentences_per_split=60)
    files = SimpleNamespace(
        train=root / "train.txt", validation=root / "valid.jsonl", test=root / "test.txt"
    )
    write_conll(files.train, data["train"])
    _write_jsonl(files.validation, data["validation"])
    write_conll(files.test, data["test"])
    model_dir, export_dir = root / "model", root / "export"
    trained = run_captured(
        "train", "--task", "ner", "--train-file", files.train,
        "--validation-file", files.validation, "--test-file", files.test, "--preset", "tiny",
        "--crf", "--vocab-size", 1000, "--max-length", 32, "--epochs", 1, "--batch-size", 16,
        "--output-dir", model_dir,
    )  # fmt: skip
    assert trained.code == 0, trained.err
    exported = run_captured("export", "--model", model_dir, "--export-dir", export_dir)
    assert exported.code == 0, exported.err
    return SimpleNamespace(
        root=root, files=files, data=data, model_dir=model_dir, export_dir=export_dir,
        trained=trained, exported=exported,
    )  # fmt: skip


def test_train_writes_a_ner_model_with_entity_reports(ner) -> None:
    out = ner.trained.out
    assert "Validation (60 sentences)" in out and "Test (60 sentences)" in out
    assert "micro avg" in out and "Entity confusion" in out
    for name in ("config.json", "model.safetensors", "vocab.txt", "history.json",
                 "training_curves.png", "train_args.json"):  # fmt: skip
        assert (ner.model_dir / name).is_file(), name
    assert not (ner.model_dir / "backup").exists()
    test = json.loads((ner.model_dir / "test_report.json").read_text(encoding="utf-8"))
    assert test["kind"] == "ner" and test["num_sentences"] == 60
    assert test["entity_types"] == ["LOC", "MISC", "ORG", "PER"]
    config = json.loads((ner.model_dir / "config.json").read_text(encoding="utf-8"))
    assert config["crf"] is True and config["scheme"] == "bio"
    args = json.loads((ner.model_dir / "train_args.json").read_text(encoding="utf-8"))
    assert args["task"] == "ner" and args["max_length"] == 32


def test_evaluate_the_model_and_its_export_alike(capsys, ner, tmp_path) -> None:
    reports = []
    for model in (ner.model_dir, ner.export_dir):
        result = run(
            capsys, "evaluate", "--model", model, "--test-file", ner.files.test, "--json",
            "--report", tmp_path / model.name,
        )  # fmt: skip
        assert result.code == 0, result.err
        reports.append(json.loads(result.out))
    assert reports[0] == reports[1]
    saved = json.loads((ner.model_dir / "test_report.json").read_text(encoding="utf-8"))
    assert reports[0]["micro_f1"] == saved["micro_f1"]
    assert reports[0]["num_sentences"] == 60
    by_dataset = run(capsys, "evaluate", "--model", ner.export_dir, "--dataset", "conll2003",
                     "--split", "validation", "--max-examples", 10)  # fmt: skip
    assert by_dataset.code == 0, by_dataset.err
    assert "conll2003 validation: 10 sentences" in by_dataset.out


def test_predict_prints_entities_with_offsets_from_model_and_export(capsys, ner) -> None:
    texts = [*SENTENCES, "   "]
    outputs = []
    for model in (ner.model_dir, ner.export_dir):
        plain = run(capsys, "predict", "--model", model, *texts)
        assert plain.code == 0, plain.err
        lines = plain.out.rstrip("\n").split("\n")
        assert len(lines) == 3 and lines[2].startswith("(blank)")
        as_json = run(capsys, "predict", "--model", model, "--json", *texts)
        assert as_json.code == 0, as_json.err
        records = parse_json(as_json.out)
        assert records[2]["entities"] is None and "blank" in records[2]["error"]
        for text, record in zip(SENTENCES, records, strict=False):
            assert record["text"] == text
            assert "".join(record["words"]) == "".join(text.split())
            for entity in record["entities"]:
                assert text[entity["start"] : entity["end"]] == entity["text"]
        outputs.append((lines, records))
    assert outputs[0] == outputs[1]
    assert "王" in outputs[0][1][1]["words"] and "Zürich" in outputs[0][1][1]["words"]


def test_the_export_tags_raw_strings_in_plain_tensorflow_and_serves(ner) -> None:
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the tokenizer ops)

    from tfbert.contract import tagged_texts
    from tfbert.serving.models import ModelConfig
    from tfbert.serving.server import ModelServer, ServerOptions
    from tfbert.tasks.token_classifier import TokenClassifier

    version = ner.export_dir / "1"
    assert "Exported" in ner.exported.out and (version / "saved_model.pb").is_file()
    predict = tf.saved_model.load(str(version)).signatures["serving_default"]
    exported = tagged_texts(SENTENCES, predict(text=tf.constant(SENTENCES)))
    local = TokenClassifier.load(ner.model_dir).predict_texts(SENTENCES)
    assert [r["tags"] for r in exported] == [r["tags"] for r in local]
    assert [[e["text"] for e in r["entities"]] for r in exported] == [
        [e["text"] for e in r["entities"]] for r in local
    ]
    options = ServerOptions(port=0, rest_api_port=0, file_system_poll_wait_seconds=0)
    with ModelServer([ModelConfig("ner", ner.export_dir)], options) as server:
        body = json.dumps({"instances": SENTENCES}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.rest_port}/v1/models/ner:predict", data=body
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            served = json.loads(response.read())["predictions"]
        # `tfbert predict --server` recognises a served NER model and prints its entities, over
        # gRPC and REST alike, as the model directory does.
        through_server = []
        for address, extra in (
            (f"127.0.0.1:{server.port}", []),
            (f"127.0.0.1:{server.rest_port}", ["--rest"]),
        ):
            result = run_captured("predict", "--server", address, "--model-name", "ner", "--json",
                         *extra, *SENTENCES)  # fmt: skip
            assert result.code == 0, result.err
            through_server.append(parse_json(result.out))
    assert through_server[0] == through_server[1]
    assert [r["tags"] for r in through_server[0]] == [r["tags"] for r in local]
    assert [[e["text"] for e in r["entities"]] for r in through_server[0]] == [
        [e["text"] for e in r["entities"]] for r in local
    ]
    assert [row["token_count"] for row in served] == [len(r["tags"]) for r in local]
    assert [row["token_tag"][: row["token_count"]] for row in served] == [r["tags"] for r in local]


# ----- bad input --------------------------------------------------------------------------------
def test_options_that_do_not_fit_the_task_are_refused_at_once(capsys, tmp_path) -> None:
    out = tmp_path / "out"
    cases = [
        (["--task", "ner", "--dataset", "imdb"], ["imdb is not a named-entity", "conll2003"]),
        (["--task", "ner", "--dataset", "msra", "--model", "textcnn"], ["--model textcnn"]),
        (["--task", "ner", "--dataset", "msra", "--pooling", "mean"], ["--pooling", "--task ner"]),
        (["--dataset", "imdb", "--crf"], ["--crf", "--task ner"]),
        (["--dataset", "conll2003"], ["conll2003 is a named-entity", "add --task ner"]),
    ]
    for extra, fragments in cases:
        result = run(capsys, "train", *extra, "--output-dir", out)
        assert_usage_error(result, *fragments)
        assert not out.exists()


def test_bad_ner_files_are_answered_in_one_line(capsys, tmp_path, ner) -> None:
    untagged = tmp_path / "untagged.txt"
    untagged.write_text("EU\nrejects\nGerman\n\nPeter\n", encoding="utf-8")
    outside = tmp_path / "outside.jsonl"
    outside.write_text('{"text": "Paris", "entities": [[0, 9, "LOC"]]}\n', encoding="utf-8")
    csv_file = tmp_path / "reviews.csv"
    csv_file.write_text("text,label\nA fine film.,positive\n", encoding="utf-8")
    for path, fragments in (
        (untagged, ["untagged.txt line 1 has 1 column", "tag"]),
        (outside, ["outside.jsonl line 1", "outside the text"]),
    ):
        result = run(capsys, "train", "--task", "ner", "--train-file", path, "--preset", "tiny",
                     "--output-dir", tmp_path / "out")  # fmt: skip
        assert_usage_error(result, *fragments, only=False)
        assert not (tmp_path / "out").exists()
    # A NER model and classification data.
    result = run(capsys, "evaluate", "--model", ner.model_dir, "--dataset", "imdb")
    assert_usage_error(result, "imdb is not a named-entity recognition dataset")
    result = run(capsys, "evaluate", "--model", ner.model_dir, "--test-file", csv_file)
    assert_usage_error(result, "reviews.csv", only=False)
