"""Video and image files and frames: written atomically (a crash never leaves a half-written file under
the final name), read from paths, PIL images or arrays, and resized or cropped to the video size."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")  # containers that hold H.264


def check_video_path(path: str | Path) -> Path:
    """An output path for write_video: a container that takes H.264, in a folder that exists or can be made
    and is writable. Checked before any work, so a bad path never costs a generation."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"output {path} is a folder: give a file name such as {path / 'video.mp4'}")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"output {path}: videos are written as H.264, which needs a {', '.join(VIDEO_SUFFIXES)} "
                         f"file; got {path.suffix or 'no suffix'!r}")
    check_writable_folder(path.parent)
    return path


def check_writable_folder(folder: str | Path) -> None:
    """The folder exists and is writable, or can be made where the nearest existing folder above it is."""
    folder = Path(folder).absolute()
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"cannot write under {folder}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write under {folder}: {existing} is not writable")


def sidecar_of(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".json")


def temp_of(path: Path) -> Path:
    """A temporary name for `path` in its folder, named after it (a rerun finds and removes its leftovers)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")


def leftovers_of(path: Path) -> list[Path]:
    """Temporary files of earlier writes of `path` (and of its sidecar) in its folder."""
    import re

    pattern = re.compile(rf"\.{re.escape(path.name)}(\.json)?\.\d+\.tmp")
    return [p for p in path.parent.glob(f".{path.name}.*") if pattern.match(p.name)]


def write_json(path: str | Path, data: dict) -> Path:
    """Write JSON atomically (a temporary file named after it, then a rename), with the user's umask."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_of(path)
    try:
        with open(tmp, "w") as f:
            f.write(_json(data))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _json(data: dict) -> str:
    import json

    return json.dumps(data, indent=2, ensure_ascii=False, default=str, allow_nan=False)


def write_video(path: str | Path, frames: np.ndarray, fps: int = 24, metadata: dict | None = None) -> Path:
    """Write uint8 frames [F, H, W, 3] as H.264 at `path` (.mp4, .mkv or .mov) via a temporary file and a rename.

    With metadata (prompt, seed, model, every setting), a JSON sidecar `path.json` is renamed into place
    after the video: a sidecar on disk always has its video. Files get the user's umask.
    """
    import imageio.v3 as iio

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [F, H, W, 3], got {frames.dtype} {frames.shape}")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"H.264 needs even height and width, got {frames.shape[1]}×{frames.shape[2]}")
    if isinstance(fps, bool) or not isinstance(fps, int) or fps < 1:
        raise ValueError(f"fps must be a positive integer, got {fps!r}")
    path = check_video_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, side, side_tmp = temp_of(path), sidecar_of(path), temp_of(sidecar_of(path))
    try:
        text = None if metadata is None else _json(metadata)  # a bad value fails before any file is written
        iio.imwrite(tmp, frames, plugin="pyav", codec="libx264", fps=fps)
        if text is not None:
            side_tmp.write_text(text)
        os.replace(tmp, path)
        if text is not None:
            os.replace(side_tmp, side)
    finally:
        tmp.unlink(missing_ok=True)
        side_tmp.unlink(missing_ok=True)
    return path


def probe_video(path: str | Path) -> None:
    """Raise ValueError naming the file unless it is a video container with a video stream that decodes.
    (ffmpeg would otherwise read a text file as frames of rendered text, or an image as a one-frame video.)"""
    import av

    if not Path(path).is_file():
        raise FileNotFoundError(f"video {path} does not exist" if not Path(path).exists() else
                                f"video {path} is not a file")
    try:
        with av.open(str(path)) as container:
            name = container.format.name
            if name == "tty" or name == "image2" or name.endswith("_pipe") or not container.streams.video:
                raise ValueError(f"video {path} is not a video file (ffmpeg reads it as {name!r}, without a video "
                                 "stream): give an .mp4, .mkv, .mov, .webm or .avi file")
            next(container.decode(video=0))
    except StopIteration:
        raise ValueError(f"cannot read video {path}: no frame of it decodes") from None
    except (av.FFmpegError, OSError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise ValueError(f"cannot read video {path}: it is not a video file ffmpeg can read ({reason})") from None


def read_video(path: str | Path) -> np.ndarray:
    """uint8 frames [F, H, W, 3] of a video file."""
    import imageio.v3 as iio

    return np.asarray(iio.imread(path, plugin="pyav"))


def load_image(image) -> np.ndarray:
    """uint8 [H, W, 3] from a path, a PIL image or an array (grayscale and RGBA are converted)."""
    if isinstance(image, (str, Path)):
        if not Path(image).is_file():
            raise FileNotFoundError(f"image {image} does not exist" if not Path(image).exists() else
                                    f"image {image} is not a file")
        try:
            with Image.open(image) as im:
                return np.asarray(im.convert("RGB"))
        except (OSError, ValueError, Image.DecompressionBombError) as e:
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
        probe_video(video)
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
