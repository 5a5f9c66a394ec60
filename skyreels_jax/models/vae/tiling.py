"""Spatial tiling of VAE encode/decode: equal-size overlapping tiles, blended with linear ramps.

Every tile has the same shape (the last tile of a row is moved back to end at the border, so
overlaps may be larger than asked), so one compiled encode/decode serves all tiles. Tiles run
one after another, so peak memory is one tile's working set plus the output. Each tile's output
is weighted by a ramp that rises over its overlap with the previous tile and falls over its
overlap with the next; the sum is divided by the summed weights (a partition of unity).
The mid-block attention sees only its tile, so tiled results differ slightly from untiled ones.
"""
from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Starts of equal tiles of length `tile` covering [0, size) with at least `overlap` in common."""
    if size <= tile:
        return [0]
    n = math.ceil((size - overlap) / (tile - overlap))
    return [int(round(v)) for v in np.linspace(0, size - tile, n)]


def _ramps(starts: list[int], tile: int, scale: int) -> list[np.ndarray]:
    """Per-tile 1D blend weights (in output units) along one axis."""
    out = []
    for i, s in enumerate(starts):
        k = np.arange(tile * scale, dtype=np.float64)
        w = np.ones_like(k)
        if i > 0:
            ov = (starts[i - 1] + tile - s) * scale
            w = np.minimum(w, (k + 1) / (ov + 1))
        if i < len(starts) - 1:
            ov = (s + tile - starts[i + 1]) * scale
            w = np.minimum(w, (tile * scale - k) / (ov + 1))
        out.append(w)
    return out


@partial(jax.jit, donate_argnums=0, static_argnums=(3, 4))
def _accumulate(acc, tile_out, weight, row: int, col: int):
    h, w = weight.shape
    return acc.at[:, :, row:row + h, col:col + w].add(tile_out * weight[None, None, :, :, None])


def tiled(fn, x, cfg, tile, overlap: int, *, encode: bool):
    """Run fn (encode or decode of one tile) over overlapping spatial tiles of x and blend the outputs.

    tile and overlap are in pixels and must be multiples of the spatial scale (8).
    """
    s = cfg.spatial_scale
    tile_hw = (tile, tile) if isinstance(tile, int) else tuple(tile)
    for name, v in (("tile", tile_hw[0]), ("tile", tile_hw[1]), ("tile_overlap", overlap)):
        if v % s or v < 0:
            raise ValueError(f"{name} must be a non-negative multiple of {s} pixels, got {v}")
    th, tw = (v // s for v in tile_hw)
    ov = overlap // s
    if min(th, tw) <= ov:
        raise ValueError(f"tile {tile_hw} must be larger than tile_overlap {overlap}")
    in_scale, out_scale = (s, 1) if encode else (1, s)
    grid_h, grid_w = x.shape[2] // in_scale, x.shape[3] // in_scale
    th, tw = min(th, grid_h), min(tw, grid_w)
    rows, cols = tile_starts(grid_h, th, ov), tile_starts(grid_w, tw, ov)
    wr, wc = _ramps(rows, th, out_scale), _ramps(cols, tw, out_scale)

    total = np.zeros((grid_h * out_scale, grid_w * out_scale))
    acc = None
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            piece = x[:, :, r * in_scale:(r + th) * in_scale, c * in_scale:(c + tw) * in_scale]
            out = fn(piece)
            if acc is None:
                acc = jnp.zeros((*out.shape[:2], grid_h * out_scale, grid_w * out_scale, out.shape[-1]), out.dtype)
            weight = np.outer(wr[i], wc[j])
            total[r * out_scale:(r + th) * out_scale, c * out_scale:(c + tw) * out_scale] += weight
            acc = _accumulate(acc, out, jnp.asarray(weight, out.dtype), r * out_scale, c * out_scale)
    return acc / jnp.asarray(total, acc.dtype)[None, None, :, :, None]
