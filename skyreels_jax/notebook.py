"""Helpers for notebooks: what the runtime has, and videos shown inline.

Videos are shown as animated GIFs inside the notebook's HTML output: every front end plays them
(Jupyter, Colab, VS Code, nbviewer), and a small clip stays a few kB in a saved notebook.
"""
from __future__ import annotations

import base64
import html
import io
import os

import numpy as np


def runtime() -> dict:
    """Print and return the devices JAX sees, their kind and memory (the runtime's limit where it
    reports one), and the host's total and available memory."""
    import jax

    devices = jax.devices()
    stats = devices[0].memory_stats() if hasattr(devices[0], "memory_stats") else None
    page = os.sysconf("SC_PAGE_SIZE")
    info = dict(platform=devices[0].platform, device_kind=devices[0].device_kind, device_count=len(devices),
                device_memory=int(stats["bytes_limit"]) if stats and stats.get("bytes_limit") else None,
                host_memory=page * os.sysconf("SC_PHYS_PAGES"), host_available=page * os.sysconf("SC_AVPHYS_PAGES"),
                cpu_count=os.cpu_count())
    gib = 2 ** 30
    device_mem = "not reported" if info["device_memory"] is None else f"{info['device_memory'] / gib:.1f} GiB each"
    print(f"jax {jax.__version__}: {len(devices)} × {info['device_kind']} ({info['platform']}), memory {device_mem}")
    print(f"host: {info['cpu_count']} CPUs, {info['host_memory'] / gib:.1f} GiB memory, "
          f"{info['host_available'] / gib:.1f} GiB available")
    return info


def upscale(frames: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling of uint8 frames [F, H, W, 3] (tiny videos stay sharp)."""
    return np.asarray(frames).repeat(scale, axis=-3).repeat(scale, axis=-2)


def gif_bytes(frames: np.ndarray, fps: int = 8) -> bytes:
    """An endlessly looping animated GIF of uint8 frames [F, H, W, 3], at their own size (the page scales it)."""
    from PIL import Image

    # one palette for the whole clip and no dithering: flat colours compress to a few hundred bytes a frame
    frames = np.asarray(frames)
    palette = Image.fromarray(frames.reshape(-1, frames.shape[-2], 3)).quantize(colors=255, dither=Image.Dither.NONE)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return buffer.getvalue()


class Videos:
    """Videos side by side, each with its label; displays itself inline in a notebook."""

    def __init__(self, videos: dict, scale: int = 4, fps: int = 8):
        self.videos, self.scale, self.fps = videos, scale, fps

    def _repr_html_(self) -> str:
        cells = []
        for label, frames in self.videos.items():
            frames = np.asarray(frames)
            data = base64.b64encode(gif_bytes(frames, self.fps)).decode()
            width = frames.shape[2] * self.scale
            caption = f"{html.escape(str(label))}<br>{frames.shape[0]} frames, {frames.shape[2]}×{frames.shape[1]}"
            cells.append(f'<figure style="display:inline-block;margin:4px;text-align:center">'
                         f'<img src="data:image/gif;base64,{data}" width="{width}" style="image-rendering:pixelated"/>'
                         f'<figcaption style="font-size:small;max-width:{max(width, 160)}px">'
                         f"{caption}</figcaption></figure>")
        return "<div>" + "".join(cells) + "</div>"


def show(videos, scale: int = 4, fps: int = 8) -> Videos:
    """Show one video (uint8 [F, H, W, 3]) or a {label: video} dict of them side by side."""
    return Videos(videos if isinstance(videos, dict) else {"": videos}, scale, fps)


def filmstrip(rows: dict, every: int = 4, scale: int = 4, gap: int = 2):
    """A PIL image with one row of frames per {label: video}: frames 0, every, 2·every, ...; the
    labels are printed by the caller (the image has none)."""
    from PIL import Image

    strips = []
    for frames in rows.values():
        picked = upscale(np.asarray(frames)[::every], scale)
        pad = np.full((picked.shape[0], picked.shape[1], gap, 3), 255, np.uint8)
        strips.append(np.concatenate([np.concatenate([f, p], axis=1) for f, p in zip(picked, pad)], axis=1))
    width = max(s.shape[1] for s in strips)
    strips = [np.pad(s, ((0, gap), (0, width - s.shape[1]), (0, 0)), constant_values=255) for s in strips]
    return Image.fromarray(np.concatenate(strips, axis=0))
