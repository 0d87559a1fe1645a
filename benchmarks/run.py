"""Runs tfbert's benchmarks against its peers: the same as `tfbert bench` (see --help)."""

import sys

from tfbert.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
