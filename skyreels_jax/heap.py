"""Hand the memory XLA's compiler frees back to the OS after every compile (glibc's malloc_trim).

A compile (LLVM on CPU) allocates ~100 MB or more and frees most of it when it ends, but glibc keeps
the freed pages in the process. The first call of a program then allocates its buffers beside them,
so the process's peak held the compile's leftovers and the call's working set at once: about 130 MiB
more than a warm call for the Wan VAE decode on CPU (docs/performance.md). Trimming once per
compile costs about a millisecond. The `skyreels-jax` command turns it on (on glibc systems;
SKYREELS_JAX_TRIM_HEAP=0 keeps it off); a library user calls `trim_heap_after_compiles()`.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

ENV = "SKYREELS_JAX_TRIM_HEAP"
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"  # jax._src.dispatch.BACKEND_COMPILE_EVENT
_registered = False


def trim_heap_after_compiles() -> bool:
    """Register the trim (once per process); whether it is on (False without glibc, or with
    SKYREELS_JAX_TRIM_HEAP=0)."""
    global _registered
    if _registered:
        return True
    if os.environ.get(ENV, "1") == "0":
        return False
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to do
        return False
    import jax

    def after_compile(event: str, duration: float, **kwargs) -> None:
        if event == _COMPILE_EVENT:
            trim(0)

    jax.monitoring.register_event_duration_secs_listener(after_compile)
    _registered = True
    return True
