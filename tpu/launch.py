"""Create a TPU VM or pod slice, install skyreels-jax, convert a checkpoint to a bucket, and run batch
generation on every worker, with gcloud. `--dry-run` prints the commands instead of running them.

    python tpu/launch.py --name sky --zone us-east5-a --accelerator v5p-32 --bucket gs://my-bucket \\
        --model Skywork/SkyReels-V2-T2V-14B-540P --prompts prompts.txt all --dry-run

Steps: create, install, convert, generate, delete; `all` runs the first four. Every worker runs the
same generate command with --distributed (jax finds the pod's coordinator by itself); each worker
takes every N-th prompt, writes to local disk, and the outputs are synced with the bucket before
(so a rerun skips finished videos) and after.
"""
from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

STEPS = ("create", "install", "convert", "generate", "delete")
REMOTE_DIR = "skyreels-jax"
RUNTIMES = {"v6e": "v2-alpha-tpuv6e", "v5p": "v2-alpha-tpuv5", "v5litepod": "v2-alpha-tpuv5-lite"}


def _tpu(args, *rest) -> list[str]:
    return ["gcloud", "compute", "tpus", "tpu-vm", *rest, f"--zone={args.zone}", f"--project={args.project}"
            ] if args.project else ["gcloud", "compute", "tpus", "tpu-vm", *rest, f"--zone={args.zone}"]


def _ssh(args, command: str, worker: str = "all") -> list[str]:
    return _tpu(args, "ssh", args.name, f"--worker={worker}", f"--command={command}")


def commands(args, step: str) -> list[list[str]]:
    """The gcloud command lines of one step."""
    converted = f"{args.bucket.rstrip('/')}/{args.checkpoint_name or Path(args.model).name}"
    outputs = f"{args.bucket.rstrip('/')}/outputs"
    if step == "create":
        runtime = args.runtime or next((v for k, v in RUNTIMES.items() if args.accelerator.startswith(k)),
                                       "tpu-ubuntu2204-base")
        return [_tpu(args, "create", args.name, f"--accelerator-type={args.accelerator}",
                     f"--version={runtime}", *(["--spot"] if args.spot else []))]
    if step == "install":
        tarball = f"/tmp/{REMOTE_DIR}.tar.gz"  # the committed tree only, no virtualenv or outputs
        return [["git", "-C", args.source, "archive", "--format=tar.gz", f"--prefix={REMOTE_DIR}/", "-o", tarball,
                 "HEAD"],
                _tpu(args, "scp", tarball, f"{args.name}:{REMOTE_DIR}.tar.gz", "--worker=all"),
                _ssh(args, f"tar xzf {REMOTE_DIR}.tar.gz && pip install -U 'jax[tpu]' && "
                           f"pip install -e \"$HOME/{REMOTE_DIR}[convert]\"")]
    if step == "convert":  # once, on worker 0: the converted Orbax checkpoint is read by every worker
        return [_ssh(args, f"python -m convert convert {shlex.quote(args.model)} "
                           f"{converted} --dtype bfloat16", worker="0")]
    if step == "generate":
        if not args.prompts:
            raise SystemExit("generate needs --prompts FILE")
        generate = shlex.join(["python", "-m", "skyreels_jax.cli", "generate", "--distributed", "--model", converted,
                               "--prompts", Path(args.prompts).name, "--output-dir", "outputs",
                               *shlex.split(args.extra)])
        return [_tpu(args, "scp", args.prompts, f"{args.name}:{Path(args.prompts).name}", "--worker=all"),
                _ssh(args, f"mkdir -p outputs && gcloud storage rsync {outputs} outputs; "
                           f"{generate}; gcloud storage rsync outputs {outputs}")]
    if step == "delete":
        return [_tpu(args, "delete", args.name, "--quiet")]
    raise ValueError(step)


def parse(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("step", choices=(*STEPS, "all"))
    p.add_argument("--name", required=True, help="TPU VM name")
    p.add_argument("--zone", required=True)
    p.add_argument("--project")
    p.add_argument("--accelerator", default="v5p-8", help="e.g. v5p-8, v5p-32, v6e-8, v6e-16")
    p.add_argument("--runtime", help="TPU software version (default: from the accelerator, see RUNTIMES)")
    p.add_argument("--spot", action="store_true")
    p.add_argument("--bucket", default="gs://CHANGE-ME", help="gs://bucket for converted weights and outputs")
    p.add_argument("--model", default="Skywork/SkyReels-V2-T2V-14B-540P", help="Hub id or folder to convert")
    p.add_argument("--checkpoint-name", help="folder name in the bucket (default: the model's last path part)")
    p.add_argument("--source", default=str(Path(__file__).resolve().parent.parent), help="this repository")
    p.add_argument("--prompts", help="prompt file, one per line")
    p.add_argument("--extra", default="", help="more generate flags, e.g. '--resolution 540P --num-frames 97'")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    steps = STEPS[:4] if args.step == "all" else (args.step,)
    for step in steps:
        for cmd in commands(args, step):
            print(shlex.join(cmd), flush=True)
            if not args.dry_run:
                subprocess.run(cmd, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
