"""Qwen2.5-VL inputs on the host (numpy, PIL), as transformers' Qwen2-VL image/video processors make them.

smart_resize picks a size divisible by patch·merge (28) with min_pixels ≤ h·w ≤ max_pixels and the
aspect ratio kept; frames are resized (PIL bicubic), scaled to [0, 1], normalised with the OpenAI
CLIP mean/std, padded to a multiple of temporal_patch_size by repeating the last frame, and cut
into flattened patches [t·h·w, C·T·P·P] with each 2×2 merge unit contiguous. The prompt's single
`<|image_pad|>` / `<|video_pad|>` per item is expanded to the item's t·h·w / merge² tokens.
(Written here because transformers' video processor needs torchvision.)
"""
from __future__ import annotations

import math

import numpy as np

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
MIN_PIXELS, MAX_PIXELS = 56 * 56, 28 * 28 * 1280


def smart_resize(height: int, width: int, factor: int = 28, min_pixels: int = MIN_PIXELS,
                 max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """transformers' smart_resize: (h, w) multiples of factor, area within [min_pixels, max_pixels]."""
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"the aspect ratio must be below 200, got {max(height, width) / min(height, width)}")
    h, w = round(height / factor) * factor, round(width / factor) * factor
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h, w = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
    return h, w


def patchify(frames: np.ndarray, patch: int = 14, merge: int = 2, temporal: int = 2) -> tuple[np.ndarray, list[int]]:
    """Normalised frames float32 [F, H, W, C] -> (patches [t·h·w, C·T·P·P], [t, h, w])."""
    if len(frames) % temporal:
        frames = np.concatenate([frames, np.repeat(frames[-1:], temporal - len(frames) % temporal, 0)])
    f, hgt, wid, c = frames.shape
    t, h, w = f // temporal, hgt // patch, wid // patch
    x = frames.reshape(t, temporal, h // merge, merge, patch, w // merge, merge, patch, c)
    x = x.transpose(0, 2, 5, 3, 6, 8, 1, 4, 7)
    return np.ascontiguousarray(x.reshape(t * h * w, c * temporal * patch * patch)), [t, h, w]


def preprocess(frames, min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS, patch: int = 14,
               merge: int = 2, temporal: int = 2) -> tuple[np.ndarray, list[int]]:
    """uint8 [F, H, W, 3] (an image is F = 1) -> (patches, grid [t, h, w])."""
    from PIL import Image

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [F, H, W, 3], got {frames.dtype} {frames.shape}")
    h, w = smart_resize(frames.shape[1], frames.shape[2], patch * merge, min_pixels, max_pixels)
    resized = np.stack([np.asarray(Image.fromarray(f).resize((w, h), Image.BICUBIC)) for f in frames])
    return patchify((resized.astype(np.float32) / 255.0 - MEAN) / STD, patch, merge, temporal)


def expand_placeholders(text: str, token: str, grids, merge: int = 2) -> str:
    """Each `token` in text, in order, repeated t·h·w / merge² times for the matching grid."""
    parts = text.split(token)
    if len(parts) - 1 != len(grids):
        raise ValueError(f"the prompt has {len(parts) - 1} {token} placeholders for {len(grids)} inputs")
    out = parts[0]
    for grid, rest in zip(grids, parts[1:]):
        out += token * (int(np.prod(grid)) // merge ** 2) + rest
    return out
