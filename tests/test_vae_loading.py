"""Loading the VAE from both layouts: the fixture's original layout is diffusers' own, key errors name the key."""
import json

import numpy as np
import pytest
import torch
from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers
from safetensors.torch import load_file, save_file

from skyreels_jax import CheckpointError, VAEConfig, load_vae
from skyreels_jax.models.vae.loader import config_from_diffusers
from tests.vae_fixtures import build_reference, original_state, save_diffusers, save_original


@pytest.fixture(scope="module")
def reference():
    return build_reference()


def test_fixture_original_layout_is_what_diffusers_converts(reference):
    converted = convert_wan_vae_to_diffusers(original_state(reference))
    state = reference.state_dict()
    assert sorted(converted) == sorted(state)
    assert all(torch.equal(converted[k], state[k]) for k in state)


def test_real_original_key_set(tmp_path):
    """Every key of a real-shaped Wan2.1_VAE.pth (194 tensors) maps to one parameter, with the right shape."""
    reference = build_reference(base_dim=96, z_dim=16, latents_mean=None, latents_std=None)
    vae = load_vae(save_original(reference, tmp_path))
    assert vae.config == VAEConfig()
    assert len(reference.state_dict()) == 194
    kernel = np.asarray(vae.encoder.down[5].time_conv.kernel[...])  # the first downsample3d
    expected = reference.encoder.down_blocks[5].time_conv.weight.detach().numpy().transpose(2, 3, 4, 1, 0)
    np.testing.assert_array_equal(kernel, expected)


def test_pipeline_root_and_config(reference, tmp_path):
    save_diffusers(reference, tmp_path / "vae")
    (tmp_path / "model_index.json").write_text("{}")
    vae = load_vae(tmp_path)
    assert vae.config.base_dim == 8 and vae.config.z_dim == 4
    assert vae.config.latents_std == tuple(reference.config.latents_std)


def _rewrite(folder, edit):
    path = folder / "diffusion_pytorch_model.safetensors"
    state = load_file(str(path))
    edit(state)
    save_file(state, str(path))


@pytest.mark.parametrize("case", ["missing", "unexpected", "misshapen"])
def test_key_errors_name_the_key(reference, tmp_path, case):
    folder = save_diffusers(reference, tmp_path / "vae")
    key = "decoder.up_blocks.1.upsamplers.0.time_conv.weight"
    edits = {"missing": lambda s: s.pop(key),
             "unexpected": lambda s: s.__setitem__("decoder.extra.weight", torch.zeros(1)),
             "misshapen": lambda s: s.__setitem__(key, s[key][:, :, :2].contiguous())}
    _rewrite(folder, edits[case])
    name = "decoder.extra.weight" if case == "unexpected" else key
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
        load_vae(folder)


def test_pth_with_the_wrong_config_names_keys(reference, tmp_path):
    """A tiny .pth loaded with the Wan2.1 default config fails on shapes, naming the key."""
    with pytest.raises(CheckpointError, match="has shape"):
        load_vae(save_original(reference, tmp_path))


def test_unsupported_configs_are_refused():
    with pytest.raises(ValueError, match="is_residual"):
        config_from_diffusers(dict(is_residual=True, z_dim=48, base_dim=160))
    with pytest.raises(ValueError, match="not an AutoencoderKLWan"):
        config_from_diffusers(dict(_class_name="AutoencoderKL"))


def test_missing_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_vae(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no VAE"):
        load_vae(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKLWan"}))
    with pytest.raises(FileNotFoundError, match="safetensors"):
        load_vae(tmp_path)
