"""A cache of converted checkpoints: convert a PyTorch checkpoint once, restore it fast next time.

The converted weights are saved as an Orbax checkpoint under
$SKYREELS_JAX_CACHE (default ~/.cache/skyreels_jax)/converted/<name>-<fingerprint>. The
fingerprint covers the source files (names, sizes, modification times), the dtype and a
format version, so a changed source is converted again. Orbax writes to a temporary folder
and renames it at the end: a crash never leaves a half-written entry. Restoring with a mesh
reads each parameter's shards directly (on a pod, each host reads only its own).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import jax
from flax import nnx

from skyreels_jax.parallel.rules import state_shardings

FORMAT_VERSION = 1


def cache_root() -> Path:
    return Path(os.environ.get("SKYREELS_JAX_CACHE", Path.home() / ".cache" / "skyreels_jax")) / "converted"


def fingerprint(files: list[Path], **settings) -> str:
    digest = hashlib.sha256(json.dumps({"version": FORMAT_VERSION, **{k: str(v) for k, v in settings.items()}},
                                       sort_keys=True).encode())
    for f in sorted(Path(p).resolve() for p in files):
        stat = f.stat()
        digest.update(f"{f}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def load_cached(name: str, files: list[Path], settings: dict, abstract: Callable[[], nnx.Module],
                convert: Callable[[], nnx.Module], mesh=None) -> nnx.Module:
    """The converted model from the cache, or convert(), save it to the cache and return it."""
    import orbax.checkpoint as ocp

    entry = cache_root() / f"{name}-{fingerprint(files, **settings)}"
    checkpointer = ocp.StandardCheckpointer()
    if (entry / "state").exists():
        graphdef, state = nnx.split(nnx.eval_shape(abstract))
        shardings = state_shardings(state, mesh) if mesh is not None else {}
        target = {}
        for path, variable in nnx.to_flat_state(state):
            value = variable.get_value()
            sharding = shardings.get(path) or jax.sharding.SingleDeviceSharding(jax.devices()[0])
            target[path] = jax.ShapeDtypeStruct(value.shape, value.dtype, sharding=sharding)
        restored = checkpointer.restore(entry / "state", _nest(target))
        nnx.replace_by_pure_dict(state, restored)
        return nnx.merge(graphdef, state)
    model = convert()
    entry.parent.mkdir(parents=True, exist_ok=True)
    checkpointer.save(entry / "state", nnx.to_pure_dict(nnx.state(model)))
    checkpointer.wait_until_finished()
    return model


def _nest(flat: dict) -> dict:
    nested: dict = {}
    for path, value in flat.items():
        node = nested
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return nested
