"""The demo: text-to-video with the embedded toy model, no download.

The toy model (docs/toy_model.md) is a small diffusion-forcing SkyReels-V2/Wan model
trained on a synthetic world of one coloured shape (circle, square, triangle) moving on a black
background. It knows only prompts of the form "a <colour> <shape> moves <left|right|up|down> on a
black background" and makes 32×32 videos; the file is upscaled 8× (nearest) so it can be seen.
It runs the same pipeline (`load_pipeline("toy")`) as the real models. On prompts it never
trained on it draws the captioned colour moving the captioned way about nine times in ten
(docs/toy_model.md). `fast=True` (`skyreels-jax demo --fast`) uses "toy-fast", the same model distilled
to 4 steps without guidance (docs/distillation.md): 4 model evaluations instead of 40 (20 steps with guidance).
"""
from __future__ import annotations

import time
from pathlib import Path

from skyreels_jax.media import check_video_path, write_video

PROMPT = "a red circle moves right on a black background"


def run_demo(out: str | Path, prompt: str = PROMPT, frames: int = 17, steps: int | None = None,
             guidance: float | None = None, seed: int = 0, scale: int = 8, fast: bool = False) -> Path:
    """steps and guidance None: 20 steps at guidance 3 for "toy", the folder's own (4, none) for "toy-fast"."""
    from skyreels_jax.pipelines import load_pipeline

    check_video_path(out)  # a bad name is refused before the work, not after it
    start = time.perf_counter()
    pipe = load_pipeline("toy-fast" if fast else "toy")
    if not fast:
        steps, guidance = steps or 20, 3.0 if guidance is None else guidance
    video = pipe(prompt, num_frames=frames, height=32, width=32, num_steps=steps, guidance_scale=guidance,
                 seed=seed, base_num_frames=17, progress=False)
    print(f"{prompt!r}: {frames} frames of 32×32 in {time.perf_counter() - start:.1f} s (load + sample + decode)"
          f"{' with the 4-step model' if fast else ''}")
    return write_video(out, video.repeat(scale, axis=1).repeat(scale, axis=2), fps=8)
