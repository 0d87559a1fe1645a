"""notebooks/quickstart.ipynb and notebooks/ner.ipynb run top to bottom in a fresh kernel and
learn something real."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"
NER_NOTEBOOK = NOTEBOOK.parent / "ner.ipynb"
KERNEL_NAME = "tfbert-test-python"


def _install_kernelspec(root: Path) -> None:
    """A kernelspec that runs this very interpreter (the venv), found through JUPYTER_PATH.

    Whatever `python3` kernel a machine has registered may run another Python without tfbert;
    this one cannot.
    """
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "tfbert tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")


def _text(cell) -> str:
    """Everything a code cell printed or displayed as text."""
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif "data" in output and "text/plain" in output["data"]:
            parts.append(output["data"]["text/plain"])
    return "".join(parts)


@pytest.mark.parametrize(
    ("path", "marker"),
    [
        (NOTEBOOK, "The export and the Keras model agree:"),
        (NER_NOTEBOOK, "the export and the Keras model agree: True"),
    ],
    ids=["quickstart", "ner"],
)
def test_notebook_is_saved_executed_in_order_without_errors_or_machine_paths(path, marker) -> None:
    """Readers see the results without running it: every code cell ran, top to bottom, once."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    assert all(cell.outputs for cell in code[1:])  # the first cell only sets options
    outputs = [o for cell in code for o in cell.outputs]
    assert not [o for o in outputs if o["output_type"] == "error"]
    printed = "\n".join(_text(cell) for cell in code)
    assert not re.search(r"/(work|tmp|root|home)/", printed), "a path of this machine in outputs"
    assert marker in printed
    assert sum(cell.cell_type == "markdown" for cell in nb.cells) >= len(code)
    assert code[0].source.startswith("QUICK = True")


def _run_notebook(path: Path, tmp_path: Path, monkeypatch) -> tuple[str, list]:
    """Runs the notebook in a fresh kernel of this interpreter from `tmp_path/notebooks`;
    returns everything its code cells printed, and the code cells."""
    _install_kernelspec(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    workdir = tmp_path / "notebooks"
    workdir.mkdir()

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print('KERNEL', sys.executable)"))
    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=300,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error

    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    errors = [o for cell in code for o in cell.outputs if o["output_type"] == "error"]
    assert not errors
    assert _text(code[-1]).strip() == f"KERNEL {sys.executable}"
    return "\n".join(_text(cell) for cell in code), code


@pytest.mark.slow
def test_ner_notebook_runs_and_learns(tmp_path, monkeypatch) -> None:
    everything, _ = _run_notebook(NER_NOTEBOOK, tmp_path, monkeypatch)
    assert re.search(r"train: 800 sentences", everything)
    match = re.search(
        r"Test entity F1: ([0-9.]+) \(most frequent tag per character: ([0-9.]+)\)", everything
    )
    assert match, everything[-3000:]
    f1, baseline = float(match.group(1)), float(match.group(2))
    assert f1 > baseline + 0.08, (f1, baseline)
    assert "micro avg" in everything and "PER" in everything
    assert (tmp_path / "outputs" / "notebook_ner" / "export" / "1" / "saved_model.pb").is_file()
    assert "the export and the Keras model agree: True" in everything


@pytest.mark.slow  # runs the notebook; its saved outputs are checked by the fast test
def test_quickstart_notebook_runs_and_learns(tmp_path, monkeypatch) -> None:
    everything, code = _run_notebook(NOTEBOOK, tmp_path, monkeypatch)

    # Data and model are what the notebook says.
    assert re.search(r"train:\s+1,500 reviews", everything)
    assert "problem type: binary" in everything

    # It learned: test accuracy well above always guessing the most common label.
    match = re.search(
        r"Test accuracy: ([0-9.]+) \(always guessing the most common label: ([0-9.]+)\)",
        everything,
    )
    assert match, everything[-3000:]
    accuracy, baseline = float(match.group(1)), float(match.group(2))
    assert 0.5 <= baseline < 0.6
    assert accuracy > baseline + 0.08, (accuracy, baseline)
    assert "negative" in everything and "positive" in everything and "macro avg" in everything

    # Both plots are shown inline and written to disk.
    images = [o for cell in code for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2
    outputs = tmp_path / "outputs" / "notebook_quickstart"
    assert (outputs / "confusion_matrix.png").is_file()
    assert (outputs / "training_curves.png").is_file()

    # The export exists, reloads, and agrees with the Keras model.
    assert (outputs / "export" / "1" / "saved_model.pb").is_file()
    assert "The export and the Keras model agree:" in everything
