"""Precompute the training dataset: video-text pairs -> VAE latents and text embeddings.

The inputs (a folder of mp4 files with captions, or a VideoTextPairs dataset; training/videos.py)
are cut into shards of `shard_size` inputs. Shard s belongs to process s mod process_count
(every process agrees without talking). A shard is encoded in batches and written as a folder
of one .npz per example plus bad.json: first under a temporary name, then renamed, so a shard
folder exists only when it is complete and a rerun skips it. When every shard is there,
`assemble` writes the LatentTextPairs tfds dataset that `skyreels-jax train` reads.

Each example holds the normalised latents, the text-encoder output trimmed to the prompt's
true token count, the caption and fps; with an image encoder (image-to-video) also the
condition latents (the first frame followed by zeros, VAE-encoded as one video) and the
first frame's CLIP features.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np

from skyreels_jax.training import data

SHARDS = "shards"


@dataclasses.dataclass
class Encoders:
    """The frozen encoders: a VAE, a text encoder and (image-to-video) a CLIP image encoder."""

    vae: object
    text: object
    image: object | None = None

    @classmethod
    def load(cls, model=None, *, vae=None, text_encoder=None, image_encoder=None, i2v: bool = False) -> "Encoders":
        """From a model folder (its vae, text encoder and image encoder), or from component paths."""
        from skyreels_jax.models.clip import load_image_encoder
        from skyreels_jax.models.umt5 import load_text_encoder
        from skyreels_jax.models.vae import load_vae

        if model is not None:
            from skyreels_jax.hub import resolve
            from skyreels_jax.models.components import find_components

            found = find_components(resolve(model))  # a folder, a Hub id or an embedded model's name
            vae, text_encoder = vae or found.get("vae"), text_encoder or found.get("text_encoder")
            image_encoder = image_encoder or found.get("image_encoder")
        if vae is None or text_encoder is None:
            raise ValueError("give a model folder, or both a VAE and a text encoder")
        if i2v and image_encoder is None:
            raise ValueError("image-to-video preprocessing needs an image encoder "
                             "(an I2V model folder or a CLIP folder)")
        return cls(load_vae(vae, parts=("encoder",)), load_text_encoder(text_encoder),  # preprocessing only encodes
                   load_image_encoder(image_encoder) if i2v else None)


def encode_batch(enc: Encoders, examples: list[dict], batch_size: int) -> list[dict]:
    """Encode good examples ({"video" uint8 [F,H,W,3], "caption", "fps"}) in one batch of batch_size
    (the last one padded by repetition, so every batch has one compiled shape)."""
    from skyreels_jax.media import to_unit_range

    n = len(examples)
    padded = examples + [examples[-1]] * (batch_size - n)
    video = to_unit_range(np.stack([e["video"] for e in padded]))
    captions = [e["caption"] for e in padded]
    latents = np.asarray(enc.vae.encode(video))
    _, mask = enc.text.tokenize(captions)
    context = np.asarray(enc.text.encode(captions))
    out = [{"latents": latents[i], "context": context[i, :max(int(mask[i].sum()), 1)],
            "caption": examples[i]["caption"], "fps": int(examples[i]["fps"])} for i in range(n)]
    if enc.image is not None:
        cond = np.zeros_like(video)
        cond[:, 0] = video[:, 0]
        cond_latents = np.asarray(enc.vae.encode(cond))
        features = np.asarray(enc.image.encode([e["video"][0] for e in padded]))
        for i, ex in enumerate(out):
            ex["cond_latents"], ex["image_context"] = cond_latents[i], features[i]
    return out


def _problem(ex, size) -> str | None:
    if isinstance(ex, Exception):
        return str(ex)
    shape = np.shape(ex["video"])
    if np.asarray(ex["video"]).dtype != np.uint8 or shape != (*size, 3):
        return f"video is {np.asarray(ex['video']).dtype} {shape}, expected uint8 {(*size, 3)}"
    if ex.get("caption") is None:
        return "no caption"
    return None


def _write_shard(clips, indices, final: Path, enc: Encoders, batch_size: int, on_bad: str, size):
    tmp = final.with_name(f".{final.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    bad, good = [], []

    def flush():
        for key, ex in zip([k for k, _ in good], encode_batch(enc, [e for _, e in good], batch_size)):
            np.savez(tmp / f"{key}.npz", **ex)
        good.clear()

    for i in indices:
        key, ex = clips[i]
        problem = _problem(ex, size)
        if problem is not None:
            if on_bad == "raise":
                shutil.rmtree(tmp, ignore_errors=True)
                raise ValueError(f"bad input {key!r}: {problem} (use --on-bad skip to skip and count it)")
            bad.append([key, problem])
            continue
        good.append((key, ex))
        if len(good) == batch_size:
            flush()
    if good:
        flush()
    (tmp / "bad.json").write_text(json.dumps(bad, ensure_ascii=False))
    os.replace(tmp, final)      # the shard appears whole or not at all
    return len(indices) - len(bad), len(bad)


def _check_manifest(out: Path, settings: dict):
    from skyreels_jax.media import write_json

    path = out / "preprocess.json"
    if path.exists():
        old = json.loads(path.read_text())
        if old != settings:
            raise ValueError(f"{out} was preprocessed with other settings ({old}); use a new --out or the same "
                             f"settings ({settings})")
    else:
        write_json(path, settings)


def encode_shards(clips, enc: Encoders, out: str | Path, *, batch_size: int = 1, shard_size: int = 64,
                  on_bad: str = "raise", process_index: int = 0, process_count: int = 1, log=print) -> dict:
    """Encode this process's unfinished shards. Returns counts: shards done/skipped, examples, bad."""
    from skyreels_jax.parallel.batch import group_share

    if on_bad not in ("raise", "skip"):
        raise ValueError(f"on_bad must be 'raise' or 'skip', got {on_bad!r}")
    out = Path(out)
    size = tuple(clips.size)
    n_shards = math.ceil(len(clips) / shard_size)
    _check_manifest(out, {"inputs": len(clips), "shard_size": shard_size, "shards": n_shards, "size": list(size),
                          "image_encoder": enc.image is not None})
    mine, _ = group_share(list(range(n_shards)), process_index, process_count)
    stats = dict(encoded=0, skipped=0, examples=0, bad=0)
    for s in mine:
        final = out / SHARDS / f"{s:05d}"
        if final.exists():
            stats["skipped"] += 1
            continue
        n_good, n_bad = _write_shard(clips, range(s * shard_size, min((s + 1) * shard_size, len(clips))), final,
                                     enc, batch_size, on_bad, size)
        stats["encoded"] += 1
        stats["examples"] += n_good
        stats["bad"] += n_bad
        log(f"shard {s + 1}/{n_shards}: {n_good} example(s), {n_bad} bad")
    return stats


