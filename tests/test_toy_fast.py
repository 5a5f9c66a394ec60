"""The embedded distilled model: `load_pipeline("toy-fast")` samples with its own 4-step defaults, the
default "toy" keeps its own, and a folder's generation_defaults.json may name its scheduler."""
import json
import shutil

import numpy as np
import pytest

import skyreels_jax as sj
from skyreels_jax.hub import TOY, TOY_FAST, resolve
from skyreels_jax.pipelines.components import inspect_folder
from skyreels_jax.toy import metrics


def test_toy_fast_samples_a_video_in_four_model_evaluations():
    assert resolve("toy-fast") == TOY_FAST
    pipe = sj.load_pipeline("toy-fast")
    d = pipe.folder.defaults
    assert (d["num_steps"], d["guidance_scale"], d["scheduler"], pipe.scheduler) == (4, 1.0, "lcm", "lcm")
    video = pipe("a red circle moves right on a black background", seed=0, progress=False)
    assert video.shape == (17, 32, 32, 3) and video.dtype == np.uint8
    assert pipe.stats["sampler"]["nfe"] == 4 and pipe.stats["sampler"]["scheduler"] == "lcm"
    present, _ = metrics.track(video, "red")
    assert present.mean() > 0.5            # the captioned colour, not noise or a blank


def test_the_default_toy_keeps_its_sampler():
    folder = inspect_folder(TOY)
    assert "scheduler" not in folder.defaults and folder.defaults["num_steps"] == 20
    assert sj.load_pipeline("toy").scheduler == "unipc"


def test_generation_defaults_refuse_a_scheduler_that_is_not_a_name(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(TOY_FAST, folder)
    (folder / "generation_defaults.json").write_text(json.dumps({"num_steps": 4, "scheduler": 3}))
    with pytest.raises(ValueError, match="scheduler must be a scheduler's name"):
        inspect_folder(folder)


def test_a_flow_match_scheduler_config_states_the_shift(tmp_path):
    """diffusers' FlowMatch schedulers (FlowMatchLCMScheduler, FlowMatchEulerDiscreteScheduler) name the shift
    `shift`, UniPC `flow_shift`; generation_defaults.json still has the last word."""
    folder = tmp_path / "model"
    shutil.copytree(TOY_FAST, folder)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(
        {"_class_name": "FlowMatchLCMScheduler", "num_train_timesteps": 1000, "shift": 7.5}))
    defaults = json.loads((folder / "generation_defaults.json").read_text())
    assert inspect_folder(folder).defaults["shift"] == defaults["shift"] == 3.0
    del defaults["shift"]
    (folder / "generation_defaults.json").write_text(json.dumps(defaults))
    assert inspect_folder(folder).defaults["shift"] == 7.5


def test_distill_command_writes_the_shipped_student_as_a_lora(tmp_path):
    """`python -m skyreels_jax.toy.distill --lora-only --student toy-fast --lora-rank R` writes the LoRA and
    its figures: at full rank (the toy is 128 wide) the toy plus the LoRA is the student."""
    from skyreels_jax.toy.distill import main

    assert main(["--lora-only", "--student", "toy-fast", "--lora-rank", "128", "--prompts", "0",
                 "--workdir", str(tmp_path)]) == 0
    figures = json.loads((tmp_path / "student_lora.json").read_text())
    assert (tmp_path / "student_lora.safetensors").stat().st_size == figures["bytes"]
    assert figures["error"] <= 1e-5 < 0.1 < figures["teacher_error"]
