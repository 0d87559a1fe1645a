"""tf.distribute: MirroredStrategy matches single-device training; bad set-ups fail clearly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfbert.training.distribute import check_tf_config, create_strategy

SCRIPT = Path(__file__).parent / "scripts" / "mirrored_parity.py"


def run_parity(minilm_dir: Path, optimizer: str) -> dict:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(minilm_dir / "vocab.txt"), optimizer],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_mirrored_over_two_devices_matches_one_device(minilm_dir) -> None:
    """Same global batch and seed: same losses and weights. Plain SGD is used because it passes
    a gradient summed (instead of averaged) over replicas straight into the weights, where Adam
    would normalise it away: this is the Keras 3 regression the test is meant to catch."""
    result = run_parity(minilm_dir, "sgd")
    single, mirrored = result["single"], result["mirrored"]
    assert (single["replicas"], mirrored["replicas"]) == (1, 2)
    assert np.isfinite(mirrored["loss"]).all()
    np.testing.assert_allclose(mirrored["initial"]["loss"], single["initial"]["loss"], rtol=1e-5)
    np.testing.assert_allclose(mirrored["loss"], single["loss"], rtol=1e-4)
    np.testing.assert_allclose(mirrored["eval"]["loss"], single["eval"]["loss"], rtol=1e-4)
    np.testing.assert_allclose(mirrored["weights_sample"], single["weights_sample"], atol=1e-4)
    # Training moved the weights: equality above is not two untouched initialisations.
    assert single["largest_update"] > 1e-3


def test_bad_strategy_set_ups_fail_clearly(monkeypatch) -> None:
    with pytest.raises(ValueError, match="Unknown strategy 'ring'"):
        create_strategy("ring")
    with pytest.raises(ValueError, match="Device '/gpu:7' does not exist here"):
        create_strategy("mirrored", ["/gpu:7"])
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable"):
        create_strategy("multi-worker")
    with pytest.raises(ValueError, match="not valid JSON"):
        check_tf_config("{cluster: }")
    with pytest.raises(ValueError, match="no cluster.worker list"):
        check_tf_config(json.dumps({"cluster": {}, "task": {"type": "worker", "index": 0}}))
    with pytest.raises(ValueError, match="is not in the cluster"):
        check_tf_config(
            json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}})
        )
    good = {
        "cluster": {"worker": ["localhost:1", "localhost:2"]},
        "task": {"type": "worker", "index": 1},
    }
    assert check_tf_config(json.dumps(good)) == good
