"""The four networks of a SkyReels-V2 model folder, by component name: how to find each in a
published folder, open it as a conversion source, and load it back from a converted folder.

A source knows its architecture config, its model class, and for every one of our parameters
the checkpoint keys (one per layer for the stacked blocks) with their PyTorch-to-ours
conversion, after checking that no key is missing or unexpected. Nothing is read until a
tensor is asked for, so a caller can stream a component one tensor at a time.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import jax.numpy as jnp
from etils import epath
from flax import nnx

from skyreels_jax.checkpoints.converted import (
    Source,
    abstract_state,
    local_copy,
    read_component,
    restore_component,
    stored_problems,
)
from skyreels_jax.models import clip, dit, umt5, vae
from skyreels_jax.models.clip.loader import CLIP_PTH
from skyreels_jax.models.umt5.loader import T5_PTH
from skyreels_jax.nn.quant import storage
from skyreels_jax.parallel.sequence_parallel import check_config

COMPONENTS = ("transformer", "vae", "text_encoder", "image_encoder")
NETWORKS = {"transformer": dit, "vae": vae, "text_encoder": umt5, "image_encoder": clip}
MODELS = {"transformer": dit.DiT, "vae": vae.WanVAE, "text_encoder": umt5.UMT5Encoder,
          "image_encoder": clip.CLIPVision}
CONFIGS = {"transformer": dit.DiTConfig, "vae": vae.VAEConfig, "text_encoder": umt5.UMT5Config,
           "image_encoder": clip.CLIPVisionConfig}


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
    """Component `name` at `path` as a conversion source (headers only, every key checked)."""
    return NETWORKS[name].open_source(path)


def abstract_model(name: str, config) -> nnx.Module:
    """Component `name` built from `config` under nnx.eval_shape (shapes and dtypes only)."""
    return nnx.eval_shape(lambda: MODELS[name](config, rngs=nnx.Rngs(0)))


def component_config(info: dict, dtype=None, **overrides):
    """The architecture config stored for a component, in `dtype` (default: as stored)."""
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in info["config"].items()}
    if dtype is not None:
        fields.update(dtype=jnp.dtype(dtype).name, param_dtype=jnp.dtype(dtype).name)
    return CONFIGS[info["component"]](**{**fields, **overrides})


def load_converted(root, component: str, dtype=None, *, mesh=None, parts=None, quantize: str | None = None,
                   **overrides):
    """A converted component as the matching load_* function returns it: a DiT, a WanVAE, a
    TextEncoder or an ImageEncoder.

    dtype None keeps the stored dtypes; otherwise every parameter is restored in `dtype`.
    With a mesh every parameter is read straight onto its shards. Other keyword arguments
    override config fields that do not change the weights (attention, remat, ...). parts, for the
    VAE only: the halves to read, as load_vae's. quantize, for the transformer and the text encoder:
    see models.quantization.
    """
    from skyreels_jax.models.quantization import quantize as quantized

    name = "transformer" if component == "dit" else component
    info = read_component(root, name)
    config = component_config(info, dtype, **overrides)
    if name == "transformer":
        check_config(config, mesh)
    if parts is not None and name != "vae":
        raise ValueError(f"parts selects halves of the VAE; the {name} has none")
    if quantize is not None and name not in ("transformer", "text_encoder"):
        raise ValueError(f"quantize applies to the transformer and the text encoder, not the {name}")
    stored = stored_quantization(root, info, quantize)
    build = MODELS[name] if parts is None else functools.partial(MODELS[name], parts=parts)
    # stored quantized: the abstract model is quantized first, so the int8/fp8 kernels are read as they are
    model = restore_component(root, info, lambda: quantized(build(config, rngs=nnx.Rngs(0)), stored), mesh=mesh,
                              keep_dtypes=dtype is None, partial=parts is not None)
    model = quantized(model, None if stored else quantize)
    if name == "text_encoder":
        return umt5.TextEncoder(model, umt5.load_tokenizer(local_copy(epath.Path(root) / "tokenizer")))
    if name == "image_encoder":
        preprocess = {k: tuple(v) if isinstance(v, list) else v for k, v in info["preprocess"].items()}
        return clip.ImageEncoder(model, clip.Preprocess(**preprocess))
    return model


def stored_quantization(root, info: dict, asked: str | None) -> str | None:
    """The mode a quantized component is restored in: `asked`, or the stored one when None. A
    stored int8 component runs as "int8" or "int8-dynamic" (the same weights), fp8 likewise; float
    weights cannot be recovered from it. None for a float component."""
    stored = info.get("quantize")
    if stored is None:
        return None
    if asked is not None and storage(asked) != storage(stored):
        raise ValueError(f"{epath.Path(root) / info['component']} holds {stored} weights, which cannot run as "
                         f"{asked}: use {stored} or {stored}-dynamic, or convert the float source again")
    return asked or stored


def check_stored(root, name: str) -> list[str]:
    """What is wrong with a converted component: every tensor of the model built from its config
    must be in the checkpoint with the shape and dtype component.json records. [] if all is well."""
    from skyreels_jax.models.quantization import quantize as quantized

    info = read_component(root, name)
    mode = info.get("quantize")
    state = abstract_state(lambda config, rngs: quantized(MODELS[name](config, rngs=rngs), mode),
                           component_config(info))
    return stored_problems(root, info, {p: v.get_value().shape for p, v in nnx.to_flat_state(state)})
