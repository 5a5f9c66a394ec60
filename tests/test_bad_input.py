"""Bad input on the command line: one line, exit status 2, before any model loads, and no file left behind.
Each row here is a row of docs/bad_input.md."""
import json
import shutil
import struct

import numpy as np
import pytest
from PIL import Image

import skyreels_jax.pipelines as pipelines
from skyreels_jax.cli import main
from skyreels_jax.hub import TOY

PROMPT = "a red circle moves right on a black background"
CONFIG = "configs/models.py:T2V-14B-540P"


@pytest.fixture
def files(tmp_path):
    """Inputs a hostile user might give: a text file posing as a video and an image, an empty prompt file."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "notes.txt").write_text("not a video\n" * 20000)  # ffmpeg's tty demuxer renders text as frames
    (inputs / "notes.png").write_text("not an image")
    (inputs / "empty.txt").write_text("\n  \n")
    (inputs / "sigmas.json").write_text(json.dumps({"sigmas": [0.99, 0.5, 0.0]}))
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(inputs / "first.png")
    return inputs


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if a model starts loading: every row here must be refused before that."""
    monkeypatch.setattr(pipelines, "load_pipeline", lambda *a, **k: pytest.fail("a model loaded for a bad request"))


def run(capsys, *argv) -> tuple[int, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    return code, capsys.readouterr().err.strip()


ROWS = [  # (flags, what the one line says)
    (["--num-frames", "0"], "num_frames must be in [1, 100001]; got 0"),
    (["--num-frames", "10"], "num_frames must be 4k+1"),
    (["--width", "0"], "width must be in [1, 4096]; got 0"),
    (["--height", "12"], "height must be a positive multiple of 8"),
    (["--height", "5000"], "height must be in [1, 4096]"),
    (["--steps", "0"], "num_steps must be in [1, 1000]; got 0"),
    (["--steps", "-2"], "num_steps must be in [1, 1000]; got -2"),
    (["--steps", "abc"], "argument --steps: invalid int value: 'abc'"),
    (["--guidance-scale", "nan"], "guidance_scale must be a finite number; got nan"),
    (["--shift", "inf"], "shift must be a finite number"),
    (["--shift", "0"], "shift must be in (0.0, 100.0]"),
    (["--seed", str(2**70)], "seed must be in [0, 4294967295]"),
    (["--seed", "-1"], "seed must be in [0, 4294967295]"),
    (["--fps", "0"], "fps must be in [1, 240]; got 0"),
    (["--base-num-frames", "0"], "base_num_frames must be in [1, 100001]"),
    (["--overlap-history", "0"], "overlap_history must be in [1, 100001]"),
    (["--addnoise-condition", "nan"], "addnoise_condition must be a finite number"),
    (["--ar-step", "-1"], "ar_step must be in [0, 1000]"),
    (["--causal-block-size", "0"], "causal_block_size must be in [1, 100001]"),
    (["--num-frames", "33", "--base-num-frames", "17"], "needs overlap_history"),
    (["--teacache", "0.1"], "teacache (step caching) is not supported for diffusion-forcing models"),
    (["--prompt", ""], "prompt must be a non-empty string"),
    (["--output", "OUT/clip.gif"], "videos are written as H.264, which needs a .mp4, .mkv, .mov file; got '.gif'"),
    (["--output", "INPUTS/notes.txt/clip.mp4"], "notes.txt is a file, not a folder"),
    (["--output", "INPUTS"], "is a folder: give a file name"),
    (["--video", "INPUTS/notes.txt"], "notes.txt is not a video file"),
    (["--video", "INPUTS/notes.png"], "notes.png is not a video file"),
    (["--image", "INPUTS/notes.png"], "cannot read image"),
    (["--video", "INPUTS/first.png"], "first.png is not a video file"),
    (["--video", "INPUTS/nowhere.mp4"], "video INPUTS/nowhere.mp4 does not exist"),
    (["--image", "INPUTS/nowhere.png"], "image INPUTS/nowhere.png does not exist"),
    (["--image", "INPUTS/first.png", "--video", "INPUTS/first.png"], "is not a video file"),
    (["--prompts", "INPUTS/empty.txt"], "has no prompts: write one prompt per line"),
    (["--prompts", "INPUTS/nowhere.txt"], "prompt file"),
    (["--prompts", "INPUTS/first.png"], "is not UTF-8 text"),
    (["--scheduler", "nope"], "unknown scheduler 'nope'"),
    (["--mesh", "1,1,2,1"], "give --sequence-parallel ulysses or ring"),
    (["--mesh", "2,x"], "--mesh takes four sizes"),
    (["--mesh", "auto", "--sequence-parallel", "ring"], "drop --sequence-parallel"),
    (["--mesh", "1,1,1,1", "--sequence-parallel", "ulysses"], "which is 1 in --mesh 1,1,1,1"),
    # flags that another flag would override or leave unused
    (["--resolution", "540P", "--height", "32"], "--resolution sets the height and the width: give it or --height"),
    (["--output-dir", "OUT"], "--output names the video; --output-dir is for videos without --output: give one"),
    (["--schedule", "INPUTS/sigmas.json", "--shift", "3"], "--shift does not apply to a schedule file"),
    (["--prompt-enhancer", "Qwen/Qwen2.5-7B-Instruct", "--image", "INPUTS/first.png"],
     "--prompt-enhancer rewrites text-to-video prompts, not those of a video from --image"),
    (["--prompt", "a", "--prompt", "b", "--prompt-enhancer", "Qwen/Qwen2.5-7B-Instruct"],
     "one prompt per video, not prompt travel"),
    (["--prompt", PROMPT, "--prompt", PROMPT], "prompt travel needs one prompt per window: 1 windows here, 2 prompts"),
    (["--prompt-enhancer", "INPUTS/qwen"], "--prompt-enhancer INPUTS/qwen does not exist: give a Qwen2.5-Instruct"),
    (["--coordinator", "10.0.0.1:1234"], "--coordinator go with --distributed (a multi-host run)"),
    (["--work-dir", "OUT/w", "--processes-per-group", "2"], "a group of processes does not resume windows"),
    (["--guidance-scale", "1", "--negative-prompt", "blur"],
     "--negative-prompt: no step runs the unconditional pass at guidance scale 1.0; give --guidance-scale above 1"),
    (["--guidance-scale", "0.5", "--guidance-mode", "apg"], "--guidance-mode: no step runs the unconditional pass"),
]


@pytest.mark.parametrize("flags,message", ROWS, ids=[" ".join(f)[:40] for f, _ in ROWS])
def test_generate_refuses_before_loading(tmp_path, files, capsys, no_model, monkeypatch, flags, message):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    flags = [f.replace("INPUTS", str(files)).replace("OUT", str(out)) for f in flags]
    message = message.replace("INPUTS", str(files))
    prompt = () if "--prompt" in flags or "--prompts" in flags else ("--prompt", PROMPT)
    output = () if "--output" in flags or "--prompts" in flags else ("--output", out / "v.mp4")
    output_dir = ("--output-dir", out) if "--prompts" in flags else ()
    args = ["generate", "--model", "toy", *prompt, *flags, *output, *output_dir]
    code, err = run(capsys, *args)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert message in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["inputs"]


def test_unwritable_folder_is_refused_first(tmp_path, capsys, no_model, monkeypatch):
    # (the tests may run as root, whom no folder refuses: the check's own view of the folder is what is tested)
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(locked) else real_access(p, mode))
    code, err = run(capsys, "generate", "--model", "toy", "--prompt", PROMPT, "--output", locked / "sub" / "v.mp4")
    assert code == 2 and f"{locked} is not writable" in err
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("flags,message", [
    (["--set", "nothere.x=3"], "unknown config key 'nothere.x': the config has no field 'nothere'"),
    (["--set", "sampling.num_steps=abc"], "config key 'sampling.num_steps' is an int (30); got the str 'abc'"),
    (["--set", "sampling.num_steps"], "--set takes KEY=VALUE"),
    (["--set", "dit.num_layers=2"], "--set dit.num_layers: generate reads only hub_id, diffusers_hub_id, mode, "
     "sampling.height"),
])
def test_config_errors_name_the_key_and_type(capsys, no_model, flags, message):
    code, err = run(capsys, "generate", "--config", CONFIG, *flags, "--prompt", "x")
    assert code == 2 and len(err.splitlines()) == 1 and message in err


