"""Video files: written atomically (a crash never leaves a half-written file under the final name)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def write_json(path: str | Path, data: dict) -> Path:
    """Write JSON atomically (temporary file, then rename)."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, ensure_ascii=False, default=str)
    os.replace(tmp, path)
    return path


def write_video(path: str | Path, frames: np.ndarray, fps: int = 24, metadata: dict | None = None) -> Path:
    """Write uint8 frames [F, H, W, 3] as an H.264 mp4 at `path`, via a temporary file and a rename.

    With metadata (prompt, seed, model, every setting), a JSON sidecar `path.json` is written
    first, so that any video on disk can be reproduced.
    """
    import imageio.v3 as iio

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [F, H, W, 3], got {frames.dtype} {frames.shape}")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"H.264 needs even height and width, got {frames.shape[1]}×{frames.shape[2]}")
    path = Path(path)
    if metadata is not None:
        write_json(path.with_suffix(path.suffix + ".json"), metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=path.suffix or ".mp4", dir=path.parent)
    os.close(fd)
    try:
        iio.imwrite(tmp, frames, plugin="pyav", codec="libx264", fps=fps)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_video(path: str | Path) -> np.ndarray:
    """uint8 frames [F, H, W, 3] of a video file."""
    import imageio.v3 as iio

    return np.asarray(iio.imread(path, plugin="pyav"))
