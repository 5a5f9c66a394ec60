"""Distribution matching distillation (DMD2) of a DiT into a few-step generator, without CFG.

Three DiTs, all starting from the teacher:
- the generator (the state's "params"): from x_t at one of the student's σ it predicts x0 in one
  evaluation (x0 = x_t − σ·v). Its σ are drawn per frame as diffusion forcing draws them (on the
  student's grid, non-decreasing along the frames, clean prefixes), so the student still samples long
  videos window by window. Sampling runs it at those σ with the LCM solver (predict x0, re-noise to
  the next σ);
- the critic ("critic"): the fake score, trained with flow matching on the generator's x0;
- the teacher ("teacher"): frozen, guided with classifier-free guidance (scale g).
One train step is `critic_steps` critic updates, then one generator update along the DMD gradient:
the critic's minus the guided teacher's prediction of x0 from the generator's x0 re-noised at a
random σ, divided by the mean |x0_gen − x0_real| (as DMD normalises it).

State: {"params", "opt_state", "critic", "critic_opt_state", "teacher" and "uncond" (frozen, not
checkpointed: they come back from the config), "step", "rng", "ema" (optional)}. Batches are the flow objectives'
({"latents", "context", "fps_ids"}); the latents give the clean prefixes and the frames to noise.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from skyreels_jax.nn.jit import jit
from skyreels_jax.training import losses
from skyreels_jax.training.objectives import CONDITION_KEYS, Objective, draw_noise, predict
from skyreels_jax.training.step import apply_update, copy_tree


@dataclasses.dataclass(frozen=True)
class Distillation:
    """What the student learns and how (hashable: a static jit argument)."""

    sigmas: tuple[float, ...]            # the student's σ, noisiest first, without the final 0
    timesteps: tuple[float, ...]         # what the DiT embeds at each (the sampler's timesteps)
    noise: Objective                     # the critic's σ (logit-normal, shift) and the DF options of both
    guidance_scale: float = 3.0          # the teacher's CFG
    critic_steps: int = 4                # critic updates per generator update
    sigma_range: tuple[float, float] = (0.02, 0.98)   # the DMD σ, as DMD2's t in [20, 980]

    def __post_init__(self):
        if len(self.sigmas) != len(self.timesteps) or not self.sigmas:
            raise ValueError(f"distill: give one timestep per student σ, got {len(self.sigmas)} σ and "
                             f"{len(self.timesteps)} timesteps")
        if self.critic_steps < 1:
            raise ValueError(f"distill.critic_steps must be at least 1, got {self.critic_steps}")
        if self.guidance_scale < 1:
            raise ValueError(f"distill.guidance_scale must be at least 1 (1: no CFG), got {self.guidance_scale}")


def init_distill_state(params, tx, critic_tx, uncond, *, seed: int = 0, ema: bool = False) -> dict:
    """Generator, critic and frozen teacher all equal to `params` (fresh buffers for each); uncond
    [1, L, D]: the unconditional (negative prompt's) context of the teacher's CFG, frozen too."""
    critic = copy_tree(params)
    state = {"params": params, "opt_state": tx.init(params), "critic": critic,
             "critic_opt_state": critic_tx.init(critic), "teacher": copy_tree(params),
             "uncond": jnp.asarray(uncond, jnp.float32), "step": jnp.zeros((), jnp.int32),
             "rng": jax.random.PRNGKey(seed)}
    if ema:
        state["ema"] = copy_tree(params)
    return state


def generator_x0(model, batch, key, d: Distillation):
    """(x0_gen [B,F,H,W,C] float32, mask [B,F] of the frames it made): the batch's latents noised at
    per-frame levels of the student's grid, then one generator evaluation. Clean frames stay the data."""
    x0 = batch["latents"].astype(jnp.float32)
    b, f = x0.shape[:2]
    k_level, k_noise = jax.random.split(key)
    n = d.noise
    index, mask = losses.sample_grid_frames(k_level, b, f, len(d.sigmas), non_decreasing=n.non_decreasing,
                                            sync_prob=n.sync_prob, max_prefix=n.max_prefix)
    sigma = jnp.asarray(d.sigmas + (0.0,), jnp.float32)[index]
    timestep = jnp.asarray(d.timesteps + (0.0,), jnp.float32)[index]
    x_t = losses.noisy_latents(x0, jax.random.normal(k_noise, x0.shape, jnp.float32), sigma)
    v = predict(model, x_t.astype(x0.dtype), timestep / 1000.0, batch).astype(jnp.float32)
    return x_t - losses.per_frame(sigma, x0.ndim) * v, mask


def guided_velocity(model, x_t, sigma, batch, uncond, scale: float):
    """The teacher's velocity with CFG: v_u + g·(v_c − v_u), both passes as one batch of 2B."""
    if scale == 1:
        return predict(model, x_t, sigma, batch).astype(jnp.float32)
    b = x_t.shape[0]
    inputs = {k: jnp.concatenate([v, v]) for k, v in batch.items() if k in CONDITION_KEYS}
    inputs["context"] = jnp.concatenate([batch["context"], jnp.broadcast_to(uncond, batch["context"].shape)
                                         .astype(batch["context"].dtype)])
    v = predict(model, jnp.concatenate([x_t, x_t]), jnp.concatenate([sigma, sigma]), inputs).astype(jnp.float32)
    return v[b:] + scale * (v[:b] - v[b:])


def _renoise_sigma(key, mask, d: Distillation):
    """The DMD σ [B, F]: one per sample (logit-normal, shifted, clipped), 0 on the clean prefix."""
    n = d.noise
    sigma = losses.sample_sigma(key, (mask.shape[0], 1), mean=n.logit_mean, std=n.logit_std, shift=n.shift)
    sigma = jnp.clip(sigma, *d.sigma_range)
    return jnp.where(mask, sigma, 0.0)


def make_distill_step(graphdef, rest, tx, critic_tx, schedule, d: Distillation, *, ema_decay: float = 0.0,
                      donate: bool = True, out_shardings=None):
    """The jitted `step(state, batch) -> (state, metrics)`: critic_steps critic updates, then one
    generator update. It closes over no array, so one compiled step serves every run of the same settings.
    Each step's randomness is fold_in(rng, step), so a resumed run draws the same as an uninterrupted one."""
    critic_objective = dataclasses.replace(d.noise, kind="diffusion_forcing")

    def merge(params):
        return nnx.merge(graphdef, params, rest)

    def critic_loss(critic, x0_gen, batch, key):
        draw = draw_noise(critic_objective, {"latents": x0_gen}, key)
        x_t = losses.noisy_latents(x0_gen, draw["noise"], draw["sigma"])
        pred = predict(merge(critic), x_t.astype(batch["latents"].dtype), draw["sigma"], batch)
        return losses.flow_matching_loss(pred, x0_gen, draw["noise"], draw["mask"])

    def generator_loss(params, critic, teacher, uncond, batch, key):
        k_gen, k_sigma, k_noise = jax.random.split(key, 3)
        x0_gen, mask = generator_x0(merge(params), batch, k_gen, d)
        sigma = _renoise_sigma(k_sigma, mask, d)
        x_t = jax.lax.stop_gradient(losses.noisy_latents(x0_gen, jax.random.normal(k_noise, x0_gen.shape), sigma))
        s = losses.per_frame(sigma, x_t.ndim)
        x_in = x_t.astype(batch["latents"].dtype)
        x0_fake = x_t - s * predict(merge(critic), x_in, sigma, batch).astype(jnp.float32)
        x0_real = x_t - s * guided_velocity(merge(teacher), x_in, sigma, batch, uncond, d.guidance_scale)
        loss, norm = losses.dmd_loss(x0_gen, x0_fake, x0_real, mask)
        gap = losses.masked_frame_mean(losses.per_frame_error(x0_fake, x0_real), mask)
        return loss, {"dmd_norm": norm, "fake_real_gap": gap}

    def step(state, batch):
        keys = jax.random.split(jax.random.fold_in(state["rng"], state["step"]), d.critic_steps + 1)
        params = state["params"]

        def critic_update(carry, key):
            critic, opt_state = carry
            k_gen, k_loss = jax.random.split(key)
            x0_gen = jax.lax.stop_gradient(generator_x0(merge(params), batch, k_gen, d)[0])
            loss, grads = jax.value_and_grad(critic_loss)(critic, x0_gen, batch, k_loss)
            updates, opt_state = critic_tx.update(grads, opt_state, critic)
            return (optax.apply_updates(critic, updates), opt_state), loss

        (critic, critic_opt), critic_losses = jax.lax.scan(
            critic_update, (state["critic"], state["critic_opt_state"]), keys[:-1])
        (loss, metrics), grads = jax.value_and_grad(generator_loss, has_aux=True)(
            params, critic, state["teacher"], state["uncond"], batch, keys[-1])
        new, update_metrics = apply_update({**state, "critic": critic, "critic_opt_state": critic_opt}, grads, tx,
                                           schedule, ema_decay)
        return new, {"loss": loss, "critic_loss": critic_losses.mean(), **metrics, **update_metrics}

    kwargs = {} if out_shardings is None else {"out_shardings": out_shardings}
    return jit(step, donate_argnums=(0,) if donate else (), **kwargs)
