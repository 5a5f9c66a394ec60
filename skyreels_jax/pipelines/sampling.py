"""The denoising loop of full-sequence sampling: any solver, schedule and guidance (pipelines.sampler);
CFG as one forward of batch 2 where the guidance needs it, one compiled step per batch size."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx
from tqdm.auto import tqdm

from skyreels_jax.nn.jit import jit
from skyreels_jax.parallel.placement import to_device
from skyreels_jax.pipelines import step_cache
from skyreels_jax.pipelines.sampler import Sampler, check_step_caching, guidance_arrays, make_sampler
from skyreels_jax.schedulers import get_solver, guide, init_guidance, sigmas_of, step_index, timesteps_of


@jit(static_argnums=(0, 2), donate_argnums=(3, 9, 10))
def _step(graphdef, params, scheduler, latents, state, context, image_context, condition, guidance,
          guidance_state=None, cache=None):
    """One model evaluation and solver update. scheduler: a SCHEDULERS name or a solver; context is
    [2, L, D] (cond, uncond) where the guidance runs its second pass, else [1, L, D]; guidance: a
    Guidance of arrays (sampler.guidance_arrays).

    Returns (latents, state, guidance_state), and the step cache after them when one is given."""
    solver = get_solver(scheduler) if isinstance(scheduler, str) else scheduler
    dit = nnx.merge(graphdef, params)
    batch = context.shape[0]
    x = latents if condition is None else jnp.concatenate([latents, condition], axis=-1)
    x = jnp.broadcast_to(x, (batch, *x.shape[1:]))
    t = jnp.broadcast_to(timesteps_of(state), (batch, x.shape[1]))
    if image_context is not None:
        image_context = jnp.broadcast_to(image_context, (batch, *image_context.shape[1:]))
    if cache is None:
        v = dit.forward(x, t, context, image_context)
    else:
        v, cache = step_cache.forward(dit, cache, x, t, context, image_context)
    cond, uncond = (v[:1], v[1:]) if batch == 2 else (v, None)
    v, guidance_state = guide(guidance, guidance_state, cond, uncond, sample=latents, sigma=sigmas_of(state),
                              step=step_index(state))
    out = (*solver.step(state, v, latents), guidance_state)
    return out if cache is None else (*out, cache)


def denoise(dit, latents, context, num_steps: int, shift: float, guidance: float, *, image_context=None,
            condition=None, scheduler: str = "unipc", progress: bool = True, teacache_threshold: float | None = None,
            stats: dict | None = None, sampler: Sampler | None = None, key=None) -> jax.Array:
    """Sample from noise `latents` [1, F, h, w, 16]; `condition` is the I2V channels [1, F, h, w, 20].

    sampler (pipelines.sampler) chooses solver, schedule and guidance; without one, `scheduler` on
    the original's schedule (num_steps, shift) with CFG at scale `guidance`. context is [2, L, D]
    (prompt, negative) when the guidance runs a second pass anywhere, else [1, L, D]. key seeds a
    stochastic solver's noise. The loop runs the solver's model evaluations (Heun: about two a step).

    The step is compiled once per shape and never waits for the device: with a progress bar the
    host waits for the step before last, so one step is always queued. teacache_threshold (None:
    off) turns on step caching (see step_cache); stats, if given, gets "nfe" (model forwards,
    counting each CFG pass), and with step caching "teacache_skipped" and "steps" (evaluations).
    """
    if sampler is None:
        sampler = make_sampler(scheduler, num_steps=num_steps, shift=shift, guidance_scale=guidance)
    pair = sampler.uncond
    if pair.any() and context.shape[0] != 2:
        raise ValueError("this sampler's guidance needs the negative prompt's context: pass [prompt, negative]")
    check_step_caching(sampler, teacache_threshold)
    single = context[:1] if context.shape[0] == 2 and not pair.all() else context
    stochastic = getattr(sampler.solver, "stochastic", False)
    state = jax.tree.map(to_device, sampler.init(latents.shape, key=key if stochastic else None))
    graphdef, params = nnx.split(dit)
    latents = jnp.array(latents, jnp.float32)  # a copy: the step donates its input
    evaluations, cache = sampler.evaluations, None
    if teacache_threshold is not None:
        cfg = dit.config
        tokens = math.prod(n // p for n, p in zip(latents.shape[1:4], cfg.patch_size))
        cache = step_cache.init(teacache_threshold, evaluations, int(pair[0]) + 1, tokens, cfg.dim)
    guidance = jax.tree.map(to_device, guidance_arrays(sampler.guidance))
    guidance_state, pending = init_guidance(sampler.guidance, latents.shape), None
    for e in tqdm(range(evaluations), desc="denoising", disable=not progress, leave=False):
        out = _step(graphdef, params, sampler.static, latents, state, context if pair[e] else single, image_context,
                    condition, guidance, guidance_state, cache)
        latents, state, guidance_state, cache = out if cache is not None else (*out, None)
        if progress and pending is not None:
            pending.block_until_ready()  # the previous step: the bar shows real progress, the device stays busy
        pending = state.step
    if stats is not None:
        stats["nfe"] = stats.get("nfe", 0) + sampler.nfe
        if cache is not None:
            stats.update(teacache_skipped=int(cache.skipped), steps=evaluations)
    return latents


def denoise_key(seed: int) -> jax.Array:
    """The key of a stochastic solver's noise in text/image-to-video sampling."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), 2_000_003)
