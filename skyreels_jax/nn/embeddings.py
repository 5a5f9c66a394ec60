"""Timestep sinusoids, small MLPs and lookup embeddings."""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from skyreels_jax.nn.linear import Axes, Linear

_TIMESTEP_BITS = 16  # exact for integer parts below 2**16; the models use 0..1000


def timestep_embedding(t: jax.Array, dim: int, max_period: float = 10000.0) -> jax.Array:
    """[cos(t·ω), sin(t·ω)] with ω_k = max_period^(-k/(dim/2)), float32, shape t.shape + (dim,).

    The reference computes this in float64. A float32 product t·ω near t = 999 is off by
    ~6e-5 rad, so instead the angle is built from float64 tables: the integer part of t
    rotates by precomputed cos/sin of 2^j·ω for each set bit j, the fractional part (small
    angle) is computed directly. The result matches float64 to ~1e-6.
    """
    half = dim // 2
    omega = max_period ** (-np.arange(half, dtype=np.float64) / half)
    t = jnp.asarray(t, jnp.float32)
    whole = jnp.floor(t)
    frac_angle = (t - whole)[..., None] * jnp.asarray(omega, jnp.float32)
    cos, sin = jnp.cos(frac_angle), jnp.sin(frac_angle)
    n = whole.astype(jnp.int32)[..., None]
    for j in range(_TIMESTEP_BITS):
        step = np.mod(2.0**j * omega, 2 * np.pi)
        c_j, s_j = jnp.asarray(np.cos(step), jnp.float32), jnp.asarray(np.sin(step), jnp.float32)
        on = ((n >> j) & 1).astype(bool)
        cos, sin = jnp.where(on, cos * c_j - sin * s_j, cos), jnp.where(on, sin * c_j + cos * s_j, sin)
    return jnp.concatenate([cos, sin], axis=-1)


def gelu_tanh(x: jax.Array) -> jax.Array:
    return jax.nn.gelu(x, approximate=True)


def gelu_exact(x: jax.Array) -> jax.Array:
    return jax.nn.gelu(x, approximate=False)


class MLP(nnx.Module):
    """fc2(act(fc1(x)))."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, *, act: Callable[[jax.Array], jax.Array],
                 axes: tuple[Axes, Axes] = ((None, None), (None, None)), dtype=jnp.float32,
                 param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.fc1 = Linear(in_dim, hidden_dim, axes=axes[0], dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.fc2 = Linear(hidden_dim, out_dim, axes=axes[1], dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.act = act

    def __call__(self, x: jax.Array, out_dtype=None) -> jax.Array:
        h = self.fc1(x, out_dtype=jnp.float32)
        return self.fc2(self.act(h), out_dtype=out_dtype)


class Embed(nnx.Module):
    """Lookup table [num, dim]."""

    def __init__(self, num: int, dim: int, *, axis_name: str | None = None, param_dtype=jnp.float32,
                 rngs: nnx.Rngs):
        init = nnx.initializers.normal(1.0)
        self.embedding = nnx.Param(init(rngs.params(), (num, dim), param_dtype), logical_axes=(None, axis_name))

    def __call__(self, ids: jax.Array) -> jax.Array:
        return jnp.take(self.embedding[...], ids, axis=0)
