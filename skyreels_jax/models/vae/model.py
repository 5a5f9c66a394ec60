"""The Wan2.1 video VAE (used unchanged by SkyReels-V2): 8× spatial, 4× causal temporal compression.

`vae.encode(video [B, F, H, W, 3] in [-1, 1], F = 4k+1)` gives normalised latents
`[B, (F-1)//4+1, H/8, W/8, z_dim]`; `vae.decode(z)` is its inverse. Both stream over time like
the reference (encode: frame 0 alone, then 4-frame chunks; decode: one latent frame at a time)
as a first step followed by a `lax.scan` over the remaining chunks, carrying the causal cache, so
memory and compile time do not grow with the video length. Optional spatial tiling with blended
overlaps bounds memory for large frames (see tiling.py).

A WanVAE may hold only one half (`parts=("decoder",)`: post_quant_conv + decoder; `("encoder",)`:
encoder + quant_conv), so that a process that only decodes (text-to-video) or only encodes
(training preprocessing) never holds the other half's weights.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import nnx

from skyreels_jax.models.vae.blocks import CausalConv3d, ChannelRMSNorm, MidBlock, Resample, ResBlock
from skyreels_jax.models.vae.split import latent_spec
from skyreels_jax.nn.config_types import check_field_types
from skyreels_jax.nn.jit import jit
from skyreels_jax.parallel.mesh import current_mesh

WAN21_LATENTS_MEAN = (-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                      0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921)
WAN21_LATENTS_STD = (2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                     3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160)


@dataclasses.dataclass(frozen=True)
class VAEConfig:
    """Architecture and numerics of the VAE. Defaults are the Wan2.1 VAE (`Wan2.1_VAE.pth`)."""

    base_dim: int = 96
    decoder_base_dim: int | None = None
    z_dim: int = 16
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    temporal_downsample: tuple[bool, ...] = (False, True, True)
    in_channels: int = 3
    out_channels: int = 3
    latents_mean: tuple[float, ...] = WAN21_LATENTS_MEAN
    latents_std: tuple[float, ...] = WAN21_LATENTS_STD
    dtype: str = "float32"        # compute dtype; norms and conv accumulation stay float32
    param_dtype: str = "float32"

    def __post_init__(self):
        check_field_types(self)
        for name in ("dim_mult", "temporal_downsample", "latents_mean", "latents_std"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if len(self.temporal_downsample) != len(self.dim_mult) - 1:
            raise ValueError(f"temporal_downsample needs {len(self.dim_mult) - 1} entries (one per downsampling "
                             f"stage), got {len(self.temporal_downsample)}")
        if len(self.latents_mean) != self.z_dim or len(self.latents_std) != self.z_dim:
            raise ValueError(f"latents_mean and latents_std need z_dim={self.z_dim} values each, "
                             f"got {len(self.latents_mean)} and {len(self.latents_std)}")

    @property
    def spatial_scale(self) -> int:
        return 2 ** (len(self.dim_mult) - 1)

    @property
    def temporal_scale(self) -> int:
        return 2 ** sum(self.temporal_downsample)


class Encoder(nnx.Module):
    """conv_in, a flat list of ResBlocks and Resamples (the reference's `downsamples`), mid, head."""

    def __init__(self, cfg: VAEConfig, *, rngs: nnx.Rngs):
        kw = dict(dtype=jnp.dtype(cfg.dtype), param_dtype=jnp.dtype(cfg.param_dtype), rngs=rngs)
        dims = [cfg.base_dim * m for m in (1, *cfg.dim_mult)]
        self.conv_in = CausalConv3d(cfg.in_channels, dims[0], 3, **kw)
        self.down = nnx.List()
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            for _ in range(cfg.num_res_blocks):
                self.down.append(ResBlock(cin, cout, **kw))
                cin = cout
            if i < len(cfg.dim_mult) - 1:
                self.down.append(Resample(cout, "down3d" if cfg.temporal_downsample[i] else "down2d", **kw))
        self.mid = MidBlock(dims[-1], **kw)
        self.norm_out = ChannelRMSNorm(dims[-1], param_dtype=kw["param_dtype"])
        self.conv_out = CausalConv3d(dims[-1], 2 * cfg.z_dim, 3, **kw)
        for _, module in nnx.iter_modules(self):  # per-frame taps: faster here (CausalConv3d.valid)
            if isinstance(module, CausalConv3d):
                module.per_frame = True

    def __call__(self, x, cache=None):
        layers = [self.conv_in, *self.down, self.mid]
        cache = cache or (None,) * (len(layers) + 1)
        new = []
        for layer, c in zip(layers, cache):
            x, c = layer(x, c)
            x = _keep_split(x)
            new.append(c)
        x, c = self.conv_out(jax.nn.silu(self.norm_out(x)), cache[-1])
        return x, (*new, c)


class Decoder(nnx.Module):
    """conv_in, mid, a flat list of ResBlocks and Resamples (the reference's `upsamples`), head.

    Stage i has num_res_blocks+1 ResBlocks; after each upsampling stage the width is halved by the
    resample conv, as in Wan2.1.
    """

    def __init__(self, cfg: VAEConfig, *, rngs: nnx.Rngs):
        kw = dict(dtype=jnp.dtype(cfg.dtype), param_dtype=jnp.dtype(cfg.param_dtype), rngs=rngs)
        base = cfg.decoder_base_dim or cfg.base_dim
        dims = [base * m for m in (cfg.dim_mult[-1], *cfg.dim_mult[::-1])]
        upsample_in_time = cfg.temporal_downsample[::-1]
        self.conv_in = CausalConv3d(cfg.z_dim, dims[0], 3, **kw)
        self.mid = MidBlock(dims[0], **kw)
        self.up = nnx.List()
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            if i > 0:
                cin //= 2
            for _ in range(cfg.num_res_blocks + 1):
                self.up.append(ResBlock(cin, cout, **kw))
                cin = cout
            if i < len(cfg.dim_mult) - 1:
                self.up.append(Resample(cout, "up3d" if upsample_in_time[i] else "up2d", **kw))
        self.norm_out = ChannelRMSNorm(dims[-1], param_dtype=kw["param_dtype"])
        self.conv_out = CausalConv3d(dims[-1], cfg.out_channels, 3, **kw)

    def __call__(self, x, cache=None):
        layers = [self.conv_in, self.mid, *self.up]
        cache = cache or (None,) * (len(layers) + 1)
        new = []
        for layer, c in zip(layers, cache):
            x, c = layer(x, c)
            x = _keep_split(x)
            new.append(c)
        x, c = self.conv_out(jax.nn.silu(self.norm_out(x)), cache[-1])
        return x, (*new, c)


def _keep_split(x):
    """Under a mesh, the activations stay split by rows and columns as the latents are (split.py): without
    this, XLA gathers them whole after the mid-block's attention, and every device holds full frames."""
    mesh = current_mesh()
    return x if mesh is None else jax.lax.with_sharding_constraint(x, latent_spec(mesh, x.shape))


def _stream(step, x, first_len: int, chunk_len: int):
    """step(chunk, cache) -> (out, cache) on x[:, :first_len], then scanned over chunks of chunk_len."""
    out, cache = step(x[:, :first_len], None)
    rest = x[:, first_len:]
    n = rest.shape[1] // chunk_len
    if n == 0:
        return out
    chunks = jnp.moveaxis(rest.reshape(rest.shape[0], n, chunk_len, *rest.shape[2:]), 1, 0)

    def body(cache, chunk):
        y, cache = step(chunk, cache)
        return cache, y

    _, ys = jax.lax.scan(body, cache, chunks)  # [n, B, t, h, w, c]
    ys = jnp.moveaxis(ys, 0, 1)
    ys = ys.reshape(ys.shape[0], n * ys.shape[2], *ys.shape[3:])
    return jnp.concatenate([out, ys], axis=1)


PARTS = ("encoder", "decoder")


def check_parts(parts) -> tuple[str, ...]:
    """parts as a tuple in PARTS order; raises on an empty or unknown part."""
    parts = (parts,) if isinstance(parts, str) else tuple(parts)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise ValueError(f"parts must name one or both of {PARTS}, got {parts!r}")
    return tuple(p for p in PARTS if p in parts)


class WanVAE(nnx.Module):
    """z = vae.encode(video) (normalised latents); video = vae.decode(z). Channels last.

    parts: the halves to build; a missing half is None and calling it raises. (The random
    initialisation of a one-half VAE differs from the same half of a whole one.)
    """

    def __init__(self, config: VAEConfig, *, rngs: nnx.Rngs, parts: tuple[str, ...] = PARTS):
        self.config = cfg = config
        self.parts = parts = check_parts(parts)
        kw = dict(dtype=jnp.dtype(cfg.dtype), param_dtype=jnp.dtype(cfg.param_dtype), rngs=rngs)
        encodes, decodes = "encoder" in parts, "decoder" in parts
        self.encoder = Encoder(cfg, rngs=rngs) if encodes else None
        self.quant_conv = CausalConv3d(2 * cfg.z_dim, 2 * cfg.z_dim, 1, **kw) if encodes else None
        self.post_quant_conv = CausalConv3d(cfg.z_dim, cfg.z_dim, 1, **kw) if decodes else None
        self.decoder = Decoder(cfg, rngs=rngs) if decodes else None

    def half(self, part: str) -> "WanVAE":
        """This VAE's encoder or decoder alone, sharing its weights. encode and decode compile the
        half, so a whole VAE and a loaded half run the same program (one compile, same bits)."""
        self._require(part)
        if self.parts == (part,):
            return self
        state = nnx.state(self)
        return nnx.merge(_half_graphdef(self.config, part), nnx.State({k: state[k] for k in _HALF_MODULES[part]}))

    def _require(self, part: str) -> None:
        if part not in self.parts:
            raise ValueError(f"this WanVAE holds only its {' and '.join(self.parts)}: "
                             f"load it with the {part} too, e.g. load_vae(path) (both halves) or "
                             f"load_vae(path, parts=({part!r},))")

    # -- public calls: host-side checks, then the compiled streaming encode/decode ---------------
    def encode(self, video, *, tile: int | tuple[int, int] | None = None, tile_overlap: int = 64) -> jax.Array:
        """video [B, F, H, W, in_channels] in [-1, 1], F = 4k+1 -> normalised latents [B, F_lat, H/8, W/8, z_dim].

        tile: optional (height, width) in pixels of spatial tiles encoded separately and blended
        over `tile_overlap` pixels, to bound memory on large frames.
        """
        from skyreels_jax.models.vae.checks import check_video
        from skyreels_jax.models.vae.tiling import tiled

        self._require("encoder")
        video = check_video(self.config, video)
        if tile is None:
            return _encode_jit(self, video)
        return tiled(lambda v: _encode_jit(self, v), video, self.config, tile, tile_overlap, encode=True)

    def decode(self, z, *, tile: int | tuple[int, int] | None = None, tile_overlap: int = 64) -> jax.Array:
        """Normalised latents [B, F_lat, h, w, z_dim] -> video [B, 4(F_lat-1)+1, 8h, 8w, out_channels] in [-1, 1].

        tile: optional (height, width) in pixels of spatial tiles decoded separately and blended
        over `tile_overlap` pixels. Untiled, a 720P 81-frame decode needs ~17 GiB of XLA temporaries; with
        tile=512 about 4.8 GiB (tile=256: 1.2 GiB) plus the output, so it fits a 16 GB accelerator.
        """
        from skyreels_jax.models.vae.checks import check_latents
        from skyreels_jax.models.vae.tiling import tiled

        self._require("decoder")
        z = check_latents(self.config, z)
        if tile is None:
            return jnp.clip(_decode_jit(self, z), -1.0, 1.0)
        return jnp.clip(tiled(lambda t: _decode_jit(self, t), z, self.config, tile, tile_overlap, encode=False),
                        -1.0, 1.0)

    # -- traceable versions (for use inside jit: pipelines, training) ----------------------------
    def encode_raw(self, video) -> jax.Array:
        """Traceable encode without checks: mu, normalised with latents_mean/std."""
        self._require("encoder")
        cfg = self.config
        x = video.astype(jnp.dtype(cfg.dtype))
        h = _stream(self.encoder, x, 1, cfg.temporal_scale)
        mu = self.quant_conv(h)[0][..., :cfg.z_dim].astype(jnp.float32)
        return (mu - jnp.asarray(cfg.latents_mean, jnp.float32)) / jnp.asarray(cfg.latents_std, jnp.float32)

    def decode_raw(self, z) -> jax.Array:
        """Traceable decode without checks or clamping."""
        self._require("decoder")
        cfg = self.config
        z = z.astype(jnp.float32) * jnp.asarray(cfg.latents_std, jnp.float32) + jnp.asarray(cfg.latents_mean,
                                                                                           jnp.float32)
        x = self.post_quant_conv(z.astype(jnp.dtype(cfg.dtype)))[0]
        return _stream(self.decoder, x, 1, 1).astype(jnp.float32)


_HALF_MODULES = {"encoder": ("encoder", "quant_conv"), "decoder": ("decoder", "post_quant_conv")}


@functools.lru_cache(maxsize=None)
def _half_graphdef(config: VAEConfig, part: str):
    return nnx.split(nnx.eval_shape(lambda: WanVAE(config, rngs=nnx.Rngs(0), parts=(part,))))[0]


# On CPU the VAE's convolutions run in XLA's own (Eigen) kernels rather than YNNPACK's: on the Intel Xeon
# (Sapphire Rapids) of the benchmark machine YNNPACK's 3×3 convs of the VAE's sizes were the slowest of
# XLA's conv libraries, and the decode took ~6 % less CPU time without them (encode ~2 %); dots stay in
# YNNPACK. Same arithmetic, different summation order (~4e-6 of the output range).
CONVS_OUT_OF_YNNPACK = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


# XLA's memory-optimised instruction order on CPU: fewer temporaries for the encode at 9×128×128 in the same
# time (361 -> 357 MiB with the encoder's per-frame taps; 359 -> 306 with per-tap batches); the decode's grow
# (454 -> 471 MiB), so it keeps the default order.
@jit(static_argnums=0, cpu_options={"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED",
                                    **CONVS_OUT_OF_YNNPACK})
def _encode_program(graphdef, state, video):
    return nnx.merge(graphdef, state).encode_raw(video)


@jit(static_argnums=0, cpu_options=CONVS_OUT_OF_YNNPACK)
def _decode_program(graphdef, state, z):
    return nnx.merge(graphdef, state).decode_raw(z)


def _encode_jit(vae: WanVAE, video):
    return _encode_program(*nnx.split(vae.half("encoder")), video)


def _decode_jit(vae: WanVAE, z):
    return _decode_program(*nnx.split(vae.half("decoder")), z)
