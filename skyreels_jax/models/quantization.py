"""`quantize(model, mode)`: the linear layers of a DiT's or a UMT5 encoder's blocks to int8 or fp8.

Only the repeated blocks' projections (attention q/k/v/o, the FFN) are quantized: they hold almost all
the weights. Norms, modulation, embeddings, the time and text embedders and the head keep their float
types. Quantized kernels keep their logical axes, so they shard as the float ones do; the scales
follow the output axis.
"""
from __future__ import annotations

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
    network = model.model if isinstance(model, TextEncoder) else model
    if not isinstance(network, (DiT, UMT5Encoder)):
        raise TypeError(f"quantize takes a DiT, a UMT5Encoder or a TextEncoder, not {type(model).__name__}")
    check_platform(mode, current_platform())
    layers = [m for path, m in nnx.iter_modules(network) if isinstance(m, Linear) and path[:1] == (STACKED,)]
    if any(layer.quant is not None for layer in layers):
        raise ValueError(f"this {type(network).__name__} is already quantized ({layers[0].quant}); "
                         "quantize the float model")
    for layer in layers:
        layer.quantize(mode)
    return model


__all__ = ["MODES", "quantize"]
