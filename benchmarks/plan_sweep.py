"""The planner over slices and published models: markdown tables of compiled memory per chip (docs/scale_out.md).

    python -m benchmarks.plan_sweep --topology v5e-8 [--models T2V-1.3B-540P,...] [--low-memory] [--quantize int8]

For each model, the layouts `--mesh auto` tries in order, up to the first that fits, each program's
figures, and the choice. One topology per process (libtpu serves one slice per process); the VAE
and UMT5 programs are compiled once per mesh and reused across models.
"""
from __future__ import annotations

import argparse
import functools
import time

from skyreels_jax.planning.published import PUBLISHED, RESOLUTIONS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topology", required=True)
    parser.add_argument("--models", default=",".join(PUBLISHED), help="names, optionally NAME@RESOLUTION")
    parser.add_argument("--low-memory", action="store_true")
    parser.add_argument("--quantize", choices=["int8", "fp8", "int8-dynamic"])
    args = parser.parse_args()

    from skyreels_jax.planning.topologies import GiB, quiet_libtpu, slice_of

    slice_ = slice_of(args.topology)
    quiet_libtpu(slice_)
    from skyreels_jax.planning.plan import choose
    from skyreels_jax.planning.published import configs, parse_model
    from skyreels_jax.planning.topologies import group_devices

    print(f"### {slice_.name}: {slice_.chips} chips, {slice_.hosts} host(s), {slice_.hbm / GiB:.0f} GiB each"
          f"{', encoders freed after use (--low-memory)' if args.low_memory else ''}"
          f"{f', {args.quantize} weights (--quantize)' if args.quantize else ''}\n")
    print("| model | layout | step: args + temp + out | VAE decode: temp | UMT5: args + temp | "
          "largest total (with the other weights) | fits |")
    print("|---|---|---|---|---|---|---|")
    start = time.perf_counter()
    for spec in args.models.split(","):
        name, _, resolution = spec.partition("@")
        mode, size, resolution = parse_model(name, resolution or None)
        model = configs(mode, size), mode, RESOLUTIONS[resolution]
        chosen, tried = choose(model, slice_.chips, slice_.hosts, functools.partial(group_devices, slice_), slice_.hbm,
                               args.low_memory,
                               quantize=args.quantize)
        for layout, results in tried:
            print(_row(f"{name}@{resolution}", layout, results, slice_.hbm, layout == chosen), flush=True)
    print(f"\n({time.perf_counter() - start:.0f} s of compiling)")


def _row(model: str, layout, results, hbm: int, chosen: bool) -> str:
    from skyreels_jax.planning.plan import fits

    by = {r.program.split(",")[0].split(" ")[0]: r for r in results}

    def gib(n):
        return f"{n / 2**30:.2f}"
    cells = []
    step = next((r for name, r in by.items() if name in ("T2V", "I2V", "DF")), None)
    vae, umt5 = by.get("VAE"), by.get("UMT5")
    if step and step.error == "the weights alone do not fit":
        cells.append(f"weights alone {gib(step.arguments + step.resident)}")
    else:
        cells.append("failed" if step and step.error else
                     f"{gib(step.arguments)} + {gib(step.temporaries)} + {gib(step.outputs)}" if step else "")
    cells.append("failed" if vae and vae.error else gib(vae.temporaries) if vae else "not compiled")
    cells.append(f"{gib(umt5.arguments)} + {gib(umt5.temporaries)}" if umt5 and not umt5.error else "not compiled")
    worst = max((r for r in results if not r.error), key=lambda r: r.total, default=None)
    largest = f"{gib(worst.total)} ({worst.program.split(',')[0]}, {100 * worst.total / hbm:.0f} %)" if worst else ""
    ok = fits(results, hbm) and len(results) == 3  # every program compiled and fitting
    verdict = "**chosen**" if chosen else "yes" if ok else "no"
    return f"| {model} | {layout} | {' | '.join(cells)} | {largest} | {verdict} |"


if __name__ == "__main__":
    main()
