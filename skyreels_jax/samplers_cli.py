"""`skyreels-jax samplers`: the sampler lab's commands.

    skyreels-jax samplers sweep --model toy --schedulers euler,heun,dpmpp_2m,unipc --schedules shift,karras,beta \\
        --nfe 4,6,8,12,16,24,32 --seeds 8 --out DIR [--mode t2v|df]
    skyreels-jax samplers search --model toy --scheduler euler --nfe 6,8,12 --seeds 4 --out DIR
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path


def _names(text: str) -> tuple:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _ints(text: str) -> tuple:
    try:
        return tuple(int(x) for x in _names(text))
    except ValueError:
        raise ValueError(f"--nfe takes whole numbers separated by commas, e.g. 4,8,16; got {text!r}") from None


def _common(s) -> None:
    """The flags of the setting every run shares (model, video, guidance, reference)."""
    s.add_argument("--model", default="toy", help="model folder or Hub id (default: the embedded toy)")
    s.add_argument("--prompt", action="append", help="prompts, cycled over the seeds (default: toy captions)")
    s.add_argument("--num-frames", type=int, default=17)
    s.add_argument("--height", type=int, default=32)
    s.add_argument("--width", type=int, default=32)
    s.add_argument("--guidance-scale", type=float, default=3.0)
    s.add_argument("--shift", type=float, help="default: the model's")
    s.add_argument("--reference", default="heun:1000", metavar="SOLVER:STEPS", help="the reference solve")
    s.add_argument("--cache", type=Path, help="where references are kept (default: OUT/reference)")
    s.add_argument("--out", type=Path, required=True)


def add_parser(commands) -> None:
    p = commands.add_parser("samplers", help="the sampler lab: sweep solvers and schedules, search schedules")
    sub = p.add_subparsers(dest="samplers_command", required=True)
    s = sub.add_parser("sweep", help="error against NFE for every solver × schedule (CSV, markdown, PNG)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(s)
    s.add_argument("--schedulers", default="euler,heun,dpmpp_2m,unipc")
    s.add_argument("--schedules", default="shift,karras,beta", help="names or schedule files, comma separated")
    s.add_argument("--nfe", default="4,6,8,12,16,24,32", help="solver evaluations per sample")
    s.add_argument("--seeds", type=int, default=8, help="seeds (each its own prompt on the toy model)")
    s.add_argument("--mode", choices=["t2v", "df"], default="t2v", help="t2v: one noise level for the clip; "
                   "df: asynchronous diffusion forcing, each frame lagging the one before by --lag of the steps")
    s.add_argument("--lag", type=float, default=0.25, help="df mode: ar_step as a fraction of the steps")
    q = sub.add_parser("search", help="the schedule that minimises the reference error at an NFE (t2v mode)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(q)
    q.add_argument("--scheduler", default="euler")
    q.add_argument("--nfe", default="6,8,12", help="one search per value")
    q.add_argument("--seeds", type=int, default=4, help="calibration seeds 0..N-1")
    q.add_argument("--eval-seeds", type=int, default=8, help="held-out seeds (1000 on) the gain is measured on")
    q.add_argument("--iterations", type=int, default=150, help="objective evaluations per search")


def _sweep(args, **fields):
    from skyreels_jax.lab.sweep import Sweep

    solver, _, steps = args.reference.partition(":")
    if not steps.isdigit() or int(steps) < 1:
        raise ValueError(f"--reference takes SOLVER:STEPS, e.g. heun:200; got {args.reference!r}")
    return Sweep(num_frames=args.num_frames, height=args.height, width=args.width, guidance_scale=args.guidance_scale,
                 shift=args.shift, reference=(solver, int(steps)), prompts=tuple(args.prompt or ()), **fields)


def _runner(args, sweep):
    from skyreels_jax.hub import resolve
    from skyreels_jax.lab.sweep import Runner, check_model_mode
    from skyreels_jax.pipelines import load_pipeline
    from skyreels_jax.pipelines.components import inspect_folder

    check_model_mode(sweep, inspect_folder(resolve(args.model)).mode, str(args.model))  # before the model loads
    return Runner(load_pipeline(args.model), sweep, args.cache or args.out / "reference", str(args.model))


def run(args) -> int:
    return (search_command if args.samplers_command == "search" else sweep_command)(args)


def sweep_command(args) -> int:
    from skyreels_jax.lab import report
    from skyreels_jax.lab.sweep import grid, run_sweep

    sweep = _sweep(args, schedulers=_names(args.schedulers), schedules=_names(args.schedules), nfe=_ints(args.nfe),
                   seeds=args.seeds, mode=args.mode, lag=args.lag)
    size = len(grid(sweep))  # checks every name before the model loads
    start = time.perf_counter()
    rows = list(run_sweep(_runner(args, sweep)))
    header = (f"{size} runs, mode {sweep.mode}, model {args.model}, reference {args.reference} "
              f"({'simple schedule' if sweep.mode == 't2v' else 'each schedule'}), "
              f"{time.perf_counter() - start:.0f} s on {cpu_name()}")
    paths = report.write_all(args.out, rows, title=f"{args.model}, {sweep.mode} mode", header=header)
    print(report.markdown(rows))
    print(header)
    print("wrote " + ", ".join(str(p) for p in paths.values())
          + ("" if "plot" in paths else " (no plot: pip install matplotlib)"))
    return 0


def search_command(args) -> int:
    from skyreels_jax.lab.search import CANDIDATES, best_named, rmse, search_schedule
    from skyreels_jax.lab.sweep import steps_for
    from skyreels_jax.pipelines.sampler import make_sampler
    from skyreels_jax.schedulers import save_schedule

    make_sampler(args.scheduler, num_steps=4, shift=8.0, guidance_scale=1.0)  # checks the name before loading
    nfes, start = _ints(args.nfe), time.perf_counter()
    runner = _runner(args, _sweep(args, seeds=args.seeds, mode="t2v"))
    calibration, held_out = range(args.seeds), range(1000, 1000 + args.eval_seeds)
    args.out.mkdir(parents=True, exist_ok=True)
    lines = ["| solver | NFE | best named (calibration) | its RMSE | searched RMSE | best named (held-out) | its RMSE "
             "| searched RMSE | gain |", "|---|---|---|---|---|---|---|---|---|"]
    for nfe in nfes:
        result = search_schedule(runner, args.scheduler, nfe, calibration, args.iterations)
        steps = steps_for(args.scheduler, "shift", nfe, runner.shift)
        fixed, fixed_loss = best_named(runner, args.scheduler, steps, held_out, CANDIDATES)
        found = rmse(runner, args.scheduler, result.sigmas.astype("float32"), steps, held_out)
        path = args.out / f"{args.model}_{args.scheduler}_nfe{nfe}.json".replace("/", "_")
        save_schedule(path, result.sigmas, note=f"searched for {args.scheduler} at NFE {nfe} on {args.model} "
                      f"(shift {runner.shift}, guidance {runner.sweep.guidance_scale}); held-out RMSE {found:.4f} "
                      f"vs {fixed} {fixed_loss:.4f}")
        lines.append(f"| {args.scheduler} | {nfe} | {result.start} | {result.start_loss:.4f} | {result.loss:.4f} "
                     f"| {fixed} | {fixed_loss:.4f} | {found:.4f} | {1 - found / fixed_loss:+.0%} |")
        print(lines[-1], f"-> {path}", flush=True)
    footer = (f"{args.seeds} calibration seeds, {args.eval_seeds} held-out seeds, {args.iterations} objective "
              f"evaluations per search, reference {args.reference}; {time.perf_counter() - start:.0f} s on "
              f"{cpu_name()}")
    (args.out / "search.md").write_text("\n".join(lines) + "\n\n" + footer + "\n")
    print(footer)
    return 0


def cpu_name() -> str:
    """The CPU's model name (lscpu's), for the record."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
