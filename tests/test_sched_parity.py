"""Every solver against its diffusers scheduler on the same sigmas: whole trajectories from the same
noise, the same toy velocity model, the same step noise; max |ours − diffusers| over every step.

Measured (float32 on both sides, samples of size ~1): ≤ 4e-6 everywhere. DEIS is compared with
diffusers run in float64: its float32 update (α'/α)·x − σ'(e^h − 1)·ε cancels two terms ~190·x
large at the first step of a shift-8 schedule and drifts ~1e-4; ours is tabulated in float64.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skyreels_jax.schedulers import (
    DEIS,
    LCM,
    SCHEDULERS,
    SIGMA_MAX,
    DPMSolverPP,
    EulerAncestral,
    Heun,
    UniPC,
    make_schedule,
    nfe,
    schedule_sigmas,
    shift_sigmas,
    step_noise,
    timesteps_of,
)
from tests.test_sched_unipc import toy_model

SHAPE = (1, 3, 4, 4, 8)
TOL = 1e-5


def trajectory(solver, schedule, ref, evals=None, noise=None, dtype=np.float32, monkeypatch=None):
    """Max |ours − ref| after each evaluation. noise: "variance" (passed to ref.step) or the diffusers
    module whose randn_tensor monkeypatch replaces, so that both sides draw the same noise."""
    import torch
    model = toy_model(SHAPE)
    x0 = np.random.default_rng(1).normal(size=SHAPE).astype(np.float32)
    state = solver.init_with_sigmas(*schedule, SHAPE, key=jax.random.PRNGKey(7))
    xj, xr, errs = jnp.asarray(x0), torch.from_numpy(x0.astype(dtype)), []
    for i in range(nfe(solver, schedule.sigmas) if evals is None else evals):
        t = float(timesteps_of(state))
        kw = {}
        if noise is not None:
            z = torch.from_numpy(np.array(step_noise(state, SHAPE)))
            if noise == "variance":
                kw["variance_noise"] = z
            else:
                monkeypatch.setattr(noise, "randn_tensor", lambda *a, z=z, **k: z.clone())
        v = model(xr.numpy(), t).astype(dtype)
        xr = ref.step(torch.from_numpy(v), ref.timesteps[i], xr, return_dict=False, **kw)[0]
        xj, state = solver.step(state, jnp.asarray(model(np.asarray(xj), t)), xj)
        errs.append(float(np.abs(np.asarray(xj, np.float64) - xr.numpy()).max()))
    return np.asarray(errs), np.asarray(xj)


def same_sigmas(ref, schedule, dtype=np.float32):
    """Give a diffusers multistep scheduler exactly our sigmas [n + 1] and timesteps [n]."""
    import torch
    ref.set_timesteps(len(schedule.timesteps))
    ref.sigmas = torch.from_numpy(schedule.sigmas.astype(dtype))
    ref.timesteps = torch.from_numpy(np.asarray(schedule.timesteps, np.float32))
    ref.set_begin_index(0)
    return ref


CASES = [("shift", 10), ("karras", 16)]  # < 15 steps: diffusers lowers the last orders; >= 15: it does not


@pytest.mark.parametrize("name, n", CASES)
@pytest.mark.parametrize("order, algorithm", [(2, "dpmsolver++"), (3, "dpmsolver++"), (2, "sde-dpmsolver++")])
def test_dpm_solver_pp(order, algorithm, name, n):
    from diffusers import DPMSolverMultistepScheduler
    sde = algorithm.startswith("sde")
    ref = DPMSolverMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                      algorithm_type=algorithm, solver_order=order)
    schedule = make_schedule(name, n, 8.0)
    errs, _ = trajectory(DPMSolverPP(order, eta=1.0 if sde else 0.0), schedule, same_sigmas(ref, schedule),
                         noise="variance" if sde else None)
    assert errs.max() < TOL, errs


@pytest.mark.parametrize("name, n", CASES)
@pytest.mark.parametrize("variant", ["bh1", "bh2"])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_unipc(order, variant, name, n):
    """diffusers' bh1 returns NaN on a last step to σ = 0 (B(h) = −h = −inf times a zero residual);
    ours returns x0 there, so bh1 is compared up to the step before."""
    from diffusers import UniPCMultistepScheduler
    ref = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, solver_order=order,
                                  solver_type=variant)
    schedule = make_schedule(name, n, 8.0)
    errs, out = trajectory(UniPC(order, variant), schedule, same_sigmas(ref, schedule))
    assert (errs if variant == "bh2" else errs[:-1]).max() < TOL, errs
    assert np.isfinite(out).all()


@pytest.mark.parametrize("df_alias", [False, True])
def test_general_unipc_matches_the_original_port(df_alias):
    """UniPC(2, "bh2") and the default "unipc" (flow_unipc, bit-identical to the port) agree to
    rounding, with the reference DF pipelines' aliasing too."""
    schedule = make_schedule("shift", 12, 8.0)
    model, x = toy_model(SHAPE), np.random.default_rng(1).normal(size=SHAPE).astype(np.float32)
    outs = []
    for solver, options in ((SCHEDULERS["unipc"], {"df_alias": df_alias}), (UniPC(2, "bh2", df_alias=df_alias), {})):
        state, xj = solver.init_with_sigmas(*schedule, SHAPE, **options), jnp.asarray(x)
        for _ in range(12):
            xj, state = solver.step(state, jnp.asarray(model(np.asarray(xj), float(timesteps_of(state)))), xj)
        outs.append(np.asarray(xj))
    np.testing.assert_allclose(outs[0], outs[1], rtol=0, atol=2e-6)


