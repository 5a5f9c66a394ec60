"""Run in a subprocess with 8 virtual CPU devices (see test_parallel.py): load the tiny DiT and
UMT5 straight onto a (data 1, fsdp 4, context 1, tensor 2) mesh and compare with one device."""
import os
import sys
import tempfile
from pathlib import Path

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import jax  # noqa: E402
import numpy as np  # noqa: E402

from skyreels_jax import load_text_encoder, load_transformer  # noqa: E402
from skyreels_jax.parallel import make_mesh  # noqa: E402
from tests.conftest import rel_err  # noqa: E402
from tests.dit_fixtures import build_reference, save_diffusers  # noqa: E402
from tests.encoder_fixtures import build_umt5, make_tokenizer, save_umt5_original  # noqa: E402
from tests.test_dit_parity import make_inputs  # noqa: E402


def main() -> None:
    assert jax.device_count() == 8
    mesh = make_mesh(fsdp=4, tensor=2)
    tmp = Path(tempfile.mkdtemp())
    reference = build_reference("i2v")
    folder = save_diffusers(reference, tmp / "dit")
    plain = load_transformer(folder)
    sharded = load_transformer(folder, mesh=mesh)
    q = sharded.blocks.self_attn.q.kernel[...]           # [layers, embed, heads] = [2, 32, 32]
    assert tuple(q.sharding.spec) == (None, "fsdp", "tensor"), q.sharding.spec
    assert {s.data.shape for s in q.addressable_shards} == {(2, 8, 16)}
    inputs = make_inputs(reference, "i2v", 2)
    err = rel_err(np.asarray(sharded(**inputs)), np.asarray(plain(**inputs)))
    assert err < 1e-6, err
    print(f"dit sharded vs single device: rel {err:.1e}")

    tok = make_tokenizer(tmp / "tok")
    from transformers import AutoTokenizer

    umt5 = build_umt5(len(AutoTokenizer.from_pretrained(str(tok))))
    root = save_umt5_original(umt5, tok, tmp / "t5")
    prompts = ["a red circle moves left", "two cats"]
    te_plain = load_text_encoder(root).encode(prompts)
    te = load_text_encoder(root, mesh=mesh)
    shards = {tuple(v.sharding.spec) for v in jax.tree.leaves(te.model if hasattr(te, "model") else te)
              if hasattr(v, "sharding") and v.ndim >= 2}
    assert any("fsdp" in s or "tensor" in s for s in shards), shards
    err = rel_err(np.asarray(te.encode(prompts)), np.asarray(te_plain))
    assert err < 1e-6, err
    print(f"umt5 sharded vs single device: rel {err:.1e}")


if __name__ == "__main__":
    sys.exit(main())
