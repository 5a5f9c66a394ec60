"""The toy world, its tfds builder and metrics, and the shipped toy model (loaded offline)."""
import numpy as np
import pytest

from skyreels_jax.toy import metrics
from skyreels_jax.toy.dataset import TEST_OFFSET, MovingShapes
from skyreels_jax.toy.world import render, render_clip


def test_clips_are_deterministic_and_captioned():
    a, cap_a, s = render_clip(3)
    b, cap_b, _ = render_clip(3)
    assert np.array_equal(a, b) and cap_a == cap_b
    assert cap_a == f"a {s['colour']} {s['shape']} moves {s['direction']} on a black background"
    assert not np.array_equal(a, render_clip(4)[0])
    assert a.shape == (17, 32, 32, 3) and a.dtype == np.uint8


def test_shapes_bounce_off_the_edges():
    v = render("red", "square", "right", frames=40, start=(16.0, 16.0), speed=1.0)
    _, c = metrics.track(v, "red")
    x = c[:, 1]
    assert x.max() <= 32 - 5 and np.argmax(x) not in (0, len(x) - 1)  # went right, then came back
    assert np.allclose(c[:, 0], c[0, 0], atol=0.5)


def test_builder_matches_the_renderer(tmp_path):
    b = MovingShapes(data_dir=str(tmp_path), num_train=3, num_test=2)
    b.download_and_prepare()
    src = b.as_data_source()
    assert len(src["train"]) == 3 and len(src["test"]) == 2
    ex = {e["caption"] if isinstance(e["caption"], str) else e["caption"].decode(): e["video"] for e in src["test"]}
    video, cap, _ = render_clip(TEST_OFFSET + 1)
    assert np.array_equal(ex[cap], video)


@pytest.mark.parametrize("seed", range(9))
def test_metrics_on_rendered_clips(seed):
    video, _, s = render_clip(seed)
    present, centroid = metrics.track(video, s["colour"])
    assert present.all() and metrics.direction_ok(centroid, s["direction"])
    assert metrics.shape_of(video) == s["shape"]
    other = next(c for c in ("red", "blue") if c != s["colour"])
    assert not metrics.track(video, other)[0].any()


def test_shipped_vae_round_trip_keeps_the_shape():
    """24 held-out clips through the shipped VAE (JAX): measured 31.1 dB, the shape read right in all
    24 (the VAE before it blurred every shape into the same blob: 21.0 dB, 8 of 24, chance)."""
    from skyreels_jax.toy.evaluate import vae_round_trip

    r = vae_round_trip("toy", 24)
    assert r["psnr"] > 29 and r["shape_ok"] >= 0.9 and r["all"] >= 0.9, r


