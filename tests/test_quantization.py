"""Quantized weights (int8, fp8) and activations (-dynamic): error bounds, memory, abstract models, errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import skyreels_jax as sj
from skyreels_jax.nn.quant import MODES, dequantize_weight, quantize_rows, quantize_weight
from skyreels_jax.parallel import make_mesh, state_shardings
from tests.conftest import rel_err

TINY = sj.DiTConfig(dim=64, ffn_dim=128, num_heads=4, num_layers=2, text_dim=32, freq_dim=32)
# ‖dequantized − w‖/‖w‖ of a Gaussian matrix: int8 steps of max/127 (~0.8 %), e4m3's 3 mantissa bits (~2.5 %)
ROUND_TRIP = {"int8": 0.012, "fp8": 0.04}
# the tiny DiT's forward against float32 (measured 0.36 %, 1.8 %, 0.59 %, 2.7 %)
FORWARD = {"int8": 0.008, "fp8": 0.04, "int8-dynamic": 0.012, "fp8-dynamic": 0.05}


def flat(model):
    return {".".join(map(str, p)): v.get_value() for p, v in nnx.to_flat_state(nnx.state(model))}


@pytest.mark.parametrize("mode", ["int8", "fp8"])
def test_weight_round_trip_within_bounds(mode):
    w = jax.random.normal(jax.random.key(0), (3, 256, 384)) * jnp.linspace(0.1, 3.0, 384)  # uneven columns
    q, scale = quantize_weight(w, mode)
    assert q.dtype == (jnp.int8 if mode == "int8" else jnp.float8_e4m3fn) and scale.shape == (3, 384)
    back = dequantize_weight(q, scale)
    assert rel_err(back, w) < ROUND_TRIP[mode]
    if mode == "int8":  # round to nearest: never more than half a step per element
        assert bool(jnp.all(jnp.abs(back - w) <= scale[:, None, :] * 0.5 + 1e-6))
    x = jax.random.normal(jax.random.key(1), (5, 7, 256))
    xq, xs = quantize_rows(x, mode)
    assert xs.shape == (5, 7) and rel_err(xq.astype(jnp.float32) * xs[..., None], x) < ROUND_TRIP[mode]
    zero_q, zero_scale = quantize_weight(jnp.zeros((4, 2)), mode)  # an all-zero column keeps a finite scale
    assert np.all(np.asarray(zero_scale) == 1.0) and not np.any(np.asarray(zero_q, np.float32))


@pytest.fixture(scope="module")
def inputs():
    keys = jax.random.split(jax.random.key(1), 2)
    return (jax.random.normal(keys[0], (1, 3, 8, 8, 16)), jnp.array([500.0]),
            jax.random.normal(keys[1], (1, 7, 32)))


@pytest.mark.filterwarnings("ignore:fp8-dynamic on cpu")
@pytest.mark.parametrize("mode", MODES)
def test_tiny_dit_forward_close_to_float(mode, inputs):
    ref = sj.DiT(TINY, rngs=nnx.Rngs(0))(*inputs)
    model = sj.quantize(sj.DiT(TINY, rngs=nnx.Rngs(0)), mode)
    err = rel_err(model(*inputs), ref)
    assert 0 < err < FORWARD[mode], err
    state = flat(model)
    stored = jnp.int8 if mode.startswith("int8") else jnp.float8_e4m3fn
    assert state["blocks.ffn.fc1.kernel"].dtype == stored and state["blocks.self_attn.o.kernel"].dtype == stored
    assert state["blocks.ffn.fc1.scale"].shape == (2, 128)
    for float_leaf in ("head.head.kernel", "blocks.modulation", "time_projection.kernel", "text_embedding.fc1.kernel",
                       "patch_embedding.kernel", "blocks.norm3.scale", "blocks.self_attn.norm_q.scale"):
        assert state[float_leaf].dtype == jnp.float32, float_leaf


def test_fp8_dynamic_on_cpu_says_what_it_does():
    with pytest.warns(UserWarning, match="fp8-dynamic on cpu: no fp8 matrix units"):
        sj.quantize(sj.DiT(TINY, rngs=nnx.Rngs(0)), "fp8-dynamic")


def test_quantized_weights_really_take_less_memory():
    cfg = sj.DiTConfig(**{**TINY.__dict__, "param_dtype": "bfloat16", "dtype": "bfloat16"})
    model = sj.DiT(cfg, rngs=nnx.Rngs(0))
    before = flat(model)
    sj.quantize(model, "int8")
    after = flat(model)
    kernels = [k for k in after if k.startswith("blocks.") and k.endswith(".kernel")]
    assert kernels and all(after[k].nbytes * 2 == before[k].nbytes for k in kernels)
    total_before, total_after = (sum(a.nbytes for a in s.values()) for s in (before, after))
    scales = sum(after[k.removesuffix("kernel") + "scale"].nbytes for k in kernels)
    assert total_after == total_before - sum(after[k].nbytes for k in kernels) + scales < 0.75 * total_before


def test_abstract_models_quantize_and_shard_by_logical_axes():
    traced = nnx.eval_shape(lambda: sj.quantize(sj.DiT(TINY, rngs=nnx.Rngs(0)), "int8-dynamic"))
    after = sj.quantize(nnx.eval_shape(lambda: sj.DiT(TINY, rngs=nnx.Rngs(0))), "int8-dynamic")
    for model in (traced, after):
        state = nnx.state(model)
        leaves = {".".join(map(str, p)): v for p, v in nnx.to_flat_state(state)}
        assert isinstance(leaves["blocks.self_attn.q.kernel"].get_value(), jax.ShapeDtypeStruct)
        assert leaves["blocks.self_attn.q.kernel"].get_value().dtype == jnp.int8
        assert leaves["blocks.self_attn.o.scale"].get_metadata()["logical_axes"] == ("embed",)
        shardings = {".".join(map(str, p)): s.spec for p, s in state_shardings(state, make_mesh()).items()}
        assert "blocks.ffn.fc2.scale" in shardings
    text = nnx.eval_shape(lambda: sj.quantize(sj.models.umt5.UMT5Encoder(
        sj.models.umt5.UMT5Config(vocab_size=64, dim=32, num_heads=2, head_dim=16, ffn_dim=48, num_layers=2),
        rngs=nnx.Rngs(0)), "fp8"))
    leaves = flat(text)
    assert leaves["blocks.ffn.gate.kernel"].dtype == jnp.float8_e4m3fn
    assert leaves["token_embedding"].dtype == jnp.float32


def test_bad_mode_is_one_line_before_any_loading(tmp_path):
    for call in (lambda: sj.quantize(sj.DiT(TINY, rngs=nnx.Rngs(0)), "int4"),
                 lambda: sj.load_pipeline(tmp_path / "missing", quantize="int4"),
                 lambda: sj.load_transformer(tmp_path / "missing", quantize="int4")):
        with pytest.raises(ValueError, match=r"^quantize mode 'int4' is not one of None, 'int8', 'fp8'") as e:
            call()
        assert "\n" not in str(e.value)
    with pytest.raises(TypeError, match="quantize takes a DiT"):
        sj.quantize(nnx.Linear(2, 2, rngs=nnx.Rngs(0)), "int8")
    twice = sj.quantize(sj.DiT(TINY, rngs=nnx.Rngs(0)), "int8")
    with pytest.raises(ValueError, match="already quantized"):
        sj.quantize(twice, "fp8")
