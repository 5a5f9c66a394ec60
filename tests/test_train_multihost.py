"""Multi-host training: two local processes (jax.distributed over 127.0.0.1, gloo, 2 CPU devices each)
train with the state and batch sharded over all 4 devices, checkpoint, get killed, resume, and give
the loss curve of one process on one device."""
import json
from pathlib import Path

import numpy as np
import pytest

from skyreels_jax.training.loop import load_config, train
from tests.multihost import run_processes

CONFIG = Path(__file__).parents[1] / "configs" / "train" / "tiny_flow.py"
SETS = {"total_steps": 6, "log_every": 1, "checkpoint.every": 3, "optim.ema_decay": 0.9, "tensorboard": False}


def _curve(workdir):
    rows = [json.loads(x) for x in (Path(workdir) / "metrics.jsonl").read_text().splitlines()]
    return np.array([[r["step"], r["loss"], r["grad_norm"]] for r in rows])


@pytest.mark.slow   # two runs of two processes: about 2 minutes of CPU
def test_two_processes_train_like_one(tmp_path):
    train(load_config(CONFIG, {**SETS, "workdir": str(tmp_path / "one")}), verbose=False)
    args = ["--config", CONFIG, *[f"--set={k}={v}" for k, v in SETS.items()]]
    logs = run_processes("tests.train_multihost_check", tmp_path / "two", *args, "--stop-after", "4")
    assert "loss=" in logs[0] and "loss=" not in logs[1]           # only process 0 reports
    logs = run_processes("tests.train_multihost_check", tmp_path / "two", *args)
    assert "resumed from step 3" in logs[0]
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir() if p.name.isdigit()) == ["3", "6"]
    one, two = _curve(tmp_path / "one"), _curve(tmp_path / "two")
    print(f"losses, one process: {one[:, 1]}\n       two processes: {two[:, 1]}")
    np.testing.assert_array_equal(two[:, 0], [1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(two[:, 1:], one[:, 1:], rtol=1e-5)
