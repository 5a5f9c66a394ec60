"""Tiny synthetic datasets for tests and the smoke-run CLI: learnable, text-conditioned.

Each example is a moving sinusoidal pattern (frequency, direction, speed, phase drawn per
example) over latent frames; its "text embedding" is a fixed random projection of those
pattern parameters, so the text determines the video. Preference pairs use the clean pattern
as the chosen video and a corrupted copy (frame-wise noise, jerky motion) as the rejected one.
"""
from __future__ import annotations

import numpy as np


def _pattern(rng, frames, height, width, channels):
    fx, fy = rng.uniform(0.5, 2.0, size=2)
    speed, phase = rng.uniform(-1.0, 1.0), rng.uniform(0, 2 * np.pi)
    mix = rng.normal(size=channels) / np.sqrt(2)
    yy, xx = np.meshgrid(np.linspace(0, 2 * np.pi, height), np.linspace(0, 2 * np.pi, width), indexing="ij")
    t = np.arange(frames)[:, None, None]
    wave = np.sin(fx * xx + fy * yy + speed * t + phase)                      # [F, H, W]
    latents = wave[..., None] * mix + 0.3 * np.cos(fy * xx - speed * t)[..., None]
    return latents.astype(np.float32), np.array([fx, fy, speed, np.sin(phase), np.cos(phase)])


def _embed(params, tokens, text_dim, proj_seed=1234):
    proj = np.random.default_rng(proj_seed).normal(size=(tokens, params.size, text_dim))
    return np.einsum("p,lpd->ld", params, proj).astype(np.float32) / np.sqrt(params.size)


def latent_text_examples(n: int, *, frames=3, height=8, width=8, channels=16, tokens=4, text_dim=24,
                         seed=0, fps=24, image_dim=None, image_tokens=5):
    """n (key, example) pairs for LatentTextPairs. With image_dim, image-to-video examples: the
    condition latents are the first frame followed by zeros, and the "CLIP features" another
    projection of the pattern's parameters."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        latents, params = _pattern(rng, frames, height, width, channels)
        ex = {"latents": latents, "context": _embed(params, tokens, text_dim), "caption": f"pattern {i}", "fps": fps}
        if image_dim:
            ex["cond_latents"] = np.concatenate([latents[:1], np.zeros_like(latents[1:])])
            ex["image_context"] = _embed(params, image_tokens, image_dim, proj_seed=4321)
        yield f"{i:06d}", ex


def preference_examples(n: int, *, frames=3, height=8, width=8, channels=16, tokens=4, text_dim=24,
                        seed=0, fps=24, corruption=0.5):
    """n (key, example) pairs for PreferencePairs: clean (chosen) vs corrupted (rejected)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        chosen, params = _pattern(rng, frames, height, width, channels)
        rejected = chosen[rng.permutation(frames)] + corruption * rng.normal(size=chosen.shape)
        yield f"{i:06d}", {"chosen": chosen, "rejected": rejected.astype(np.float32),
                           "context": _embed(params, tokens, text_dim), "prompt": f"pattern {i}", "fps": fps}
