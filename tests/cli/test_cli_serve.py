"""`tfbert serve`'s process settings, checked without starting a server."""

from __future__ import annotations

import os

from tfbert.cli import main
from tfbert.cli.serve import ONEDNN_PRIMITIVE_CACHE

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
