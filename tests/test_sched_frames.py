"""Every solver with one counter per latent frame, frames advancing at different times (random
update masks, as diffusion forcing drives them): each frame ends exactly as if run alone."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skyreels_jax.schedulers import SCHEDULERS, UniPC, finished, make_schedule, sigmas_of, step_index, timesteps_of

B, F, H, W, C = 1, 4, 2, 3, 4
KEY = jax.random.PRNGKey(5)
SOLVERS = {**SCHEDULERS, "unipc_bh1_order3": UniPC(3, "bh1"), "unipc_df_alias": UniPC(2, df_alias=True)}


def model(x, t):
    """v(x, t) with one timestep per frame: frames only see themselves."""
    rng = np.random.default_rng(0)
    w, z = rng.normal(size=(B, F, H, W, C)), rng.normal(size=(B, F, H, W, C))
    t = jnp.asarray(t, jnp.float32).reshape(1, -1, 1, 1, 1) / 1000.0
    return jnp.tanh(x * w[:, :x.shape[1]]) + t * z[:, :x.shape[1]]


@pytest.mark.parametrize("name", SOLVERS)
def test_masked_frames_equal_frames_run_alone(name):
    solver = SOLVERS[name]
    schedule = make_schedule("karras", 4, 8.0)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(B, F, H, W, C)), jnp.float32)
    state = solver.init_with_sigmas(*schedule, x.shape, per_frame=F, key=KEY)
    alone = [solver.init_with_sigmas(*schedule, (B, 1, H, W, C), key=jax.random.fold_in(KEY, f)) for f in range(F)]
    xs = [x[:, f:f + 1] for f in range(F)]
    step = jax.jit(solver.step)
    view = jax.jit(lambda s: jnp.stack([timesteps_of(s), sigmas_of(s), step_index(s).astype(jnp.float32)]))
    rng = np.random.default_rng(2)
    while not bool(finished(state).all()):
        mask = rng.random(F) < 0.6
        # the state's per-frame view is each frame's own
        np.testing.assert_array_equal(view(state), np.stack([view(a) for a in alone], 1))
        before = np.asarray(x)
        v = model(x, timesteps_of(state))
        x, state = step(state, v, x, jnp.asarray(mask))
        np.testing.assert_array_equal(np.asarray(x)[:, ~mask], before[:, ~mask])
        for f in np.flatnonzero(mask):
            xs[f], alone[f] = step(alone[f], v[:, f:f + 1], xs[f])
        np.testing.assert_allclose(np.asarray(x), np.concatenate([np.asarray(s) for s in xs], 1), rtol=0, atol=1e-6)
    assert np.isfinite(np.asarray(x)).all()
