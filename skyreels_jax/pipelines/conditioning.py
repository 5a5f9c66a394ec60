"""The image-to-video condition (frame mask + VAE latent) of Wan2.1 / SkyReels-V2, and the decode of
final latents to uint8 frames."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import PartitionSpec as P

from skyreels_jax.media import to_unit_range
from skyreels_jax.models.dit.condition import frame_mask
from skyreels_jax.models.vae.split import latent_spec
from skyreels_jax.parallel.mesh import current_mesh


def _to_uint8(frames: jax.Array) -> jax.Array:
    return ((frames / 2 + 0.5).clip(0, 1) * 255).astype(jnp.uint8)  # truncates, as the reference does


@functools.partial(jax.jit, static_argnums=0)
def _decode_uint8(graphdef, state, latents):
    mesh = current_mesh()
    if mesh is not None:  # the latent rows and columns split over the devices, as decode_split does
        latents = jax.lax.with_sharding_constraint(latents, latent_spec(mesh, latents.shape))
    frames = _to_uint8(nnx.merge(graphdef, state).decode_raw(latents)[0])
    # every process of a multi-host group gets the whole video (a sharded one could not be read back)
    return frames if mesh is None else jax.lax.with_sharding_constraint(frames, P())


def decode_to_uint8(vae, latents) -> np.ndarray:
    """uint8 frames [F, H, W, 3] of latents [1, F_lat, h, w, z]: the decode and the conversion are one
    compiled program, so a long video exists once in float32 (inside the decode) and once in uint8.
    Under a mesh (jax.set_mesh, as the pipelines run) the decode is split by rows over the devices."""
    return np.asarray(_decode_uint8(*nnx.split(vae.half("decoder")), latents))


def image_condition(vae, image: np.ndarray, end_image: np.ndarray | None, num_frames: int) -> jnp.ndarray:
    """y = concat(mask 4, latent 16) [1, F_lat, H/8, W/8, 20] for images already at the video size.

    The condition video is [image, zeros..., (end_image)] VAE-encoded as one video, so the
    latents of the zero frames are not zero.
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
