"""load_qwen2: a Hugging Face Qwen2/Qwen2.5 folder (config.json + safetensors shards) to our Flax model.

Like the other loaders: an abstract model first, then every parameter filled one tensor at a
time (the 32B checkpoint never sits twice in host memory), straight onto a mesh when one is
given. Missing, unexpected and misshapen keys raise CheckpointError naming the key.
"""
from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
from flax import nnx

from skyreels_jax.checkpoints.fill import fill_model
from skyreels_jax.checkpoints.safetensors_folder import SafetensorsFolder
from skyreels_jax.models.qwen2 import keys as qwen2_keys
from skyreels_jax.models.qwen2.model import Qwen2, Qwen2Config


def read_config(folder, **overrides) -> Qwen2Config:
    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"{folder} has no config.json: give a Hugging Face Qwen2.5 model folder "
                                "(config.json, *.safetensors, tokenizer files)")
    return qwen2_keys.config_from_transformers(json.loads((folder / "config.json").read_text()), **overrides)


def load_qwen2(path, dtype=jnp.float32, *, param_dtype=None, mesh=None, **overrides) -> Qwen2:
    """The Qwen2 model of a local folder, parameters in param_dtype (default: dtype).

    Other keyword arguments override Qwen2Config fields that do not change the weights
    (max_position). With a `mesh` each parameter goes straight onto its shards
    (embed -> fsdp, heads/mlp/vocab -> tensor).
    """
    folder = Path(path)
    param_dtype = jnp.dtype(param_dtype or dtype)
    config = read_config(folder, dtype=jnp.dtype(dtype).name, param_dtype=param_dtype.name, **overrides)
    source = SafetensorsFolder(folder)
    return fill_model(lambda: Qwen2(config, rngs=nnx.Rngs(0)), source, "transformers",
                      lambda p, present: qwen2_keys.plan(p, config.num_layers),
                      lambda k: qwen2_keys.ignored(k, config), folder, mesh)
