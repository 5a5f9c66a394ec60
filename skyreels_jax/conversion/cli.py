"""The convert, verify and inspect commands, for `python -m convert` and `skyreels-jax`."""
from __future__ import annotations

import argparse

COMMANDS = ("convert", "verify", "inspect")


def add_parser(subparsers) -> None:
    """Add the convert, verify and inspect commands to an argparse subparsers object."""
    c = subparsers.add_parser("convert", help="convert a published SkyReels-V2 folder or Hub id to Orbax",
                              description="Convert every component of SRC (original or diffusers layout, a local "
                              "folder or a Hub id) to one Orbax checkpoint + JSON config per component in DST "
                              "(a local folder or gs:// path). A rerun skips finished components.")
    c.add_argument("src", help="local folder or Hub id, e.g. Skywork/SkyReels-V2-I2V-14B-540P")
    c.add_argument("dst", help="local folder or gs://bucket/path")
    c.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32", "keep", "int8", "fp8"),
                   help="parameter dtype written (the VAE stays float32 unless 'keep'); int8 and fp8 store the DiT's "
                   "and text encoder's block weights quantized (per-channel scales), the rest bfloat16; "
                   "default bfloat16")
    c.add_argument("--components", help="comma-separated subset of dit,vae,text_encoder,image_encoder "
                   "(default: every component SRC holds)")
    c.add_argument("--flush-mb", type=int, default=256, help="host memory for tensors waiting to be written")
    v = subparsers.add_parser("verify", help="check a converted checkpoint (and compare it with SRC)")
    v.add_argument("dst")
    v.add_argument("--against", metavar="SRC", help="run each component on random inputs against PyTorch on SRC")
    v.add_argument("--seed", type=int, default=0)
    i = subparsers.add_parser("inspect", help="list the components, parameter counts, dtypes and sizes of a folder")
    i.add_argument("path")


def run(args: argparse.Namespace) -> int:
    """Run a command parsed by add_parser's parsers; the exit status."""
    if args.command == "convert":
        from skyreels_jax.conversion.convert_cmd import convert, parse_components

        out = convert(args.src, args.dst, args.dtype, parse_components(args.components), args.flush_mb << 20)
        print(f"converted: {out}")
        return 0
    if args.command == "verify":
        from skyreels_jax.conversion.verify_cmd import verify

        problems = verify(args.dst, args.against, args.seed)
        print("verify: OK" if not problems else f"verify: FAILED, {len(problems)} problem(s)")
        return 0 if not problems else 1
    from skyreels_jax.conversion.inspect_cmd import inspect
    from skyreels_jax.hub import EMBEDDED

    return inspect(str(EMBEDDED.get(args.path, args.path)))  # "toy": the embedded model's folder
