"""Measure the shipped toy model from pixels; prints a markdown table (the numbers in docs/toy_model.md).

    python -m skyreels_jax.toy.evaluate [--model toy] [--prompts 144] [--split all] [--image-prompts 16]
                                        [--long-frames 169]

- VAE: PSNR of the round trip (load_vae, JAX) on held-out test clips (seeds the training never saw),
  and the adherence measures below on those round trips (what a perfect DiT could score).
- Prompt adherence: for n prompts cycling over the 72 captions in a fixed shuffled order, each
  sampled with its own seed (new videos: the training saw each caption with other clips), the
  fraction of videos where the captioned colour is present in ≥ 90% of frames AND most frames
  show the captioned shape (metrics.shape_of) AND its centroid moves ≥ 2 px the captioned way
  over the first 9 frames; also each part alone. `--split
  held-out seen` measures a model built with `build --hold-out` on the 12 caption combinations it
  never saw (world.held_out) and on the other 60.
- Start image: the first frame of a held-out clip as the start image (image-to-video through
  diffusion forcing); PSNR of the generated first frame against it, and adherence as above.
- Long video: diffusion-forcing videos of `--long-frames` frames (≥ 10× the 17 training frames)
  for three prompts; per 16-frame chunk: fraction of frames with an object, fraction with the
  captioned colour, and the object's path length (the world's shapes move 0.8–1.4 px a frame:
  13–22 px a chunk).
"""
from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from skyreels_jax.toy import metrics
from skyreels_jax.toy.dataset import TEST_OFFSET
from skyreels_jax.toy.world import COLOURS, DIRECTIONS, SHAPES, caption, held_out, render_clip

GEN = dict(height=32, width=32, num_steps=20, guidance_scale=3.0, base_num_frames=17, progress=False)


def vae_round_trip(model: str, n: int = 24) -> dict:
    """PSNR of held-out clips through the VAE, and the adherence measures on the round trip (the
    ceiling a perfect DiT could reach with this VAE; the rendered clips themselves score 100%)."""
    from skyreels_jax.hub import resolve
    from skyreels_jax.models.vae import load_vae

    vae = load_vae(resolve(model))
    rendered = [render_clip(TEST_OFFSET + i) for i in range(n)]
    clips = np.stack([r[0] for r in rendered])
    back = np.asarray(vae.decode(vae.encode(clips.astype(np.float32) / 127.5 - 1.0)))
    back = ((back + 1) * 127.5).clip(0, 255).round().astype(np.uint8)
    scores = [score(v, *(r[2][k] for k in ("colour", "shape", "direction"))) for v, r in zip(back, rendered)]
    return dict(psnr=metrics.psnr(clips, back), **{k: np.mean([s[k] for s in scores]) for k in scores[0]})


def score(video: np.ndarray, colour: str, shape: str, direction: str) -> dict:
    """The adherence measures of one 17-frame video; "all" is the adherence measure: the captioned colour and
    shape, moving the captioned way."""
    p, c = metrics.track(video, colour)
    present, moving = bool(p.mean() >= 0.9), metrics.direction_ok(c, direction)
    shaped = metrics.shape_of(video) == shape
    return dict(colour_present=present, shape_ok=shaped, direction_ok=moving, all=present and shaped and moving)


SPLITS = ("all", "held-out", "seen")


def prompts(n: int, split: str = "all") -> list[tuple[str, str, str]]:
    """n (colour, shape, direction) cycling in a fixed shuffled order over the 72 combinations
    (split "all"), the 12 of world.held_out ("held-out") or the other 60 ("seen")."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    combos = [c for c in itertools.product(COLOURS, SHAPES, DIRECTIONS)
              if split == "all" or held_out(*c) == (split == "held-out")]
    order = np.random.default_rng(7).permutation(len(combos))
    return [combos[order[i % len(combos)]] for i in range(n)]


def samples(pipe, n: int, split: str = "all", seed: int = 1000, **gen):
    """(video, (colour, shape, direction)) for n prompts of `split`, prompt i sampled with seed + i."""
    for i, prompt in enumerate(prompts(n, split)):
        yield pipe(caption(*prompt), num_frames=17, seed=seed + i, **{**GEN, **gen}), prompt


def adherence(pipe, n: int, split: str = "all", seed: int = 1000, **gen) -> dict:
    """Fractions of n prompts of `split` (see `samples`) that pass each measure."""
    scores = [score(video, *prompt) for video, prompt in samples(pipe, n, split, seed, **gen)]
    return {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}


def image_to_video(pipe, n: int, seed: int = 2000, **gen) -> dict:
    """Start-image generation (diffusion forcing with the image as a clean first latent frame): for
    the first frames of n held-out clips, the mean PSNR of the generated first frame against the
    image, and the adherence measures of the clip's caption."""
    psnrs, scores = [], []
    for i in range(n):
        clip, cap, s = render_clip(TEST_OFFSET + 100 + i)
        video = pipe(cap, image=clip[0], num_frames=17, seed=seed + i, **{**GEN, **gen})
        psnrs.append(metrics.psnr(video[0], clip[0]))
        scores.append(score(video, s["colour"], s["shape"], s["direction"]))
    return dict(first_frame_psnr=float(np.mean(psnrs)), **{k: float(np.mean([x[k] for x in scores]))
                                                            for k in scores[0]})


