"""One place to save a module's parameters as an Orbax checkpoint and restore them onto a mesh.

The tree on disk is the module's pure dict (nnx.to_pure_dict): one array per parameter,
scanned blocks stacked on a leading layer axis. Paths are anything etils.epath takes, so a
`gs://` bucket works as a local folder does. Restoring reads each parameter straight into
its shards (each host reads only its own), in the dtype asked for.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np
from etils import epath
from flax import nnx

from skyreels_jax.parallel.rules import state_shardings


def nest(flat: dict[tuple, Any]) -> dict:
    """{(a, b, c): x} -> {a: {b: {c: x}}}, the pure-dict shape Orbax saves."""
    nested: dict = {}
    for path, value in flat.items():
        node = nested
        for part in path[:-1]:
            node = node.setdefault(str(part), {})
        node[str(path[-1])] = value
    return nested


def flatten(nested: dict, prefix: tuple = ()) -> dict[tuple, Any]:
    """The inverse of nest (keys come back as strings)."""
    flat = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            flat.update(flatten(value, prefix + (key,)))
        else:
            flat[prefix + (key,)] = value
    return flat


def path_name(path: tuple) -> str:
    return "/".join(map(str, path))


def save_module(path, module: nnx.Module) -> None:
    """Save every parameter of `module` to a new checkpoint at `path` (written atomically by Orbax)."""
    import orbax.checkpoint as ocp

    state = nnx.to_flat_state(nnx.state(module))
    ocp.v1.save(epath.Path(path), nest({p: v.get_value() for p, v in state}))


def stored(path) -> dict[str, tuple[tuple[int, ...], str]]:
    """{'a/b/c': (shape, dtype name)} of every array in the checkpoint, read from its metadata only."""
    import orbax.checkpoint as ocp

    tree = ocp.v1.metadata(epath.Path(path)).metadata
    return {path_name(p): (tuple(m.shape), np.dtype(m.dtype).name) for p, m in flatten(tree).items()}


def restore_module(path, abstract: Callable[[], nnx.Module], mesh=None,
                   dtypes: dict[str, str] | None = None) -> nnx.Module:
    """The module built by `abstract()` (under nnx.eval_shape) with its parameters read from `path`.

    dtypes maps 'a/b/c' to the dtype to restore that parameter in (default: the module's own);
    with a mesh every parameter is read straight onto its shards, never whole on one device.
    """
    import orbax.checkpoint as ocp

    graphdef, state = nnx.split(nnx.eval_shape(abstract))
    shardings = state_shardings(state, mesh) if mesh is not None else {}
    default = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    target = {}
    for p, variable in nnx.to_flat_state(state):
        value = variable.get_value()
        dtype = (dtypes or {}).get(path_name(p), value.dtype)
        target[p] = jax.ShapeDtypeStruct(value.shape, dtype, sharding=shardings.get(p) or default)
    restored = flatten(ocp.v1.load(epath.Path(path), nest(target)))
    for p, variable in nnx.to_flat_state(state):
        variable.set_value(restored[tuple(map(str, p))])
    return nnx.merge(graphdef, state)


class StreamingWriter:
    """Write a checkpoint a few parameters at a time: host memory holds at most `flush_bytes`
    of pending arrays (plus the one being added), never the whole model.

    Built on Orbax partial saves: each flush adds its arrays to a pending checkpoint beside
    `path`; close() merges them and renames the result to `path`.
    """

    def __init__(self, path, flush_bytes: int = 256 << 20):
        self.path, self.flush_bytes = epath.Path(path), flush_bytes
        self._pending: dict[tuple, np.ndarray] = {}
        self._flushed = False

    def add(self, path: tuple, array: np.ndarray) -> None:
        self._pending[path] = array
        if sum(a.nbytes for a in self._pending.values()) >= self.flush_bytes:
            self.flush()

    def flush(self) -> None:
        from orbax.checkpoint.experimental.v1 import partial

        if self._pending:
            partial.save(self.path, nest(self._pending))
            self._pending, self._flushed = {}, True

    def close(self) -> None:
        from orbax.checkpoint.experimental.v1 import partial

        self.flush()
        if not self._flushed:
            raise ValueError(f"nothing was written to {self.path}")
        partial.finalize(self.path)
