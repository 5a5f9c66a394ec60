"""Two `generate` batch processes on one prompt file and one output folder, against one process alone.

    .venv/bin/python -m benchmarks.parallel_batch [--prompts 12] [--steps 10] [--repeats 2] [--pin]

Each video is claimed before it is made (skyreels_jax/output_claims.py), so the two processes share the
work without talking to each other: every video is made once, and the batch takes about half the time of one
process (plus one start-up: importing jax and loading the model). The embedded toy model makes the videos at
its own size (17 frames of 32×32); a first run fills the compilation cache so that no measured run compiles
more than another. Prints one line per run and checks that every video was written exactly once.

XLA already spreads one process over every core of a CPU, so on one small machine a second process only
competes with the first. --pin gives each process a core of its own (taskset, and one XLA thread), as two hosts
or two accelerators would have; the single process then gets one core too.
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLOURS, SHAPES, MOVES = ("red", "blue", "green", "yellow"), ("circle", "square", "triangle"), ("left", "right", "up")


def prompts(n: int) -> list[str]:
    """n distinct prompts; past the 36 colour, shape and motion combinations, the background's shade changes."""
    combos = itertools.product(range(n), MOVES, SHAPES, COLOURS)
    return [f"a {c} {s} moves {m} on a {'black' if take == 0 else f'grey {take}'} background"
            for take, m, s, c in itertools.islice(combos, n)]


def batch(prompt_file: Path, outdir: Path, steps: int, processes: int, env: dict, logs: Path,
          pin: bool = False) -> tuple[float, list, list]:
    """Wall seconds for `processes` batch processes started together; the videos each wrote, and the seconds
    each video took (as its process logged them)."""
    start = time.perf_counter()
    command = [sys.executable, "-m", "skyreels_jax.cli", "generate", "--model", "toy", "--prompts", str(prompt_file),
               "--output-dir", str(outdir), "--steps", str(steps)]
    runs = [subprocess.Popen((["taskset", "-c", str(i % os.cpu_count())] if pin else []) + command, env=env,
                             stdout=open(logs / f"{outdir.name}-{i}.log", "w"), stderr=subprocess.DEVNULL)
            for i in range(processes)]
    codes = [r.wait() for r in runs]
    seconds = time.perf_counter() - start
    if any(codes):
        raise SystemExit(f"a run failed ({codes}); see {logs}")
    lines = [[line for line in (logs / f"{outdir.name}-{i}.log").read_text().splitlines() if line.startswith("wrote ")]
             for i in range(processes)]
    wrote = [[line.split()[1] for line in process] for process in lines]
    per_video = [[float(line.rsplit(", ", 1)[1].split()[0]) for line in process] for process in lines]
    return seconds, wrote, per_video


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=12)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--pin", action="store_true", help="one core and one XLA thread per process")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="parallel_batch_"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu",
           "SKYREELS_JAX_CACHE_DIR": str(work / "xla-cache")}
    if args.pin:
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                            "intra_op_parallelism_threads=1").strip()
    prompt_file = work / "prompts.txt"
    prompt_file.write_text("\n".join(prompts(args.prompts)) + "\n")
    (work / "warm.txt").write_text(prompts(1)[0] + "\n")
    batch(work / "warm.txt", work / "warm", args.steps, 1, env, work, args.pin)  # fills the compilation cache
    print(f"{args.prompts} videos (toy model, 17 frames of 32x32, {args.steps} steps), {os.cpu_count()} CPUs"
          f"{', one core per process' if args.pin else ''}; load average before: {os.getloadavg()[0]:.1f}")
    for repeat in range(args.repeats):
        for processes in (1, 2):
            outdir = work / f"r{repeat}-p{processes}"
            seconds, wrote, per_video = batch(prompt_file, outdir, args.steps, processes, env, work, args.pin)
            made = [v for w in wrote for v in w]
            assert len(made) == len(set(made)) == args.prompts, f"videos written {made}"
            assert len(list(outdir.glob("*.mp4"))) == len(list(outdir.glob("*.mp4.json"))) == args.prompts
            print(f"repeat {repeat}: {processes} process(es): {seconds:6.1f} s, videos per process "
                  f"{[len(w) for w in wrote]}, each made once; first video {[t[0] for t in per_video]} s, later "
                  f"ones {[statistics.median(t[1:]) for t in per_video]} s (median); load average "
                  f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