def _toy_copy(tmp_path):
    folder = tmp_path / "toy"
    shutil.copytree(TOY, folder)
    return folder


def test_corrupt_safetensors_header_names_the_file(tmp_path, capsys, no_model):
    folder = _toy_copy(tmp_path)
    weights = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[:8] = struct.pack("<Q", 2**62)  # a header "longer" than the file: a MemoryError before
    weights.write_bytes(bytes(data))
    code, err = run(capsys, "generate", "--model", folder, "--prompt", PROMPT, "--output", tmp_path / "v.mp4")
    assert code == 2 and len(err.splitlines()) == 1
    assert f"{weights} is not a valid safetensors file" in err and "corrupt or truncated" in err
    weights.write_bytes(struct.pack("<Q", 4) + b"{no}")
    assert run(capsys, "inspect", folder / "transformer")[0] == 2


def test_config_field_of_wrong_type_names_file_and_field(tmp_path, capsys, no_model):
    folder = _toy_copy(tmp_path)
    config = folder / "transformer" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "num_layers": "2"}))
    code, err = run(capsys, "generate", "--model", folder, "--prompt", PROMPT, "--output", tmp_path / "v.mp4")
    assert code == 2 and len(err.splitlines()) == 1
    assert f"{config}: config field 'num_layers' must be an integer, got '2'" in err
    config.write_text("{not json")
    code, err = run(capsys, "generate", "--model", folder, "--prompt", PROMPT, "--output", tmp_path / "v.mp4")
    assert code == 2 and f"{config} is not valid JSON" in err


