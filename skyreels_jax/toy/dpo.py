"""Flow-DPO on the toy model (issue 10): smooth motion preferred over jittery or frozen motion.

    python -m skyreels_jax.toy.dpo [--model toy] [--workdir outputs/toy_dpo] [--steps N]

1. preference pairs from train seeds (not the held-out caption combinations): chosen = the clip as rendered (smooth motion); rejected =
   the same clip with every frame shifted by a random 1-2 px (jitter, even seeds) or its first
   frame held for all 17 (frozen, odd seeds); both encoded by the model's VAE, with the caption's
   embedding (a `PreferencePairs` tfds dataset);
2. flow-DPO from the model's DiT with the project's training loop (configs/train/toy_dpo.py);
3. the motion measures on held-out prompts, before and after, from the pixels (`motion`).
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from skyreels_jax.toy import metrics
from skyreels_jax.toy.evaluate import GEN, held_out_prompts, score
from skyreels_jax.toy.world import caption, held_out, render_clip, scene

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "train" / "toy_dpo.py"


def rejected_clip(clip: np.ndarray, seed: int) -> np.ndarray:
    """The dispreferred version of a clip: jittered (even seeds) or frozen (odd seeds)."""
    if seed % 2:
        return np.repeat(clip[:1], len(clip), axis=0)
    rng = np.random.default_rng(seed)
    out = np.empty_like(clip)
    for t, frame in enumerate(clip):
        dy, dx = rng.choice([-2, -1, 1, 2], 2)
        out[t] = np.roll(frame, (dy, dx), axis=(0, 1))
    return out


def preference_examples(vae, embeddings: dict, seeds):
    """(key, example) for PreferencePairs: normalised latents of chosen and rejected, caption context."""
    seeds = list(seeds)
    for i in range(0, len(seeds), 16):
        batch = [render_clip(s) for s in seeds[i:i + 16]]
        chosen = np.stack([b[0] for b in batch])
        rejected = np.stack([rejected_clip(b[0], s) for b, s in zip(batch, seeds[i:i + 16])])
        zw, zl = (np.asarray(vae.encode(v.astype(np.float32) / 127.5 - 1.0)) for v in (chosen, rejected))
        for s, (_, cap, _), w, l in zip(seeds[i:i + 16], batch, zw, zl):
            yield f"{s:06d}", {"chosen": w, "rejected": l, "context": embeddings[cap], "prompt": cap, "fps": 16}


def motion(video: np.ndarray, colour: str) -> dict:
    """Motion of the colour's centroid over the frames where it is present: mean speed (px/frame)
    and jitter, the mean size of its second difference (px/frame²; a rendered clip has 0 except at
    a bounce). `smooth`: it moves (speed ≥ 0.5) without jitter (≤ 0.5)."""
    present, c = metrics.track(video, colour)
    c = c[present]
    if len(c) < 3:
        return dict(speed=0.0, jitter=np.nan, smooth=False)
    speed = float(np.linalg.norm(np.diff(c, axis=0), axis=1).mean())
    jitter = float(np.linalg.norm(np.diff(c, n=2, axis=0), axis=1).mean())
    return dict(speed=speed, jitter=jitter, smooth=bool(speed >= 0.5 and jitter <= 0.5))


def measure(pipe, n: int, seed: int = 1000) -> dict:
    """Motion and adherence measures averaged over the first n held-out prompts."""
    rows = []
    for i, (colour, shape, direction) in enumerate(held_out_prompts(n)):
        video = pipe(caption(colour, shape, direction), num_frames=17, seed=seed + i, **GEN)
        rows.append({**motion(video, colour), **score(video, colour, direction)})
    return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="toy")
    ap.add_argument("--workdir", default="outputs/toy_dpo")
    ap.add_argument("--pairs", type=int, default=512)
    ap.add_argument("--steps", type=int, default=None, help="override the config's total_steps")
    ap.add_argument("--prompts", type=int, default=48)
    args = ap.parse_args(argv)
    from skyreels_jax import load_vae
    from skyreels_jax.hub import resolve
    from skyreels_jax.pipelines import load_pipeline
    from skyreels_jax.toy.build import _text_embeddings
    from skyreels_jax.toy.export import export_dit
    from skyreels_jax.toy.text import all_captions
    from skyreels_jax.training import data
    from skyreels_jax.training.loop import load_config, train

    work, model = Path(args.workdir), resolve(args.model)
    pairs_dir = work / "pairs"
    if not pairs_dir.exists():
        emb = _text_embeddings(model, all_captions())
        seeds = [s for s in range(4 * args.pairs)
                 if not held_out(*(scene(s)[k] for k in ("colour", "shape", "direction")))]
        examples = preference_examples(load_vae(model), emb, seeds[:args.pairs])
        probe = next(iter(emb.values()))
        first = render_clip(0)[0][None].astype(np.float32) / 127.5 - 1.0
        shape = np.asarray(load_vae(model).encode(first)).shape[1:]
        data.build(data.PreferencePairs, pairs_dir, examples, latent_shape=shape, text_dim=probe.shape[1])
    overrides = {"data.dir": str(next(p.parent for p in pairs_dir.rglob("dataset_info.json"))),
                 "workdir": str(work / "dit"), "init_checkpoint": str(model / "transformer")}
    if args.steps:
        overrides["total_steps"] = args.steps
    cfg = load_config(CONFIG, overrides)
    result = train(cfg)
    tuned = work / "pipeline"
    if tuned.exists():
        shutil.rmtree(tuned)
    shutil.copytree(model, tuned)
    export_dit(result, cfg, tuned / "transformer")

    print("| model | smooth motion | jitter (px/frame²) | speed (px/frame) | colour + direction |")
    print("|---|---|---|---|---|")
    for name, path in (("before DPO", model), ("after DPO", tuned)):
        m = measure(load_pipeline(path, cache=False), args.prompts)
        print(f"| {name} | {m['smooth']:.0%} | {m['jitter']:.2f} | {m['speed']:.2f} | {m['both']:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
