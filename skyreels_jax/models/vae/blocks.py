"""Building blocks of the Wan2.1 VAE, channels-last, with a functional causal cache.

Every block is called as `y, cache = block(x, cache)` on one temporal chunk `x [B, T, H, W, C]`.
`cache` is what the block keeps from the previous chunk (a pytree of arrays) and is None on the
first chunk. A causal 3D conv keeps the last `CACHE_T` frames of its input; at the start they
are zeros, which is exactly the reference's left zero padding. The two temporal resamplers
behave differently on the first chunk (the reference skips their time conv there), which is
why "first chunk" and "cache is None" are the same thing here.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from skyreels_jax.nn import attention, matmul

CACHE_T = 2  # frames a causal conv keeps from the previous chunk (its temporal kernel minus one)


def conv2d(x, kernel, *, stride=1, padding=((0, 0), (0, 0)), dtype=jnp.float32):
    """2D conv of channels-last images with an [h, w, in, out] kernel; float32 result (f32 accumulation)."""
    return jax.lax.conv_general_dilated(
        x.astype(dtype), kernel.astype(dtype), window_strides=(stride, stride), padding=list(padding),
        dimension_numbers=("NHWC", "HWIO", "NHWC"), preferred_element_type=jnp.float32)


def frames_to_batch(fn, x):
    """Apply a per-image function to every frame of [B, T, H, W, C]."""
    b, t = x.shape[:2]
    y = fn(x.reshape(b * t, *x.shape[2:]))
    return y.reshape(b, t, *y.shape[1:])


def _init(rngs, shape, param_dtype):
    fan_in = math.prod(shape[:-1])
    return jax.random.normal(rngs.params(), shape, param_dtype) / math.sqrt(fan_in)


class CausalConv3d(nnx.Module):
    """3D conv, causal in time (left zero padding / cached frames), symmetric 'same' padding in space."""

    def __init__(self, cin, cout, kernel=(3, 3, 3), *, dtype, param_dtype, rngs: nnx.Rngs):
        kernel = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
        if kernel[0] not in (1, CACHE_T + 1):
            raise ValueError(f"temporal kernel must be 1 or {CACHE_T + 1}, got {kernel[0]}")
        self.kernel = nnx.Param(_init(rngs, (*kernel, cin, cout), param_dtype),
                                logical_axes=(None, None, None, None, "conv_out"))
        self.bias = nnx.Param(jnp.zeros((cout,), param_dtype), logical_axes=("conv_out",))
        self.dtype = dtype
        self.per_frame = False  # see valid(); the Encoder turns it on

    def _tap(self, k: int, frames):
        kh, kw = self.kernel.shape[1:3]
        padding = ((kh // 2, kh // 2), (kw // 2, kw // 2))
        return frames_to_batch(lambda f: conv2d(f, self.kernel[k], padding=padding, dtype=self.dtype), frames)

    def valid(self, x, stride_t: int = 1, zeros_before: int = 0):
        """The conv with no temporal padding over `zeros_before` zero frames followed by x:
        T_out = (zeros_before + T - k_t) // stride_t + 1.

        A sum over the temporal taps of per-frame 2D convs: on CPU about twice as fast as XLA's 3D
        convolution, and the same arithmetic. Taps that would read a zero frame are skipped (on a
        one-frame first chunk, two of the three; the sum is the same bits). With `per_frame` each
        output frame sums its own taps, else each tap convolves all its frames at once: the same
        bits either way, but per frame is ~20 % faster for the encoder on CPU and costs the decoder
        ~90 MiB of temporaries (docs/performance.md), so the encoder sets it.
        """
        kt = self.kernel.shape[0]
        t_out = (zeros_before + x.shape[1] - kt) // stride_t + 1
        bias = self.bias[...].astype(jnp.float32)
        if self.per_frame:
            frames = []
            for i in range(t_out):
                y = bias
                for k in range(kt):
                    t = i * stride_t + k - zeros_before
                    if t >= 0:
                        y = y + self._tap(k, x[:, t:t + 1])
                frames.append(y.astype(self.dtype))
            return jnp.concatenate(frames, axis=1) if len(frames) > 1 else frames[0]
        y = bias
        for k in range(kt):
            first = max(0, -(-(zeros_before - k) // stride_t))  # the first output frame whose tap k reads x
            if first < t_out:
                start = first * stride_t + k - zeros_before
                part = self._tap(k, x[:, start:start + stride_t * (t_out - first - 1) + 1:stride_t])
                y = y + (jnp.pad(part, ((0, 0), (first, 0), (0, 0), (0, 0), (0, 0))) if first else part)
        return y.astype(self.dtype)

    def __call__(self, x, cache=None):
        if self.kernel.shape[0] == 1:
            return self.valid(x), None
        if cache is None:  # the first chunk: CACHE_T zero frames before it
            zeros = jnp.zeros((x.shape[0], CACHE_T, *x.shape[2:]), x.dtype)
            return self.valid(x, zeros_before=CACHE_T), jnp.concatenate([zeros, x], axis=1)[:, -CACHE_T:]
        full = jnp.concatenate([cache.astype(x.dtype), x], axis=1)
        return self.valid(full), full[:, -CACHE_T:]


class Conv2d(nnx.Module):
    """A per-frame 2D conv (the spatial part of the resamplers)."""

    def __init__(self, cin, cout, *, stride=1, padding=((1, 1), (1, 1)), dtype, param_dtype, rngs: nnx.Rngs):
        self.kernel = nnx.Param(_init(rngs, (3, 3, cin, cout), param_dtype),
                                logical_axes=(None, None, None, "conv_out"))
        self.bias = nnx.Param(jnp.zeros((cout,), param_dtype), logical_axes=("conv_out",))
        self.stride, self.padding, self.dtype = stride, padding, dtype

    def __call__(self, x):
        y = frames_to_batch(lambda f: conv2d(f, self.kernel[...], stride=self.stride, padding=self.padding,
                                             dtype=self.dtype), x)
        return (y + self.bias[...].astype(jnp.float32)).astype(self.dtype)


class ChannelRMSNorm(nnx.Module):
    """The reference's RMS_norm: x / max(‖x‖₂, 1e-12) · √C · γ over channels, in float32."""

    def __init__(self, dim, *, param_dtype):
        self.scale = nnx.Param(jnp.ones((dim,), param_dtype), logical_axes=("conv_out",))

    def __call__(self, x):
        xf = x.astype(jnp.float32)
        norm = jnp.sqrt(jnp.sum(jnp.square(xf), axis=-1, keepdims=True))
        y = xf / jnp.maximum(norm, 1e-12) * math.sqrt(xf.shape[-1]) * self.scale[...].astype(jnp.float32)
        return y.astype(x.dtype)


