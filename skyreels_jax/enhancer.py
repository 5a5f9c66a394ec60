"""The SkyReels-V2 prompt enhancer: Qwen2.5-Instruct rewrites a short prompt as a detailed video caption.

As the reference (`skyreels_v2_infer/pipelines/prompt_enhancer.py`): the system message "You are a
helpful assistant.", and a user message built from its template, which asks for an opening shot
type, the subjects with vivid attributes, dynamic elements, the scene, lighting/atmosphere and
camera motion, with one worked example. Generation follows the folder's generation_config.json
(Qwen2.5-Instruct: sampling with temperature 0.7, top-p 0.8, top-k 20, repetition penalty 1.05)
with up to 2048 new tokens, as the reference's `model.generate(max_new_tokens=2048)` does; unlike
the reference the sampling is seeded, so a run repeats.

Bad inputs: an empty prompt raises ValueError. A prompt whose chat text does not leave room for
one new token in the model's context raises ValueError; otherwise max_new_tokens is lowered to
what the context leaves (never silently truncating the prompt itself).
"""
from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from skyreels_jax.models.qwen2 import Qwen2
from skyreels_jax.models.qwen2.generate import Sampling, bucket_length, generate, left_pad
from skyreels_jax.nn.jit import free

SYSTEM_MESSAGE = "You are a helpful assistant."
# The reference's user-message template, verbatim (its zero-width spaces included: the model saw them);
# the short prompt goes in its {}.
TEMPLATE = (Path(__file__).parent / "assets" / "prompts" / "enhancer.txt").read_text(encoding="utf-8")
DEFAULT_MODEL = "Qwen/Qwen2.5-32B-Instruct"
# transformers' GenerationConfig defaults, used for fields generation_config.json leaves out
_HF_DEFAULTS = dict(do_sample=False, temperature=1.0, top_k=50, top_p=1.0, repetition_penalty=1.0)


def build_prompt(prompt: str) -> list[dict]:
    """The chat messages for one short prompt (stripped; empty raises)."""
    if not isinstance(prompt, str):
        raise TypeError(f"a prompt must be a string, not {type(prompt).__name__}")
    prompt = prompt.strip()
    if not prompt:
        raise ValueError("the prompt to enhance is empty: give a short description of the video")
    return [{"role": "system", "content": SYSTEM_MESSAGE}, {"role": "user", "content": TEMPLATE.format(prompt)}]


def generation_settings(folder: Path, tokenizer) -> tuple[Sampling, list[int], int]:
    """(sampling, stop tokens, pad id) from generation_config.json, as transformers' generate reads it."""
    gen_file = folder / "generation_config.json"
    gen = json.loads(gen_file.read_text()) if gen_file.exists() else {}
    model_cfg = json.loads((folder / "config.json").read_text())
    pick = {k: gen[k] if gen.get(k) is not None else v for k, v in _HF_DEFAULTS.items()}
    sampling = Sampling(greedy=not pick["do_sample"], temperature=float(pick["temperature"]),
                        top_k=int(pick["top_k"]), top_p=float(pick["top_p"]),
                        repetition_penalty=float(pick["repetition_penalty"]))
    eos = gen.get("eos_token_id", model_cfg.get("eos_token_id"))
    if eos is None:
        eos = tokenizer.eos_token_id
    stop = [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]) if e is not None]
    pad = next((p for p in (gen.get("pad_token_id"), tokenizer.pad_token_id) if p is not None), None)
    return sampling, stop, int(pad if pad is not None else (stop[0] if stop else 0))


