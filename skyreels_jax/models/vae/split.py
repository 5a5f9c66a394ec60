"""The VAE decode split spatially across devices.

The latent rows are sharded over mesh axes (and the batch over `data` where it divides, else
`data` splits rows too), and the columns over the axes that do not divide the rows; XLA's SPMD
partitioner then splits every convolution by rows and columns with a halo exchange of the
neighbours, and gathers what the mid-block's per-frame attention needs. The causal cache over
time stays per device, so the result equals the one-device decode up to float rounding; each
device holds 1/n of every activation.
The pipelines' decode uses `latent_spec` under the pipeline's mesh (pipelines/conditioning.py).
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

ROW_AXES = ("fsdp", "context", "tensor")


def latent_spec(mesh, shape, row_axes: tuple[str, ...] = ROW_AXES, strict: bool = False) -> P:
    """Partition spec of latents [B, F, h, w, z]: batch over data where it divides, rows over the others,
    and the axes that do not divide the rows left over the columns (90 rows of 720P over 2, 160 columns
    over 4, rather than 2 devices doing the work of 8). A `data` axis that does not divide the batch splits
    the longer of each device's rows and columns, keeping its tile square (the TPU compiler runs out of
    scoped VMEM on 17 latent rows of whole 540P width, 17 x 120, where 34 x 60 compiles).

    Axes that divide neither are skipped, or raise with strict=True.
    """
    sizes = mesh.shape
    batch = "data" if sizes["data"] > 1 and shape[0] % sizes["data"] == 0 else None
    split = {2: [], 3: []}
    for axis in (*row_axes, *(() if batch else ("data",))):
        if sizes[axis] < 2:
            continue
        extent = {d: shape[d] // math.prod(sizes[a] for a in split[d]) for d in (2, 3)}
        order = sorted((2, 3), key=lambda d: -extent[d]) if axis == "data" else (2, 3)
        dim = next((d for d in order if shape[d] % (math.prod(sizes[a] for a in split[d]) * sizes[axis]) == 0),
                   None)
        if dim is not None:
            split[dim].append(axis)
        elif strict:
            raise ValueError(f"latents of {shape[2]}×{shape[3]} do not split over the mesh axis {axis!r} "
                             f"({sizes[axis]} devices) after {split[2] + split[3]}; "
                             "use a mesh whose sizes divide them")
    return P(batch, None, tuple(split[2]) or None, tuple(split[3]) or None, None)


@functools.partial(jax.jit, static_argnums=(0, 3))
def _decode(graphdef, state, z, out_sharding):
    video = nnx.merge(graphdef, state).decode_raw(z)
    return jax.lax.with_sharding_constraint(jnp.clip(video, -1.0, 1.0), out_sharding)


def decode_split(vae, z, mesh: Mesh, row_axes: tuple[str, ...] = ROW_AXES) -> jax.Array:
    """vae.decode(z) with latent rows (and columns) over `row_axes` of the mesh: video [B, F, H, W, 3], sharded.

    Each of the row axes used must divide the latent height or width (axes of size 1 are skipped).
    """
    from skyreels_jax.models.vae.checks import check_latents

    z = check_latents(vae.config, z)
    spec = NamedSharding(mesh, latent_spec(mesh, z.shape, row_axes, strict=True))
    graphdef, state = nnx.split(vae.half("decoder"))
    state = jax.device_put(state, NamedSharding(mesh, P()))
    return _decode(graphdef, state, jax.device_put(jnp.asarray(z), spec), spec)
