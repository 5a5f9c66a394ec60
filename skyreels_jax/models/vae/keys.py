"""Names of every VAE parameter in the two published layouts, and the PyTorch <-> Flax tensor layouts.

Our module tree mirrors the original Wan2.1 VAE (flat `downsamples`/`upsamples` lists) with
diffusers-style leaf names. The original names Sequential indices (`residual.{0,2,3,6}`,
`head.{0,2}`, `middle.{0,1,2}`, top-level `conv1`/`conv2`); diffusers groups the decoder's flat
list into `up_blocks.{stage}.resnets.{j}` / `.upsamplers.0`.
"""
from __future__ import annotations

import numpy as np

LAYOUTS = ("original", "diffusers")

_TOP = {"quant_conv": ("conv1", "quant_conv"), "post_quant_conv": ("conv2", "post_quant_conv")}
_PART = {  # encoder/decoder children: ours -> (original, diffusers)
    "conv_in": ("conv1", "conv_in"), "norm_out": ("head.0", "norm_out"), "conv_out": ("head.2", "conv_out"),
    "mid.res0": ("middle.0", "mid_block.resnets.0"), "mid.attn": ("middle.1", "mid_block.attentions.0"),
    "mid.res1": ("middle.2", "mid_block.resnets.1"),
}
_RES = {"norm1": "residual.0", "conv1": "residual.2", "norm2": "residual.3", "conv2": "residual.6",
        "conv_shortcut": "shortcut"}  # ResBlock children: diffusers (= ours) -> original
_LEAF = {"kernel": "weight", "bias": "bias", "scale": "gamma", "to_qkv": "to_qkv.weight",
         "to_qkv_bias": "to_qkv.bias", "proj": "proj.weight", "proj_bias": "proj.bias"}


def _decoder_block(index: int, cfg) -> str:
    """diffusers name of the decoder's flat `upsamples.{index}` entry."""
    stages = len(cfg.dim_mult)
    for stage in range(stages):
        n_res = cfg.num_res_blocks + 1
        if index < n_res:
            return f"up_blocks.{stage}.resnets.{index}"
        if stage < stages - 1 and index == n_res:
            return f"up_blocks.{stage}.upsamplers.0"
        index -= n_res + (stage < stages - 1)
    raise KeyError(f"decoder block index out of range for {cfg}")


def source_key(path: tuple, layout: str, cfg) -> str:
    """The checkpoint key of one of our parameters, e.g. ('encoder', 'down', 0, 'conv1', 'kernel')."""
    col = LAYOUTS.index(layout)
    parts = [str(p) for p in path]
    leaf = _LEAF[parts[-1]]
    if parts[0] in _TOP:
        return f"{_TOP[parts[0]][col]}.{leaf}"
    side, rest = parts[0], parts[1:-1]
    if rest[0] in ("down", "up"):
        index = int(rest[1])
        if layout == "original":
            block = f"{'downsamples' if rest[0] == 'down' else 'upsamples'}.{index}"
        else:
            block = f"down_blocks.{index}" if rest[0] == "down" else _decoder_block(index, cfg)
        inner = rest[2:]
    elif rest[0] == "mid":
        block, inner = _PART[".".join(rest[:2])][col], rest[2:]
    else:
        block, inner = _PART[rest[0]][col], rest[1:]
    if inner and inner[0] in _RES and layout == "original":
        inner = [_RES[inner[0]], *inner[1:]]
    elif inner and inner[0] == "resample":
        inner = ["resample.1", *inner[1:]]
    return ".".join([side, block, *inner, leaf])


def torch_shape(path: tuple, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The PyTorch shape of one of our parameters."""
    if path[-1] in ("kernel", "to_qkv", "proj"):  # [*window, in, out] -> [out, in, *window]
        return (shape[-1], shape[-2], *shape[:-2])
    if path[-1] == "scale":  # RMS gamma broadcasts over [C, (T,) H, W]; the attention norm is 2D
        return (shape[0], 1, 1) if "attn" in [str(p) for p in path] else (shape[0], 1, 1, 1)
    return tuple(shape)


def to_flax(path: tuple, tensor: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A PyTorch tensor in our layout."""
    if path[-1] in ("kernel", "to_qkv", "proj"):
        return tensor.transpose(*range(2, tensor.ndim), 1, 0)
    return tensor.reshape(shape)
