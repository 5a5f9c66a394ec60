"""`skyreels-jax train --config FILE [--set key=value ...] [--workdir DIR]`.

Runs (or resumes, when the workdir holds checkpoints) the training a config file describes.
Values given with --set are Python literals (`--set optim.lr=1e-4 --set model.remat=True`);
anything that is not a literal is taken as a string.
"""
from __future__ import annotations

import ast

from skyreels_jax.parallel import distributed


def _parse_set(items) -> dict:
    out = {}
    for item in items or ():
        if "=" not in item:
            raise SystemExit(f"--set needs key=value, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip()] = value
    return out


def add_parser(subparsers):
    p = subparsers.add_parser("train", help="train or fine-tune a DiT (flow matching, diffusion forcing, flow-DPO)",
                              description=__doc__)
    p.add_argument("--config", required=True, help="a config file with get_config(), e.g. configs/train/tiny_flow.py")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--workdir", help="where checkpoints and metrics go (overrides the config's workdir)")
    p.add_argument("--stop-after", type=int, help="stop after this step (the run resumes from its last checkpoint)")
    distributed.add_arguments(p, "multi-host (every process runs this command; the workdir must be shared)")
    return p


def run(args) -> int:
    import jax

    from skyreels_jax.training.loop import load_config, train

    overrides = _parse_set(args.set)
    if args.workdir:
        overrides["workdir"] = args.workdir
    cfg = load_config(args.config, overrides)
    if args.distributed:
        distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    out = train(cfg, stop_after=args.stop_after)
    if args.distributed:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("skyreels-jax train done")
    step = int(jax.device_get(out["state"]["step"]))
    print(f"process {jax.process_index()} done: step {step}, checkpoints in {cfg.workdir}/checkpoints")
    return 0
