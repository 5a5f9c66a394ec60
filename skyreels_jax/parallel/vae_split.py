"""The VAE decode split spatially across devices.

The latent rows are sharded over mesh axes (and the batch over `data` where it divides);
XLA's SPMD partitioner then splits every convolution by rows with a halo exchange of the
neighbouring rows, and gathers what the mid-block's per-frame attention needs. The causal
cache over time stays per device, so the result equals the one-device decode up to float
rounding; each device holds 1/n of every activation row-wise and writes its rows of the video.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P


@functools.partial(jax.jit, static_argnums=(0, 3))
def _decode(graphdef, state, z, out_sharding):
    video = nnx.merge(graphdef, state).decode_raw(z)
    return jax.lax.with_sharding_constraint(jnp.clip(video, -1.0, 1.0), out_sharding)


def decode_split(vae, z, mesh: Mesh, row_axes: tuple[str, ...] = ("fsdp", "context", "tensor")) -> jax.Array:
    """vae.decode(z) with latent rows over `row_axes` of the mesh: video [B, F, H, W, 3], rows sharded.

    The latent height must divide by the product of the row axes used (axes of size 1 are skipped).
    """
    from skyreels_jax.models.vae_checks import check_latents

    z = check_latents(vae.config, z)
    rows = tuple(a for a in row_axes if mesh.shape[a] > 1)
    n = math.prod(mesh.shape[a] for a in rows)
    if z.shape[2] % n:
        raise ValueError(f"latent height {z.shape[2]} does not split over {n} devices ({rows}); "
                         f"use a mesh whose {rows} sizes divide it")
    batch = "data" if mesh.shape["data"] > 1 and z.shape[0] % mesh.shape["data"] == 0 else None
    spec = NamedSharding(mesh, P(batch, None, rows or None, None, None))
    graphdef, state = nnx.split(vae)
    state = jax.device_put(state, NamedSharding(mesh, P()))
    return _decode(graphdef, state, jax.device_put(jnp.asarray(z), spec), spec)
