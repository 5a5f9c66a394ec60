"""load_text_encoder / load_image_encoder: published UMT5 and CLIP checkpoints to Flax, both layouts.

Like the DiT loader: an abstract model first (nnx.eval_shape), then every parameter is
filled from the source one tensor at a time (stacking the per-layer tensors of the scanned
blocks), in the requested dtype. Missing, unexpected and misshapen keys raise
CheckpointError naming the key.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable

import jax.numpy as jnp
from flax import nnx

from skyreels_jax.checkpoints import clip_keys, umt5_keys
from skyreels_jax.checkpoints.fill import check_key_sets, fill_state
from skyreels_jax.checkpoints.pth_file import PthFile
from skyreels_jax.checkpoints.safetensors_folder import SafetensorsFolder
from skyreels_jax.models.clip import CLIPVision
from skyreels_jax.models.umt5 import UMT5Config, UMT5Encoder
from skyreels_jax.text import TextEncoder, load_tokenizer
from skyreels_jax.vision import ImageEncoder, Preprocess, preprocess_from_config

T5_PTH = "models_t5_umt5-xxl-enc-bf16.pth"
T5_TOKENIZER = Path("google") / "umt5-xxl"
CLIP_PTH = "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth"
_TOKENIZER_FILES = ("tokenizer.json", "spiece.model")


def fill(model_fn: Callable[[], nnx.Module], source, layout: str, plan_fn, ignored_fn, where, mesh=None):
    """Build model_fn() abstractly, check the key set, and fill every parameter from source.

    plan_fn(path, present) gives [(key, to_ours)], one per stacked layer for the blocks.
    """
    graphdef, state = nnx.split(nnx.eval_shape(model_fn))
    present = set(source.keys())
    plans = {path: plan_fn(path, present) for path, _ in nnx.to_flat_state(state)}
    expected = {key for entries in plans.values() for key, _ in entries}
    check_key_sets(expected, {k for k in present if k in expected or not ignored_fn(k)},
                   f"{where} does not match the model built from its config ({layout} layout).")
    fill_state(state, plans, source, where, mesh)
    return nnx.merge(graphdef, state)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / name).exists() for name in _TOKENIZER_FILES)


def find_text_encoder(path) -> tuple[str, Path, Path]:
    """(layout, weights, tokenizer folder) for any of the accepted text-encoder paths (see API.md)."""
    path = Path(path)
    if path.is_file() and path.suffix == ".pth":
        return "original", path, path.parent / T5_TOKENIZER
    if not path.is_dir():
        raise FileNotFoundError(f"{path} does not exist")
    if (path / T5_PTH).exists():
        return "original", path / T5_PTH, path / T5_TOKENIZER
    if (path / "text_encoder" / "config.json").exists():
        return "diffusers", path / "text_encoder", path / "tokenizer"
    if (path / "config.json").exists():
        tokenizer = path if _has_tokenizer(path) else path.parent / "tokenizer"
        return "diffusers", path, tokenizer
    raise FileNotFoundError(f"{path} holds no text encoder: expected {T5_PTH} (+ {T5_TOKENIZER}/), a pipeline "
                            "folder with text_encoder/ and tokenizer/, or a transformers UMT5 folder")


def load_text_encoder(path, dtype=jnp.float32, *, param_dtype=None, tokenizer=None, mesh=None,
                      **overrides) -> TextEncoder:
    """A UMT5 TextEncoder from a local folder in the original or the diffusers layout.

    dtype is the compute dtype and, unless param_dtype is given, the parameter dtype (use
    jnp.bfloat16 for umt5-xxl: about 11 GB instead of 23). tokenizer overrides the tokenizer folder.
    Other keyword arguments override UMT5Config fields that do not change the weights
    (attention, max_length). Prompts are padded to 512 tokens, or to the tokenizer's
    `model_max_length` when that is smaller (a small model trained on short contexts, such as
    the embedded toy model, says so in its tokenizer_config.json). With a `mesh` the parameters
    go straight onto their shards. Free it with `TextEncoder.close()`.
    """
    layout, weights, tokenizer_dir = find_text_encoder(path)
    tokenizer_dir = Path(tokenizer) if tokenizer is not None else tokenizer_dir
    tok = load_tokenizer(tokenizer_dir)
    if "max_length" not in overrides and 0 < getattr(tok, "model_max_length", 512) < UMT5Config.max_length:
        overrides["max_length"] = int(tok.model_max_length)
    param_dtype = jnp.dtype(param_dtype or dtype)
    kw = dict(dtype=jnp.dtype(dtype).name, param_dtype=param_dtype.name, **overrides)
    if layout == "original":
        source = PthFile(weights)
        config = umt5_keys.config_from_original(source, **kw)
    else:
        source = SafetensorsFolder(weights)
        config = umt5_keys.config_from_transformers(_read_json(weights / "config.json"), **kw)
    model = fill(lambda: UMT5Encoder(config, rngs=nnx.Rngs(0)), source, layout,
                 lambda p, present: umt5_keys.plan(p, layout, config.num_layers, present),
                 lambda k: umt5_keys.ignored(k, layout), weights, mesh)
    return TextEncoder(model, tok)


def find_image_encoder(path) -> tuple[str, Path, Path | None]:
    """(layout, weights, preprocessor_config.json or None) for the accepted image-encoder paths."""
    path = Path(path)
    if path.is_file() and path.suffix == ".pth":
        return "original", path, None
    if not path.is_dir():
        raise FileNotFoundError(f"{path} does not exist")
    if (path / CLIP_PTH).exists():
        return "original", path / CLIP_PTH, None
    folder = path / "image_encoder" if (path / "image_encoder" / "config.json").exists() else path
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"{path} holds no image encoder: expected {CLIP_PTH}, a pipeline folder with "
                                "image_encoder/ (+ image_processor/), or a transformers CLIP vision folder")
    candidates = (folder / "preprocessor_config.json", folder.parent / "image_processor" / "preprocessor_config.json")
    return "diffusers", folder, next((c for c in candidates if c.exists()), None)


def load_image_encoder(path, dtype=jnp.float32, *, param_dtype=None, num_heads: int | None = None,
                       mesh=None, **overrides) -> ImageEncoder:
    """A CLIP vision ImageEncoder (penultimate hidden states) from either published layout.

    The original .pth does not record the head count: num_heads defaults to width/80
    (open-clip ViT-H/14). Other keyword arguments override CLIPVisionConfig fields that do not
    change the weights (attention). Free it with `ImageEncoder.close()`.
    """
    layout, weights, preprocessor = find_image_encoder(path)
    param_dtype = jnp.dtype(param_dtype or dtype)
    kw = dict(dtype=jnp.dtype(dtype).name, param_dtype=param_dtype.name, **overrides)
    if layout == "original":
        source = PthFile(weights)
        config = clip_keys.config_from_original(source, num_heads=num_heads, **kw)
        preprocess = Preprocess(mode="original", image_size=config.image_size)
    else:
        source = SafetensorsFolder(weights)
        raw = _read_json(weights / "config.json")
        config = clip_keys.config_from_transformers(raw, **kw)
        if num_heads is not None:
            config = dataclasses.replace(config, num_heads=num_heads)
        preprocess = preprocess_from_config(_read_json(preprocessor) if preprocessor else {}, config.image_size)
    model = fill(lambda: CLIPVision(config, rngs=nnx.Rngs(0)), source, layout,
                 lambda p, present: clip_keys.plan(p, layout, config.num_layers),
                 lambda k: clip_keys.ignored(k, layout, config.num_layers), weights, mesh)
    return ImageEncoder(model, preprocess)
