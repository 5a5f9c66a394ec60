"""Training objectives as pure functions: flow matching, diffusion forcing, flow-DPO, DMD.

Conventions (the code's, not the paper's): σ=1 is pure noise, σ=0 is data;
x_t = (1−σ)·x0 + σ·noise; the DiT predicts the velocity v = noise − x0 and is fed
timestep σ·1000 (a float, per latent frame [B, F]). Latents are [B, F, H, W, C].
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


# -- noise levels ----------------------------------------------------------------------------
def shift_sigma(sigma, shift: float):
    """The sampling shift: σ' = shift·σ / (1 + (shift−1)·σ). shift=1 is the identity."""
    return shift * sigma / (1.0 + (shift - 1.0) * sigma)


def sample_sigma(key, shape, *, mean: float = 0.0, std: float = 1.0, shift: float = 1.0):
    """Logit-normal σ = sigmoid(N(mean, std²)), then shifted (shift>1 moves mass to noise)."""
    u = mean + std * jax.random.normal(key, shape, jnp.float32)
    return shift_sigma(jax.nn.sigmoid(u), shift)


def sample_frame_sigmas(key, batch: int, frames: int, *, mean: float = 0.0, std: float = 1.0,
                        shift: float = 1.0, non_decreasing: bool = False, sync_prob: float = 0.0,
                        max_prefix: int = 0):
    """Diffusion-forcing noise levels, one per latent frame. Returns (σ [B, F], loss mask [B, F]).

    Each frame draws an independent logit-normal σ (with shift). Options:
    - non_decreasing: sort each sample's σ along the frames, so earlier frames are never
      noisier than later ones (the paper's constraint). This is the order statistics of
      i.i.d. draws, a simple valid sampler, not the paper's FoPP schedule (whose marginal per
      frame is uniform over the monotone set); swap this function to change that.
    - sync_prob: with this probability a sample gets one σ for all frames (plain
      full-sequence flow matching, the special case DF is fine-tuned from).
    - max_prefix: each sample keeps k ~ U{0..max_prefix} clean leading frames (σ=0, the
      history a DF window conditions on); they are masked out of the loss.
    """
    def draw(k, shape):
        return sample_sigma(k, shape, mean=mean, std=std, shift=shift)
    return frame_levels(key, batch, frames, draw, 0.0, non_decreasing=non_decreasing, sync_prob=sync_prob,
                        max_prefix=max_prefix)


def frame_levels(key, batch: int, frames: int, draw, clean, *, non_decreasing: bool, sync_prob: float,
                 max_prefix: int):
    """The diffusion-forcing structure of per-frame noise levels, whatever the levels are (a continuous σ, a
    student's grid): draw(key, shape) gives levels, a larger one noisier. Returns (levels [B, F], with `clean`
    on each sample's clean prefix, and the loss mask [B, F], false there). The options are
    `sample_frame_sigmas`'."""
    if not 0 <= max_prefix < frames:
        raise ValueError(f"max_prefix must be in [0, frames={frames}), got {max_prefix}")
    k_frames, k_sync, k_syncval, k_prefix = jax.random.split(key, 4)
    level = draw(k_frames, (batch, frames))
    if non_decreasing:
        level = jnp.sort(level, axis=1)
    if sync_prob > 0:
        sync = jax.random.bernoulli(k_sync, sync_prob, (batch, 1))
        level = jnp.where(sync, draw(k_syncval, (batch, 1)), level)
    n_clean = jax.random.randint(k_prefix, (batch, 1), 0, max_prefix + 1)
    clean_frames = jnp.arange(frames)[None, :] < n_clean
    return jnp.where(clean_frames, clean, level), ~clean_frames


# -- flow matching ---------------------------------------------------------------------------
def per_frame(sigma, ndim: int):
    """σ of shape [B] or [B, F] -> broadcastable against [B, F, H, W, C]."""
    sigma = jnp.asarray(sigma, jnp.float32)
    return sigma.reshape(sigma.shape + (1,) * (ndim - sigma.ndim))


def noisy_latents(x0, noise, sigma):
    """x_t = (1−σ)·x0 + σ·noise, σ per sample [B] or per frame [B, F]."""
    s = per_frame(sigma, x0.ndim)
    return (1.0 - s) * x0 + s * noise


def flow_target(x0, noise):
    """The velocity the DiT predicts: v = noise − x0."""
    return noise - x0


def per_frame_error(pred, target):
    """Mean squared error per latent frame, [B, F, ...] -> [B, F], in float32."""
    err = jnp.square(pred.astype(jnp.float32) - target.astype(jnp.float32))
    return err.mean(axis=tuple(range(2, err.ndim)))


