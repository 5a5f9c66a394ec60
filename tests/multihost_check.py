"""One process of a 2-process batch generation on CPU (see test_parallel_multihost.py).

usage: python -m tests.multihost_check PROCESS_ID PORT MODEL PROMPTS OUTDIR [MORE GENERATE FLAGS]
"""
import sys

import jax

jax.config.update("jax_num_cpu_devices", 2)
jax.config.update("jax_cpu_collectives_implementation", "gloo")

from skyreels_jax.cli import main  # noqa: E402

if __name__ == "__main__":
    pid, port, model, prompts, outdir, *more = sys.argv[1:]
    sys.exit(main(["generate", "--model", model, "--prompts", prompts, "--output-dir", outdir,
                   "--num-frames", "5", "--height", "32", "--width", "32", "--steps", "2", "--no-cache",
                   "--distributed", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                   "--process-id", pid, *more]))
