"""The denoising loop of full-sequence sampling: CFG as one forward of batch 2, one compiled step."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm.auto import tqdm

from skyreels_jax.nn.jit import jit
from skyreels_jax.parallel.placement import to_device
from skyreels_jax.pipelines import step_cache
from skyreels_jax.schedulers import SCHEDULERS, current_timesteps


@jit(static_argnums=(0, 2), donate_argnums=(3, 9))
def _step(graphdef, params, scheduler: str, latents, state, context, image_context, condition, guidance,
          cache=None):
    """One scheduler step. context is [2, L, D] (cond, uncond) with guidance, else [1, L, D].

    With a step cache (see step_cache) returns (latents, state, cache), else (latents, state)."""
    dit = nnx.merge(graphdef, params)
    batch = context.shape[0]
    x = latents if condition is None else jnp.concatenate([latents, condition], axis=-1)
    x = jnp.broadcast_to(x, (batch, *x.shape[1:]))
    t = jnp.broadcast_to(current_timesteps(state).astype(jnp.float32), (batch, x.shape[1]))
    if image_context is not None:
        image_context = jnp.broadcast_to(image_context, (batch, *image_context.shape[1:]))
    if cache is None:
        v = dit.forward(x, t, context, image_context)
    else:
        v, cache = step_cache.forward(dit, cache, x, t, context, image_context)
    if batch == 2:
        v = v[1:] + guidance * (v[:1] - v[1:])  # uncond + g·(cond − uncond)
    out = SCHEDULERS[scheduler].step(state, v, latents)
    return out if cache is None else (*out, cache)


def denoise(dit, latents, context, num_steps: int, shift: float, guidance: float, *, image_context=None,
            condition=None, scheduler: str = "unipc", progress: bool = True, teacache_threshold: float | None = None,
            stats: dict | None = None) -> jax.Array:
    """Sample from noise `latents` [1, F, h, w, 16]; `condition` is the I2V channels [1, F, h, w, 20].

    The step is compiled once per shape and never waits for the device: with a progress bar the
    host waits for the step before last, so one step is always queued. teacache_threshold (None:
    off) turns on step caching (see step_cache); stats, if given, gets "teacache_skipped" and "steps".
    """
    state = jax.tree.map(to_device, SCHEDULERS[scheduler].init(num_steps, shift, latents.shape))
    graphdef, params = nnx.split(dit)
    latents = jnp.array(latents, jnp.float32)  # a copy: the step donates its input
    cache = None
    if teacache_threshold is not None:
        cfg = dit.config
        tokens = math.prod(n // p for n, p in zip(latents.shape[1:4], cfg.patch_size))
        cache = step_cache.init(teacache_threshold, num_steps, context.shape[0], tokens, cfg.dim)
    pending, guidance = None, to_device(guidance, np.float32)
    for _ in tqdm(range(num_steps), desc="denoising", disable=not progress, leave=False):
        out = _step(graphdef, params, scheduler, latents, state, context, image_context, condition, guidance, cache)
        latents, state, cache = out if cache is not None else (*out, None)
        if progress and pending is not None:
            pending.block_until_ready()  # the previous step: the bar shows real progress, the device stays busy
        pending = state.step
    if stats is not None and cache is not None:
        stats.update(teacache_skipped=int(cache.skipped), steps=num_steps)
    return latents
