"""The `skyreels-jax` command."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skyreels-jax", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run what exists today end to end and write a video (no download)")
    demo.add_argument("--out", default="outputs/demo.mp4")
    demo.add_argument("--steps", type=int, default=10)
    demo.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.command == "demo":
        from skyreels_jax import demo as demo_module

        print(demo_module.__doc__.strip(), "\n")
        path = demo_module.run_demo(args.out, steps=args.steps, seed=args.seed)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
