"""`skyreels-jax enhance "prompt"`: print the prompt enhancer's detailed caption for each prompt."""
from __future__ import annotations

from skyreels_jax import cli_types
from skyreels_jax.enhancer import DEFAULT_MODEL


def add_parser(commands) -> None:
    p = commands.add_parser("enhance", help="rewrite short prompts as detailed video captions (Qwen2.5)")
    p.add_argument("prompt", nargs="+", help="one or more short prompts")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"Qwen2.5-Instruct folder or Hub id (default {DEFAULT_MODEL})")
    p.add_argument("--max-new-tokens", type=int, default=2048)
    p.add_argument("--greedy", action="store_true", help="argmax decoding instead of the folder's sampling")
    p.add_argument("--seed", type=cli_types.seed, help="the sampling's seed (default 0; not with --greedy)")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], help="default: bfloat16 on accelerators")


def run(args) -> int:
    import jax.numpy as jnp

    from skyreels_jax.enhancer import load_prompt_enhancer

    if args.greedy and args.seed is not None:
        raise ValueError("--greedy decoding draws nothing at random: drop --seed")
    if args.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    overrides = {"greedy": True} if args.greedy else {}
    dtype = None if args.dtype is None else jnp.dtype(args.dtype)
    with load_prompt_enhancer(args.model, dtype, max_new_tokens=args.max_new_tokens, **overrides) as enhancer:
        for prompt, text in zip(args.prompt, enhancer.enhance(args.prompt, seed=args.seed or 0)):
            print(f"Original prompt: {prompt}\nEnhanced prompt: {text}\n")
    return 0
