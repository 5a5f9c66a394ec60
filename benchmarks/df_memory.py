"""Peak memory of long diffusion-forcing generation against its length (it should stay flat in length).

    .venv/bin/python -m benchmarks.df_memory [--size 256] [--frames 33 129]

A tiny random DF model (tests/pipeline_fixtures.py) generates each length in its own process
(base window 17 frames, overlap 5, latent overlap mode). The peak resident memory is measured
from after loading (VmHWM reset through /proc/self/clear_refs) to the end of the call, so it
holds what generation adds: windows, history latents, the decode and the frames themselves.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import reset_peak, vm_mib


def child(folder: str, frames: int, size: int) -> None:
    os.environ.setdefault("SKYREELS_JAX_CACHE", tempfile.mkdtemp())
    from skyreels_jax.pipelines import load_pipeline

    pipe = load_pipeline(folder)
    kw = dict(height=size, width=size, num_steps=2, base_num_frames=17, overlap_history=5, progress=False)
    pipe("warm up", num_frames=17, **kw)  # compile outside the measurement
    reset_peak()
    base = vm_mib("VmRSS")
    video = pipe("a red circle", num_frames=frames, **kw)
    print(f"{frames} {base:.0f} {vm_mib('VmHWM'):.0f} {video.nbytes / 2**20:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=3, metavar=("FOLDER", "FRAMES", "SIZE"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, nargs="+", default=[33, 129])
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]), int(args.child[2]))
    from tests.pipeline_fixtures import build_df_pipeline

    folder = build_df_pipeline(Path(tempfile.mkdtemp()))[0]
    print(f"tiny DF model, {args.size}×{args.size}, base 17 frames, overlap 5, latent overlap mode")
    print("| frames | RSS after load (MiB) | peak during the call (MiB) | added (MiB) | uint8 frames (MiB) |")
    print("|---|---|---|---|---|")
    for frames in args.frames:
        out = subprocess.run([sys.executable, "-m", "benchmarks.df_memory", "--child", str(folder), str(frames),
                              str(args.size)], capture_output=True, text=True, check=True)
        n, base, peak, video = out.stdout.split()
        print(f"| {n} | {base} | {peak} | {float(peak) - float(base):.0f} | {video} |")


if __name__ == "__main__":
    main()
