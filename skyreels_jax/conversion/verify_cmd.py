"""`verify DST [--against SRC]`: a converted checkpoint is complete, loads, and computes what SRC computes.

Without SRC: every tensor of each component's model (built from its component.json) must be
in the Orbax checkpoint with the recorded shape and dtype, and the component must load.
With SRC: one forward of each component on random inputs, ours (from DST, in float32)
against the PyTorch reference built from SRC, reported as ‖ours − ref‖ / ‖ref‖.
"""
from __future__ import annotations

import importlib.util

import jax.numpy as jnp
import numpy as np

from skyreels_jax.checkpoints.converted import read_component, read_manifest
from skyreels_jax.hub import resolve
from skyreels_jax.models.components import check_stored, find_components, load_converted, open_source

# relative error allowed against the reference: float32 weights (or the source's own dtype), bf16 rounding,
# and quantized blocks (per-channel int8 or e4m3 kernels, the rest bf16: e4m3 keeps 3 mantissa bits, about 10 %
# error through the test models' narrow layers); a conversion mistake (a wrong key, a transposed kernel) gives ~1
TOLERANCE = {"float32": 1e-5, "keep": 1e-5, "bfloat16": 3e-2, "int8": 5e-2, "fp8": 2e-1}


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def verify(dst: str, against: str | None = None, seed: int = 0, log=print) -> list[str]:
    """Every problem found, [] when the checkpoint passes (each component's result is logged)."""
    if against is not None and importlib.util.find_spec("torch") is None:
        raise ImportError("verify --against computes the PyTorch reference: pip install 'skyreels-jax[convert]'")
    manifest = read_manifest(dst)
    problems: list[str] = []
    for name in manifest["components"]:
        found = check_stored(dst, name)
        if not found:
            try:
                load_converted(dst, name)
            except Exception as e:  # a damaged chunk or an unreadable checkpoint
                found = [f"{name}: does not load ({type(e).__name__}: {e})"]
        info = read_component(dst, name)
        log(f"{name}: {len(info['tensors'])} tensors, {info['dtype']}: " + ("OK" if not found else "FAILED"))
        for line in found:
            log(f"  {line}")
        problems += found
    if against is None or problems:
        return problems
    sources = find_components(resolve(against))
    for name in manifest["components"]:
        if name not in sources:
            problems.append(f"{name}: {against} has no {name} to compare with")
            log(f"  {problems[-1]}")
            continue
        problems += _compare(dst, name, open_source(name, sources[name]), seed, log)
    return problems


def _compare(dst, name, source, seed, log) -> list[str]:
    from skyreels_jax.conversion import reference

    ours = load_converted(dst, name, jnp.float32)
    mine, ref, what = reference.FORWARDS[name](source, ours, np.random.default_rng(seed))
    err = rel_err(mine, ref)
    tol = TOLERANCE.get(read_component(dst, name)["dtype"], 3e-2)
    ok = np.isfinite(err) and err <= tol
    log(f"{name}: relative error {err:.2e} against {what} ({'OK' if ok else 'FAILED'}, tolerance {tol:.0e})")
    return [] if ok else [f"{name}: relative error {err:.2e} against {what} exceeds {tol:.0e}"]
