"""Parameter bytes per device under the rule table, for a real or an abstract model.

With `nnx.eval_shape` the model is never built, so the figures of a 14B model on a pod come
out on a laptop; the mesh only needs `.shape` ({axis: size}), not devices.
"""
from __future__ import annotations

import math

from flax import nnx

from skyreels_jax.parallel.rules import LOGICAL_RULES, partition_spec


def shards(spec, mesh) -> int:
    """How many pieces a partition spec cuts an array into."""
    axes = [a for entry in spec if entry for a in (entry if isinstance(entry, tuple) else (entry,))]
    return math.prod(mesh.shape[a] for a in axes)


def param_bytes_per_device(model: nnx.Module, mesh, rules=LOGICAL_RULES) -> int:
    """Bytes of `model`'s parameters that each device holds on `mesh` (every shard has equal size)."""
    total = 0
    for _, var in nnx.to_flat_state(nnx.state(model)):
        value = var.get_value()
        spec = partition_spec(var.get_metadata().get("logical_axes"), value.shape, mesh, rules)
        total += math.prod(value.shape) * value.dtype.itemsize // shards(spec, mesh)
    return total
