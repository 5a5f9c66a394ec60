"""The Flax CLIP vision tower against transformers' CLIPVisionModelWithProjection, both layouts and preprocessings."""
import numpy as np
import pytest

from skyreels_jax import load_image_encoder
from tests.conftest import rel_err
from tests.encoder_fixtures import (
    build_clip,
    clip_reference_diffusers,
    clip_reference_original,
    save_clip_diffusers,
    save_clip_original,
)

TOL = 1e-5  # float32, ‖out−ref‖/‖ref‖


def images(shape=(2, 45, 61), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def reference():
    return build_clip()


def test_original_layout(reference, tmp_path):
    """Wan's .pth (fused to_qkv, text tower ignored) with Wan's preprocessing: torch bicubic to 28×28."""
    ie = load_image_encoder(save_clip_original(reference, tmp_path / "orig"))
    assert ie.config.num_layers == 2 and ie.config.num_heads == 2
    x = images()
    feats = np.asarray(ie.encode(x))
    assert feats.shape == (2, 17, 160)
    assert rel_err(feats, clip_reference_original(reference, x)) <= TOL


@pytest.mark.parametrize("act", ["gelu", "quick_gelu"])
def test_diffusers_layout(act, tmp_path):
    """image_encoder/ + image_processor/: CLIPImageProcessor semantics (short edge, centre crop), hidden_states[-2]."""
    reference = build_clip(seed=1, hidden_act=act)
    root = save_clip_diffusers(reference, tmp_path / "pipe")
    ie = load_image_encoder(root)
    x = images((2, 50, 37), seed=2)
    feats = np.asarray(ie.encode(x))
    assert feats.shape == (2, 17, 160)
    assert rel_err(feats, clip_reference_diffusers(reference, root / "image_processor", x)) <= TOL
    # the image_encoder/ folder alone finds ../image_processor
    np.testing.assert_array_equal(np.asarray(load_image_encoder(root / "image_encoder").encode(x)), feats)


def test_bf16(reference, tmp_path):
    """bf16 parameters and compute: close to the float32 reference, bf16 out; close() frees it."""
    import jax.numpy as jnp

    ie = load_image_encoder(save_clip_original(reference, tmp_path / "orig"), dtype=jnp.bfloat16)
    x = images()
    feats = ie.encode(x)
    assert feats.dtype == jnp.bfloat16
    assert rel_err(np.asarray(feats.astype(jnp.float32)), clip_reference_original(reference, x)) < 3e-2
    ie.close()
    with pytest.raises(RuntimeError, match="closed"):
        ie.encode(x)
