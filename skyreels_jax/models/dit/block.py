"""The parts of the SkyReels-V2 / Wan2.1 DiT: attention layers, the transformer block, the head.

Module and parameter names follow the original SkyReels-V2 checkpoint (self_attn.q,
cross_attn.k_img, norm3, head.modulation, ...) so that the key maps stay short.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from skyreels_jax.nn import MLP, LayerNorm, Linear, RMSNorm, apply_rope, attention, layer_norm, matmul
from skyreels_jax.nn.embeddings import gelu_exact, gelu_tanh
from skyreels_jax.nn.sharding import constrain

TOKENS = ("batch", "length", None)  # the token stream [B, L, D]: the CFG pair over data, tokens over context


def per_token(m: jax.Array, length: int) -> jax.Array:
    """[B, frames, D] -> [B, L, D]: each token gets its frame's row (L = frames·tokens_per_frame)."""
    frames = m.shape[1]
    m = constrain(m, ("batch", None, None))  # the small table whole on every device, so each gathers its own rows
    index = constrain(jnp.arange(length) // (length // frames), ("length",))
    return constrain(jnp.take(m, index, axis=1), TOKENS)


def modulate(x: jax.Array, shift: jax.Array, scale: jax.Array) -> jax.Array:
    """x·(1+scale)+shift with per-frame modulation [B, frames, D] broadcast over each frame's tokens."""
    return x * (1 + per_token(scale, x.shape[1])) + per_token(shift, x.shape[1])


def gate(x: jax.Array, g: jax.Array) -> jax.Array:
    """x·g in float32, with the per-frame gate g [B, frames, D] broadcast like `modulate`."""
    return x.astype(jnp.float32) * per_token(g, x.shape[1])


class PatchEmbed(nnx.Module):
    """Non-overlapping 3D patches to tokens: the reference's Conv3d with stride = kernel = patch.

    kernel is [pt, ph, pw, C_in, D] (the Flax conv layout); tokens come out in (f, h, w) order.
    """

    def __init__(self, cfg, rngs: nnx.Rngs):
        self.patch_size = cfg.patch_size
        init = nnx.initializers.lecun_normal(in_axis=(0, 1, 2, 3), out_axis=4)
        self.kernel = nnx.Param(init(rngs.params(), (*cfg.patch_size, cfg.in_dim, cfg.dim), cfg.weight_dtype),
                                logical_axes=(None, None, None, None, "embed"))
        self.bias = nnx.Param(jnp.zeros((cfg.dim,), cfg.weight_dtype), logical_axes=("embed",))

    def __call__(self, latents: jax.Array) -> jax.Array:
        b, frames, height, width, c = latents.shape
        pt, ph, pw = self.patch_size
        f, h, w = frames // pt, height // ph, width // pw
        x = latents.reshape(b, f, pt, h, ph, w, pw, c).transpose(0, 1, 3, 5, 2, 4, 6, 7)
        x = x.reshape(b, f * h * w, pt * ph * pw * c)
        kernel = self.kernel[...].reshape(x.shape[-1], -1)
        y = matmul(x, kernel, latents.dtype) + self.bias[...].astype(jnp.float32)
        return y.astype(latents.dtype)


class SelfAttention(nnx.Module):
    def __init__(self, cfg, rngs: nnx.Rngs):
        d, kw = cfg.dim, dict(dtype=cfg.compute_dtype, param_dtype=cfg.weight_dtype, rngs=rngs)
        self.num_heads = cfg.num_heads
        # sequence parallel ("ulysses:auto", "ring:auto") wraps the local backend; only self-attention uses it
        self.backend = f"{cfg.sequence_parallel}:{cfg.attention}" if cfg.sequence_parallel else cfg.attention
        self.q = Linear(d, d, axes=("embed", "heads"), **kw)
        self.k = Linear(d, d, axes=("embed", "heads"), **kw)
        self.v = Linear(d, d, axes=("embed", "heads"), **kw)
        self.o = Linear(d, d, axes=("heads", "embed"), **kw)
        self.norm_q = RMSNorm(d, eps=cfg.eps, axis_name="heads", param_dtype=cfg.weight_dtype)
        self.norm_k = RMSNorm(d, eps=cfg.eps, axis_name="heads", param_dtype=cfg.weight_dtype)

    def __call__(self, x, rope, q_block=None, k_block=None):
        b, length, d = x.shape
        dtype = x.dtype
        def split(t):
            return t.astype(dtype).reshape(b, length, self.num_heads, d // self.num_heads)

        def project(layer):  # where the tokens are: no partial sums to all-reduce
            return constrain(layer(x), TOKENS)
        q = apply_rope(split(self.norm_q(project(self.q))), *rope)  # RMSNorm over the full dim, before the head split
        k = apply_rope(split(self.norm_k(project(self.k))), *rope)
        v = split(project(self.v))
        out = attention(q, k, v, q_block=q_block, k_block=k_block, backend=self.backend)
        return constrain(self.o(constrain(out.reshape(b, length, d), TOKENS)), TOKENS)


class CrossAttention(nnx.Module):
    """Attention to the text tokens; image models add a second attention to the CLIP tokens."""

    def __init__(self, cfg, rngs: nnx.Rngs):
        d, kw = cfg.dim, dict(dtype=cfg.compute_dtype, param_dtype=cfg.weight_dtype, rngs=rngs)
        self.num_heads = cfg.num_heads
        self.backend = cfg.attention
        self.q = Linear(d, d, axes=("embed", "heads"), **kw)
        self.k = Linear(d, d, axes=("embed", "heads"), **kw)
        self.v = Linear(d, d, axes=("embed", "heads"), **kw)
        self.o = Linear(d, d, axes=("heads", "embed"), **kw)
        self.norm_q = RMSNorm(d, eps=cfg.eps, axis_name="heads", param_dtype=cfg.weight_dtype)
        self.norm_k = RMSNorm(d, eps=cfg.eps, axis_name="heads", param_dtype=cfg.weight_dtype)
        if cfg.image_dim:
            self.k_img = Linear(d, d, axes=("embed", "heads"), **kw)
            self.v_img = Linear(d, d, axes=("embed", "heads"), **kw)
            self.norm_k_img = RMSNorm(d, eps=cfg.eps, axis_name="heads", param_dtype=cfg.weight_dtype)

    def __call__(self, x, context, image_context=None):
        dtype = x.dtype
        def split(t):
            return t.astype(dtype).reshape(*t.shape[:2], self.num_heads, -1)
        q = split(self.norm_q(constrain(self.q(x), TOKENS)))
        out = attention(q, split(self.norm_k(self.k(context))), split(self.v(context)), backend=self.backend)
        if image_context is not None:
            k_img = split(self.norm_k_img(self.k_img(image_context)))
            out = out + attention(q, k_img, split(self.v_img(image_context)), backend=self.backend)
        return constrain(self.o(constrain(out.reshape(x.shape), TOKENS)), TOKENS)


class Block(nnx.Module):
    """Self-attention and FFN under the 6-way per-frame modulation; cross-attention in between."""

    def __init__(self, cfg, rngs: nnx.Rngs):
        d = cfg.dim
        self.eps = cfg.eps
        self.modulation = nnx.Param(jax.random.normal(rngs.params(), (1, 6, d), cfg.weight_dtype) / d**0.5,
                                    logical_axes=(None, None, "embed"))
        self.self_attn = SelfAttention(cfg, rngs)
        self.norm3 = LayerNorm(d, eps=cfg.eps, affine=True, axis_name="embed", param_dtype=cfg.weight_dtype)
        self.cross_attn = CrossAttention(cfg, rngs)
        self.ffn = MLP(d, cfg.ffn_dim, d, act=gelu_tanh, axes=(("embed", "mlp"), ("mlp", "embed")),
                       dtype=cfg.compute_dtype, param_dtype=cfg.weight_dtype, rngs=rngs)

    def modulated_input(self, x, e0):
        """LN(x)·(1+scale1)+shift1 in float32: the self-attention input before the cast."""
        mod = self.modulation[...].astype(jnp.float32)[:, None, :2] + e0[:, :, :2]
        return modulate(layer_norm(x, self.eps), mod[:, :, 0], mod[:, :, 1])

    def __call__(self, x, e0, context, image_context, rope, q_block=None, k_block=None):
        """x [B, L, D] in the compute dtype; e0 [B, frames, 6, D] float32."""
        dtype = x.dtype
        mod = self.modulation[...].astype(jnp.float32)[:, None] + e0  # [B, frames, 6, D]
        shift1, scale1, gate1, shift2, scale2, gate2 = (mod[:, :, i] for i in range(6))
        h = modulate(layer_norm(x, self.eps), shift1, scale1).astype(dtype)
        x = (x.astype(jnp.float32) + gate(self.self_attn(h, rope, q_block, k_block), gate1)).astype(dtype)
        x = x + self.cross_attn(self.norm3(x).astype(dtype), context, image_context)
        h = modulate(layer_norm(x, self.eps), shift2, scale2).astype(dtype)
        return (x.astype(jnp.float32) + gate(self.ffn(h), gate2)).astype(dtype)


class Head(nnx.Module):
    """Final per-frame modulated LayerNorm and projection to patch pixels (float32)."""

    def __init__(self, cfg, rngs: nnx.Rngs):
        d = cfg.dim
        self.eps = cfg.eps
        self.modulation = nnx.Param(jax.random.normal(rngs.params(), (1, 2, d), cfg.weight_dtype) / d**0.5,
                                    logical_axes=(None, None, "embed"))
        out = cfg.out_dim * cfg.patch_size[0] * cfg.patch_size[1] * cfg.patch_size[2]
        self.head = Linear(d, out, axes=("embed", None), dtype=jnp.float32, param_dtype=cfg.weight_dtype, rngs=rngs)

    def __call__(self, x, e):
        """x [B, L, D]; e [B, frames, D] float32 (the time embedding, not the projection)."""
        mod = self.modulation[...].astype(jnp.float32)[:, None] + e[:, :, None]  # [B, frames, 2, D]
        return self.head(modulate(layer_norm(x, self.eps), mod[:, :, 0], mod[:, :, 1]))


class ImageEmbedding(nnx.Module):
    """CLIP tokens to the model width: LayerNorm, Linear, exact GELU, Linear, LayerNorm."""

    def __init__(self, cfg, rngs: nnx.Rngs):
        kw = dict(param_dtype=cfg.weight_dtype)
        self.norm_in = LayerNorm(cfg.image_dim, eps=1e-5, **kw)
        self.mlp = MLP(cfg.image_dim, cfg.image_dim, cfg.dim, act=gelu_exact,
                       axes=((None, None), (None, "embed")), dtype=cfg.compute_dtype, rngs=rngs, **kw)
        self.norm_out = LayerNorm(cfg.dim, eps=1e-5, axis_name="embed", **kw)
        self.pos_embed = (nnx.Param(jnp.zeros((1, cfg.image_pos_len, cfg.image_dim), cfg.weight_dtype),
                                    logical_axes=(None, None, None)) if cfg.image_pos_len else None)

    def __call__(self, tokens):
        if self.pos_embed is not None:
            tokens = tokens.astype(jnp.float32) + self.pos_embed[...].astype(jnp.float32)
        return self.norm_out(self.mlp(self.norm_in(tokens), out_dtype=jnp.float32))
