"""Quantized weights for Linear layers: int8 or fp8 (e4m3) kernels with one float32 scale per output
channel, held quantized in memory and dequantized inside the jitted matmul.

Modes:
- "int8", "fp8": weight-only. The dot runs in the compute dtype on the upcast kernel (int8 and e4m3 values
  are exact in bfloat16); the per-channel scale multiplies the output, not the kernel.
- "int8-dynamic": int8 weights and per-token int8 activations, an int8 x int8 -> int32 dot (the int8
  matrix units of TPU v5e/v6e; oneDNN on CPU).
- "fp8-dynamic": the same in e4m3 with a float32 accumulator, for GPUs with fp8 units. Elsewhere XLA
  upcasts the fp8 operands to float32 for the dot: the same numerics, without the speed (a warning says so).
"""
from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

MODES = ("int8", "fp8", "int8-dynamic", "fp8-dynamic")
_FORMATS = {"int8": (jnp.int8, 127.0), "fp8": (jnp.float8_e4m3fn, 448.0)}  # storage dtype, largest value used


def check_mode(mode: str | None) -> str | None:
    """mode itself if it is None or one of MODES; otherwise a one-line ValueError."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"quantize mode {mode!r} is not one of None, {', '.join(map(repr, MODES))}")
    return mode


def check_platform(mode: str | None, platform: str) -> None:
    """Warn where the platform runs the mode by a stated fallback (fp8 dots without fp8 units)."""
    if mode == "fp8-dynamic" and platform not in ("cuda", "rocm"):
        warnings.warn(f"fp8-dynamic on {platform}: no fp8 matrix units, XLA multiplies the fp8 values in float32 "
                      "(the same numerics as fp8 with a float32 accumulator, not faster; int8-dynamic is the "
                      "fast mode here)", stacklevel=3)


def scale_path(kernel: tuple) -> tuple:
    """Where a quantized kernel's per-output-channel scale lives in the state: beside it in its Linear."""
    return kernel[:-1] + ("scale",)


def storage(mode: str) -> tuple[jnp.dtype, float]:
    """(dtype the weights are stored in, the largest magnitude a scaled value takes)."""
    dtype, top = _FORMATS[mode.split("-")[0]]
    return jnp.dtype(dtype), top


def is_dynamic(mode: str | None) -> bool:
    return bool(mode) and mode.endswith("-dynamic")


def _to_format(x: jax.Array, dtype, top: float) -> jax.Array:
    x = jnp.clip(x, -top, top)
    return (jnp.round(x) if dtype == jnp.int8 else x).astype(dtype)


def quantize_weight(w: jax.Array, mode: str) -> tuple[jax.Array, jax.Array]:
    """(q, scale): w [..., in, out] ~ q * scale[..., None, :], scale float32 [..., out] (max |w| per column)."""
    dtype, top = storage(mode)
    w = w.astype(jnp.float32)
    amax = jnp.max(jnp.abs(w), axis=-2)
    scale = jnp.where(amax > 0, amax / top, 1.0)
    return _to_format(w / scale[..., None, :], dtype, top), scale


def dequantize_weight(q: jax.Array, scale: jax.Array) -> jax.Array:
    return q.astype(jnp.float32) * scale[..., None, :]


def quantize_rows(x: jax.Array, mode: str) -> tuple[jax.Array, jax.Array]:
    """Per-token activations: (q, scale) with x [..., in] ~ q * scale[..., None], scale float32 [...]."""
    dtype, top = storage(mode)
    x = x.astype(jnp.float32)
    amax = jnp.max(jnp.abs(x), axis=-1)
    scale = jnp.where(amax > 0, amax / top, 1.0)
    return _to_format(x / scale[..., None], dtype, top), scale


def quantized_matmul(x: jax.Array, q: jax.Array, scale: jax.Array, mode: str, dtype) -> jax.Array:
    """x @ (q * scale) as float32, x [..., in], q [in, out], scale [out]."""
    if not is_dynamic(mode):
        y = jnp.matmul(x.astype(dtype), q.astype(dtype), preferred_element_type=jnp.float32)
        return y * scale
    xq, x_scale = quantize_rows(x, mode)
    accumulator = jnp.int32 if q.dtype == jnp.int8 else jnp.float32
    y = jax.lax.dot_general(xq, q, (((x.ndim - 1,), (0,)), ((), ())), preferred_element_type=accumulator)
    return y.astype(jnp.float32) * x_scale[..., None] * scale


def _scale_sharding(sharding, ndim: int):
    """The scale's sharding: the kernel's without its input axis (scales follow the output axis)."""
    if not isinstance(sharding, NamedSharding):
        return sharding
    spec = tuple(sharding.spec) + (None,) * (ndim - len(sharding.spec))
    return NamedSharding(sharding.mesh, PartitionSpec(*spec[:-2], spec[-1]))


def quantize_array(w, mode: str):
    """quantize_weight for a concrete array (kept on its shards, one layer at a time for a stacked
    [layers, in, out] kernel so the float32 temporaries stay one layer's), a tracer, or a ShapeDtypeStruct."""
    dtype, _ = storage(mode)
    if isinstance(w, jax.ShapeDtypeStruct):
        sharding = getattr(w, "sharding", None)
        return (jax.ShapeDtypeStruct(w.shape, dtype, sharding=sharding),
                jax.ShapeDtypeStruct(w.shape[:-2] + w.shape[-1:], jnp.float32,
                                     sharding=_scale_sharding(sharding, w.ndim)))
    if isinstance(w, jax.core.Tracer):
        return _quantize_layers(w, mode)
    sharding = getattr(w, "sharding", None)
    out = (sharding, _scale_sharding(sharding, w.ndim)) if isinstance(sharding, NamedSharding) else None
    return jax.jit(_quantize_layers, static_argnums=1, out_shardings=out)(w, mode)


def _quantize_layers(w, mode: str):
    if w.ndim == 3:
        return jax.lax.map(lambda layer: quantize_weight(layer, mode), w)
    return quantize_weight(w, mode)
