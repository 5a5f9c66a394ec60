"""The three training objectives wired to a DiT: noise the batch, run the model, score it.

Each is `loss_fn(model, ref_model, batch, key) -> (loss, metrics)`, traceable, used inside
the jitted train step. Batches (see training/data.py):
- flow / diffusion_forcing: {"latents" [B,F,H,W,C], "context" [B,L,D], "fps_ids" [B]}
- dpo: {"chosen", "rejected" [B,F,H,W,C], "context" [B,L,D], "fps_ids" [B]}
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from skyreels_jax.training import losses

OBJECTIVES = ("flow", "diffusion_forcing", "dpo")


@dataclasses.dataclass(frozen=True)
class Objective:
    """What to train and how noise levels are drawn (hashable: a static jit argument)."""

    kind: str = "flow"                 # one of OBJECTIVES
    logit_mean: float = 0.0            # logit-normal σ
    logit_std: float = 1.0
    shift: float = 1.0                 # σ' = shift·σ/(1+(shift−1)·σ), as at sampling
    non_decreasing: bool = False       # diffusion forcing: σ never decreases along frames
    sync_prob: float = 0.0             # diffusion forcing: share one σ over all frames
    max_prefix: int = 0                # diffusion forcing: up to this many clean leading frames
    beta: float = 500.0                # dpo

    def __post_init__(self):
        if self.kind not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.kind!r}; choose one of {OBJECTIVES}")

    @property
    def needs_reference(self) -> bool:
        return self.kind == "dpo"


def _sigma_kwargs(obj: Objective) -> dict:
    return dict(mean=obj.logit_mean, std=obj.logit_std, shift=obj.shift)


def _predict(model, x_t, sigma_frames, batch):
    return model.forward(x_t, sigma_frames * 1000.0, batch["context"], None, batch.get("fps_ids"))


def flow_loss(obj: Objective, model, batch, key):
    """Full-sequence flow matching: one σ per sample, shared by its frames."""
    x0 = batch["latents"].astype(jnp.float32)
    b, f = x0.shape[:2]
    k_noise, k_sigma = jax.random.split(key)
    noise = jax.random.normal(k_noise, x0.shape, jnp.float32)
    sigma = losses.sample_sigma(k_sigma, (b,), **_sigma_kwargs(obj))
    sigma_frames = jnp.broadcast_to(sigma[:, None], (b, f))
    pred = _predict(model, losses.noisy_latents(x0, noise, sigma), sigma_frames, batch)
    loss = losses.flow_matching_loss(pred, x0, noise)
    return loss, {"loss": loss, "sigma_mean": sigma.mean()}


def diffusion_forcing_loss(obj: Objective, model, batch, key):
    """Diffusion forcing: an independent σ per latent frame; clean prefix frames not scored."""
    x0 = batch["latents"].astype(jnp.float32)
    b, f = x0.shape[:2]
    k_noise, k_sigma = jax.random.split(key)
    noise = jax.random.normal(k_noise, x0.shape, jnp.float32)
    sigma, mask = losses.sample_frame_sigmas(k_sigma, b, f, non_decreasing=obj.non_decreasing,
                                             sync_prob=obj.sync_prob, max_prefix=obj.max_prefix,
                                             **_sigma_kwargs(obj))
    pred = _predict(model, losses.noisy_latents(x0, noise, sigma), sigma, batch)
    loss = losses.flow_matching_loss(pred, x0, noise, mask)
    return loss, {"loss": loss, "sigma_mean": sigma.mean(), "scored_frames": mask.mean()}


def dpo_errors(obj: Objective, model, ref_model, batch, key):
    """Per-sample velocity errors (policy w, l; reference w, l), same σ and noise for w and l."""
    xw = batch["chosen"].astype(jnp.float32)
    xl = batch["rejected"].astype(jnp.float32)
    b, f = xw.shape[:2]
    k_noise, k_sigma = jax.random.split(key)
    noise = jax.random.normal(k_noise, xw.shape, jnp.float32)
    sigma = losses.sample_sigma(k_sigma, (b,), **_sigma_kwargs(obj))
    both = jnp.concatenate([xw, xl])
    noise2, sigma2 = jnp.concatenate([noise, noise]), jnp.concatenate([sigma, sigma])
    x_t = losses.noisy_latents(both, noise2, sigma2)
    inputs = {k: jnp.concatenate([v, v]) for k, v in batch.items() if k in ("context", "fps_ids")}
    sigma_frames = jnp.broadcast_to(sigma2[:, None], (2 * b, f))
    target = losses.flow_target(both, noise2)
    err = losses.per_sample_error(_predict(model, x_t, sigma_frames, inputs), target)
    ref_pred = jax.lax.stop_gradient(_predict(ref_model, x_t, sigma_frames, inputs))
    ref_err = losses.per_sample_error(ref_pred, target)
    return err[:b], err[b:], ref_err[:b], ref_err[b:]


def dpo_loss(obj: Objective, model, ref_model, batch, key):
    loss, metrics = losses.flow_dpo_loss(*dpo_errors(obj, model, ref_model, batch, key), beta=obj.beta)
    return loss, {"loss": loss, **metrics}


def objective_loss(obj: Objective, model, ref_model, batch, key):
    """Dispatch on obj.kind; ref_model is used (and required) only by dpo."""
    if obj.kind == "flow":
        return flow_loss(obj, model, batch, key)
    if obj.kind == "diffusion_forcing":
        return diffusion_forcing_loss(obj, model, batch, key)
    return dpo_loss(obj, model, ref_model, batch, key)
