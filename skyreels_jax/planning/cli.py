"""`skyreels-jax plan` (also `python -m tpu.plan`): compile a published model's programs for a TPU slice
on this machine, print the memory per chip and the mesh to run it with.

    skyreels-jax plan --topology v5e-8 --model T2V-14B-720P                  # the layout --mesh auto picks
    skyreels-jax plan --topology v6e:2x4 --model DF-1.3B-540P --mesh 2,1,4,1 --sequence-parallel ulysses
    skyreels-jax plan --topology v5p-8 --model I2V-14B-540P --all            # every candidate layout
"""
from __future__ import annotations

import argparse
import functools
import math
import sys

from skyreels_jax.planning.topologies import GiB

COLUMNS = ("layout", "program", "arguments", "temporaries", "outputs", "other weights", "total", "of HBM", "compile")


def add_parser(commands) -> argparse.ArgumentParser:
    p = commands.add_parser("plan", help="compile a published model for a TPU slice (no TPU needed): memory per "
                            "chip and the mesh to use", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    from skyreels_jax.planning.published import PUBLISHED, RESOLUTIONS

    p.add_argument("--topology", required=True, help="a TPU slice: v5e-8, v6e-16, v5p-8 (TensorCores) or a chip "
                   "layout such as v6e:2x4")
    p.add_argument("--model", required=True, help=f"a published model: {', '.join(PUBLISHED)}")
    p.add_argument("--resolution", choices=list(RESOLUTIONS), help="default: the model's own")
    p.add_argument("--mesh", default="auto", metavar="auto|D,F,C,T", help="one layout of each data-parallel "
                   "group's chips (data, fsdp, context, tensor), or auto: the most data parallelism that fits")
    p.add_argument("--sequence-parallel", choices=["ulysses", "ring"], help="with an explicit --mesh whose "
                   "context size is > 1")
    p.add_argument("--low-memory", action="store_true", help="the encoders are freed after use (generate "
                   "--low-memory): they are not counted beside the DiT and the VAE")
    p.add_argument("--all", action="store_true", help="with --mesh auto: compile every candidate layout, not "
                   "only up to the first that fits")
    p.add_argument("--step-only", action="store_true", help="with an explicit --mesh: compile the DiT step alone "
                   "(the VAE decode takes minutes to compile)")
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    p.add_argument("--quantize", choices=["int8", "fp8", "int8-dynamic"], help="quantize the DiT's and UMT5's "
                   "block weights (generate --quantize); fp8-dynamic is for GPUs: TPUs up to v6e have no fp8 "
                   "matrix units")


def run(args) -> int:
    from skyreels_jax.planning.topologies import quiet_libtpu, slice_of

    slice_ = slice_of(args.topology)
    model_args = _model(args)
    layout = None if args.mesh == "auto" else _layout(args.mesh, args.sequence_parallel)
    if args.step_only and layout is None:
        raise ValueError("--step-only goes with an explicit --mesh: --mesh auto needs every program")
    if args.all and layout is not None:
        raise ValueError("--all goes with --mesh auto (every candidate layout): an explicit --mesh is one layout")
    quiet_libtpu(slice_)  # before jax starts its backends
    from skyreels_jax.planning.plan import choose, compile_layout, fits
    from skyreels_jax.planning.topologies import group_devices

    quantized = f", {args.quantize} weights" if args.quantize else ""
    print(f"{args.model} at {' x '.join(map(str, model_args[2]))} (frames x height x width) on {slice_.name} "
          f"({slice_.chips} chips, {slice_.hosts} host(s), {slice_.hbm / GiB:.0f} GiB HBM each; fits = at most "
          f"90 % of it){', encoders freed after use' if args.low_memory else ''}{quantized}")
    print(" | ".join(COLUMNS))

    def report(lay, r):
        print(_row(lay, r, slice_.hbm), flush=True)
    if layout is not None:
        if slice_.chips % math.prod(layout.mesh):
            raise ValueError(f"--mesh {args.mesh} needs a divisor of the slice's {slice_.chips} chips")
        devices = group_devices(slice_, math.prod(layout.mesh))
        results = compile_layout(model_args, layout, devices, slice_.hbm, args.low_memory, stop_early=False,
                                 report=report, step_only=args.step_only, quantize=args.quantize)
        verdict = "fits" if fits(results, slice_.hbm) else "does not fit"
        print(f"{verdict}: {layout}{' (the DiT step alone)' if args.step_only else ''}")
        return 0
    chosen, results = choose(model_args, slice_.chips, slice_.hosts, functools.partial(group_devices, slice_),
                             slice_.hbm, args.low_memory, report=report, every=args.all, quantize=args.quantize)
    if chosen is None:
        print("no layout fits: try --low-memory, a larger slice, or a smaller resolution")
        return 1
    print(f"chosen: {chosen} ({chosen.data_parallelism} video(s) at once)")
    print(f"run:    {_command(args, chosen, slice_.hosts)}")
    return 0


def _model(args):
    from skyreels_jax.planning.published import RESOLUTIONS, configs, parse_model

    mode, size, resolution = parse_model(args.model, args.resolution)
    return configs(mode, size, args.dtype), mode, RESOLUTIONS[resolution]


def _layout(sizes: str, sequence_parallel: str | None):
    from skyreels_jax.planning.plan import Layout

    try:
        shape = tuple(int(x) for x in sizes.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"--mesh takes auto or four positive sizes DATA,FSDP,CONTEXT,TENSOR; got {sizes!r}")
    if (shape[2] > 1) != bool(sequence_parallel):
        raise ValueError("--sequence-parallel ulysses|ring goes with a context size > 1 in --mesh, and only then")
    return Layout(shape, sequence_parallel)


def _row(layout, r, hbm: int) -> str:
    def gib(n):
        return f"{n / GiB:.2f}"
    if r.error:
        return f"{layout} | {r.program} | compile failed: {r.error}"
    return " | ".join((str(layout), r.program, gib(r.arguments), gib(r.temporaries), gib(r.outputs),
                       gib(r.resident), gib(r.total), f"{100 * r.total / hbm:.0f} %", f"{r.seconds:.0f} s"))


def _command(args, layout, hosts: int) -> str:
    """The generate command for one process per group (on a multi-host slice, --distributed on every host)."""
    parts = [f"skyreels-jax generate --model <converted {args.model}> --mesh {','.join(map(str, layout.mesh))}"]
    if layout.sequence_parallel:
        parts.append(f"--sequence-parallel {layout.sequence_parallel}")
    if args.resolution:
        parts.append(f"--resolution {args.resolution}")
    if args.low_memory:
        parts.append("--low-memory")
    if args.dtype != "bfloat16":  # the planned dtype; generate's default on accelerators is bfloat16
        parts.append(f"--dtype {args.dtype}")
    if args.quantize:
        parts.append(f"--quantize {args.quantize}")
    hosts_per_group = max(1, hosts // layout.groups)
    if hosts > 1:
        parts.append("--distributed --prompts FILE")
        if hosts_per_group > 1:
            parts.append(f"--processes-per-group {hosts_per_group}")
    return " ".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tpu.plan", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except (ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