def test_toy_pipeline_generates_the_prompted_shape(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from skyreels_jax.pipelines import load_pipeline

    pipe = load_pipeline("toy")
    assert pipe.mode == "diffusion_forcing"
    video = pipe("a green square moves down on a black background", num_frames=17, height=32, width=32,
                 num_steps=12, guidance_scale=3.0, seed=0, base_num_frames=17, progress=False)
    assert video.shape == (17, 32, 32, 3)
    dark = (video.max(axis=-1) < 60).mean()
    assert dark > 0.6                                    # a black background, not noise
    blob = (video.max(axis=-1) > 100).sum(axis=(1, 2))
    assert (blob >= 6).mean() > 0.5                      # a bright shape in most frames


def test_toy_pipeline_sizes_follow_its_vae(monkeypatch):
    """The toy VAE compresses 4x, not Wan's 8x: sizes are checked against the loaded model."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from skyreels_jax.pipelines import load_pipeline

    pipe = load_pipeline("toy")
    assert pipe.vae.config.spatial_scale == 4
    with pytest.raises(ValueError, match=r"height must be a positive multiple of 8 \(VAE 4× then patch 2×\)"):
        pipe("a red circle moves up on a black background", num_frames=17, height=36, width=32)
    video = pipe("a red circle moves up on a black background", num_frames=5, height=24, width=40, num_steps=2,
                 base_num_frames=5, progress=False)
    assert video.shape == (5, 24, 40, 3)


@pytest.fixture(scope="module")
def toy_pipe():
    from skyreels_jax.pipelines import load_pipeline

    return load_pipeline("toy")


# What the shipped model measures (docs/toy_model.md) with a margin; a retrained model must meet these.
ADHERENCE_MIN = 0.90         # the toy model's target; measured 92.4% (133/144): 3 videos for other CPUs' rounding
LONG_OBJECT_MIN = 0.9        # every chunk of a 169-frame video shows an object in >= 90% of its frames
LONG_PATH_MIN = 6.0          # ... that moves (px per 16 frames; the world moves 13-22)
START_IMAGE_PSNR_MIN = 28.0  # the first frame keeps the start image (measured 33.0 dB on 16; the VAE's round trip 31.1)
DPO_DIRECTION_GAIN_MIN = 0.03  # videos moving the captioned way after DPO minus before, 144 prompts (measured +0.056)
DPO_ADHERENCE_GAIN_MIN = 0.04  # ... and following the whole caption (measured +0.069)


def test_toy_model_follows_prompts(toy_pipe):
    """Colour, shape and direction measured from the pixels on new samples (fixed seeds) of
    144 prompts, every caption twice (the table of `python -m skyreels_jax.toy.evaluate`)."""
    from skyreels_jax.toy.evaluate import adherence

    a = adherence(toy_pipe, 144)
    assert a["all"] >= ADHERENCE_MIN, a


def test_toy_long_video_keeps_the_object_moving(toy_pipe):
    """Diffusion forcing to 10x the training length (169 frames): in every 16-frame chunk an
    object is present and its centroid moves (no collapse to blank frames or noise)."""
    from skyreels_jax.toy.evaluate import LONG_PROMPTS, long_video

    rows = long_video(toy_pipe, 169, LONG_PROMPTS[1], overlap_mode="pixel")
    assert len(rows) == 11
    assert min(r["object"] for r in rows) >= LONG_OBJECT_MIN, rows
    assert min(r["path"] for r in rows[:-1]) >= LONG_PATH_MIN, rows    # the last chunk has 9 frames


def test_toy_start_image_is_kept(toy_pipe):
    """Image-to-video: the start image comes back as the first frame, and the clip follows
    its caption."""
    from skyreels_jax.toy.evaluate import image_to_video

    r = image_to_video(toy_pipe, 4)
    assert r["first_frame_psnr"] >= START_IMAGE_PSNR_MIN, r
    assert r["all"] >= 0.75, r


def test_toy_dpo_improved_the_motion(toy_pipe, tmp_path):
    """Flow-DPO: the shipped DiT (after DPO on pairs of its own samples) moves the object the
    captioned way more often than the DiT before DPO (shipped beside it in bfloat16), on new samples
    of 144 prompts, and follows the whole caption more often."""
    import shutil

    from skyreels_jax.hub import resolve
    from skyreels_jax.pipelines import load_pipeline
    from skyreels_jax.toy.build import PRE_DPO
    from skyreels_jax.toy.dpo import measure

    before = tmp_path / "before"
    shutil.copytree(resolve("toy"), before, ignore=shutil.ignore_patterns("transformer"))
    (before / PRE_DPO).rename(before / "transformer")
    pre, post = measure(load_pipeline(before, cache=False), 144), measure(toy_pipe, 144)
    assert post["direction_ok"] >= pre["direction_ok"] + DPO_DIRECTION_GAIN_MIN, (pre, post)
    assert post["all"] >= pre["all"] + DPO_ADHERENCE_GAIN_MIN, (pre, post)
    assert post["motion_score"] >= pre["motion_score"], (pre, post)


def test_dpo_preference_ranks_the_caption_followed():
    """The DPO pairs' ranking: a rendered clip's motion scores 1, the same clip frozen about 0, played
    backwards below 0; `preference` picks the clip over it frozen, recoloured or reshaped."""
    from skyreels_jax.toy.dpo import motion_score, preference
    from skyreels_jax.toy.world import render

    clip, _, s = render_clip(5)
    prompt = (s["colour"], s["shape"], s["direction"])
    frozen, backwards = np.repeat(clip[:1], len(clip), axis=0), clip[::-1]
    assert motion_score(clip, s["direction"]) > 0.95
    assert abs(motion_score(frozen, s["direction"])) < 0.05
    assert motion_score(backwards[8:], s["direction"]) < -0.5
    assert preference(frozen, clip, prompt) == 1 and preference(clip, frozen, prompt) == 0
    assert preference(clip, clip, prompt) is None
    other = dict(colour="blue" if s["colour"] != "blue" else "red",
                 shape="square" if s["shape"] != "square" else "circle")
    for change in ("colour", "shape"):
        kw = dict(s, **{change: other[change]})
        wrong = render(kw["colour"], kw["shape"], s["direction"], speed=s["speed"], radius=s["radius"], seed=6)
        assert preference(wrong, clip, prompt) == 1, change


def test_dpo_stage_runs_end_to_end(tmp_path):
    """The build's last stage at toy size: pairs sampled from the shipped model, two flow-DPO steps,
    a tuned pipeline folder that loads and whose DiT moved."""
    from safetensors.numpy import load_file

    from skyreels_jax.hub import resolve
    from skyreels_jax.pipelines import load_pipeline
    from skyreels_jax.toy.dpo import run_dpo

    tuned = run_dpo(resolve("toy"), tmp_path / "dpo", pairs=4, steps=2)
    name = "transformer/diffusion_pytorch_model.safetensors"
    before, after = load_file(str(resolve("toy") / name)), load_file(str(tuned / name))
    assert before.keys() == after.keys()
    assert any(not np.array_equal(before[k], after[k]) for k in before)
    video = load_pipeline(tuned, cache=False)("a red circle moves right on a black background", num_frames=17,
                                              height=32, width=32, num_steps=4, base_num_frames=17, progress=False)
    assert video.shape == (17, 32, 32, 3)
