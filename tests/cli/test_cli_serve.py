"""`tfbert serve`'s process settings, checked without starting a server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from tfbert.cli import main
from tfbert.cli.serve import FROZEN_WEIGHTS_VARIABLE, ONEDNN_PRIMITIVE_CACHE

VARIABLE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"


def test_serve_caps_onednn_primitive_cache_unless_the_user_set_it(monkeypatch, capsys) -> None:
    # setenv first so that teardown restores the variable's original state, whatever the
    # command sets in between (a plain delenv of an absent variable records nothing).
    monkeypatch.setenv(VARIABLE, "unset")
    monkeypatch.delenv(VARIABLE)
    # Neither --model_base_path nor --model_config_file: a usage error before any model loads.
    assert main(["serve", "--port", "0", "--rest_api_port", "0"]) != 0
    assert "exactly one of --model_base_path or --model_config_file" in capsys.readouterr().err
    assert os.environ[VARIABLE] == str(ONEDNN_PRIMITIVE_CACHE)

    monkeypatch.setenv(VARIABLE, "512")
    assert main(["serve", "--port", "0", "--rest_api_port", "0"]) != 0
    assert os.environ[VARIABLE] == "512"


PROBE = """
import json, sys
import tensorflow as tf, tensorflow_text  # noqa: F401
predict = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
texts = json.loads(sys.argv[2])
print(json.dumps([predict(text=tf.constant(texts[:n]))["probabilities"].numpy().tolist()
                  for n in (1, 7, len(texts))]))
"""


def test_serve_assumes_frozen_weights_only_in_a_process_without_tensorflow(monkeypatch) -> None:
    monkeypatch.setenv(FROZEN_WEIGHTS_VARIABLE, "unset")
    monkeypatch.delenv(FROZEN_WEIGHTS_VARIABLE)
    fresh = (
        "import os; from tfbert.cli import main; "
        "main(['serve', '--port', '0', '--rest_api_port', '0']); "
        f"print(os.environ.get({FROZEN_WEIGHTS_VARIABLE!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", fresh], capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip().splitlines()[-1] == "1", result.stderr
    # Here TensorFlow is loaded (imported above; it trains in other tests): the weights are not
    # assumed frozen.
    assert main(["serve", "--port", "0", "--rest_api_port", "0"]) != 0
    assert FROZEN_WEIGHTS_VARIABLE not in os.environ


def test_a_bfloat16_export_answers_the_same_with_weights_assumed_frozen(
    imdb_texts, tmp_path
) -> None:
    from tfbert import BertClassifier

    # MiniLM's encoder (reviews get distinct representations) under a head rescaled so that
    # the 19 reviews' logits are centred and spread: probabilities across (0, 1).
    model = BertClassifier.from_pretrained("minilm-l6", labels=["neg", "pos"], max_length=64)
    tokenizer = model.preprocessor.with_padding("longest")
    logits = model(tokenizer(tf.constant(imdb_texts[:19])), training=False).numpy()[:, 0]
    kernel, bias = model.head.weights
    scale = 2.0 / logits.std()
    kernel.assign(kernel * scale)
    bias.assign((bias - logits.mean()) * scale)
    export = model.for_inference("bfloat16").export(tmp_path / "export", warmup_texts=())
    texts = json.dumps(imdb_texts[:19])
    answers = {}
    for frozen in ("0", "1"):
        env = {**os.environ, FROZEN_WEIGHTS_VARIABLE: frozen}
        result = subprocess.run(
            [sys.executable, "-c", PROBE, str(export), texts],
            capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        answers[frozen] = json.loads(result.stdout.strip().splitlines()[-1])
    # Calls after the first reuse the cached weight layout: the same answers up to the order
    # in which a kernel sums bfloat16 products (stale or misread weights would move them far).
    for cached, reordered in zip(answers["1"], answers["0"], strict=True):
        np.testing.assert_allclose(cached, reordered, atol=5e-3)
    spread = np.ptp(np.asarray(answers["1"][2])[:, 1])
    assert spread > 0.3, spread  # so that the tolerance above tells answers apart
    assert len(answers["1"][2]) == 19
