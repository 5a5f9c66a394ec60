"""Checkpoint loading: layouts, folder shapes, dtypes, and the errors a wrong checkpoint must raise."""
import json

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
from safetensors.torch import load_file, save_file

from skyreels_jax import CheckpointError, DiTConfig, load_transformer
from tests.conftest import rel_err
from tests.dit_fixtures import build_reference, reference_forward, save_diffusers, save_original
from tests.test_dit_parity import make_inputs


@pytest.mark.parametrize("variant", ["t2v", "df", "i2v", "flf2v"])
def test_original_fixture_agrees_with_diffusers_converter(variant, tmp_path):
    """The test-written original layout converts back to the diffusers names with diffusers' own map."""
    model = build_reference(variant)
    folder = save_original(model, tmp_path, variant)
    original = {}
    for f in sorted(folder.glob("*.safetensors")):
        original.update(load_file(f))
    original = {k: v for k, v in original.items() if not k.startswith("model_type.")}
    converted = convert_wan_transformer_to_diffusers(dict(original))
    # diffusers' shipped converter lacks two renames that its GitHub conversion script has
    # (fps_projection, emb_pos): apply them here.
    gaps = (("fps_projection.0.", "fps_projection.net.0.proj."), ("fps_projection.2.", "fps_projection.net.2."),
            ("img_emb.emb_pos", "condition_embedder.image_embedder.pos_embed"))
    for old, new in gaps:
        converted = {k.replace(old, new): v for k, v in converted.items()}
    expected = model.state_dict()
    assert set(converted) == set(expected)
    for k, v in expected.items():
        assert torch.equal(converted[k], v), k


def test_pipeline_root_folder(tmp_path):
    model = build_reference("t2v")
    save_diffusers(model, tmp_path / "transformer")
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "SkyReelsV2Pipeline"}))
    dit = load_transformer(tmp_path)
    inputs = make_inputs(model, "t2v", 1)
    assert rel_err(np.asarray(dit(**inputs)), reference_forward(model, **inputs)) <= 1e-5


def test_bfloat16_load_stays_close(tmp_path):
    model = build_reference("df")
    folder = save_diffusers(model, tmp_path)
    dit = load_transformer(folder, dtype=jnp.bfloat16)
    assert dit.blocks.self_attn.q.kernel[...].dtype == jnp.bfloat16
    inputs = make_inputs(model, "df", 1, fps=24)
    out = np.asarray(dit(**inputs), np.float32)
    assert np.isfinite(out).all()
    assert rel_err(out, reference_forward(model, **inputs)) < 3e-2


@pytest.mark.parametrize("variant,fps,batch", [("df", 24, 1), ("df", 16, 1), ("t2v", None, 2), ("i2v", None, 1),
                                                ("flf2v", None, 1), ("causal", None, 1)])
def test_exported_dit_reads_back_in_ours_and_in_diffusers(variant, fps, batch, tmp_path):
    """toy/export.save_dit writes every variant (DF's fps embedding, the block-causal flag) so that our
    loader gives the same forward and diffusers' from_pretrained the same forward as ours."""
    from diffusers import SkyReelsV2Transformer3DModel

    from skyreels_jax.toy.export import save_dit

    dit = load_transformer(save_diffusers(build_reference(variant), tmp_path / "source"))
    folder = save_dit(dit, tmp_path / "exported")
    config = json.loads((folder / "config.json").read_text())
    assert config["inject_sample_info"] == (variant == "df")
    assert config["num_frame_per_block"] == (2 if variant == "causal" else 1)
    back = load_transformer(folder)
    assert back.config == dit.config
    theirs = SkyReelsV2Transformer3DModel.from_pretrained(folder, torch_dtype=torch.float32).eval()
    inputs = make_inputs(theirs, variant, batch, fps=fps)
    ours = np.asarray(dit(**inputs))
    np.testing.assert_array_equal(np.asarray(back(**inputs)), ours)
    assert rel_err(reference_forward(theirs, **inputs), ours) <= 1e-5


