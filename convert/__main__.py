"""python -m convert inspect PATH: what a checkpoint folder holds, and whether it loads, without reading tensors."""
from __future__ import annotations

import argparse
import collections
import dataclasses
import sys

from skyreels_jax.checkpoints import CheckpointError, DiTCheckpoint


def inspect(path: str) -> int:
    ckpt = DiTCheckpoint.open(path)
    print(f"folder:  {ckpt.folder}\nlayout:  {ckpt.layout}\nvariant: {ckpt.config.variant}"
          + (" (with the fps embedding)" if ckpt.config.inject_sample_info else ""))
    for field in dataclasses.fields(ckpt.config):
        print(f"  {field.name} = {getattr(ckpt.config, field.name)}")
    sizes = collections.Counter()
    for key in ckpt.source.keys():
        n = 1
        for d in ckpt.source.shape(key):
            n *= d
        sizes[key.split(".")[0]] += n
    print(f"tensors: {len(ckpt.source.keys())}, parameters: {sum(sizes.values()):,}")
    try:
        ckpt.plan()
    except CheckpointError as e:
        print(f"does NOT load:\n{e}")
        return 1
    print("loads: every key present, none unexpected, every shape as the config says")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convert", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("inspect", help="check a DiT folder (original or diffusers layout)").add_argument("path")
    args = parser.parse_args(argv)
    return inspect(args.path)


if __name__ == "__main__":
    sys.exit(main())
