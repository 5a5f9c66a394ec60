"""Step caching, TeaCache-style: skip the DiT's block stack on steps where its input barely moved.

At every denoising step the first block's modulated input m = LN(x)·(1+scale₁)+shift₁ (patch
tokens modulated by the step's time embedding, as TeaCache measures it) is compared with the
previous step's: d = mean|m − m_prev| / mean|m_prev| per CFG branch. The d's are summed over
the steps since the block stack last ran; while that sum stays below the threshold for every
branch the stack is skipped and its cached residual (output − input of the last run, kept per
branch) is added to the tokens instead; otherwise the stack runs and the sum restarts at 0.
The first and last steps always run the stack.

No polynomial rescaling of d: the original's coefficients are fits to the released checkpoints'
own indicator (the time-embedding projection, chosen by a path substring); here the sum of raw
relative L1 changes is the indicator, so thresholds are not interchangeable with the original's.
In text/image-to-video both CFG branches see the same tokens and timesteps, so their d's are
equal and one decision for both loses nothing; the residuals differ and are kept per branch.

The decision is a `lax.cond` inside the compiled step: no host sync. Threshold 0 never skips.
Diffusion forcing is refused (pipelines.checks): the original's maintainers found TeaCache
breaks it, and with a different noise level per frame one residual cannot stand for all frames.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from skyreels_jax.parallel.placement import to_device


class StepCache(NamedTuple):
    threshold: jax.Array  # float32 []
    last_step: jax.Array  # int32 []: index of the last step (always computed)
    step: jax.Array       # int32 []: steps taken
    previous: jax.Array   # float32 [B, L, D]: the last step's modulated first-block input
    residual: jax.Array   # float32 [B, L, D]: block-stack output minus input, at its last run
    distance: jax.Array   # float32 [B]: summed relative L1 change since that run
    skipped: jax.Array    # int32 []: steps that reused the residual


def init(threshold: float, num_steps: int, batch: int, tokens: int, dim: int) -> StepCache:
    def zeros(*shape):
        return to_device(np.zeros(shape, np.float32))  # separate buffers: the step donates them
    def count(n):
        return to_device(n, np.int32)
    return StepCache(to_device(threshold, np.float32), count(num_steps - 1), count(0), zeros(batch, tokens, dim),
                     zeros(batch, tokens, dim), zeros(batch), count(0))


def forward(dit, cache: StepCache, latents, timestep, context, image_context=None) -> tuple[jax.Array, StepCache]:
    """dit.forward with the block stack skipped when the cache allows; returns (velocity, new cache)."""
    x, c = dit.embed(latents, timestep, context, image_context)
    modulated = dit.first_block_input(x, c)
    axes = tuple(range(1, modulated.ndim))
    change = jnp.abs(modulated - cache.previous).mean(axes) / jnp.maximum(jnp.abs(cache.previous).mean(axes), 1e-12)
    distance = cache.distance + change
    forced = (cache.step == 0) | (cache.step >= cache.last_step)
    skip = ~forced & jnp.all(distance < cache.threshold)

    def reuse(x):
        return (x.astype(jnp.float32) + cache.residual).astype(x.dtype), cache.residual

    def compute(x):
        y = dit.run_blocks(x, c)
        return y, y.astype(jnp.float32) - x.astype(jnp.float32)

    y, residual = jax.lax.cond(skip, reuse, compute, x)
    new = cache._replace(step=cache.step + 1, previous=modulated, residual=residual,
                         distance=jnp.where(skip, distance, 0.0), skipped=cache.skipped + skip.astype(jnp.int32))
    return dit.unembed(y, c), new
