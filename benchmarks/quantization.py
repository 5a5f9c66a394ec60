"""Quantized inference on CPU: the DiT of 1.3B width (random weights) and the embedded toy model, per mode.

    python -m benchmarks.quantization dit [--layers 4] [--frames 2 --height 30 --width 52] [--repeats 3]
    python -m benchmarks.quantization toy [--prompts 32]
    python -m benchmarks.quantization load [--layers 8]

dit: each mode in a fresh process builds the same float32 DiT (seed 0, `--layers` blocks of the 1.3B
shape), casts it to bfloat16 (as a bf16 checkpoint loads) and quantizes that; one forward on the same
inputs (compile, then the best of --repeats warm calls). Prints the relative error against float32,
the weights' bytes (the whole 30-layer model, from the abstract state) and the measured time and RSS.
toy: `--prompts` videos of the toy model's evaluation (skyreels_jax.toy.evaluate) per mode; PSNR
against the unquantized videos of the same seeds, and the adherence measure.
load: a DiT of 1.3B width (`--layers` blocks, random float32 weights) written as a diffusers folder and
converted with `convert --dtype int8`; each mode in a fresh process loads it (bfloat16, quantized while
loading, or the int8 folder as stored) and runs one forward: the process's RSS before loading, its peak
while loading, after loading, and its peak with the forward.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from benchmarks.common import reset_peak, run_child, timed, vm_mib

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # the abstract weight count must not probe libtpu for a TPU

MODES = ("float32", "bfloat16", "int8", "fp8", "int8-dynamic", "fp8-dynamic")
WIDTH = dict(dim=1536, ffn_dim=8960, num_heads=12)


def weight_bytes(mode: str) -> int:
    """Bytes of the whole 30-layer model's parameters in `mode` (abstract: nothing is allocated)."""
    from flax import nnx

    import skyreels_jax as sj

    dtype = "float32" if mode == "float32" else "bfloat16"
    quantize = None if mode in ("float32", "bfloat16") else mode
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = nnx.eval_shape(lambda: sj.quantize(sj.DiT(sj.DiTConfig(**WIDTH, dtype=dtype, param_dtype=dtype),
                                                          rngs=nnx.Rngs(0)), quantize))
    return sum(v.get_value().size * v.get_value().dtype.itemsize for _, v in nnx.to_flat_state(nnx.state(model)))


def run_dit(args) -> dict:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    import skyreels_jax as sj

    warnings.simplefilter("ignore")
    dtype = "float32" if args.mode == "float32" else "bfloat16"
    config = sj.DiTConfig(**WIDTH, num_layers=args.layers, dtype=dtype, param_dtype=dtype)
    graphdef, state = nnx.split(sj.DiT(sj.DiTConfig(**WIDTH, num_layers=args.layers), rngs=nnx.Rngs(0)))
    _, target = nnx.split(nnx.eval_shape(lambda: sj.DiT(config, rngs=nnx.Rngs(0))))  # the dtypes of a bf16 build
    state = jax.tree.map(lambda a, t: a.astype(t.dtype), state, target)
    model = nnx.merge(nnx.graphdef(nnx.eval_shape(lambda: sj.DiT(config, rngs=nnx.Rngs(0)))), state)
    del graphdef, state
    if args.mode not in ("float32", "bfloat16"):
        sj.quantize(model, args.mode)
    rng = np.random.default_rng(0)
    inputs = (rng.standard_normal((1, args.frames, args.height, args.width, 16), dtype=np.float32),
              np.full((1, args.frames), 700.0, np.float32),
              0.1 * rng.standard_normal((1, 512, 4096), dtype=np.float32))
    rss_model = vm_mib()
    result, out = timed(lambda: np.asarray(model(*inputs), np.float32), args.repeats)
    np.save(args.out, out)
    return dict(result, rss_model_mib=rss_model, state_bytes=sum(
        v.get_value().nbytes for _, v in nnx.to_flat_state(nnx.state(model))), jnp_dtype=str(jnp.dtype(dtype)))


def run_toy(args) -> dict:
    from skyreels_jax.pipelines import load_pipeline
    from skyreels_jax.toy.evaluate import samples, score

    warnings.simplefilter("ignore")
    pipe = load_pipeline("toy", quantize=None if args.mode == "float32" else args.mode)
    start, videos, scores = time.perf_counter(), [], []
    for video, prompt in samples(pipe, args.prompts):
        videos.append(video)
        scores.append(score(video, *prompt)["all"])
    np.save(args.out, np.stack(videos))
    return dict(adherence=float(np.mean(scores)), seconds=time.perf_counter() - start)


