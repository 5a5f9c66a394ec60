"""A persistent XLA compilation cache: compiled programs kept on disk and reused by later runs.

Off unless a directory is given: `skyreels-jax generate --compilation-cache DIR`, the environment
variable SKYREELS_JAX_CACHE_DIR (read by the `skyreels-jax` command, or by a library user's call
`enable_compilation_cache()`), or a call to `enable_compilation_cache(DIR)` before the first
compilation. (JAX's own JAX_COMPILATION_CACHE_DIR works too.) A 1.3B or 14B DiT step then
compiles once per shape per machine instead of once per process; entries are keyed by the
program, the jax/XLA version and the device kind, so one directory can be shared by different
machines and versions.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV = "SKYREELS_JAX_CACHE_DIR"


def enable_compilation_cache(path: str | os.PathLike | None = None,
                             min_compile_seconds: float | None = None) -> str | None:
    """Cache compilations in path (default: $SKYREELS_JAX_CACHE_DIR) that took at least
    min_compile_seconds (default: JAX's jax_persistent_cache_min_compile_time_secs, 1 s).

    Returns the directory in use, or None when neither is set (the cache stays as it was).
    """
    path = path or os.environ.get(ENV)
    if not path:
        return None
    import jax

    folder = Path(path).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    if min_compile_seconds is not None:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return str(folder)
