"""Tiny random Wan VAEs (skyreels_jax.tiny.vae) and diffusers' encode and decode to compare with."""
from __future__ import annotations

import numpy as np
import torch

from skyreels_jax.tiny.vae import (  # noqa: F401  (the tests import them from here)
    TINY,
    build_reference,
    original_state,
    save_diffusers,
    save_original,
    to_original_name,
)


def _channel_stats(model, ndim):
    shape = (1, -1) + (1,) * (ndim - 2)
    return (torch.tensor(model.config.latents_mean).view(shape), torch.tensor(model.config.latents_std).view(shape))


def reference_encode(model, video: np.ndarray) -> np.ndarray:
    """Normalised mu of channels-last video, channels-last (diffusers returns unnormalised mu)."""
    with torch.no_grad():
        mu = model.encode(torch.from_numpy(np.array(video)).permute(0, 4, 1, 2, 3)).latent_dist.mean
    mean, std = _channel_stats(model, mu.ndim)
    return ((mu - mean) / std).permute(0, 2, 3, 4, 1).numpy()


def reference_decode(model, z: np.ndarray) -> np.ndarray:
    """Video from channels-last normalised latents (diffusers takes unnormalised ones)."""
    z = torch.from_numpy(np.array(z)).permute(0, 4, 1, 2, 3)
    mean, std = _channel_stats(model, z.ndim)
    with torch.no_grad():
        out = model.decode(z * std + mean).sample
    return out.permute(0, 2, 3, 4, 1).numpy()
