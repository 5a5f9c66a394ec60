"""Pixel measures of toy-world videos: is the captioned colour there, where does it go, which shape is it?

A pixel "has colour c" when it is bright (max channel > 100) and its RGB is nearer to c than to
any other toy colour (cosine of the direction in RGB space, so dim edges count too). A frame
"shows" the colour when at least `min_pixels` pixels have it. The track is the per-frame
centroid of those pixels; the direction is the sign of the net motion along the captioned axis.
"""
from __future__ import annotations

import numpy as np

from skyreels_jax.toy.world import COLOURS, DIRECTIONS, NEW_COLOURS

_NAMES = list(COLOURS)


def colour_masks(video: np.ndarray, names: list[str] = _NAMES) -> np.ndarray:
    """[F, H, W] index into `names` (default: the world's COLOURS) of each bright pixel's nearest
    colour among them, -1 for dark pixels."""
    refs = np.asarray([{**COLOURS, **NEW_COLOURS}[n] for n in names], np.float32)
    refs /= np.linalg.norm(refs, axis=1, keepdims=True)
    v = np.asarray(video, np.float32)
    bright = v.max(axis=-1) > 100
    unit = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-6)
    nearest = np.argmax(unit @ refs.T, axis=-1)
    return np.where(bright, nearest, -1)


def track(video: np.ndarray, colour: str, min_pixels: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(present [F] bool, centroid [F, 2] (y, x), NaN where absent) of the colour's pixels; a colour of
    NEW_COLOURS competes with the world's six for each pixel."""
    names = _NAMES if colour in COLOURS else _NAMES + [colour]
    return _track(colour_masks(video, names) == names.index(colour), min_pixels)


def track_object(video: np.ndarray, min_pixels: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(present, centroid) as `track`, of the bright pixels whatever their colour."""
    return _track(np.asarray(video).max(axis=-1) > 100, min_pixels)


def _track(mask: np.ndarray, min_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    counts = mask.sum(axis=(1, 2))
    present = counts >= min_pixels
    yy, xx = np.mgrid[: mask.shape[1], : mask.shape[2]]
    with np.errstate(invalid="ignore", divide="ignore"):
        centroid = np.stack([(mask * yy).sum(axis=(1, 2)) / counts, (mask * xx).sum(axis=(1, 2)) / counts], axis=1)
    centroid[~present] = np.nan
    return present, centroid


def path_length(centroid: np.ndarray) -> float:
    """Length in px of the path through the centroids [F, 2], skipping frames without one (NaN)."""
    c = centroid[~np.isnan(centroid).any(axis=1)]
    return float(np.linalg.norm(np.diff(c, axis=0), axis=1).sum()) if len(c) > 1 else 0.0


def direction_ok(centroid: np.ndarray, direction: str, frames: int = 9, min_move: float = 2.0) -> bool:
    """Does the centroid move at least min_move px the captioned way over the first `frames` frames
    (before a bounce can turn it)?"""
    c = centroid[:frames]
    c = c[~np.isnan(c).any(axis=1)]
    if len(c) < 2:
        return False
    along = (c[-1] - c[0]) @ np.asarray(DIRECTIONS[direction])
    return bool(along >= min_move)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 videos."""
    mse = np.mean((np.asarray(a, np.float32) - np.asarray(b, np.float32)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def shape_features(mask: np.ndarray, min_pixels: int = 12) -> tuple[float, float, float] | None:
    """(fill, skew, corners) of one frame's object mask [H, W]: the share of its bounding box it covers
    (circle about 0.78, square 1, triangle 0.57); how far its centroid sits below the box's centre, in
    box heights (an upward triangle's mass is low: 0.14); its extent along the diagonals over its
    extent along the axes (a circle 1.0, an axis-aligned square's corners 1.37, triangle 1.07).
    None when the object is too small to tell."""
    ys, xs = np.nonzero(mask)
    if len(ys) < min_pixels:
        return None
    h, w = np.ptp(ys) + 1, np.ptp(xs) + 1
    diagonal = (np.ptp(ys + xs) + np.ptp(ys - xs)) / (2 * np.sqrt(2)) + 1
    return len(ys) / (h * w), (ys.mean() - (ys.min() + ys.max()) / 2) / h, diagonal / ((h + w) / 2)


def shape_votes(video: np.ndarray) -> list[str]:
    """The toy shape each frame of `video` shows, from its bright pixels (at half the frame's peak, so
    blurred edges count as the renderer drew them), for the frames with an object: triangle when
    the mass sits low or fills little of its box, square when it has corners, else circle
    (thresholds halfway between the rendered shapes' features, see shape_features). Corners, not
    fill, tell squares: the DiT draws squares with slightly concave sides, which fill their box
    no more than a circle does."""
    votes = []
    for frame in np.asarray(video, np.float32).max(axis=-1):
        f = shape_features(frame > max(100.0, 0.5 * frame.max()))
        if f is not None:
            fill, skew, corners = f
            votes.append("triangle" if skew > 0.07 or fill < 0.68 else "square" if corners > 1.19 else "circle")
    return votes


def shape_of(video: np.ndarray) -> str | None:
    """The shape most frames of `video` show (shape_votes); None without an object."""
    votes = shape_votes(video)
    return max(sorted(set(votes)), key=votes.count) if votes else None
