"""The image-to-video condition's frame mask: which pixel frames are given, packed as the DiT reads it.

The I2V and FLF2V DiTs take 20 extra channels per latent frame: this 4-channel mask, then the VAE
latent of the condition video (the given frames, zeros elsewhere). Training and the pipelines build
it the same way.
"""
from __future__ import annotations

import numpy as np


def frame_mask(num_frames: int, known: list[int]) -> np.ndarray:
    """[F_lat, 4] mask of the known pixel frames, packed 4 pixel frames per latent frame.

    The first pixel frame is repeated 4 times, so latent frame 0 (which encodes frame 0 alone)
    gets 4 equal entries and every later latent frame covers 4 pixel frames.
    """
    pixels = np.zeros(num_frames, np.float32)
    pixels[known] = 1.0
    pixels = np.concatenate([np.repeat(pixels[:1], 4), pixels[1:]])
    return pixels.reshape(-1, 4)
