"""python -m skyreels_jax.conversion (or python -m convert from a checkout) {convert,verify,inspect}: PyTorch
SkyReels-V2 checkpoints to verified Flax/Orbax ones."""
from __future__ import annotations

import argparse
import sys

from skyreels_jax.conversion import cli


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skyreels_jax.conversion", description=__doc__)
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return cli.run(args)
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)  # a user error: what to change, no traceback
        return 2


if __name__ == "__main__":
    sys.exit(main())
