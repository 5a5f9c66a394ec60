"""Host-side checks of VAE inputs, so a wrong shape or a NaN fails with a message, not inside jit."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def _check_finite(x, what: str) -> None:
    # one host sync on the input, before anything is compiled or run
    if not bool(jnp.isfinite(jnp.asarray(x)).all()):
        raise ValueError(f"{what} contains NaN or infinite values; check the frames/latents you pass")


def check_video(cfg, video) -> jnp.ndarray:
    """Raise ValueError naming what to change; return the video as a jax array."""
    shape = tuple(np.shape(video))
    if len(shape) != 5:
        raise ValueError(f"video must be [B, F, H, W, {cfg.in_channels}] (channels last), got shape {shape}")
    b, frames, height, width, channels = shape
    if channels != cfg.in_channels:
        hint = " (did you pass channels-first [B, C, F, H, W]?)" if shape[1] == cfg.in_channels else ""
        raise ValueError(f"video has {channels} channels but the VAE takes {cfg.in_channels}{hint}")
    t = cfg.temporal_scale
    if frames < 1 or (frames - 1) % t:
        lo = (max(frames, 1) - 1) // t * t + 1
        raise ValueError(f"the VAE encodes F = {t}k+1 frames (frame 0 alone, then chunks of {t}); got F={frames}. "
                         f"Use {lo} or {lo + t} frames")
    s = cfg.spatial_scale
    for name, size in (("height", height), ("width", width)):
        if size < s or size % s:
            raise ValueError(f"video {name} {size} is not a multiple of {s}; crop or resize it to "
                             f"{max(size // s, 1) * s}")
    _check_finite(video, "video")
    return jnp.asarray(video)


def check_latents(cfg, z) -> jnp.ndarray:
    shape = tuple(np.shape(z))
    if len(shape) != 5:
        raise ValueError(f"latents must be [B, F, H, W, {cfg.z_dim}] (channels last), got shape {shape}")
    if shape[-1] != cfg.z_dim:
        hint = " (did you pass channels-first [B, C, F, H, W]?)" if shape[1] == cfg.z_dim else ""
        raise ValueError(f"latents have {shape[-1]} channels but the VAE takes z_dim={cfg.z_dim}{hint}")
    if min(shape[1:4]) < 1:
        raise ValueError(f"latents must have at least one frame and pixel, got shape {shape}")
    _check_finite(z, "latents")
    return jnp.asarray(z)