@pytest.mark.parametrize("name, n", [("shift", 10), ("karras", 12)])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_deis(order, name, n):
    """diffusers' DEIS cannot reach σ = 0 (its flow sigmas end in σ_min twice), so the last step,
    which returns x0 here, is checked on its own."""
    from diffusers import DEISMultistepScheduler
    ref = DEISMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, solver_order=order)
    schedule = make_schedule(name, n, 8.0)
    solver = DEIS(order)
    errs, _ = trajectory(solver, schedule, same_sigmas(ref, schedule, np.float64), evals=n - 1, dtype=np.float64)
    assert errs.max() < TOL, errs
    state = solver.init_with_sigmas(*schedule, SHAPE)._replace(step=jnp.asarray(n - 1, jnp.int32))
    x, v = jnp.ones(SHAPE), jnp.full(SHAPE, 0.25)
    np.testing.assert_allclose(solver.step(state, v, x)[0], x - schedule.sigmas[n - 1] * v, rtol=1e-6)


@pytest.mark.parametrize("name, n", [("shift", 10), ("karras", 12)])
def test_heun(name, n):
    import torch
    from diffusers import FlowMatchHeunDiscreteScheduler
    schedule = make_schedule(name, n, 8.0)
    ref = FlowMatchHeunDiscreteScheduler()
    ref.set_timesteps(n)
    s, t = torch.from_numpy(schedule.sigmas), torch.from_numpy(np.asarray(schedule.timesteps, np.float32))
    ref.sigmas = torch.cat([s[:1], s[1:-1].repeat_interleave(2), s[-1:]])  # its own layout: one entry per evaluation
    ref.timesteps = torch.cat([t[:1], t[1:].repeat_interleave(2)])
    ref.set_begin_index(0)
    assert nfe(Heun(), schedule.sigmas) == 2 * n - 1 == len(ref.timesteps)
    errs, _ = trajectory(Heun(), schedule, ref)
    assert errs.max() < TOL, errs


@pytest.mark.parametrize("kind", ["karras", "exponential", "beta"])
def test_euler_on_diffusers_sigma_schedules(kind):
    """FlowMatchEulerDiscreteScheduler(use_<kind>_sigmas) builds its schedule between the ends of the
    shifted original sigmas; ours with the same ends gives the same sigmas and the same trajectory."""
    from diffusers import FlowMatchEulerDiscreteScheduler
    n, shift = 12, 5.0
    ref = FlowMatchEulerDiscreteScheduler(shift=shift, **{f"use_{kind}_sigmas": True})
    ref.set_timesteps(sigmas=np.linspace(SIGMA_MAX, 0, n + 1)[:-1])
    ends = dict(sigma_max=float(shift_sigmas(SIGMA_MAX, shift)), sigma_min=float(shift_sigmas(SIGMA_MAX / n, shift)))
    schedule = make_schedule(kind, n, shift, **ends)
    np.testing.assert_allclose(schedule.sigmas, ref.sigmas.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(schedule_sigmas(kind, n, shift, **ends), ref.sigmas.numpy(), rtol=0, atol=1e-6)
    errs, _ = trajectory(SCHEDULERS["euler"], schedule, ref)
    assert errs.max() < TOL, errs


@pytest.mark.parametrize("name, n", [("shift", 6), ("karras", 8)])
def test_lcm(name, n, monkeypatch):
    from diffusers import FlowMatchLCMScheduler
    from diffusers.schedulers import scheduling_flow_match_lcm
    schedule = make_schedule(name, n, 8.0)
    ref = FlowMatchLCMScheduler()
    ref.set_timesteps(n)
    ref = same_sigmas(ref, schedule)
    errs, _ = trajectory(LCM(), schedule, ref, noise=scheduling_flow_match_lcm, monkeypatch=monkeypatch)
    assert errs.max() < TOL, errs


@pytest.mark.parametrize("eta", [1.0, 0.5])
def test_euler_ancestral(eta, monkeypatch):
    import torch
    from diffusers import LTXEulerAncestralRFScheduler
    from diffusers.schedulers import scheduling_ltx_euler_ancestral_rf as module
    schedule = make_schedule("karras", 10, 8.0)
    ref = LTXEulerAncestralRFScheduler(eta=eta)
    ref.set_timesteps(sigmas=torch.from_numpy(schedule.sigmas))
    errs, _ = trajectory(EulerAncestral(eta), schedule, ref, noise=module, monkeypatch=monkeypatch)
    assert errs.max() < TOL, errs
