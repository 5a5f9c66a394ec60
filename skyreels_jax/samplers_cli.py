"""`skyreels-jax samplers sweep`: measure solvers and schedules against a many-step reference.

    skyreels-jax samplers sweep --model toy --schedulers euler,heun,dpmpp_2m,unipc --schedules shift,karras,beta \\
        --nfe 4,6,8,12,16,24,32 --seeds 8 --out DIR [--mode t2v|df]
"""
from __future__ import annotations

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


def add_parser(commands) -> None:
    p = commands.add_parser("samplers", help="the sampler lab: sweep solvers and schedules against a reference")
    sub = p.add_subparsers(dest="samplers_command", required=True)
    s = sub.add_parser("sweep", help="error against NFE for every solver × schedule (CSV, markdown, PNG)",
                       description=__doc__)
    s.add_argument("--model", default="toy", help="model folder or Hub id (default: the embedded toy)")
    s.add_argument("--schedulers", default="euler,heun,dpmpp_2m,unipc")
    s.add_argument("--schedules", default="shift,karras,beta", help="names or schedule files, comma separated")
    s.add_argument("--nfe", default="4,6,8,12,16,24,32", help="solver evaluations per sample")
    s.add_argument("--seeds", type=int, default=8, help="seeds (each its own prompt on the toy model)")
    s.add_argument("--mode", choices=["t2v", "df"], default="t2v", help="t2v: one noise level for the clip; "
                   "df: asynchronous diffusion forcing, each frame lagging the one before by --lag of the steps")
    s.add_argument("--lag", type=float, default=0.25, help="df mode: ar_step as a fraction of the steps")
    s.add_argument("--prompt", action="append", help="prompts, cycled over the seeds (default: toy captions)")
    s.add_argument("--num-frames", type=int, default=17)
    s.add_argument("--height", type=int, default=32)
    s.add_argument("--width", type=int, default=32)
    s.add_argument("--guidance-scale", type=float, default=3.0)
    s.add_argument("--shift", type=float, help="default: the model's")
    s.add_argument("--reference", default="heun:200", metavar="SOLVER:STEPS", help="the reference solve")
    s.add_argument("--cache", type=Path, help="where references are kept (default: OUT/reference)")
    s.add_argument("--out", type=Path, required=True)


def run(args) -> int:
    from skyreels_jax.lab import report
    from skyreels_jax.lab.sweep import Runner, Sweep, grid, run_sweep
    from skyreels_jax.pipelines import load_pipeline

    solver, _, steps = args.reference.partition(":")
    if not steps.isdigit() or int(steps) < 1:
        raise ValueError(f"--reference takes SOLVER:STEPS, e.g. heun:200; got {args.reference!r}")
    sweep = Sweep(_names(args.schedulers), _names(args.schedules), _ints(args.nfe), args.seeds, args.mode,
                  args.num_frames, args.height, args.width, args.guidance_scale, args.shift, args.lag,
                  (solver, int(steps)), tuple(args.prompt or ()))
    size = len(grid(sweep))  # checks every name before the model loads
    start = time.perf_counter()
    runner = Runner(load_pipeline(args.model), sweep, args.cache or args.out / "reference", str(args.model))
    rows = list(run_sweep(runner))
    seconds = time.perf_counter() - start
    header = (f"{size} runs, mode {sweep.mode}, model {args.model}, reference {args.reference} "
              f"({'simple schedule' if sweep.mode == 't2v' else 'each schedule'}), {seconds:.0f} s on "
              f"{_cpu()}")
    paths = report.write_all(args.out, rows, title=f"{args.model}, {sweep.mode} mode", header=header)
    print(report.markdown(rows))
    print(header)
    print("wrote " + ", ".join(str(p) for p in paths.values())
          + ("" if "plot" in paths else " (no plot: pip install matplotlib)"))
    return 0


def _cpu() -> str:
    """The CPU's model name (lscpu's), for the record."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
