"""Importing a folder of mp4 files with a captions file: clips at the training size and length.

    captions.jsonl   {"file": "clip001.mp4", "caption": "a cat walks across a garden"}   (one per line)
    captions.csv     file,caption                                                        (with that header)

`FolderClips` reads each video with imageio (pyav), keeps every `stride`-th frame (from the
target fps, when given), takes the first `frames` of them, and resizes and centre-crops each to
height x width as the pipelines do with a condition image. A video that cannot be read, has too
few frames, has no caption, or a caption whose file is absent becomes an Exception entry, which
the builder (`VideoTextPairs`, or the preprocessing) skips and counts or raises on, per on_bad.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from skyreels_jax.training.data import _Builder, build


def read_captions(path: str | Path) -> dict[str, str]:
    """{file name: caption} from a .jsonl (objects with "file" and "caption") or a .csv (same columns)."""
    path = Path(path)
    if path.suffix not in (".jsonl", ".csv"):
        raise ValueError(f"captions file {path} must be .jsonl or .csv")
    with path.open(newline="", encoding="utf-8") as f:
        if path.suffix == ".csv":
            rows = list(csv.DictReader(f))
        else:
            rows = [json.loads(line) for line in f if line.strip()]
    out: dict[str, str] = {}
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or "file" not in row or "caption" not in row:
            raise ValueError(f"{path}: entry {i} needs a 'file' and a 'caption', got {row!r}")
        name = Path(row["file"]).name
        if name in out:
            raise ValueError(f"{path}: {name} is captioned twice (entry {i})")
        out[name] = str(row["caption"])
    return out


def frame_stride(source_fps: float | None, fps: int | None) -> int:
    """Keep every stride-th frame to come near `fps` (1 when either rate is unknown)."""
    if not fps or not source_fps:
        return 1
    return max(1, round(source_fps / fps))


def read_clip(path: str | Path, frames: int, height: int, width: int, fps: int | None = None) -> tuple[np.ndarray, int]:
    """(uint8 [frames, height, width, 3], its fps): the first `frames` frames after the fps stride."""
    import imageio.v3 as iio

    from skyreels_jax.media import resize_crop

    path = Path(path)
    try:
        with iio.imopen(path, "r", plugin="pyav") as file:
            source_fps = file.metadata().get("fps")
            stride = frame_stride(source_fps, fps)
            kept = []
            for i, frame in enumerate(file.iter()):
                if i % stride == 0:
                    kept.append(resize_crop(np.asarray(frame)[..., :3], height, width))
                    if len(kept) == frames:
                        break
    except Exception as e:  # noqa: BLE001 - any decoder error means an unreadable file
        raise ValueError(f"cannot read video {path.name}: {e}") from e
    if len(kept) < frames:
        raise ValueError(f"{path.name} has {len(kept)} frames at stride {stride}, needs {frames}")
    out_fps = fps or (round(source_fps) if source_fps else 24)
    return np.stack(kept), int(out_fps)


class FolderClips:
    """Random access to a folder of mp4 files and its captions: `clips[i]` is (file name, {"video",
    "caption", "fps"} or an Exception), over every mp4 and every captioned name, sorted."""

    def __init__(self, folder: str | Path, captions: str | Path | dict, *, frames: int, height: int, width: int,
                 fps: int | None = None):
        check_clip_size(frames, height, width)
        self.folder, self.size, self.fps = Path(folder), (frames, height, width), fps
        if not self.folder.is_dir():
            raise FileNotFoundError(f"no video folder {self.folder}")
        self.captions = captions if isinstance(captions, dict) else read_captions(captions)
        self.files = {p.name: p for p in self.folder.glob("*.mp4")}
        self.names = sorted(set(self.files) | set(self.captions))

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int):
        name = self.names[i]
        if name not in self.files:
            return name, FileNotFoundError(f"{name} is in the captions file but not in {self.folder}")
        if name not in self.captions:
            return name, KeyError(f"{name} has no caption")
        try:
            video, clip_fps = read_clip(self.files[name], *self.size, fps=self.fps)
        except ValueError as e:
            return name, e
        return name, {"video": video, "caption": self.captions[name], "fps": clip_fps}

    def __iter__(self):
        return (self[i] for i in range(len(self)))


class DatasetClips:
    """The same access to a prepared VideoTextPairs dataset: `clips[i]` is (index, example)."""

    def __init__(self, dataset_dir: str | Path):
        from skyreels_jax.training.data import open_source

        self.source = open_source(dataset_dir)
        self.size = tuple(self.source.dataset_info.features["video"].shape[:3])

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int):
        ex = self.source[i]
        caption = ex["caption"].decode() if isinstance(ex["caption"], bytes) else str(ex["caption"])
        return f"{i:08d}", {"video": np.asarray(ex["video"]), "caption": caption, "fps": int(ex["fps"])}


def check_clip_size(frames: int, height: int, width: int) -> None:
    if frames < 1 or (frames - 1) % 4:
        raise ValueError(f"frames must be 4k+1 (the VAE's temporal compression), got {frames}")
    if height % 16 or width % 16 or height <= 0 or width <= 0:
        raise ValueError(f"height and width must be positive multiples of 16, got {height}x{width}")


class VideoTextPairs(_Builder):
    """Clips uint8 [frames, height, width, 3] with their caption and fps."""

    def __init__(self, *, frames: int, height: int, width: int, **kwargs):
        check_clip_size(frames, height, width)
        self.shape = (int(frames), int(height), int(width), 3)
        super().__init__(**kwargs)

    def _arrays(self):
        return {"video": (self.shape, np.dtype(np.uint8))}


def import_videos(folder, captions, data_dir, *, frames: int, height: int, width: int, fps: int | None = None,
                  on_bad: str = "raise") -> VideoTextPairs:
    """Build (once) a VideoTextPairs dataset from a folder of mp4 files and a captions file."""
    clips = FolderClips(folder, captions, frames=frames, height=height, width=width, fps=fps)
    return build(VideoTextPairs, data_dir, iter(clips), frames=frames, height=height, width=width, on_bad=on_bad)
