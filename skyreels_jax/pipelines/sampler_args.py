"""The sampler's command-line flags (generate, the sampler lab): parsed and checked before anything loads."""
from __future__ import annotations

import argparse
from pathlib import Path

from skyreels_jax.schedulers import SCHEDULERS, get_solver, load_schedule, make_guidance
from skyreels_jax.schedulers.guidance import MODES
from skyreels_jax.schedulers.schedules import NAMES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scheduler", help=f"the solver (default: the model's, unipc): {', '.join(SCHEDULERS)}")
    p.add_argument("--schedule", help=f"the sigma schedule: {', '.join(NAMES)} (default shift, the original's), "
                   "or a schedule FILE (.json, e.g. from `skyreels-jax samplers search`)")
    p.add_argument("--guidance-mode", help=f"{', '.join(MODES)} (default cfg)")
    p.add_argument("--guidance-interval", metavar="LO,HI", help="apply guidance only for sigma in [LO, HI]; "
                   "outside it one forward instead of two (e.g. 0.1,0.9)")


def schedule_of(text: str | None):
    """A schedule name as it is, a file path checked (a readable schedule file)."""
    if text is None or text in NAMES:
        return text
    if text.endswith(".json") or Path(text).exists():
        load_schedule(text)  # raises a one-line error on a missing or bad file
        return text
    raise ValueError(f"--schedule {text!r}: use one of {', '.join(NAMES)} or a schedule .json file")


def choices(args) -> dict:
    """The pipeline call's scheduler / schedule / guidance from the flags (only those given), checked."""
    out = {}
    if args.scheduler is not None:
        get_solver(args.scheduler)
        out["scheduler"] = args.scheduler
    if args.schedule is not None:
        out["schedule"] = schedule_of(args.schedule)
    if args.guidance_mode is not None or args.guidance_interval is not None:
        guidance = {"mode": args.guidance_mode or "cfg"}
        if args.guidance_interval is not None:
            try:
                lo, hi = (float(v) for v in args.guidance_interval.split(","))
            except ValueError:
                raise ValueError(f"--guidance-interval takes LO,HI (two sigmas, e.g. 0.1,0.9), "
                                 f"got {args.guidance_interval!r}") from None
            guidance["interval"] = (lo, hi)
        make_guidance(**guidance)  # checks the mode and the interval
        out["guidance"] = guidance
    return out


def record(stats: dict) -> dict:
    """What a sidecar records of the sampler a call ran: scheduler, schedule, its steps, guidance, NFE."""
    s = stats.get("sampler")
    if s is None:
        return {}
    return dict(scheduler=s["scheduler"], schedule=s["schedule"], num_steps=s["num_steps"], guidance=s["guidance"],
                evaluations=s["evaluations"], nfe=stats.get("nfe", s["nfe"]),
                **({"sigmas": s["sigmas"]} if "sigmas" in s else {}))
