"""Every CPU benchmark row, skyreels_jax against diffusers, measured as an outside reviewer would (benchmarks/duel.py).

    python -m benchmarks.run_all [--rows dit vae t2v df compile teacache] [--trials 3] [--cpus 0,1]   (or: make bench)

Rows:
- dit: a DiT forward at 1.3B width (dim 1536, 12 heads, ffn 8960, DF-1.3B config) cut to 4 layers,
  5×30×52 latent (1950 tokens), float32 and bfloat16 (benchmarks/dit_forward.py);
- vae: Wan VAE decode and encode, latent 3×16×16 ↔ 9×128×128 (benchmarks/bench_vae.py);
- t2v, df: tiny full pipelines (benchmarks/bench_pipelines.py);
- compile: compile time of the full 30-layer 1.3B DiT (benchmarks/compile_time.py);
- teacache (not in the default set): step caching on the tiny T2V pipeline with an 8-layer DiT.
Each call is its own process, pinned to --cpus with as many threads on both sides, and the processes
alternate between the sides (R C C R R C for 3 trials). Times are the timed (second) call of each
process: median (min–max) over the trials; the time ratio is of the medians. jax's compile is its first
call minus its timed one. Whole-process peak: VmHWM over import, load, compile and both calls; warm-call
peak: the timed call's high-water mark from the RSS after the first call (benchmarks/common.py); medians.
Roofline: each row's matrix-product and convolution FLOPs (benchmarks/flops.py), each side's GFLOP/s, and
the machine's ceiling for the row's dominant op measured in the same run (benchmarks/ceiling.py).
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from benchmarks.duel import all_cpus, duel, machine_line, median, spread

HEADER = ("| row | diffusers (s) | skyreels_jax (s) | time ratio | jax compile (s) | whole-process peak diffusers / "
          "ours (MiB) | memory ratio | warm-call peak diffusers / ours (MiB) | GFLOP | GFLOP/s diffusers / ours "
          "| ceiling (GFLOP/s) | of ceiling diffusers / ours | check |")
ROWS = ["dit", "vae", "t2v", "df", "compile", "teacache"]


def line(name: str, ref: list, ours: list, check: str, flops: float | None = None,
         ceiling: tuple[str, float] | None = None) -> str:
    """One table row from the two sides' per-process records."""
    rt, ot = median(ref, "time_s"), median(ours, "time_s")
    compile_s = median(ours, "first_s") - ot
    rp, op = median(ref, "peak_mib"), median(ours, "peak_mib")
    rw, ow = median(ref, "warm_peak_mib"), median(ours, "warm_peak_mib")
    roof = "– | – | – | –"
    if flops:
        gf = flops / 1e9
        roof = f"{gf:.0f} | {gf / rt:.0f} / {gf / ot:.0f} | "
        roof += f"{ceiling[1]:.0f} ({ceiling[0]}) | {gf / rt / ceiling[1]:.0%} / {gf / ot / ceiling[1]:.0%}" \
            if ceiling else "– | –"
    return (f"| {name} | {spread(ref, 'time_s')} | {spread(ours, 'time_s')} | **{ot / rt:.2f}** | {compile_s:.1f} | "
            f"{rp:.0f} / {op:.0f} | **{op / rp:.2f}** | {rw:.0f} / {ow:.0f} | {roof} | {check} |")


def dit_rows(trials: int, cpus: str, tmp: Path, ceilings: dict) -> list[str]:
    import numpy as np

    from benchmarks.common import run_child
    from benchmarks.dit_forward import config
    from benchmarks.flops import dit_forward_flops

    layers, latent = 4, (5, 30, 52)
    flops = dit_forward_flops(config("DF-1.3B-540P", layers), *latent)
    folder = tmp / "dit"
    lines = []
    for dtype in ("float32", "bfloat16"):
        common = ["--config", "DF-1.3B-540P", "--frames", latent[0], "--height", latent[1], "--width", latent[2],
                  "--folder", folder, "--dtype", dtype, "--repeats", 1, "--layers", layers]
        run_child("benchmarks.dit_forward", "--side", "prepare", *common)
        commands = {side: ("benchmarks.dit_forward", "--side", side, *common, "--out", tmp / f"dit_{side}.npy")
                    for side in ("reference", "ours")}
        r = duel(commands, trials, cpus)
        ours, ref = (np.load(tmp / f"dit_{s}.npy").astype(np.float64) for s in ("ours", "reference"))
        err = np.linalg.norm(ours - ref) / np.linalg.norm(ref)
        lines.append(line(f"DiT forward, 1.3B width, 4 layers, 5×30×52, {dtype}", r["reference"], r["ours"],
                          f"rel err {err:.1e}", flops, (f"{dtype} GEMM", ceilings[f"gemm_{dtype}"]["best"])))
    return lines


