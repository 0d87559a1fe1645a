"""tfbert's own weight files: safetensors keyed by each variable's Keras path.

safetensors is a plain, memory-mappable format that other frameworks read too, and it cannot
execute code on load (unlike pickles). Loading is strict by default and reports every missing,
unexpected and mis-shaped tensor at once, so a wrong checkpoint fails with one clear message.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np

from tfbert.errors import ModelFileError
from tfbert.files import atomic_write


def model_weights(model: keras.Model) -> dict[str, keras.Variable]:
    """The variables worth saving, by path (RNG seed states of dropout layers are not)."""
    return {v.path: v for v in model.weights if not v.path.endswith("seed_generator_state")}


def save_tensors(
    tensors: dict[str, np.ndarray], path: str | Path, metadata: dict[str, str] | None = None
) -> Path:
    """Writes named arrays as a safetensors file, atomically and readable by others (safetensors
    itself creates files only its owner can read); returns `path`."""
    from safetensors.numpy import save_file

    arrays = {name: np.ascontiguousarray(value) for name, value in tensors.items()}
    return atomic_write(path, lambda tmp: save_file(arrays, str(tmp), metadata=metadata or {}))


def save_safetensors(
    model: keras.Model, path: str | Path, metadata: dict[str, str] | None = None
) -> Path:
    """Writes `model`'s weights (`model_weights`) as a safetensors file; see `save_tensors`."""
    tensors = {name: keras.ops.convert_to_numpy(v) for name, v in model_weights(model).items()}
    return save_tensors(tensors, path, metadata)


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Reads every tensor of a safetensors file, turning corruption into a clear error."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"No weight file at {path}.")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(
            f"{path} is not a readable safetensors file ({error}); it may be truncated or "
            "corrupt: copy or export it again."
        ) from None


def assign_weights(
    model: keras.Model,
    tensors: dict[str, np.ndarray],
    *,
    source: str = "checkpoint",
    allow_missing: bool = False,
    allow_unexpected: bool = False,
    skip: Iterable[str] = (),
) -> list[str]:
    """Assigns `tensors` to the model's variables by path; returns the names left unassigned.

    Raises ModelFileError listing every missing, unexpected or mis-shaped tensor unless the
    caller explicitly allows partial loading.
    """
    variables = model_weights(model)
    skip = set(skip)
    missing = sorted(set(variables) - set(tensors) - skip)
    unexpected = sorted(set(tensors) - set(variables))
    misshaped = sorted(
        f"{name}: file {tuple(tensors[name].shape)} vs model {tuple(variables[name].shape)}"
        for name in set(tensors) & set(variables)
        if tuple(tensors[name].shape) != tuple(variables[name].shape)
    )
    problems = []
    if misshaped:
        problems.append("mis-shaped: " + "; ".join(misshaped[:10]))
    if missing and not allow_missing:
        problems.append(f"missing from the {source} ({len(missing)}): " + ", ".join(missing[:10]))
    if unexpected and not allow_unexpected:
        problems.append(
            f"unexpected in the {source} ({len(unexpected)}): " + ", ".join(unexpected[:10])
        )
    if problems:
        raise ModelFileError(
            f"The {source} does not fit this model: "
            + " | ".join(problems)
            + ". Check that the config matches the weights (or allow partial loading explicitly)."
        )
    for name in set(tensors) & set(variables):
        variables[name].assign(tensors[name].astype(variables[name].dtype))
    return missing
