"""End to end against diffusers' SkyReels-V2 pipelines on tiny random models, same initial noise."""
import numpy as np
import pytest

from skyreels_jax.pipelines import load_pipeline
from tests.pipeline_fixtures import Z, build_pipeline, reference_video

FRAMES, HEIGHT, WIDTH, STEPS = 9, 32, 48, 4


def noise(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((1, (FRAMES - 1) // 4 + 1, HEIGHT // 8, WIDTH // 8, Z), dtype=np.float32)


def images(seed=1):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(2)]


@pytest.mark.parametrize("mode", ["t2v", "i2v", "flf2v"])
def test_matches_diffusers_pipeline(mode, tmp_path, monkeypatch):
    monkeypatch.setenv("SKYREELS_JAX_CACHE", str(tmp_path / "cache"))
    folder, reference = build_pipeline(mode, tmp_path)
    args = dict(prompt="a red circle moves left", negative_prompt="blurry", num_frames=FRAMES, height=HEIGHT,
                width=WIDTH, guidance_scale=5.0)
    first, last = images()
    extra, ref_extra = {}, {}
    if mode != "t2v":
        extra = dict(image=first, end_image=last if mode == "flf2v" else None)
        from PIL import Image
        ref_extra = dict(image=Image.fromarray(first))
        if mode == "flf2v":
            ref_extra["last_image"] = Image.fromarray(last)
    expected = reference_video(reference, noise(), num_inference_steps=STEPS, max_sequence_length=512,
                               **args, **ref_extra)
    pipe = load_pipeline(folder)
    assert pipe.mode == {"t2v": "text_to_video", "i2v": "image_to_video", "flf2v": "first_last_frame"}[mode]
    video = pipe(**args, **extra, num_steps=STEPS, shift=8.0, latents=noise(), progress=False)
    assert video.dtype == np.uint8 and video.shape == expected.shape == (FRAMES, HEIGHT, WIDTH, 3)
    diff = np.abs(video.astype(int) - expected.astype(int)).mean()
    worst = np.abs(video.astype(int) - expected.astype(int)).max()
    print(f"{mode}: mean |ours - diffusers| = {diff:.4f}/255, max {worst}")
    assert diff <= 1.0, diff  # mean absolute difference within 1/255
