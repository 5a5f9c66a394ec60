"""Spatial tiling: the blending is exact for local functions, and tiled decode/encode stay close to untiled.

Tolerance: with random weights the VAE's receptive field (3×3 convs at 1/8 scale plus the global
mid-block attention) covers the whole frame, so no tiling reproduces the untiled result. We require
the tiled result to be within 0.2 (decode) / 0.15 (encode) relative error of the untiled one and no
worse than diffusers' own tiled decode with the same tile size and overlap on the same model.
"""
import jax.numpy as jnp
import numpy as np
import pytest

from skyreels_jax import VAEConfig, load_vae
from skyreels_jax.models.vae.tiling import tile_starts, tiled
from tests.conftest import rel_err
from tests.vae_fixtures import build_reference, reference_decode, save_diffusers


@pytest.mark.parametrize("size,tile,overlap", [(16, 12, 4), (90, 32, 8), (160, 40, 8), (10, 12, 4), (33, 8, 0)])
def test_tile_starts_cover_with_equal_tiles(size, tile, overlap):
    starts = tile_starts(size, tile, overlap)
    assert starts[0] == 0 and starts[-1] + min(tile, size) == size
    assert all(b - a <= min(tile, size) - overlap for a, b in zip(starts, starts[1:]))


def test_blending_is_exact_for_local_functions():
    cfg = VAEConfig()
    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.standard_normal((1, 2, 13, 21, 4)), jnp.float32)
    def up(t):
        return jnp.repeat(jnp.repeat(t, 8, 2), 8, 3) * 2.0  # a per-pixel "decoder"
    np.testing.assert_allclose(tiled(up, z, cfg, (48, 64), 16, encode=False), up(z), rtol=1e-6, atol=1e-6)
    video = up(z)
    def down(v):
        return v.reshape(*v.shape[:2], v.shape[2] // 8, 8, v.shape[3] // 8, 8, -1).mean((3, 5))
    np.testing.assert_allclose(tiled(down, video, cfg, 40, 16, encode=True), down(video), rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    reference = build_reference()
    return reference, load_vae(save_diffusers(reference, tmp_path_factory.mktemp("vae") / "vae"))


def test_tiled_decode_close_to_untiled(model):
    reference, vae = model
    z = np.random.default_rng(1).standard_normal((1, 2, 16, 24, 4)).astype(np.float32)
    full = np.asarray(vae.decode(z))
    np.testing.assert_allclose(np.asarray(vae.decode(z, tile=256)), full, rtol=1e-6, atol=1e-6)  # one tile
    err = rel_err(np.asarray(vae.decode(z, tile=96, tile_overlap=32)), full)
    reference.enable_tiling(96, 96, 64, 64)
    try:
        diffusers_err = rel_err(reference_decode(reference, z), full)
    finally:
        reference.use_tiling = False
    assert err <= 0.2 and err <= diffusers_err, (err, diffusers_err)


def test_tiled_encode_close_to_untiled(model):
    _, vae = model
    video = np.random.default_rng(2).uniform(-1, 1, (1, 5, 128, 192, 3)).astype(np.float32)
    err = rel_err(np.asarray(vae.encode(video, tile=96, tile_overlap=32)), np.asarray(vae.encode(video)))
    assert err <= 0.15, err


def test_split_of_the_latents_over_a_mesh():
    from types import SimpleNamespace

    from jax.sharding import PartitionSpec as P

    from skyreels_jax.models.vae.split import latent_spec

    def spec(data, fsdp, context=1, shape=(1, 25, 68, 120, 16)):
        return latent_spec(SimpleNamespace(shape=dict(data=data, fsdp=fsdp, context=context, tensor=1)), shape)

    assert spec(2, 4) == P(None, None, ("fsdp",), ("data",), None)      # 540P on 8 chips: 17 x 60 a chip
    assert spec(2, 2) == P(None, None, ("fsdp",), ("data",), None)      # 34 x 60, not 17 x 120
    assert spec(1, 2, 2) == P(None, None, ("fsdp", "context"), None, None)
    assert spec(2, 2, shape=(2, 25, 68, 120, 16)) == P("data", None, ("fsdp",), None, None)
    assert spec(2, 4, shape=(1, 31, 90, 160, 16)) == P(None, None, ("data",), ("fsdp",), None)  # 720P: 45 x 40
    assert spec(2, 2, shape=(1, 31, 90, 160, 16)) == P(None, None, ("fsdp",), ("data",), None)  # 45 x 80
