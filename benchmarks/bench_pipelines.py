"""Tiny full pipelines, skyreels_jax against diffusers (torch CPU), each side in its own process.

    python -m benchmarks.bench_pipelines [--rows t2v df] [--repeats 2]

- t2v: text-to-video with CFG (prompt and negative prompt), 4 steps, 17 frames at 128×128, the
  same initial noise on both sides (the videos are compared as a check);
- df: a diffusion-forcing long video of 3 windows (41 frames, windows of 17 with an overlap of 5),
  4 steps with CFG, 64×64, history kept as latents on both sides.

The models are the tests' tiny random pipelines (tests/pipeline_fixtures.py: 2-layer DiT,
2-layer UMT5, small VAE), so these rows measure the whole pipeline's overheads as much as its
arithmetic: text encoding, the denoising loop, the VAE decode. Each time is a whole pipe(...)
call, the best of --repeats after a first call (which compiles, for jax).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import run_child, timed, torch_threads

ROWS = {  # name: (fixture, call arguments shared by both sides)
    "t2v": ("t2v", dict(num_frames=17, height=128, width=128, steps=4)),
    "df": ("df", dict(num_frames=41, height=64, width=64, steps=4, base_num_frames=17, overlap_history=5)),
}
PROMPT = dict(prompt="a red circle moves left", negative_prompt="blurry", guidance_scale=5.0)


def build(row: str, root: Path) -> Path:
    """Save the row's tiny diffusers pipeline (torch, random weights) and its initial noise."""
    from tests.pipeline_fixtures import Z, build_df_pipeline, build_pipeline

    fixture, kw = ROWS[row]
    folder = build_df_pipeline(root)[0] if fixture == "df" else build_pipeline(fixture, root)[0]
    shape = (1, (kw["num_frames"] - 1) // 4 + 1, kw["height"] // 8, kw["width"] // 8, Z)
    np.save(root / "noise.npy", np.random.default_rng(0).standard_normal(shape, dtype=np.float32))
    return folder


def run_ours(row: str, folder: str, noise: str, out: str, repeats: int, teacache: float | None = None) -> dict:
    os.environ.setdefault("SKYREELS_JAX_CACHE", tempfile.mkdtemp())
    from skyreels_jax.pipelines import load_pipeline

    kw = dict(ROWS[row][1])
    steps = kw.pop("steps")
    pipe = load_pipeline(folder)
    extra = {} if teacache is None else dict(teacache_threshold=teacache)
    latents = np.load(noise) if row == "t2v" else None
    result, video = timed(lambda: pipe(**PROMPT, **kw, **extra, num_steps=steps, shift=8.0, latents=latents,
                                       progress=False), repeats)
    np.save(out, video)
    return dict(result, **pipe.stats)


def run_reference(row: str, folder: str, noise: str, out: str, repeats: int) -> dict:
    import torch
    from diffusers import DiffusionPipeline

    from tests.pipeline_fixtures import OriginalSigmasEverywhere

    torch_threads()
    kw = dict(ROWS[row][1])
    steps = kw.pop("steps")
    pipe = DiffusionPipeline.from_pretrained(folder)
    extra = dict(latents=torch.from_numpy(np.load(noise)).permute(0, 4, 1, 2, 3)) if row == "t2v" else {}

    def call():
        with OriginalSigmasEverywhere(), torch.no_grad():
            frames = pipe(**PROMPT, **kw, **extra, num_inference_steps=steps, max_sequence_length=512,
                          output_type="np", generator=torch.Generator().manual_seed(0)).frames[0]
        return (np.clip(frames, 0, 1) * 255).astype(np.uint8)

    result, video = timed(call, repeats)
    np.save(out, video)
    return result


def compare(row: str, workdir: Path, repeats: int = 2) -> dict:
    """{"ours": record, "reference": record, "ours_cached": record, "mean_abs_255": frame difference (t2v)}.

    ours_cached is a second run of ours with a persistent compilation cache that a first run filled
    (SKYREELS_JAX_CACHE_DIR): what a process pays once the programs have been compiled on the machine."""
    folder = build(row, workdir)
    args = [row, folder, workdir / "noise.npy"]
    records = {side: run_child("benchmarks.bench_pipelines", "--side", side, *args, workdir / f"{side}.npy",
                               "--repeats", repeats) for side in ("reference", "ours")}
    cache = dict(SKYREELS_JAX_CACHE_DIR=str(workdir / "xla_cache"), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    for _ in range(2):
        records["ours_cached"] = run_child("benchmarks.bench_pipelines", "--side", "ours", *args,
                                           workdir / "ours_cached.npy", "--repeats", repeats, env=cache)
    if row == "t2v":  # the same initial noise on both sides (the DF row's noise is each side's own)
        ours, ref = (np.load(workdir / f"{s}.npy").astype(np.int64) for s in ("ours", "reference"))
        records["mean_abs_255"] = float(np.abs(ours - ref).mean())
    return records


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", nargs="+", default=sorted(ROWS), choices=sorted(ROWS))
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--side", choices=["ours", "reference"])
    p.add_argument("--teacache", type=float)
    p.add_argument("args", nargs="*")
    a = p.parse_args()
    if a.side:
        row, folder, noise, out = a.args
        extra = {} if a.teacache is None else dict(teacache=a.teacache)
        fn = run_ours if a.side == "ours" else run_reference
        print(json.dumps(fn(row, folder, noise, out, a.repeats, **extra)))
        return
    print("| row | diffusers (s) | skyreels_jax (s) | ratio | compile+first (s) | peak RSS diffusers / ours (MiB) |")
    print("|---|---|---|---|---|---|")
    for row in a.rows:
        with tempfile.TemporaryDirectory() as tmp:
            r = compare(row, Path(tmp), a.repeats)
        ref, ours = r["reference"], r["ours"]
        print(f"| {row} | {ref['time_s']:.2f} | {ours['time_s']:.2f} | {ours['time_s'] / ref['time_s']:.2f} | "
              f"{ours['first_s']:.1f} | {ref['peak_mib']:.0f} / {ours['peak_mib']:.0f} |")


if __name__ == "__main__":
    main()
