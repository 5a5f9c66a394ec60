"""`quantize(model, mode)`: the linear layers of a DiT's or a UMT5 encoder's blocks to int8 or fp8.

Only the repeated blocks' projections (attention q/k/v/o, the FFN) are quantized: they hold almost all
the weights. Norms, modulation, embeddings, the time and text embedders and the head keep their float
types. Quantized kernels keep their logical axes, so they shard as the float ones do; the scales
follow the output axis.
"""
from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from skyreels_jax.models.dit.model import DiT
from skyreels_jax.models.umt5.encoder import TextEncoder
from skyreels_jax.models.umt5.model import UMT5Encoder
from skyreels_jax.nn.linear import Linear
from skyreels_jax.nn.platform import current_platform
from skyreels_jax.nn.quant import MODES, check_mode, check_platform
from skyreels_jax.nn.stack import STACKED


def quantize(model, mode: str | None):
    """The model with its blocks' linear layers quantized in place (mode None: unchanged); returns it.

    model is a DiT, a UMT5Encoder or a TextEncoder, built or abstract (under nnx.eval_shape, or its
    ShapeDtypeStruct state). mode is one of MODES: "int8", "fp8", "int8-dynamic", "fp8-dynamic".
    """
    if check_mode(mode) is None:
        return model
    check_platform(mode, current_platform())
    layers = _quantizable(model)
    if any(layer.quant is not None for layer in layers.values()):
        raise ValueError(f"this {type(model).__name__} is already quantized ({next(iter(layers.values())).quant}); "
                         "quantize the float model")
    for layer in layers.values():
        layer.quantize(mode)
    return model


def quantized_kernels(model) -> list[tuple]:
    """The state paths of the kernels quantize() replaces (each gains a `scale` beside it)."""
    return [path + ("kernel",) for path in _quantizable(model)]


def quantize_abstract(model, mode: str | None) -> dict[tuple, tuple[str, jnp.dtype]]:
    """Quantize an abstract model (under nnx.eval_shape) for a loader to fill (checkpoints.fill): returns
    {kernel path: (mode, the float dtype its weights are rounded to before quantizing)}, so that loading
    quantized holds what loading float and calling quantize() holds, without the float model."""
    if check_mode(mode) is None:
        return {}
    state = dict(nnx.to_flat_state(nnx.state(model)))
    kernels = {path: (mode, state[path].get_value().dtype) for path in quantized_kernels(model)}
    quantize(model, mode)
    return kernels


def quantization_of(model) -> str | None:
    """The mode a DiT's or a text encoder's blocks run in; None when they are float."""
    return next((layer.quant for layer in _quantizable(model).values()), None)


def _quantizable(model) -> dict[tuple, Linear]:
    network = model.model if isinstance(model, TextEncoder) else model
    if not isinstance(network, (DiT, UMT5Encoder)):
        raise TypeError(f"quantize takes a DiT, a UMT5Encoder or a TextEncoder, not {type(model).__name__}")
    return {path: m for path, m in nnx.iter_modules(network) if isinstance(m, Linear) and path[:1] == (STACKED,)}


__all__ = ["MODES", "quantization_of", "quantize", "quantize_abstract", "quantized_kernels"]
