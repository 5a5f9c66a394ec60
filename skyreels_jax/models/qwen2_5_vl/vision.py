"""The Qwen2.5-VL vision encoder (transformers' Qwen2_5_VisionTransformerPretrainedModel).

Input: the processor's flattened patches [N, C·T·P·P] (T = temporal_patch_size frames of P×P
pixels, ordered so each 2×2 merge unit is contiguous) and grid_thw per image/video. A linear patch
embedding (the Conv3d with stride = kernel), then pre-norm blocks: RMSNorm, attention with a 2D
rotary (height and width frequencies side by side), RMSNorm, SwiGLU MLP with biases. Most blocks
attend inside windows of window_size pixels; fullatt_blocks attend over each whole frame. Tokens
are reordered window by window (whole merge units move) so a window is contiguous; the merger
(RMSNorm, 2×2 units concatenated, Linear-GELU-Linear) then puts them back in the grid order.

The windows and frames become segment ids (a token sees the tokens of its own segment), built
on the host from grid_thw: the layout never enters the traced code.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from skyreels_jax.models.qwen2.model import apply_rope
from skyreels_jax.nn import Linear, RMSNorm
from skyreels_jax.nn.stack import stacked


@dataclasses.dataclass(frozen=True)
class VisionConfig:
    """Defaults are Qwen2.5-VL-7B's (SkyCaptioner-V1's) vision tower."""

    depth: int = 32
    dim: int = 1280
    ffn_dim: int = 3420
    num_heads: int = 16
    out_dim: int = 3584
    patch_size: int = 14
    temporal_patch_size: int = 2
    merge_size: int = 2
    window_size: int = 112
    fullatt_blocks: tuple[int, ...] = (7, 15, 23, 31)
    in_channels: int = 3
    tokens_per_second: float = 2.0
    rope_theta: float = 10000.0
    param_dtype: str = "float32"
    dtype: str = "float32"

    @property
    def patch_dim(self) -> int:
        return self.in_channels * self.temporal_patch_size * self.patch_size ** 2


@dataclasses.dataclass(frozen=True)
class VisionLayout:
    """Host-side index arrays for one set of grids (see vision_layout)."""

    order: np.ndarray        # [N] token permutation that makes windows contiguous
    hw: np.ndarray           # [N, 2] (row, col) of each token in its frame, in the permuted order
    window_ids: np.ndarray   # [N] window segment of each permuted token
    frame_ids: np.ndarray    # [N] frame segment of each permuted token
    restore: np.ndarray      # [N / merge²] merged-token permutation back to grid order


def vision_layout(grid_thw, cfg: VisionConfig) -> VisionLayout:
    """Windows, frames and 2D positions of the patches of each (t, h, w) grid, as transformers lays them out."""
    m, unit = cfg.merge_size, cfg.merge_size ** 2
    win = cfg.window_size // m // cfg.patch_size
    unit_order, hw, window_ids, frame_ids = [], [], [], []
    units_before = windows_before = frames_before = 0
    for t, h, w in np.asarray(grid_thw, np.int64).reshape(-1, 3).tolist():
        if h % m or w % m:
            raise ValueError(f"grid {(t, h, w)} is not a multiple of the merge size {m}")
        gh, gw = h // m, w // m
        # (row, col) per patch, merge units contiguous: [gh, m, gw, m] -> [gh, gw, m, m]
        rows = np.broadcast_to(np.arange(h).reshape(gh, 1, m, 1), (gh, gw, m, m))
        cols = np.broadcast_to(np.arange(w).reshape(1, gw, 1, m), (gh, gw, m, m))
        frame_hw = np.stack([rows.reshape(-1), cols.reshape(-1)], -1).reshape(gh * gw, unit, 2)
        ph, pw = -gh % win or win, -gw % win or win  # transformers pads a full window when already aligned
        nh, nw = (gh + ph) // win, (gw + pw) // win
        for f in range(t):
            grid = np.pad(np.arange(gh * gw).reshape(gh, gw), ((0, ph), (0, pw)), constant_values=-1)
            grid = grid.reshape(nh, win, nw, win).transpose(0, 2, 1, 3).reshape(nh * nw, -1)
            for window in grid:
                members = window[window >= 0]
                if members.size:
                    unit_order.append(members + units_before + f * gh * gw)
                    hw.append(frame_hw[members].reshape(-1, 2))
                    window_ids.append(np.full(members.size * unit, windows_before))
                    frame_ids.append(np.full(members.size * unit, frames_before + f))
                    windows_before += 1
        units_before += t * gh * gw
        frames_before += t
    units = np.concatenate(unit_order)
    order = (units[:, None] * unit + np.arange(unit)).reshape(-1)
    return VisionLayout(order, np.concatenate(hw), np.concatenate(window_ids), np.concatenate(frame_ids),
                        np.argsort(units))


def vision_rope(hw: jax.Array, head_dim: int, theta: float) -> tuple[jax.Array, jax.Array]:
    """cos, sin [N, head_dim]: head_dim/4 frequencies of the row, then of the column, twice (rotate-half)."""
    quarter = head_dim // 2
    inv_freq = 1.0 / (np.float32(theta) ** (np.arange(0, quarter, 2, dtype=np.float32) / np.float32(quarter)))
    angles = (hw.astype(jnp.float32)[:, :, None] * jnp.asarray(inv_freq)).reshape(hw.shape[0], -1)
    angles = jnp.concatenate([angles, angles], axis=-1)
    return jnp.cos(angles), jnp.sin(angles)


class VisionBlock(nnx.Module):
    def __init__(self, cfg: VisionConfig, rngs: nnx.Rngs):
        kw = dict(dtype=jnp.dtype(cfg.dtype), param_dtype=jnp.dtype(cfg.param_dtype), rngs=rngs)
        self.num_heads = cfg.num_heads
        self.norm1 = RMSNorm(cfg.dim, eps=1e-6, axis_name="embed", param_dtype=kw["param_dtype"])
        self.qkv = Linear(cfg.dim, 3 * cfg.dim, axes=("embed", "heads"), **kw)
        self.proj = Linear(cfg.dim, cfg.dim, axes=("heads", "embed"), **kw)
        self.norm2 = RMSNorm(cfg.dim, eps=1e-6, axis_name="embed", param_dtype=kw["param_dtype"])
        self.gate = Linear(cfg.dim, cfg.ffn_dim, axes=("embed", "mlp"), **kw)
        self.up = Linear(cfg.dim, cfg.ffn_dim, axes=("embed", "mlp"), **kw)
        self.down = Linear(cfg.ffn_dim, cfg.dim, axes=("mlp", "embed"), **kw)

    def __call__(self, x, cos, sin, mask):
        """x [N, dim]; mask [N, N] bool (same window, or same frame in a full-attention block)."""
        n, dtype = x.shape[0], x.dtype
        q, k, v = jnp.split(self.qkv(self.norm1(x).astype(dtype)).reshape(1, n, 3 * self.num_heads, -1), 3, axis=2)
        q, k = apply_rope(q, cos[None], sin[None]), apply_rope(k, cos[None], sin[None])
        out = jax.nn.dot_product_attention(q, k, v, mask=mask[None, None]).reshape(n, -1)
        x = (x.astype(jnp.float32) + self.proj(out, out_dtype=jnp.float32)).astype(dtype)
        h = self.norm2(x).astype(dtype)
        h = jax.nn.silu(self.gate(h, out_dtype=jnp.float32)) * self.up(h, out_dtype=jnp.float32)
        return (x.astype(jnp.float32) + self.down(h, out_dtype=jnp.float32)).astype(dtype)


class VisionEncoder(nnx.Module):
    """Patches [N, patch_dim] -> merged tokens [N / merge², out_dim] in grid order; see encode()."""

    def __init__(self, config: VisionConfig, *, rngs: nnx.Rngs):
        cfg = self.config = config
        kw = dict(dtype=jnp.dtype(cfg.dtype), param_dtype=jnp.dtype(cfg.param_dtype), rngs=rngs)
        self.patch_embed = Linear(cfg.patch_dim, cfg.dim, axes=(None, "embed"), use_bias=False, **kw)

        self.blocks = stacked(lambda r: VisionBlock(cfg, r), cfg.depth, rngs)
        merged = cfg.dim * cfg.merge_size ** 2
        self.merger_norm = RMSNorm(cfg.dim, eps=1e-6, axis_name="embed", param_dtype=kw["param_dtype"])
        self.merger_fc1 = Linear(merged, merged, axes=("embed", "mlp"), **kw)
        self.merger_fc2 = Linear(merged, cfg.out_dim, axes=("mlp", "embed"), **kw)

    def __call__(self, patches, order, hw, window_ids, frame_ids, restore):
        """patches [N, patch_dim] in the processor's order; the rest is a VisionLayout's arrays."""
        cfg = self.config
        x = self.patch_embed(patches[order])
        cos, sin = vision_rope(hw, cfg.dim // cfg.num_heads, cfg.rope_theta)
        window_mask = window_ids[:, None] == window_ids[None, :]
        frame_mask = frame_ids[:, None] == frame_ids[None, :]
        full = np.isin(np.arange(cfg.depth), cfg.fullatt_blocks)
        graphdef, stacked = nnx.split(self.blocks)

        def one_block(x, layer):
            params, is_full = layer
            mask = jnp.where(is_full, frame_mask, window_mask)
            return nnx.merge(graphdef, params)(x, cos, sin, mask), None

        x, _ = jax.lax.scan(one_block, x, (stacked, jnp.asarray(full)))
        h = self.merger_norm(x).astype(x.dtype).reshape(-1, cfg.dim * cfg.merge_size ** 2)
        h = jax.nn.gelu(self.merger_fc1(h, out_dtype=jnp.float32), approximate=False).astype(x.dtype)
        return self.merger_fc2(h, out_dtype=jnp.float32)[restore]

    def encode(self, patches, grid_thw) -> jax.Array:
        """Merged vision tokens [sum(t·h·w) / merge², out_dim] float32 for the grids' patches, jitted per shape."""
        from skyreels_jax.nn.jit import jit_call

        patches = np.asarray(patches)
        if patches.ndim != 2 or patches.shape[1] != self.config.patch_dim:
            raise ValueError(f"patches must be [N, {self.config.patch_dim}], got {patches.shape}")
        lay = vision_layout(grid_thw, self.config)
        if lay.order.size != patches.shape[0]:
            raise ValueError(f"grid_thw {np.asarray(grid_thw).tolist()} covers {lay.order.size} patches, "
                             f"but {patches.shape[0]} were given")
        return jit_call(self, "__call__", jnp.asarray(patches, jnp.dtype(self.config.dtype)),
                        *(jnp.asarray(a) for a in (lay.order, lay.hw, lay.window_ids, lay.frame_ids, lay.restore)))
