"""The out-of-the-box benchmark's table: the cells it prints and the verdict per dataset."""

from __future__ import annotations

from benchmarks.out_of_the_box import CHOICE_PREFIXES, table


def test_the_table_says_whether_the_default_beats_tf_idf() -> None:
    results = {
        "smsspam": {
            "tfidf": {"accuracy": 97.57, "macro_f1": 93.98, "seconds": 7.0},
            "default": {"accuracy": 98.21, "macro_f1": 95.5, "seconds": 600.0},
        },
        "thucnews": {
            "tfidf": {"accuracy": 85.1, "macro_f1": 85.02, "seconds": 26.0},
            "default": {"accuracy": 71.0, "macro_f1": 70.2, "seconds": 900.0},
        },
        "imdb": {"tfidf": {"accuracy": 90.51, "macro_f1": 90.51, "seconds": 48.0}},
    }
    lines = table(results, ["tfidf", "default", "textcnn"]).splitlines()
    assert lines[0] == "| dataset | tfidf | default | textcnn | default beats TF-IDF? |"
    smsspam, thucnews, imdb = lines[2:]
    assert "| 98.21 / 95.50 (10.0 min) |" in smsspam and smsspam.endswith("| yes (+0.64 points) |")
    assert thucnews.endswith("| no (-14.10 points) |")
    assert "| not run | not run |" in imdb and imdb.endswith("| - |")


def test_the_choice_lines_are_those_train_prints() -> None:
    """The default cell keeps the lines in which `tfbert train` states its choices."""
    import numpy as np

    from tfbert.training import run

    lengths = np.arange(10, 400)
    length, length_line = run.choose_max_length(lengths, limit=512, accelerator=False)
    said = [
        length_line,
        run.choose_truncation(lengths, length)[1],
        run.choose_class_weights(["a"] * 10 + ["b"], multi_label=False)[1],
    ]
    assert all(line.startswith(CHOICE_PREFIXES) for line in said), said
    assert not "Saved the model".startswith(CHOICE_PREFIXES)
