"""Step caching (TeaCache-style) on the tiny text-to-video pipeline: speed-up and change in output.

    python -m benchmarks.bench_teacache [--steps 30] [--thresholds 0 0.5 1 1.5] [--repeats 2]

One process, skyreels_jax only (diffusers has no step caching for these pipelines): the tests'
tiny random T2V pipeline, 33 frames at 128×128, CFG, the same noise for every setting, with the
tiny DiT (2 layers, width 32) and with a wider one (8 layers, width 256) whose block stack is most
of a step, as in the real models (30-40 layers, width 1536-5120). For each
threshold: steps that skipped the block stack, the denoising loop's time and the whole call's
(best of --repeats, warm), the speed-up against no caching, and the PSNR of the uint8 video
against the uncached one.
"""
from __future__ import annotations

import argparse
import importlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

FRAMES, SIZE = 33, 128


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


DITS = {"tiny": {}, "wider": dict(num_attention_heads=4, attention_head_dim=64, ffn_dim=1024, num_layers=8)}


def report(repeats: int = 2, steps: int = 30, thresholds=(0.0, 0.5, 1.0, 1.5), dit: str = "tiny") -> str:
    os.environ.setdefault("SKYREELS_JAX_CACHE", tempfile.mkdtemp())
    from skyreels_jax.pipelines import load_pipeline, sampling
    from tests.pipeline_fixtures import Z, build_pipeline

    folder = build_pipeline("t2v", Path(tempfile.mkdtemp()), dit=DITS[dit])[0]
    pipe = load_pipeline(folder)
    noise = np.random.default_rng(0).standard_normal((1, (FRAMES - 1) // 4 + 1, SIZE // 8, SIZE // 8, Z),
                                                     dtype=np.float32)
    loop_s = []
    denoise = sampling.denoise

    def timed_denoise(*args, **kw):  # the denoising loop alone, inside the pipeline call
        start = time.perf_counter()
        out = np.asarray(denoise(*args, **kw))
        loop_s.append(time.perf_counter() - start)
        return out

    pipeline_module = importlib.import_module("skyreels_jax.pipelines.pipeline")
    pipeline_module.denoise = timed_denoise
    settings = (None, *thresholds)
    def call(threshold):
        return pipe("a red circle moves left", negative_prompt="blurry", num_frames=FRAMES,
                                      height=SIZE, width=SIZE, num_steps=steps, guidance_scale=5.0, shift=8.0,
                                      latents=noise, progress=False,
                                      **({} if threshold is None else dict(teacache_threshold=threshold)))
    whole, loops = {t: [] for t in settings}, {t: [] for t in settings}
    videos, skipped = {}, {}
    try:
        for threshold in settings:
            call(threshold)  # compile
        for _ in range(repeats):  # round robin, so that a busy spell of the machine hits every setting
            for threshold in settings:
                loop_s.clear()
                start = time.perf_counter()
                videos[threshold] = call(threshold)
                whole[threshold].append(time.perf_counter() - start)
                loops[threshold].append(loop_s[-1])
                skipped[threshold] = pipe.stats.get("teacache_skipped", 0)
    finally:
        pipeline_module.denoise = denoise
    lines = [f"Step caching, tiny T2V pipeline with the {dit} DiT {DITS[dit] or ''} ({FRAMES}×{SIZE}×{SIZE}, "
             f"{steps} steps, CFG):", "",
             "| threshold | steps skipped | denoising loop (s) | loop speed-up | whole call (s) | call speed-up "
             "| PSNR vs uncached (dB) |", "|---|---|---|---|---|---|---|"]
    loop0, whole0 = min(loops[None]), min(whole[None])
    for t in settings:
        loop, call_s = min(loops[t]), min(whole[t])
        lines.append(f"| {'off' if t is None else t} | {skipped[t]} / {steps} | {loop:.2f} | {loop0 / loop:.2f}× | "
                     f"{call_s:.2f} | {whole0 / call_s:.2f}× | {psnr(videos[t], videos[None]):.1f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--thresholds", type=float, nargs="+", default=[0.0, 0.5, 1.0, 1.5])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--dit", nargs="+", default=sorted(DITS), choices=sorted(DITS))
    a = p.parse_args()
    for dit in a.dit:
        print(report(a.repeats, a.steps, a.thresholds, dit) + "\n")


if __name__ == "__main__":
    main()
