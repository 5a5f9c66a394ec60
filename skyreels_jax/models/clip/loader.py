"""load_image_encoder: published CLIP vision checkpoints to Flax, in the original or the diffusers layout.

As load_text_encoder: an abstract model, then every parameter filled one tensor at a time;
missing, unexpected and misshapen keys raise CheckpointError naming the key.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax.numpy as jnp
from flax import nnx

from skyreels_jax.checkpoints.converted import Source, abstract_state
from skyreels_jax.checkpoints.fill import check_plans, fill_model
from skyreels_jax.checkpoints.pth_file import PthFile
from skyreels_jax.checkpoints.safetensors_folder import SafetensorsFolder
from skyreels_jax.models.clip import keys
from skyreels_jax.models.clip.encoder import ImageEncoder, Preprocess, preprocess_from_config
from skyreels_jax.models.clip.model import CLIPVision

CLIP_PTH = "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth"


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


def _open(layout: str, weights: Path, preprocessor: Path | None, num_heads: int | None = None, **kw):
    """(reader, CLIPVisionConfig, Preprocess) of the weights."""
    if layout == "original":
        reader = PthFile(weights)
        config = keys.config_from_original(reader, num_heads=num_heads, **kw)
        return reader, config, Preprocess(mode="original", image_size=config.image_size)
    reader = SafetensorsFolder(weights)
    config = keys.config_from_transformers(json.loads((weights / "config.json").read_text()), **kw)
    if num_heads is not None:
        config = dataclasses.replace(config, num_heads=num_heads)
    preprocess = preprocess_from_config(json.loads(preprocessor.read_text()) if preprocessor else {},
                                        config.image_size)
    return reader, config, preprocess


def load_image_encoder(path, dtype=jnp.float32, *, param_dtype=None, num_heads: int | None = None,
                       mesh=None, **overrides) -> ImageEncoder:
    """A CLIP vision ImageEncoder (penultimate hidden states) from either published layout.

    The original .pth does not record the head count: num_heads defaults to width/80
    (open-clip ViT-H/14). Other keyword arguments override CLIPVisionConfig fields that do not
    change the weights (attention). Free it with `ImageEncoder.close()`.
    """
    layout, weights, preprocessor = find_image_encoder(path)
    param_dtype = jnp.dtype(param_dtype or dtype)
    source, config, preprocess = _open(layout, weights, preprocessor, num_heads, dtype=jnp.dtype(dtype).name,
                                       param_dtype=param_dtype.name, **overrides)
    model = fill_model(lambda: CLIPVision(config, rngs=nnx.Rngs(0)), source, layout,
                       lambda p, present: keys.plan(p, layout, config.num_layers),
                       lambda k: keys.ignored(k, layout, config.num_layers), weights, mesh)
    return ImageEncoder(model, preprocess)


def open_source(path) -> Source:
    """The image encoder at `path` as a conversion source (headers only), with its preprocessing."""
    layout, weights, preprocessor = find_image_encoder(path)
    reader, config, preprocess = _open(layout, weights, preprocessor)
    state = abstract_state(CLIPVision, config)
    plans = {p: keys.plan(p, layout, config.num_layers) for p, _ in nnx.to_flat_state(state)}
    check_plans(plans, reader.keys(), lambda k: keys.ignored(k, layout, config.num_layers), weights, layout)
    copies = {"image_processor/preprocessor_config.json": preprocessor} if preprocessor else {}
    return Source("image_encoder", layout, weights, config, reader, state, plans, copies,
                  extra={"preprocess": dataclasses.asdict(preprocess)})
