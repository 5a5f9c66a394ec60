"""generate killed with SIGKILL and run again: one video, a batch, and two batch processes sharing a folder.
Nothing is lost (every video ends up made), nothing duplicated (each written once, by one process), nothing
left behind (no claim, temporary file or work folder)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.toy_runs import PROMPT

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--steps", "1", "--num-frames", "5"]
PROMPTS = [PROMPT, "a blue square moves up on a black background", "a green triangle moves left on a black background",
           "a yellow circle moves down on a black background"]


@pytest.fixture
def env(tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "xla-cache"  # later runs skip compiling
    return {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "SKYREELS_JAX_CACHE_DIR": str(cache)}


def start(env, log: Path, *argv) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "skyreels_jax.cli", "generate", "--model", "toy", *SMALL,
                             *map(str, argv)], env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)


def wait_for(condition, process, timeout=300):
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def written(*logs: Path) -> list[str]:
    return [line.split()[1] for log in logs for line in log.read_text().splitlines() if line.startswith("wrote ")]


def test_single_video_killed_then_rerun(tmp_path, env):
    out = tmp_path / "out" / "v.mp4"
    first = start(env, tmp_path / "1.log", "--prompt", PROMPT, "--output", out)
    wait_for(lambda: (out.parent / ".v.mp4.claim").exists(), first)  # past the checks, loading or sampling
    time.sleep(1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    rerun = start(env, tmp_path / "2.log", "--prompt", PROMPT, "--output", out)
    assert rerun.wait(300) == 0, (tmp_path / "2.log").read_text()
    assert written(tmp_path / "1.log", tmp_path / "2.log") == [str(out)]
    assert sorted(p.name for p in out.parent.iterdir()) == ["v.mp4", "v.mp4.json"]


def test_parallel_batches_killed_then_rerun(tmp_path, env):
    """Two processes on one prompt file and folder; one is killed after its first video; the other finishes;
    a rerun (a plain batch) makes what is left."""
    prompts, outdir = tmp_path / "prompts.txt", tmp_path / "videos"
    prompts.write_text("\n".join(PROMPTS) + "\n")
    logs = [tmp_path / f"{name}.log" for name in ("a", "b", "rerun")]
    a, b = (start(env, log, "--prompts", prompts, "--output-dir", outdir) for log in logs[:2])
    wait_for(lambda: written(logs[0]), a)
    a.send_signal(signal.SIGKILL)
    a.wait()
    assert b.wait(300) == 0, logs[1].read_text()
    rerun = start(env, logs[2], "--prompts", prompts, "--output-dir", outdir)
    assert rerun.wait(300) == 0, logs[2].read_text()
    made = written(*logs)
    assert len(made) == len(set(made)) == len(PROMPTS), made  # each video written once, by one process
    names = sorted(p.name for p in outdir.iterdir())
    assert len(names) == 2 * len(PROMPTS) and all(n.endswith((".mp4", ".mp4.json")) for n in names), names
    assert f"skipping {len(set(written(*logs[:2])))} video(s) already written" in logs[2].read_text()