def per_sample_error(pred, target, mask=None):
    """Mean squared error per sample [B], averaged over the frames where mask is true."""
    err = per_frame_error(pred, target)
    return err.mean(axis=1) if mask is None else masked_frame_mean(err, mask, axis=1)


def flow_matching_loss(pred, x0, noise, mask=None):
    """MSE between the predicted and the true velocity; mask [B, F] drops frames (clean prefix).

    With a mask the mean is over all unmasked frames of the batch (each kept frame weighs
    the same), so samples with a longer clean prefix contribute fewer terms.
    """
    err = per_frame_error(pred, flow_target(x0, noise))
    return err.mean() if mask is None else masked_frame_mean(err, mask)


# -- flow-DPO --------------------------------------------------------------------------------
def flow_dpo_loss(err_w, err_l, ref_err_w, ref_err_l, beta: float):
    """Flow-DPO: −log σ(−β/2 · [(e_w − e_l) − (e_w^ref − e_l^ref)]).

    e are per-sample velocity errors [B] (`per_sample_error`: mean over elements, as in
    Diffusion-/Flow-DPO code, so β is on that scale), computed with the same t and noise for
    the chosen (w) and rejected (l) video. Returns (mean loss, metrics) where
    `reward_margin` = −β/2·(Δ_model − Δ_ref) is the implicit reward of chosen over rejected.
    """
    margin = -0.5 * beta * ((err_w - err_l) - (ref_err_w - ref_err_l))
    loss = -jax.nn.log_sigmoid(margin)
    metrics = {"reward_margin": margin.mean(), "reward_accuracy": (margin > 0).mean(),
               "err_chosen": err_w.mean(), "err_rejected": err_l.mean()}
    return loss.mean(), metrics


# -- distribution matching distillation ------------------------------------------------------
def sample_grid_frames(key, batch: int, frames: int, levels: int, *, non_decreasing: bool = True,
                       sync_prob: float = 0.0, max_prefix: int = 0):
    """A few-step student's noise levels, per frame as diffusion forcing draws them, on its own grid.

    Returns (index [B, F] int32, loss mask [B, F]): index i < levels is the student's i-th σ (0 the
    noisiest), index == levels a clean frame. Each frame draws a level uniformly; the options are
    `sample_frame_sigmas`'.
    """
    def noisiness(k, shape):  # levels - 1 for the student's noisiest σ (index 0), 0 for its least noisy
        return levels - 1 - jax.random.randint(k, shape, 0, levels)
    rank, mask = frame_levels(key, batch, frames, noisiness, -1, non_decreasing=non_decreasing,
                              sync_prob=sync_prob, max_prefix=max_prefix)
    return (levels - 1 - rank).astype(jnp.int32), mask


def masked_frame_mean(values, mask, axis=None):
    """Mean of per-frame values [B, F] over the frames where mask [B, F] is true: over the whole batch
    (each kept frame weighs the same), or with axis=1 per sample [B]."""
    mask = mask.astype(jnp.float32)
    return (values * mask).sum(axis) / jnp.maximum(mask.sum(axis), 1.0)


def dmd_loss(x0_gen, x0_fake, x0_real, mask):
    """The DMD generator loss: its gradient with respect to x0_gen is (x0_fake − x0_real) divided by
    the sample's mean |x0_gen − x0_real| over its scored frames (DMD's normalisation), per element
    and up to the loss's mean. x0_fake, x0_real: the critic's and the guided teacher's predictions of
    x0 from x0_gen re-noised; mask [B, F] the frames the generator made. Returns (loss, the mean
    normaliser)."""
    x0_gen = x0_gen.astype(jnp.float32)
    x0_real = jax.lax.stop_gradient(x0_real.astype(jnp.float32))
    x0_fake = jax.lax.stop_gradient(x0_fake.astype(jnp.float32))
    norm = per_sample_abs(jax.lax.stop_gradient(x0_gen) - x0_real, mask)
    grad = (x0_fake - x0_real) / jnp.maximum(norm, 1e-6)[(...,) + (None,) * (x0_gen.ndim - 1)]
    target = jax.lax.stop_gradient(x0_gen - grad)
    return 0.5 * masked_frame_mean(per_frame_error(x0_gen, target), mask), norm.mean()


def per_sample_abs(x, mask):
    """Mean |x| per sample [B] over the frames where mask [B, F] is true."""
    return masked_frame_mean(jnp.abs(x.astype(jnp.float32)).mean(axis=tuple(range(2, x.ndim))), mask, axis=1)
