"""The `skyreels-jax` command: generate, enhance, caption, convert / verify / inspect, preprocess, train, plan, demo,
samplers (the sampler lab)."""
from __future__ import annotations

import os
import sys

from skyreels_jax import captioner_cli, cli_types, enhancer_cli, generate, samplers_cli
from skyreels_jax.cli_errors import OneLineParser, reporting_errors
from skyreels_jax.compilation_cache import ENV as CACHE_ENV
from skyreels_jax.compilation_cache import enable_compilation_cache
from skyreels_jax.conversion import cli as convert_cli
from skyreels_jax.heap import ENV as TRIM_ENV
from skyreels_jax.heap import trim_heap_after_compiles
from skyreels_jax.planning import cli as plan_cli
from skyreels_jax.training import cli as train_cli
from skyreels_jax.training import preprocess_cli

EPILOG = (f"Every command keeps compiled XLA programs in ${CACHE_ENV} when it is set, and hands the memory XLA's "
          f"compiler frees back to the OS after each compile (${TRIM_ENV}=0 turns that off). Importing skyreels_jax "
          "as a library does neither: call enable_compilation_cache() and trim_heap_after_compiles().")


def main(argv: list[str] | None = None) -> int:
    # transformers (tokenizers only here) advises at import that PyTorch is missing, which this install means
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    return reporting_errors(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    parser = OneLineParser(prog="skyreels-jax", description=__doc__, epilog=EPILOG)
    commands = parser.add_subparsers(dest="command", required=True)
    generate.add_parser(commands)
    demo = commands.add_parser("demo", help="text-to-video with the embedded toy model (no download)")
    demo.add_argument("--out", default="outputs/demo.mp4")
    demo.add_argument("--prompt", default=None, help='e.g. "a blue square moves up on a black background"')
    demo.add_argument("--steps", type=cli_types.count(1, 1000), default=None,
                      help="denoising steps (default: 20; 4 with --fast)")
    demo.add_argument("--seed", type=cli_types.seed, default=0)
    demo.add_argument("--fast", action="store_true",
                      help="the 4-step distilled toy model (toy-fast, no guidance): 4 model evaluations instead of 40")
    train_cli.add_parser(commands)
    preprocess_cli.add_parser(commands)
    enhancer_cli.add_parser(commands)
    captioner_cli.add_parser(commands)
    convert_cli.add_parser(commands)
    plan_cli.add_parser(commands)
    samplers_cli.add_parser(commands)
    args = parser.parse_args(argv)
    enable_compilation_cache()
    trim_heap_after_compiles()
    runners = {"plan": plan_cli.run, "samplers": samplers_cli.run, "generate": generate.run, "train": train_cli.run,
               "preprocess": preprocess_cli.run, "enhance": enhancer_cli.run, "caption": captioner_cli.run,
               **{name: convert_cli.run for name in convert_cli.COMMANDS}}
    if args.command in runners:
        return runners[args.command](args)
    if args.command == "demo":
        from skyreels_jax import demo as demo_module

        print(demo_module.__doc__.strip(), "\n")
        prompt = args.prompt or demo_module.PROMPT
        out = demo_module.run_demo(args.out, prompt=prompt, steps=args.steps, seed=args.seed, fast=args.fast)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
