"""Per-frame schedules as diffusion forcing drives them: masked steps, one counter and history per frame."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skyreels_jax.schedulers import current_timesteps, flow_euler, flow_timesteps, flow_unipc, generate_timestep_matrix
from tests.test_sched_unipc import reference_unipc

B, F, H, W, C = 1, 6, 4, 4, 8


def per_frame_model(seed=0):
    """v(x, t) with t one timestep per frame, float32."""
    rng = np.random.default_rng(seed)
    w, z = rng.normal(size=(B, F, H, W, C)).astype(np.float32), rng.normal(size=(B, F, H, W, C)).astype(np.float32)
    def model(x, t):
        t = np.asarray(t, np.float32).reshape(1, -1, 1, 1, 1) / 1000.0
        return (np.tanh(np.asarray(x, np.float32) * w) + t * z).astype(np.float32)
    return model


def frames_axis(values):
    """[F] → [1, F, 1, 1, 1]."""
    return values.reshape(1, -1, 1, 1, 1)


@pytest.mark.parametrize("sched, df_alias", [(flow_unipc, False), (flow_unipc, True), (flow_euler, None)],
                         ids=["unipc", "unipc-df_alias", "euler"])
@pytest.mark.parametrize("ar_step, cbs, pre", [(2, 2, 0), (3, 1, 2), (0, 1, 0), (1, 3, 3)])
def test_masked_per_frame_equals_independent_schedulers(sched, df_alias, ar_step, cbs, pre):
    """Also against one diffusers scheduler per frame, stepped where the mask says.

    df_alias=False: each reference step gets a copy of the frame. df_alias=True: the frame is passed
    as a view and overwritten in place, exactly as the reference DF pipelines do.
    """
    import torch
    n, shift = 8, 5.0
    kw = {} if df_alias is None else {"df_alias": df_alias}
    tmpl = flow_timesteps(n, shift)
    matrix, index, mask, _ = generate_timestep_matrix(F, tmpl, F, ar_step, pre, cbs)
    model = per_frame_model()
    x = np.random.default_rng(2).normal(size=(B, F, H, W, C)).astype(np.float32)
    shape1 = (B, 1, H, W, C)
    state = sched.init(n, shift, x.shape, per_frame=F, **kw)
    singles = [sched.init(n, shift, shape1, **kw) for _ in range(F)]
    refs = [reference_unipc(n, shift) for _ in range(F)] if sched is flow_unipc else None
    step = jax.jit(sched.step)
    xj, xs, xr = jnp.asarray(x), [jnp.asarray(x[:, f:f + 1]) for f in range(F)], torch.from_numpy(x.copy())
    worst = 0.0
    for r in range(len(matrix)):
        # the matrix's timestep for an updated frame is the one its own scheduler is at
        now = np.asarray(current_timesteps(state))
        assert (matrix[r][mask[r]] == now[mask[r]]).all()
        before = np.asarray(xj)
        xj, state = step(state, jnp.asarray(model(xj, matrix[r])), xj, jnp.asarray(mask[r]))
        out = np.asarray(xj)
        np.testing.assert_array_equal(out[:, ~mask[r]], before[:, ~mask[r]])  # untouched, bit for bit
        v_all = model(before, matrix[r])
        for f in np.flatnonzero(mask[r]):
            xs[f], singles[f] = sched.step(singles[f], jnp.asarray(v_all[:, f:f + 1]), xs[f])
            if refs:
                frame = xr[:, f] if df_alias else xr[:, f].clone()
                xr[:, f] = refs[f].step(torch.from_numpy(v_all[:, f]), int(matrix[r][f]), frame,
                                        return_dict=False)[0]
        np.testing.assert_allclose(out, np.concatenate([np.asarray(s) for s in xs], 1), rtol=0, atol=1e-6)
        if refs:
            worst = max(worst, float(np.abs(out - xr.numpy()).max()))
    assert worst < 1e-5, worst  # measured: ≤ 1.5e-6
    assert (np.asarray(state.step)[pre:] == n).all() and (np.asarray(state.step)[:pre] == 0).all()
    assert np.array_equal(np.asarray(xj)[:, :pre], x[:, :pre])  # clean prefix never stepped


def test_jit_with_traced_mask_compiles_once():
    traces = []

    def fn(state, v, x, mask):
        traces.append(1)
        return flow_unipc.step(state, v, x, mask)

    jitted = jax.jit(fn)
    shape = (B, F, H, W, C)
    state = flow_unipc.init(5, 8.0, shape, per_frame=F)
    x = jnp.ones(shape)
    rng = np.random.default_rng(0)
    for _ in range(4):
        mask = jnp.asarray(rng.random(F) < 0.5)
        y, state_j = jitted(state, 0.3 * x, x, mask)
        y_eager, state_e = flow_unipc.step(state, 0.3 * x, x, mask)
        np.testing.assert_allclose(y, y_eager, atol=1e-6)
        np.testing.assert_array_equal(state_j.step, state_e.step)
        state, x = state_j, y
    assert len(traces) == 1


def test_bf16_sample_keeps_its_dtype():
    shape = (B, F, H, W, C)
    state = flow_unipc.init(3, 8.0, shape, per_frame=F)
    x = jnp.ones(shape, jnp.bfloat16)
    y, state = flow_unipc.step(state, x, x, jnp.ones(F, bool))
    assert y.dtype == jnp.bfloat16 and state.last_sample.dtype == jnp.float32


def test_masked_out_frames_ignore_garbage_outputs():
    """Frames outside the mask (e.g. outside the DF window) may get NaN model outputs: nothing leaks."""
    shape = (B, F, H, W, C)
    state = flow_unipc.init(4, 8.0, shape, per_frame=F)
    x = jnp.ones(shape)
    mask = jnp.arange(F) < 3
    v = jnp.where(frames_axis(mask), 0.5, jnp.nan)
    for _ in range(3):
        x, state = flow_unipc.step(state, v * x, x, mask)
    assert np.isfinite(np.asarray(x)).all() and np.isfinite(np.asarray(state.x0_prev)).all()
    np.testing.assert_array_equal(np.asarray(x)[:, 3:], 1.0)
    assert np.asarray(state.step).tolist() == [3, 3, 3, 0, 0, 0]


def test_whole_df_loop_in_one_jitted_scan():
    """The DF matrix drives per-frame UniPC inside lax.scan: same result as the step-by-step loop."""
    n, shift = 6, 8.0
    matrix, _, mask, _ = generate_timestep_matrix(F, flow_timesteps(n, shift), F, 2, 0, 2)
    w = jnp.asarray(np.random.default_rng(0).normal(size=(B, F, H, W, C)), jnp.float32)
    def model(x, t):
        return jnp.tanh(x * w) + frames_axis(t.astype(jnp.float32) / 1000.0) * w
    x0 = jnp.asarray(np.random.default_rng(1).normal(size=(B, F, H, W, C)), jnp.float32)
    state0 = flow_unipc.init(n, shift, x0.shape, per_frame=F, df_alias=True)

    @jax.jit
    def sample(state, x, ts, masks):
        def body(carry, row):
            x, state = carry
            x, state = flow_unipc.step(state, model(x, row[0]), x, row[1])
            return (x, state), None
        return jax.lax.scan(body, (x, state), (ts, masks))[0]

    x_scan, state = sample(state0, x0, jnp.asarray(matrix), jnp.asarray(mask))
    x, s = x0, state0
    for r in range(len(matrix)):
        x, s = flow_unipc.step(s, model(x, jnp.asarray(matrix[r])), x, jnp.asarray(mask[r]))
    np.testing.assert_allclose(x_scan, x, atol=1e-5)
    assert np.asarray(state.step).tolist() == [n] * F
