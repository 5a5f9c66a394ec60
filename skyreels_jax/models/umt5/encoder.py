"""Prompts to UMT5 context: cleaning, tokenising (max length 512) and the TextEncoder object.

Cleaning is the reference's `clean="whitespace"`: ftfy.fix_text, HTML-unescape twice, collapse
whitespace. Tokenising pads every prompt to max_length and truncates longer ones to
max_length tokens, the last being </s>, as the reference tokenizer call does; truncation is
warned about, since it silently drops the end of the prompt there.
"""
from __future__ import annotations

import html
import re
import warnings
from pathlib import Path

import jax
import numpy as np

from skyreels_jax.models.umt5.model import UMT5Encoder
from skyreels_jax.nn.jit import free, jit_call
from skyreels_jax.parallel.placement import to_device


def clean_prompt(text: str) -> str:
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return re.sub(r"\s+", " ", text).strip()


def check_prompts(prompts) -> list[str]:
    """A prompt or a non-empty list of prompts, as a list; anything else raises."""
    if isinstance(prompts, str):
        return [prompts]
    if isinstance(prompts, (bytes, bytearray)) or not hasattr(prompts, "__iter__"):
        raise TypeError(f"prompts must be a string or a list of strings, not {type(prompts).__name__}")
    prompts = list(prompts)
    if not prompts:
        raise ValueError("the prompt list is empty: give at least one prompt (\"\" is a valid empty prompt)")
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise TypeError(f"prompt {i} is a {type(p).__name__}, not a string: pass text prompts only")
    return prompts


def load_tokenizer(folder: str | Path):
    """The UMT5 tokenizer of a local folder (tokenizer.json and/or spiece.model), offline.

    Every published UMT5 layout uses the T5 sentencepiece tokenizer. `from_pretrained` is
    used because transformers 5 ignores `T5Tokenizer(vocab_file=...)` without an error.
    """
    from transformers import T5Tokenizer

    folder = Path(folder)
    if not any((folder / name).exists() for name in ("tokenizer.json", "spiece.model")):
        raise FileNotFoundError(f"{folder} has no tokenizer.json or spiece.model: give the UMT5 tokenizer folder")
    return T5Tokenizer.from_pretrained(str(folder), local_files_only=True)


def tokenize(tokenizer, prompts: list[str], max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Cleaned prompts to (ids, mask), both [B, max_length] int32; warns about truncated prompts."""
    prompts = [clean_prompt(p) for p in prompts]
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=True, verbose=False).input_ids]
    long = [(i, n) for i, n in enumerate(lengths) if n > max_length]
    if long:
        warnings.warn(f"{len(long)} prompt(s) are longer than {max_length} tokens and are truncated to "
                      f"{max_length} (as the reference does): (index, tokens) {long[:5]}", stacklevel=3)
    out = tokenizer(prompts, padding="max_length", truncation=True, max_length=max_length,
                    add_special_tokens=True, return_tensors="np")
    return out.input_ids.astype(np.int32), out.attention_mask.astype(np.int32)


class TextEncoder:
    """`encode(prompts)` -> [B, max_length, dim] context, zero past each prompt's tokens.

    The model holds several GB (about 11 GB for umt5-xxl in bf16). Call `close()` (or drop every
    reference to this object) to free its device memory before running the DiT.
    """

    def __init__(self, model: UMT5Encoder, tokenizer):
        self.model = model
        self.tokenizer = tokenizer
        self.config = model.config

    def tokenize(self, prompts) -> tuple[np.ndarray, np.ndarray]:
        return tokenize(self.tokenizer, check_prompts(prompts), self.config.max_length)

    def encode(self, prompts) -> jax.Array:
        if self.model is None:
            raise RuntimeError("this TextEncoder was closed; load it again with load_text_encoder")
        ids, mask = self.tokenize(prompts)
        return jit_call(self.model, "__call__", to_device(ids), to_device(mask))

    def close(self) -> None:
        """Free the parameters' device buffers now, whoever else still refers to them."""
        if self.model is not None:
            free(self.model)
            self.model = None
