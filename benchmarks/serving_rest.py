"""REST serving benchmark (issue 29): the REST server of one commit against another's.

`tfbert serve`'s REST API moved from the standard library's `http.server` to aiohttp. This
measures both with the same model, the same texts and the same client: `--concurrency` clients
(default 1 and 16), each a thread with its own keep-alive HTTP connection posting one IMDB test
review per `:predict` request; latency p50/p99 and requests per second. Each server runs in its
own process, started from a source tree of its commit (`git archive` into a temporary directory;
the checkout is not touched): `--old` (default: `main`) and the working tree (`new`). Both are
first checked to give the same answers; configurations alternate over `--rounds` rounds and the
table shows the medians. `--variant NAME="FLAGS"` (repeatable) adds servers of the working tree
started with other `tfbert serve` flags, measured in the same rounds:

    .venv/bin/python benchmarks/serving_rest.py --old main --requests 400 --rounds 3 --json
    .venv/bin/python benchmarks/serving_rest.py --variant threads4="--rest_api_num_threads 4"

This is a benchmark, not a test: its numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: import `benchmarks` as the repository's package
    if sys.path and Path(sys.path[0]).resolve() == REPO / "benchmarks":
        sys.path[0] = str(REPO)
    elif str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))

from benchmarks.harness import git_commit, progress, progress_done, result_path, write_results  # noqa: E402
from benchmarks.serving import (  # noqa: E402
    MODEL_NAME,
    BenchmarkError,
    _free_port,
    build_export,
    load_texts,
    machine_info,
    run_cell,
    stop_process,
)

RESULTS = REPO / "benchmarks" / "results"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", default="main", help="the commit to compare (default: main)")
    parser.add_argument("--preset", default="tiny", help="model size (default: tiny)")
    parser.add_argument("--max-length", type=int, default=128, help="tokens (default: 128)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--requests", type=int, default=320, help="per cell (default: 320)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default: 3)")
    parser.add_argument("--time-cap", type=float, default=120.0, help="seconds per cell")
    parser.add_argument("--num-texts", type=int, default=256, help="distinct reviews")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar='NAME="FLAGS"',
        help="also measure the working tree's server started with these `tfbert serve` flags",
    )
    parser.add_argument("--json", action="store_true", help="write benchmarks/results/*.json")
    return parser.parse_args(argv)


def source_tree(commit: str, into: Path) -> Path:
    """The `tfbert/` package of `commit`, extracted into `into` (the checkout is untouched)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = into / "source.tar"
    with open(archive, "wb") as out:
        subprocess.run(
            ["git", "-C", str(REPO), "archive", commit, "tfbert"], stdout=out, check=True
        )
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


