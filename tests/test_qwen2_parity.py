"""Qwen2 against transformers' Qwen2ForCausalLM on a tiny random config (float32).

Logits of a whole batch (also left-padded), greedy generation of 32 tokens with and without the
KV cache (token for token equal to transformers' generate, left-padded batch included, with and
without stop tokens and a repetition penalty), and the sampling processors.
"""
import numpy as np
import pytest
import torch

from skyreels_jax.models.qwen2.generate import Sampling, forward, generate, left_pad, process_logits
from skyreels_jax.models.qwen2.loader import load_qwen2
from tests.conftest import rel_err
from tests.qwen_fixtures import build_reference, save_folder

VOCAB = 256


@pytest.fixture(scope="module", params=[False, True], ids=["untied", "tied"])
def models(request, tmp_path_factory):
    reference = build_reference(VOCAB, tie=request.param)
    folder = save_folder(reference, tmp_path_factory.mktemp("qwen"), shard=True)
    return reference, load_qwen2(folder)


def _prompts(seed=0):
    rng = np.random.default_rng(seed)
    return left_pad([list(rng.integers(3, VOCAB, 9)), list(rng.integers(3, VOCAB, 17))], 20, pad_id=0)


def _hf_generate(reference, ids, mask, new, **kw):
    with torch.no_grad():
        out = reference.generate(input_ids=torch.from_numpy(ids).long(), attention_mask=torch.from_numpy(mask).long(),
                                 max_new_tokens=new, do_sample=False, pad_token_id=0, **kw)
    return out[:, ids.shape[1]:].numpy()


def test_logits_match_transformers(models):
    reference, ours = models
    ids = np.random.default_rng(1).integers(0, VOCAB, (2, 24))
    with torch.no_grad():
        ref = reference(torch.from_numpy(ids)).logits.numpy()
    err = rel_err(forward(ours, ids), ref)
    assert err <= 1e-5, err


def test_left_padded_logits_match_transformers(models):
    reference, ours = models
    ids, mask = _prompts()
    positions = np.maximum(mask.cumsum(1) - 1, 0)
    with torch.no_grad():
        ref = reference(input_ids=torch.from_numpy(ids).long(), attention_mask=torch.from_numpy(mask).long(),
                        position_ids=torch.from_numpy(positions).long()).logits.numpy()
    out = np.asarray(forward(ours, ids, mask))
    real = mask.astype(bool)
    assert np.isfinite(out).all()
    err = rel_err(out[real], ref[real])
    assert err <= 1e-5, err


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no-cache"])
def test_greedy_32_tokens_match_transformers(models, use_cache):
    reference, ours = models
    ids, mask = _prompts()
    expected = _hf_generate(reference, ids, mask, 32)
    assert expected.shape == (2, 32)
    np.testing.assert_array_equal(generate(ours, ids, mask, max_new_tokens=32, use_cache=use_cache), expected)


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no-cache"])
def test_stop_tokens_and_repetition_penalty_match_transformers(models, use_cache):
    reference, ours = models
    ids, mask = _prompts(2)
    free_run = _hf_generate(reference, ids, mask, 32, repetition_penalty=1.3)
    stop = [int(free_run[0, 5]), int(free_run[1, 20])]  # row 0 stops by token 6, row 1 by token 21 at the latest
    expected = _hf_generate(reference, ids, mask, 32, repetition_penalty=1.3, eos_token_id=stop)
    ours_out = generate(ours, ids, mask, max_new_tokens=32, stop_tokens=stop, pad_id=0,
                        sampling=Sampling(repetition_penalty=1.3), use_cache=use_cache)
    width = expected.shape[1]
    assert width < 32  # transformers stopped early once both rows hit a stop token
    np.testing.assert_array_equal(ours_out[:, :width], expected)
    assert (ours_out[:, width:] == 0).all()


def test_processors_match_transformers():
    from transformers import (
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, (3, 500)).astype(np.float32)
    history = rng.integers(0, 500, (3, 40))
    seen = np.zeros_like(logits, bool)
    np.put_along_axis(seen, history, True, axis=1)
    for temperature, top_k, top_p, penalty in [(0.7, 20, 0.8, 1.05), (1.3, 0, 0.5, 1.0), (1.0, 7, 1.0, 1.2)]:
        scores = torch.from_numpy(logits)
        ids = torch.from_numpy(history)
        scores = RepetitionPenaltyLogitsProcessor(penalty)(ids, scores)
        scores = TemperatureLogitsWarper(temperature)(ids, scores)
        if top_k:
            scores = TopKLogitsWarper(top_k)(ids, scores)
        scores = TopPLogitsWarper(top_p)(ids, scores).numpy()
        ours = np.asarray(process_logits(logits, seen, False, temperature, top_k, top_p, penalty))
        np.testing.assert_array_equal(np.isinf(ours), np.isinf(scores))
        kept = ~np.isinf(scores)
        np.testing.assert_allclose(ours[kept], scores[kept], rtol=1e-6)


def test_sampling_is_seeded_and_top_k_1_is_greedy(models):
    _, ours = models
    ids, mask = _prompts()
    sample = Sampling(greedy=False, temperature=0.8, top_k=20, top_p=0.9)
    a = generate(ours, ids, mask, max_new_tokens=8, sampling=sample, seed=1)
    b = generate(ours, ids, mask, max_new_tokens=8, sampling=sample, seed=1)
    np.testing.assert_array_equal(a, b)
    one = generate(ours, ids, mask, max_new_tokens=8, sampling=Sampling(greedy=False, top_k=1), seed=5)
    np.testing.assert_array_equal(one, generate(ours, ids, mask, max_new_tokens=8))
