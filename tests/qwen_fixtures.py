"""A tiny random Qwen2ForCausalLM and a tiny Qwen-style tokenizer, saved as a Hugging Face folder.

The tokenizer is a byte-level BPE trained here on a few sentences and the enhancer's template,
with Qwen's special tokens and the non-tool part of Qwen2.5-Instruct's chat template (copied as
data): nothing is downloaded.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from skyreels_jax.enhancer import TEMPLATE
from tests.encoder_fixtures import CORPUS

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "{%- else %}\n"
    "    {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. "
    "You are a helpful assistant.<|im_end|>\\n' }}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or "
    "(message.role == \"assistant\" and not message.tool_calls) %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n"
)


def make_tokenizer(folder: Path) -> Path:
    """Train a 400-token byte-level BPE and save it with Qwen's special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS + [TEMPLATE] * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=SPECIAL[1:])
    fast.chat_template = QWEN_CHAT_TEMPLATE
    fast.padding_side = "left"
    fast.save_pretrained(str(folder))
    return folder


def build_reference(vocab_size: int = 400, *, tie: bool = False, seed: int = 0, max_position: int = 1024,
                    layers: int = 2) -> Qwen2ForCausalLM:
    """hidden 64, 4 query heads over 2 kv heads of 16; weights large enough that greedy choices are
    far from ties (so float32 rounding differences cannot flip a token). A tied embedding is kept
    smaller, else every step repeats the last token."""
    cfg = Qwen2Config(vocab_size=vocab_size, hidden_size=64, intermediate_size=96, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_position,
                      rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, rms_norm_eps=1e-6,
                      tie_word_embeddings=tie, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    model = Qwen2ForCausalLM(cfg)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(((0.3 if tie else 1.0) if "embed" in name else 0.15) * torch.randn_like(p))
    return model.eval()


def save_folder(model: Qwen2ForCausalLM, folder: Path, tokenizer: Path | None = None, *, shard: bool = False,
                generation: dict | None = None) -> Path:
    """save_pretrained (sharded with an index when asked), plus the tokenizer files and a generation_config.json."""
    model.save_pretrained(str(folder), safe_serialization=True, max_shard_size="40KB" if shard else "5GB")
    if tokenizer is not None:
        for f in tokenizer.iterdir():
            (folder / f.name).write_bytes(f.read_bytes())
    if generation is not None:
        (folder / "generation_config.json").write_text(json.dumps(generation))
    return folder
