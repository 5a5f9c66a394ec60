"""Conditioning inputs: images in any form to uint8 frames at the video size, and the
image-to-video condition (frame mask + VAE latent) of Wan2.1 / SkyReels-V2 (reference §14)."""
from __future__ import annotations

from pathlib import Path

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import PartitionSpec as P
from PIL import Image

from skyreels_jax.parallel.mesh import current_mesh
from skyreels_jax.models.vae.split import latent_spec


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
        from skyreels_jax.media import read_video

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


def _to_uint8(frames: jax.Array) -> jax.Array:
    return ((frames / 2 + 0.5).clip(0, 1) * 255).astype(jnp.uint8)  # truncates, as the reference does


@functools.partial(jax.jit, static_argnums=0)
def _decode_uint8(graphdef, state, latents):
    mesh = current_mesh()
    if mesh is not None:  # the latent rows split over the devices, as decode_split does
        latents = jax.lax.with_sharding_constraint(latents, latent_spec(mesh, latents.shape))
    frames = _to_uint8(nnx.merge(graphdef, state).decode_raw(latents)[0])
    # every process of a multi-host group gets the whole video (a sharded one could not be read back)
    return frames if mesh is None else jax.lax.with_sharding_constraint(frames, P())


def decode_to_uint8(vae, latents) -> np.ndarray:
    """uint8 frames [F, H, W, 3] of latents [1, F_lat, h, w, z]: the decode and the conversion are one
    compiled program, so a long video exists once in float32 (inside the decode) and once in uint8.
    Under a mesh (jax.set_mesh, as the pipelines run) the decode is split by rows over the devices."""
    return np.asarray(_decode_uint8(*nnx.split(vae.half("decoder")), latents))


def to_unit_range(frames: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [-1, 1]."""
    return frames.astype(np.float32) / 127.5 - 1.0


def frame_mask(num_frames: int, known: list[int]) -> np.ndarray:
    """[F_lat, 4] mask of the known pixel frames, packed 4 pixel frames per latent frame.

    The first pixel frame is repeated 4 times, so latent frame 0 (which encodes frame 0 alone)
    gets 4 equal entries and every later latent frame covers 4 pixel frames.
    """
    pixels = np.zeros(num_frames, np.float32)
    pixels[known] = 1.0
    pixels = np.concatenate([np.repeat(pixels[:1], 4), pixels[1:]])
    return pixels.reshape(-1, 4)


def image_condition(vae, image: np.ndarray, end_image: np.ndarray | None, num_frames: int) -> jnp.ndarray:
    """y = concat(mask 4, latent 16) [1, F_lat, H/8, W/8, 20] for images already at the video size.

    The condition video is [image, zeros..., (end_image)] VAE-encoded as one video, so the
    latents of the zero frames are not zero (reference §14).
    """
    height, width = image.shape[:2]
    video = np.zeros((1, num_frames, height, width, 3), np.float32)
    video[0, 0] = to_unit_range(image)
    known = [0]
    if end_image is not None:
        video[0, -1] = to_unit_range(end_image)
        known.append(num_frames - 1)
    latent = vae.encode(video)
    mask = frame_mask(num_frames, known)
    mask = jnp.broadcast_to(jnp.asarray(mask)[None, :, None, None, :], (*latent.shape[:4], 4))
    return jnp.concatenate([mask, latent], axis=-1)
