"""Diffusion forcing beyond parity: images with causal blocks, prompt travel, overlap modes, bad input,
and a long run killed with SIGKILL that resumes to the identical video."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from skyreels_jax.media import read_video
from skyreels_jax.pipelines import load_pipeline
from tests.pipeline_fixtures import build_df_pipeline

H = W = 32
FAST = dict(height=H, width=W, num_steps=2, guidance_scale=5.0, progress=False)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build_df_pipeline(tmp_path_factory.mktemp("df"))[0]


@pytest.fixture(scope="module")
def pipe(folder, tmp_path_factory):
    os.environ["SKYREELS_JAX_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    return load_pipeline(folder)


def rng_image(seed):
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


@pytest.mark.parametrize("cbs,ar_step", [(1, 0), (2, 1)])
def test_start_image_is_kept_with_causal_blocks(pipe, cbs, ar_step):
    """Latent frame 0 is the clean image, so decoded frame 0 does not depend on the noise (the
    reference drops the image when causal_block_size > 1)."""
    kw = dict(FAST, image=rng_image(0), num_frames=9, base_num_frames=9, causal_block_size=cbs, ar_step=ar_step)
    a, b = pipe("a cat", seed=0, **kw), pipe("a cat", seed=1, **kw)
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[1:], b[1:])


def test_end_image_is_used_and_removed(pipe):
    kw = dict(FAST, image=rng_image(0), num_frames=9, base_num_frames=9, causal_block_size=2, ar_step=1)
    a = pipe("a cat", end_image=rng_image(1), **kw)
    b = pipe("a cat", end_image=rng_image(2), **kw)
    assert a.shape == (9, H, W, 3) and not np.array_equal(a, b)


LONG = dict(FAST, num_frames=25, base_num_frames=17, overlap_history=5)  # windows of 5 and 4 latents


def test_prompt_travel(pipe):
    single = pipe("a red circle", **LONG)
    travel = pipe(["a red circle", "a blue square"], **LONG)
    first_window = 4 * (5 - 1) + 1  # frames decoded from window 0 alone (the VAE is causal)
    assert np.array_equal(single[:first_window], travel[:first_window])
    assert not np.array_equal(single[first_window:], travel[first_window:])
    with pytest.raises(ValueError, match="one prompt per window: 2 windows here, 3 prompts"):
        pipe(["a", "b", "c"], **LONG)


def test_pixel_overlap_mode(pipe):
    latent, pixel = pipe("a dog", **LONG), pipe("a dog", overlap_mode="pixel", **LONG)
    assert latent.shape == pixel.shape == (25, H, W, 3)
    assert np.array_equal(latent[:17], pixel[:17]) and not np.array_equal(latent[17:], pixel[17:])


@pytest.mark.parametrize("kw,message", [
    (dict(num_frames=25, base_num_frames=17, overlap_history=17), "overlap_history .17. must be smaller"),
    (dict(num_frames=13, base_num_frames=13, causal_block_size=3), "not divisible by causal_block_size 3"),
    (dict(num_frames=17, base_num_frames=17, overlap_history=5, video=np.zeros((3, H, W, 3), np.uint8)),
     "fewer than overlap_history"),
    (dict(num_frames=13, ar_step=5), "too few steps for this ar_step"),
    (dict(num_frames=25, base_num_frames=17), "needs overlap_history"),
    (dict(num_frames=9, addnoise_condition=-1), "addnoise_condition must be in"),
])
def test_bad_settings(pipe, kw, message):
    with pytest.raises(ValueError, match=message):
        pipe("a cat", **{**FAST, **kw})


def test_killed_run_resumes_to_the_same_video(folder, tmp_path):
    """SIGKILL a 3-window generation after its first window is saved, rerun it, compare."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "SKYREELS_JAX_CACHE": str(tmp_path / "cache")}

    def command(out, work):
        return [sys.executable, "-m", "skyreels_jax.cli", "generate", "--model", str(folder), "--prompt", "a fox",
                "--num-frames", "41", "--base-num-frames", "17", "--overlap-history", "5", "--height", str(H),
                "--width", str(W), "--steps", "2", "--output", str(out), "--work-dir", str(work)]

    work = tmp_path / "work"
    child = subprocess.Popen(command(tmp_path / "resumed.mp4", work), env=env, cwd=root,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list(work.glob("*/window_0000.npy")):
        assert child.poll() is None and time.time() < deadline, "the run ended before its first window was saved"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not (tmp_path / "resumed.mp4").exists()
    saved = len(list(work.glob("*/window_*.npy")))
    assert 1 <= saved < 3
    subprocess.run(command(tmp_path / "resumed.mp4", work), env=env, cwd=root, check=True, capture_output=True)
    subprocess.run(command(tmp_path / "straight.mp4", tmp_path / "work2"), env=env, cwd=root, check=True,
                   capture_output=True)
    resumed, straight = read_video(tmp_path / "resumed.mp4"), read_video(tmp_path / "straight.mp4")
    assert resumed.shape == (41, H, W, 3) and np.array_equal(resumed, straight)