def vae_flops(op: str, f: int, h: int, w: int) -> int:
    """Conv and matmul FLOPs of our VAE op, counted on its jaxpr (the taps that read only zero padding are
    skipped, so diffusers, which multiplies them, does a little more work than this)."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from benchmarks.flops import jaxpr_flops
    from skyreels_jax.models.vae import VAEConfig, WanVAE

    graphdef, state = nnx.split(nnx.eval_shape(lambda: WanVAE(VAEConfig(), rngs=nnx.Rngs(0), parts=(op + "r",))))
    if op == "decode":
        x = jax.ShapeDtypeStruct((1, f, h, w, 16), jnp.float32)
        return jaxpr_flops(lambda s, z: nnx.merge(graphdef, s).decode_raw(z), state, x)
    x = jax.ShapeDtypeStruct((1, 4 * (f - 1) + 1, 8 * h, 8 * w, 3), jnp.float32)
    return jaxpr_flops(lambda s, v: nnx.merge(graphdef, s).encode_raw(v), state, x)


def vae_rows(trials: int, cpus: str, tmp: Path, ceilings: dict) -> list[str]:
    import numpy as np

    from benchmarks.bench_vae import command, prepare

    latent = (3, 16, 16)
    folder, inputs = prepare(*latent, tmp)
    lines = []
    for op in ("decode", "encode"):
        outs = {side: tmp / f"vae_{side}_{op}" for side in ("torch", "jax")}
        r = duel({side: command(side, op, folder, inputs, out) for side, out in outs.items()}, trials, cpus)
        j, t = (np.load(str(outs[s]) + ".npy").astype(np.float64) for s in ("jax", "torch"))
        err = np.linalg.norm(j - t) / np.linalg.norm(t)
        lines.append(line(f"VAE {op}, latent 3×16×16 (9×128×128 video)", r["torch"], r["jax"], f"rel err {err:.1e}",
                          vae_flops(op, *latent), ("float32 conv", ceilings["conv_float32"]["best"])))
    return lines


def pipeline_rows(rows: list[str], trials: int, cpus: str, tmp: Path) -> list[str]:
    """The tiny pipelines, and ours again with a compilation cache that a first (uncounted) run filled."""
    import numpy as np

    from benchmarks.bench_pipelines import ROWS as PIPELINES
    from benchmarks.bench_pipelines import build
    from benchmarks.common import run_child

    names = {"t2v": "tiny T2V pipeline, 4 steps, CFG, {num_frames}×{height}×{width}",
             "df": "tiny DF long video, 3 windows, 4 steps, CFG, {num_frames}×{height}×{width}"}
    lines = []
    for row in rows:
        work = tmp / row
        work.mkdir()
        args = [row, build(row, work), work / "noise.npy"]
        commands = {side: ("benchmarks.bench_pipelines", "--side", side.split("_")[0], *args, work / f"{side}.npy",
                           "--repeats", 1) for side in ("reference", "ours", "ours_cached")}
        cache = dict(SKYREELS_JAX_CACHE_DIR=str(work / "xla_cache"), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
        run_child(*commands["ours_cached"], env=cache, cpus=cpus)  # fills the cache
        r = duel(commands, trials, cpus, env={"ours_cached": cache})
        check = "–"  # the DF row draws its noise differently on the two sides
        if row == "t2v":
            ours, ref = (np.load(work / f"{s}.npy").astype(np.int64) for s in ("ours", "reference"))
            check = f"frames differ by {np.abs(ours - ref).mean():.4f}/255"
        name = names[row].format(**PIPELINES[row][1])
        lines.append(line(name, r["reference"], r["ours"], check))
        lines.append(line(name + "; ours with a warm compilation cache", r["reference"], r["ours_cached"], check))
    return lines


def compile_lines(cpus: str) -> list[str]:
    from benchmarks.common import run_child

    lines = ["", "| full 1.3B DiT (30 layers, scanned), abstract weights | tokens | trace + lower (s) | compile (s) "
                 "| peak RSS (MiB) |", "|---|---|---|---|---|"]
    for dtype, latent, batch in (("float32", (5, 30, 52), 1), ("bfloat16", (25, 68, 120), 2)):
        r = run_child("benchmarks.compile_time", "--dtype", dtype, "--latent", *latent, "--batch", batch, cpus=cpus)
        lines.append(f"| {dtype}, batch {batch}, latent {'×'.join(map(str, latent))} | {r['tokens']} | "
                     f"{r['lower_s']:.1f} | **{r['compile_s']:.1f}** | {r['peak_mib']:.0f} |")
    return lines


def ceiling_lines(ceilings: dict) -> list[str]:
    lines = ["", "| ceiling (same run) | jax (GFLOP/s) | torch (GFLOP/s) |", "|---|---|---|"]
    return lines + [f"| {op} | {r['jax']:.0f} | {r['torch']:.0f} |" for op, r in ceilings.items()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", nargs="+", default=ROWS[:-1], choices=ROWS)
    p.add_argument("--trials", type=int, default=3, help="processes per side, alternating (R C C R R C ...)")
    p.add_argument("--cpus", default=None, help="CPUs both sides are pinned to (taskset -c), default all")
    a = p.parse_args()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # for the children (benchmarks/duel.py), and for this process:
    import jax

    jax.config.update("jax_platforms", os.environ["JAX_PLATFORMS"])
    cpus = a.cpus or all_cpus()
    print(machine_line(cpus), flush=True)
    from benchmarks.ceiling import measure

    ceilings = measure(cpus) if {"dit", "vae"} & set(a.rows) else {}
    lines = [HEADER, "|---" * (HEADER.count("|") - 1) + "|"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "dit" in a.rows:
            lines += dit_rows(a.trials, cpus, tmp, ceilings)
        if "vae" in a.rows:
            lines += vae_rows(a.trials, cpus, tmp, ceilings)
        lines += pipeline_rows([r for r in ("t2v", "df") if r in a.rows], a.trials, cpus, tmp)
        print("\n".join(lines + ceiling_lines(ceilings) if ceilings else lines), flush=True)
        if "compile" in a.rows:
            print("\n".join(compile_lines(cpus)), flush=True)
        if "teacache" in a.rows:
            from benchmarks.bench_teacache import report

            print("\n" + report(max(a.trials, 3), dit="wider"))
    print(f"\nat the end: {machine_line(cpus)}")


if __name__ == "__main__":
    main()
