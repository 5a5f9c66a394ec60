"""Checks of a pipeline call, before anything is encoded or compiled: one line that says what to change."""
from __future__ import annotations

import numpy as np

from skyreels_jax.pipelines.diffusion_forcing import DF_DEFAULTS


def check_call(mode: str, prompt, image, end_image, video, num_frames: int, height: int, width: int, latents,
               z_dim: int, df_args: dict, teacache_threshold: float | None = None, vae_scale: int = 8,
               patch: tuple[int, int] = (2, 2)) -> None:
    """vae_scale: the VAE's spatial compression; patch: the DiT's (height, width) patch."""
    df = mode == "diffusion_forcing"
    if teacache_threshold is not None:
        if df:
            raise ValueError("teacache (step caching) is not supported for diffusion-forcing models: the "
                             "original's maintainers found it breaks them; leave it off")
        if not teacache_threshold >= 0:
            raise ValueError(f"teacache_threshold must be >= 0 (0 never skips a step), got {teacache_threshold}")
    prompts = prompt if df and isinstance(prompt, (list, tuple)) else [prompt]
    if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise ValueError("prompt must be a non-empty string" + (" (or a list of them, one per window)" if df else ""))
    if num_frames < 1 or (num_frames - 1) % 4:
        k = max((num_frames - 1) // 4, 0)
        raise ValueError(f"num_frames must be 4k+1 (the VAE packs 4 frames per latent); got {num_frames}, "
                         f"use {4 * k + 1} or {4 * k + 5}")
    for name, size, p in (("height", height, patch[0]), ("width", width, patch[1])):
        step = vae_scale * p
        if size < step or size % step:
            raise ValueError(f"{name} must be a positive multiple of {step} (VAE {vae_scale}× then patch {p}×); "
                             f"got {size}, use {max(step, size // step * step)}")
    if df:
        if video is not None and image is not None:
            raise ValueError("give either video (to extend) or image (to start from), not both")
        if df_args["addnoise_condition"] < 0 or df_args["addnoise_condition"] >= 1000:
            raise ValueError(f"addnoise_condition must be in [0, 1000) (20 is recommended, at most 50 advised); "
                             f"got {df_args['addnoise_condition']}")
    else:
        changed = sorted(k for k, v in df_args.items() if v != DF_DEFAULTS[k])
        if changed:
            raise ValueError(f"{', '.join(changed)} apply to diffusion-forcing models only; this is a "
                             f"{mode.replace('_', '-')} model")
        if mode in ("image_to_video", "first_last_frame") and image is None:
            raise ValueError(f"this {mode.replace('_', '-')} model needs an image (--image): the first frame")
        if mode == "first_last_frame" and end_image is None:
            raise ValueError("this first/last-frame (FLF2V) model needs end_image (--end-image) as well as image")
        if mode == "image_to_video" and end_image is not None:
            raise ValueError("end_image needs a first/last-frame (FLF2V) model; this is an image-to-video model")
        if mode == "text_to_video" and (image is not None or end_image is not None):
            raise ValueError("this text-to-video model takes no image: load an I2V model (or a diffusion-forcing "
                             "model) to start from an image")
        if video is not None:
            raise ValueError("video (extension) needs a diffusion-forcing model")
    if latents is not None:
        expected = (1, (num_frames - 1) // 4 + 1, height // vae_scale, width // vae_scale, z_dim)
        if tuple(np.shape(latents)) != expected:
            raise ValueError(f"latents must be the initial noise {list(expected)} for {num_frames} frames at "
                             f"{height}×{width}; got {list(np.shape(latents))}")
