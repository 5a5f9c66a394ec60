"""The VAE decode split spatially across devices.

The latent rows are sharded over mesh axes (and the batch over `data` where it divides, else
`data` splits rows too); XLA's SPMD partitioner then splits every convolution by rows with a
halo exchange of the neighbouring rows, and gathers what the mid-block's per-frame attention
needs. The causal cache over time stays per device, so the result equals the one-device
decode up to float rounding; each device holds 1/n of every activation row-wise.
The pipelines' decode uses `latent_spec` under the pipeline's mesh (pipelines/conditioning.py).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

ROW_AXES = ("fsdp", "context", "tensor")


def latent_spec(mesh, shape, row_axes: tuple[str, ...] = ROW_AXES, strict: bool = False) -> P:
    """Partition spec of latents [B, F, h, w, z]: batch over data where it divides, rows over the others.

    Axes whose size does not divide the rows left are skipped, or raise with strict=True.
    """
    sizes = mesh.shape
    batch = "data" if sizes["data"] > 1 and shape[0] % sizes["data"] == 0 else None
    rows, n = [], 1
    for axis in (*row_axes, *(() if batch else ("data",))):
        if sizes[axis] < 2:
            continue
        if shape[2] % (n * sizes[axis]) == 0:
            rows.append(axis)
            n *= sizes[axis]
        elif strict:
            raise ValueError(f"latent height {shape[2]} does not split over the mesh axes {(*rows, axis)} "
                             f"({n * sizes[axis]} devices); use a mesh whose sizes divide it")
    return P(batch, None, tuple(rows) or None, None, None)


@functools.partial(jax.jit, static_argnums=(0, 3))
def _decode(graphdef, state, z, out_sharding):
    video = nnx.merge(graphdef, state).decode_raw(z)
    return jax.lax.with_sharding_constraint(jnp.clip(video, -1.0, 1.0), out_sharding)


def decode_split(vae, z, mesh: Mesh, row_axes: tuple[str, ...] = ROW_AXES) -> jax.Array:
    """vae.decode(z) with latent rows over `row_axes` of the mesh: video [B, F, H, W, 3], rows sharded.

    The latent height must divide by the product of the row axes used (axes of size 1 are skipped).
    """
    from skyreels_jax.models.vae.checks import check_latents

    z = check_latents(vae.config, z)
    spec = NamedSharding(mesh, latent_spec(mesh, z.shape, row_axes, strict=True))
    graphdef, state = nnx.split(vae.half("decoder"))
    state = jax.device_put(state, NamedSharding(mesh, P()))
    return _decode(graphdef, state, jax.device_put(jnp.asarray(z), spec), spec)
