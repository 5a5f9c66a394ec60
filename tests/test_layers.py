"""Shared layers against float64 numpy: timestep sinusoids, RoPE tables, attention backends."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skyreels_jax.nn import attention, rope_tables, timestep_embedding
from skyreels_jax.nn.rope import rope_band_dims


def test_timestep_embedding_matches_float64():
    t = np.concatenate([np.arange(0, 1001, 7), [999.0, 995.5, 0.25, 216.0, 4000.0]]).astype(np.float32)
    half = 128
    omega = 10000.0 ** (-np.arange(half, dtype=np.float64) / half)
    angle = t.astype(np.float64)[:, None] * omega
    expected = np.concatenate([np.cos(angle), np.sin(angle)], axis=1)
    got = np.asarray(timestep_embedding(jnp.asarray(t), 256))
    # a float32 product t*omega would be off by up to ~6e-5 here
    assert np.abs(got - expected).max() < 2e-6


def test_timestep_embedding_keeps_leading_shape():
    assert timestep_embedding(jnp.zeros((2, 5)), 256).shape == (2, 5, 256)


def test_rope_tables_match_float64():
    grid, d = (3, 4, 5), 128
    cos, sin = rope_tables(grid, d)
    assert rope_band_dims(d) == (44, 42, 42)
    f, h, w = np.meshgrid(*[np.arange(n) for n in grid], indexing="ij")
    angles = []
    for pos, band in zip((f, h, w), rope_band_dims(d)):
        freqs = 1.0 / 10000.0 ** (np.arange(0, band, 2) / band)
        angles.append(pos.reshape(-1, 1) * freqs)
    angle = np.concatenate(angles, axis=1)
    np.testing.assert_allclose(np.asarray(cos), np.cos(angle), atol=1e-7)
    np.testing.assert_allclose(np.asarray(sin), np.sin(angle), atol=1e-7)


@pytest.mark.parametrize("masked", [False, True])
def test_chunked_attention_equals_plain(masked):
    key = jax.random.PRNGKey(0)
    kq, kk, kv = jax.random.split(key, 3)
    q = jax.random.normal(kq, (2, 37, 3, 16))
    k = jax.random.normal(kk, (2, 37, 3, 16))
    v = jax.random.normal(kv, (2, 37, 3, 16))
    blocks = dict(q_block=jnp.arange(37) // 10, k_block=jnp.arange(37) // 10) if masked else {}
    plain = attention(q, k, v, backend="xla", **blocks)
    chunked = attention(q, k, v, backend="chunked", chunk=8, **blocks)
    np.testing.assert_allclose(np.asarray(chunked), np.asarray(plain), rtol=1e-5, atol=1e-6)


def test_attention_matches_numpy_softmax():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 6, 2, 8)).astype(np.float32) for _ in range(3))
    logits = np.einsum("bqnd,bknd->bnqk", q, k) / np.sqrt(8)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    expected = np.einsum("bnqk,bknd->bqnd", p / p.sum(-1, keepdims=True), v)
    np.testing.assert_allclose(np.asarray(attention(q, k, v, backend="xla")), expected, rtol=1e-5, atol=1e-6)


def test_unknown_backend():
    x = jnp.zeros((1, 2, 1, 4))
    with pytest.raises(ValueError, match="unknown attention backend 'flash'"):
        attention(x, x, x, backend="flash")


@pytest.mark.parametrize("rows", [1, 5, 64, 65])
def test_float32_product_with_a_bfloat16_kernel(rows):
    """A float32 matmul with a bfloat16 kernel (the timestep embeddings of a bf16 DiT): a few rows go as
    three bfloat16 parts of x, more rows through a float32 copy of the kernel; both are the float32
    product (checked against float64)."""
    from skyreels_jax.nn import matmul

    rng = np.random.default_rng(rows)
    x = jnp.asarray(3 * rng.standard_normal((rows, 256)), jnp.float32)
    w = jnp.asarray(0.02 * rng.standard_normal((256, 384)), jnp.bfloat16)
    exact = np.asarray(x, np.float64) @ np.asarray(w.astype(jnp.float32), np.float64)
    got = np.asarray(matmul(x, w, jnp.float32))
    assert got.dtype == np.float32
    assert np.abs(got - exact).max() < 4e-6 * np.abs(exact).max()
    # one bfloat16 part alone (x rounded to bf16) would be off by ~1e-3
    rounded = np.asarray(x.astype(jnp.bfloat16).astype(jnp.float32), np.float64) @ np.asarray(w.astype(jnp.float32))
    assert np.abs(rounded - exact).max() > 100 * np.abs(got - exact).max()
