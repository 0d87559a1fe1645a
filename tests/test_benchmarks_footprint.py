"""benchmarks/footprint.py's `tfbert serve` rows (issue 30) on a tiny export with a few REST
requests: the server starts in its own process, answers, and its RSS is read at each stage; the
requests cycle through the batch sizes with real reviews cut to mixed lengths. Memory figures
themselves are the benchmark's job, not asserted here."""

from __future__ import annotations

import math

import pytest

from benchmarks import footprint
from benchmarks.common import load_texts
from benchmarks.serving import build_export


def test_serve_requests_cycle_batch_sizes_with_real_reviews_of_mixed_length() -> None:
    texts = load_texts("imdb", 40, seed=3)
    bodies = footprint.serve_requests(texts, 6, seed=0)
    assert [len(body) for body in bodies] == [*footprint.CALL_BATCHES, 1, 7]
    cut = [text for body in bodies for text in body]
    assert all(any(review.split()[:3] == text.split()[:3] for review in texts) for text in cut)
    lengths = {len(text.split()) for text in cut}
    assert len(lengths) > 10 and min(lengths) >= 1
    whole = footprint.serve_requests(texts, 3, seed=0, mixed=False)
    assert whole == [texts[:1], texts[1:8], texts[8:27]]


def test_calls_time_each_stage_and_one_short_text_per_call(monkeypatch) -> None:
    """`calls` drives any predict function: the first call, the batch stages, the timed batch
    sizes, then single short texts, each timed group lasting `CALL_COST_SECONDS`."""
    monkeypatch.setattr(footprint, "CALL_COST_SECONDS", 0.01)
    seen: list[list[str]] = []
    texts = load_texts("imdb", 96, seed=3)
    record: dict = {}
    footprint.calls(record, seen.append, texts, repeats=3)
    assert seen[0] == texts[:1] and [len(b) for b in seen[1:5]] == list(footprint.CALL_BATCHES)
    for name, text in footprint.CALL_COST_TEXTS.items():
        assert len(record[f"ms_per_call_{name}_all"]) == 3
        median = round(record[f"ms_per_call_{name}"], 3)  # the list is kept rounded
        assert median == sorted(record[f"ms_per_call_{name}_all"])[1]
        assert 0 < record[f"ms_per_call_{name}"] < 10, record  # appending a list: microseconds
        assert seen.count([text]) > 3  # one text per call, many calls per timed group
    assert all(record[f"examples_per_s_batch_{batch}"] > 0 for batch in footprint.SPEED_BATCHES)


@pytest.mark.slow  # starts `tfbert serve` in a process of its own (TensorFlow's import and load)
def test_serve_row_measures_the_server_process(tmp_path) -> None:
    version_dir = build_export("tiny", 32, tmp_path / "export")
    texts = load_texts("imdb", 64, seed=3)
    row = footprint.probe_serve(version_dir, texts, 1, 4, tmp_path / "serve.log")
    assert "error" not in row, row
    stages = ["rss_after_start_mb", "rss_after_warmup_mb", "rss_after_2_requests_mb"]
    stages.append("rss_after_4_requests_mb")
    # A server that imported TensorFlow holds far more than 100 MB; each reading is its own.
    assert all(math.isfinite(row[stage]) and row[stage] > 100 for stage in stages), row
    assert row["rss_peak_mb"] >= row["rss_after_4_requests_mb"]
    assert row["first_answer_s"] > 0 and row["examples_per_s"] > 0
    growth = row["rss_after_4_requests_mb"] - row["rss_after_warmup_mb"]
    assert math.isclose(row["rss_growth_after_warmup_mb"], growth, abs_tol=0.01)
