"""The prompt enhancer: the reference's template and chat, greedy parity with the reference's
transformers code path on a tiny random Qwen2 folder, bad inputs, freeing, and the CLI."""
import argparse

import pytest
import torch

from skyreels_jax.enhancer import (
    SYSTEM_MESSAGE,
    TEMPLATE,
    build_prompt,
    enhance_prompts,
    generation_settings,
    load_prompt_enhancer,
)
from skyreels_jax.models.qwen2.generate import Sampling
from tests.qwen_fixtures import build_reference, make_tokenizer, save_folder

QWEN25_GENERATION = {"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.05,
                     "eos_token_id": [2, 0], "pad_token_id": 0}  # Qwen2.5-Instruct's, with the tiny ids


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("enhancer")
    tok = make_tokenizer(root / "tok")
    from transformers import AutoTokenizer

    vocab = len(AutoTokenizer.from_pretrained(str(tok)))
    return save_folder(build_reference(vocab, seed=4), root / "qwen", tok, generation=QWEN25_GENERATION)


@pytest.fixture(scope="module")
def enhancer(folder):
    return load_prompt_enhancer(folder, greedy=True)


def test_template_is_the_reference_one():
    assert len(TEMPLATE) == 1397 and TEMPLATE.count("\u200b") == 29 and TEMPLATE.count("{}") == 1
    for part in ("Opening shot type", "Primary subject(s)", "Dynamic elements", "Scene composition",
                 "Lighting/atmosphere", "Camera motion", "Now expand this short prompt:",
                 "Please only output the final long prompt in English."):
        assert part in TEMPLATE
    messages = build_prompt("  a stop sign \n")
    assert messages[0] == {"role": "system", "content": SYSTEM_MESSAGE}
    assert "[a stop sign]. Please" in messages[1]["content"]


def test_generation_settings_follow_the_folder(folder, enhancer):
    sampling, stop, pad = generation_settings(folder, enhancer.tokenizer)
    assert sampling == Sampling(greedy=False, temperature=0.7, top_k=20, top_p=0.8, repetition_penalty=1.05)
    assert (stop, pad) == ([2, 0], 0)
    assert enhancer.sampling == Sampling(greedy=True, temperature=0.7, top_k=20, top_p=0.8, repetition_penalty=1.05)


def _reference_enhance(folder, prompt: str, max_new_tokens: int) -> str:
    """The reference PromptEnhancer.__call__ with greedy decoding (the model on CPU, float32)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    messages = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": TEMPLATE.format(prompt.strip())}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.batch_decode(out[:, inputs.input_ids.shape[1]:], skip_special_tokens=True)[0]


def test_greedy_enhance_matches_the_reference_code_path(folder, enhancer):
    prompts = ["In a still frame, a stop sign", "a cat walks in the garden"]
    expected = [_reference_enhance(folder, p, 24).strip() for p in prompts]
    assert all(expected)
    assert enhancer.enhance(prompts, max_new_tokens=24) == expected          # one left-padded batch
    assert enhancer.enhance(prompts[1], max_new_tokens=24) == expected[1]    # a string in, a string out


def test_sampling_is_seeded(enhancer):
    sample = Sampling(greedy=False, temperature=0.7, top_k=20, top_p=0.8, repetition_penalty=1.05)
    a = enhancer.enhance("a dog", max_new_tokens=8, sampling=sample, seed=3)
    assert a == enhancer.enhance("a dog", max_new_tokens=8, sampling=sample, seed=3)


def test_bad_prompts(enhancer):
    for empty in ("", "  \n"):
        with pytest.raises(ValueError, match="prompt to enhance is empty"):
            enhancer.enhance(empty)
    with pytest.raises(ValueError, match="prompt list is empty"):
        enhancer.enhance([])
    with pytest.raises(TypeError, match="must be a string"):
        enhancer.enhance([3])
    with pytest.raises(ValueError, match="leaves no room in the model's context of 1024 tokens"):
        enhancer.enhance("a cat walks " * 400)


def test_a_long_prompt_gets_fewer_new_tokens(enhancer):
    words = 1
    while len(enhancer.chat_ids("cat " * words)) < 1016:
        words += 1
    assert len(enhancer.chat_ids("cat " * words)) < 1024
    assert isinstance(enhancer.enhance("cat " * words, max_new_tokens=64), str)


def test_close_frees_the_weights(folder):
    enhancer = load_prompt_enhancer(folder)
    weight = enhancer.model.embed[...]
    enhancer.close()
    assert weight.is_deleted()
    with pytest.raises(RuntimeError, match="closed"):
        enhancer.enhance("a cat")
    assert enhance_prompts(folder, ["a cat"], max_new_tokens=4, greedy=True)[0] is not None


def test_cli(folder, capsys):
    from skyreels_jax import enhancer_cli

    parser = argparse.ArgumentParser()
    enhancer_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["enhance", "a red car", "--model", str(folder), "--max-new-tokens", "6", "--greedy"])
    assert enhancer_cli.run(args) == 0
    out = capsys.readouterr().out
    assert "Original prompt: a red car" in out and "Enhanced prompt:" in out
    bad = parser.parse_args(["enhance", "x", "--model", str(folder), "--max-new-tokens", "0"])
    with pytest.raises(ValueError, match="max-new-tokens"):
        enhancer_cli.run(bad)


def test_generate_with_prompt_enhancer(folder, tmp_path, monkeypatch):
    """`generate --prompt-enhancer` rewrites the prompt (LM loaded and freed first) and records both."""
    import json

    from skyreels_jax.cli import main
    from skyreels_jax.enhancer import enhance_prompts
    from tests.pipeline_fixtures import build_pipeline

    monkeypatch.setenv("SKYREELS_JAX_CACHE", str(tmp_path / "cache"))
    pipe_folder, _ = build_pipeline("t2v", tmp_path / "pipe")
    out = tmp_path / "v.mp4"
    args = ["generate", "--model", str(pipe_folder), "--prompt", "a cat", "--prompt-enhancer", str(folder),
            "--num-frames", "5", "--height", "32", "--width", "32", "--steps", "2", "--output", str(out)]
    assert main(args) == 0
    meta = json.loads((tmp_path / "v.mp4.json").read_text())
    assert meta["original_prompt"] == "a cat"
    assert meta["prompt"] == enhance_prompts(folder, ["a cat"], seed=0)[0] != "a cat"
