"""Pure analysis functions: arrays in, arrays or small dataclasses out."""

from .metrics import r2_score

__all__ = ["r2_score"]
