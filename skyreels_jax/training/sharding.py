"""The train state and batches on a mesh, on one host or many.

- Every array of the state is sharded by its logical axes (parameters, LoRA factors, optimizer
  moments, EMA, reference and base parameters; the rule table of skyreels_jax.parallel), the
  rest (step, RNG key, optimizer counts) replicated. `init_state` builds it in one jit with
  those output shardings, from parameters already on the mesh (`place`, or a loader given mesh=).
- Batches are split over the ("data", "fsdp") axes along their first dimension. Each process
  passes only its rows (`local_rows`) to `global_batch`, which makes the global arrays with
  jax.make_array_from_process_local_data.
"""
from __future__ import annotations

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from skyreels_jax.parallel import partition_spec
from skyreels_jax.parallel.placement import to_device

BATCH_AXES = ("data", "fsdp")


def _is_var(x) -> bool:
    return isinstance(x, nnx.Variable)


def tree_shardings(tree, mesh: Mesh):
    """NamedShardings for a pytree (concrete or abstract): by logical axes for nnx Variables,
    replicated for everything else. Usable as jit in/out shardings (a prefix of the tree)."""
    def one(x):
        if _is_var(x):
            value = x.get_value()
            return NamedSharding(mesh, partition_spec(x.get_metadata().get("logical_axes"), value.shape, mesh))
        return NamedSharding(mesh, PartitionSpec())
    return jax.tree.map(one, tree, is_leaf=_is_var)


def place(tree, mesh: Mesh):
    """Put a host-side tree (the same values on every process) onto the mesh, leaf by leaf."""
    shardings = tree_shardings(tree, mesh)

    def put(x, sharding):
        arr = to_device(x.get_value() if _is_var(x) else x, sharding=sharding)
        return x.replace(arr) if _is_var(x) else arr
    return jax.tree.map(put, tree, shardings, is_leaf=_is_var)


def init_state(init_fn, mesh: Mesh, *arrays):
    """(init_fn(*arrays), its shardings): e.g. step.init_train_state with everything but the array
    arguments bound, jitted with every output sharded as `tree_shardings` says. The arrays must
    already be on the mesh; they are donated (the state takes their buffers, not a copy)."""
    shardings = tree_shardings(jax.eval_shape(init_fn, *arrays), mesh)
    donate = tuple(range(len(arrays)))
    return jax.jit(init_fn, out_shardings=shardings, donate_argnums=donate)(*arrays), shardings


def batch_sharding(mesh: Mesh, ndim: int = 1) -> NamedSharding:
    axes = tuple(a for a in BATCH_AXES if mesh.shape[a] > 1) or None
    return NamedSharding(mesh, PartitionSpec(axes, *([None] * (ndim - 1))))


def local_rows(mesh: Mesh, global_batch: int) -> tuple[int, int]:
    """The contiguous rows [start, stop) of a global batch that this process's devices hold."""
    split = int(np.prod([mesh.shape[a] for a in BATCH_AXES]))
    if global_batch % split:
        raise ValueError(f"the global batch {global_batch} does not split over the mesh's data x fsdp = {split} "
                         "devices: make it a multiple")
    index = batch_sharding(mesh).addressable_devices_indices_map((global_batch,))
    rows = sorted({r for (sl,) in index.values() for r in range(*sl.indices(global_batch))})
    if rows != list(range(rows[0], rows[-1] + 1)):
        raise ValueError(f"process {jax.process_index()} holds rows {rows} of the batch, not one contiguous range: "
                         "order the mesh devices by process")
    return rows[0], rows[-1] + 1


def global_batch(local: dict, mesh: Mesh, global_size: int) -> dict:
    """Global arrays [global_size, ...] from this process's rows (numpy, [rows, ...])."""
    def make(x):
        x = np.asarray(x)
        return jax.make_array_from_process_local_data(batch_sharding(mesh, x.ndim), x, (global_size,) + x.shape[1:])
    return jax.tree.map(make, local)
