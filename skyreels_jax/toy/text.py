"""The toy text side: a sentencepiece tokenizer trained on the toy captions, a tiny frozen UMT5, and
the caption embeddings the training data is made of.

The UMT5 keeps random weights (seeded): it only has to map different captions to different
token features; the DiT's text embedder and cross-attention learn to read them. Both are saved
in the transformers layout (`tokenizer/`, `text_encoder/`) that `load_text_encoder` reads.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from skyreels_jax.toy.world import COLOURS, DIRECTIONS, SHAPES, caption

# Contexts are 16 tokens, not the real models' 512: a caption has 10, and the DiT's cross-attention
# would otherwise spread over 500 identical padding tokens (and train 6x slower).
TEXT_LEN = 16
UMT5_KW = dict(d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=2, relative_attention_num_buckets=32,
               relative_attention_max_distance=128, feed_forward_proj="gated-gelu", dropout_rate=0.0)


def all_captions() -> list[str]:
    return [caption(c, s, d) for c in COLOURS for s in SHAPES for d in DIRECTIONS]


def make_tokenizer(folder: Path, max_length: int = TEXT_LEN) -> Path:
    """Train a word-level sentencepiece model on every caption; save it as a T5 tokenizer folder whose
    model_max_length (the context length `load_text_encoder` pads to) is max_length."""
    import sentencepiece as spm
    from transformers import T5Tokenizer

    with tempfile.TemporaryDirectory() as work:
        corpus = Path(work) / "corpus.txt"
        corpus.write_text("\n".join(all_captions() * 4))
        spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(Path(work) / "spiece"), vocab_size=64,
                                       model_type="word", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                       hard_vocab_limit=False, minloglevel=2)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(work) / "spiece.model", folder / "spiece.model")
    T5Tokenizer.from_pretrained(str(folder), model_max_length=max_length).save_pretrained(str(folder))
    return folder


def make_text_encoder(folder: Path, vocab_size: int, seed: int = 0) -> Path:
    """A seeded random UMT5 encoder (norm weights 1, others N(0, 0.2²); embeddings N(0, 1))."""
    import torch
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    model = UMT5EncoderModel(UMT5Config(vocab_size=vocab_size, **UMT5_KW))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 1.0 if "shared" in name or "embed" in name or "relative" in name else 0.2)
    model.save_pretrained(folder)
    return folder


def text_embeddings(pipeline_dir: Path, prompts: list[str]) -> dict[str, np.ndarray]:
    """prompt -> its UMT5 features trimmed to the true token count [tokens, D]."""
    from skyreels_jax.models.umt5 import load_text_encoder

    te = load_text_encoder(pipeline_dir)
    ctx = np.asarray(te.encode(prompts))
    out = {}
    for p, c in zip(prompts, ctx):
        n = int(np.max(np.nonzero(np.abs(c).sum(-1))[0])) + 1
        out[p] = c[:n]
    return out
