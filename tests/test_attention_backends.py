"""Attention backend selection by platform, and the fused GPU/TPU paths traced (and splash run) on CPU."""
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skyreels_jax.nn import attention_fused
from skyreels_jax.nn.attention import attention, choose_backend

attn_mod = importlib.import_module("skyreels_jax.nn.attention")

SHORT, MEDIUM, LONG = (1, 512, 12, 128), (1, 1950, 12, 128), (1, 51000, 12, 128)
BF16, F32 = jnp.bfloat16, jnp.float32


@pytest.mark.parametrize("platform,shape,dtype,features,expected", [
    ("cpu", SHORT, F32, {}, "chunked"),
    ("cpu", MEDIUM, F32, {}, "chunked"),
    ("cuda", MEDIUM, F32, {}, "xla"),
    ("cpu", LONG, F32, {}, "chunked"),
    ("cpu", LONG, BF16, {}, "chunked"),
    ("cuda", LONG, BF16, {}, "cudnn"),
    ("cuda", SHORT, jnp.float16, {}, "cudnn"),
    ("cuda", LONG, F32, {}, "chunked"),           # cuDNN flash is half precision only
    ("cuda", LONG, BF16, {"masked": True}, "chunked"),
    ("cuda", SHORT, BF16, {"k_mask": True}, "xla"),
    ("cuda", (1, 1950, 4, 256), BF16, {}, "xla"),  # head_dim above 128
    ("rocm", LONG, BF16, {}, "chunked"),
    ("tpu", LONG, BF16, {}, "splash"),
    ("tpu", SHORT, F32, {"k_mask": True}, "splash"),
    ("tpu", LONG, BF16, {"bias": True}, "chunked"),
    ("tpu", LONG, BF16, {"masked": True}, "chunked"),
    ("tpu", (1, 1950, 24, 64), BF16, {}, "xla"),  # head_dim not a multiple of 128
])
def test_choose_backend(platform, shape, dtype, features, expected):
    assert choose_backend(shape, shape, dtype, platform=platform, **features) == expected


def test_auto_follows_the_platform(monkeypatch):
    calls = []
    monkeypatch.setattr(attn_mod, "current_platform", lambda: "tpu")
    monkeypatch.setattr(attention_fused, "splash_attention", lambda *a, **k: calls.append("splash") or a[0])
    x = jnp.zeros((1, 8, 1, 128))
    attention(x, x, x)
    assert calls == ["splash"]
    monkeypatch.setattr(attn_mod, "current_platform", lambda: "cpu")
    attention(x, x, x)
    assert calls == ["splash"]


def test_fused_backends_refuse_what_they_cannot_do():
    x = jnp.zeros((1, 8, 1, 128), BF16)
    with pytest.raises(ValueError, match="'cudnn' takes no k_mask"):
        attention(x, x, x, k_mask=jnp.ones((1, 8), bool), backend="cudnn")
    with pytest.raises(ValueError, match="'splash' takes no bias"):
        attention(x, x, x, bias=jnp.zeros((8, 8)), backend="splash")


@pytest.mark.parametrize("with_mask", [False, True])
def test_splash_matches_plain_in_interpret_mode(with_mask):
    """The TPU kernel run by Pallas' interpreter on CPU: padding (200 queries, 77 keys) and key masks."""
    ks = jax.random.split(jax.random.PRNGKey(0), 4)
    q = jax.random.normal(ks[0], (2, 200, 2, 128))
    k, v = (jax.random.normal(key, (2, 77, 2, 128)) for key in ks[1:3])
    k_mask = jax.random.uniform(ks[3], (2, 77)) > 0.3 if with_mask else None
    plain = attention(q, k, v, k_mask=k_mask, backend="xla")
    splash = attention_fused.splash_attention(q, k, v, k_mask, 128 ** -0.5, interpret=True)
    np.testing.assert_allclose(np.asarray(splash), np.asarray(plain), rtol=1e-5, atol=2e-5)


def test_splash_lowers_for_tpu():
    x = jnp.zeros((1, 300, 2, 128), BF16)
    exported = jax.export.export(jax.jit(lambda q: attention(q, q, q, backend="splash")), platforms=["tpu"])(x)
    assert "tpu_custom_call" in exported.mlir_module()


def test_cudnn_lowers_for_cuda(monkeypatch):
    """No GPU here: pretend cuDNN 9.10 is installed and lower for CUDA; the fused cuDNN call must appear."""
    from jax._src.cudnn import fused_attention_stablehlo

    monkeypatch.setattr(fused_attention_stablehlo, "check_cudnn_version", lambda: 91000)
    monkeypatch.setattr(attn_mod, "current_platform", lambda: "cuda")
    x = jnp.zeros((2, 256, 2, 128), BF16)
    disabled = [jax.export.DisabledSafetyCheck.custom_call("__cudnn$fmhaSoftmax")]
    exported = jax.export.export(jax.jit(lambda q: attention(q, q, q)), platforms=["cuda"],
                                 disabled_checks=disabled)(x)
    assert "__cudnn$fmhaSoftmax" in exported.mlir_module()


@pytest.mark.parametrize("platform", ["tpu", "cuda"])
def test_dit_forward_lowers_with_the_fused_kernel(platform, monkeypatch):
    """A whole bf16 DiT forward (self-attention, text and image cross-attention) lowered for TPU / CUDA."""
    from flax import nnx

    from skyreels_jax.models.dit import DiT, DiTConfig

    monkeypatch.setattr(attn_mod, "current_platform", lambda: platform)
    disabled = []
    if platform == "cuda":
        from jax._src.cudnn import fused_attention_stablehlo

        monkeypatch.setattr(fused_attention_stablehlo, "check_cudnn_version", lambda: 91000)
        disabled = [jax.export.DisabledSafetyCheck.custom_call("__cudnn$fmhaSoftmax")]
    cfg = DiTConfig(dim=256, num_heads=2, ffn_dim=512, num_layers=2, text_dim=64, in_dim=36, image_dim=32,
                    dtype="bfloat16", param_dtype="bfloat16")
    graphdef, state = nnx.split(nnx.eval_shape(lambda: DiT(cfg, rngs=nnx.Rngs(0))))
    spec = jax.ShapeDtypeStruct
    args = (spec((1, 3, 8, 8, 36), F32), spec((1, 3), F32), spec((1, 24, 64), F32), spec((1, 5, 32), F32))
    fn = jax.jit(lambda s, *a: nnx.merge(graphdef, s).forward(*a))
    module = jax.export.export(fn, platforms=[platform], disabled_checks=disabled)(state, *args).mlir_module()
    if platform == "tpu":  # the three attentions pad to the same tile, so they share one kernel function
        assert "tpu_custom_call" in module
    else:  # self, text and image attention in the scanned block
        assert module.count("__cudnn$fmhaSoftmax") >= 3
