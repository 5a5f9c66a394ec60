"""Sampling schedulers and the diffusion-forcing timestep matrix, as small pure functions.

    from skyreels_jax.schedulers import flow_unipc as sched     # or flow_euler: same API
    state = sched.init(num_steps, shift, latents.shape, per_frame=None)  # or per_frame=F
    latents, state = sched.step(state, v, latents, update_mask=None)     # jit-able

`per_frame=F` gives each latent frame (axis 1) its own counter and history; update_mask [F]
(bool) picks the frames that advance, as diffusion forcing needs. `init` returns the state on
the host (numpy); under a mesh, put it on the devices before the first step.
"""
from skyreels_jax.schedulers import flow_euler, flow_unipc
from skyreels_jax.schedulers.frames import current_timesteps, finished
from skyreels_jax.schedulers.sigmas import SIGMA_MAX, flow_sigmas, flow_timesteps, shift_sigmas
from skyreels_jax.schedulers.timestep_matrix import generate_timestep_matrix

SCHEDULERS = {"unipc": flow_unipc, "euler": flow_euler}

__all__ = ["SCHEDULERS", "SIGMA_MAX", "current_timesteps", "finished", "flow_euler", "flow_sigmas",
           "flow_timesteps", "flow_unipc", "generate_timestep_matrix", "shift_sigmas"]
