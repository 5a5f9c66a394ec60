"""Sampling math as small pure functions: solvers, sigma schedules, guidance, the DF timestep matrix.

    from skyreels_jax.schedulers import SCHEDULERS, make_schedule, timesteps_of
    solver = SCHEDULERS["dpmpp_2m"]                       # or get_solver(name)
    schedule = make_schedule("karras", num_steps=12, shift=8.0)
    state = solver.init_with_sigmas(*schedule, latents.shape, per_frame=None, key=key)
    for _ in range(nfe(solver, schedule.sigmas)):         # model evaluations (Heun: ~2 per step)
        v = model(latents, timesteps_of(state))
        latents, state = solver.step(state, v, latents)   # jit-able; update_mask=[F] per frame

`per_frame=F` gives each latent frame (axis 1) its own counter and history; update_mask [F]
(bool) picks the frames that advance, as diffusion forcing needs. `init` returns the state on
the host; under a mesh, put it on the devices before the first step. The original API stays:
flow_unipc / flow_euler .init(num_steps, shift, shape) and .step(state, v, sample).
"""
from skyreels_jax.schedulers import flow_euler, flow_unipc
from skyreels_jax.schedulers.ancestral import LCM, EulerAncestral
from skyreels_jax.schedulers.deis import DEIS
from skyreels_jax.schedulers.dpm import DPMSolverPP
from skyreels_jax.schedulers.frames import current_timesteps, finished
from skyreels_jax.schedulers.guidance import Guidance, guide, init_guidance, make_guidance, needs_uncond
from skyreels_jax.schedulers.heun import Heun
from skyreels_jax.schedulers.linear import step_noise
from skyreels_jax.schedulers.schedules import (
    Schedule,
    load_schedule,
    make_schedule,
    save_schedule,
    schedule_sigmas,
    validate_sigmas,
)
from skyreels_jax.schedulers.sigmas import SIGMA_MAX, flow_sigmas, flow_timesteps, shift_sigmas
from skyreels_jax.schedulers.solver import Original, nfe, sigmas_of, step_index, timesteps_of
from skyreels_jax.schedulers.timestep_matrix import generate_timestep_matrix
from skyreels_jax.schedulers.unipc import UniPC

SCHEDULERS = {
    "unipc": Original(flow_unipc),  # the original's: bh2, order 2 (the default)
    "unipc_bh1": UniPC(order=2, variant="bh1"),
    "unipc_3": UniPC(order=3),
    "euler": Original(flow_euler),
    "heun": Heun(),
    "dpmpp_2m": DPMSolverPP(order=2),
    "dpmpp_3m": DPMSolverPP(order=3),
    "dpmpp_2m_sde": DPMSolverPP(order=2, eta=1.0),
    "euler_ancestral": EulerAncestral(),
    "deis": DEIS(order=3),
    "lcm": LCM(),
}


def get_solver(name: str):
    """SCHEDULERS[name], with a one-line error naming the choices."""
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}: use one of {', '.join(SCHEDULERS)}")
    return SCHEDULERS[name]


__all__ = ["DEIS", "DPMSolverPP", "EulerAncestral", "Guidance", "Heun", "LCM", "Original", "SCHEDULERS",
           "SIGMA_MAX", "Schedule", "UniPC", "current_timesteps", "finished", "flow_euler", "flow_sigmas",
           "flow_timesteps", "flow_unipc", "generate_timestep_matrix", "get_solver", "guide", "init_guidance",
           "load_schedule", "make_guidance", "make_schedule", "needs_uncond", "nfe", "save_schedule",
           "schedule_sigmas", "shift_sigmas", "sigmas_of", "step_index", "step_noise", "timesteps_of",
           "validate_sigmas"]
