"""scripts/setup.sh shows what it installs while keeping pip's full log, and fails loudly.

A real install takes minutes, so `.venv/bin/python` is a stand-in that prints what pip prints.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PIP_OUTPUT = """\
Obtaining file:///checkout
Collecting tensorflow==2.21.* (from tfbert-keras==0.1.0)
  Downloading tensorflow-2.21.0-cp312-cp312-manylinux_2_27_x86_64.whl.metadata (4.5 kB)
Requirement already satisfied: numpy>=1.26 in ./.venv/lib/python3.12/site-packages (2.1.3)
Collecting keras==3.15.* (from tfbert-keras==0.1.0)
Installing collected packages: keras, tensorflow, tfbert-keras
Successfully installed keras-3.15.0 tensorflow-2.21.0 tfbert-keras-0.1.0
"""


def fake_checkout(tmp_path: Path, pip_exit: int) -> Path:
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup.sh", root / "scripts" / "setup.sh")
    python = root / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    (root / "pip-output.txt").write_text(PIP_OUTPUT, encoding="utf-8")
    python.write_text(
        "#!/usr/bin/env bash\n"
        'if [ "$1" = -c ]; then echo "tfbert 0.1.0, TensorFlow 2.21.0, Keras 3.15.0"; exit 0; fi\n'
        f'cat "{root}/pip-output.txt"\n'
        f'if [ {pip_exit} != 0 ]; then echo "ERROR: no space left" >&2; exit {pip_exit}; fi\n',
        encoding="utf-8",
    )
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return root


def run_setup(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "scripts/setup.sh", "datasets"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_setup_prints_a_line_per_step_and_keeps_the_full_log(tmp_path: Path) -> None:
    root = fake_checkout(tmp_path, pip_exit=0)
    run = run_setup(root)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert "usually takes 1-3 minutes" in run.stdout
    assert "  collecting tensorflow==2.21.*" in lines
    assert "  collecting keras==3.15.*" in lines
    assert "  installing 3 packages (unpacking TensorFlow takes the longest)..." in lines
    assert "  installed 3 packages" in lines
    assert "  1 requirements were already installed" in lines
    assert lines[-1] == "tfbert 0.1.0, TensorFlow 2.21.0, Keras 3.15.0"
    assert "Downloading" not in run.stdout  # the noise stays in the log
    log = (root / ".venv" / "install.log").read_text(encoding="utf-8")
    assert log == PIP_OUTPUT * 2  # the package install, then the checkpoint package


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_failed_install_prints_the_end_of_the_log_and_fails(tmp_path: Path) -> None:
    root = fake_checkout(tmp_path, pip_exit=1)
    run = run_setup(root)
    assert run.returncode == 1
    assert "ERROR: no space left" in run.stdout  # the log's tail, pip's error included
    assert "failed; full log in .venv/install.log" in run.stderr
    assert "tfbert 0.1.0" not in run.stdout
