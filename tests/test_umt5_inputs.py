"""Bad and edge-case prompts: defined behaviour of TextEncoder.encode."""
import numpy as np
import pytest

from skyreels_jax import load_text_encoder
from tests.conftest import rel_err
from tests.encoder_fixtures import build_umt5, make_tokenizer, save_umt5_original, umt5_reference


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from transformers import AutoTokenizer

    root = tmp_path_factory.mktemp("te")
    tok = make_tokenizer(root / "tok")
    reference = build_umt5(len(AutoTokenizer.from_pretrained(str(tok))))
    return load_text_encoder(save_umt5_original(reference, tok, root / "orig")), reference


def test_empty_list_raises(setup):
    with pytest.raises(ValueError, match="empty"):
        setup[0].encode([])


@pytest.mark.parametrize("bad", [[None], ["a cat", 3], [b"bytes"], 7])
def test_non_string_prompt_raises(setup, bad):
    with pytest.raises(TypeError, match="string"):
        setup[0].encode(bad)


def test_single_string_is_a_batch_of_one(setup):
    assert setup[0].encode("a cat").shape == (1, 512, 32)


def test_over_long_prompt_is_truncated_with_a_warning(setup):
    """As the reference: the first 511 tokens then </s>; the output matches the reference on those ids."""
    te, reference = setup
    prompts = ["a cat walks " * 400, "a short one"]
    with pytest.warns(UserWarning, match="truncated to 512"):
        ids, mask = te.tokenize(prompts)
    assert mask[0].all() and ids[0, -1] == 1 and mask[1].sum() < 20
    with pytest.warns(UserWarning):
        ctx = np.asarray(te.encode(prompts))
    assert rel_err(ctx, umt5_reference(reference, ids, mask)) <= 1e-5

