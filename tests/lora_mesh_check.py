"""Run in a subprocess with 8 virtual CPU devices (see test_lora_files.py): LoRAs on a DiT sharded over a
(data 1, fsdp 4, context 1, tensor 2) mesh, merged into float weights or applied at run time to int8 ones,
compute what one device does; the run-time factors are split as their kernels are."""
import os
import sys
import tempfile
from pathlib import Path

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import jax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from skyreels_jax import load_transformer  # noqa: E402
from skyreels_jax.models.dit.lora_files import merge_loras  # noqa: E402
from skyreels_jax.models.dit.lora_runtime import attach_loras, set_lora_strengths  # noqa: E402
from skyreels_jax.parallel import make_mesh  # noqa: E402
from tests.conftest import rel_err  # noqa: E402
from tests.dit_fixtures import build_reference, save_diffusers  # noqa: E402
from tests.test_dit_parity import make_inputs  # noqa: E402


def main() -> None:
    assert jax.device_count() == 8
    mesh = make_mesh(fsdp=4, tensor=2)
    reference = build_reference("t2v")
    work = Path(tempfile.mkdtemp())
    folder = save_diffusers(reference, work / "dit")
    torch.manual_seed(0)
    dim, ffn = reference.config.num_attention_heads * reference.config.attention_head_dim, reference.config.ffn_dim
    lora = work / "lora.safetensors"
    save_file({"transformer.blocks.1.attn1.to_q.lora_A.weight": torch.randn(3, dim),
               "transformer.blocks.1.attn1.to_q.lora_B.weight": torch.randn(dim, 3),
               "transformer.blocks.0.ffn.net.2.lora_A.weight": torch.randn(3, ffn),
               "transformer.blocks.0.ffn.net.2.lora_B.weight": torch.randn(dim, 3)}, str(lora))
    inputs = make_inputs(reference, "t2v", 2)

    def run(model, sharded):
        if not sharded:
            return np.asarray(model(**inputs))
        with jax.set_mesh(mesh):
            return np.asarray(model(**inputs))

    merged = merge_loras(load_transformer(folder, mesh=mesh), [(lora, 0.5)])
    err = rel_err(run(merged, True), run(merge_loras(load_transformer(folder), [(lora, 0.5)]), False))
    assert err < 1e-5, err
    print(f"merged, sharded vs single device: rel {err:.1e}")

    sharded = attach_loras(load_transformer(folder, mesh=mesh, quantize="int8"), [(lora, 0.5)])
    q = sharded.blocks.self_attn.q
    assert tuple(q.lora_down[...].sharding.spec) == (None, "fsdp", None), q.lora_down[...].sharding.spec
    assert tuple(q.lora_up[...].sharding.spec) == (None, None, "tensor"), q.lora_up[...].sharding.spec
    single = attach_loras(load_transformer(folder, quantize="int8"), [(lora, 0.5)])
    plain = run(load_transformer(folder, quantize="int8"), False)
    for strength in (0.5, 2.0):
        set_lora_strengths(sharded, [strength])
        set_lora_strengths(single, [strength])
        out = run(sharded, True)
        err = rel_err(out, run(single, False))
        assert err < 1e-5 and rel_err(out, plain) > 1e-2, (strength, err)
        print(f"runtime on int8, strength {strength}, sharded vs single device: rel {err:.1e}")


if __name__ == "__main__":
    main()
    sys.exit(0)
