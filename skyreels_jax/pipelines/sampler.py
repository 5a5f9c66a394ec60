"""What a denoising loop runs, resolved and checked before anything is encoded: a solver, a sigma
schedule and a guidance, with the host plan of every model evaluation.

    s = make_sampler("heun", "karras", "cfg_zero_star", num_steps=8, shift=8.0, guidance_scale=6.0)
    s.evaluations   # E model evaluations (Heun: 2 per step but the last); s.uncond [E]: where CFG's second pass runs
    state = s.init(latents.shape)                         # per_frame=F for diffusion forcing

The default (unipc, the original's shift schedule, CFG) is today's sampler, step for step. CFG's
unconditional pass runs only where the scale is above 1 (as the original) and the guidance wants it
(inside its σ interval, past cfg_zero_star's zeroed steps): elsewhere one forward instead of two.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import jax
import numpy as np

from skyreels_jax.schedulers import (
    SCHEDULERS,
    Guidance,
    Schedule,
    flow_unipc,
    get_solver,
    make_guidance,
    make_schedule,
    needs_uncond,
)

DEFAULT_SCHEDULER, DEFAULT_SCHEDULE, DEFAULT_GUIDANCE = "unipc", "shift", "cfg"


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Sampler:
    scheduler: str       # the SCHEDULERS name (or the solver's repr)
    solver: Any
    schedule_name: str   # a schedule name, the file it came from, or "sigmas" for an array
    schedule: Schedule   # sigmas [n + 1], DiT timesteps [n]
    guidance: Guidance

    @property
    def static(self):
        """What the compiled steps take as their static solver argument: the name when it is registered."""
        return self.scheduler if SCHEDULERS.get(self.scheduler) is self.solver else self.solver

    @property
    def num_steps(self) -> int:
        return len(self.schedule.timesteps)

    @functools.cached_property
    def _host(self):
        """A state on a 1-element sample: checks the schedule against the solver, and holds the
        per-evaluation tables (σ, DiT timestep, solver step) that the states carry."""
        state = self.solver.init_with_sigmas(*self.schedule, (1, 1))
        sigma, step = self.solver.evaluations(self.schedule.sigmas)
        return np.asarray(state.timesteps), np.asarray(sigma, np.float64), np.asarray(step)

    @property
    def timesteps(self) -> np.ndarray:
        """What the DiT embeds at each evaluation [E] (integers for the shift schedule)."""
        return self._host[0]

    @property
    def evaluations(self) -> int:
        return len(self.timesteps)

    @functools.cached_property
    def uncond(self) -> np.ndarray:
        """bool [E]: evaluations that also run the unconditional pass."""
        g = self.guidance
        return np.asarray([g.scale > 1 and bool(needs_uncond(g, s, k)) for s, k in zip(*self._host[1:])], bool)

    @property
    def nfe(self) -> int:
        """Model forwards of one sample, counting each CFG pass."""
        return self.evaluations + int(self.uncond.sum())

    @property
    def evals_per_step(self) -> int:
        return getattr(self.solver, "evals_per_step", 1)

    def init(self, sample_shape, per_frame: int | None = None, key=None):
        """The solver's state (on the host or the default device); diffusion forcing with the original's
        UniPC keeps the reference's in-place aliasing (flow_unipc df_alias)."""
        options = {"df_alias": True} if per_frame and getattr(self.solver, "module", None) is flow_unipc else {}
        return self.solver.init_with_sigmas(*self.schedule, sample_shape, per_frame, key=key, **options)

    def __repr__(self) -> str:  # stable: a resumable run's identity holds it
        return f"Sampler({json.dumps(self.describe(), sort_keys=True)})"

    def describe(self) -> dict:
        """JSON-able: what the sidecar and a resumable run's identity record."""
        g = dataclasses.asdict(self.guidance)
        sigmas = None if self.schedule_name == "shift" else [round(float(s), 6) for s in self.schedule.sigmas]
        return dict(scheduler=self.scheduler, schedule=self.schedule_name, num_steps=self.num_steps,
                    guidance=g, evaluations=self.evaluations, nfe=self.nfe,
                    **({} if sigmas is None else {"sigmas": sigmas}))


def guidance_arrays(g: Guidance) -> Guidance:
    """The guidance's numbers as float32 / int32 numpy scalars, to put on the devices once."""
    return jax.tree.map(lambda v: np.asarray(v, np.int32 if isinstance(v, int) else np.float32), g)


def _guidance(guidance: Any, scale: float) -> Guidance:
    if guidance is None:
        return make_guidance(DEFAULT_GUIDANCE, scale)
    if isinstance(guidance, str):
        return make_guidance(guidance, scale)
    if isinstance(guidance, dict):
        return make_guidance(**{"scale": scale, **guidance})
    if isinstance(guidance, Guidance):
        return make_guidance(guidance.mode, guidance.scale, (guidance.sigma_lo, guidance.sigma_hi),
                             **{k: v for k, v in dataclasses.asdict(guidance).items()
                                if k not in ("mode", "scale", "sigma_lo", "sigma_hi")
                                and k in _OPTIONS[guidance.mode]})
    raise ValueError(f"guidance must be a mode name ({', '.join(_OPTIONS)}), a dict of make_guidance arguments "
                     f"or a Guidance, got {type(guidance).__name__}")


_OPTIONS = {"cfg": (), "cfg_zero_star": ("zero_steps",), "apg": ("eta", "norm_threshold", "momentum")}


def make_sampler(scheduler: Any = None, schedule: Any = None, guidance: Any = None, *, num_steps: int | None,
                 shift: float, guidance_scale: float, default_steps: int = 30) -> Sampler:
    """Resolve and check a call's sampling choices (one-line errors that say what to change).

    scheduler: a SCHEDULERS name or a solver object; schedule: a name, a saved schedule's path, or
    sigmas [n + 1] ending in 0 (num_steps, when given, must match); guidance: a mode name, a dict of
    make_guidance arguments, or a Guidance (its own scale; guidance_scale is the scale otherwise).
    """
    scheduler = DEFAULT_SCHEDULER if scheduler is None else scheduler
    if isinstance(scheduler, str):
        solver, name = get_solver(scheduler), scheduler
    elif hasattr(scheduler, "init_with_sigmas") and hasattr(scheduler, "step"):
        solver = scheduler
        name = next((k for k, v in SCHEDULERS.items() if v is scheduler), repr(scheduler))
    else:
        raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)} or a solver object, got {scheduler!r}")
    schedule = DEFAULT_SCHEDULE if schedule is None else schedule
    named = isinstance(schedule, str) and not (schedule.endswith(".json") or Path(schedule).is_file())
    steps = num_steps if num_steps is not None or not named else default_steps
    if isinstance(schedule, (str, Path)):
        label = str(schedule)
    else:
        label = "sigmas"
    resolved = make_schedule(schedule, steps, shift)
    sampler = Sampler(name, solver, label, resolved, _guidance(guidance, guidance_scale))
    try:
        sampler.timesteps  # noqa: B018 (builds the host tables: a schedule this solver cannot use fails here)
    except ValueError as e:
        raise ValueError(f"scheduler {name!r} with schedule {label!r}: {e}") from None
    return sampler


def check_step_caching(sampler: Sampler, teacache_threshold: float | None) -> None:
    """Step caching compares each step's forwards with the last ones': it needs the same forwards every step."""
    pair = sampler.uncond
    if teacache_threshold is not None and 0 < pair.sum() < len(pair):
        raise ValueError("teacache needs the same forwards at every step: drop the guidance interval "
                         "(or cfg_zero_star's zeroed steps) or teacache")
