"""LayerNorm and RMSNorm, always computed in float32 (their statistics lose too much in bf16)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


def layer_norm(x: jax.Array, eps: float) -> jax.Array:
    """Parameter-free LayerNorm over the last axis, float32 in and out."""
    x = x.astype(jnp.float32)
    mean = x.mean(-1, keepdims=True)
    var = jnp.square(x - mean).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps)


class LayerNorm(nnx.Module):
    """LayerNorm with an optional affine scale/bias; returns float32."""

    def __init__(self, dim: int, *, eps: float = 1e-6, affine: bool = True, axis_name: str | None = None,
                 param_dtype=jnp.float32):
        self.eps = eps
        self.scale = nnx.Param(jnp.ones((dim,), param_dtype), logical_axes=(axis_name,)) if affine else None
        self.bias = nnx.Param(jnp.zeros((dim,), param_dtype), logical_axes=(axis_name,)) if affine else None

    def __call__(self, x: jax.Array) -> jax.Array:
        y = layer_norm(x, self.eps)
        if self.scale is not None:
            y = y * self.scale[...].astype(jnp.float32) + self.bias[...].astype(jnp.float32)
        return y


class RMSNorm(nnx.Module):
    """RMSNorm over the last axis with a learned scale; returns float32."""

    def __init__(self, dim: int, *, eps: float = 1e-6, axis_name: str | None = None, param_dtype=jnp.float32):
        self.eps = eps
        self.scale = nnx.Param(jnp.ones((dim,), param_dtype), logical_axes=(axis_name,))

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.astype(jnp.float32)
        y = x * jax.lax.rsqrt(jnp.square(x).mean(-1, keepdims=True) + self.eps)
        return y * self.scale[...].astype(jnp.float32)
