"""The components of a published SkyReels-V2 folder, each opened (headers only) as a conversion source.

A source knows its architecture config, its model class, and for every one of our parameters
the checkpoint keys (one per layer for the stacked blocks) with their PyTorch-to-ours
conversion, after checking that no key is missing or unexpected. Nothing is read until a
tensor is asked for, so a caller can stream a component one tensor at a time.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any, Callable

from flax import nnx

from skyreels_jax.checkpoints import clip_keys, dit_keys, umt5_keys, vae_keys
from skyreels_jax.checkpoints.dit_loader import DiTCheckpoint
from skyreels_jax.checkpoints.encoders_loader import (CLIP_PTH, T5_PTH, find_image_encoder, find_text_encoder)
from skyreels_jax.checkpoints.fill import CheckpointError, check_key_sets
from skyreels_jax.checkpoints.pth_file import PthFile
from skyreels_jax.checkpoints.safetensors_folder import SafetensorsFolder
from skyreels_jax.checkpoints.vae_loader import find_vae
from skyreels_jax.models import DiT, WanVAE
from skyreels_jax.models.clip import CLIPVision
from skyreels_jax.models.umt5 import UMT5Encoder
from skyreels_jax.vision import Preprocess, preprocess_from_config

COMPONENTS = ("transformer", "vae", "text_encoder", "image_encoder")


@dataclasses.dataclass
class Source:
    """One component of a checkpoint folder, ready to stream."""

    name: str                    # one of COMPONENTS
    layout: str                  # "original" or "diffusers"
    where: Path                  # the file or folder its tensors come from
    config: Any                  # DiTConfig, VAEConfig, UMT5Config or CLIPVisionConfig
    reader: Any                  # keys(), shape(key), read(key) -> numpy
    state: nnx.State             # the abstract model state
    plans: dict                  # our path -> [(checkpoint key, to_ours)]
    copies: dict = dataclasses.field(default_factory=dict)   # path in DST -> file or folder copied as it is
    extra: dict = dataclasses.field(default_factory=dict)    # JSON-able facts the loader needs (preprocessing)


MODELS: dict[str, Callable] = {"transformer": DiT, "vae": WanVAE, "text_encoder": UMT5Encoder,
                               "image_encoder": CLIPVision}


def abstract_state(name: str, config) -> nnx.State:
    return nnx.split(nnx.eval_shape(lambda: MODELS[name](config, rngs=nnx.Rngs(0))))[1]


def find_components(root: str | Path) -> dict[str, Path]:
    """{component: path to open it from} for a diffusers pipeline folder, an original repository,
    or a single component's folder; raises on a folder in no known layout."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist")
    if (root / "model_index.json").exists():
        index = json.loads((root / "model_index.json").read_text())
        found = {}
        for name in COMPONENTS:
            entry = index.get(name)
            if entry and entry[0] is not None:
                if not (root / name).is_dir():
                    raise FileNotFoundError(f"{root}/model_index.json lists {name} but the folder {root / name} "
                                            "is missing: download the whole repository")
                found[name] = root / name if name in ("transformer", "vae") else root
        return found
    config = json.loads((root / "config.json").read_text()) if (root / "config.json").exists() else {}
    if "dim" in config and "num_heads" in config:  # an original SkyReels-V2 repository
        found = {"transformer": root}
        vaes = sorted(root.glob("*VAE*.pth"))
        if vaes:
            found["vae"] = vaes[0]
        if (root / T5_PTH).exists():
            found["text_encoder"] = root
        if (root / CLIP_PTH).exists():
            found["image_encoder"] = root
        return found
    kind = config.get("_class_name") or config.get("model_type")
    single = {"SkyReelsV2Transformer3DModel": "transformer", "AutoencoderKLWan": "vae", "umt5": "text_encoder",
              "clip_vision_model": "image_encoder", "clip": "image_encoder"}
    if kind in single:
        return {single[kind]: root}
    if any(root.glob("*VAE*.pth")):
        return {"vae": next(iter(sorted(root.glob("*VAE*.pth"))))}
    raise ValueError(f"{root} is in no known layout: expected a diffusers pipeline (model_index.json), an original "
                     "SkyReels-V2 repository (config.json with dim/num_heads + model*.safetensors), or one "
                     f"component's folder (config.json of a SkyReelsV2Transformer3DModel, AutoencoderKLWan, UMT5 "
                     f"or CLIP vision model); its config.json says {kind!r}")


