"""TF Serving warm-up records; written by the export, read here (see tfbert.export.warmup)."""

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
