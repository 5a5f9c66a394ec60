"""Host-side checks of DiT inputs, so that a wrong shape fails with a message, not deep inside jit."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def check_inputs(cfg, latents, timestep, context, image_context, fps) -> jnp.ndarray:
    """Raise ValueError naming what to change; return the timestep as [B, F] float32."""
    if latents.ndim != 5:
        raise ValueError(f"latents must be [B, F, H, W, C] (channels last), got shape {tuple(latents.shape)}")
    b, frames, height, width, channels = latents.shape
    if channels != cfg.in_dim:
        hint = (" (image models take 16 noise + 4 mask + 16 condition-latent channels)" if cfg.in_dim == 36
                else " (did you pass channels-first [B, C, F, H, W]?)" if latents.shape[1] == cfg.in_dim else "")
        raise ValueError(f"latents have {channels} channels but this {cfg.variant} model takes {cfg.in_dim}{hint}")
    for name, size, patch in zip(("frames", "height", "width"), (frames, height, width), cfg.patch_size):
        if size % patch:
            raise ValueError(f"latent {name} {size} is not divisible by the patch size {patch}; "
                             f"use a {name} that is a multiple of {patch}")
        if size // patch > cfg.rope_max_len:
            raise ValueError(f"latent {name} {size} exceeds the rotary table ({cfg.rope_max_len} positions)")

    t = jnp.asarray(timestep, jnp.float32)
    if t.shape == (b,):
        t = jnp.broadcast_to(t[:, None], (b, frames))
    elif t.shape != (b, frames):
        raise ValueError(f"timestep must be [B]=({b},) or per frame [B, F]=({b}, {frames}), got {tuple(t.shape)}")

    if context.ndim != 3 or context.shape[0] != b or context.shape[2] != cfg.text_dim:
        raise ValueError(f"context must be [B={b}, tokens, {cfg.text_dim}], got {tuple(context.shape)}")

    if cfg.image_dim:
        expected = cfg.image_pos_len or None
        if image_context is None:
            raise ValueError(f"this {cfg.variant} model needs image_context, the CLIP tokens "
                             f"[B, {expected or 257}, {cfg.image_dim}] of the conditioning image(s)")
        shape = tuple(image_context.shape)
        if (len(shape) != 3 or shape[0] != b or shape[2] != cfg.image_dim
                or (expected and shape[1] != expected)):
            raise ValueError(f"image_context must be [B={b}, {expected or 'tokens'}, {cfg.image_dim}], got {shape}")
    elif image_context is not None:
        raise ValueError("this text-to-video model has no image cross-attention; pass image_context=None "
                         "or load an I2V/FLF2V checkpoint")

    if cfg.inject_sample_info:
        if fps is None:
            raise ValueError("this model has an fps embedding (DF-1.3B): pass fps=16 or fps=24")
        values = np.asarray(fps).reshape(-1)
        if values.size not in (1, b) or not np.isin(values, (16, 24)).all():
            raise ValueError(f"fps must be 16 or 24, one value or one per batch item; got {values.tolist()}")
    elif fps is not None:
        raise ValueError("this model has no fps embedding (only DF-1.3B has one); pass fps=None")
    return t
