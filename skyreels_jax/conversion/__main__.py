"""python -m skyreels_jax.conversion (or python -m convert from a checkout) {convert,verify,inspect}: PyTorch
SkyReels-V2 checkpoints to verified Flax/Orbax ones."""
from __future__ import annotations

import sys

from skyreels_jax.cli_errors import OneLineParser, reporting_errors
from skyreels_jax.conversion import cli


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m skyreels_jax.conversion", description=__doc__)
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return reporting_errors(lambda: cli.run(args))


if __name__ == "__main__":
    sys.exit(main())
