"""Tiny random diffusers SkyReels-V2 pipelines (T2V, I2V, FLF2V) saved as pipeline folders."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from skyreels_jax.tiny import pipelines as tiny_pipelines
from skyreels_jax.tiny.pipelines import Z, build_df_pipeline  # noqa: F401  (the tests import them from here)

SIGMA_MAX = float(np.float32(0.999))  # the original reads 0.999 back from a float32 tensor


def original_sigmas(scheduler):
    """Make a diffusers UniPC scheduler use the original's sigmas, linspace(0.999, 0)."""
    set_timesteps = scheduler.set_timesteps

    def patched(num_inference_steps=None, device=None, **_):
        set_timesteps(sigmas=np.linspace(SIGMA_MAX, 0, num_inference_steps + 1)[:-1], device=device)

    scheduler.set_timesteps = patched
    return scheduler


def build_pipeline(mode: str, root: Path, shift: float = 8.0, dit: dict | None = None):
    """(folder, diffusers pipeline) of skyreels_jax.tiny.pipelines, its scheduler set to the original's sigmas."""
    folder, pipe = tiny_pipelines.build_pipeline(mode, root, shift, dit)
    original_sigmas(pipe.scheduler)
    return folder, pipe


def reference_video(pipe, noise: np.ndarray, **kwargs) -> np.ndarray:
    """diffusers' video as uint8 [F, H, W, 3], truncated as the original does; noise is channels-last."""
    with torch.no_grad():
        out = pipe(latents=torch.from_numpy(noise).permute(0, 4, 1, 2, 3), output_type="np", **kwargs).frames[0]
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


class OriginalSigmasEverywhere:
    """Within the block, every UniPCMultistepScheduler (the DF pipelines deep-copy one per frame and
    reset it) uses the original's sigmas."""

    def __enter__(self):
        from diffusers import UniPCMultistepScheduler

        self.cls, self.original = UniPCMultistepScheduler, UniPCMultistepScheduler.set_timesteps
        original = self.original

        def patched(self, num_inference_steps=None, device=None, **_):
            original(self, sigmas=np.linspace(SIGMA_MAX, 0, num_inference_steps + 1)[:-1], device=device)

        UniPCMultistepScheduler.set_timesteps = patched
        return self

    def __exit__(self, *exc):
        self.cls.set_timesteps = self.original
