"""Loading one half of the VAE: the same outputs bit for bit, and the other half is never read or held."""
import dataclasses

import numpy as np
import pytest
from flax import nnx

from skyreels_jax import load_vae
from skyreels_jax.checkpoints.pth_file import PthFile
from skyreels_jax.checkpoints.safetensors_folder import SafetensorsFolder
from tests.vae_fixtures import TINY, build_reference, save_diffusers, save_original

ENCODER_KEYS = ("encoder.", "quant_conv.", "conv1.")   # conv1. is the original layout's quant_conv
DECODER_KEYS = ("decoder.", "post_quant_conv.", "conv2.")
CONFIG = {"diffusers": None,  # an original .pth has no config: the tiny one is given
          "original": dict(base_dim=8, z_dim=4, latents_mean=TINY["latents_mean"], latents_std=TINY["latents_std"])}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    reference, root = build_reference(), tmp_path_factory.mktemp("vae_parts")
    return {"diffusers": save_diffusers(reference, root / "diffusers"),
            "original": save_original(reference, root / "o")}


def _spy_reads(monkeypatch):
    read = []
    for cls in (SafetensorsFolder, PthFile):
        original = cls.read
        monkeypatch.setattr(cls, "read", lambda self, key, _original=original: read.append(key) or _original(self, key))
    return read


def _top_modules(vae) -> set[str]:
    return {str(p[0]) for p, _ in nnx.to_flat_state(nnx.state(vae))}


@pytest.mark.parametrize("layout", ["diffusers", "original"])
def test_each_half_reads_only_its_keys_and_matches_the_whole_vae(folders, layout, monkeypatch):
    rng = np.random.default_rng(0)
    video = rng.uniform(-1, 1, (1, 5, 16, 16, 3)).astype(np.float32)
    def load(**kw):
        return load_vae(folders[layout], config=CONFIG[layout], **kw)
    whole = load()
    z = np.asarray(whole.encode(video))
    x = np.asarray(whole.decode(z))

    read = _spy_reads(monkeypatch)
    decoder = load(parts=("decoder",))
    assert read and not any(k.startswith(ENCODER_KEYS) for k in read)
    read.clear()
    encoder = load(parts=("encoder",))
    assert read and not any(k.startswith(DECODER_KEYS) for k in read)

    assert _top_modules(decoder) == {"decoder", "post_quant_conv"}
    assert _top_modules(encoder) == {"encoder", "quant_conv"}
    np.testing.assert_array_equal(np.asarray(decoder.decode(z)), x)
    np.testing.assert_array_equal(np.asarray(encoder.encode(video)), z)


def test_a_missing_half_says_how_to_load_it(folders):
    decoder = load_vae(folders["diffusers"], parts=("decoder",))
    with pytest.raises(ValueError, match=r"holds only its decoder.*parts=\('encoder',\)"):
        decoder.encode(np.zeros((1, 1, 16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="parts must name one or both"):
        load_vae(folders["diffusers"], parts=("middle",))


def test_a_half_load_still_checks_the_whole_file(folders, tmp_path):
    """A damaged encoder is reported even when only the decoder is asked for."""
    import shutil

    from safetensors.torch import load_file, save_file

    from skyreels_jax import CheckpointError

    folder = shutil.copytree(folders["diffusers"], tmp_path / "vae")
    path = folder / "diffusion_pytorch_model.safetensors"
    state = load_file(str(path))
    state.pop("encoder.conv_in.weight")
    save_file(state, str(path))
    with pytest.raises(CheckpointError, match="encoder.conv_in.weight"):
        load_vae(folder, parts=("decoder",))


def test_pipeline_loads_the_encoder_half_on_the_first_encode(tmp_path, monkeypatch):
    """A diffusion-forcing call without an image never loads the encoder; with one it does, and the
    video is the one a whole VAE gives; low_memory frees it after the call."""
    from skyreels_jax.pipelines import load_pipeline
    from tests.pipeline_fixtures import build_df_pipeline

    monkeypatch.setenv("SKYREELS_JAX_CACHE", str(tmp_path / "cache"))
    folder = build_df_pipeline(tmp_path)[0]
    pipe = load_pipeline(folder)
    kw = dict(prompt="a cat", height=32, width=32, num_frames=9, base_num_frames=9, num_steps=2, progress=False)
    pipe(**kw)
    assert pipe.vae.parts == ("decoder",) and pipe.vae_encoder._value is None

    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    video = pipe(**kw, image=image)
    assert pipe.vae_encoder._value.parts == ("encoder",)
    whole = dataclasses.replace(pipe, vae=load_vae(folder), vae_encoder=None)
    np.testing.assert_array_equal(whole(**kw, image=image), video)
    pipe.low_memory = True  # the encoder half is let go after the call that used it
    np.testing.assert_array_equal(pipe(**kw, image=image), video)
    assert pipe.vae_encoder._value is None
