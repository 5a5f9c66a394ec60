"""LoRA fine-tuning: low-rank updates W + (alpha/rank)·a·b on chosen kernels, the base frozen.

For a target kernel of shape [..., in, out] (stacked layers keep their leading axis) the
trainable tree holds `a` [..., in, rank] (normal, std 1/√in) and `b` [..., rank, out] (zeros),
under the kernel's own path, so the model starts equal to the base. Their logical axes follow
the kernel's (`a` shares its input axis, `b` its output axis), so they shard like it.

`merge(base, lora, scale)` is the full parameter state: the train step calls it inside jit
(the merged kernels are temporaries of the step; the optimizer state covers a and b only),
and it gives the weights to export after training.
"""
from __future__ import annotations

import re

import jax
import jax.numpy as jnp
from flax import nnx

# attention projections and the FFN of every block
DEFAULT_TARGETS = r"^blocks/(self_attn|cross_attn)/(q|k|v|o)/kernel$|^blocks/ffn/fc[12]/kernel$"


def _name(path) -> str:
    return "/".join(str(p) for p in path)


def init(params: nnx.State, rank: int, targets: str = DEFAULT_TARGETS, seed: int = 0) -> nnx.State:
    """The LoRA tree (a, b per matching kernel); raises if no parameter matches `targets`."""
    if rank < 1:
        raise ValueError(f"LoRA rank must be at least 1, got {rank}")
    pattern, flat = re.compile(targets), []
    key = jax.random.PRNGKey(seed)
    for path, var in nnx.to_flat_state(params):
        w = var.get_value()
        if not pattern.search(_name(path)):
            continue
        if w.ndim < 2:
            raise ValueError(f"LoRA target {_name(path)} has shape {w.shape}; targets must be kernels [..., in, out]")
        axes = var.get_metadata().get("logical_axes") or (None,) * 2
        lead, (n_in, n_out) = w.shape[:-2], w.shape[-2:]
        key, sub = jax.random.split(key)
        a = jax.random.normal(sub, (*lead, n_in, rank), jnp.float32) / jnp.sqrt(n_in)
        flat.append((path + ("a",), nnx.Param(a.astype(w.dtype), logical_axes=(axes[-2], None))))
        flat.append((path + ("b",), nnx.Param(jnp.zeros((*lead, rank, n_out), w.dtype), logical_axes=(None, axes[-1]))))
    if not flat:
        raise ValueError(f"no parameter matches the LoRA targets {targets!r}")
    return nnx.from_flat_state(flat)


def merge(base: nnx.State, lora: nnx.State, scale: float) -> nnx.State:
    """base with every targeted kernel replaced by W + scale·a·b (computed in float32)."""
    updates = dict(nnx.to_flat_state(lora))
    out = []
    for path, var in nnx.to_flat_state(base):
        if path + ("a",) in updates:
            a, b = updates[path + ("a",)].get_value(), updates[path + ("b",)].get_value()
            w = var.get_value()
            delta = jnp.einsum("...ir,...ro->...io", a.astype(jnp.float32), b.astype(jnp.float32))
            var = var.replace((w.astype(jnp.float32) + scale * delta).astype(w.dtype))
        out.append((path, var))
    return nnx.from_flat_state(out)


def count(tree) -> int:
    return sum(x.size for x in jax.tree.leaves(tree))
