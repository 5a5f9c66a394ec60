"""load_qwen2_5_vl: a Hugging Face Qwen2.5-VL folder (SkyCaptioner-V1 is one) to our Flax model.

As the other loaders (the vision encoder and the decoder each in turn): an abstract model, then
each parameter filled one tensor at a time, onto a mesh when one is given; missing, unexpected
and misshapen keys raise CheckpointError.
"""
from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
from flax import nnx

from skyreels_jax.checkpoints.fill import fill_model
from skyreels_jax.checkpoints.safetensors_folder import SafetensorsFolder
from skyreels_jax.models.qwen2 import keys as qwen2_keys
from skyreels_jax.models.qwen2.model import Qwen2
from skyreels_jax.models.qwen2_5_vl import keys as qwen2_5_vl_keys
from skyreels_jax.models.qwen2_5_vl.model import Qwen2_5_VL
from skyreels_jax.models.qwen2_5_vl.vision import VisionEncoder


def load_qwen2_5_vl(path, dtype=jnp.float32, *, param_dtype=None, mesh=None, **overrides) -> Qwen2_5_VL:
    """The Qwen2.5-VL model of a local folder; keyword arguments override text fields such as max_position."""
    folder = Path(path)
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"{folder} has no config.json: give a Hugging Face Qwen2.5-VL model folder "
                                "(config.json, *.safetensors, tokenizer and preprocessor files)")
    param_dtype = jnp.dtype(param_dtype or dtype)
    config = qwen2_5_vl_keys.config_from_transformers(json.loads((folder / "config.json").read_text()),
                                                      jnp.dtype(dtype).name, param_dtype.name, **overrides)
    source = SafetensorsFolder(folder)
    visual = fill_model(lambda: VisionEncoder(config.vision, rngs=nnx.Rngs(0)), source, "transformers (vision)",
                        lambda p, present: qwen2_5_vl_keys.vision_plan(p, present, config),
                        lambda k: not qwen2_5_vl_keys.is_vision(k), folder, mesh)
    lm = fill_model(lambda: Qwen2(config.text, rngs=nnx.Rngs(0)), source, "transformers (language model)",
                    lambda p, present: qwen2_5_vl_keys.lm_plan(p, present, config),
                    lambda k: qwen2_5_vl_keys.is_vision(k) or qwen2_keys.ignored(k, config.text), folder, mesh)
    return Qwen2_5_VL(config, visual=visual, lm=lm)
