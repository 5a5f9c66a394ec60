"""Measure the shipped toy model from pixels; prints a markdown table (the numbers in docs/toy_model.md).

    python -m skyreels_jax.toy.evaluate [--model toy] [--prompts 24] [--long-frames 169]

- VAE: PSNR of the round trip (load_vae, JAX) on held-out test clips (seeds the training never saw).
- Prompt adherence: for held-out prompts (every colour × shape × direction, cycled, each with its
  own seed), the fraction of videos where the captioned colour is present in ≥ 90% of frames AND
  its centroid moves ≥ 2 px the captioned way over the first 9 frames; also each part alone.
- Long video: one diffusion-forcing video of `--long-frames` frames (≥ 10× the 17 training
  frames), per 16-frame chunk: fraction of frames with the colour, and the centroid's path length.
"""
from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from skyreels_jax.toy import metrics
from skyreels_jax.toy.dataset import TEST_OFFSET
from skyreels_jax.toy.world import COLOURS, DIRECTIONS, SHAPES, caption, render_clip

GEN = dict(height=32, width=32, num_steps=20, guidance_scale=3.0, base_num_frames=17, progress=False)


def vae_psnr(model: str, n: int = 16) -> float:
    from skyreels_jax import load_vae
    from skyreels_jax.hub import resolve

    vae = load_vae(resolve(model))
    clips = np.stack([render_clip(TEST_OFFSET + i)[0] for i in range(n)])
    back = np.asarray(vae.decode(vae.encode(clips.astype(np.float32) / 127.5 - 1.0)))
    return metrics.psnr(clips, ((back + 1) * 127.5).clip(0, 255).round().astype(np.uint8))


def held_out_prompts(n: int) -> list[tuple[str, str, str]]:
    combos = list(itertools.product(COLOURS, SHAPES, DIRECTIONS))
    order = np.random.default_rng(7).permutation(len(combos))
    return [combos[i] for i in order[:n]]


def adherence(pipe, n: int, seed: int = 1000) -> dict:
    present, moving, both = [], [], []
    for i, (colour, shape, direction) in enumerate(held_out_prompts(n)):
        video = pipe(caption(colour, shape, direction), num_frames=17, seed=seed + i, **GEN)
        p, c = metrics.track(video, colour)
        present.append(p.mean() >= 0.9)
        moving.append(metrics.direction_ok(c, direction))
        both.append(present[-1] and moving[-1])
    return dict(colour_present=np.mean(present), direction_ok=np.mean(moving), both=np.mean(both))


def long_video(pipe, frames: int, prompt=("red", "circle", "right"), chunk: int = 16) -> list[tuple[float, float]]:
    colour = prompt[0]
    video = pipe(caption(*prompt), num_frames=frames, seed=0, overlap_history=9, **GEN)
    p, c = metrics.track(video, colour)
    rows = []
    for s in range(0, frames - 1, chunk):
        cc = c[s:s + chunk + 1]
        cc = cc[~np.isnan(cc).any(axis=1)]
        path = float(np.linalg.norm(np.diff(cc, axis=0), axis=1).sum()) if len(cc) > 1 else 0.0
        rows.append((float(p[s:s + chunk].mean()), path))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="toy")
    ap.add_argument("--prompts", type=int, default=24)
    ap.add_argument("--long-frames", type=int, default=169)
    args = ap.parse_args(argv)
    from skyreels_jax.pipelines import load_pipeline

    t0 = time.perf_counter()
    print(f"| VAE round-trip PSNR, 16 held-out clips | {vae_psnr(args.model):.1f} dB |")
    pipe = load_pipeline(args.model)
    a = adherence(pipe, args.prompts)
    print(f"| held-out prompts ({args.prompts}): colour present in ≥90% of frames | {a['colour_present']:.0%} |")
    print(f"| held-out prompts: moves the captioned way (first 9 frames) | {a['direction_ok']:.0%} |")
    print(f"| held-out prompts: both | {a['both']:.0%} |")
    rows = long_video(pipe, args.long_frames)
    print("\nlong video, per 16-frame chunk: fraction of frames with the colour / centroid path (px)")
    print(" ".join(f"{p:.2f}/{d:.0f}" for p, d in rows))
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
