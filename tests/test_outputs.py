"""What generate writes and when it keeps an existing file: the model's defaults fill what was left out and the
sidecar records what ran; an output is skipped only for the same request; default names tell requests apart;
files follow the umask; claims and leftovers."""
import json
import os

import numpy as np
import pytest

from skyreels_jax.media import read_video
from skyreels_jax.output_claims import claim_file, try_claim
from tests.toy_runs import FAST, PROMPT, generate, toy_loaded_once  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("toy_loaded_once")


def sidecar(path):
    return json.loads(path.with_name(path.name + ".json").read_text())


def test_toy_defaults_fill_what_is_left_out_and_the_sidecar_says_what_ran(tmp_path, capsys):
    out = tmp_path / "v.mp4"
    code, _, err = generate(capsys, "--model", "toy", "--prompt", PROMPT, *FAST, "--fps", 8, "--output", out)
    assert code == 0, err
    assert read_video(out).shape == (17, 32, 32, 3)  # the toy folder's size and length, not 97 frames of 544×960
    meta = sidecar(out)
    request = meta["request"]
    assert (request["num_frames"], request["height"], request["width"]) == (17, 32, 32)
    assert (request["num_steps"], request["guidance_scale"], request["shift"], request["fps"]) == (2, 3.0, 3.0, 8)
    assert (meta["num_frames"], meta["num_steps"], meta["fps"], meta["base_num_frames"]) == (17, 2, 8, 17)
    import av

    with av.open(str(out)) as c:
        assert c.streams.video[0].average_rate == 8


def test_an_output_is_kept_only_for_the_same_request(tmp_path, capsys):
    out = tmp_path / "v.mp4"
    base = ["--model", "toy", "--prompt", PROMPT, *FAST, "--output", out]
    assert generate(capsys, *base)[0] == 0
    stamp = out.stat().st_mtime_ns
    code, stdout, _ = generate(capsys, *base, "--guidance-scale", "3")  # the toy's default, said aloud: same request
    assert code == 0 and "skipping 1 video(s) already written with the same request" in stdout
    code, _, err = generate(capsys, *base, "--seed", 1)
    assert code == 2 and len(err.splitlines()) == 1
    assert f"{out} exists but was not made with this request" in err and "--overwrite" in err
    assert out.stat().st_mtime_ns == stamp and sidecar(out)["request"]["seed"] == 0
    assert generate(capsys, *base, "--seed", 1, "--overwrite")[0] == 0
    assert sidecar(out)["request"]["seed"] == 1


def test_a_file_without_sidecar_is_never_replaced_silently(tmp_path, capsys):
    out = tmp_path / "mine.mp4"
    out.write_bytes(b"someone's video")
    code, _, err = generate(capsys, "--model", "toy", "--prompt", PROMPT, *FAST, "--output", out)
    assert code == 2 and "--overwrite" in err and out.read_bytes() == b"someone's video"


def test_default_names_tell_requests_apart(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for steps in (2, 3):
        assert generate(capsys, "--model", "toy", "--prompt", PROMPT, "--steps", steps)[0] == 0
    videos = sorted((tmp_path / "outputs").glob("*.mp4"))
    assert len(videos) == 2 and all(v.name.startswith("a-red-circle-moves-right-on-a-black-background-0-")
                                    for v in videos)
    assert {sidecar(v)["request"]["num_steps"] for v in videos} == {2, 3}


def test_a_batch_names_changed_requests_in_its_summary(tmp_path, capsys):
    prompts, outdir = tmp_path / "prompts.txt", tmp_path / "videos"
    prompts.write_text(f"{PROMPT}\na blue square moves up on a black background\n")
    base = ["--model", "toy", "--prompts", prompts, "--output-dir", outdir, *FAST]
    assert generate(capsys, *base)[0] == 0
    prompts.write_text(prompts.read_text() + "a green triangle moves left on a black background\n")
    code, stdout, err = generate(capsys, *base, "--seed", 5)
    err = err.rsplit("\r", 1)[-1]  # after the progress bar of the one video made
    assert code == 2 and len(err.splitlines()) == 1
    assert "done: 1 written, 0 already there, 0 made by other processes, 2 kept (another request)" in stdout
    assert "00000-a-red-circle" in err and "00001-a-blue-square" in err and "--output-dir" in err
    assert sorted(p.name for p in outdir.iterdir()) == [
        "00000-a-red-circle-moves-right-on-a-black-background.mp4",
        "00000-a-red-circle-moves-right-on-a-black-background.mp4.json",
        "00001-a-blue-square-moves-up-on-a-black-background.mp4",
        "00001-a-blue-square-moves-up-on-a-black-background.mp4.json",
        "00002-a-green-triangle-moves-left-on-a-black-background.mp4",
        "00002-a-green-triangle-moves-left-on-a-black-background.mp4.json"]


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_files_follow_the_umask(tmp_path, capsys, umask):
    old = os.umask(umask)
    try:
        out = tmp_path / "v.mp4"
        assert generate(capsys, "--model", "toy", "--prompt", PROMPT, *FAST, "--output", out)[0] == 0
    finally:
        os.umask(old)
    for path in (out, out.with_name("v.mp4.json")):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_rerun_removes_the_leftovers_of_a_dead_writer(tmp_path, capsys):
    out = tmp_path / "v.mp4"
    stale = [tmp_path / ".v.mp4.4242.tmp.mp4", tmp_path / ".v.mp4.json.4242.tmp.json"]
    for path in stale:
        path.write_bytes(b"half written")
    claim_file(out).write_text("host 4242 0\n")  # a claim whose process died: its lock is gone with it
    assert generate(capsys, "--model", "toy", "--prompt", PROMPT, *FAST, "--output", out)[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4", "v.mp4.json"]


def test_a_claimed_video_is_left_to_its_claimant(tmp_path, capsys):
    prompts, outdir = tmp_path / "prompts.txt", tmp_path / "videos"
    prompts.write_text(f"{PROMPT}\na blue square moves up on a black background\n")
    first = outdir / "00000-a-red-circle-moves-right-on-a-black-background.mp4"
    held = try_claim(first)  # as another live process would hold it
    try:
        assert try_claim(first) is None
        code, stdout, _ = generate(capsys, "--model", "toy", "--prompts", prompts, "--output-dir", outdir, *FAST)
        assert code == 0 and "done: 1 written, 0 already there, 1 made by other processes" in stdout
        assert not first.exists()
    finally:
        held.release()
    code, stdout, _ = generate(capsys, "--model", "toy", "--prompts", prompts, "--output-dir", outdir, *FAST)
    assert code == 0 and "done: 1 written, 1 already there" in stdout and first.exists()
    assert not claim_file(first).exists()


def test_python_api_fills_the_folders_defaults_and_checks_values(monkeypatch):
    import skyreels_jax.pipelines as pipelines
    from skyreels_jax.pipelines import diffusion_forcing

    pipe = pipelines.load_pipeline("toy")
    video = pipe(PROMPT, num_steps=2, progress=False)
    assert video.shape == (17, 32, 32, 3) and pipe.stats["call"]["guidance_scale"] == 3.0
    monkeypatch.setattr(diffusion_forcing, "generate", lambda *a, **k: pytest.fail("sampled a bad request"))
    for bad in (dict(num_frames=0), dict(height=0), dict(num_steps=0), dict(seed=2**70), dict(guidance_scale=np.nan),
                dict(fps=0), dict(num_frames=5.0), dict(shift=-1.0), dict(base_num_frames=True)):
        with pytest.raises(ValueError):
            pipe(PROMPT, **bad)
