"""Bad VAE inputs fail early with a message that says what to change."""
import numpy as np
import pytest
from flax import nnx

from skyreels_jax import VAEConfig, WanVAE


@pytest.fixture(scope="module")
def vae():
    """An abstract model: the checks run before any weight is touched."""
    config = VAEConfig(base_dim=4, z_dim=4, latents_mean=(0.0,) * 4, latents_std=(1.0,) * 4)
    return nnx.eval_shape(lambda: WanVAE(config, rngs=nnx.Rngs(0)))


@pytest.mark.parametrize("shape,match", [
    ((1, 4, 16, 16, 3), r"F = 4k\+1 .*got F=4. Use 1 or 5 frames"),
    ((1, 5, 20, 16, 3), "height 20 is not a multiple of 8"),
    ((1, 5, 16, 12, 3), "width 12 is not a multiple of 8"),
    ((1, 5, 16, 16, 4), "4 channels but the VAE takes 3"),
    ((1, 3, 5, 16, 16), "channels-first"),
    ((5, 16, 16, 3), r"\[B, F, H, W, 3\]"),
])
def test_bad_video(vae, shape, match):
    with pytest.raises(ValueError, match=match):
        vae.encode(np.zeros(shape, np.float32))


def test_nan_video(vae):
    video = np.zeros((1, 5, 16, 16, 3), np.float32)
    video[0, 3, 2, 1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        vae.encode(video)


@pytest.mark.parametrize("shape,match", [
    ((1, 2, 2, 2, 16), "16 channels but the VAE takes z_dim=4"),
    ((1, 2, 2, 2), r"\[B, F, H, W, 4\]"),
])
def test_bad_latents(vae, shape, match):
    with pytest.raises(ValueError, match=match):
        vae.decode(np.zeros(shape, np.float32))


def test_nan_latents(vae):
    z = np.zeros((1, 2, 2, 2, 4), np.float32)
    z[0, 1, 1, 1, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        vae.decode(z)


def test_bad_tiles(vae):
    with pytest.raises(ValueError, match="multiple of 8"):
        vae.decode(np.zeros((1, 1, 4, 4, 4), np.float32), tile=60)
    with pytest.raises(ValueError, match="larger than tile_overlap"):
        vae.decode(np.zeros((1, 1, 4, 4, 4), np.float32), tile=64, tile_overlap=64)
