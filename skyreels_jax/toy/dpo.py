"""Flow-DPO on the toy model: of two samples of the same prompt, the one that follows it better wins.

    python -m skyreels_jax.toy.dpo [--model toy] [--workdir outputs/toy_dpo] [--pairs 512] [--steps N]

1. preference pairs from the model's own samples (on-policy, as preference data for video models is
   made): two seeds per prompt (seeds the measurement below does not use); the one with the higher
   `quality` is chosen: the motion score (`motion_score`: steady motion the captioned way scores 1;
   frozen, jittering in place or going the wrong way score 0 or less) plus the shares of frames
   showing the captioned colour and the captioned shape. Pairs whose qualities differ by less
   than MIN_GAP are dropped. Both videos are encoded by the model's VAE, with the caption's embedding
   (a `PreferencePairs` tfds dataset);
2. flow-DPO from the model's DiT with the project's training loop (configs/train/toy_dpo.py);
3. the motion measures on new samples, before and after, from the pixels (`measure`).
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from skyreels_jax.toy import metrics
from skyreels_jax.toy.evaluate import GEN, prompts, samples, score
from skyreels_jax.toy.world import DIRECTIONS, caption

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "train" / "toy_dpo.py"
MIN_GAP = 0.2   # pairs whose qualities are closer carry no preference worth learning


def motion_score(video: np.ndarray, direction: str, frames: int = 9) -> float:
    """How straight the object moves the captioned way over the first `frames` frames (before a
    bounce can turn it): its displacement along the captioned direction over the length of its
    path. 1: steady motion that way; about 0: frozen or jittering in place; < 0: the wrong way."""
    present, c = metrics.track_object(video[:frames])
    if present.sum() < 2:
        return 0.0
    ends = c[present][[0, -1]]
    along = float((ends[1] - ends[0]) @ np.asarray(DIRECTIONS[direction]))
    return along / max(metrics.path_length(c), 1.0)


def quality(video: np.ndarray, colour: str, shape: str, direction: str) -> float:
    """motion_score plus the shares of frames that show the captioned colour and shape (at most 3)."""
    votes = metrics.shape_votes(video)
    shaped = votes.count(shape) / len(video)
    return motion_score(video, direction) + float(metrics.track(video, colour)[0].mean()) + shaped


def preference(a: np.ndarray, b: np.ndarray, prompt: tuple[str, str, str]) -> int | None:
    """0 if video a is preferred for prompt (colour, shape, direction), 1 if b, None when neither
    clearly is."""
    qa, qb = quality(a, *prompt), quality(b, *prompt)
    return None if abs(qa - qb) < MIN_GAP else int(qb > qa)


def sampled_pairs(pipe, n: int, seed: int = 10_000):
    """Up to n (caption, chosen video, rejected video) from two samples of each prompt."""
    out = []
    for i, prompt in enumerate(prompts(4 * n)):
        cap = caption(*prompt)
        a, b = (pipe(cap, num_frames=17, seed=seed + 2 * i + k, **GEN) for k in (0, 1))
        won = preference(a, b, prompt)
        if won is not None:
            out.append((cap, (a, b)[won], (a, b)[1 - won]))
        if len(out) == n:
            break
    return out


def preference_examples(vae, embeddings: dict, pairs):
    """(key, example) for PreferencePairs: normalised latents of chosen and rejected, caption context."""
    for i, (cap, chosen, rejected) in enumerate(pairs):
        zw, zl = (np.asarray(vae.encode(v[None].astype(np.float32) / 127.5 - 1.0))[0] for v in (chosen, rejected))
        yield f"{i:06d}", {"chosen": zw, "rejected": zl, "context": embeddings[cap], "prompt": cap, "fps": 16}


def measure(pipe, n: int, seed: int = 1000) -> dict:
    """On n prompts (evaluate.samples): the mean motion score, the fraction of videos scoring ≥ 0.8
    (steady motion the captioned way), and the adherence measures."""
    rows = []
    for video, prompt in samples(pipe, n, seed=seed):
        m = motion_score(video, prompt[2])
        rows.append(dict(motion_score=m, steady=m >= 0.8, **score(video, *prompt)))
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def run_dpo(model: Path, work: Path, pairs: int = 512, steps: int | None = None) -> Path:
    """Pairs from `model`'s samples, flow-DPO of its DiT; returns the tuned pipeline folder
    (work/pipeline, a copy of `model` with the new transformer/). Stages done in `work` are skipped."""
    from skyreels_jax.models.vae import load_vae
    from skyreels_jax.pipelines import load_pipeline
    from skyreels_jax.toy.export import export_dit
    from skyreels_jax.toy.text import all_captions, text_embeddings
    from skyreels_jax.training import data
    from skyreels_jax.training.loop import load_config, train

    pairs_dir = work / "pairs"
    if not pairs_dir.exists():
        emb = text_embeddings(model, all_captions())
        found = sampled_pairs(load_pipeline(model, cache=False), pairs)
        print(f"{len(found)} preference pairs", flush=True)
        vae = load_vae(model)
        shape = np.asarray(vae.encode(found[0][1][None].astype(np.float32) / 127.5 - 1.0)).shape[1:]
        data.build(data.PreferencePairs, pairs_dir, preference_examples(vae, emb, found), latent_shape=shape,
                   text_dim=next(iter(emb.values())).shape[1])
    overrides = {"data.dir": str(next(p.parent for p in pairs_dir.rglob("dataset_info.json"))),
                 "workdir": str(work / "dit"), "init_checkpoint": str(model / "transformer")}
    if steps:
        overrides["total_steps"] = steps
    cfg = load_config(CONFIG, overrides)
    result = train(cfg)
    tuned = work / "pipeline"
    if tuned.exists():
        shutil.rmtree(tuned)
    shutil.copytree(model, tuned)
    export_dit(result, tuned / "transformer")
    return tuned


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="toy")
    ap.add_argument("--workdir", default="outputs/toy_dpo")
    ap.add_argument("--pairs", type=int, default=512)
    ap.add_argument("--steps", type=int, default=None, help="override the config's total_steps")
    ap.add_argument("--prompts", type=int, default=144)
    args = ap.parse_args(argv)
    from skyreels_jax.hub import resolve
    from skyreels_jax.pipelines import load_pipeline

    model = resolve(args.model)
    tuned = run_dpo(model, Path(args.workdir), args.pairs, args.steps)
    print(f"| model ({args.prompts} prompts) | motion score | steady motion the captioned way | "
          "colour, shape and direction |")
    print("|---|---|---|---|")
    for name, path in (("before DPO", model), ("after DPO", tuned)):
        m = measure(load_pipeline(path, cache=False), args.prompts)
        print(f"| {name} | {m['motion_score']:.3f} | {m['steady']:.0%} | {m['all']:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
