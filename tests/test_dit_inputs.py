"""Bad DiT inputs fail early, on the host, with a message that says what to change."""
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from skyreels_jax import DiT, DiTConfig

TINY = dict(dim=32, ffn_dim=64, num_heads=2, num_layers=1, text_dim=24)


@pytest.fixture(scope="module")
def t2v():
    return DiT(DiTConfig(**TINY), rngs=nnx.Rngs(0))


@pytest.fixture(scope="module")
def df():
    return DiT(DiTConfig(**TINY, inject_sample_info=True), rngs=nnx.Rngs(0))


@pytest.fixture(scope="module")
def i2v():
    return DiT(DiTConfig(**TINY, in_dim=36, image_dim=20), rngs=nnx.Rngs(0))


def args(b=1, f=2, h=4, w=4, c=16, text=7):
    return jnp.zeros((b, f, h, w, c)), jnp.full((b,), 500.0), jnp.zeros((b, text, 24))


def test_good_call_runs(t2v):
    assert t2v(*args()).shape == (1, 2, 4, 4, 16)


def test_wrong_channel_count(t2v, i2v):
    with pytest.raises(ValueError, match="3 channels but this t2v model takes 16"):
        t2v(*args(c=3))
    with pytest.raises(ValueError, match="16 channels but this i2v model takes 36.*mask"):
        i2v(*args(), image_context=jnp.zeros((1, 257, 20)))


def test_channels_first_is_recognised(t2v):
    with pytest.raises(ValueError, match="channels-first"):
        t2v(jnp.zeros((1, 16, 2, 4, 4)), jnp.full((1,), 1.0), jnp.zeros((1, 7, 24)))


def test_grid_not_divisible_by_patch(t2v):
    with pytest.raises(ValueError, match="latent height 5 is not divisible by the patch size 2"):
        t2v(*args(h=5))
    with pytest.raises(ValueError, match="latent width 7"):
        t2v(*args(w=7))


def test_timestep_shape_mismatch(t2v):
    latents, _, context = args(f=3)
    with pytest.raises(ValueError, match=r"timestep must be \[B\]=\(1,\) or per frame \[B, F\]=\(1, 3\), got \(1, 2\)"):
        t2v(latents, jnp.zeros((1, 2)), context)


def test_missing_fps_for_an_fps_model(df, t2v):
    with pytest.raises(ValueError, match="fps embedding.*pass fps=16 or fps=24"):
        df(*args())
    with pytest.raises(ValueError, match="must be 16 or 24"):
        df(*args(), fps=30)
    with pytest.raises(ValueError, match="no fps embedding"):
        t2v(*args(), fps=24)
    assert df(*args(), fps=16).shape == df(*args(), fps=np.array([24])).shape


def test_image_model_without_image_tokens(i2v, t2v):
    with pytest.raises(ValueError, match="needs image_context, the CLIP tokens"):
        i2v(*args(c=36))
    with pytest.raises(ValueError, match=r"image_context must be \[B=1, tokens, 20\]"):
        i2v(*args(c=36), image_context=jnp.zeros((1, 257, 1280)))
    with pytest.raises(ValueError, match="no image cross-attention"):
        t2v(*args(), image_context=jnp.zeros((1, 257, 20)))


def test_flf2v_needs_both_images_tokens():
    flf2v = DiT(DiTConfig(**TINY, in_dim=36, image_dim=20, image_pos_len=10), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"\[B=1, 10, 20\]"):
        flf2v(*args(c=36), image_context=jnp.zeros((1, 5, 20)))
    assert flf2v(*args(c=36), image_context=jnp.zeros((1, 10, 20))).shape == (1, 2, 4, 4, 16)


def test_bad_config():
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        DiTConfig(dim=30, num_heads=4)