class ResBlock(nnx.Module):
    """RMS, SiLU, causal conv, RMS, SiLU, causal conv, plus a 1×1×1 shortcut when the width changes."""

    def __init__(self, cin, cout, *, dtype, param_dtype, rngs: nnx.Rngs):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.norm1 = ChannelRMSNorm(cin, param_dtype=param_dtype)
        self.conv1 = CausalConv3d(cin, cout, 3, **kw)
        self.norm2 = ChannelRMSNorm(cout, param_dtype=param_dtype)
        self.conv2 = CausalConv3d(cout, cout, 3, **kw)
        self.conv_shortcut = CausalConv3d(cin, cout, 1, **kw) if cin != cout else None

    def __call__(self, x, cache=None):
        c1, c2 = cache or (None, None)
        h = x if self.conv_shortcut is None else self.conv_shortcut(x)[0]
        x, c1 = self.conv1(jax.nn.silu(self.norm1(x)), c1)
        x, c2 = self.conv2(jax.nn.silu(self.norm2(x)), c2)  # dropout is 0 in every published VAE
        return x + h, (c1, c2)


class AttentionBlock(nnx.Module):
    """Single-head self-attention over the pixels of each frame (no temporal mixing, no cache)."""

    def __init__(self, dim, *, dtype, param_dtype, rngs: nnx.Rngs):
        self.norm = ChannelRMSNorm(dim, param_dtype=param_dtype)
        self.to_qkv = nnx.Param(_init(rngs, (1, 1, dim, 3 * dim), param_dtype), logical_axes=(None, None, None, None))
        self.to_qkv_bias = nnx.Param(jnp.zeros((3 * dim,), param_dtype), logical_axes=(None,))
        self.proj = nnx.Param(_init(rngs, (1, 1, dim, dim), param_dtype), logical_axes=(None, None, None, None))
        self.proj_bias = nnx.Param(jnp.zeros((dim,), param_dtype), logical_axes=(None,))
        self.dtype = dtype

    def __call__(self, x, cache=None):
        b, t, h, w, c = x.shape
        tokens = self.norm(x).reshape(b * t, h * w, 1, c)
        qkv = matmul(tokens, self.to_qkv[0, 0], self.dtype) + self.to_qkv_bias[...].astype(jnp.float32)
        q, k, v = jnp.split(qkv.astype(self.dtype), 3, axis=-1)
        out = attention(q, k, v)
        out = matmul(out, self.proj[0, 0], self.dtype) + self.proj_bias[...].astype(jnp.float32)
        return x + out.astype(x.dtype).reshape(b, t, h, w, c), None


