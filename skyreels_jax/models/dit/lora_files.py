"""LoRA files for the DiT at inference: read the layouts people publish and merge them into the weights.

Accepted keys, after an optional prefix (`transformer.`, `diffusion_model.`, `base_model.model.`,
`model.`), name a linear layer of the DiT in the diffusers layout (`blocks.0.attn1.to_q`) or the
original Wan layout (`blocks.0.self_attn.q`), or kohya's flattened form of the latter
(`lora_unet_blocks_0_self_attn_q`), followed by:
- `.lora_A.weight` / `.lora_B.weight` (diffusers, PEFT) or `.lora_down.weight` / `.lora_up.weight`
  (kohya, ComfyUI), with an optional `.alpha` (scale alpha / rank; without it, 1);
- `.diff` / `.diff_b`: a full difference of the weight / the bias. Besides the linear layers, these may name
  any other parameter (ComfyUI's generic form): a module's weight or bias (`blocks.0.norm2.diff`,
  `patch_embedding.diff_b`) or a bare parameter by its full name (`blocks.0.scale_shift_table.diff`).
A PyTorch linear weight is W [out, in]; the merged weight is W + strength * scale * up @ down, and ours is
its transpose. Each layer's difference is made on the host and added to the kernel on its shards in place:
a sharded model is merged shard by shard, never gathered.
"""
from __future__ import annotations

import functools
from collections import defaultdict
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from skyreels_jax.checkpoints.errors import CheckpointError
from skyreels_jax.checkpoints.fill import layer_sharding
from skyreels_jax.models.dit import keys as dit_keys
from skyreels_jax.parallel.placement import to_device

PREFIXES = ("base_model.model.", "transformer.", "diffusion_model.", "model.")
SUFFIXES = {".lora_A.weight": "down", ".lora_down.weight": "down", ".lora_B.weight": "up",
            ".lora_up.weight": "up", ".alpha": "alpha", ".diff": "diff", ".diff_b": "diff_b"}


