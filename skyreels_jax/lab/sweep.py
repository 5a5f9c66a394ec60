"""The sampler sweep: every (solver, schedule, NFE, seed) of a grid against a many-step reference.

    rows = run_sweep(pipe, Sweep(schedulers=("euler", "heun"), schedules=("shift",), nfe=(4, 8), seeds=2), cache)

NFE on the grid counts the solver's evaluations of the guided velocity (CFG's two passes are one
evaluation): a solver gets the most steps whose evaluations stay within the target, so Heun at 8
takes 4 steps (7 evaluations); each row records the evaluations it ran and its forwards.

The reference is a stated many-step solve from the same noise (Heun, 200 steps by default): in
"t2v" mode (one noise level for the whole clip, as text-to-video; a DF model runs synchronously)
on the "simple" schedule, whose float timesteps make it the same ODE every schedule discretises;
in "df" mode (asynchronous diffusion forcing: each frame lags the one before by a fixed fraction
of its schedule) on the row's own schedule, since the lag is measured in schedule steps and each
schedule defines its own process. References are cached on disk per (model, prompt, seed, setting).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm.auto import tqdm

from skyreels_jax.pipelines.conditioning import decode_to_uint8
from skyreels_jax.pipelines.sampler import make_sampler

MODES = ("t2v", "df")


@dataclasses.dataclass(frozen=True)
class Sweep:
    schedulers: tuple = ("euler", "heun", "dpmpp_2m", "unipc")
    schedules: tuple = ("shift", "karras", "beta")
    nfe: tuple = (4, 6, 8, 12, 16, 24, 32)
    seeds: int = 8
    mode: str = "t2v"
    num_frames: int = 17
    height: int = 32
    width: int = 32
    guidance_scale: float = 3.0
    shift: float | None = None         # None: the model's
    lag: float = 0.25                  # df mode: each frame's lag, as a fraction of the solver steps
    reference: tuple = ("heun", 200)   # (solver, steps) of the reference solve
    prompts: tuple = ()                # one per seed, cycling; empty: the toy world's captions

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.seeds < 1 or not self.nfe or min(self.nfe) < 1:
            raise ValueError(f"need seeds >= 1 and NFE values >= 1, got seeds={self.seeds}, nfe={self.nfe}")
        if not 0 < self.lag <= 1:
            raise ValueError(f"lag is a fraction of the steps in (0, 1], got {self.lag}")


@functools.lru_cache(maxsize=1024)
def steps_for(scheduler: str, schedule: str, target: int, shift: float) -> int:
    """The most solver steps whose evaluations stay within target (at least 1)."""
    for n in range(target, 0, -1):
        if make_sampler(scheduler, schedule, num_steps=n, shift=shift, guidance_scale=1.0).evaluations <= target:
            return n
    return 1


def grid(sweep: Sweep) -> list[tuple[str, str, int, int]]:
    """(scheduler, schedule, nfe, seed) of every run, checked up front (one line on a bad name)."""
    shift = 8.0 if sweep.shift is None else sweep.shift
    for scheduler in sweep.schedulers:
        for schedule in sweep.schedules:
            make_sampler(scheduler, schedule, num_steps=4, shift=shift, guidance_scale=1.0)
    return [(a, b, n, s) for a in sweep.schedulers for b in sweep.schedules for n in sweep.nfe
            for s in range(sweep.seeds)]


def prompt_of(sweep: Sweep, seed: int) -> tuple[str, tuple | None]:
    """(prompt, toy (colour, shape, direction) or None) of a seed."""
    if sweep.prompts:
        return sweep.prompts[seed % len(sweep.prompts)], None
    from skyreels_jax.toy.evaluate import prompts
    from skyreels_jax.toy.world import caption

    combo = prompts(seed + 1)[seed]
    return caption(*combo), combo


def check_model_mode(sweep: Sweep, model_mode: str, model: str) -> None:
    """The df mode lags frames behind each other: it needs a diffusion-forcing model."""
    if sweep.mode == "df" and model_mode != "diffusion_forcing":
        raise ValueError(f"--mode df needs a diffusion-forcing model; {model} is {model_mode.replace('_', '-')}")


class Runner:
    """Runs one sample of the sweep's setting on a pipeline; references cached under cache_dir."""

    def __init__(self, pipe, sweep: Sweep, cache_dir: Path, model: str):
        self.pipe, self.sweep, self.cache_dir, self.model = pipe, sweep, Path(cache_dir), model
        self.shift = pipe.folder.defaults["shift"] if sweep.shift is None else sweep.shift
        self.df_model = pipe.mode == "diffusion_forcing"
        check_model_mode(sweep, pipe.mode, model)

    def latents(self, scheduler: str, schedule: str, steps: int, seed: int) -> np.ndarray:
        s = self.sweep
        kw = dict(num_frames=s.num_frames, height=s.height, width=s.width, num_steps=steps, shift=self.shift,
                  guidance_scale=s.guidance_scale, seed=seed, scheduler=scheduler, schedule=schedule,
                  output="latents", progress=False)
        if self.df_model:
            kw.update(base_num_frames=s.num_frames)
            if s.mode == "df":
                kw.update(ar_step=max(1, round(s.lag * steps)))
        return self.pipe(prompt_of(s, seed)[0], **kw)

    def reference(self, schedule: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(latents, uint8 frames) of the reference solve, from the cache when it is there."""
        s = self.sweep
        schedule = "simple" if s.mode == "t2v" else schedule
        key = dict(model=self.model, prompt=prompt_of(s, seed)[0], seed=seed, mode=s.mode, schedule=schedule,
                   size=(s.num_frames, s.height, s.width), guidance=s.guidance_scale, shift=self.shift,
                   lag=s.lag if s.mode == "df" else None, reference=list(s.reference))
        name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        path = self.cache_dir / f"{name}.npz"
        if path.exists():
            with np.load(path) as f:
                return f["latents"], f["frames"]
        z = self.latents(s.reference[0], schedule, s.reference[1], seed)
        frames = self.decode(z)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, latents=z, frames=frames, key=json.dumps(key))
        tmp.replace(path)
        return z, frames

    def decode(self, latents: np.ndarray) -> np.ndarray:
        return decode_to_uint8(self.pipe.vae, latents)


def run_sweep(runner: Runner, progress: bool = True) -> Iterator[dict]:
    """One row per (scheduler, schedule, nfe, seed); a progress bar over the whole grid."""
    from skyreels_jax.toy import metrics

    sweep = runner.sweep
    for scheduler, schedule, target, seed in tqdm(grid(sweep), desc="sweep", disable=not progress):
        steps = steps_for(scheduler, schedule, target, runner.shift)
        ref_z, ref_frames = runner.reference(schedule, seed)
        start = time.perf_counter()
        z = runner.latents(scheduler, schedule, steps, seed)
        seconds = time.perf_counter() - start
        frames = runner.decode(z)
        prompt, combo = prompt_of(sweep, seed)
        stats = runner.pipe.stats
        yield dict(solver=scheduler, schedule=schedule, nfe=target, evaluations=stats["sampler"]["evaluations"],
                   steps=steps, forwards=stats["nfe"], seed=seed, prompt=prompt,
                   latent_rmse=float(np.sqrt(np.mean((z - ref_z) ** 2))),
                   frame_psnr=metrics.psnr(frames, ref_frames),
                   adherence=_adherence(frames, combo), reference_adherence=_adherence(ref_frames, combo),
                   seconds=round(seconds, 3))


def _adherence(frames: np.ndarray, combo: tuple | None) -> float | None:
    """The toy world's adherence measure (captioned colour and shape, moving the captioned way): 1 or 0."""
    if combo is None:
        return None
    from skyreels_jax.toy.evaluate import score

    return float(score(frames, *combo)["all"])
