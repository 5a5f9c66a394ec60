"""Guidance: how the conditional and unconditional velocities become the one the solver steps with.

    g = make_guidance("cfg_zero_star", scale=6.0, interval=(0.0, 0.9))
    gstate = init_guidance(g, latents.shape)
    cond = model(latents, prompt)                      # one forward, or two:
    uncond = model(latents, negative) if needs_uncond(g, sigma, step) else None
    v, gstate = guide(g, gstate, cond, uncond, sample=latents, sigma=sigma, step=step)

Modes:
- cfg: uncond + s·(cond − uncond), today's pipelines' formula.
- cfg_zero_star (Fan et al. 2025): uncond is first scaled by s* = <cond, uncond>/‖uncond‖², the
  multiple of uncond closest to cond, then CFG; the first `zero_steps` solver steps output 0
  (default 1, as the paper's Wan code and diffusers' guider).
- apg (Sadat et al. 2024), on the x0 predictions x − σ·v as the paper does: the difference
  Δ = x0_c − x0_u gets momentum Δ ← Δ + β·Δ_prev (β < 0 pushes away from the last update), is
  clipped to norm ≤ r when r > 0, and split into parts parallel and orthogonal to x0_c:
  x0 = x0_c + (s − 1)·(Δ⊥ + η·Δ∥). Defaults η = 0, β = −0.5 (the paper's), r = 0 (off: a
  norm threshold depends on the latent size). η = 1, β = 0, r = 0 is CFG.
A guidance interval [σ_lo, σ_hi] (Kynkäänniemi et al. 2024) applies any mode only there; outside
it the result is cond, so one forward is enough: `needs_uncond` says when two are needed.

σ and step are scalars, or one per latent frame in diffusion forcing; then s*, norms and
projections are taken per frame (each frame is at its own noise level), else per sample.
The Guidance is a pytree whose numbers are leaves (mode is static), so a jitted step can take it
as an argument without recompiling for another scale.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from skyreels_jax.schedulers import frames

MODES = ("cfg", "cfg_zero_star", "apg")


@dataclasses.dataclass(frozen=True)
class Guidance:
    mode: str = "cfg"
    scale: float = 6.0
    sigma_lo: float = 0.0        # the interval where guidance applies
    sigma_hi: float = 1.0
    zero_steps: int = 1          # cfg_zero_star: solver steps whose output is zeroed
    eta: float = 0.0             # apg: weight of the parallel part
    norm_threshold: float = 0.0  # apg: clip ‖Δ‖ to this (0: off)
    momentum: float = -0.5       # apg: β


jax.tree_util.register_dataclass(
    Guidance, data_fields=["scale", "sigma_lo", "sigma_hi", "zero_steps", "eta", "norm_threshold", "momentum"],
    meta_fields=["mode"])


def make_guidance(mode: str = "cfg", scale: float = 6.0, interval: Sequence[float] = (0.0, 1.0),
                  **options: Any) -> Guidance:
    """A checked Guidance; options: zero_steps (cfg_zero_star), eta, norm_threshold, momentum (apg)."""
    if mode not in MODES:
        raise ValueError(f"unknown guidance mode {mode!r}: use one of {', '.join(MODES)}")
    allowed = {"cfg": set(), "cfg_zero_star": {"zero_steps"}, "apg": {"eta", "norm_threshold", "momentum"}}[mode]
    if set(options) - allowed:
        raise ValueError(f"guidance {mode!r} takes no option {sorted(set(options) - allowed)}; "
                         f"its options: {sorted(allowed) or 'none'}")
    lo, hi = (float(v) for v in interval)
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"the guidance interval must be 0 <= sigma_lo <= sigma_hi <= 1, got {tuple(interval)}")
    g = Guidance(mode, float(scale), lo, hi, **options)
    if not all(math.isfinite(v) for v in (g.scale, g.eta, g.norm_threshold, g.momentum)) or g.norm_threshold < 0:
        raise ValueError(f"guidance numbers must be finite (norm_threshold >= 0), got {g}")
    if int(g.zero_steps) != g.zero_steps or g.zero_steps < 0:
        raise ValueError(f"zero_steps must be a whole number >= 0, got {g.zero_steps!r}")
    return g


def init_guidance(g: Guidance, sample_shape: Sequence[int]) -> jax.Array | None:
    """The guidance state: APG's running Δ (float32, like the sample), else None."""
    return jax.device_put(np.zeros(tuple(sample_shape), np.float32)) if g.mode == "apg" else None


