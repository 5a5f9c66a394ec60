"""The one table from logical axis names (on every parameter) to mesh axes.

Models name their parameter axes ("embed", "heads", "mlp", "vocab"); only this table knows
the mesh. A logical axis is sharded over its mesh axes when they are present, larger than
1, not already used by another dimension of the same array, and divide the dimension;
otherwise that dimension is replicated. Stacked (scanned) layers add a leading dimension
that is never sharded.
"""
from __future__ import annotations

import jax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from skyreels_jax.parallel.mesh import current_mesh

LOGICAL_RULES: dict[str, tuple[str, ...]] = {
    "batch": ("data",),
    "length": ("context",),
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
        axes = tuple(a for a in rules.get(name, ()) if a in mesh.shape and mesh.shape[a] > 1 and a not in used)
        total = 1
        for a in axes:
            total *= mesh.shape[a]
        if axes and size % total == 0:
            used.update(axes)
            spec.append(axes[0] if len(axes) == 1 else axes)
        else:
            spec.append(None)
    return PartitionSpec(*spec)


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
