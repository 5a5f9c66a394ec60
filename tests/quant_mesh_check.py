"""Run in a subprocess with 8 virtual CPU devices (see test_quantization_mesh.py): a tiny DiT loaded
quantized straight onto a (data 1, fsdp 4, context 1, tensor 2) mesh keeps the float kernels' sharding
(scales follow the output axis), holds the same quantized values, and computes what one device does."""
import os
import sys
import tempfile
import warnings
from pathlib import Path

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import jax  # noqa: E402
import numpy as np  # noqa: E402

from skyreels_jax import load_transformer  # noqa: E402
from skyreels_jax.nn.quant import MODES  # noqa: E402
from skyreels_jax.parallel import make_mesh  # noqa: E402
from tests.conftest import rel_err  # noqa: E402
from tests.dit_fixtures import build_reference, save_diffusers  # noqa: E402
from tests.test_dit_parity import make_inputs  # noqa: E402

TOL = 1e-5  # weight-only modes: only the float32 summation order differs
# dynamic modes round activations per token: a last-bit difference upstream can move a value across a rounding
# edge, by a whole step; a few such flips, far below the quantization error itself (0.6 % to 2.7 %)
TOL_DYNAMIC = 2e-3


def main() -> None:
    assert jax.device_count() == 8
    warnings.filterwarnings("ignore", "fp8-dynamic on cpu")
    mesh = make_mesh(fsdp=4, tensor=2)
    reference = build_reference("t2v")
    folder = save_diffusers(reference, Path(tempfile.mkdtemp()) / "dit")
    inputs = make_inputs(reference, "t2v", 2)
    float_spec = load_transformer(folder, mesh=mesh).blocks.self_attn.q.kernel[...].sharding.spec
    for mode in MODES:
        plain = load_transformer(folder, quantize=mode)
        sharded = load_transformer(folder, mesh=mesh, quantize=mode)
        q, scale = sharded.blocks.self_attn.q.kernel[...], sharded.blocks.self_attn.q.scale[...]
        assert q.dtype == plain.blocks.self_attn.q.kernel[...].dtype
        assert tuple(q.sharding.spec) == tuple(float_spec) == (None, "fsdp", "tensor"), q.sharding.spec
        assert tuple(scale.sharding.spec) == (None, "tensor"), scale.sharding.spec
        o_scale = sharded.blocks.self_attn.o.scale[...]
        assert tuple(o_scale.sharding.spec) == (None, "fsdp"), o_scale.sharding.spec
        assert np.array_equal(np.asarray(q, np.float32), np.asarray(plain.blocks.self_attn.q.kernel[...], np.float32))
        with jax.set_mesh(mesh):
            out = sharded(**inputs)
        err = rel_err(np.asarray(out), np.asarray(plain(**inputs)))
        assert err < (TOL_DYNAMIC if mode.endswith("-dynamic") else TOL), (mode, err)
        print(f"{mode} sharded vs single device: rel {err:.1e}")


if __name__ == "__main__":
    main()
    sys.exit(0)
