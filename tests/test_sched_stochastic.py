"""The stochastic solvers: keyed, reproducible noise, and the right noise level after every step.

With a single data point μ the exact velocity is v = (x − μ)/σ and x0 = x − σ·v = μ exactly, so a
correct ancestral, LCM or SDE step lands on x' = (1 − σ')·μ + σ'·ε' with ε' standard normal."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skyreels_jax.schedulers import SCHEDULERS, make_schedule, nfe, sigmas_of

STOCHASTIC = [name for name, solver in SCHEDULERS.items() if solver.stochastic]
SHAPE = (1, 2, 32, 32, 8)  # 16384 values: the noise's mean and std within ±0.008 (one standard error)


def test_the_stochastic_ones():
    assert sorted(STOCHASTIC) == ["dpmpp_2m_sde", "euler_ancestral", "lcm"]


@pytest.mark.parametrize("name", STOCHASTIC)
def test_noise_level_after_every_step(name):
    solver, schedule = SCHEDULERS[name], make_schedule("shift", 8, 5.0)
    mu = jnp.asarray(np.random.default_rng(0).normal(size=SHAPE), jnp.float32)
    s0 = schedule.sigmas[0]
    x = (1 - s0) * mu + s0 * jax.random.normal(jax.random.PRNGKey(1), SHAPE)
    state, step = solver.init_with_sigmas(*schedule, SHAPE, key=jax.random.PRNGKey(2)), jax.jit(solver.step)
    for k in range(1, nfe(solver, schedule.sigmas) + 1):
        s = sigmas_of(state)
        x, state = step(state, (x - mu) / s, x)
        t = schedule.sigmas[k]
        if t > 0:
            eps = np.asarray((x - (1 - t) * mu) / t)
            assert abs(eps.mean()) < 0.04 and abs(eps.std() - 1) < 0.04, (k, eps.mean(), eps.std())
    np.testing.assert_allclose(x, mu, atol=1e-5)


@pytest.mark.parametrize("name", STOCHASTIC)
def test_reproducible_from_the_key(name):
    solver, schedule = SCHEDULERS[name], make_schedule("karras", 4, 8.0)
    x = jnp.ones((1, 2, 2, 2, 2))

    def run(key):
        y, state = x, solver.init_with_sigmas(*schedule, x.shape, key=key)
        for _ in range(3):
            y, state = solver.step(state, 0.5 * y, y)
        return np.asarray(y)

    np.testing.assert_array_equal(run(jax.random.PRNGKey(3)), run(jax.random.PRNGKey(3)))
    assert np.abs(run(jax.random.PRNGKey(3)) - run(jax.random.PRNGKey(4))).max() > 1e-3
