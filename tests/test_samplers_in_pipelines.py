"""Every solver, schedule and guidance through the pipelines: diffusion forcing on the toy model,
text-to-video on a tiny random one; NFE, output="latents" and the generate flags and sidecar."""
import json

import numpy as np
import pytest

from skyreels_jax.cli import main
from skyreels_jax.pipelines import load_pipeline, sampling
from skyreels_jax.pipelines.conditioning import decode_to_uint8
from skyreels_jax.schedulers import SCHEDULERS, make_guidance

PROMPT = "a red circle moves right on a black background"
DF = dict(num_frames=9, height=32, width=32, num_steps=3, guidance_scale=3.0, base_num_frames=9, progress=False)


@pytest.fixture(scope="module")
def toy():
    return load_pipeline("toy")


@pytest.fixture(scope="module")
def t2v(tmp_path_factory):
    from tests.pipeline_fixtures import build_pipeline

    return build_pipeline("t2v", tmp_path_factory.mktemp("t2v"))[0]


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_every_solver_runs_diffusion_forcing(toy, name):
    z = toy(PROMPT, scheduler=name, output="latents", seed=1, **DF)
    assert z.shape == (1, 3, 8, 8, 8) and z.dtype == np.float32 and np.isfinite(z).all()
    evaluations = toy.stats["sampler"]["evaluations"]
    assert toy.stats["nfe"] == 2 * evaluations  # synchronous: one row per evaluation, each with CFG
    assert 0.05 < z.std() < 5  # denoised into the toy world's range, not left as noise or blown up
    if not SCHEDULERS[name].stochastic:  # deterministic: the same call twice gives the same latents
        assert np.array_equal(z, toy(PROMPT, scheduler=name, output="latents", seed=1, **DF))


def test_heun_async_counts_evaluations_and_second_order_helps(toy):
    ref = toy(PROMPT, scheduler="unipc", output="latents", **{**DF, "num_steps": 40})
    errs = {}
    for name in ("euler", "heun"):
        z = toy(PROMPT, scheduler=name, ar_step=1, output="latents", **DF)
        errs[name] = np.sqrt(((z - ref) ** 2).mean())
    assert toy.stats["sampler"]["evaluations"] == 5  # 3 steps: 2 + 2 + 1 (the last is one Euler step)
    assert errs["heun"] < errs["euler"], errs


def test_guidance_interval_runs_one_forward_outside(toy):
    full = toy(PROMPT, output="latents", **DF)
    assert toy.stats["nfe"] == 6
    z = toy(PROMPT, guidance=dict(mode="cfg", interval=(0.7, 1.0)), output="latents", **DF)
    assert toy.stats["nfe"] == 5 and not np.array_equal(z, full)  # the last row (σ 0.6 at shift 3): one forward
    toy(PROMPT, guidance="cfg_zero_star", **DF)
    assert toy.stats["nfe"] == 5  # the first step is zeroed: no second pass there


def test_latents_decode_to_the_frames(toy):
    z = toy(PROMPT, scheduler="dpmpp_2m", schedule="karras", output="latents", **DF)
    frames = toy(PROMPT, scheduler="dpmpp_2m", schedule="karras", **DF)
    assert np.array_equal(decode_to_uint8(toy.vae, z), frames)


def test_heun_runs_its_evaluations_in_text_to_video(t2v, monkeypatch):
    pipe, batches = load_pipeline(t2v, cache=False), []
    step = sampling._step

    def counting(graphdef, params, scheduler, latents, state, context, *rest):
        batches.append(context.shape[0])
        return step(graphdef, params, scheduler, latents, state, context, *rest)

    monkeypatch.setattr(sampling, "_step", counting)
    kw = dict(num_frames=5, height=32, width=32, num_steps=3, guidance_scale=5.0, progress=False)
    z = pipe("a cat", scheduler="heun", output="latents", **kw)
    assert z.shape == (1, 2, 4, 4, pipe.vae.config.z_dim) and z.dtype == np.float32
    assert batches == [2] * 5 and pipe.stats["nfe"] == 10
    batches.clear()
    pipe("a cat", scheduler="heun", guidance=make_guidance("cfg", 5.0, interval=(0.0, 0.6)), **kw)
    sigmas = pipe.stats["sampler"]
    assert batches.count(1) > 0 and pipe.stats["nfe"] == sum(batches), (batches, sigmas)


def test_bad_sampler_choices_are_refused_up_front(toy):
    for kw, message in ((dict(scheduler="nope"), "unknown scheduler"), (dict(schedule="nope"), "unknown schedule"),
                        (dict(schedule=[0.9, 0.5, 0.2, 0.1]), "must end in 0"),
                        (dict(guidance="nope"), "guidance mode"),
                        (dict(output="pixels"), "output must be")):
        with pytest.raises(ValueError, match=message):
            toy(PROMPT, **{**DF, **kw})


def test_generate_flags_and_sidecar(toy, tmp_path, capsys):
    out = tmp_path / "v.mp4"
    base = ["generate", "--model", "toy", "--prompt", PROMPT, "--num-frames", "9", "--height", "32", "--width", "32",
            "--steps", "3", "--base-num-frames", "9", "--guidance-scale", "3", "--output", str(out)]
    assert main(base + ["--scheduler", "heun", "--schedule", "karras", "--guidance-mode", "cfg_zero_star",
                        "--guidance-interval", "0,0.9"]) == 0
    meta = json.loads((tmp_path / "v.mp4.json").read_text())
    assert meta["scheduler"] == "heun" and meta["schedule"] == "karras" and len(meta["sigmas"]) == 4
    assert meta["guidance"]["mode"] == "cfg_zero_star" and meta["guidance"]["sigma_hi"] == 0.9
    assert meta["evaluations"] == 5 and 5 < meta["nfe"] < 10
    for flags, message in ((["--scheduler", "nope"], "unknown scheduler"), (["--schedule", "x.json"], "cannot read"),
                           (["--guidance-interval", "0.5"], "LO,HI")):
        assert main(base + flags) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, err
