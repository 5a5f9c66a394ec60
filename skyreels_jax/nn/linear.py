"""Dense layer with float32 accumulation and logical axis names on its parameters."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from skyreels_jax.nn.quant import check_mode, quantize_array, quantized_matmul

Axes = tuple[str | None, ...]


def matmul(x: jax.Array, w: jax.Array, dtype: jnp.dtype) -> jax.Array:
    """x @ w in `dtype`, accumulated in float32.

    On CPU a bf16 dot with bf16 output runs at half the speed of one asked for float32
    accumulation, and the float32 sum is also the more accurate one.
    """
    if jnp.dtype(dtype) == jnp.float32 and w.dtype == jnp.bfloat16 and math.prod(x.shape[:-1]) <= _FEW_ROWS:
        return _float32_times_bfloat16(x, w)
    return jnp.matmul(x.astype(dtype), w.astype(dtype), preferred_element_type=jnp.float32)


# rows up to which a float32 product with a bfloat16 kernel splits x instead of converting the kernel
_FEW_ROWS = 64


def _float32_times_bfloat16(x: jax.Array, w: jax.Array) -> jax.Array:
    """x (float32) @ w (bfloat16) as three bfloat16 products: x = x1 + x2 + x3, each part bfloat16, is
    exact to float32's 24 bits and each part's product with w is exact, so the float32 sum is the float32
    product. For a few rows (timestep embeddings) this reads the kernel as it is instead of converting
    all of it to float32 on every call (two 1536 × 9216 kernels: 3 % of a bf16 DiT forward on CPU)."""
    x = x.astype(jnp.float32)
    parts = []
    for _ in range(3):
        part = x.astype(jnp.bfloat16)
        parts.append(part)
        x = x - part.astype(jnp.float32)
    return jnp.matmul(jnp.stack(parts), w, preferred_element_type=jnp.float32).sum(0)


class LoraFactor(nnx.Variable):
    """A LoRA factor applied at run time: not a Param, so it is neither trained, quantized nor saved."""


class Linear(nnx.Module):
    """y = x @ kernel + bias; kernel is [in, out] (PyTorch weights are transposed on load).

    After `quantize(mode)` the kernel is int8 or fp8 and `scale` [out] float32 (see nn/quant.py).
    After `attach_lora(down, up, scale)` the output gains ((x @ down) * scale) @ up, a LoRA applied at run
    time: its `scale` [rank] can change between calls without recompiling, and the kernel is untouched
    (float or quantized).
    """

    def __init__(self, in_features: int, out_features: int, *, axes: Axes = (None, None),
                 use_bias: bool = True, dtype=jnp.float32, param_dtype=jnp.float32, rngs: nnx.Rngs):
        init = nnx.initializers.lecun_normal()
        self.kernel = nnx.Param(init(rngs.params(), (in_features, out_features), param_dtype),
                                logical_axes=axes)
        self.bias = (nnx.Param(jnp.zeros((out_features,), param_dtype), logical_axes=axes[1:])
                     if use_bias else None)
        self.dtype = dtype
        self.quant: str | None = None
        self.scale = nnx.data(None)  # a Param once quantized
        self.lora_down = self.lora_up = self.lora_scale = nnx.data(None)  # LoraFactor once attached

    def quantize(self, mode: str) -> None:
        """Replace the kernel by its quantized form and a per-output-channel scale, in place. Works on
        concrete kernels (kept on their shards), traced ones (under nnx.eval_shape) and ShapeDtypeStructs."""
        check_mode(mode)
        if self.quant is not None:
            raise ValueError(f"this layer is already quantized ({self.quant})")
        axes = self.kernel.get_metadata().get("logical_axes") or (None, None)
        q, scale = quantize_array(self.kernel.get_value(), mode)
        self.kernel.set_value(q)
        self.scale = nnx.Param(scale, logical_axes=tuple(axes[-1:]))
        self.quant = mode

    def attach_lora(self, down: jax.Array, up: jax.Array, scale: jax.Array) -> None:
        """Apply a LoRA at run time: down [in, rank], up [rank, out], scale [rank] (stacked layers: each with a
        leading layer axis). Replaces any LoRA attached before."""
        self.lora_down, self.lora_up, self.lora_scale = LoraFactor(down), LoraFactor(up), LoraFactor(scale)

    def __call__(self, x: jax.Array, out_dtype=None) -> jax.Array:
        if self.quant is None:
            y = matmul(x, self.kernel[...], self.dtype)
        else:
            y = quantized_matmul(x, self.kernel[...], self.scale[...], self.quant, self.dtype)
        if self.lora_down is not None:
            h = matmul(x, self.lora_down[...], self.dtype) * self.lora_scale[...]
            y = y + matmul(h, self.lora_up[...], self.dtype)
        if self.bias is not None:
            y = y + self.bias[...].astype(jnp.float32)
        return y.astype(out_dtype or self.dtype)