LONG_PROMPTS = (("red", "circle", "right"), ("cyan", "square", "up"), ("yellow", "triangle", "left"),
                ("green", "circle", "down"), ("blue", "triangle", "right"))


def long_video(pipe, frames: int, prompt=LONG_PROMPTS[0], chunk: int = 16, seed: int = 0,
               overlap_mode: str = "pixel", **gen) -> list[dict]:
    """One diffusion-forcing video (windows of 17 frames, 9 of history; "pixel" overlap re-encodes
    the history, so each window starts as the training clips did); per chunk of frames: the
    fraction of frames showing an object (a bright blob, any colour), the fraction showing the
    captioned colour, and the path length in px of the object's centroid."""
    video = pipe(caption(*prompt), num_frames=frames, seed=seed, overlap_history=9, overlap_mode=overlap_mode,
                 **{**GEN, **gen})
    return chunk_rows(video, prompt[0], chunk)


def chunk_rows(video: np.ndarray, colour: str, chunk: int = 16) -> list[dict]:
    """The long-video measures of `video`, one row per chunk of frames (see long_video)."""
    has_colour, _ = metrics.track(video, colour)
    has_object, c = metrics.track_object(video)
    return [dict(object=float(has_object[s:s + chunk].mean()), colour=float(has_colour[s:s + chunk].mean()),
                 path=metrics.path_length(c[s:s + chunk + 1])) for s in range(0, len(video) - 1, chunk)]


MEASURES = ("colour present in ≥90% of frames / shape / moves the captioned way (first 9 frames) / "
            "all three")


def _fractions(d: dict) -> str:
    return " / ".join(f"{d[k]:.0%}" for k in ("colour_present", "shape_ok", "direction_ok", "all"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="toy")
    ap.add_argument("--prompts", type=int, default=144)
    ap.add_argument("--split", nargs="+", choices=SPLITS, default=["all"])
    ap.add_argument("--image-prompts", type=int, default=16)
    ap.add_argument("--long-frames", type=int, default=169)
    args = ap.parse_args(argv)
    from skyreels_jax.pipelines import load_pipeline

    t0 = time.perf_counter()
    v = vae_round_trip(args.model)
    print(f"| VAE round trip, 24 held-out clips: PSNR | {v['psnr']:.1f} dB |")
    print(f"| VAE round trip: {MEASURES} | {_fractions(v)} |")
    pipe = load_pipeline(args.model)
    for split in args.split:
        print(f"| prompts ({split}, {args.prompts}): {MEASURES} | {_fractions(adherence(pipe, args.prompts, split))} |")
    i2v = image_to_video(pipe, args.image_prompts)
    print(f"| start image ({args.image_prompts} held-out first frames): PSNR of the first frame | "
          f"{i2v['first_frame_psnr']:.1f} dB |")
    print(f"| start image: {MEASURES} | {_fractions(i2v)} |")
    print(f"\nlong videos ({args.long_frames} frames), per 16-frame chunk: fraction of frames with an object / "
          "with the captioned colour / the object's path (px)")
    for mode, prompt in itertools.product(("pixel", "latent"), LONG_PROMPTS):
        rows = long_video(pipe, args.long_frames, prompt, overlap_mode=mode)
        print(f"{mode} overlap, {' '.join(prompt)}: "
              + " ".join(f"{r['object']:.2f}/{r['colour']:.2f}/{r['path']:.0f}" for r in rows))
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
