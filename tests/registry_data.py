"""Where the registry packages that carry real test data are installed (tests/conftest.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"package {name} is not installed; run `bash .ci/run` or see README.md")
    return Path(spec.submodule_search_locations[0])
