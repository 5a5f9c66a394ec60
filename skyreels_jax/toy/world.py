"""The toy world: one coloured shape moving on a black background, bouncing off the edges.

`render_clip(seed)` is deterministic: the same seed gives the same frames and caption. The
caption names the colour, the shape and the direction of the first frames' motion,
e.g. "a red circle moves left on a black background".
"""
from __future__ import annotations

import numpy as np

COLOURS = {"red": (230, 40, 40), "green": (40, 220, 60), "blue": (50, 80, 240),
           "yellow": (235, 225, 40), "magenta": (230, 50, 230), "cyan": (40, 220, 230)}
# colours the model never saw: rendered for fine-tuning it on a new word (notebooks/finetune.ipynb)
NEW_COLOURS = {"orange": (255, 140, 0)}
SHAPES = ("circle", "square", "triangle")
DIRECTIONS = {"left": (0.0, -1.0), "right": (0.0, 1.0), "up": (-1.0, 0.0), "down": (1.0, 0.0)}


def caption(colour: str, shape: str, direction: str) -> str:
    return f"a {colour} {shape} moves {direction} on a black background"


def held_out(colour: str, shape: str, direction: str) -> bool:
    """12 of the 72 (colour, shape, direction) combinations (2 per colour, 4 per shape, 3 per
    direction) that `python -m skyreels_jax.toy.build --hold-out` keeps from the DiT: a test of
    composing known words into captions it never saw."""
    return (list(COLOURS).index(colour) + SHAPES.index(shape) + list(DIRECTIONS).index(direction)) % 6 == 0


def _mask(shape: str, cy: float, cx: float, r: float, size: int) -> np.ndarray:
    """Anti-aliased coverage [size, size] in [0, 1] (4x4 supersampling)."""
    sub = (np.arange(size * 4) + 0.5) / 4
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    dy, dx = yy - cy, xx - cx
    if shape == "circle":
        inside = dy ** 2 + dx ** 2 <= r ** 2
    elif shape == "square":
        inside = (np.abs(dy) <= 0.85 * r) & (np.abs(dx) <= 0.85 * r)
    else:  # triangle pointing up: apex at top, base at bottom
        inside = (dy <= 0.8 * r) & (dy >= -r + 2 * np.abs(dx))
    return inside.reshape(size, 4, size, 4).mean(axis=(1, 3))


def render(colour: str, shape: str, direction: str, *, frames: int = 17, size: int = 32, speed: float = 1.0,
           radius: float = 5.0, start: tuple[float, float] | None = None, seed: int = 0) -> np.ndarray:
    """uint8 [frames, size, size, 3]: the shape starts at `start` (or a seeded position that leaves room
    to move in `direction`) and moves `speed` px/frame, reflecting off the frame's edges."""
    rng = np.random.default_rng(seed)
    lo, hi = radius + 0.5, size - radius - 0.5
    vy, vx = (speed * d for d in DIRECTIONS[direction])
    if start is None:  # the moving axis starts in the trailing half; the other axis anywhere
        def trail(v):
            return rng.uniform(lo, (lo + hi) / 2) if v > 0 else rng.uniform((lo + hi) / 2, hi) if v < 0 \
                    else rng.uniform(lo, hi)
        start = (trail(vy), trail(vx))
    y, x = start
    rgb = np.asarray({**COLOURS, **NEW_COLOURS}[colour], np.float32)
    out = np.zeros((frames, size, size, 3), np.uint8)
    for t in range(frames):
        out[t] = np.round(_mask(shape, y, x, radius, size)[..., None] * rgb).astype(np.uint8)
        y, x = y + vy, x + vx
        if not lo <= y <= hi:
            vy, y = -vy, np.clip(2 * np.clip(y, lo, hi) - y, lo, hi)
        if not lo <= x <= hi:
            vx, x = -vx, np.clip(2 * np.clip(x, lo, hi) - x, lo, hi)
    return out


def scene(seed: int) -> dict:
    """The seeded scene parameters: colour, shape, direction, speed, radius."""
    rng = np.random.default_rng(seed)
    return dict(colour=str(rng.choice(list(COLOURS))), shape=str(rng.choice(SHAPES)),
                direction=str(rng.choice(list(DIRECTIONS))), speed=float(rng.uniform(0.8, 1.4)),
                radius=float(rng.uniform(4.5, 6.5)))


def render_clip(seed: int, *, frames: int = 17, size: int = 32) -> tuple[np.ndarray, str, dict]:
    """(uint8 [frames, size, size, 3], caption, scene) for one seed."""
    s = scene(seed)
    video = render(s["colour"], s["shape"], s["direction"], frames=frames, size=size, speed=s["speed"],
                   radius=s["radius"], seed=seed + 1)
    return video, caption(s["colour"], s["shape"], s["direction"]), s
