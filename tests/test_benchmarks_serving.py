"""benchmarks/serving.py (issue 7) on a tiny model with a handful of requests: it runs end to
end, prints the 1/8/32-client table with sane numbers, and refuses to time a server whose answers
differ from the SavedModel in-process. Speed itself is not asserted (that is the benchmark's job).
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "serving.py"
ROW = re.compile(
    r"^\s*(\d+)\s+(in-process|grpc\+batching|grpc)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)"
    r"\s+([\d.]+)x\s+([\d.]+)x\s*$"
)
QUICK = ["--preset", "tiny", "--requests", "8", "--rounds", "1", "--warmup", "2"]
QUICK += ["--num-texts", "64", "--time-cap", "60"]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("benchmarks_serving", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def check_run(record: dict, printed: str, json_path: Path) -> None:
    rows = {(int(m[1]), m[2]): m for m in map(ROW.match, printed.splitlines()) if m}
    expected = {(c, mode) for c in (1, 8, 32) for mode in ("in-process", "grpc", "grpc+batching")}
    assert set(rows) == expected, printed
    for (concurrency, _), match in rows.items():
        requests = int(match[3])
        assert requests >= concurrency  # every client sent at least one timed request
        numbers = [float(value) for value in match.groups()[3:]]
        assert all(math.isfinite(v) and v > 0 for v in numbers), match[0]
        p50, p99 = numbers[0], numbers[1]
        assert p99 >= p50
    for row in record["rows"]:
        for key in ("p50_ms", "p99_ms", "throughput_rps", "p50_ratio", "throughput_ratio"):
            assert math.isfinite(row[key]) and row[key] > 0, (key, row)
        if row["mode"] == "in-process":
            assert row["p50_ratio"] == row["throughput_ratio"] == 1.0
    # The benchmark compared each server with in-process before timing.
    agreement = record["agreement_max_probability_difference"]
    assert set(agreement) == {"grpc", "grpc+batching"}
    assert all(0.0 <= difference <= 1e-5 for difference in agreement.values())

    stored = json.loads(json_path.read_text(encoding="utf-8"))
    assert stored["machine"]["cpu_count"] >= 1 and stored["machine"]["tensorflow"]
    assert stored["settings"]["concurrency"] == [1, 8, 32]
    assert stored["settings"]["export_has_warmup_file"] is True
    assert len(stored["rows"]) == 9 and stored["date"]


def test_tiny_benchmark_with_the_server_in_a_thread(bench, tmp_path, capsys) -> None:
    out = tmp_path / "serving.json"
    record = bench.main([*QUICK, "--server-in", "thread", "--json", str(out)])
    check_run(record, capsys.readouterr().out, out)
    assert record["settings"]["server_in"] == "thread"


@pytest.mark.slow
def test_tiny_benchmark_with_tfbert_serve_processes(bench, tmp_path, capsys) -> None:
    """The default: each server is a `tfbert serve` child process (about 40 s)."""
    out = tmp_path / "serving.json"
    record = bench.main([*QUICK, "--json", str(out)])
    check_run(record, capsys.readouterr().out, out)
    assert record["settings"]["server_in"] == "process"


class _Target:
    """Answers like a model: fixed probabilities per text, optionally perturbed."""

    def __init__(self, shift: float = 0.0, flip: bool = False) -> None:
        self.shift, self.flip = shift, flip

    def open_client(self):
        def call(texts):
            p = np.array([[0.3 + self.shift, 0.7 - self.shift] for _ in texts], np.float32)
            ids = np.array([0 if self.flip else 1 for _ in texts], np.int64)
            return ids, p

        return call, lambda: None


def test_disagreeing_server_aborts_before_timing(bench) -> None:
    texts = ["a fine film", "a dull film"]
    assert bench.check_agreement(_Target(), _Target(), "grpc", texts) == 0.0
    assert bench.check_agreement(_Target(), _Target(shift=5e-6), "grpc", texts) < 1e-5
    with pytest.raises(bench.BenchmarkError, match="probability difference 1.00e-04"):
        bench.check_agreement(_Target(), _Target(shift=1e-4), "grpc", texts)
    with pytest.raises(bench.BenchmarkError, match=r"grpc\+batching disagrees.*label ids \[0\]"):
        bench.check_agreement(_Target(), _Target(flip=True), "grpc+batching", texts)
