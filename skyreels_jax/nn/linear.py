"""Dense layer with float32 accumulation and logical axis names on its parameters."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

Axes = tuple[str | None, ...]


def matmul(x: jax.Array, w: jax.Array, dtype: jnp.dtype) -> jax.Array:
    """x @ w in `dtype`, accumulated in float32.

    On CPU a bf16 dot with bf16 output runs at half the speed of one asked for float32
    accumulation, and the float32 sum is also the more accurate one.
    """
    return jnp.matmul(x.astype(dtype), w.astype(dtype), preferred_element_type=jnp.float32)


class Linear(nnx.Module):
    """y = x @ kernel + bias; kernel is [in, out] (PyTorch weights are transposed on load)."""

    def __init__(self, in_features: int, out_features: int, *, axes: Axes = (None, None),
                 use_bias: bool = True, dtype=jnp.float32, param_dtype=jnp.float32, rngs: nnx.Rngs):
        init = nnx.initializers.lecun_normal()
        self.kernel = nnx.Param(init(rngs.params(), (in_features, out_features), param_dtype),
                                logical_axes=axes)
        self.bias = (nnx.Param(jnp.zeros((out_features,), param_dtype), logical_axes=axes[1:])
                     if use_bias else None)
        self.dtype = dtype

    def __call__(self, x: jax.Array, out_dtype=None) -> jax.Array:
        y = matmul(x, self.kernel[...], self.dtype)
        if self.bias is not None:
            y = y + self.bias[...].astype(jnp.float32)
        return y.astype(out_dtype or self.dtype)
