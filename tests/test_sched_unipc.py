"""Flow UniPC against diffusers' UniPCMultistepScheduler configured as the original (float32)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skyreels_jax.schedulers import SIGMA_MAX, current_timesteps, finished, flow_sigmas, flow_timesteps, flow_unipc

SHAPE = (1, 4, 6, 8, 16)  # [B, F, H, W, C]
TOL = 1e-5  # max |jax − diffusers| over every intermediate sample, float32, samples of size ~1


def reference_unipc(num_steps: int, shift: float):
    """diffusers' UniPC set up to reproduce the original's FlowUniPCMultistepScheduler bit for bit."""
    from diffusers import UniPCMultistepScheduler
    ref = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=shift,
                                  solver_order=2, solver_type="bh2", predict_x0=True, lower_order_final=True,
                                  final_sigmas_type="zero")
    ref.set_timesteps(sigmas=np.linspace(SIGMA_MAX, 0, num_steps + 1)[:-1])
    return ref


def toy_model(shape, seed=0):
    """A fixed, smooth 'velocity model' v(x, t) = tanh(x·w) + (t/1000)·z, in float32."""
    rng = np.random.default_rng(seed)
    w, z = rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32)
    return lambda x, t: (np.tanh(np.asarray(x, np.float32) * w) + np.float32(t / 1000.0) * z).astype(np.float32)


def run_both(num_steps, shift, seed=0):
    import torch
    model = toy_model(SHAPE, seed)
    x0 = np.random.default_rng(seed + 1).normal(size=SHAPE).astype(np.float32)
    ref, state = reference_unipc(num_steps, shift), flow_unipc.init(num_steps, shift, SHAPE)
    step = jax.jit(flow_unipc.step)
    xr, xj, errs = torch.from_numpy(x0), jnp.asarray(x0), []
    for t in flow_timesteps(num_steps, shift):
        assert int(current_timesteps(state)) == t
        xr = ref.step(torch.from_numpy(model(xr.numpy(), t)), int(t), xr, return_dict=False)[0]
        xj, state = step(state, jnp.asarray(model(np.asarray(xj), t)), xj)
        errs.append(float(np.abs(np.asarray(xj) - xr.numpy()).max()))
    return np.asarray(xj), xr.numpy(), errs, state


@pytest.mark.parametrize("shift", [8.0, 5.0, 3.0])
@pytest.mark.parametrize("num_steps", [30, 50])
def test_parity_every_step(num_steps, shift):
    out, ref, errs, state = run_both(num_steps, shift)
    assert max(errs) < TOL, (max(errs), errs)
    assert np.isfinite(out).all() and bool(finished(state)) and int(current_timesteps(state)) == 0


@pytest.mark.parametrize("num_steps", [1, 2, 3])
def test_parity_few_steps(num_steps):
    _, _, errs, _ = run_both(num_steps, 8.0, seed=3)
    assert max(errs) < TOL


def test_last_step_returns_x0_without_nan():
    """σ = 0 at the end: λ = +inf in the reference; here the last step returns exactly x − σ·v."""
    state = flow_unipc.init(4, 8.0, SHAPE)
    x = jnp.ones(SHAPE)
    for _ in range(3):
        x, state = flow_unipc.step(state, 0.1 * x, x)
    v = jnp.full(SHAPE, 0.3)
    out, state = flow_unipc.step(state, v, x)
    np.testing.assert_allclose(out, x - state.sigmas[3] * v, rtol=1e-6)
    assert np.isfinite(np.asarray(state.predictor)).all() and np.isfinite(np.asarray(state.corrector)).all()
    same, _ = flow_unipc.step(state, v, out)  # past the end: a no-op, not an out-of-range read
    np.testing.assert_array_equal(same, out)


def test_long_schedule_with_repeated_first_timestep():
    """Shift 8 with 150 steps repeats timestep 999; the original fails there, this runs to a finite end."""
    t = flow_timesteps(150, 8.0)
    assert t[0] == t[1]
    state = flow_unipc.init(150, 8.0, (1, 2, 2, 2, 1))
    x = jnp.ones((1, 2, 2, 2, 1))
    step = jax.jit(flow_unipc.step)
    for _ in range(150):
        x, state = step(state, x - 0.5, x)
    assert np.isfinite(np.asarray(x)).all() and bool(finished(state))


def test_bad_inputs():
    state = flow_unipc.init(5, 8.0, SHAPE)
    with pytest.raises(ValueError, match="same shape"):
        flow_unipc.step(state, jnp.zeros(SHAPE[:-1]), jnp.zeros(SHAPE))
    with pytest.raises(ValueError, match="per_frame=3"):
        flow_unipc.init(5, 8.0, SHAPE, per_frame=3)
    with pytest.raises(ValueError, match="update_mask"):
        flow_unipc.step(flow_unipc.init(5, 8.0, SHAPE, per_frame=4), jnp.zeros(SHAPE), jnp.zeros(SHAPE),
                        update_mask=jnp.ones(3, bool))


def test_df_alias_changes_only_the_second_corrector():
    """The reference DF pipelines' in-place writes only affect each frame's second corrector."""
    sigmas = flow_sigmas(6, 8.0)
    plain, alias = flow_unipc.unipc_tables(sigmas), flow_unipc.unipc_tables(sigmas, df_alias=True)
    assert np.array_equal(plain[0], alias[0])
    diff = np.flatnonzero(np.any(plain[1] != alias[1], axis=1))
    assert diff.tolist() == [1] and alias[1][1, 1] == 0.0 and alias[1][1, 0] == plain[1][1, 1]
