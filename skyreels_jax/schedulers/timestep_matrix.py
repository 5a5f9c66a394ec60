"""The diffusion-forcing timestep matrix (the paper's AD scheduler), a pure numpy function.

Frames are grouped in causal blocks. Each row is one model call: every block sits at an index
into [999] + step_template + [0] (0 = pure noise, n + 1 = clean). A block advances by one when
it is the first block or the block before it has reached its last step; otherwise it lags the
block before it by ar_step. Clean prefix blocks start at n + 1 and never move. The update mask
marks the blocks that take a scheduler step in that row; every block takes exactly n steps.
valid_interval is the window of at most base_num_frames frames the model sees in that row.
"""
from __future__ import annotations

import math
import operator
from typing import Sequence

import numpy as np


def _int(name: str, value, low: int) -> int:
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def _check(num_frames, base_num_frames, ar_step, num_pre_ready, causal_block_size, n_steps):
    cbs = causal_block_size
    if num_frames % cbs:
        lo, hi = num_frames // cbs * cbs, -(-num_frames // cbs) * cbs
        raise ValueError(f"num_frames ({num_frames} latent frames) must be a multiple of causal_block_size ({cbs}): "
                         f"use {lo or hi} or {hi} latent frames, or a causal_block_size that divides {num_frames}")
    if num_pre_ready % cbs:
        raise ValueError(f"num_pre_ready ({num_pre_ready} clean prefix frames) must be a multiple of "
                         f"causal_block_size ({cbs}); otherwise part of a block would be clean and part noise")
    if num_pre_ready >= num_frames:
        raise ValueError(f"num_pre_ready ({num_pre_ready}) must be smaller than num_frames ({num_frames}): "
                         "there is nothing left to denoise")
    if base_num_frames < cbs:
        raise ValueError(f"base_num_frames ({base_num_frames}) must hold at least one causal block ({cbs} frames)")
    base_blocks = base_num_frames // cbs
    if base_blocks < num_frames // cbs and ar_step < n_steps / base_blocks:
        raise ValueError(f"ar_step ({ar_step}) must be at least {math.ceil(n_steps / base_blocks)} when "
                         f"{num_frames} frames are denoised through a window of {base_blocks * cbs} frames "
                         f"with {n_steps} steps: raise ar_step, use fewer steps or a larger base_num_frames")


def _rows(num_blocks: int, n: int, ar_step: int, pre_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Template indices [R, blocks] and the update mask [R, blocks]."""
    clean = n + 1
    prev = np.zeros(num_blocks, np.int64)
    prev[:pre_blocks] = clean
    index, mask = [], []
    while np.any(prev < n):
        new = np.empty_like(prev)
        for b in range(num_blocks):
            leads = b == 0 or prev[b - 1] >= n
            new[b] = prev[b] + 1 if leads else new[b - 1] - ar_step
        new = np.clip(new, 0, clean)
        mask.append((new != prev) & (new != clean))
        index.append(new)
        prev = new
    return np.stack(index), np.stack(mask)


def _windows(mask: np.ndarray, base_blocks: int, shrink: bool) -> list[tuple[int, int]]:
    """The reference's sliding window: its end moves on when the block just past it updates."""
    num_blocks = mask.shape[1]
    end = int(np.flatnonzero(mask[0])[-1]) + 1 if shrink else base_blocks
    out = []
    for row in mask:
        if end < num_blocks and row[end]:
            end += 1
        out.append((max(end - base_blocks, 0), end))
    return out


def generate_timestep_matrix(num_frames: int, step_template: Sequence[int], base_num_frames: int,
                             ar_step: int = 5, num_pre_ready: int = 0, causal_block_size: int = 1,
                             shrink_interval_with_mask: bool = False
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """(step_matrix int64 [R, F], step_index int64 [R, F], step_update_mask bool [R, F], valid_interval).

    step_template is the timestep schedule: integers (flow_timesteps, the original's) or floats (the
    matrix is then float64); counts are in latent frames.
    ar_step = 0 gives synchronous sampling (R = n rows); with B blocks, ar_step > 0 gives
    n + (B − 1)·ar_step rows. valid_interval holds (start, end) frame ranges, one per row.
    shrink_interval_with_mask starts the window at the last block updated in the first row (the
    reference's code for this option overwrites its own mask and fails; this is its intent).
    """
    template = np.asarray(step_template)
    if template.ndim != 1 or template.size == 0:
        raise ValueError(f"step_template must be a non-empty 1-D sequence of timesteps, got shape {template.shape}")
    template = template.astype(np.int64 if np.issubdtype(template.dtype, np.integer) else np.float64)
    cbs = _int("causal_block_size", causal_block_size, 1)
    num_frames = _int("num_frames", num_frames, 1)
    base = _int("base_num_frames", base_num_frames, 1)
    ar_step = _int("ar_step", ar_step, 0)
    pre = _int("num_pre_ready", num_pre_ready, 0)
    n = len(template)
    _check(num_frames, base, ar_step, pre, cbs, n)

    index, mask = _rows(num_frames // cbs, n, ar_step, pre // cbs)
    full = np.concatenate([[999], template, [0]])
    windows = _windows(mask, base // cbs, shrink_interval_with_mask)
    index, mask = np.repeat(index, cbs, axis=1), np.repeat(mask, cbs, axis=1)
    return full[index], index, mask, [(s * cbs, e * cbs) for s, e in windows]
