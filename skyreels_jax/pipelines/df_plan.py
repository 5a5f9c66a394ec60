"""Diffusion-forcing plans as pure host functions: the windows (chunks) of a long video, and each
window's timestep matrix with its clean prefix and end frame."""
from __future__ import annotations

import dataclasses

import numpy as np

from skyreels_jax.schedulers import generate_timestep_matrix


def latent_count(frames: int) -> int:
    return (frames - 1) // 4 + 1


@dataclasses.dataclass(frozen=True)
class Window:
    index: int
    start: int    # first latent frame, in the whole video's latent frames
    length: int   # latent frames denoised together (history prefix included)
    prefix: int   # clean history frames at its start


def plan_windows(num_latents: int, base_latents: int, overlap_latents: int, first_prefix: int = 0) -> list[Window]:
    """The reference's chunking (as diffusers computes it): window 0 has min(L, B) frames, window
    i > 0 starts at i·(B − O), reuses O frames of history and has min(L − i·(B−O), B) frames."""
    if num_latents <= base_latents:
        return [Window(0, 0, num_latents, first_prefix)]
    stride = base_latents - overlap_latents
    count = 1 + (num_latents - base_latents - 1) // stride + 1
    windows = [Window(0, 0, base_latents, first_prefix)]
    for i in range(1, count):
        start = i * stride
        windows.append(Window(i, start, min(num_latents - start, base_latents), overlap_latents))
    return windows


def window_plan(length: int, prefix: int, end_frame: bool, template, ar_step: int, causal_block_size: int):
    """(timesteps [R, F], update mask [R, F], evaluation [R, F]) for one window of `length` frames (+1
    with an end frame). template: the DiT timestep of each of the solver's model evaluations; evaluation
    is the index into it that each updated frame is at in each row (-1 where the frame does not move).

    The clean prefix is its own first block, whatever its length: the noisy frames after it form
    whole causal blocks. That is how a 1-latent start image works with causal_block_size > 1,
    where the reference truncates the image away. The end frame is always clean, never updated.
    """
    noisy = length - prefix
    matrix, index, mask, _ = generate_timestep_matrix(noisy, template, noisy, ar_step, 0, causal_block_size)
    rows = matrix.shape[0]
    def clean(n):
        return np.zeros((rows, n), matrix.dtype), np.zeros((rows, n), bool), np.full((rows, n), -1)
    parts = [clean(prefix), (matrix, mask, np.where(mask, index - 1, -1))] + ([clean(1)] if end_frame else [])
    return tuple(np.concatenate([p[i] for p in parts], axis=1) for i in range(3))


def window_schedule(length: int, prefix: int, end_frame: bool, template, ar_step: int, causal_block_size: int):
    """(timesteps [R, F], update mask [R, F]) of window_plan."""
    return window_plan(length, prefix, end_frame, template, ar_step, causal_block_size)[:2]


def check_prompt_count(prompts: int, windows: int) -> None:
    """Prompt travel: one prompt for the whole video, or one per window."""
    if prompts not in (1, windows):
        raise ValueError(f"prompt travel needs one prompt per window: {windows} windows here, {prompts} prompts given")


def check_plan(num_frames: int, base_num_frames: int, overlap_history: int | None, causal_block_size: int,
               ar_step: int, num_steps: int, first_prefix: int, extension_frames: int | None) -> list[Window]:
    """Validate the diffusion-forcing settings (one line that says what to change) and plan the windows."""
    num_latents = latent_count(num_frames)
    base = latent_count(min(base_num_frames, num_frames))
    if ar_step < 0 or causal_block_size < 1:
        raise ValueError(f"ar_step must be >= 0 and causal_block_size >= 1; got {ar_step} and {causal_block_size}")
    if ar_step > num_steps:
        raise ValueError(f"ar_step ({ar_step}) is more than num_steps ({num_steps}): too few steps for this ar_step; "
                         f"use ar_step <= {num_steps} (ar_step = num_steps is already fully autoregressive)")
    long_video = num_frames > base_num_frames or extension_frames is not None
    overlap = 0
    if long_video:
        if overlap_history is None:
            raise ValueError("a video longer than base_num_frames (or an extension) needs overlap_history, "
                             "e.g. 17 frames")
        if overlap_history >= base_num_frames:
            raise ValueError(f"overlap_history ({overlap_history}) must be smaller than base_num_frames "
                             f"({base_num_frames}); use e.g. 17 with base 97")
        overlap = latent_count(overlap_history)
        if extension_frames is not None and extension_frames < overlap_history:
            raise ValueError(f"the video to extend has {extension_frames} frames, fewer than overlap_history "
                             f"({overlap_history}); use a longer video or a smaller overlap_history")
    windows = plan_windows(num_latents, base, overlap, overlap if extension_frames is not None else first_prefix)
    for w in windows:
        if (w.length - w.prefix) % causal_block_size:
            raise ValueError(f"window {w.index} denoises {w.length - w.prefix} latent frames, not divisible by "
                             f"causal_block_size {causal_block_size}: change num_frames/base_num_frames/"
                             f"overlap_history or use a causal_block_size that divides it")
        if w.length <= w.prefix:
            raise ValueError(f"window {w.index} has no frame left to generate; raise num_frames")
    return windows
