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

from flax import nnx

from skyreels_jax.checkpoints.orbax_io import restore_module, save_module

FORMAT_VERSION = 2  # 2: saved with orbax_io (ocp.v1), one format with converted checkpoints


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
    entry = cache_root() / f"{name}-{fingerprint(files, **settings)}"
    if (entry / "state").exists():
        return restore_module(entry / "state", abstract, mesh)
    model = convert()
    entry.mkdir(parents=True, exist_ok=True)
    save_module(entry / "state", model)
    return model
