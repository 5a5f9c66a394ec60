"""Video and image files and frames: written atomically (a crash never leaves a half-written file under
the final name), read from paths, PIL images or arrays, and resized or cropped to the video size."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


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


def load_image(image) -> np.ndarray:
    """uint8 [H, W, 3] from a path, a PIL image or an array (grayscale and RGBA are converted)."""
    if isinstance(image, (str, Path)):
        try:
            with Image.open(image) as im:
                return np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read image {image}: {e}") from e
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"images must be uint8 [H, W, 3] arrays, PIL images or paths; got {array.dtype} {array.shape}")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(f"images must be [H, W, 3] (or 1 or 4 channels), got shape {array.shape}")
    return np.asarray(Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).convert("RGB"))


def resize_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The reference's resizecrop (centre crop to the target aspect ratio), then a Lanczos resize."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    if h / w > height / width:
        new_w, new_h = w, int(w * height / width)
    else:
        new_h, new_w = h, int(h * width / height)
    left, top = (w - new_w) / 2, (h - new_h) / 2
    pil = Image.fromarray(image).crop((left, top, left + new_w, top + new_h))
    return np.asarray(pil.resize((width, height), Image.LANCZOS))


def load_video(video, height: int, width: int) -> np.ndarray:
    """uint8 [F, H, W, 3] at the video size from an array or a file, resized without cropping (as the
    reference's extension does)."""
    if isinstance(video, (str, Path)):
        try:
            video = read_video(video)
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read video {video}: {e}") from e
    frames = np.asarray(video)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"video must be uint8 [F, H, W, 3] or a video file, got {frames.dtype} {frames.shape}")
    if frames.shape[1:3] == (height, width):
        return frames
    return np.stack([np.asarray(Image.fromarray(f).resize((width, height), Image.LANCZOS)) for f in frames])


def to_unit_range(frames: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [-1, 1]."""
    return frames.astype(np.float32) / 127.5 - 1.0
