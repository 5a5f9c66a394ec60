"""The planner compiles quantized programs for a TPU slice (libtpu, no TPU needed): the tiny DiT step's
weights per chip shrink, and int8-dynamic runs int8 x int8 -> int32 dots."""
import re

import jax
import pytest

pytest.importorskip("libtpu", reason="the TPU compiler: pip install 'skyreels-jax[tpu]'")

from skyreels_jax.models import DiTConfig, VAEConfig  # noqa: E402
from skyreels_jax.models.umt5 import UMT5Config  # noqa: E402
from skyreels_jax.planning.plan import Layout, compile_layout, group_mesh  # noqa: E402
from skyreels_jax.planning.programs import Pipeline  # noqa: E402
from skyreels_jax.planning.topologies import slice_of, tpu_devices  # noqa: E402

BF16 = dict(dtype="bfloat16", param_dtype="bfloat16")
CONFIGS = dict(transformer=DiTConfig(dim=512, num_heads=4, ffn_dim=1024, num_layers=2, text_dim=64, **BF16),
               text_encoder=UMT5Config(vocab_size=256, dim=64, num_heads=2, head_dim=32, ffn_dim=128, num_layers=2,
                                       **BF16),
               vae=VAEConfig())
MODEL = (CONFIGS, "T2V", (9, 64, 64))
LAYOUT = Layout((1, 4, 1, 1))


@pytest.fixture(scope="module")
def devices():
    return tpu_devices(slice_of("v5e:2x2"))


def test_quantized_step_compiles_with_fewer_weight_bytes(devices):
    steps = {mode: compile_layout(MODEL, LAYOUT, devices, 16 << 30, stop_early=False, step_only=True,
                                  quantize=mode)[0] for mode in (None, "int8")}
    assert all(s.error is None for s in steps.values()), steps
    assert steps["int8"].arguments < 0.7 * steps[None].arguments, steps


def test_int8_dynamic_lowers_to_integer_dots(devices):
    mesh = group_mesh(LAYOUT, devices)
    program = Pipeline(*MODEL, mesh, quantize="int8-dynamic").denoise_step()
    with jax.set_mesh(mesh):
        text = program.lower().as_text()
    dots = [line for line in text.splitlines() if "stablehlo.dot_general" in line]
    integer = [d for d in dots if re.search(r"xi8>, tensor<[0-9x]*xi8>\) -> tensor<[0-9x]*xi32>", d)]
    assert len(integer) >= 10, dots[:3]  # q, k, v, o of both attentions and the FFN's two
