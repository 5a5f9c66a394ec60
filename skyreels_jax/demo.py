"""What runs today without any download: the DiT through a short sampling loop, written as a video.

The pipelines, the VAE and the trained embedded model are separate issues (5, 3 and 10).
Until they land, the demo samples with a tiny *random-weight* DiT (flow-matching Euler,
classifier-free guidance as one batch of 2) and writes latent channels 0-2 as colours,
upsampled 8×. It shows the machinery end to end; it is not a picture of anything.
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from skyreels_jax.media import write_video
from skyreels_jax.models.dit import DiT, DiTConfig
from skyreels_jax.schedulers import flow_sigmas as shifted_sigmas  # the original's sigmas, then 0

TINY = DiTConfig(dim=64, ffn_dim=128, num_heads=4, num_layers=2, text_dim=32)


@nnx.jit
def _euler_step(dit, x, sigma, sigma_next, context, guidance):
    t = jnp.full((2, x.shape[1]), sigma * 1000.0)
    v = dit.forward(jnp.concatenate([x, x]), t, context)
    v = v[1:] + guidance * (v[:1] - v[1:])  # cond first, uncond second
    return x + (sigma_next - sigma) * v


def run_demo(out: str | Path, frames: int = 17, height: int = 128, width: int = 128, steps: int = 10,
             guidance: float = 5.0, shift: float = 8.0, seed: int = 0) -> Path:
    key = jax.random.PRNGKey(seed)
    dit = DiT(TINY, rngs=nnx.Rngs(seed))
    shape = (1, (frames - 1) // 4 + 1, height // 8, width // 8, TINY.in_dim)
    x = jax.random.normal(key, shape)
    context = jax.random.normal(jax.random.fold_in(key, 1), (2, 16, TINY.text_dim)).at[1].set(0.0)
    sigmas = shifted_sigmas(steps, shift)
    start = time.perf_counter()
    for i in range(steps):
        x = _euler_step(dit, x, sigmas[i], sigmas[i + 1], context, guidance)
    x.block_until_ready()
    print(f"sampled {steps} steps of a {shape[1]}×{shape[2]}×{shape[3]} latent in {time.perf_counter() - start:.1f} s")
    preview = np.asarray(x[0, ..., :3])
    lo, hi = preview.min(axis=(0, 1, 2)), preview.max(axis=(0, 1, 2))
    rgb = ((preview - lo) / np.maximum(hi - lo, 1e-6) * 255).astype(np.uint8)
    rgb = rgb.repeat(8, axis=1).repeat(8, axis=2).repeat(4, axis=0)
    return write_video(out, rgb, fps=16)
