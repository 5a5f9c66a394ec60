"""Loading a Hugging Face Qwen2 folder: key checks, config checks, bf16, and straight onto a mesh."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from skyreels_jax import CheckpointError
from skyreels_jax.models.qwen2.generate import forward, generate, left_pad
from skyreels_jax.models.qwen2.keys import config_from_transformers
from skyreels_jax.models.qwen2.loader import load_qwen2
from tests.conftest import rel_err
from tests.qwen_fixtures import build_reference, save_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_folder(build_reference(128, layers=1), tmp_path_factory.mktemp("qwen"))


def _edit(folder: Path, tmp_path: Path, edit_state=None, edit_config=None) -> Path:
    out = tmp_path / "edited"
    out.mkdir(parents=True)
    state = load_file(folder / "model.safetensors")
    config = json.loads((folder / "config.json").read_text())
    save_file(edit_state(state) if edit_state else state, out / "model.safetensors")
    (out / "config.json").write_text(json.dumps(edit_config(config) if edit_config else config))
    return out


def test_missing_unexpected_and_misshapen_keys_raise(folder, tmp_path):
    def drop(state):
        del state["model.layers.0.self_attn.k_proj.bias"]
        return state

    with pytest.raises(CheckpointError, match=r"missing key.*k_proj\.bias"):
        load_qwen2(_edit(folder, tmp_path / "a", drop))
    with pytest.raises(CheckpointError, match=r"unexpected key.*extra"):
        load_qwen2(_edit(folder, tmp_path / "b", lambda s: {**s, "model.extra.weight": torch.zeros(2)}))
    with pytest.raises(CheckpointError, match=r"_proj.weight.* has shape .* does not fit blocks.mlp"):
        load_qwen2(_edit(folder, tmp_path / "c", edit_config=lambda c: {**c, "intermediate_size": 80}))


def test_tied_folder_may_carry_an_lm_head_copy(tmp_path):
    reference = build_reference(128, tie=True, layers=1)
    folder = save_folder(reference, tmp_path / "tied")
    state = load_file(folder / "model.safetensors")
    state["lm_head.weight"] = state["model.embed_tokens.weight"].clone()
    save_file(state, folder / "model.safetensors")
    model = load_qwen2(folder)
    assert model.lm_head is None
    ids = np.arange(12)[None] % 128
    with torch.no_grad():
        ref = reference(torch.from_numpy(ids)).logits.numpy()
    assert rel_err(forward(model, ids), ref) <= 1e-5


def test_config_checks():
    base = dict(model_type="qwen2", vocab_size=8, hidden_size=16, intermediate_size=8, num_hidden_layers=1,
                num_attention_heads=2, num_key_value_heads=1, rope_theta=1e6, rope_scaling=None)
    cfg = config_from_transformers(base)  # the 4.x spelling of Qwen2.5's config.json
    assert (cfg.rope_theta, cfg.head_dim, cfg.num_kv_heads, cfg.tie_embeddings) == (1e6, 8, 1, False)
    with pytest.raises(ValueError, match="model_type is 'llama'"):
        config_from_transformers({**base, "model_type": "llama"})
    with pytest.raises(NotImplementedError, match="rope scaling 'yarn'"):
        config_from_transformers({**base, "rope_scaling": {"type": "yarn", "factor": 4.0}})
    with pytest.raises(NotImplementedError, match="use_sliding_window"):
        config_from_transformers({**base, "use_sliding_window": True})
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_qwen2(Path("/nonexistent/qwen"))


def test_bfloat16_weights_stay_close(folder):
    import jax.numpy as jnp

    f32, bf16 = load_qwen2(folder), load_qwen2(folder, jnp.bfloat16)
    assert bf16.blocks.attn.q.kernel[...].dtype == jnp.bfloat16
    ids = np.arange(16)[None] % 128
    err = rel_err(forward(bf16, ids), forward(f32, ids))
    assert err < 3e-2, err


def test_bad_generation_inputs(folder):
    model = load_qwen2(folder)
    ids, mask = left_pad([[5, 6, 7]], 4, 0)
    with pytest.raises(ValueError, match="left-padded"):
        generate(model, ids[:, ::-1], mask[:, ::-1], max_new_tokens=2)
    with pytest.raises(ValueError, match="token ids must be in"):
        generate(model, ids + 500, mask, max_new_tokens=2)
    with pytest.raises(ValueError, match="exceed the model's context"):
        generate(model, ids, mask, max_new_tokens=model.config.max_position)
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
        generate(model, ids, mask, max_new_tokens=0)


def _sharded_check():
    """In a subprocess with 8 CPU devices: load onto a (fsdp 4, tensor 2) mesh, compare with one device."""
    import tempfile

    import jax

    from skyreels_jax.parallel import make_mesh

    assert jax.device_count() == 8
    folder = save_folder(build_reference(256), Path(tempfile.mkdtemp()) / "qwen")
    plain, sharded = load_qwen2(folder), load_qwen2(folder, mesh=make_mesh(fsdp=4, tensor=2))
    k = sharded.blocks.attn.k.kernel[...]  # [layers, embed 64, kv heads 2 x 16]
    assert tuple(k.sharding.spec) == (None, "fsdp", "tensor"), k.sharding.spec
    assert tuple(sharded.lm_head.kernel[...].sharding.spec) == ("fsdp", "tensor")
    ids, mask = left_pad([[5, 9, 11, 40], [7, 8, 9, 10, 11, 12]], 8, 0)
    err = rel_err(forward(sharded, ids, mask), forward(plain, ids, mask))
    assert err < 1e-6, err
    np.testing.assert_array_equal(generate(sharded, ids, mask, max_new_tokens=16),
                                  generate(plain, ids, mask, max_new_tokens=16))
    print(f"qwen sharded vs single device: rel {err:.1e}, same 16 greedy tokens")


def test_loading_onto_a_mesh_matches_one_device():
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    result = subprocess.run([sys.executable, "-c", "from tests.test_qwen2_loading import _sharded_check as c; c()"],
                            cwd=root, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "qwen sharded vs single device" in result.stdout