class RestTarget:
    """`tfbert serve` from the source tree `root`, in its own process, asked over REST."""

    def __init__(self, root: Path, base: Path, log_path: Path, flags: Sequence[str] = ()) -> None:
        self.port = _free_port()
        command = [
            sys.executable, "-m", "tfbert.cli", "serve", "--model_base_path", str(base),
            "--model_name", MODEL_NAME, "--port", str(_free_port()),
            "--rest_api_port", str(self.port), "--file_system_poll_wait_seconds", "0", *flags,
        ]  # fmt: skip
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(root)}
        self._process = subprocess.Popen(
            command, stdout=self._log, stderr=self._log, env=env, cwd=root
        )
        started = time.monotonic()
        while True:
            if self._process.poll() is not None:
                raise BenchmarkError(f"the server from {root} exited; log: {log_path}")
            try:
                self.open_client()[0](["ready?"])
                return
            except OSError:
                if time.monotonic() - started > 600:
                    raise BenchmarkError(f"no REST answer within 600 s; log: {log_path}") from None
                time.sleep(0.5)

    def open_client(self) -> tuple[Callable[[list[str]], Any], Callable[[], None]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        path = f"/v1/models/{MODEL_NAME}:predict"

        def call(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
            body = json.dumps({"instances": texts}).encode()
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            data = response.read()
            if response.status != 200:
                raise BenchmarkError(f"HTTP {response.status}: {data[:300]!r}")
            rows = json.loads(data)["predictions"]
            return (
                np.array([r["label_id"] for r in rows]),
                np.array([r["probabilities"] for r in rows]),
            )

        return call, connection.close

    def close(self) -> None:
        stop_process(self._process)
        self._log.close()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    variants = {}
    for variant in args.variant:
        name, _, flags = variant.partition("=")
        if not name or name in ("old", "new") or not flags:
            raise BenchmarkError(f'--variant takes NAME="FLAGS" (not old/new), got {variant!r}')
        variants[name] = shlex.split(flags)
    old_commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", args.old],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    load_start = [round(value, 2) for value in os.getloadavg()]
    texts = load_texts("imdb", args.num_texts, args.seed)
    with tempfile.TemporaryDirectory(prefix="serving-rest-") as tmp:
        work = Path(tmp)
        base = build_export(args.preset, args.max_length, work / "export").parent
        servers = {"old": (source_tree(old_commit, work / "old"), []), "new": (REPO, [])}
        servers.update({name: (REPO, flags) for name, flags in variants.items()})
        targets = {
            name: RestTarget(root, base, work / f"{name}.log", flags)
            for name, (root, flags) in servers.items()
        }
        try:
            sample = texts[:8]
            old_ids, old_probs = targets["old"].open_client()[0](sample)
            for name in list(targets)[1:]:
                new_ids, new_probs = targets[name].open_client()[0](sample)
                if not (np.array_equal(old_ids, new_ids) and np.allclose(old_probs, new_probs)):
                    raise BenchmarkError(f"the old server and {name} answer differently")
            cells, failures = [], []
            for round_index in range(args.rounds):
                order = list(targets) if round_index % 2 == 0 else list(targets)[::-1]
                for concurrency in args.concurrency:
                    for name in order:
                        label = f"round {round_index + 1} {name} c={concurrency}"
                        try:
                            cell = run_cell(
                                targets[name],
                                texts,
                                concurrency=concurrency,
                                per_client=max(1, args.requests // concurrency),
                                texts_per_request=1,
                                time_cap=args.time_cap,
                                label=label,
                            )
                        except BenchmarkError as error:  # a failed cell, kept as a finding
                            progress_done()
                            progress(f"{label}: {error}")
                            failed = {"server": name, "concurrency": concurrency}
                            failures.append(
                                {**failed, "round": round_index + 1, "error": str(error)}
                            )
                            continue
                        progress_done()
                        progress(
                            f"round {round_index + 1} {name:>3} c={concurrency:<3} "
                            f"{cell['throughput_rps']:7.1f} req/s p50 {cell['p50_ms']:.1f} ms "
                            f"p99 {cell['p99_ms']:.1f} ms"
                        )
                        cells.append({"server": name, "concurrency": concurrency, **cell})
        finally:
            for target in targets.values():
                target.close()
    rows = []
    for concurrency in args.concurrency:
        for name in ("old", "new", *variants):
            runs = [c for c in cells if c["server"] == name and c["concurrency"] == concurrency]
            if not runs:
                continue
            rows.append(
                {
                    "server": name,
                    "concurrency": concurrency,
                    "requests_per_round": int(np.median([c["requests"] for c in runs])),
                    "throughput_rps": float(np.median([c["throughput_rps"] for c in runs])),
                    "p50_ms": float(np.median([c["p50_ms"] for c in runs])),
                    "p99_ms": float(np.median([c["p99_ms"] for c in runs])),
                    "throughput_rps_rounds": [round(c["throughput_rps"], 2) for c in runs],
                    "p99_ms_rounds": [round(c["p99_ms"], 1) for c in runs],
                }
            )
    names = {"old": f"old ({old_commit}, http.server)", "new": "new (aiohttp)"}
    names.update({name: f"{name} ({' '.join(flags)})" for name, flags in variants.items()})
    width = max(24, *(len(name) for name in names.values()))
    print(f"{'clients':>7} {'server':<{width}} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for row in rows:
        print(
            f"{row['concurrency']:>7} {names[row['server']]:<{width}} "
            f"{row['throughput_rps']:>8.1f} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f}"
        )
    commit = git_commit(REPO)
    machine = {**machine_info(), "load_average_start": load_start}
    machine["load_average_end"] = [round(value, 2) for value in os.getloadavg()]
    record = {
        "benchmark": "serving_rest",
        "date": datetime.date.today().isoformat(),
        "commit": commit,
        "old_commit": old_commit,
        "servers": names,
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "machine": machine,
        "notes": [
            f"CPU: {machine['cpu_model']}, {machine['cpu_count']} cores, shared with other jobs; "
            f"load average (1/5/15 min) {load_start} at the start, "
            f"{machine['load_average_end']} at the end"
        ],
        "rows": rows,
        "failed_cells": failures,
    }
    if args.json:
        write_results(result_path(RESULTS, "serving_rest", datetime.date.today(), commit), record)
    return record


if __name__ == "__main__":
    main()
