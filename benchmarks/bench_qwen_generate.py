"""Greedy generation speed (tokens/s) of skyreels_jax's Qwen2 against transformers, on CPU, same run.

    .venv/bin/python -m benchmarks.bench_qwen_generate [--configs tiny small] [--batches 1 4]
                                                       [--prompt 64] [--new 64] [--repeats 3]

Builds a random Qwen2ForCausalLM per config, saves it, loads it with load_qwen2, and times
greedy generation of --new tokens after a --prompt-token prompt (no stop token, so every run
makes all tokens), float32 on both sides. Best of --repeats after a warm-up; the JAX warm-up
(the compile) is reported apart. Checks both sides made the same tokens. Needs torch.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

CONFIGS = {  # transformers Qwen2Config fields
    "tiny": dict(vocab_size=400, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2),
    "small": dict(vocab_size=32000, hidden_size=512, intermediate_size=1536, num_hidden_layers=8,
                  num_attention_heads=8, num_key_value_heads=2),
}


def build(name: str):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(**CONFIGS[name], max_position_embeddings=4096, tie_word_embeddings=False,
                      bos_token_id=None, eos_token_id=None, pad_token_id=None)
    model = Qwen2ForCausalLM(cfg).eval()
    with torch.no_grad():  # larger than the default init, so greedy tokens are far from ties
        for pname, p in model.named_parameters():
            if p.ndim == 2:
                p.normal_(0.0, 1.0 if "embed" in pname else 0.1)
    return model


def best_of(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=["tiny", "small"], choices=sorted(CONFIGS))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--prompt", type=int, default=64)
    parser.add_argument("--new", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import jax
    import torch

    from skyreels_jax.models.qwen2.generate import generate
    from skyreels_jax.models.qwen2.loader import load_qwen2

    torch.set_num_threads(os.cpu_count())
    rows = []
    for name in args.configs:
        reference = build(name)
        folder = Path(tempfile.mkdtemp()) / name
        reference.save_pretrained(str(folder), safe_serialization=True)
        ours = load_qwen2(folder)
        params = sum(p.numel() for p in reference.parameters()) / 1e6
        for batch in args.batches:
            ids = np.random.default_rng(batch).integers(0, CONFIGS[name]["vocab_size"], (batch, args.prompt))
            mask = np.ones_like(ids)

            def run_torch():
                with torch.no_grad():
                    out = reference.generate(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                                             max_new_tokens=args.new, do_sample=False, pad_token_id=0)
                return out[:, args.prompt:].numpy()

            def run_jax():
                return generate(ours, ids, mask, max_new_tokens=args.new)

            run_torch()
            start = time.perf_counter()
            run_jax()
            compile_s = time.perf_counter() - start
            t_torch, out_torch = best_of(run_torch, args.repeats)
            t_jax, out_jax = best_of(run_jax, args.repeats)
            tokens = batch * args.new
            rows.append((name, f"{params:.1f}M", batch, tokens / t_torch, tokens / t_jax, (tokens / t_jax) /
                         (tokens / t_torch), compile_s, bool((out_torch == out_jax).all())))

    print(f"\ngreedy generation, prompt {args.prompt} + {args.new} new tokens, float32, CPU "
          f"({os.cpu_count()} cores, jax {jax.__version__}, torch {torch.__version__}); best of {args.repeats}\n")
    print("| config | params | batch | transformers tok/s | skyreels_jax tok/s | jax/torch | jax compile s "
          "| same tokens |")
    print("|---|---|---|---|---|---|---|---|")
    for name, params, batch, tt, tj, ratio, comp, same in rows:
        print(f"| {name} | {params} | {batch} | {tt:.1f} | {tj:.1f} | {ratio:.2f}x | {comp:.1f} | {same} |")


if __name__ == "__main__":
    main()
