"""Wan2.1 VAE decode and encode: skyreels_jax (jit, warm) against diffusers' AutoencoderKLWan (torch, CPU).

Both sides get the same random weights (the real base_dim-96 architecture), the same latent and the
same video. skyreels_jax loads the half of the VAE that the op uses (`load_vae(..., parts=)`, as the
pipelines do); diffusers memory-maps the whole file, of which the half in use is read. Each (side, op) runs
in its own subprocess so that its peak memory is its own:
VmHWM over the whole child (for jax this includes XLA compilation), the peak during the warm runs
only, and the accelerator's peak where there is one (benchmarks/common.py). Compile time is the
first call minus a warm call. Children run with MALLOC_ARENA_MAX=2 (both sides): glibc's
per-thread arenas otherwise keep freed buffers of XLA's CPU thread pool and inflate jax's RSS by
~0.5 GB per run.

    python -m benchmarks.bench_vae                       # latent 1×16×3×16×16 -> video 9×128×128
    python -m benchmarks.bench_vae --frames 5 --height 30 --width 52 --tile 256
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.common import run_child, timed, torch_threads, vm_mib  # noqa: E402


def child(side: str, op: str, folder: str, inputs: str, out: str, repeats: int, tile: int | None) -> dict:
    """Load, run op once (compile/warm-up), then `repeats` timed runs; save the output, return the record."""
    data = np.load(inputs)
    x = data["z"] if op == "decode" else data["video"]
    if side == "jax":
        import jax

        import skyreels_jax as sj

        vae = sj.load_vae(folder, parts=(op + "r",))  # the half the op uses, as the pipelines load it
        kw = {"tile": tile} if tile else {}
        fn = (lambda: vae.decode(x, **kw)) if op == "decode" else (lambda: vae.encode(x, **kw))
        def run():
            return np.asarray(jax.block_until_ready(fn()))
    else:
        import torch
        from diffusers import AutoencoderKLWan

        torch_threads()
        vae = AutoencoderKLWan.from_pretrained(folder).eval()
        if tile:
            vae.enable_tiling(tile, tile, tile * 3 // 4, tile * 3 // 4)
        shape = (1, -1, 1, 1, 1)
        mean, std = torch.tensor(vae.config.latents_mean).view(shape), torch.tensor(vae.config.latents_std).view(shape)
        t = torch.from_numpy(x).permute(0, 4, 1, 2, 3)

        def run():
            with torch.no_grad():
                if op == "decode":
                    y = vae.decode(t * std + mean).sample
                else:
                    y = (vae.encode(t).latent_dist.mean - mean) / std
            return y.permute(0, 2, 3, 4, 1).numpy()

    rss_loaded = vm_mib()
    result, y = timed(run, repeats)
    result.update(rss_loaded_mib=rss_loaded, device="cpu")
    if side == "jax":
        dev = jax.devices()[0]
        result["device"] = dev.device_kind
        stats = dev.memory_stats() if dev.platform != "cpu" else None
        if stats:
            result["peak_device"] = stats.get("peak_bytes_in_use", 0) / 2**20
    np.save(out + ".npy", y)
    return result


def prepare(f: int, h: int, w: int, tmp: Path) -> tuple[Path, Path]:
    """The random-weight VAE (real architecture) as a diffusers folder, and the inputs: (folder, inputs.npz)."""
    from tests.vae_fixtures import build_reference, save_diffusers  # random weights, real architecture

    folder = save_diffusers(build_reference(base_dim=96, z_dim=16, latents_mean=None, latents_std=None), tmp / "vae")
    rng = np.random.default_rng(0)
    z = rng.standard_normal((1, f, h, w, 16), dtype=np.float32)
    video = rng.uniform(-1, 1, (1, 4 * (f - 1) + 1, 8 * h, 8 * w, 3)).astype(np.float32)
    np.savez(tmp / "inputs.npz", z=z, video=video)
    return folder, tmp / "inputs.npz"


def command(side: str, op: str, folder: Path, inputs: Path, out: Path, repeats: int = 1,
            tile: int | None = None) -> tuple:
    """run_child arguments of one (side, op) process; its output goes to out.npy."""
    return ("benchmarks.bench_vae", "--repeats", repeats, "--child", side, op, folder, inputs, out,
            *(["--tile", tile] if tile else []))


def measure(f: int, h: int, w: int, repeats: int = 2, tile: int | None = None, sides=("jax", "torch")) -> dict:
    """{(side, op): record with "out"} for op in decode, encode; each in its own process."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_vae_"))
    folder, inputs = prepare(f, h, w, tmp)
    print(f"latent {[1, f, h, w, 16]} (B,F,H,W,C); torch threads {len(os.sched_getaffinity(0))}; tile {tile or 'none'}")
    results = {}
    for op in ("decode", "encode"):
        for side in sides:
            out = tmp / f"{side}_{op}"
            results[side, op] = run_child(*command(side, op, folder, inputs, out, repeats, tile))
            results[side, op]["out"] = np.load(str(out) + ".npy")
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=3, help="latent frames (video frames = 4(f-1)+1)")
    p.add_argument("--height", type=int, default=16, help="latent height (pixels = 8×)")
    p.add_argument("--width", type=int, default=16, help="latent width (pixels = 8×)")
    p.add_argument("--repeats", type=int, default=2, help="timed warm runs per side (best is reported)")
    p.add_argument("--tile", type=int, default=None, help="spatial tile in pixels (both sides), default untiled")
    p.add_argument("--sides", default="jax,torch")
    p.add_argument("--child", nargs=5, metavar=("SIDE", "OP", "FOLDER", "INPUTS", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, repeats=args.repeats, tile=args.tile)))
        return

    results = measure(args.frames, args.height, args.width, args.repeats, args.tile, args.sides.split(","))
    print("\n| op | side | device | time (s) | compile (s) | peak RSS, whole run (MiB) | peak RSS, warm runs (MiB) "
          "| RSS after load (MiB) | peak device (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (side, op), r in results.items():
        compile_s = r["first_s"] - r["time_s"] if side == "jax" else float("nan")
        print(f"| {op} | {side} | {r['device']} | {r['time_s']:.2f} | {compile_s:.1f} | {r['peak_mib']:.0f} | "
              f"{r['warm_peak_mib']:.0f} | {r['rss_loaded_mib']:.0f} | {r.get('peak_device', float('nan')):.0f} |")
    if {"jax", "torch"} <= set(args.sides.split(",")):
        print("\n| op | time jax/torch | peak RSS jax/torch (whole run) | peak RSS jax/torch (warm runs) "
              "| rel diff ‖jax−torch‖/‖torch‖ |")
        print("|---|---|---|---|---|")
        for op in ("decode", "encode"):
            j, t = results["jax", op], results["torch", op]
            diff = np.linalg.norm(j["out"] - t["out"]) / np.linalg.norm(t["out"])
            print(f"| {op} | {j['time_s'] / t['time_s']:.2f} | {j['peak_mib'] / t['peak_mib']:.2f} | "
                  f"{j['warm_peak_mib'] / t['warm_peak_mib']:.2f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