class Payload:  # any class: a pickle of it needs code to load, which weights_only refuses
    pass


def test_pickle_in_pth_is_refused(tmp_path):
    import torch

    from skyreels_jax.checkpoints.errors import CheckpointError
    from skyreels_jax.models.vae import load_vae

    path = tmp_path / "Wan2.1_VAE.pth"
    torch.save({"weight": torch.zeros(2), "extra": Payload()}, path)
    with pytest.raises(CheckpointError, match="use a safetensors file, or convert it") as e:
        load_vae(path)
    assert str(path) in str(e.value) and "weights_only" not in str(e.value)
    path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="is not a readable PyTorch checkpoint"):
        load_vae(path)


def test_load_vae_of_an_original_repository_reads_its_vae_file(tmp_path):
    import torch

    from skyreels_jax.models.vae.loader import find_vae

    (tmp_path / "config.json").write_text(json.dumps({"dim": 16, "num_heads": 2, "num_layers": 1, "model_type": "t2v"}))
    with pytest.raises(FileNotFoundError, match="its config.json is the DiT's"):
        find_vae(tmp_path)
    torch.save({"weight": torch.zeros(2)}, tmp_path / "Wan2.1_VAE.pth")
    reader, layout, _ = find_vae(tmp_path)
    assert layout == "original" and reader.path == tmp_path / "Wan2.1_VAE.pth"


@pytest.mark.parametrize("argv,message", [
    (["convert", "NOWHERE", "DST"], "does not exist"),
    (["verify", "NOWHERE"], "is not a converted checkpoint"),
    (["inspect", "NOWHERE"], "does not exist"),
    (["train", "--config", "NOWHERE.py"], "config file"),
    (["train", "--config", "configs/train/tiny_flow.py", "--set", "optim.nothere=1"], "unknown config key"),
    (["train", "--config", "configs/train/tiny_flow.py", "--stop-after", "0"], "must be in [1, 1000000000]; got 0"),
    (["preprocess", "--out", "DST", "--videos", "NOWHERE", "--captions", "NOWHERE.jsonl", "--model", "toy"],
     "no video folder"),
    (["preprocess", "--out", "DST", "--frames", "0"], "argument --frames: the value must be in [1, 100001]"),
    (["enhance", "x", "--model", "NOWHERE"], "does not exist"),
    (["enhance", "x", "--seed", str(2**70)], "a seed is an integer in [0, 4294967295]"),
    (["enhance", "x", "--greedy", "--seed", "3", "--model", "NOWHERE"], "--greedy decoding draws nothing at random"),
    (["plan", "--topology", "v5e-8", "--model", "T2V-1.3B-540P", "--mesh", "1,8,1,1", "--all"],
     "--all goes with --mesh auto"),
    (["caption", "NOWHERE.mp4", "--model", "NOWHERE"], "nowhere"),
    (["demo", "--steps", "0"], "argument --steps: the value must be in [1, 1000]; got 0"),
    (["demo", "--out", "DST/x.gif"], "videos are written as H.264, which needs a .mp4, .mkv, .mov file; got '.gif'"),
    (["generate", "--config", CONFIG, "--model", "toy", "--prompt", "x"],
     "the config is for a text-to-video model and toy is a diffusion-forcing model"),
    (["generate", "--config", "configs/models.py:tiny-df", "--prompt", "x"], "give --model (a folder or Hub id): the "
     "config names none (hub_id)"),
])
def test_every_command_answers_bad_input_in_one_line(tmp_path, capsys, no_model, argv, message):
    argv = [a.replace("NOWHERE", str(tmp_path / "nowhere")).replace("DST", str(tmp_path / "dst")) for a in argv]
    code, err = run(capsys, *argv)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert message in err
    assert not (tmp_path / "dst").exists()


def test_verify_against_without_torch_says_what_to_install(tmp_path, capsys, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else find_spec(name, *a))
    code, err = run(capsys, "verify", tmp_path / "converted", "--against", "toy")
    assert code == 2 and len(err.splitlines()) == 1
    assert "verify --against computes the PyTorch reference: pip install 'skyreels-jax[convert]'" in err


def test_a_bug_shows_its_traceback_and_says_so(capsys, monkeypatch):
    from skyreels_jax import generate

    monkeypatch.setattr(generate, "run", lambda args: {}["a bug"])
    code, err = run(capsys, "generate", "--model", "toy", "--prompt", "x")
    assert code == 1 and "Traceback" in err and "KeyError" in err
    assert err.splitlines()[-1].startswith("error: this is a bug in skyreels-jax")
