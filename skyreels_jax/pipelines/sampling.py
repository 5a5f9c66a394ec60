"""The denoising loop of full-sequence sampling: CFG as one forward of batch 2, one compiled step."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx
from tqdm.auto import tqdm

from skyreels_jax.schedulers import SCHEDULERS, current_timesteps


@functools.partial(jax.jit, static_argnums=(0, 2), donate_argnums=3)
def _step(graphdef, params, scheduler: str, latents, state, context, image_context, condition, guidance):
    """One scheduler step. context is [2, L, D] (cond, uncond) with guidance, else [1, L, D]."""
    dit = nnx.merge(graphdef, params)
    batch = context.shape[0]
    x = latents if condition is None else jnp.concatenate([latents, condition], axis=-1)
    x = jnp.broadcast_to(x, (batch, *x.shape[1:]))
    t = jnp.broadcast_to(current_timesteps(state).astype(jnp.float32), (batch, x.shape[1]))
    if image_context is not None:
        image_context = jnp.broadcast_to(image_context, (batch, *image_context.shape[1:]))
    v = dit.forward(x, t, context, image_context)
    if batch == 2:
        v = v[1:] + guidance * (v[:1] - v[1:])  # uncond + g·(cond − uncond)
    return SCHEDULERS[scheduler].step(state, v, latents)


def denoise(dit, latents, context, num_steps: int, shift: float, guidance: float, *, image_context=None,
            condition=None, scheduler: str = "unipc", progress: bool = True) -> jax.Array:
    """Sample from noise `latents` [1, F, h, w, 16]; `condition` is the I2V channels [1, F, h, w, 20].

    The step is compiled once per shape; the loop runs on the host only to drive the progress
    bar (which waits for each step so that it shows real progress).
    """
    state = SCHEDULERS[scheduler].init(num_steps, shift, latents.shape)
    graphdef, params = nnx.split(dit)
    latents = jnp.array(latents, jnp.float32)  # a copy: the step donates its input
    for _ in tqdm(range(num_steps), desc="denoising", disable=not progress, leave=False):
        latents, state = _step(graphdef, params, scheduler, latents, state, context, image_context, condition,
                               jnp.float32(guidance))
        if progress:
            latents.block_until_ready()
    return latents
