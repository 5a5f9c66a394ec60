"""The machine's measured ceiling for the benchmarks' dominant ops, in GFLOP/s: the best of jax and torch.

    python -m benchmarks.ceiling [--cpus 0,1]

- gemm_float32, gemm_bfloat16: a large square GEMM (4096³) and the DiT's FFN product (1950×1536 by
  1536×8960), float32, and bfloat16 with float32 accumulation;
- conv_float32: the VAE's 3×3 convs, each of its three sizes that carry ~all of its FLOPs (96 channels
  at 128², 192 at 64², 384 at 32², 9 frames): torch's conv3d (3×3×3) against jax's per-frame 2D conv
  (what the VAE runs, one temporal tap).
Each op is timed as the best of a few warm calls; each library runs in its own pinned process.
"""
from __future__ import annotations

import argparse
import json
import time

GEMMS = ((4096, 4096, 4096), (1950, 1536, 8960))  # (m, k, n)
CONVS = ((96, 128), (192, 64), (384, 32))          # (channels in = out, frame size), 3×3 kernels, 9 frames
FRAMES = 9


def best_rate(fn, flops: float, calls: int = 3) -> float:
    """GFLOP/s of the fastest of `calls` warm calls (fn blocks)."""
    fn()
    best = min(_seconds(fn) for _ in range(calls))
    return flops / best / 1e9


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def jax_rates() -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    rates = {}
    for dtype in ("float32", "bfloat16"):
        dot = jax.jit(lambda a, b: jnp.matmul(a, b, preferred_element_type=jnp.float32))
        rates[f"gemm_{dtype}"] = max(
            best_rate(lambda a=jnp.asarray(rng.standard_normal((m, k)), dtype), b=jnp.asarray(
                rng.standard_normal((k, n)), dtype): dot(a, b).block_until_ready(), 2 * m * k * n)
            for m, k, n in GEMMS)
    conv = jax.jit(lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),
                                                             dimension_numbers=("NHWC", "HWIO", "NHWC")))
    rates["conv_float32"] = max(
        best_rate(lambda x=jnp.asarray(rng.standard_normal((FRAMES, s, s, c)), jnp.float32),
                  w=jnp.asarray(rng.standard_normal((3, 3, c, c)), jnp.float32): conv(x, w).block_until_ready(),
                  2 * FRAMES * s * s * 9 * c * c)
        for c, s in CONVS)
    return rates


def torch_rates() -> dict:
    import torch

    from benchmarks.common import torch_threads

    torch_threads()
    rates = {}
    with torch.no_grad():
        for dtype in ("float32", "bfloat16"):
            rates[f"gemm_{dtype}"] = max(
                best_rate(lambda a=torch.randn(m, k, dtype=getattr(torch, dtype)),
                          b=torch.randn(k, n, dtype=getattr(torch, dtype)): a @ b, 2 * m * k * n)
                for m, k, n in GEMMS)
        rates["conv_float32"] = max(
            best_rate(lambda x=torch.randn(1, c, FRAMES + 2, s, s), w=torch.randn(c, c, 3, 3, 3):
                      torch.nn.functional.conv3d(x, w, padding=(0, 1, 1)), 2 * FRAMES * s * s * 27 * c * c)
            for c, s in CONVS)
    return rates


def measure(cpus: str) -> dict:
    """{op: {"jax": GFLOP/s, "torch": GFLOP/s, "best": GFLOP/s}}, each library in its own pinned process."""
    from benchmarks.common import run_child

    by_lib = {lib: run_child("benchmarks.ceiling", "--side", lib, cpus=cpus) for lib in ("jax", "torch")}
    return {op: {**{lib: r[op] for lib, r in by_lib.items()}, "best": max(r[op] for r in by_lib.values())}
            for op in by_lib["jax"]}


def main() -> None:
    from benchmarks.duel import all_cpus, machine_line

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--side", choices=["jax", "torch"])
    p.add_argument("--cpus", default=None, help="CPUs to pin to (taskset -c), default all")
    a = p.parse_args()
    if a.side:
        print(json.dumps(jax_rates() if a.side == "jax" else torch_rates()))
        return
    cpus = a.cpus or all_cpus()
    print(machine_line(cpus))
    print("\n| op | jax (GFLOP/s) | torch (GFLOP/s) |\n|---|---|---|")
    for op, r in measure(cpus).items():
        print(f"| {op} | {r['jax']:.0f} | {r['torch']:.0f} |")


if __name__ == "__main__":
    main()
