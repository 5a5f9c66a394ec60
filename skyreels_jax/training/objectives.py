"""The three training objectives wired to a DiT: noise the batch, run the model, score it.

`draw_noise(obj, batch, key)` draws a step's noise and σ; `objective_loss(obj, model,
ref_model, batch, draw) -> (loss, metrics)` scores the model. Both are traceable and run
inside the jitted train step. Batches (see training/data.py):
- flow / diffusion_forcing: {"latents" [B,F,H,W,C], "context" [B,L,D], "fps_ids" [B]}
- dpo: {"chosen", "rejected" [B,F,H,W,C], "context" [B,L,D], "fps_ids" [B]}
Image-to-video models (first-frame conditioning) take two more entries, with any objective:
"cond_latents" [B,F,H,W,C] (the VAE latents of [first frame, zeros...]) and "image_context"
[B,N,D_img] (its CLIP features); the DiT input is concat(x_t, mask 4, cond_latents), as at sampling.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from skyreels_jax.models.dit.condition import frame_mask
from skyreels_jax.training import losses

OBJECTIVES = ("flow", "diffusion_forcing", "dpo", "dmd")   # dmd: training/distill.py


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


CONDITION_KEYS = ("context", "fps_ids", "cond_latents", "image_context")


def first_frame_condition(cond_latents):
    """y = concat(mask 4, cond_latents) [B,F,H,W,4+C]: the I2V condition with only frame 0 known
    (the mask of `models.dit.condition.frame_mask`)."""
    b, f, h, w, _ = cond_latents.shape
    mask = jnp.asarray(frame_mask(4 * (f - 1) + 1, [0]))[None, :, None, None, :]
    mask = jnp.broadcast_to(mask, (b, f, h, w, 4)).astype(cond_latents.dtype)
    return jnp.concatenate([mask, cond_latents], axis=-1)


def predict(model, x_t, sigma_frames, batch):
    """The DiT's velocity at per-frame σ [B, F] (fed as σ·1000), with the I2V condition when the batch has one."""
    if "cond_latents" in batch:
        x_t = jnp.concatenate([x_t, first_frame_condition(batch["cond_latents"].astype(x_t.dtype))], axis=-1)
    return model.forward(x_t, sigma_frames * 1000.0, batch["context"], batch.get("image_context"),
                         batch.get("fps_ids"))


def draw_noise(obj: Objective, batch, key) -> dict:
    """The randomness of one step for the whole batch: {"noise", "sigma" [B, F], "mask" [B, F]}.

    Drawn once per global batch, before any split into accumulation micro-batches, so that
    accumulating gradients gives the same update as one large batch. For dpo the noise and
    σ are shared by the chosen and rejected video of a pair.
    """
    x = batch["chosen"] if obj.kind == "dpo" else batch["latents"]
    b, f = x.shape[:2]
    k_noise, k_sigma = jax.random.split(key)
    noise = jax.random.normal(k_noise, x.shape, jnp.float32)
    if obj.kind == "diffusion_forcing":
        sigma, mask = losses.sample_frame_sigmas(k_sigma, b, f, non_decreasing=obj.non_decreasing,
                                                 sync_prob=obj.sync_prob, max_prefix=obj.max_prefix,
                                                 **_sigma_kwargs(obj))
    else:   # full-sequence: one σ per sample, shared by its frames
        sigma = jnp.broadcast_to(losses.sample_sigma(k_sigma, (b, 1), **_sigma_kwargs(obj)), (b, f))
        mask = jnp.ones((b, f), bool)
    return {"noise": noise, "sigma": sigma, "mask": mask}


def flow_loss(model, batch, draw):
    """Flow matching (full-sequence or diffusion forcing, by the σ drawn); masked frames unscored.

    The loss is a sum over the batch's scored frames divided by their count; `weight` (that
    count) is returned so accumulated micro-batches can be combined exactly.
    """
    x0 = batch["latents"].astype(jnp.float32)
    noise, sigma, mask = draw["noise"], draw["sigma"], draw["mask"]
    pred = predict(model, losses.noisy_latents(x0, noise, sigma), sigma, batch)
    loss = losses.flow_matching_loss(pred, x0, noise, mask)
    return loss, {"loss": loss, "sigma_mean": sigma.mean(), "scored_frames": mask.mean()}


def dpo_errors(model, ref_model, batch, draw):
    """Per-sample velocity errors (policy w, l; reference w, l), same σ and noise for w and l."""
    xw = batch["chosen"].astype(jnp.float32)
    xl = batch["rejected"].astype(jnp.float32)
    b = xw.shape[0]
    both = jnp.concatenate([xw, xl])
    noise2 = jnp.concatenate([draw["noise"]] * 2)
    sigma2 = jnp.concatenate([draw["sigma"]] * 2)
    x_t = losses.noisy_latents(both, noise2, sigma2)
    inputs = {k: jnp.concatenate([v, v]) for k, v in batch.items() if k in CONDITION_KEYS}
    target = losses.flow_target(both, noise2)
    err = losses.per_sample_error(predict(model, x_t, sigma2, inputs), target)
    ref_pred = jax.lax.stop_gradient(predict(ref_model, x_t, sigma2, inputs))
    ref_err = losses.per_sample_error(ref_pred, target)
    return err[:b], err[b:], ref_err[:b], ref_err[b:]


def dpo_loss(obj: Objective, model, ref_model, batch, draw):
    loss, metrics = losses.flow_dpo_loss(*dpo_errors(model, ref_model, batch, draw), beta=obj.beta)
    return loss, {"loss": loss, **metrics}


def objective_loss(obj: Objective, model, ref_model, batch, draw):
    """(loss, metrics) of a batch given its drawn noise; ref_model is used only by dpo."""
    if obj.kind == "dpo":
        return dpo_loss(obj, model, ref_model, batch, draw)
    return flow_loss(model, batch, draw)
