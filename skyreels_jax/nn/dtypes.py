"""The dtype properties shared by every model config (fields `param_dtype` and `dtype`, as names)."""
from __future__ import annotations

import jax.numpy as jnp


class DtypeConfig:
    """Mixin for a frozen config dataclass with `param_dtype` and `dtype` fields."""

    @property
    def compute_dtype(self):
        return jnp.dtype(self.dtype)

    @property
    def weight_dtype(self):
        return jnp.dtype(self.param_dtype)
