"""The generate command and the pipeline's behaviour: determinism, bad inputs, batch resume, caching."""
import json

import av
import numpy as np
import pytest
from PIL import Image

from skyreels_jax.cli import main
from skyreels_jax.media import read_video
from skyreels_jax.pipelines import load_pipeline
from tests.pipeline_fixtures import build_pipeline

SMALL = ["--num-frames", "5", "--height", "32", "--width", "32", "--steps", "2"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipes")
    return {mode: build_pipeline(mode, root / mode)[0] for mode in ("t2v", "i2v")}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SKYREELS_JAX_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def generate(*argv):
    return main(["generate", *map(str, argv)])


def test_same_seed_same_video(folders):
    pipe = load_pipeline(folders["t2v"])
    kw = dict(num_frames=5, height=32, width=32, num_steps=2, progress=False)
    a, b = pipe("a cat", seed=3, **kw), pipe("a cat", seed=3, **kw)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, pipe("a cat", seed=4, **kw))


def test_generate_writes_video_and_sidecar(folders, tmp_path):
    out = tmp_path / "v.mp4"
    assert generate("--model", folders["t2v"], "--prompt", "a dog runs", *SMALL, "--seed", 7, "--fps", 12,
                    "--output", out) == 0
    assert read_video(out).shape == (5, 32, 32, 3)
    with av.open(str(out)) as container:
        assert container.streams.video[0].average_rate == 12
    meta = json.loads((tmp_path / "v.mp4.json").read_text())
    assert meta["prompt"] == "a dog runs" and meta["seed"] == 7 and meta["num_steps"] == 2 and meta["fps"] == 12
    assert meta["resolved_defaults"]["shift"] == 8.0


@pytest.mark.parametrize("mode,extra,message", [
    ("t2v", ["--num-frames", "10"], "num_frames must be 4k+1"),
    ("t2v", ["--height", "40"], "height must be a positive multiple of 16"),
    ("i2v", [], "needs an image"),
    ("t2v", ["--image", "IMAGE"], "text-to-video model takes no image"),
    ("i2v", ["--image", "NOT_AN_IMAGE"], "cannot read image"),
    ("t2v", ["--work-dir", "WORK"], "--work-dir keeps a diffusion-forcing model's finished windows; this is a text-"),
    ("t2v", ["--teacache", "0.1", "--guidance-interval", "0.1,0.9"], "teacache needs the same forwards at every step"),
])
def test_bad_inputs_give_one_line_and_no_file(folders, tmp_path, capsys, mode, extra, message):
    image = tmp_path / "im.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    (tmp_path / "bad.png").write_text("not an image")
    extra = [{"IMAGE": image, "NOT_AN_IMAGE": tmp_path / "bad.png", "WORK": tmp_path / "work"}.get(x, x) for x in extra]
    out = tmp_path / "out" / "v.mp4"
    assert generate("--model", folders[mode], "--prompt", "x", *SMALL, *extra, "--output", out) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_missing_model_and_offline_hub(tmp_path, capsys, monkeypatch):
    assert generate("--model", tmp_path / "nowhere", "--prompt", "x") == 2
    assert "does not exist" in capsys.readouterr().err
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    assert generate("--model", "Skywork/SkyReels-V2-T2V-14B-540P", "--prompt", "x") == 2
    assert "offline mode is on" in capsys.readouterr().err


def test_batch_mode_resumes(folders, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle\n\na blue square\n")
    outdir = tmp_path / "videos"
    assert generate("--model", folders["t2v"], "--prompts", prompts, "--output-dir", outdir, *SMALL) == 0
    videos = sorted(p.name for p in outdir.glob("*.mp4"))
    assert videos == ["00000-a-red-circle.mp4", "00002-a-blue-square.mp4"]
    stamp = (outdir / videos[0]).stat().st_mtime_ns
    capsys.readouterr()
    assert generate("--model", folders["t2v"], "--prompts", prompts, "--output-dir", outdir, *SMALL) == 0
    assert "skipping 2 video(s) already written" in capsys.readouterr().out
    assert (outdir / videos[0]).stat().st_mtime_ns == stamp


def write_config(folder, path):
    path.write_text(
        "import ml_collections\n"
        "def get_config(arg=''):\n"
        f"    return ml_collections.ConfigDict(dict(hub_id={str(folder)!r}, sampling=dict(\n"
        "        height=32, width=48, num_frames=9, num_steps=2, guidance_scale=4.0, shift=3.0, fps=12)))\n")
    return path


def test_config_file_with_overrides(folders, tmp_path):
    config = write_config(folders["t2v"], tmp_path / "my_config.py")
    out = tmp_path / "c.mp4"
    assert generate("--config", config, "--set", "sampling.num_frames=5", "--prompt", "x", "--output", out) == 0
    meta = json.loads((tmp_path / "c.mp4.json").read_text())
    assert (meta["num_frames"], meta["width"], meta["shift"], meta["fps"]) == (5, 48, 3.0, 12)
    assert generate("--config", config, "--set", "sampling.nope=1", "--prompt", "x", "--output", out) == 2


def test_resolution_wins_over_the_config_size(folders, tmp_path):
    from skyreels_jax.generate import main_args, plan

    config = write_config(folders["t2v"], tmp_path / "my_config.py")
    _, jobs = plan(main_args(["--config", str(config), "--resolution", "540P", "--prompt", "x"]))
    assert (jobs[0].request["height"], jobs[0].request["width"], jobs[0].request["num_frames"]) == (544, 960, 9)


def test_converted_dit_is_cached(folders, cache, monkeypatch):
    from skyreels_jax.models.dit.loader import DiTCheckpoint

    first = load_pipeline(folders["t2v"])
    assert len(list((cache / "converted").iterdir())) == 1
    monkeypatch.setattr(DiTCheckpoint, "load", lambda *a, **k: pytest.fail("converted again despite the cache"))
    second = load_pipeline(folders["t2v"])
    kw = dict(num_frames=5, height=32, width=32, num_steps=2, progress=False)
    assert np.array_equal(first("a cat", **kw), second("a cat", **kw))
