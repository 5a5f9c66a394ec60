"""Video files and the no-download demo command."""
import numpy as np
import pytest

from skyreels_jax.cli import main
from skyreels_jax.media import read_video, write_video
from skyreels_jax.schedulers import flow_sigmas as shifted_sigmas


def test_video_round_trip(tmp_path):
    frames = np.zeros((6, 32, 48, 3), np.uint8)
    frames[:, :, :24] = 200
    path = write_video(tmp_path / "sub" / "v.mp4", frames, fps=8)
    back = read_video(path)
    assert back.shape == frames.shape
    assert np.abs(back.astype(int) - frames).mean() < 4
    assert [p.name for p in path.parent.iterdir()] == ["v.mp4"]  # no temporary file left behind


def test_video_rejects_bad_frames(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "v.mp4", np.zeros((2, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="even height and width"):
        write_video(tmp_path / "v.mp4", np.zeros((2, 33, 32, 3), np.uint8))
    assert not list(tmp_path.iterdir())


def test_reference_sigmas():
    """shift 8, 30 steps: the reference's integer timesteps 999, 995, ..., 216, as the original."""
    t = (shifted_sigmas(30, 8.0)[:-1] * 1000).astype(np.int64)
    assert t[:4].tolist() == [999, 995, 991, 986] and t[-3:].tolist() == [470, 363, 216]


def test_demo_command_writes_a_video(tmp_path, capsys):
    out = tmp_path / "demo.mp4"
    assert main(["demo", "--out", str(out), "--steps", "2"]) == 0
    assert "toy model" in capsys.readouterr().out
    assert read_video(out).shape == (17, 256, 256, 3)


def test_demo_fast_uses_the_four_step_model(tmp_path, capsys):
    out = tmp_path / "fast.mp4"
    assert main(["demo", "--fast", "--out", str(out)]) == 0
    assert "with the 4-step model" in capsys.readouterr().out
    assert read_video(out).shape == (17, 256, 256, 3)
