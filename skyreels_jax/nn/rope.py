"""3D rotary position embedding of Wan/SkyReels: interleaved pairs, one band per axis."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def rope_band_dims(head_dim: int) -> tuple[int, int, int]:
    """(time, height, width) band widths: 44/42/42 for head_dim 128."""
    hw = 2 * (head_dim // 6)
    return head_dim - 2 * hw, hw, hw


def rope_tables(grid: tuple[int, int, int], head_dim: int, theta: float = 10000.0
                ) -> tuple[jax.Array, jax.Array]:
    """cos and sin, [f·h·w, head_dim/2] float32, for token order (f, h, w) with w fastest.

    The angles are computed in float64 on the host (positions reach 1023, where a float32
    product loses ~1e-4 rad), per axis, and broadcast over the grid in the graph.
    """
    tables = []
    for axis, (size, band) in enumerate(zip(grid, rope_band_dims(head_dim))):
        freqs = 1.0 / theta ** (np.arange(0, band, 2, dtype=np.float64) / band)
        angle = np.outer(np.arange(size, dtype=np.float64), freqs)
        shape = [1, 1, 1, band // 2]
        shape[axis] = size
        tables.append((np.cos(angle).reshape(shape), np.sin(angle).reshape(shape)))
    f, h, w = grid

    def assemble(parts):
        return jnp.concatenate([jnp.broadcast_to(jnp.asarray(p, jnp.float32), (f, h, w, p.shape[-1]))
                                for p in parts], axis=-1).reshape(f * h * w, head_dim // 2)

    return assemble([c for c, _ in tables]), assemble([s for _, s in tables])


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """Rotate adjacent pairs (x[2i], x[2i+1]) of x [B, L, heads, head_dim] by the tables [L, head_dim/2]."""
    pairs = x.astype(jnp.float32).reshape(*x.shape[:-1], -1, 2)
    a, b = pairs[..., 0], pairs[..., 1]
    cos, sin = cos[None, :, None, :], sin[None, :, None, :]
    out = jnp.stack([a * cos - b * sin, a * sin + b * cos], axis=-1)
    return out.reshape(x.shape).astype(x.dtype)
