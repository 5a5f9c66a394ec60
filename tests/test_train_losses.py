"""Training losses on hand-computed cases."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skyreels_jax.training import losses


def test_shift_sigma_by_hand():
    # 3·0.5 / (1 + 2·0.5) = 0.75;  3·0.25 / (1 + 2·0.25) = 0.5;  the end points stay put
    np.testing.assert_allclose(losses.shift_sigma(jnp.array([0.0, 0.25, 0.5, 1.0]), 3.0), [0.0, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(losses.shift_sigma(jnp.array([0.1, 0.7]), 1.0), [0.1, 0.7])


def test_sample_sigma_logit_normal_and_shift():
    key = jax.random.PRNGKey(0)
    # std 0: σ = sigmoid(mean) exactly, then shifted: sigmoid(0)=0.5 -> 0.75 with shift 3
    np.testing.assert_allclose(losses.sample_sigma(key, (4,), mean=0.0, std=0.0, shift=3.0), 0.75, rtol=1e-6)
    s = np.asarray(losses.sample_sigma(key, (20000,), mean=0.5, std=0.8), np.float64)
    logit = np.log(s / (1 - s))
    assert abs(logit.mean() - 0.5) < 0.03 and abs(logit.std() - 0.8) < 0.03
    shifted = np.asarray(losses.sample_sigma(key, (20000,), mean=0.5, std=0.8, shift=5.0))
    np.testing.assert_allclose(shifted, 5 * s / (1 + 4 * s), rtol=1e-5)   # same draws, shifted


def test_noisy_latents_and_target_by_hand():
    x0 = jnp.ones((2, 2, 1, 1, 1))
    noise = 3.0 * jnp.ones((2, 2, 1, 1, 1))
    # per sample σ=[0.25, 1]: 0.75·1 + 0.25·3 = 1.5 ; 0·1 + 1·3 = 3
    np.testing.assert_allclose(losses.noisy_latents(x0, noise, jnp.array([0.25, 1.0]))[:, :, 0, 0, 0],
                               [[1.5, 1.5], [3.0, 3.0]])
    # per frame σ=[[0, 0.5], [0.5, 0]]
    np.testing.assert_allclose(losses.noisy_latents(x0, noise, jnp.array([[0.0, 0.5], [0.5, 0.0]]))[:, :, 0, 0, 0],
                               [[1.0, 2.0], [2.0, 1.0]])
    np.testing.assert_allclose(losses.flow_target(x0, noise), 2.0)


def test_flow_matching_loss_by_hand():
    x0 = np.zeros((1, 2, 1, 1, 2), np.float32)
    noise = np.ones((1, 2, 1, 1, 2), np.float32)               # target v = 1 everywhere
    pred = np.array([1, 3, 0, 1], np.float32).reshape(1, 2, 1, 1, 2)
    # squared errors: frame 0 -> (0, 4) mean 2 ; frame 1 -> (1, 0) mean 0.5
    np.testing.assert_allclose(losses.per_frame_error(pred, noise - x0), [[2.0, 0.5]])
    np.testing.assert_allclose(losses.flow_matching_loss(pred, x0, noise), 1.25)
    np.testing.assert_allclose(losses.flow_matching_loss(pred, x0, noise, jnp.array([[False, True]])), 0.5)
    np.testing.assert_allclose(losses.per_sample_error(pred, noise, jnp.array([[True, False]])), [2.0])


def test_frame_sigmas_non_decreasing_prefix_and_sync():
    key = jax.random.PRNGKey(1)
    sigma, mask = losses.sample_frame_sigmas(key, 64, 6, non_decreasing=True, max_prefix=2, shift=3.0)
    sigma, mask = np.asarray(sigma), np.asarray(mask)
    assert sigma.shape == mask.shape == (64, 6)
    assert np.all(np.diff(sigma, axis=1) >= 0)                  # never decreases along frames
    np.testing.assert_array_equal(sigma[~mask], 0.0)            # clean prefix frames have σ = 0
    assert np.all(sigma[mask] > 0) and np.all(mask[:, 2:])      # at most 2 clean frames, then noisy
    assert set((~mask).sum(axis=1)) == {0, 1, 2}                # each prefix length occurs
    assert np.any(np.diff(sigma[:, 2:], axis=1) > 0)            # frames get different levels
    indep, _ = losses.sample_frame_sigmas(key, 64, 6)
    assert np.any(np.diff(np.asarray(indep), axis=1) < 0)       # without the constraint they can decrease
    sync, _ = losses.sample_frame_sigmas(key, 8, 5, sync_prob=1.0)
    np.testing.assert_array_equal(np.asarray(sync), np.asarray(sync)[:, :1].repeat(5, axis=1))
    with pytest.raises(ValueError, match="max_prefix"):
        losses.sample_frame_sigmas(key, 2, 3, max_prefix=3)


def test_flow_dpo_loss_by_hand():
    err_w, err_l = jnp.array([0.2, 0.5]), jnp.array([0.5, 0.5])
    ref_w, ref_l = jnp.array([0.3, 0.5]), jnp.array([0.4, 0.5])
    loss, m = losses.flow_dpo_loss(err_w, err_l, ref_w, ref_l, beta=10.0)
    # pair 0: −10/2·((0.2−0.5) − (0.3−0.4)) = −5·(−0.2) = 1.0 -> −log σ(1) = log(1+e^−1)
    # pair 1: everything equal -> margin 0 -> log 2
    expected = [np.log1p(np.exp(-1.0)), np.log(2.0)]
    np.testing.assert_allclose(loss, np.mean(expected), rtol=1e-6)
    np.testing.assert_allclose(m["reward_margin"], 0.5, rtol=1e-6)
    np.testing.assert_allclose(m["reward_accuracy"], 0.5)
    # policy == reference gives log 2 whatever the errors
    same, _ = losses.flow_dpo_loss(err_w, err_l, err_w, err_l, beta=123.0)
    np.testing.assert_allclose(same, np.log(2.0), rtol=1e-6)
