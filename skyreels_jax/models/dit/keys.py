"""Names of every DiT parameter in the two published layouts.

Our parameter paths follow the original SkyReels-V2 names; the tables below give, for each
of our modules, the original and the diffusers module name. diffusers swaps norm2/norm3
(its norm2 is the original's cross-attention norm3) and renames Sequential indices.
"""
from __future__ import annotations

import numpy as np

LAYOUTS = ("original", "diffusers")

# our module path -> (original, diffusers)
_MODULES = {
    "patch_embedding": ("patch_embedding", "patch_embedding"),
    "text_embedding.fc1": ("text_embedding.0", "condition_embedder.text_embedder.linear_1"),
    "text_embedding.fc2": ("text_embedding.2", "condition_embedder.text_embedder.linear_2"),
    "time_embedding.fc1": ("time_embedding.0", "condition_embedder.time_embedder.linear_1"),
    "time_embedding.fc2": ("time_embedding.2", "condition_embedder.time_embedder.linear_2"),
    "time_projection": ("time_projection.1", "condition_embedder.time_proj"),
    "fps_embedding": ("fps_embedding", "fps_embedding"),
    "fps_projection.fc1": ("fps_projection.0", "fps_projection.net.0.proj"),
    "fps_projection.fc2": ("fps_projection.2", "fps_projection.net.2"),
    "img_emb.norm_in": ("img_emb.proj.0", "condition_embedder.image_embedder.norm1"),
    "img_emb.mlp.fc1": ("img_emb.proj.1", "condition_embedder.image_embedder.ff.net.0.proj"),
    "img_emb.mlp.fc2": ("img_emb.proj.3", "condition_embedder.image_embedder.ff.net.2"),
    "img_emb.norm_out": ("img_emb.proj.4", "condition_embedder.image_embedder.norm2"),
    "head.head": ("head.head", "proj_out"),
}
# our parameter path -> (original, diffusers), for parameters that are not a module's weight/bias
_PARAMS = {
    "img_emb.pos_embed": ("img_emb.emb_pos", "condition_embedder.image_embedder.pos_embed"),
    "head.modulation": ("head.modulation", "scale_shift_table"),
}
_BLOCK_MODULES = {
    "norm3": ("norm3", "norm2"),
    "ffn.fc1": ("ffn.0", "ffn.net.0.proj"),
    "ffn.fc2": ("ffn.2", "ffn.net.2"),
}
for ours, theirs in (("self_attn", "attn1"), ("cross_attn", "attn2")):
    for proj, name in (("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("o", "to_out.0"),
                       ("norm_q", "norm_q"), ("norm_k", "norm_k")):
        _BLOCK_MODULES[f"{ours}.{proj}"] = (f"{ours}.{proj}", f"{theirs}.{name}")
for proj, name in (("k_img", "add_k_proj"), ("v_img", "add_v_proj"), ("norm_k_img", "norm_added_k")):
    _BLOCK_MODULES[f"cross_attn.{proj}"] = (f"cross_attn.{proj}", f"attn2.{name}")
_BLOCK_PARAMS = {"modulation": ("modulation", "scale_shift_table")}
_LEAF = {"kernel": "weight", "scale": "weight", "embedding": "weight", "bias": "bias"}

# Keys the published files carry that are not parameters (e.g. "model_type.SkyReels-V2-T2V-14B-540P").
IGNORED_PREFIXES = ("model_type.",)


def source_keys(path: tuple[str, ...], layout: str, num_layers: int) -> list[str]:
    """Checkpoint keys of one of our parameters: one key, or one per layer for the stacked blocks."""
    col = LAYOUTS.index(layout)
    if path[0] == "blocks":
        inner = ".".join(path[1:])
        module, leaf = ".".join(path[1:-1]), path[-1]
        name = _BLOCK_PARAMS[inner][col] if inner in _BLOCK_PARAMS else f"{_BLOCK_MODULES[module][col]}.{_LEAF[leaf]}"
        return [f"blocks.{i}.{name}" for i in range(num_layers)]
    full = ".".join(path)
    if full in _PARAMS:
        return [_PARAMS[full][col]]
    return [f"{_MODULES['.'.join(path[:-1])][col]}.{_LEAF[path[-1]]}"]


# the axes of a PyTorch kernel in ours, by its rank: Linear [out, in] -> [in, out];
# Conv3d [out, in, t, h, w] -> [t, h, w, in, out]
_TO_FLAX = {2: (1, 0), 5: (2, 3, 4, 1, 0)}
_TO_TORCH = {ndim: tuple(int(i) for i in np.argsort(axes)) for ndim, axes in _TO_FLAX.items()}


def to_flax(leaf: str, tensor: np.ndarray) -> np.ndarray:
    """PyTorch layout to ours: Linear [out, in] -> [in, out]; Conv3d [out, in, t, h, w] -> [t, h, w, in, out]."""
    return tensor.transpose(_TO_FLAX[tensor.ndim]) if leaf == "kernel" and tensor.ndim in _TO_FLAX else tensor


def to_torch(leaf: str, tensor: np.ndarray) -> np.ndarray:
    """Ours to PyTorch layout (the inverse of `to_flax`)."""
    return tensor.transpose(_TO_TORCH[tensor.ndim]) if leaf == "kernel" and tensor.ndim in _TO_TORCH else tensor


def torch_shape(leaf: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The PyTorch shape of a parameter of ours (the inverse of `to_flax` on shapes)."""
    if leaf == "kernel" and len(shape) in _TO_TORCH:
        return tuple(shape[i] for i in _TO_TORCH[len(shape)])
    return tuple(shape)


def describe(keys) -> str:
    """A short name of the variant a set of checkpoint keys belongs to."""
    keys = list(keys)
    def has(*parts):
        return any(p in k for k in keys for p in parts)
    if has("emb_pos", "image_embedder.pos_embed"):
        kind = "FLF2V (image cross-attention with a two-image position embedding)"
    elif has("k_img", "add_k_proj"):
        kind = "I2V (image cross-attention)"
    else:
        kind = "T2V/DF (text only)"
    return kind + (" with the fps embedding" if has("fps_embedding") else "")
