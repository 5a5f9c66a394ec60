"""Write a trained Flax DiT as a diffusers `SkyReelsV2Transformer3DModel` folder (config.json +
safetensors): the inverse of the loader's key map (skyreels_jax.models.dit.keys). Every published
variant is written, DF-1.3B's fps embedding included; both our loader and diffusers'
`SkyReelsV2Transformer3DModel.from_pretrained` read the folder back."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from flax import nnx
from safetensors.numpy import save_file

from skyreels_jax.models.dit import DiTConfig
from skyreels_jax.models.dit import keys as dit_keys
from skyreels_jax.models.dit.lora_runtime import has_runtime_loras


def diffusers_config(c: DiTConfig) -> dict:
    """The diffusers config.json of a DiT: every published variant (T2V, DF with the fps embedding, I2V,
    FLF2V). A block-causal mask is diffusers' `num_frame_per_block` (a config field, no weights)."""
    if c.causal_block_size == 1:
        raise ValueError("causal_block_size=1 (a frame-causal mask) has no diffusers form: its num_frame_per_block "
                         "masks only above 1; export with causal_block_size=0 or >= 2")
    if c.rope_theta != 10000.0:
        raise ValueError(f"diffusers' SkyReels-V2 rotary embedding has theta 10000; this DiT has {c.rope_theta}")
    return {"_class_name": "SkyReelsV2Transformer3DModel", "_diffusers_version": "0.42.1",
            "patch_size": list(c.patch_size), "num_attention_heads": c.num_heads, "attention_head_dim": c.head_dim,
            "in_channels": c.in_dim, "out_channels": c.out_dim, "text_dim": c.text_dim, "freq_dim": c.freq_dim,
            "ffn_dim": c.ffn_dim, "num_layers": c.num_layers, "cross_attn_norm": True,
            "qk_norm": "rms_norm_across_heads", "eps": c.eps, "image_dim": c.image_dim,
            "added_kv_proj_dim": c.dim if c.image_dim else None, "rope_max_seq_len": c.rope_max_len,
            "pos_embed_seq_len": c.image_pos_len, "inject_sample_info": c.inject_sample_info,
            "num_frame_per_block": c.causal_block_size or 1}


def save_dit(model, folder: Path) -> Path:
    """Save an nnx DiT as folder/config.json + folder/diffusion_pytorch_model.safetensors. The folder appears
    whole: it is written beside its place and renamed into it (an existing one is replaced)."""
    cfg = model.config
    config = diffusers_config(cfg)  # refuses what diffusers cannot express before any work
    if has_runtime_loras(model):  # the folder would silently be the model without them
        raise ValueError("this DiT has LoRAs applied at run time, which a model folder cannot hold: load it with "
                         "lora_mode='merge' to save the merged model, or keep the LoRA files beside the folder")
    tensors = {}
    for path, value in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        path = tuple(str(p) for p in path)
        array = np.asarray(value.get_value() if hasattr(value, "get_value") else value.value, np.float32)
        keys = dit_keys.source_keys(path, "diffusers", cfg.num_layers)
        parts = array if path[0] == "blocks" else [array]
        for key, part in zip(keys, parts, strict=True):
            tensors[key] = np.ascontiguousarray(dit_keys.to_torch(path[-1], part))
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(tensors, str(tmp / "diffusion_pytorch_model.safetensors"))
    (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder


def export_dit(result: dict, folder: Path) -> Path:
    """Save the trained DiT of a `training.loop.train` result: its EMA weights (or the raw ones without EMA),
    a LoRA merged into its base (`training.loop.trained_params`)."""
    from skyreels_jax.training.loop import trained_params

    return save_dit(nnx.merge(result["graphdef"], trained_params(result), result["rest"]), folder)
