"""attention() with an additive bias, a key mask and a custom scale (what UMT5 needs), both backends."""
import jax.numpy as jnp
import numpy as np
import pytest

from skyreels_jax.nn import attention
from tests.conftest import rel_err


def naive(q, k, v, bias, k_mask, scale):
    s = np.einsum("bqnd,bknd->bnqk", q, k) * scale + bias
    s = np.where(k_mask[:, None, None, :], s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.einsum("bnqk,bknd->bqnd", p, v)


@pytest.mark.parametrize("backend,chunk", [("xla", 1024), ("chunked", 4), ("chunked", 16)])
def test_bias_mask_and_scale(backend, chunk):
    rng = np.random.default_rng(0)
    b, lq, lk, n, d = 2, 11, 13, 3, 8
    q, k, v = (rng.standard_normal((b, length, n, d)).astype(np.float32) for length in (lq, lk, lk))
    bias = rng.standard_normal((1, n, lq, lk)).astype(np.float32)
    k_mask = np.arange(lk)[None, :] < np.array([[lk], [5]])
    out = attention(jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), bias=jnp.asarray(bias),
                    k_mask=jnp.asarray(k_mask), scale=1.0, backend=backend, chunk=chunk)
    assert rel_err(out, naive(q, k, v, bias, k_mask, 1.0)) < 1e-6


@pytest.mark.parametrize("backend", ["xla", "chunked"])
def test_defaults_unchanged(backend):
    """No bias, no mask, default scale: plain softmax(q·kᵀ/√d)·v, as before the extension."""
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((1, 9, 2, 16)).astype(np.float32) for _ in range(3))
    out = attention(jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), backend=backend, chunk=4)
    ref = naive(q, k, v, 0.0, np.ones((1, 9), bool), 1 / np.sqrt(16))
    assert rel_err(out, ref) < 1e-6


@pytest.mark.parametrize("bias_heads", [1, 3])
def test_one_head_at_a_time_in_small_blocks(bias_heads):
    """The CPU layout (a map over heads) with query and key blocks smaller than the sequences, so the
    online softmax folds several key blocks; a bias per head or one for all heads."""
    from skyreels_jax.nn.attention import _one_head_at_a_time

    rng = np.random.default_rng(2)
    b, lq, lk, n, d = 2, 11, 13, 3, 8
    q, k, v = (rng.standard_normal((b, length, n, d)).astype(np.float32) for length in (lq, lk, lk))
    bias = rng.standard_normal((1, bias_heads, lq, lk)).astype(np.float32)
    k_mask = np.arange(lk)[None, :] < np.array([[lk], [5]])
    out = _one_head_at_a_time(*map(jnp.asarray, (q, k, v)), None, None, jnp.asarray(bias), jnp.asarray(k_mask),
                              0.5, 4, 5)
    assert rel_err(out, naive(q, k, v, bias, k_mask, 0.5)) < 1e-6
