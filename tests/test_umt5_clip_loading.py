"""Loader errors, logical axes, and the real umt5-xxl / ViT-H/14 shapes (abstractly, no weights)."""
import jax
import jax.numpy as jnp
import pytest
import torch
from flax import nnx

from skyreels_jax import CheckpointError, load_image_encoder, load_text_encoder
from skyreels_jax.models.clip import CLIPVision, CLIPVisionConfig
from skyreels_jax.models.umt5 import UMT5Config, UMT5Encoder
from tests.encoder_fixtures import T5_PTH, build_umt5, make_tokenizer, save_umt5_original


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    return build_umt5(248), make_tokenizer(tmp_path_factory.mktemp("tok") / "umt5")


@pytest.mark.parametrize("edit,match", [
    (lambda sd: sd.pop("blocks.1.ffn.fc2.weight"), r"missing.*blocks\.1\.ffn\.fc2\.weight"),
    (lambda sd: sd.update({"blocks.0.attn.extra.weight": torch.zeros(2)}), r"unexpected.*blocks\.0\.attn\.extra"),
    (lambda sd: sd.update({"norm.weight": torch.ones(33)}), r"'norm\.weight' has shape \(33,\)"),
])
def test_checkpoint_errors_name_the_key(parts, tmp_path, edit, match):
    folder = save_umt5_original(*parts, tmp_path / "orig")
    state = torch.load(folder / T5_PTH)
    edit(state)
    torch.save(state, folder / T5_PTH)
    with pytest.raises(CheckpointError, match=match):
        load_text_encoder(folder)


def test_missing_folders_say_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no text encoder"):
        load_text_encoder(tmp_path)
    with pytest.raises(FileNotFoundError, match="holds no image encoder"):
        load_image_encoder(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_text_encoder(tmp_path / "nowhere")


def _abstract(make):
    return nnx.split(nnx.eval_shape(make))


def _check_axes(state):
    """Logical axes name every dimension (per layer for the stacked blocks, as in the DiT)."""
    for path, v in state.flat_state():
        stacked = path[0] == "blocks"
        assert len(v.get_metadata()["logical_axes"]) == v.get_value().ndim - stacked, path


def test_real_umt5_xxl_shapes_and_axes():
    """umt5-xxl: 5.7B parameters, [B, 512, 4096] out; every parameter carries logical axes."""
    cfg = UMT5Config(dtype="bfloat16", param_dtype="bfloat16")
    graphdef, state = _abstract(lambda: UMT5Encoder(cfg, rngs=nnx.Rngs(0)))
    params = state.flat_state()
    assert 5.6e9 < sum(v.get_value().size for _, v in params) < 5.8e9
    _check_axes(state)
    ids = jax.ShapeDtypeStruct((2, 512), jnp.int32)
    out = jax.eval_shape(lambda s, i, m: nnx.merge(graphdef, s)(i, m), state, ids, ids)
    assert out.shape == (2, 512, 4096) and out.dtype == jnp.bfloat16


def test_real_vit_h14_shapes_and_axes():
    """ViT-H/14 at 224: 31 blocks run, [B, 257, 1280] out."""
    graphdef, state = _abstract(lambda: CLIPVision(CLIPVisionConfig(), rngs=nnx.Rngs(0)))
    _check_axes(state)
    pixels = jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32)
    out = jax.eval_shape(lambda s, x: nnx.merge(graphdef, s)(x), state, pixels)
    assert out.shape == (1, 257, 1280)


@pytest.mark.parametrize("names", [("encoder.embed_tokens.weight",), ("shared.weight", "encoder.embed_tokens.weight")])
def test_tied_embedding_under_either_name(parts, tmp_path, names):
    """transformers files may store the tied token embedding as shared.weight, encoder.embed_tokens.weight or both."""
    from safetensors.torch import load_file, save_file

    from tests.encoder_fixtures import save_umt5_diffusers

    root = save_umt5_diffusers(*parts, tmp_path / "pipe")
    path = root / "text_encoder" / "model.safetensors"
    state = load_file(str(path))
    table = state.pop("shared.weight")
    save_file({**state, **{n: table.clone() for n in names}}, str(path), metadata={"format": "pt"})
    te = load_text_encoder(root)
    assert jnp.array_equal(te.model.token_embedding[...], jnp.asarray(table.numpy()))