def open_source(name: str, path: Path) -> Source:
    return {"transformer": _dit, "vae": _vae, "text_encoder": _umt5, "image_encoder": _clip}[name](path)


def _check(plans, reader, ignored, where, layout) -> None:
    expected = {key for entries in plans.values() for key, _ in entries}
    check_key_sets(expected, {k for k in reader.keys() if k in expected or not ignored(k)},
                   f"{where} does not match the model built from its config ({layout} layout).")


def _dit(path: Path) -> Source:
    ckpt = DiTCheckpoint.open(path)
    _, state, keys = ckpt.plan()  # checks names and shapes
    plans = {p: [(k, functools.partial(dit_keys.to_flax, p[-1])) for k in ks] for p, ks in keys.items()}
    return Source("transformer", ckpt.layout, ckpt.folder, ckpt.config, ckpt.source, state, plans)


def _vae(path: Path) -> Source:
    reader, layout, config = find_vae(path)
    where = getattr(reader, "path", None) or reader.folder
    state = abstract_state("vae", config)
    plans = {}
    for p, variable in nnx.to_flat_state(state):
        shape = variable.get_value().shape
        plans[p] = [(vae_keys.source_key(p, layout, config), functools.partial(vae_keys.to_flax, p, shape=shape))]
    _check(plans, reader, lambda k: False, where, layout)
    for p, variable in nnx.to_flat_state(state):
        (key, _), = plans[p]
        expected = vae_keys.torch_shape(p, variable.get_value().shape)
        if reader.shape(key) != expected:
            raise CheckpointError(f"{where}: key {key!r} has shape {reader.shape(key)} but the VAE config "
                                  f"(base_dim={config.base_dim}, z_dim={config.z_dim}) expects {expected}")
    return Source("vae", layout, Path(where), config, reader, state, plans)


def _umt5(path: Path) -> Source:
    layout, weights, tokenizer = find_text_encoder(path)
    if layout == "original":
        reader = PthFile(weights)
        config = umt5_keys.config_from_original(reader)
    else:
        reader = SafetensorsFolder(weights)
        config = umt5_keys.config_from_transformers(json.loads((weights / "config.json").read_text()))
    if not tokenizer.is_dir():
        raise FileNotFoundError(f"the text encoder at {weights} has no tokenizer folder {tokenizer}")
    state = abstract_state("text_encoder", config)
    present = set(reader.keys())
    plans = {p: umt5_keys.plan(p, layout, config.num_layers, present) for p, _ in nnx.to_flat_state(state)}
    _check(plans, reader, lambda k: umt5_keys.ignored(k, layout), weights, layout)
    return Source("text_encoder", layout, weights, config, reader, state, plans, copies={"tokenizer": tokenizer})


def _clip(path: Path) -> Source:
    layout, weights, preprocessor = find_image_encoder(path)
    if layout == "original":
        reader = PthFile(weights)
        config = clip_keys.config_from_original(reader)
        preprocess = Preprocess(mode="original", image_size=config.image_size)
    else:
        reader = SafetensorsFolder(weights)
        config = clip_keys.config_from_transformers(json.loads((weights / "config.json").read_text()))
        preprocess = preprocess_from_config(json.loads(preprocessor.read_text()) if preprocessor else {},
                                            config.image_size)
    state = abstract_state("image_encoder", config)
    plans = {p: clip_keys.plan(p, layout, config.num_layers) for p, _ in nnx.to_flat_state(state)}
    _check(plans, reader, lambda k: clip_keys.ignored(k, layout, config.num_layers), weights, layout)
    copies = {"image_processor/preprocessor_config.json": preprocessor} if preprocessor else {}
    return Source("image_encoder", layout, weights, config, reader, state, plans, copies,
                  extra={"preprocess": dataclasses.asdict(preprocess)})