class PromptEnhancer:
    """`enhance(prompt)` -> the detailed caption (a list in, a list out).

    Holds the Qwen2.5 model (about 64 GB in bf16 for the 32B): call `close()` (or use it as a
    context manager) to free its device memory before the DiT loads.
    """

    def __init__(self, model: Qwen2, tokenizer, sampling: Sampling, stop_tokens: list[int], pad_id: int,
                 max_new_tokens: int = 2048, batch_size: int = 8):
        self.model, self.tokenizer = model, tokenizer
        self.sampling, self.stop_tokens, self.pad_id = sampling, stop_tokens, pad_id
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size

    def chat_ids(self, prompt: str) -> list[int]:
        """The token ids of the chat text (system + templated user message + assistant header)."""
        text = self.tokenizer.apply_chat_template(build_prompt(prompt), tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def enhance(self, prompt: str | list[str], *, seed: int = 0, max_new_tokens: int | None = None,
                sampling: Sampling | None = None) -> str | list[str]:
        if self.model is None:
            raise RuntimeError("this PromptEnhancer was closed; load it again with load_prompt_enhancer")
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not prompts:
            raise ValueError("the prompt list is empty")
        chats = [self.chat_ids(p) for p in prompts]
        out = []
        for i in range(0, len(chats), self.batch_size):
            out += self._run(chats[i:i + self.batch_size], seed + i, max_new_tokens, sampling or self.sampling)
        return out[0] if isinstance(prompt, str) else out

    def _run(self, chats, seed, max_new_tokens, sampling) -> list[str]:
        context = self.model.config.max_position
        longest = max(len(c) for c in chats)
        if longest >= context:
            raise ValueError(f"the prompt is {longest} tokens with the enhancer's template, which leaves no room "
                             f"in the model's context of {context} tokens: shorten it")
        new = min(max_new_tokens or self.max_new_tokens, context - longest)
        ids, mask = left_pad(chats, min(bucket_length(longest), context - new), self.pad_id)
        tokens = generate(self.model, ids, mask, max_new_tokens=new, stop_tokens=self.stop_tokens,
                          pad_id=self.pad_id, sampling=sampling, seed=seed)
        texts = []
        for row in tokens:
            stops = np.flatnonzero(np.isin(row, self.stop_tokens))
            row = row[:stops[0]] if stops.size else row
            texts.append(self.tokenizer.decode(row.tolist(), skip_special_tokens=True).strip())
        return texts

    def close(self) -> None:
        """Free the parameters' device buffers now, whoever else still refers to them."""
        if self.model is not None:
            free(self.model)
            self.model = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load_prompt_enhancer(path=DEFAULT_MODEL, dtype=None, *, mesh=None, max_new_tokens: int = 2048,
                         batch_size: int = 8, **sampling) -> PromptEnhancer:
    """A PromptEnhancer from a Hugging Face Qwen2.5 folder or Hub id (config.json, safetensors, tokenizer).

    dtype defaults to bfloat16 on accelerators and float32 on CPU. Keyword arguments override the
    folder's sampling settings (greedy, temperature, top_k, top_p, repetition_penalty).
    """
    from transformers import AutoTokenizer

    from skyreels_jax.hub import resolve
    from skyreels_jax.models.qwen2.loader import load_qwen2

    folder = resolve(path)
    if dtype is None:
        dtype = jnp.float32 if jax.default_backend() == "cpu" else jnp.bfloat16
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    if not tokenizer.chat_template:
        raise ValueError(f"the tokenizer in {folder} has no chat template: use an Instruct model folder")
    defaults, stop, pad = generation_settings(folder, tokenizer)
    settings = {**{f: getattr(defaults, f) for f in Sampling.__dataclass_fields__}, **sampling}
    model = load_qwen2(folder, dtype, mesh=mesh)
    return PromptEnhancer(model, tokenizer, Sampling(**settings), stop, pad, max_new_tokens, batch_size)


def enhance_prompts(path, prompts: list[str], *, seed: int = 0, **kwargs) -> list[str]:
    """Load the enhancer, rewrite every prompt, and free it again (for a pipeline that loads a DiT next)."""
    with load_prompt_enhancer(path, **kwargs) as enhancer:
        return enhancer.enhance(list(prompts), seed=seed)
