"""Mixed precision by name; lives in `tfbert.modeling.precision` (kept here as an alias)."""

from tfbert.modeling.precision import INFERENCE_POLICIES, PRECISIONS, dtype_policy, set_precision

__all__ = ["INFERENCE_POLICIES", "PRECISIONS", "dtype_policy", "set_precision"]