def test_export_refuses_a_frame_causal_mask(tmp_path):
    from skyreels_jax.toy.export import diffusers_config

    with pytest.raises(ValueError, match="num_frame_per_block"):
        diffusers_config(DiTConfig(causal_block_size=1))


def test_export_refuses_a_dit_with_runtime_loras(tmp_path):
    from flax import nnx

    from skyreels_jax.models.dit import DiT
    from skyreels_jax.toy.export import save_dit

    dit = DiT(DiTConfig(dim=32, num_heads=2, ffn_dim=64, num_layers=1, text_dim=16, freq_dim=32), rngs=nnx.Rngs(0))
    q = dit.blocks.self_attn.q
    rank = np.ones(1, np.float32)
    q.attach_lora(jnp.zeros((1, 32, 1)), jnp.zeros((1, 1, 32)), rank[None])
    with pytest.raises(ValueError, match="lora_mode='merge'"):
        save_dit(dit, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_key_is_named(tmp_path):
    folder = save_original(build_reference("t2v"), tmp_path, "t2v")
    shard = folder / "model-00001-of-00002.safetensors"
    tensors = load_file(shard)
    dropped = sorted(tensors)[0]
    del tensors[dropped]
    save_file(tensors, str(shard))
    with pytest.raises(CheckpointError, match="missing key") as err:
        load_transformer(folder)
    assert dropped in str(err.value)


def test_misshapen_key_is_named(tmp_path):
    folder = save_diffusers(build_reference("t2v"), tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["ffn_dim"] = 48
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"blocks\.0\.ffn\.net\.0\.proj\.weight.*\(64, 32\).*\(48, 32\)"):
        load_transformer(folder)


def test_checkpoint_of_another_variant_than_the_config(tmp_path):
    folder = save_original(build_reference("i2v"), tmp_path, "i2v")
    t2v = DiTConfig(dim=32, ffn_dim=64, num_heads=2, num_layers=2, in_dim=36, text_dim=24)
    with pytest.raises(CheckpointError, match=r"looks like I2V.*\n.*unexpected key.*k_img"):
        load_transformer(folder, config=t2v)


def test_unknown_folder_says_what_to_give(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_transformer(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_transformer(tmp_path)


def test_convert_inspect(tmp_path, capsys):
    from skyreels_jax.conversion.__main__ import main as convert_main

    folder = save_original(build_reference("df"), tmp_path / "ok", "df")
    assert convert_main(["inspect", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "layout:  original" in out and "fps embedding" in out and "loads:" in out
    bad = save_diffusers(build_reference("t2v"), tmp_path / "bad")
    config = json.loads((bad / "config.json").read_text())
    config["in_channels"] = 36
    (bad / "config.json").write_text(json.dumps(config))
    assert convert_main(["inspect", str(bad)]) == 1
    assert "patch_embedding.weight" in capsys.readouterr().out


def test_safetensors_reader_reads_every_dtype_and_catches_truncation(tmp_path):
    from skyreels_jax.checkpoints.safetensors_folder import SafetensorsFolder

    tensors = {"a": torch.randn(3, 5).bfloat16(), "b": torch.randn(4, dtype=torch.float64),
               "c": torch.arange(6, dtype=torch.int64).reshape(2, 3), "d": torch.randn(2, 2).half()}
    save_file(tensors, str(tmp_path / "x.safetensors"))
    source = SafetensorsFolder(tmp_path)
    for key, t in tensors.items():
        got = source.read(key)
        assert got.shape == tuple(t.shape)
        np.testing.assert_array_equal(got.astype(np.float64), t.double().numpy())
    data = (tmp_path / "x.safetensors").read_bytes()
    (tmp_path / "x.safetensors").write_bytes(data[:-8])
    with pytest.raises(ValueError, match="truncated"):
        SafetensorsFolder(tmp_path).read(sorted(tensors)[-1])