def _checkpoint_names(model):
    """(our parameter's path, its per-layer ndim, checkpoint key, layout, layer index or None) of every
    parameter, a quantized Linear's scale aside (it is no checkpoint tensor)."""
    n = model.config.num_layers
    flat = {tuple(map(str, p)): v for p, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    for path, variable in flat.items():
        if path[-1] == "scale" and path[:-1] + ("kernel",) in flat:
            continue
        ndim = variable.get_value().ndim - (path[0] == "blocks")
        for layout in dit_keys.LAYOUTS:
            for i, key in enumerate(dit_keys.source_keys(path, layout, n)):
                yield path, ndim, key, layout, i if path[0] == "blocks" else None


def _names(key: str, layout: str) -> list[str]:
    """A checkpoint key's names in LoRA files: the key less `.weight`/`.bias`, and kohya's flat form."""
    name = key.removesuffix(".weight").removesuffix(".bias")
    return [name, "lora_unet_" + name.replace(".", "_")] if layout == "original" else [name]


def module_names(model) -> dict[str, tuple[tuple, int | None]]:
    """{layer name in any accepted layout: (our kernel's path, layer index or None)} for every linear layer."""
    return {name: (path, layer) for path, ndim, key, layout, layer in _checkpoint_names(model)
            if path[-1] == "kernel" and ndim == 2 for name in _names(key, layout)}


def parameter_names(model) -> dict[tuple[str, str], tuple[tuple, int | None]]:
    """{(name, "diff" or "diff_b"): (our parameter's path, layer index or None)} for every parameter in any
    accepted layout: a module's weight is its name with "diff", its bias its name with "diff_b", and a
    bare parameter (a modulation table) its full name with "diff"."""
    return {(name, "diff_b" if key.endswith(".bias") else "diff"): (path, layer)
            for path, _, key, layout, layer in _checkpoint_names(model) for name in _names(key, layout)}


def read_lora(path: str | Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LoRA file {path} does not exist")
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises its own error types on a damaged file
        raise CheckpointError(f"{path}: not a readable safetensors LoRA file ({e})") from e


def group_lora(tensors: dict[str, np.ndarray], where) -> dict[str, dict[str, np.ndarray]]:
    """{layer name: {"down"/"up"/"alpha"/"diff"/"diff_b": tensor}}, prefixes removed."""
    layers: dict[str, dict] = defaultdict(dict)
    unknown = []
    for key, tensor in tensors.items():
        suffix = next((s for s in SUFFIXES if key.endswith(s)), None)
        if suffix is None:
            unknown.append(key)
            continue
        name = key[: -len(suffix)]
        for prefix in PREFIXES:
            name = name.removeprefix(prefix)
        layers[name][SUFFIXES[suffix]] = tensor
    if unknown:
        raise CheckpointError(f"{where}: {len(unknown)} key(s) in no LoRA layout, e.g. {sorted(unknown)[:3]}")
    return layers


def matched_layers(model, path: str | Path, allow_unmatched: bool = False):
    """[(layer name, our kernel's path or None, layer index or None, its LoRA tensors)] of one LoRA file; the
    kernel is None for a name with full differences only that is no linear layer (a norm, a table)."""
    names, params = module_names(model), parameter_names(model)
    layers = group_lora(read_lora(path), path)

    def where(name, parts):
        """(kernel or None, layer) of a layer whose parts all have a target here; None otherwise."""
        diffs = [role for role in ("diff", "diff_b") if role in parts]
        if not all((name, role) in params for role in diffs) or (set(parts) - set(diffs) and name not in names):
            return None
        return names[name] if name in names else (None, params[name, diffs[0]][1])

    found = {name: where(name, parts) for name, parts in layers.items()}
    unmatched = sorted(name for name, at in found.items() if at is None)
    if unmatched and not allow_unmatched:
        raise CheckpointError(f"{path}: {len(unmatched)} LoRA layer(s) match no layer of this DiT, e.g. "
                              f"{unmatched[:3]}; check that the LoRA is for this model, or allow unmatched keys")
    return [(name, *found[name], parts) for name, parts in layers.items() if found[name] is not None]


def factors(path, name: str, parts: dict) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(down [in, rank], up [rank, out], alpha / rank) in our layout; None for a layer with no factors."""
    if "down" not in parts and "up" not in parts:
        return None
    if not ("down" in parts and "up" in parts):
        raise CheckpointError(f"{path}: layer {name} has only one of its two LoRA factors")
    down, up = parts["down"].astype(np.float32), parts["up"].astype(np.float32)
    rank = down.shape[0]
    return down.T, up.T, float(parts["alpha"]) / rank if "alpha" in parts else 1.0


def lora_differences(model, path: str | Path, strength: float, allow_unmatched: bool = False):
    """[(our parameter path, layer or None, difference in our layout)] of one LoRA file at `strength`."""
    params = parameter_names(model)
    out = []
    for name, kernel, layer, parts in matched_layers(model, path, allow_unmatched):
        for role in ("diff", "diff_b"):
            if role in parts:
                target, layer = params[name, role]
                out.append((target, layer, strength * dit_keys.to_flax(target[-1], parts[role].astype(np.float32))))
        if (pair := factors(path, name, parts)) is not None:
            down, up, scale = pair
            out.append((kernel, layer, (strength * scale) * (down @ up)))
    return out


@functools.partial(jax.jit, donate_argnums=0)
def _add_layer(stacked: jax.Array, i, difference: jax.Array) -> jax.Array:
    return stacked.at[i].add(difference.astype(stacked.dtype))


@functools.partial(jax.jit, donate_argnums=0)
def _add(weight: jax.Array, difference: jax.Array) -> jax.Array:
    return weight + difference.astype(weight.dtype)


def merge_loras(model, loras, allow_unmatched: bool = False):
    """Merge [(path, strength), ...] into a float DiT's weights in place; returns the model."""
    from skyreels_jax.models.quantization import quantization_of

    if quantization_of(model):
        raise ValueError(f"this DiT holds {quantization_of(model)} weights; LoRAs merge into float weights: apply "
                         "them at run time (lora_mode='runtime', generate --lora-mode runtime), or load a float "
                         "checkpoint (load_pipeline then quantizes after merging)")
    params = dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))
    params = {tuple(map(str, p)): v for p, v in params.items()}
    for file, strength in loras:
        for path, layer, difference in lora_differences(model, file, strength, allow_unmatched):
            variable = params[path]
            value = variable.get_value()
            want = value.shape[1:] if layer is not None else value.shape
            if difference.shape != tuple(want):
                raise CheckpointError(f"{file}: the difference for {'/'.join(path)} has shape {difference.shape}, "
                                      f"the layer {tuple(want)}")
            if layer is None:
                variable.set_value(_add(value, to_device(difference, value.dtype, value.sharding)))
            else:
                sharding = layer_sharding(value.sharding)
                variable.set_value(_add_layer(value, layer, to_device(difference, value.dtype, sharding)))
    return model