def needs_uncond(g: Guidance, sigma: Any, step: Any = None) -> jax.Array | np.bool_:
    """True when some frame at noise level sigma (and solver step, for cfg_zero_star) uses the
    unconditional prediction: inside the interval, scale ≠ 1, not a zeroed step. Host values give a
    numpy bool (a sampling loop plans its forwards without compiling anything), traced ones a jax one."""
    xp = jnp if any(isinstance(v, jax.core.Tracer) for v in jax.tree.leaves((g, sigma, step))) else np
    sigma = xp.asarray(sigma)
    use = (sigma >= g.sigma_lo) & (sigma <= g.sigma_hi) & (g.scale != 1)
    if g.mode == "cfg_zero_star" and step is not None:
        use = use & (xp.asarray(step) >= g.zero_steps)
    return xp.any(use)


def guide(g: Guidance, state: jax.Array | None, cond: jax.Array, uncond: jax.Array | None, *,
          sample: jax.Array | None = None, sigma: Any = None, step: Any = None,
          update_mask: Any = None) -> tuple[jax.Array, jax.Array | None]:
    """(guided velocity, new state). uncond may be None where needs_uncond is False; apg needs
    sample and sigma, cfg_zero_star needs step; update_mask [F] marks the frames whose solver
    steps (APG's momentum moves only there)."""
    if (sample is None or sigma is None) and g.mode == "apg":
        raise ValueError("apg guidance needs sample= and sigma= (it works on x0 = sample − sigma·v)")
    if step is None and g.mode == "cfg_zero_star":
        raise ValueError("cfg_zero_star guidance needs step= (the solver steps taken, to zero the first ones)")
    d = cond.ndim
    sig = None if sigma is None else frames.expand(jnp.asarray(sigma, jnp.float32), d)
    out, new_state = cond, state
    if uncond is not None:
        axes = tuple(range(2 if sig is not None and sig.ndim else 1, d))  # per frame, or per sample
        cond32, uncond32 = cond.astype(jnp.float32), uncond.astype(jnp.float32)
        if g.mode == "cfg":
            guided = uncond + g.scale * (cond - uncond)
        elif g.mode == "cfg_zero_star":
            s_star = (jnp.sum(cond32 * uncond32, axes, keepdims=True)
                      / (jnp.sum(uncond32**2, axes, keepdims=True) + 1e-8))
            scaled = uncond32 * s_star
            guided = scaled + g.scale * (cond32 - scaled)
        else:
            guided, running = _apg(g, state, cond32, uncond32, sample.astype(jnp.float32), sig, axes)
        inside = jnp.ones((), bool) if sig is None else (sig >= g.sigma_lo) & (sig <= g.sigma_hi)
        out = jnp.where(inside, guided, cond)  # float32 with a float32 scale, as the loops fed their solvers
        if g.mode == "apg":
            moves = inside if update_mask is None else inside & frames.expand(jnp.asarray(update_mask), d)
            new_state = jnp.where(moves, running, state)
    if g.mode == "cfg_zero_star":
        out = jnp.where(frames.expand(jnp.asarray(step) < g.zero_steps, d), jnp.zeros_like(out), out)
    return out, new_state


def _apg(g: Guidance, state, cond, uncond, sample, sig, axes):
    """APG's guided velocity and its new running Δ (module docstring), with v = (x − x0)/σ."""
    def norm(a):
        return jnp.sqrt(jnp.sum(a * a, axes, keepdims=True))
    running = -sig * (cond - uncond) + g.momentum * state  # x0_c − x0_u = −σ·(v_c − v_u)
    clip = jnp.where(g.norm_threshold > 0, jnp.minimum(1.0, g.norm_threshold / norm(running)), 1.0)
    delta = running * clip
    x0 = sample - sig * cond
    unit = x0 / jnp.maximum(norm(x0), 1e-12)
    parallel = jnp.sum(delta * unit, axes, keepdims=True) * unit
    update = delta - parallel + g.eta * parallel
    guided = cond - (g.scale - 1) * update / jnp.where(sig > 0, sig, 1.0)
    return jnp.where(sig > 0, guided, cond), running
