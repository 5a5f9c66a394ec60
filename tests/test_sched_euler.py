"""Flow Euler against diffusers' FlowMatchEulerDiscreteScheduler and a float64 Euler."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skyreels_jax.schedulers import SIGMA_MAX, flow_euler, flow_sigmas, flow_timesteps
from tests.test_sched_unipc import SHAPE, toy_model


@pytest.mark.parametrize("shift", [8.0, 5.0, 3.0])
@pytest.mark.parametrize("num_steps", [30, 50])
def test_parity_every_step(num_steps, shift):
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler
    ref = FlowMatchEulerDiscreteScheduler(shift=shift)
    ref.set_timesteps(sigmas=np.linspace(SIGMA_MAX, 0, num_steps + 1)[:-1])
    ref.sigmas = torch.from_numpy(flow_sigmas(num_steps, shift))  # it shifts in float32: 1-ulp apart otherwise
    model = toy_model(SHAPE)
    x0 = np.random.default_rng(1).normal(size=SHAPE).astype(np.float32)
    xr, x64, xj = torch.from_numpy(x0), x0.astype(np.float64), jnp.asarray(x0)
    state, step = flow_euler.init(num_steps, shift, SHAPE), jax.jit(flow_euler.step)
    sig64 = np.append(np.asarray(flow_sigmas(num_steps, shift)[:-1], np.float64), 0.0)
    err_ref = err_64 = 0.0
    for i, t in enumerate(flow_timesteps(num_steps, shift)):
        xr = ref.step(torch.from_numpy(model(xr.numpy(), t)), ref.timesteps[i], xr, return_dict=False)[0]
        x64 = x64 + (sig64[i + 1] - sig64[i]) * model(x64, t).astype(np.float64)
        xj, state = step(state, jnp.asarray(model(np.asarray(xj), t)), xj)
        err_ref = max(err_ref, float(np.abs(np.asarray(xj) - xr.numpy()).max()))
        err_64 = max(err_64, float(np.abs(np.asarray(xj) - x64).max()))
    assert err_ref < 1e-5 and err_64 < 1e-5, (err_ref, err_64)
    assert np.isfinite(np.asarray(xj)).all() and int(state.step) == num_steps


def test_past_the_end_is_a_no_op():
    state = flow_euler.init(2, 8.0, (1, 2, 3))
    x = jnp.ones((1, 2, 3))
    for _ in range(2):
        x, state = flow_euler.step(state, x, x)
    y, state2 = flow_euler.step(state, x, x)
    np.testing.assert_array_equal(y, x)
    assert int(state2.step) == 2
