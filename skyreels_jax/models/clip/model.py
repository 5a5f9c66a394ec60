"""The CLIP ViT vision tower of the image-to-video models (open-clip XLM-RoBERTa ViT-H/14's visual part).

It returns what the reference feeds the DiT: the hidden states after the first
`num_layers` blocks (31 of ViT-H's 32, the penultimate layer), with no post-norm and no
head: [B, 1 + (image_size/patch)², dim], 257×1280 for ViT-H/14 at 224. The checkpoint's last
block, post-norm and projection are not built. Input is a normalised [B, H, W, 3] image.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from skyreels_jax.nn import MLP, LayerNorm, Linear, attention, matmul
from skyreels_jax.nn.dtypes import DtypeConfig
from skyreels_jax.nn.stack import stacked

ACTIVATIONS = {
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
}


@dataclasses.dataclass(frozen=True)
class CLIPVisionConfig(DtypeConfig):
    """Defaults are ViT-H/14 at 224 as the reference runs it (31 of 32 blocks)."""

    image_size: int = 224
    patch_size: int = 14
    dim: int = 1280
    num_heads: int = 16
    mlp_dim: int = 5120
    num_layers: int = 31       # blocks run: the checkpoint's layers minus the last
    act: str = "gelu"
    eps: float = 1e-5
    param_dtype: str = "float32"
    dtype: str = "float32"
    attention: str = "xla"

    def __post_init__(self):
        if self.act not in ACTIVATIONS:
            raise ValueError(f"act {self.act!r} is not supported; use one of {sorted(ACTIVATIONS)}")
        if self.dim % self.num_heads:
            raise ValueError(f"dim {self.dim} is not divisible by num_heads {self.num_heads}")

    @property
    def num_tokens(self) -> int:
        return 1 + (self.image_size // self.patch_size) ** 2


class Block(nnx.Module):
    """Pre-norm ViT block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, cfg: CLIPVisionConfig, rngs: nnx.Rngs):
        d, kw = cfg.dim, dict(dtype=cfg.compute_dtype, param_dtype=cfg.weight_dtype, rngs=rngs)
        self.num_heads, self.backend = cfg.num_heads, cfg.attention
        self.norm1 = LayerNorm(d, eps=cfg.eps, axis_name="embed", param_dtype=cfg.weight_dtype)
        self.q = Linear(d, d, axes=("embed", "heads"), **kw)
        self.k = Linear(d, d, axes=("embed", "heads"), **kw)
        self.v = Linear(d, d, axes=("embed", "heads"), **kw)
        self.o = Linear(d, d, axes=("heads", "embed"), **kw)
        self.norm2 = LayerNorm(d, eps=cfg.eps, axis_name="embed", param_dtype=cfg.weight_dtype)
        self.mlp = MLP(d, cfg.mlp_dim, d, act=ACTIVATIONS[cfg.act], axes=(("embed", "mlp"), ("mlp", "embed")), **kw)

    def __call__(self, x):
        dtype = x.dtype
        h = self.norm1(x).astype(dtype)
        def split(t):
            return t.reshape(*t.shape[:2], self.num_heads, -1)
        out = attention(split(self.q(h)), split(self.k(h)), split(self.v(h)), backend=self.backend)
        x = (x.astype(jnp.float32) + self.o(out.reshape(x.shape), out_dtype=jnp.float32)).astype(dtype)
        return (x.astype(jnp.float32) + self.mlp(self.norm2(x).astype(dtype), out_dtype=jnp.float32)).astype(dtype)


class CLIPVision(nnx.Module):
    """pixels [B, image_size, image_size, 3] (normalised) -> penultimate hidden states [B, N, dim]."""

    def __init__(self, config: CLIPVisionConfig, *, rngs: nnx.Rngs):
        cfg = self.config = config
        p, d = cfg.patch_size, cfg.dim
        init = nnx.initializers.normal(d**-0.5)
        self.patch_embedding = nnx.Param(init(rngs.params(), (p, p, 3, d), cfg.weight_dtype),
                                         logical_axes=(None, None, None, "embed"))
        self.class_embedding = nnx.Param(init(rngs.params(), (d,), cfg.weight_dtype), logical_axes=("embed",))
        self.pos_embedding = nnx.Param(init(rngs.params(), (cfg.num_tokens, d), cfg.weight_dtype),
                                       logical_axes=(None, "embed"))
        self.pre_norm = LayerNorm(d, eps=cfg.eps, axis_name="embed", param_dtype=cfg.weight_dtype)

        self.blocks = stacked(lambda r: Block(cfg, r), cfg.num_layers, rngs)

    def __call__(self, pixels: jax.Array) -> jax.Array:
        cfg = self.config
        b, p, g = pixels.shape[0], cfg.patch_size, cfg.image_size // cfg.patch_size
        patches = pixels.reshape(b, g, p, g, p, 3).transpose(0, 1, 3, 2, 4, 5).reshape(b, g * g, p * p * 3)
        x = matmul(patches, self.patch_embedding[...].reshape(p * p * 3, cfg.dim), cfg.compute_dtype)
        cls = jnp.broadcast_to(self.class_embedding[...].astype(jnp.float32), (b, 1, cfg.dim))
        x = jnp.concatenate([cls, x], axis=1) + self.pos_embedding[...].astype(jnp.float32)
        x = self.pre_norm(x).astype(cfg.compute_dtype)
        graphdef, stacked = nnx.split(self.blocks)

        def one_block(x, layer_params):
            return nnx.merge(graphdef, layer_params)(x), None

        x, _ = jax.lax.scan(one_block, x, stacked)
        return x
