"""Qwen2.5-VL (transformers' Qwen2_5_VLForConditionalGeneration): the vision encoder + the Qwen2 decoder.

The decoder is our Qwen2 model unchanged but for its position encoding: multimodal RoPE. Each
token has three positions (temporal, height, width); the rotary frequencies are split in
mrope_section groups, the first group turning with the temporal position, the next with the
height, the last with the width. Text tokens carry the same value in all three, so text-only
decoding (every generated token) is the plain 1D RoPE at position + rope delta.

Vision positions follow transformers' get_rope_index: a vision block starting at text position s
gives token (t, i, j) of its merged grid the positions (s + ⌊t·interval⌋, s + i, s + j), with
interval = tokens_per_second · seconds per temporal patch for videos and 1 for images; the text
after it resumes at s + max(h, w) / merge. The placeholder tokens (image_token_id,
video_token_id) are replaced by the vision tokens in order.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from skyreels_jax.models.qwen2.model import Qwen2, Qwen2Config
from skyreels_jax.models.qwen2_5_vl.vision import VisionConfig, VisionEncoder


@dataclasses.dataclass(frozen=True)
class Qwen2_5_VLConfig:
    text: Qwen2Config
    vision: VisionConfig
    mrope_section: tuple[int, int, int] = (16, 24, 24)
    image_token_id: int = 151655
    video_token_id: int = 151656

    def __post_init__(self):
        if sum(self.mrope_section) * 2 != self.text.head_dim:
            raise ValueError(f"mrope_section {self.mrope_section} must sum to head_dim/2 = {self.text.head_dim // 2}")
        if self.vision.out_dim != self.text.dim:
            raise ValueError(f"vision out_dim {self.vision.out_dim} must equal the LM's hidden size {self.text.dim}")


def mrope_tables(positions: jax.Array, head_dim: int, theta: float, section) -> tuple[jax.Array, jax.Array]:
    """cos, sin [B, L, head_dim] float32 for positions [3, B, L] (temporal, height, width)."""
    inv_freq = 1.0 / (np.float32(theta) ** (np.arange(0, head_dim, 2, dtype=np.float32) / np.float32(head_dim)))
    axis = np.repeat(np.arange(3), section)  # which position turns each frequency
    pos = jnp.moveaxis(positions.astype(jnp.float32)[axis], 0, -1)  # [B, L, head_dim/2]
    angles = pos * jnp.asarray(inv_freq)
    angles = jnp.concatenate([angles, angles], axis=-1)
    return jnp.cos(angles), jnp.sin(angles)


def rope_index(ids, mask, cfg: Qwen2_5_VLConfig, image_grid_thw=None, video_grid_thw=None,
               second_per_grid_ts=None) -> tuple[np.ndarray, np.ndarray]:
    """(positions [3, B, L] int64, deltas [B]) as transformers' get_rope_index; padding gets 0.

    delta = (last position + 1) - number of real tokens: token n of the generated text sits at
    prompt_len + n + delta.
    """
    ids, mask = np.asarray(ids), np.asarray(mask).astype(bool)
    m = cfg.vision.merge_size
    grids = {cfg.image_token_id: iter(np.asarray(image_grid_thw if image_grid_thw is not None else [], np.int64)
                                      .reshape(-1, 3).tolist()),
             cfg.video_token_id: iter(np.asarray(video_grid_thw if video_grid_thw is not None else [], np.int64)
                                      .reshape(-1, 3).tolist())}
    seconds = iter(second_per_grid_ts if second_per_grid_ts is not None else [])
    positions = np.zeros((3,) + ids.shape, np.int64)
    deltas = np.zeros(ids.shape[0], np.int64)
    for b in range(ids.shape[0]):
        row = ids[b][mask[b]]
        out, pos, i = [], 0, 0
        while i < row.size:
            token = int(row[i])
            run = i + np.argmax(np.append(row[i:] != token, True)) if token in grids else i + 1
            if token not in grids:
                out.append(np.full((3, 1), pos))
                pos += 1
            else:
                t, h, w = next(grids[token], (0, 0, 0))
                gh, gw = h // m, w // m
                if t * gh * gw != run - i:
                    raise ValueError(f"{run - i} vision placeholder tokens at {i} do not match the grid {(t, h, w)}")
                interval = cfg.vision.tokens_per_second * float(next(seconds, 1.0)) \
                    if token == cfg.video_token_id else 1.0
                tt, hh, ww = np.meshgrid((np.arange(t) * interval).astype(np.int64), np.arange(gh), np.arange(gw),
                                         indexing="ij")
                out.append(np.stack([tt.reshape(-1), hh.reshape(-1), ww.reshape(-1)]) + pos)
                pos += max(gh, gw)
            i = run
        flat = np.concatenate(out, axis=1) if out else np.zeros((3, 0), np.int64)
        positions[:, b, mask[b]] = flat
        deltas[b] = (flat.max() + 1 if flat.size else 0) - row.size
    return positions, deltas


class Qwen2_5_VL(nnx.Module):
    """`visual` (VisionEncoder) and `lm` (Qwen2); see generate.py for forward and generate."""

    def __init__(self, config: Qwen2_5_VLConfig, *, rngs: nnx.Rngs | None = None, visual: VisionEncoder | None = None,
                 lm: Qwen2 | None = None):
        """Random parameters from rngs, or the given (loaded) parts."""
        self.config = config
        self.visual = visual or VisionEncoder(config.vision, rngs=rngs)
        self.lm = lm or Qwen2(config.text, rngs=rngs)

    def prefill_inputs(self, ids, positions, vision_tokens, where):
        """Input embeddings [B, L, dim] (vision tokens [K, dim] at flat slots `where` [K]) and mRoPE tables."""
        cfg = self.config
        b, length = ids.shape
        x = jnp.take(self.lm.embed[...], ids, axis=0).astype(cfg.text.compute_dtype).reshape(b * length, -1)
        x = x.at[where].set(vision_tokens.astype(x.dtype)).reshape(b, length, -1)
        cos, sin = mrope_tables(positions, cfg.text.head_dim, cfg.text.rope_theta, cfg.mrope_section)
        return x, cos, sin

    def __call__(self, ids, positions, key_mask, vision_tokens, where):
        """Logits [B, L, vocab] float32 of a whole prompt (no cache)."""
        x, cos, sin = self.prefill_inputs(ids, positions, vision_tokens, where)
        return self.lm.decode(x, cos, sin, key_mask)[0]
