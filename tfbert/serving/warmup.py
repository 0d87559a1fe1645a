"""TF Serving warm-up records; moved to `tfbert.export.warmup` (this name is kept for a release)."""

from tfbert.export.warmup import (
    DEFAULT_WARMUP_TEXTS,
    build_warmup_logs,
    read_warmup_requests,
    warmup_path,
    write_warmup_requests,
)

__all__ = [
    "DEFAULT_WARMUP_TEXTS",
    "build_warmup_logs",
    "read_warmup_requests",
    "warmup_path",
    "write_warmup_requests",
]
