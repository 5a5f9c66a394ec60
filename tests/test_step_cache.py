"""Step caching (TeaCache-style) in the text/image-to-video pipelines, on tiny random pipelines."""
import numpy as np
import pytest

from skyreels_jax.pipelines import load_pipeline
from skyreels_jax.pipelines.checks import check_call
from tests.pipeline_fixtures import Z, build_pipeline

FRAMES, HEIGHT, WIDTH, STEPS = 9, 32, 48, 12


@pytest.fixture(scope="module")
def pipes(tmp_path_factory):
    root = tmp_path_factory.mktemp("step_cache")
    return {mode: load_pipeline(build_pipeline(mode, root)[0], cache=False) for mode in ("t2v", "i2v")}


def call(pipe, **kw):
    noise = np.random.default_rng(0).standard_normal((1, (FRAMES - 1) // 4 + 1, HEIGHT // 8, WIDTH // 8, Z),
                                                     dtype=np.float32)
    image = np.random.default_rng(1).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    extra = dict(image=image) if pipe.mode == "image_to_video" else {}
    return pipe("a red circle moves left", negative_prompt="blurry", num_frames=FRAMES, height=HEIGHT, width=WIDTH,
                num_steps=STEPS, guidance_scale=5.0, shift=8.0, latents=noise, progress=False, **extra, **kw)


def psnr(a, b) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.mark.parametrize("mode", ["t2v", "i2v"])
def test_step_cache(pipes, mode):
    pipe = pipes[mode]
    off = call(pipe)
    assert "teacache_skipped" not in pipe.stats and pipe.stats["nfe"] == 2 * STEPS
    assert np.array_equal(call(pipe, teacache_threshold=None), off)
    assert np.array_equal(call(pipe, teacache_threshold=0.0), off)  # never skips: bit-identical
    assert (pipe.stats["teacache_skipped"], pipe.stats["steps"]) == (0, STEPS)
    cached = call(pipe, teacache_threshold=0.5)
    skipped = pipe.stats["teacache_skipped"]
    print(f"{mode}: threshold 0.5 skips {skipped} of {STEPS} steps, PSNR {psnr(cached, off):.1f} dB")
    assert 1 <= skipped <= STEPS - 2 and psnr(cached, off) > 30
    call(pipe, teacache_threshold=1e9)
    assert pipe.stats["teacache_skipped"] == STEPS - 2  # the first and last steps always run the blocks


def test_step_cache_refused_for_diffusion_forcing_and_negative():
    args = ("a prompt", None, None, None, 17, 32, 32, None, 16)
    df = dict(ar_step=0, causal_block_size=1, base_num_frames=97, overlap_history=None, addnoise_condition=0,
              overlap_mode="latent", causal_attention=False)
    with pytest.raises(ValueError, match="not supported for diffusion-forcing models"):
        check_call("diffusion_forcing", *args, df, teacache_threshold=0.1)
    with pytest.raises(ValueError, match="must be >= 0"):
        check_call("text_to_video", *args, df, teacache_threshold=-1.0)
