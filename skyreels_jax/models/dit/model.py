"""The SkyReels-V2 DiT (Wan2.1 architecture): every published variant from one config.

T2V and DF share an architecture; DF-1.3B adds the fps embedding (`inject_sample_info`).
I2V adds 20 condition channels and CLIP-token cross-attention; FLF2V adds a position
embedding over the CLIP tokens of two images. Timesteps are per latent frame [B, F]; the
time embedding and the 6-way modulation are computed per frame and broadcast over that
frame's tokens, never materialised per token. The blocks are one scanned, stacked module.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from skyreels_jax.models.dit.block import TOKENS, Block, Head, ImageEmbedding, PatchEmbed
from skyreels_jax.models.dit.checks import check_inputs
from skyreels_jax.nn import MLP, Embed, Linear, rope_tables, timestep_embedding
from skyreels_jax.nn.config_types import check_field_types
from skyreels_jax.nn.dtypes import DtypeConfig
from skyreels_jax.nn.embeddings import gelu_tanh
from skyreels_jax.nn.jit import jit_call
from skyreels_jax.nn.sharding import constrain
from skyreels_jax.nn.stack import stacked


@dataclasses.dataclass(frozen=True)
class DiTConfig(DtypeConfig):
    """Architecture and numerics of a DiT. Defaults are the 1.3B text-to-video shape."""

    dim: int = 1536
    ffn_dim: int = 8960
    num_heads: int = 12
    num_layers: int = 30
    in_dim: int = 16             # 36 for I2V/FLF2V: 16 noise + 4 mask + 16 condition latent
    out_dim: int = 16
    text_dim: int = 4096
    freq_dim: int = 256
    eps: float = 1e-6
    patch_size: tuple[int, int, int] = (1, 2, 2)
    image_dim: int | None = None        # 1280 (CLIP ViT-H/14) for image models
    image_pos_len: int | None = None    # 514 for FLF2V: a learned position over two images' tokens
    inject_sample_info: bool = False    # the fps embedding of DF-1.3B
    causal_block_size: int = 0          # >0: block-causal self-attention over frame blocks (off in released models)
    rope_theta: float = 10000.0
    rope_max_len: int = 1024
    param_dtype: str = "float32"
    dtype: str = "float32"              # compute dtype; norms, modulation and embeddings stay float32
    attention: str = "auto"             # attention backend, see skyreels_jax.nn.attention
    sequence_parallel: str | None = None  # "ulysses" or "ring": self-attention split over the mesh's context axis
    remat: bool = False                 # rematerialise each block in the backward pass

    def __post_init__(self):
        check_field_types(self)
        if self.dim % self.num_heads:
            raise ValueError(f"dim {self.dim} is not divisible by num_heads {self.num_heads}")
        if (self.dim // self.num_heads) % 2:
            raise ValueError(f"head_dim {self.dim // self.num_heads} must be even for the rotary embedding")
        if self.sequence_parallel not in (None, "ulysses", "ring"):
            raise ValueError(f"sequence_parallel must be None, 'ulysses' or 'ring', got {self.sequence_parallel!r}")
        if self.image_pos_len and not self.image_dim:
            raise ValueError("image_pos_len (FLF2V) needs image_dim")
        object.__setattr__(self, "patch_size", tuple(self.patch_size))

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    @property
    def variant(self) -> str:
        """'flf2v', 'i2v' or 't2v' (diffusion forcing models have the t2v architecture)."""
        return "flf2v" if self.image_pos_len else "i2v" if self.image_dim else "t2v"


class BlockInputs(NamedTuple):
    """What the blocks and the head take besides the tokens (see DiT.embed)."""

    e: jax.Array                      # [B, f, D] time embedding (the head's modulation)
    e0: jax.Array                     # [B, f, 6, D] the blocks' modulation
    context: jax.Array                # [B, L_text, D]
    image_context: jax.Array | None   # [B, L_img, D]
    rope: tuple                       # (cos, sin) tables
    q_block: jax.Array | None         # block ids of the block-causal mask
    k_block: jax.Array | None
    grid: tuple                       # (f, h, w) token grid, static


def fps_index(fps) -> jax.Array:
    """The reference's fps embedding index: 0 for 16 fps, 1 for anything else (24)."""
    return (jnp.asarray(fps) != 16).astype(jnp.int32).reshape(-1)


