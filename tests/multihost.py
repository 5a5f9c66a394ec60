"""Running N local processes of a multi-host check (jax.distributed over 127.0.0.1)."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_processes(module: str, *args, n: int = 2, timeout: int = 400) -> list[str]:
    """`python -m module PROCESS_ID PORT *args` for each of n processes; their outputs, after all exit 0."""
    import portpicker

    port = portpicker.pick_unused_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", module, str(i), str(port), *map(str, args)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(n)]
    logs = []
    for p in procs:
        try:
            logs.append(p.communicate(timeout=timeout)[0])
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0] * n, "\n".join(log[-3000:] for log in logs)
    return logs
