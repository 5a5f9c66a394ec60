"""What the benchmark scripts share: per-process memory, warm timing, children that report JSON.

Memory is read from /proc/self/status in the measured process itself: VmHWM is the RSS
high-water mark of this process's address space only (ru_maxrss would also count the parent's
RSS, which Linux carries across a spawn's exec), and writing 5 to /proc/self/clear_refs resets it,
so a warm-run peak can be taken apart from loading and compiling.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from skyreels_jax.compilation_cache import enable_compilation_cache
from skyreels_jax.heap import trim_heap_after_compiles

ROOT = Path(__file__).resolve().parents[1]

# measure what the `skyreels-jax` command runs: the heap trim on, the compilation cache where
# $SKYREELS_JAX_CACHE_DIR is set
enable_compilation_cache()
trim_heap_after_compiles()


def vm_mib(field: str = "VmRSS") -> float:
    """A /proc/self/status memory field (VmRSS, VmHWM, ...) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> None:
    """Start a new VmHWM measurement from the current RSS, after handing freed heap back to the OS
    (glibc keeps it otherwise, e.g. what XLA freed after compiling)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    Path("/proc/self/clear_refs").write_text("5")


def timed(fn, repeats: int) -> tuple[dict, object]:
    """First call (compile + run for jax), then the best of `repeats` warm calls and their peak RSS;
    returns (record, the last call's result). fn must block until its result is ready (e.g. return
    a numpy array)."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    peak_so_far = vm_mib("VmHWM")
    reset_peak()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return dict(first_s=first, time_s=min(times), warm_peak_mib=vm_mib("VmHWM"),
                peak_mib=max(peak_so_far, vm_mib("VmHWM"))), value


def child_env() -> dict:
    """Environment of a measured child: this checkout first on the path, glibc arenas capped (XLA's CPU
    thread pool otherwise keeps ~0.5 GB of freed buffers per run in per-thread arenas)."""
    return {"MALLOC_ARENA_MAX": "2", **os.environ, "PYTHONPATH": str(ROOT)}


def run_child(module: str, *args: str, env: dict | None = None, cpus: str | None = None) -> dict:
    """python -m module args... in a fresh process (env: extra variables; cpus: pinned there with taskset,
    e.g. "0,1"); its last stdout line is the JSON result."""
    pin = ["taskset", "-c", cpus] if cpus else []
    out = subprocess.run([*pin, sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                         cwd=ROOT, env={**child_env(), **(env or {})})
    if out.returncode:
        raise RuntimeError(f"{module} {' '.join(map(str, args))} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def torch_threads() -> int:
    """Set torch to as many threads as XLA's CPU client uses, and return that count: XLA sizes its
    intra-op pool by the CPUs this process may run on (taskset), so torch gets the same number."""
    import torch

    n = len(os.sched_getaffinity(0))
    torch.set_num_threads(n)
    return n