class DiT(nnx.Module):
    """v = dit(latents [B,F,H,W,C_in], timestep [B] or [B,F], context [B,L,text_dim]) -> [B,F,H,W,C_out]."""

    def __init__(self, config: DiTConfig, *, rngs: nnx.Rngs):
        cfg = self.config = config
        d = cfg.dim
        f32 = dict(dtype=jnp.float32, param_dtype=cfg.weight_dtype, rngs=rngs)
        self.patch_embedding = PatchEmbed(cfg, rngs)
        self.text_embedding = MLP(cfg.text_dim, d, d, act=gelu_tanh, axes=((None, "embed"), (None, "embed")),
                                  dtype=cfg.compute_dtype, param_dtype=cfg.weight_dtype, rngs=rngs)
        self.time_embedding = MLP(cfg.freq_dim, d, d, act=jax.nn.silu, axes=((None, "embed"), (None, "embed")), **f32)
        self.time_projection = Linear(d, 6 * d, axes=("embed", None), **f32)
        if cfg.inject_sample_info:
            self.fps_embedding = Embed(2, d, axis_name="embed", param_dtype=cfg.weight_dtype, rngs=rngs)
            self.fps_projection = MLP(d, d, 6 * d, act=jax.nn.silu, axes=((None, "embed"), ("embed", None)), **f32)
        if cfg.image_dim:
            self.img_emb = ImageEmbedding(cfg, rngs)

        self.blocks = stacked(lambda r: Block(cfg, r), cfg.num_layers, rngs)
        self.head = Head(cfg, rngs)

    # -- public call: checks shapes on the host, then runs the compiled forward ------------------
    def __call__(self, latents, timestep, context, image_context=None, fps=None) -> jax.Array:
        timestep = check_inputs(self.config, latents, timestep, context, image_context, fps)
        fps = None if fps is None else fps_index(np.broadcast_to(np.asarray(fps), (latents.shape[0],)))
        return jit_call(self, "forward", jnp.asarray(latents), timestep, jnp.asarray(context),
                        None if image_context is None else jnp.asarray(image_context), fps)

    # -- pure forward, for use inside jit (pipelines, training) ------------------------------------
    def forward(self, latents, timestep, context, image_context=None, fps_ids=None,
                causal_block_size: int | None = None) -> jax.Array:
        """Traceable forward. timestep is [B, F] float; fps_ids [B] int (see `fps_index`).

        causal_block_size (a Python int) overrides the config's block-causal mask for this call.
        """
        x, c = self.embed(latents, timestep, context, image_context, fps_ids, causal_block_size)
        return self.unembed(self.run_blocks(x, c), c)

    # -- the forward in three parts (step caching runs the block stack only on some steps) ---------
    def embed(self, latents, timestep, context, image_context=None, fps_ids=None,
              causal_block_size: int | None = None) -> tuple[jax.Array, "BlockInputs"]:
        """Patch tokens x [B, L, D] (compute dtype) and what every block and the head need."""
        cfg = self.config
        dtype = cfg.compute_dtype
        b, frames, height, width, _ = latents.shape
        pt, ph, pw = cfg.patch_size
        grid = (frames // pt, height // ph, width // pw)

        x = self.patch_embedding(latents.astype(dtype))                      # [B, L, D]
        t = timestep.astype(jnp.float32).reshape(b, grid[0], pt)[..., 0]     # one value per token frame
        e = self.time_embedding(timestep_embedding(t, cfg.freq_dim), out_dtype=jnp.float32)  # [B, f, D]
        e0 = self.time_projection(jax.nn.silu(e), out_dtype=jnp.float32).reshape(b, grid[0], 6, cfg.dim)
        if cfg.inject_sample_info:
            fps_term = self.fps_projection(self.fps_embedding(fps_ids), out_dtype=jnp.float32)
            e0 = e0 + fps_term.reshape(b, 1, 6, cfg.dim)
        context = self.text_embedding(context)
        image_context = self.img_emb(image_context).astype(dtype) if cfg.image_dim else None

        rope = rope_tables(grid, cfg.head_dim, cfg.rope_theta)
        q_block = k_block = None
        causal = cfg.causal_block_size if causal_block_size is None else causal_block_size
        if causal:
            frame_of_token = jnp.repeat(jnp.arange(grid[0]), grid[1] * grid[2])
            q_block = k_block = frame_of_token // causal
        return x, BlockInputs(e, e0, context, image_context, rope, q_block, k_block, grid)

    def run_blocks(self, x: jax.Array, c: "BlockInputs") -> jax.Array:
        """The scanned block stack: tokens [B, L, D] in, tokens out."""
        return self._run_blocks(x, c.e0, c.context, c.image_context, c.rope, c.q_block, c.k_block)

    def unembed(self, x: jax.Array, c: "BlockInputs") -> jax.Array:
        """The head and unpatchify: tokens [B, L, D] to the velocity [B, F, H, W, C_out] (float32)."""
        return self._unpatchify(self.head(x, c.e), c.grid)

    def first_block_input(self, x: jax.Array, c: "BlockInputs") -> jax.Array:
        """The first block's modulated self-attention input, LN(x)·(1+scale)+shift (float32), which
        step caching (TeaCache) compares between steps."""
        first = jax.tree.map(lambda a: a[0], nnx.state(self.blocks))
        return nnx.merge(nnx.graphdef(self.blocks), first).modulated_input(x, c.e0)

    def _run_blocks(self, x, e0, context, image_context, rope, q_block, k_block):
        graphdef, stacked = nnx.split(self.blocks)

        def one_block(x, layer_params):
            block = nnx.merge(graphdef, layer_params)
            return constrain(block(x, e0, context, image_context, rope, q_block, k_block), TOKENS), None

        if self.config.remat:
            one_block = jax.checkpoint(one_block)
        x, _ = jax.lax.scan(one_block, constrain(x, TOKENS), stacked)
        return x

    def _unpatchify(self, out, grid):
        b = out.shape[0]
        pt, ph, pw = self.config.patch_size
        f, h, w = grid
        x = out.reshape(b, f, h, w, pt, ph, pw, self.config.out_dim).transpose(0, 1, 4, 2, 5, 3, 6, 7)
        return x.reshape(b, f * pt, h * ph, w * pw, self.config.out_dim)
