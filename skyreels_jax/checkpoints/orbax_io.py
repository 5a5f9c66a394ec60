"""One place to save a module's parameters as an Orbax checkpoint and restore them onto a mesh.

The tree on disk is the module's pure dict (nnx.to_pure_dict): one array per parameter. The
scanned blocks are stored either stacked on a leading layer axis (save_module, for a model
already in memory) or one leaf per layer, `blocks/<i>/...` (per_layer=True, what the
streaming converter writes: no host ever builds a stacked array). Paths are anything
etils.epath takes, so a `gs://` bucket works as a local folder does. Restoring reads each
parameter straight into its shards (each host reads only its own), in the dtype asked for;
per-layer leaves are read a chunk at a time and written into their stacked arrays in place.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np
from etils import epath
from flax import nnx

from skyreels_jax.checkpoints.fill import layer_sharding, write_layer, zeros
from skyreels_jax.hub import as_epath
from skyreels_jax.nn.stack import is_stacked
from skyreels_jax.parallel.rules import state_shardings

RESTORE_CHUNK_BYTES = 64 << 20  # per-layer leaves read per Orbax call, beside the restored model


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


def layer_path(path: tuple, layer: int) -> tuple:
    """Where layer `layer` of the stacked parameter `path` is stored: ('blocks', 'i', ...)."""
    return (path[0], str(layer), *map(str, path[1:]))


def disk_leaves(shapes: dict[tuple, tuple], per_layer: bool) -> dict[tuple, tuple[tuple, int | None, tuple]]:
    """{path on disk: (parameter path, layer or None, shape on disk)} for parameters of the given shapes."""
    leaves = {}
    for path, shape in shapes.items():
        if per_layer and is_stacked(path):
            leaves.update({layer_path(path, i): (path, i, tuple(shape[1:])) for i in range(shape[0])})
        else:
            leaves[tuple(map(str, path))] = (path, None, tuple(shape))
    return leaves


def save_module(path, module: nnx.Module) -> None:
    """Save every parameter of `module` to a new checkpoint at `path` (written atomically by Orbax)."""
    import orbax.checkpoint as ocp

    state = nnx.to_flat_state(nnx.state(module))
    ocp.v1.save(as_epath(path), nest({p: v.get_value() for p, v in state}))


def stored(path) -> dict[str, tuple[tuple[int, ...], str]]:
    """{'a/b/c': (shape, dtype name)} of every array in the checkpoint, read from its metadata only."""
    import orbax.checkpoint as ocp

    tree = ocp.v1.metadata(as_epath(path)).metadata
    return {path_name(p): (tuple(m.shape), np.dtype(m.dtype).name) for p, m in flatten(tree).items()}


def restore_module(path, abstract: Callable[[], nnx.Module], mesh=None,
                   dtypes: dict[str, str] | None = None, *, per_layer: bool = False,
                   chunk_bytes: int = RESTORE_CHUNK_BYTES, partial: bool = False) -> nnx.Module:
    """The module built by `abstract()` (under nnx.eval_shape) with its parameters read from `path`.

    dtypes maps 'a/b/c' to the dtype to restore that parameter in (default: the module's own);
    with a mesh every parameter is read straight onto its shards, never whole on one device.
    per_layer: the checkpoint stores the stacked blocks one leaf per layer (see layer_path);
    they are read about `chunk_bytes` at a time into their stacked arrays, so the peak is
    the restored model plus one chunk. partial: the module holds only some of the checkpoint's
    parameters (e.g. one half of a VAE); only those are read.
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
    if per_layer:
        restored = _restore_layers(as_epath(path), target, chunk_bytes)
    else:
        context = ocp.v1.Context()
        context.pytree_options.loading.partial_load = partial
        with context:
            loaded = flatten(ocp.v1.load(as_epath(path), nest(target)))
        restored = {p: loaded[tuple(map(str, p))] for p in target}
    for p, variable in nnx.to_flat_state(state):
        variable.set_value(restored[p])
    return nnx.merge(graphdef, state)


def _restore_layers(path: epath.Path, target: dict[tuple, jax.ShapeDtypeStruct], chunk_bytes: int) -> dict:
    """{parameter path: array} from a per-layer checkpoint: unstacked parameters first, then
    layer by layer, each chunk in one partial Orbax load, each layer written in place."""
    import orbax.checkpoint as ocp

    leaves = disk_leaves({p: t.shape for p, t in target.items()}, per_layer=True)
    order = sorted(leaves, key=lambda disk: -1 if leaves[disk][1] is None else leaves[disk][1])
    context = ocp.v1.Context()
    context.pytree_options.loading.partial_load = True
    out: dict = {}
    chunk: dict[tuple, jax.ShapeDtypeStruct] = {}
    size = 0
    for n, disk in enumerate(order):
        param, layer, shape = leaves[disk]
        whole = target[param]
        sharding = whole.sharding if layer is None else layer_sharding(whole.sharding)
        chunk[disk] = jax.ShapeDtypeStruct(shape, whole.dtype, sharding=sharding)
        size += int(np.prod(shape, dtype=np.int64)) * np.dtype(whole.dtype).itemsize
        if size < chunk_bytes and n + 1 < len(order):
            continue
        with context:
            loaded = flatten(ocp.v1.load(path, nest(chunk)))
        for disk_path, array in loaded.items():
            param, layer, _ = leaves[disk_path]
            if layer is None:
                out[param] = array
                continue
            if param not in out:
                out[param] = zeros(target[param].shape, target[param].dtype, target[param].sharding)
            out[param] = write_layer(out[param], layer, array)
        # wait for the writes: queued ones would keep their chunks alive, and memory would grow with depth
        jax.block_until_ready([out[leaves[d][0]] for d in loaded])
        chunk, size, loaded, array = {}, 0, None, None
    return out


class StreamingWriter:
    """Write a checkpoint a few parameters at a time: host memory holds at most `flush_bytes`
    of pending arrays, or one array when it alone is larger, never the whole model.

    Built on Orbax partial saves: each flush adds its arrays to a pending checkpoint beside
    `path`; close() merges them and renames the result to `path`.
    """

    def __init__(self, path, flush_bytes: int = 256 << 20):
        self.path, self.flush_bytes = as_epath(path), flush_bytes
        self._pending: dict[tuple, np.ndarray] = {}
        self._flushed = False

    def add(self, path: tuple, array: np.ndarray) -> None:
        if sum(a.nbytes for a in self._pending.values()) + array.nbytes > self.flush_bytes:
            self.flush()   # what waits first, so that a large array is written on its own
        self._pending[path] = array
        if array.nbytes >= self.flush_bytes:
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
