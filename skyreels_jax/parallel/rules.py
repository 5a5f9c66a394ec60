"""The one table from logical axis names (on every parameter) to mesh axes.

Models name their parameter axes ("embed", "heads", "mlp", "vocab"); only this table knows
the mesh. A logical axis is sharded over those of its mesh axes, in order, that are present,
larger than 1, not already used by another dimension of the same array, and keep dividing
the dimension; a dimension none of them divides is replicated. Stacked (scanned) layers add a leading dimension
that is never sharded.
"""
from __future__ import annotations

import math

import jax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from skyreels_jax.parallel.mesh import current_mesh

LOGICAL_RULES: dict[str, tuple[str, ...]] = {
    # activations: the batch (the CFG pair) over data, and over fsdp where it divides; the tokens over context
    # and over fsdp when the batch could not take it, so that no device computes what another one does
    "batch": ("data", "fsdp"),
    "length": ("context", "fsdp"),
    "embed": ("fsdp",),
    "heads": ("tensor",),
    "mlp": ("tensor",),
    "vocab": ("tensor",),
}


def partition_spec(logical_axes, shape, mesh: Mesh, rules=LOGICAL_RULES) -> PartitionSpec:
    logical_axes = tuple(logical_axes or ())
    if len(shape) == len(logical_axes) + 1:  # a stacked layer axis in front
        logical_axes = (None,) + logical_axes
    if len(shape) != len(logical_axes):
        raise ValueError(f"logical axes {logical_axes} do not fit an array of shape {tuple(shape)}")
    used, spec = set(), []
    for name, size in zip(logical_axes, shape):
        axes = dividing_axes(rules.get(name, ()), size, mesh, used)
        used.update(axes)
        spec.append(_entry(axes))
    return PartitionSpec(*spec)


def dividing_axes(candidates, size: int, mesh, used=()) -> tuple[str, ...]:
    """The mesh axes among `candidates`, in order, that are present, larger than 1, not in `used`, and keep
    dividing `size` when taken together."""
    axes, total = [], 1
    for a in candidates:
        n = mesh.shape.get(a, 1)
        if n > 1 and a not in used and size % (total * n) == 0:
            axes.append(a)
            total *= n
    return tuple(axes)


def attention_split(mesh, free, batch: int, heads: int):
    """How a fused attention kernel splits over the mesh axes `free` (those not already manual):
    (batch axes, head axes, query-row axes). The batch and the heads split as the rule table splits
    them; each other axis takes heads where they still divide (no key traffic), else query rows."""
    batch_axes = dividing_axes([a for a in LOGICAL_RULES["batch"] if a in free], batch, mesh)
    head_axes = dividing_axes([a for a in LOGICAL_RULES["heads"] if a in free], heads, mesh, batch_axes)
    rows = []
    for a in free:
        if a in batch_axes or a in head_axes:
            continue
        if heads % (math.prod(mesh.shape[h] for h in head_axes) * mesh.shape[a]) == 0:
            head_axes += (a,)
        else:
            rows.append(a)
    return batch_axes, head_axes, tuple(rows)


def _entry(axes: tuple[str, ...]):
    return None if not axes else axes[0] if len(axes) == 1 else axes


def state_shardings(state, mesh: Mesh, rules=LOGICAL_RULES):
    """{path: NamedSharding} for every variable of an NNX state (abstract or concrete)."""
    return {path: NamedSharding(mesh, partition_spec(var.get_metadata().get("logical_axes"),
                                                     var.get_value().shape, mesh, rules))
            for path, var in nnx.to_flat_state(state)}


def shard_model(model: nnx.Module, mesh: Mesh, rules=LOGICAL_RULES) -> nnx.Module:
    """Move every parameter of a model onto the mesh, in place; returns the model."""
    graphdef, state = nnx.split(model)
    shardings = state_shardings(state, mesh, rules)
    for path, var in nnx.to_flat_state(state):
        var.set_value(jax.device_put(var.get_value(), shardings[path]))
    nnx.update(model, state)
    return model


def constrain(x: jax.Array, logical_axes) -> jax.Array:
    """Pin an activation's sharding by logical axes under the current mesh (a no-op without one).

    Without it XLA keeps activations whole on every device: the CFG pair would not split over
    `data`, nor the tokens outside attention over `context`.
    """
    mesh = current_mesh()
    return x if mesh is None else jax.lax.with_sharding_constraint(x, partition_spec(logical_axes, x.shape, mesh))
