"""The Flax UMT5 text encoder against transformers' UMT5EncoderModel on tiny random weights, both layouts."""
import numpy as np
import pytest
import torch

from skyreels_jax import load_text_encoder
from skyreels_jax.models.umt5.encoder import clean_prompt
from skyreels_jax.models.umt5.model import relative_buckets
from tests.conftest import rel_err
from tests.encoder_fixtures import build_umt5, make_tokenizer, save_umt5_diffusers, save_umt5_original, umt5_reference

TOL = 1e-5  # float32, ‖out−ref‖/‖ref‖
PROMPTS = ["A cat walks slowly across a sunny garden.", "  Two   people &amp;amp; a   dog\n dance. ",
           "一只猫慢慢地走过花园", ""]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tok") / "umt5")


@pytest.fixture(scope="module")
def reference(tokenizer_dir):
    from transformers import AutoTokenizer

    return build_umt5(len(AutoTokenizer.from_pretrained(str(tokenizer_dir))))


def test_buckets_match_transformers():
    from transformers import UMT5Config
    from transformers.models.umt5.modeling_umt5 import UMT5Attention

    attn = UMT5Attention(UMT5Config(relative_attention_num_buckets=32, relative_attention_max_distance=128),
                         has_relative_attention_bias=True)
    rel = torch.arange(600)[None, :] - torch.arange(600)[:, None]
    np.testing.assert_array_equal(relative_buckets(600, 32, 128), attn._relative_position_bucket(rel).numpy())


def test_tokenizer_matches_the_reference_call(tokenizer_dir, reference, tmp_path):
    """ids/mask equal AutoTokenizer on the cleaned prompts with the reference's arguments."""
    from transformers import AutoTokenizer

    te = load_text_encoder(save_umt5_diffusers(reference, tokenizer_dir, tmp_path / "p"))
    ids, mask = te.tokenize(PROMPTS)
    ref = AutoTokenizer.from_pretrained(str(tokenizer_dir))([clean_prompt(p) for p in PROMPTS], padding="max_length",
                                                            truncation=True, max_length=512, add_special_tokens=True)
    np.testing.assert_array_equal(ids, ref.input_ids)
    np.testing.assert_array_equal(mask, ref.attention_mask)
    assert ids.shape == (4, 512) and mask[3].sum() == 1  # "" is just </s>
    assert clean_prompt(PROMPTS[1]) == "Two people & a dog dance."


@pytest.mark.parametrize("layout", ["diffusers", "diffusers-sharded", "original"])
def test_matches_transformers(layout, tokenizer_dir, reference, tmp_path):
    if layout == "original":
        folder = save_umt5_original(reference, tokenizer_dir, tmp_path / "orig")
    else:
        folder = save_umt5_diffusers(reference, tokenizer_dir, tmp_path / "pipe", shard=layout.endswith("sharded"))
        if layout.endswith("sharded"):
            assert len(list((folder / "text_encoder").glob("*.safetensors"))) > 1
    te = load_text_encoder(folder)
    ctx = np.asarray(te.encode(PROMPTS))
    ids, mask = te.tokenize(PROMPTS)
    ref = umt5_reference(reference, ids, mask)
    assert ctx.shape == (4, 512, 32)
    assert rel_err(ctx, ref) <= TOL
    assert not ctx[0, mask[0].sum():].any()  # zero past the prompt


def test_model_folder_and_pth_path(tokenizer_dir, reference, tmp_path):
    """A transformers folder holding weights and tokenizer together, and the .pth path itself."""
    folder = tmp_path / "umt5"
    reference.save_pretrained(folder, safe_serialization=True)
    for f in tokenizer_dir.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    a = np.asarray(load_text_encoder(folder).encode("a cat"))
    orig = save_umt5_original(reference, tokenizer_dir, tmp_path / "orig")
    b = np.asarray(load_text_encoder(orig / "models_t5_umt5-xxl-enc-bf16.pth").encode("a cat"))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_bf16(tokenizer_dir, reference, tmp_path):
    """bf16 weights as published (.pth in bf16) and bf16 compute: close to float32, bf16 out."""
    import jax.numpy as jnp

    folder = save_umt5_original(reference, tokenizer_dir, tmp_path / "orig", dtype=torch.bfloat16)
    te = load_text_encoder(folder, dtype=jnp.bfloat16)
    assert te.model.token_embedding[...].dtype == jnp.bfloat16
    ctx = te.encode(PROMPTS[:2])
    assert ctx.dtype == jnp.bfloat16
    ids, mask = te.tokenize(PROMPTS[:2])
    assert rel_err(np.asarray(ctx.astype(jnp.float32)), umt5_reference(reference, ids, mask)) < 3e-2
    te.close()
    assert te.model is None
    with pytest.raises(RuntimeError, match="closed"):
        te.encode("a cat")
