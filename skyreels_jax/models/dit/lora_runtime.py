"""LoRA files applied at run time: the factors stay beside the weights, and strengths change without reloading.

`attach_loras(dit, [(file, strength), ...])` reads the files as `lora_files` does and gives each linear layer
they name its factors (nn.linear.Linear.attach_lora): the files' ranks side by side, a stacked layer's with a
leading layer axis (zeros where a file leaves a block out). Each rank slot remembers its file and alpha / rank,
so `set_lora_strengths(dit, [s1, s2, ...])` only rewrites the small per-slot scales: the next call runs the same
compiled program. The kernels are untouched, so a quantized DiT takes LoRAs this way too. Full-weight
differences (`.diff`, `.diff_b`) have no low-rank form: merge them (lora_files.merge_loras).
"""
from __future__ import annotations

import weakref
from collections import defaultdict

import jax
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from skyreels_jax.checkpoints.errors import CheckpointError
from skyreels_jax.models.dit.lora_files import factors, matched_layers
from skyreels_jax.nn.linear import Linear, LoraFactor

LORA_MODES = ("merge", "runtime")  # load_pipeline's lora_mode
# DiT -> (how many files, {kernel path: (file of each rank slot [R], alpha / rank [.., R])})
_SLOTS = weakref.WeakKeyDictionary()


def _linears(model) -> dict[tuple, Linear]:
    return {path + ("kernel",): module for path, module in nnx.iter_modules(model) if isinstance(module, Linear)}


def attach_loras(model, loras, allow_unmatched: bool = False):
    """Apply [(path, strength), ...] to the DiT at run time, replacing any attached before; returns the model."""
    layers = _linears(model)
    found = defaultdict(list)  # kernel path -> [(file index, layer or None, down, up, alpha / rank)]
    for index, (file, _) in enumerate(loras):
        for name, kernel, layer, parts in matched_layers(model, file, allow_unmatched):
            if "diff" in parts or "diff_b" in parts:
                raise CheckpointError(f"{file}: layer {name} is a full-weight difference, which has no low-rank "
                                      "form to apply at run time: merge this file instead")
            found[tuple(map(str, kernel))].append((index, layer, *factors(file, name, parts)))
    slots = {}
    for kernel, entries in found.items():
        linear = layers[kernel]
        weight = linear.kernel.get_value()
        down, up, owners, unit = _stack(entries, weight.shape, kernel[0] == "blocks")
        slots[kernel] = (owners, unit)
        linear.attach_lora(_place(down, weight, "in"), _place(up, weight, "out"),
                           _place(unit * np.asarray([s for _, s in loras], np.float32)[owners], weight, "scale"))
    _SLOTS[model] = (len(loras), slots)
    return model


def has_runtime_loras(model) -> bool:
    """Whether any linear layer of model has LoRA factors attached (by attach_loras or Linear.attach_lora)."""
    return bool(nnx.state(model, LoraFactor))


def set_lora_strengths(model, strengths) -> None:
    """New strengths for the files attach_loras applied, in their order; nothing recompiles."""
    if model not in _SLOTS:
        raise ValueError("no LoRA is attached at run time to this DiT: load it with lora_mode='runtime'")
    files, slots = _SLOTS[model]
    strengths = np.asarray(strengths, np.float32)
    if strengths.shape != (files,) or not np.all(np.isfinite(strengths)):
        raise ValueError(f"give {files} finite strength(s), one per LoRA file in load order; got {strengths.tolist()}")
    layers = _linears(model)
    for kernel, (owners, unit) in slots.items():
        scale = layers[kernel].lora_scale
        scale.set_value(jax.device_put(unit * strengths[owners], scale.get_value().sharding))


def _stack(entries, kernel_shape, stacked: bool):
    """The files' factors side by side on the rank axis: (down [.., in, R], up [.., R, out], file of each slot
    [R], alpha / rank [.., R]); a file's rank is its largest over the layers, smaller ones padded with zeros."""
    n = kernel_shape[0] if stacked else None
    lead = (n,) if stacked else ()
    d_in, d_out = kernel_shape[-2:]
    files = sorted({e[0] for e in entries})
    downs, ups, units, owners = [], [], [], []
    for file in files:
        mine = [e for e in entries if e[0] == file]
        rank = max(e[2].shape[1] for e in mine)
        down, up = np.zeros(lead + (d_in, rank), np.float32), np.zeros(lead + (rank, d_out), np.float32)
        unit = np.zeros(lead + (rank,), np.float32)
        for _, layer, d, u, scale in mine:
            if d.shape[0] != d_in or u.shape[1] != d_out:
                raise CheckpointError(f"LoRA file {file + 1}: factors of shape {d.shape} and {u.shape} do not fit "
                                      f"a layer of {d_in} inputs and {d_out} outputs")
            at = (layer,) if stacked else ()
            r = d.shape[1]
            down[at + (slice(None), slice(0, r))] = d
            up[at + (slice(0, r),)] = u
            unit[at + (slice(0, r),)] = scale
        downs.append(down), ups.append(up), units.append(unit), owners.append(np.full(rank, file))
    return (np.concatenate(downs, -1), np.concatenate(ups, -2), np.concatenate(owners),
            np.concatenate(units, -1))


def _place(value: np.ndarray, kernel, keep: str) -> jax.Array:
    """On the kernel's devices, split as the kernel is on its leading layer axis and on the `keep` axis ("in"
    for down, "out" for up, none for the scales); the rank axis whole."""
    sharding = kernel.sharding
    if not isinstance(sharding, NamedSharding):
        return jax.device_put(value, sharding)
    spec = tuple(sharding.spec) + (None,) * (kernel.ndim - len(sharding.spec))
    own = {"in": (spec[-2], None), "out": (None, spec[-1]), "scale": (None,)}[keep]
    return jax.device_put(value, NamedSharding(sharding.mesh, PartitionSpec(*spec[:-2], *own)))
