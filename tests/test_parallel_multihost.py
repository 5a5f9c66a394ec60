"""Multi-host batch generation: two local processes (jax.distributed over 127.0.0.1, gloo) share a
prompt file, write every video exactly once, and a rerun makes only what is missing."""
from pathlib import Path

import pytest

from skyreels_jax.parallel.batch import group_share
from skyreels_jax.parallel.distributed import initialize
from tests.multihost import run_processes


def test_group_share_deals_round_robin():
    jobs = list(range(7))
    assert [group_share(jobs, i, 3)[0] for i in range(3)] == [[0, 3, 6], [1, 4], [2, 5]]
    assert group_share(jobs, 3, 4, processes_per_group=2) == ([1, 3, 5], False)   # group 1, not its writer
    assert group_share(jobs, 2, 4, processes_per_group=2) == ([1, 3, 5], True)
    with pytest.raises(ValueError, match="do not split into groups of 3"):
        group_share(jobs, 0, 4, processes_per_group=3)


def test_initialize_errors(monkeypatch):
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="process id 2 is not in 0..1"):
        initialize("127.0.0.1:1234", 2, 2)
    with pytest.raises(ValueError, match="needs the coordinator address"):
        initialize("127.0.0.1:1234", None, 0)
    monkeypatch.setenv("JAX_NUM_PROCESSES", "two")
    with pytest.raises(ValueError, match="must be an integer"):
        initialize("127.0.0.1:1234", None, 0)


def _run_pair(model, prompts, outdir):
    return run_processes("tests.multihost_check", model, prompts, outdir)


def test_two_processes_write_every_video_once(tmp_path):
    from tests.pipeline_fixtures import build_pipeline

    model, _ = build_pipeline("t2v", tmp_path / "pipe")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle\na blue square\n\na green line\n")
    outdir = tmp_path / "out"
    logs = _run_pair(model, prompts, outdir)
    videos = sorted(p.name for p in outdir.glob("*.mp4"))
    assert videos == ["00000-a-red-circle.mp4", "00001-a-blue-square.mp4", "00003-a-green-line.mp4"]
    wrote = [line.split()[1] for log in logs for line in log.splitlines() if line.startswith("wrote ")]
    assert sorted(Path(w).name for w in wrote) == videos                  # each written once, by one process
    assert "process 0 of 2: 2 of 3" in logs[0] and "process 1 of 2: 1 of 3" in logs[1]

    # a run killed after the first video: the rerun makes only the missing one
    (outdir / videos[2]).unlink()
    kept = {v: (outdir / v).stat().st_mtime_ns for v in videos[:2]}
    logs = _run_pair(model, prompts, outdir)
    assert sorted(p.name for p in outdir.glob("*.mp4")) == videos
    assert kept == {v: (outdir / v).stat().st_mtime_ns for v in videos[:2]}
    assert sum(log.count("wrote ") for log in logs) == 1
