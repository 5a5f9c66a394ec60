"""`skyreels-jax train --config FILE [--set key=value ...] [--workdir DIR]`.

Runs (or resumes, when the workdir holds checkpoints) the training a config file describes.
Values given with --set are read as the field's type (`--set optim.lr=1e-4 --set model.remat=True
--set data.dir=data/latents`); an unknown key or a value of the wrong type is refused.
"""
from __future__ import annotations

from skyreels_jax import cli_types, config_files
from skyreels_jax.parallel import distributed


def add_parser(subparsers):
    p = subparsers.add_parser("train", help="train or fine-tune a DiT (flow matching, diffusion forcing, flow-DPO)",
                              description=__doc__)
    config_files.add_arguments(p, "configs/train/tiny_flow.py", required=True)
    p.add_argument("--workdir", help="where checkpoints and metrics go (overrides the config's workdir)")
    p.add_argument("--stop-after", type=cli_types.count(),
                   help="stop after this step (the run resumes from its last checkpoint)")
    distributed.add_arguments(p, "multi-host (every process runs this command; the workdir must be shared)")
    return p


def run(args) -> int:
    import jax

    from skyreels_jax.training.loop import train

    distributed.refuse_without_distributed(args)
    cfg = config_files.load_config(args.config, args.set + ([f"workdir={args.workdir}"] if args.workdir else []))
    if args.distributed:
        distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    out = train(cfg, stop_after=args.stop_after)
    if args.distributed:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("skyreels-jax train done")
    step = int(jax.device_get(out["state"]["step"]))
    print(f"process {jax.process_index()} done: step {step}, checkpoints in {cfg.workdir}/checkpoints")
    return 0