def missing_shards(out: str | Path) -> list[int]:
    out = Path(out)
    n = json.loads((out / "preprocess.json").read_text())["shards"]
    return [s for s in range(n) if not (out / SHARDS / f"{s:05d}").is_dir()]


def _examples(shard_dirs):
    for d in shard_dirs:
        yield from data.npz_examples(d)
        for key, reason in json.loads((d / "bad.json").read_text()):
            yield key, ValueError(reason)


def assemble(out: str | Path, *, on_bad: str = "raise") -> data.LatentTextPairs:
    """Write the LatentTextPairs dataset (OUT/dataset) from the finished shards; bad inputs recorded in
    the shards are counted again in the builder's `.bad` (or raise, with on_bad="raise")."""
    out = Path(out)
    missing = missing_shards(out)
    if missing:
        raise FileNotFoundError(f"{len(missing)} shard(s) of {out} are not encoded yet (e.g. {missing[:3]}): "
                                "run the preprocessing on every process first")
    shard_dirs = sorted((out / SHARDS).glob("[0-9]*"))
    info = next((out / "dataset").rglob("dataset_info.json"), None) if (out / "dataset").exists() else None
    if info is not None and max(d.stat().st_mtime for d in shard_dirs) > info.stat().st_mtime:
        shutil.rmtree(out / "dataset")          # a shard was re-encoded after the dataset was written
    first = next((p for d in shard_dirs for p in sorted(d.glob("*.npz"))), None)
    if first is None:
        raise ValueError(f"no input of {out} could be encoded (see the bad.json files under {out / SHARDS})")
    with np.load(first) as f:
        latent_shape, text_dim = f["latents"].shape, f["context"].shape[1]
        image_dim = f["image_context"].shape[1] if "image_context" in f.files else None
    return data.build(data.LatentTextPairs, out / "dataset", _examples(shard_dirs), latent_shape=latent_shape,
                      text_dim=text_dim, image_dim=image_dim, on_bad=on_bad)