def run_load(args) -> dict:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    import skyreels_jax as sj
    from skyreels_jax.models.components import load_converted

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    inputs = (rng.standard_normal((1, args.frames, args.height, args.width, 16), dtype=np.float32),
              np.full((1, args.frames), 700.0, np.float32),
              0.1 * rng.standard_normal((1, 512, 4096), dtype=np.float32))
    before = vm_mib()
    reset_peak()
    if args.mode == "int8-converted":
        model = load_converted(Path(args.out).parent / "int8", "transformer")
    else:
        model = sj.load_transformer(Path(args.out).parent / "float", jnp.bfloat16,
                                    quantize=None if args.mode == "bfloat16" else args.mode)
    jax.block_until_ready(nnx.state(model))
    load_peak, loaded = vm_mib("VmHWM"), vm_mib()
    np.save(args.out, np.asarray(model(*inputs), np.float32))
    return dict(before=before, load_peak=load_peak, loaded=loaded, run_peak=vm_mib("VmHWM"))


def write_float_and_int8(folder: Path, layers: int) -> None:
    """folder/float: a random DiT of 1.3B width as a diffusers folder (float32); folder/int8: its int8 conversion."""
    from flax import nnx

    import skyreels_jax as sj
    from skyreels_jax.conversion.convert_cmd import convert
    from skyreels_jax.toy.export import save_dit

    save_dit(sj.DiT(sj.DiTConfig(**WIDTH, num_layers=layers), rngs=nnx.Rngs(0)), folder / "float")
    convert(str(folder / "float"), str(folder / "int8"), "int8", log=lambda *_: None)


def print_load(records: dict, outs: dict, layers: int) -> None:
    ref = outs["bfloat16"]
    print(f"DiT of 1.3B width, {layers} layers, loaded from a float32 diffusers folder (bfloat16 compute); MiB")
    print("| mode | RSS before | peak while loading | after loading | peak with one forward | "
          "rel. difference vs bfloat16 |\n|---|---|---|---|---|---|")
    for mode, r in records.items():
        err = rel_error(outs[mode], ref)
        print(f"| {mode} | {r['before']:.0f} | {r['load_peak']:.0f} | {r['loaded']:.0f} | {r['run_peak']:.0f} | "
              f"{err:.2e} |")


def rel_error(out: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(out.astype(np.float64) - ref) / np.linalg.norm(ref))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["dit", "toy", "load"])
    parser.add_argument("--mode", help="(child) one of " + ", ".join(MODES))
    parser.add_argument("--out")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--frames", type=int, default=2)
    parser.add_argument("--height", type=int, default=30)
    parser.add_argument("--width", type=int, default=52)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=32)
    args = parser.parse_args()
    child = {"dit": run_dit, "toy": run_toy, "load": run_load}[args.what]
    if args.mode:
        print(json.dumps(child(args)))
        return
    common = ["--layers", args.layers, "--frames", args.frames, "--height", args.height, "--width", args.width,
              "--repeats", args.repeats, "--prompts", args.prompts]
    modes = {"dit": MODES, "toy": ("float32",) + MODES[2:], "load": MODES[1:] + ("int8-converted",)}[args.what]
    with tempfile.TemporaryDirectory() as tmp:
        records, outs = {}, {}
        if args.what == "load":
            write_float_and_int8(Path(tmp), args.layers)
        for mode in modes:
            out = Path(tmp) / f"{mode}.npy"
            records[mode] = run_child("benchmarks.quantization", args.what, "--mode", mode, "--out", out, *common)
            outs[mode] = np.load(out)
    if args.what == "load":
        print_load(records, outs, args.layers)
        return
    ref = outs["float32"]
    if args.what == "dit":
        print(f"DiT of 1.3B width, {args.layers} layers, latent {args.frames}x{args.height}x{args.width}; weights: "
              "the whole 30-layer model")
        print("| mode | rel. error vs float32 | weights (30 layers) | warm forward | first call | RSS model "
              "| warm peak RSS |\n|---|---|---|---|---|---|---|")
        for mode, r in records.items():
            err = rel_error(outs[mode], ref)
            print(f"| {mode} | {err:.2e} | {weight_bytes(mode) / 2**30:.2f} GiB | {r['time_s']:.2f} s | "
                  f"{r['first_s']:.1f} s | {r['rss_model_mib']:.0f} MiB | {r['warm_peak_mib']:.0f} MiB |")
        return
    print(f"toy model, {args.prompts} prompts (skyreels_jax.toy.evaluate.samples, seeds 1000..)")
    print("| mode | PSNR vs float32 (mean over videos) | adherence | time |\n|---|---|---|---|")
    for mode, r in records.items():
        values = [psnr(a, b) for a, b in zip(outs[mode], ref)]
        finite = [v for v in values if np.isfinite(v)]
        shown = f"{np.mean(finite):.1f} dB" if finite else "identical"
        print(f"| {mode} | {shown} (min {min(values):.1f}) | {r['adherence']:.1%} | {r['seconds']:.0f} s |")


if __name__ == "__main__":
    main()