class MidBlock(nnx.Module):
    """ResBlock, attention, ResBlock at the lowest resolution."""

    def __init__(self, dim, *, dtype, param_dtype, rngs: nnx.Rngs):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.res0, self.attn, self.res1 = ResBlock(dim, dim, **kw), AttentionBlock(dim, **kw), ResBlock(dim, dim, **kw)

    def __call__(self, x, cache=None):
        c0, c1 = cache or (None, None)
        x, c0 = self.res0(x, c0)
        x, _ = self.attn(x)
        x, c1 = self.res1(x, c1)
        return x, (c0, c1)


class Resample(nnx.Module):
    """×2 spatial down/upsampling, plus ×2 in time for the 3d modes.

    down3d: the spatial conv, then a stride-2 time conv over [last cached frame, chunk]; on the
    first chunk the reference skips the time conv (frame 0 is encoded alone).
    up3d: a causal time conv to 2·C channels whose halves become interleaved frames, then the
    spatial upsample; on the first chunk the time conv is skipped, so latent frame 0 gives one frame.
    """

    MODES = ("down2d", "down3d", "up2d", "up3d")

    def __init__(self, dim, mode, out_dim=None, *, dtype, param_dtype, rngs: nnx.Rngs):
        if mode not in self.MODES:
            raise ValueError(f"unknown resample mode {mode!r}")
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.mode = mode
        if mode.startswith("down"):
            self.resample = Conv2d(dim, dim, stride=2, padding=((0, 1), (0, 1)), **kw)
        else:
            self.resample = Conv2d(dim, out_dim or dim // 2, **kw)
        time_out = {"down3d": dim, "up3d": 2 * dim}.get(mode)
        self.time_conv = CausalConv3d(dim, time_out, (3, 1, 1), **kw) if time_out else None

    def __call__(self, x, cache=None):
        if self.mode.startswith("down"):
            x = self.resample(x)
            if self.mode == "down2d":
                return x, None
            if cache is not None:
                x, cache = self.time_conv.valid(jnp.concatenate([cache, x], axis=1), stride_t=2), x[:, -1:]
            else:
                cache = x[:, -1:]
            return x, cache
        if self.mode == "up3d":
            if cache is None:
                cache = jnp.zeros((x.shape[0], CACHE_T, *x.shape[2:]), x.dtype)
            else:
                y, cache = self.time_conv(x, cache)
                b, t, h, w, _ = y.shape  # channel halves [2, C] -> frames 2t, 2t+1
                x = y.reshape(b, t, h, w, 2, -1).transpose(0, 1, 4, 2, 3, 5).reshape(b, 2 * t, h, w, -1)
        x = jnp.repeat(jnp.repeat(x, 2, axis=2), 2, axis=3)  # nearest(-exact) ×2
        return self.resample(x), (cache if self.mode == "up3d" else None)
