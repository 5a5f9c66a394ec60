"""One real-size DiT forward, skyreels_jax against diffusers, each side in its own process.

    .venv/bin/python -m benchmarks.dit_forward [--config DF-1.3B-540P] [--frames 5 --height 30 --width 52]

Builds the diffusers model with its default random init (seed 0), saves it once as a
diffusers folder, then runs one forward on each side on the same inputs, in separate
processes so that each peak RSS is its own. Prints a table (time, peak memory, ratio) and
the relative error. Needs the test extra (torch, diffusers).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_inputs(cfg, frames: int, height: int, width: int, seed: int = 0) -> dict:
    """Inputs for a DiTConfig `cfg`: per-frame timesteps, 512 text tokens, CLIP tokens and fps if needed."""
    rng = np.random.default_rng(seed)
    inputs = dict(latents=rng.standard_normal((1, frames, height, width, cfg.in_dim), dtype=np.float32),
                  timestep=np.linspace(999, 600, frames, dtype=np.float32)[None],
                  context=0.1 * rng.standard_normal((1, 512, 4096), dtype=np.float32))
    if cfg.image_dim:
        inputs["image_context"] = rng.standard_normal((1, cfg.image_pos_len or 257, cfg.image_dim), dtype=np.float32)
    if cfg.inject_sample_info:
        inputs["fps"] = [24]
    return inputs


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_reference(args) -> dict:
    import torch
    from diffusers import SkyReelsV2Transformer3DModel

    from configs.models import get_config
    from skyreels_jax import DiTConfig
    from tests.dit_fixtures import diffusers_kwargs

    torch.set_num_threads(os.cpu_count())
    cfg = DiTConfig(**get_config(args.config).dit)
    torch.manual_seed(0)
    model = SkyReelsV2Transformer3DModel(**diffusers_kwargs(cfg)).eval()
    if not (Path(args.folder) / "config.json").exists():
        model.save_pretrained(args.folder, safe_serialization=True)
    inputs = make_inputs(cfg, args.frames, args.height, args.width)
    kwargs = dict(fps=[1] * len(inputs["fps"])) if "fps" in inputs else {}
    if "image_context" in inputs:
        kwargs["encoder_hidden_states_image"] = torch.from_numpy(inputs["image_context"])
    start = time.perf_counter()
    with torch.no_grad():
        out = model(torch.from_numpy(inputs["latents"]).permute(0, 4, 1, 2, 3), torch.from_numpy(inputs["timestep"]),
                    torch.from_numpy(inputs["context"]), enable_diffusion_forcing=True, return_dict=False, **kwargs)[0]
    seconds = time.perf_counter() - start
    np.save(args.out, out.permute(0, 2, 3, 4, 1).numpy())
    return dict(forward_s=seconds, peak_rss_gib=peak_rss_gib())


def run_ours(args) -> dict:
    from configs.models import get_config
    from skyreels_jax import DiTConfig, load_transformer

    cfg = DiTConfig(**get_config(args.config).dit)
    start = time.perf_counter()
    dit = load_transformer(args.folder)
    load_s = time.perf_counter() - start
    inputs = make_inputs(cfg, args.frames, args.height, args.width)
    start = time.perf_counter()
    np.asarray(dit(**inputs))
    first_s = time.perf_counter() - start  # compile + run
    start = time.perf_counter()
    out = np.asarray(dit(**inputs))
    warm_s = time.perf_counter() - start
    np.save(args.out, out)
    return dict(load_s=load_s, first_call_s=first_s, forward_s=warm_s, peak_rss_gib=peak_rss_gib())


def compare(config: str, frames: int, height: int, width: int, workdir: Path) -> dict:
    """Run both sides in subprocesses; return their records and the relative error."""
    records = {}
    for side in ("reference", "ours"):
        cmd = [sys.executable, "-m", "benchmarks.dit_forward", "--side", side, "--config", config,
               "--frames", str(frames), "--height", str(height), "--width", str(width),
               "--folder", str(workdir / "model"), "--out", str(workdir / f"{side}.npy")]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode:
            raise RuntimeError(f"{side} failed:\n{result.stderr[-3000:]}")
        records[side] = json.loads(result.stdout.strip().splitlines()[-1])
    ours, ref = (np.load(workdir / f"{s}.npy").astype(np.float64) for s in ("ours", "reference"))
    records["rel_err"] = float(np.linalg.norm(ours - ref) / np.linalg.norm(ref))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", choices=["reference", "ours"])
    parser.add_argument("--config", default="DF-1.3B-540P")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--height", type=int, default=30)
    parser.add_argument("--width", type=int, default=52)
    parser.add_argument("--folder")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.side:
        print(json.dumps((run_reference if args.side == "reference" else run_ours)(args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        r = compare(args.config, args.frames, args.height, args.width, Path(tmp))
    ref, ours = r["reference"], r["ours"]
    print(f"{args.config}, latent {args.frames}×{args.height}×{args.width}, float32, {os.cpu_count()} cores")
    print("| | diffusers (torch CPU) | skyreels_jax | ratio |\n|---|---|---|---|")
    print(f"| forward (warm) | {ref['forward_s']:.1f} s | {ours['forward_s']:.1f} s | {ours['forward_s'] / ref['forward_s']:.2f} |")
    print(f"| peak RSS | {ref['peak_rss_gib']:.1f} GiB | {ours['peak_rss_gib']:.1f} GiB | {ours['peak_rss_gib'] / ref['peak_rss_gib']:.2f} |")
    print(f"| load; first call (compile + run) | – | {ours['load_s']:.1f} s; {ours['first_call_s']:.1f} s | |")
    print(f"relative error ‖ours−ref‖/‖ref‖ = {r['rel_err']:.2e}")


if __name__ == "__main__":
    main()
