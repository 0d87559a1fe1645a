"""Start-up time of the `tfbert` command: `tfbert --help` and `tfbert datasets`, wall clock.

    python benchmarks/startup.py [--repeats 5]

Runs each command in a fresh process several times and prints the best and the median time;
also reports whether TensorFlow was imported (it must not be, for these commands).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = (["--help"], ["datasets"], ["train", "--help"], ["train", "--no-such-option"])
PROBE = (
    "import sys\nfrom tfbert.cli import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    "print('tensorflow' in sys.modules, file=sys.stderr)\n"
)


def time_command(argv: list[str], repeats: int) -> tuple[list[float], bool]:
    seconds = []
    loaded = False
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=False
        )
        seconds.append(time.perf_counter() - started)
        loaded = done.stderr.strip().splitlines()[-1] == "True"
    return seconds, loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per command (default: 5)")
    args = parser.parse_args()
    print(f"{'command':32s} {'best s':>8s} {'median s':>9s}  TensorFlow imported")
    for argv in COMMANDS:
        seconds, loaded = time_command(argv, args.repeats)
        name = "tfbert " + " ".join(argv)
        print(f"{name:32s} {min(seconds):8.2f} {statistics.median(seconds):9.2f}  {loaded}")


if __name__ == "__main__":
    main()
