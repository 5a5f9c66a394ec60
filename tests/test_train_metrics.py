"""Training metrics: JSONL (trimmed on resume), one writer per run, TensorBoard when installed."""
import json
import time

import pytest

from skyreels_jax.training.metrics import MetricsLog


def _rows(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_jsonl_is_trimmed_on_resume_and_only_one_process_writes(tmp_path, capsys):
    log = MetricsLog(tmp_path, tensorboard=False)
    for step in (1, 2, 3, 4):
        log.write(step, {"loss": 1.0 / step, "lr": 0.1})
    log.close()
    assert "step=4" in capsys.readouterr().out
    log = MetricsLog(tmp_path, start_step=2, verbose=False, tensorboard=False)   # resumed from step 2
    log.write(3, {"loss": 0.5})
    log.close()
    assert [(r["step"], r["loss"]) for r in _rows(tmp_path / "metrics.jsonl")] == [(1, 1.0), (2, 0.5), (3, 0.5)]
    other = MetricsLog(tmp_path / "other", enabled=False)                          # not process 0
    other.write(1, {"loss": 1.0})
    other.close()
    assert not (tmp_path / "other").exists() and capsys.readouterr().out == ""


def test_tensorboard_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log = MetricsLog(tmp_path, verbose=False)
    for step in (1, 2, 3):
        log.write(step, {"loss": 1.0 / step, "grad_norm": 2.0})
    log.close()
    # TensorBoard reads event files in name order: creation second, then a per-process counter
    # compared as a string (…9 > …10). A resume is a new process in practice; here, a new second.
    time.sleep(1.1)
    log = MetricsLog(tmp_path, start_step=1, verbose=False)                       # resumed: 2 and 3 are redone
    log.write(2, {"loss": 0.25, "grad_norm": 2.0})
    log.close()
    acc = EventAccumulator(str(log.tensorboard_dir))
    acc.Reload()
    assert {"loss", "grad_norm"} <= set(acc.Tags()["scalars"])
    assert [(e.step, e.value) for e in acc.Scalars("loss")] == [(1, 1.0), (2, 0.25)]
