"""The Flax Wan VAE against diffusers' AutoencoderKLWan: tiny random weights in both layouts, and the real
(base_dim 96) architecture on a small clip."""
import numpy as np
import pytest

from skyreels_jax import load_vae
from tests.conftest import rel_err
from tests.vae_fixtures import TINY, build_reference, reference_decode, reference_encode, save_diffusers, save_original

TOL = 1e-5  # float32, ‖out−ref‖/‖ref‖


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    reference = build_reference()
    root = tmp_path_factory.mktemp("vae")
    return reference, {"diffusers": load_vae(save_diffusers(reference, root / "diffusers")),
                       "original": load_vae(save_original(reference, root / "original"), config=dict(
                           base_dim=8, z_dim=4, latents_mean=TINY["latents_mean"], latents_std=TINY["latents_std"]))}


@pytest.mark.parametrize("layout", ["diffusers", "original"])
def test_encode_matches_diffusers(tiny, layout):
    reference, vaes = tiny
    video = np.random.default_rng(0).uniform(-1, 1, (2, 9, 32, 48, 3)).astype(np.float32)
    ours = np.asarray(vaes[layout].encode(video))
    ref = reference_encode(reference, video)
    assert ours.shape == ref.shape == (2, 3, 4, 6, 4)
    assert rel_err(ours, ref) <= TOL


@pytest.mark.parametrize("layout", ["diffusers", "original"])
def test_decode_matches_diffusers(tiny, layout):
    reference, vaes = tiny
    z = np.random.default_rng(1).standard_normal((2, 3, 4, 6, 4)).astype(np.float32)
    ours = np.asarray(vaes[layout].decode(z))
    ref = reference_decode(reference, z)
    assert ours.shape == ref.shape == (2, 9, 32, 48, 3)
    assert 0.01 < (np.abs(ref) == 1).mean() < 0.5  # a fair test: most values are not clamped
    assert rel_err(ours, ref) <= TOL


def test_single_frame(tiny):
    """F=1: only the first-chunk step runs (no scan)."""
    reference, vaes = tiny
    video = np.random.default_rng(2).uniform(-1, 1, (1, 1, 16, 16, 3)).astype(np.float32)
    z = np.asarray(vaes["diffusers"].encode(video))
    assert rel_err(z, reference_encode(reference, video)) <= TOL
    assert rel_err(np.asarray(vaes["diffusers"].decode(z)), reference_decode(reference, z)) <= TOL


def test_streaming_is_causal(tiny):
    """Latent frames depend only on earlier pixel frames: encoding a prefix gives a prefix of the latents."""
    _, vaes = tiny
    video = np.random.default_rng(3).uniform(-1, 1, (1, 9, 16, 16, 3)).astype(np.float32)
    full = np.asarray(vaes["diffusers"].encode(video))
    prefix = np.asarray(vaes["diffusers"].encode(video[:, :5]))
    np.testing.assert_allclose(prefix, full[:, :2], rtol=1e-5, atol=1e-5)


def test_real_architecture_small_clip(tmp_path):
    """base_dim 96, z_dim 16 (the Wan2.1 VAE shapes, random weights): 5 frames at 32×32."""
    reference = build_reference(base_dim=96, z_dim=16, latents_mean=None, latents_std=None)
    vae = load_vae(save_diffusers(reference, tmp_path / "vae"))
    assert vae.config.base_dim == 96 and vae.config.z_dim == 16
    video = np.random.default_rng(4).uniform(-1, 1, (1, 5, 32, 32, 3)).astype(np.float32)
    z = np.asarray(vae.encode(video))
    assert rel_err(z, reference_encode(reference, video)) <= TOL
    assert rel_err(np.asarray(vae.decode(z)), reference_decode(reference, z)) <= TOL
