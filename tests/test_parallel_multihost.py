"""Multi-host batch generation: two local processes (jax.distributed over 127.0.0.1, gloo) share a
prompt file, write every video exactly once, and a rerun makes only what is missing, also as one
group of two processes running one model together."""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from skyreels_jax.media import read_video
from skyreels_jax.parallel.batch import group_devices, group_share
from skyreels_jax.parallel.distributed import initialize
from tests.multihost import run_processes


def test_group_share_deals_round_robin():
    jobs = list(range(7))
    assert [group_share(jobs, i, 3)[0] for i in range(3)] == [[0, 3, 6], [1, 4], [2, 5]]
    assert group_share(jobs, 3, 4, processes_per_group=2) == ([1, 3, 5], False)   # group 1, not its writer
    assert group_share(jobs, 2, 4, processes_per_group=2) == ([1, 3, 5], True)
    with pytest.raises(ValueError, match="do not split into groups of 3"):
        group_share(jobs, 0, 4, processes_per_group=3)


def test_group_devices():
    devices = [SimpleNamespace(id=i, process_index=i // 2) for i in range(8)]
    assert [d.id for d in group_devices(devices, 1, processes_per_group=2)] == [4, 5, 6, 7]
    assert [d.id for d in group_devices(devices, 2)] == [4, 5]


def test_initialize_errors(monkeypatch):
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="process id 2 is not in 0..1"):
        initialize("127.0.0.1:1234", 2, 2)
    with pytest.raises(ValueError, match="needs the coordinator address"):
        initialize("127.0.0.1:1234", None, 0)
    monkeypatch.setenv("JAX_PROCESS_ID", "0")
    with pytest.raises(ValueError, match="--process-id 1 disagrees with JAX_PROCESS_ID=0"):
        initialize("127.0.0.1:1234", 2, 1)
    monkeypatch.setenv("JAX_NUM_PROCESSES", "two")
    with pytest.raises(ValueError, match="must be an integer"):
        initialize("127.0.0.1:1234", None, 0)


def _run_pair(model, prompts, outdir, *more):
    return run_processes("tests.multihost_check", model, prompts, outdir, *more)


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
    assert "process 0 of 2 (group 0): 2 of 3" in logs[0] and "process 1 of 2 (group 1): 1 of 3" in logs[1]

    # a run killed after the first video: the rerun makes only the missing one. It runs as one group of
    # both processes (one model over their 4 devices, fsdp 2 x tensor 2), and process 0 writes.
    lost = read_video(outdir / videos[2])
    (outdir / videos[2]).unlink()
    kept = {v: (outdir / v).stat().st_mtime_ns for v in videos[:2]}
    logs = _run_pair(model, prompts, outdir, "--processes-per-group", "2", "--mesh", "1,2,1,2")
    assert sorted(p.name for p in outdir.glob("*.mp4")) == videos
    assert kept == {v: (outdir / v).stat().st_mtime_ns for v in videos[:2]}
    assert [log.count("wrote ") for log in logs] == [1, 0]
    assert "process 1 of 2 (group 0): 3 of 3" in logs[1]
    again = read_video(outdir / videos[2]).astype(int)   # the video one process made (up to libx264: its
    assert np.abs(again - lost).mean() < 2                # files of equal frames differ a little; another is ~20)
    meta = json.loads((outdir / (videos[2] + ".json")).read_text())
    assert meta["mesh"] == dict(data=1, fsdp=2, context=1, tensor=2)
