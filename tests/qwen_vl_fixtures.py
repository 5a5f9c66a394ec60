"""A tiny random Qwen2_5_VLForConditionalGeneration with a tiny tokenizer and processor, saved as a folder.

The tokenizer is a byte-level BPE trained here with Qwen2.5-VL's special tokens; the chat template
is a short one with Qwen2.5-VL's vision placeholders (`<|vision_start|><|video_pad|><|vision_end|>`).
Nothing is downloaded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedTokenizerFast, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from skyreels_jax.captioner import STRUCT_PROMPT
from tests.encoder_fixtures import CORPUS

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
           "<|image_pad|>", "<|video_pad|>"]
VL_CHAT_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_tokenizer(folder: Path) -> Path:
    """Train a byte-level BPE (500 tokens) and save it with Qwen2.5-VL's special tokens and the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS + [STRUCT_PROMPT] * 2, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=SPECIAL[1:])
    fast.chat_template = VL_CHAT_TEMPLATE
    fast.padding_side = "left"
    fast.save_pretrained(str(folder))
    return folder


def build_reference(tokenizer, seed: int = 0) -> Qwen2_5_VLForConditionalGeneration:
    """LM hidden 64 (4 heads over 2 kv heads of 16, mrope 2/3/3); vision hidden 32, 2 heads, 3 blocks
    (block 1 full attention), window 56 px = 2×2 merge units. Weights scaled so greedy choices are not ties."""
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL}
    cfg = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                            "mrope_section": [2, 3, 3]},
                         bos_token_id=None, eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"]),
        vision_config=dict(depth=3, hidden_size=32, intermediate_size=48, num_heads=2, out_hidden_size=64,
                           fullatt_block_indexes=[1], window_size=56, patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2, tokens_per_second=2),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False)
    model = Qwen2_5_VLForConditionalGeneration(cfg)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "ln_q" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_((1.0 if "embed_tokens" in name else 0.15) * torch.randn_like(p))
    return model.eval()


def make_folder(folder: Path, seed: int = 0) -> Path:
    """A Qwen2.5-VL model folder: config.json, model.safetensors, tokenizer with its chat template."""
    from transformers import AutoTokenizer

    make_tokenizer(folder)
    model = build_reference(AutoTokenizer.from_pretrained(str(folder)), seed)
    model.save_pretrained(str(folder), safe_serialization=True)
    return folder


def tiny_video(frames: int = 6, height: int = 64, width: int = 90, seed: int = 0) -> np.ndarray:
    """uint8 [F, H, W, 3] smooth random frames (so resizing keeps their structure)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (frames, height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    big = base.repeat(8, 1).repeat(8, 2)[:, :height, :width]
    return big.clip(0, 255).astype(np.uint8)
