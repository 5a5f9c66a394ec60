"""One process of a 2-process training run on CPU (see test_train_multihost.py).

usage: python -m tests.train_multihost_check PROCESS_ID PORT WORKDIR [train options...]
"""
import sys

import jax

jax.config.update("jax_num_cpu_devices", 2)
jax.config.update("jax_cpu_collectives_implementation", "gloo")

from skyreels_jax.cli import main  # noqa: E402

if __name__ == "__main__":
    pid, port, workdir, *rest = sys.argv[1:]
    sys.exit(main(["train", "--workdir", workdir, "--distributed", "--coordinator", f"127.0.0.1:{port}",
                   "--num-processes", "2", "--process-id", pid, *rest]))
