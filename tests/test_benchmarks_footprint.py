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
