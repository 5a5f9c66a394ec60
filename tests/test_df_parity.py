"""Diffusion forcing end to end against diffusers' three DF pipelines, tiny random models, same noise."""
import numpy as np
import pytest
import torch
from PIL import Image

from skyreels_jax.pipelines import load_pipeline
from skyreels_jax.pipelines.df_plan import check_plan, window_schedule
from skyreels_jax.pipelines.diffusion_forcing import addnoise_key
from skyreels_jax.schedulers import flow_timesteps
from tests.pipeline_fixtures import OriginalSigmasEverywhere, Z, build_df_pipeline

H = W = 32
STEPS = 3


@pytest.fixture(scope="module")
def df(tmp_path_factory):
    return build_df_pipeline(tmp_path_factory.mktemp("df"))


def diffusers_noise(windows, seed=0):
    """The noise diffusers draws window by window from one generator, laid out as our global latents."""
    g = torch.Generator().manual_seed(seed)
    total = windows[-1].start + windows[-1].length
    out = np.zeros((1, total, H // 8, W // 8, Z), np.float32)
    for w in windows:
        chunk = torch.randn((1, Z, w.length, H // 8, W // 8), generator=g).permute(0, 2, 3, 4, 1).numpy()
        skip = w.prefix if w.index else 0
        out[:, w.start + skip:w.start + w.length] = chunk[:, skip:]
    return out


class OurAddnoise:
    """Make diffusers' torch.randn_like (its addnoise draw) return our noise for each (window, row)."""

    def __init__(self, windows, seed, steps, ar_step, cbs, addnoise):
        self.calls = [(w.index, r) for w in windows if w.prefix and addnoise
                      for r in range(len(window_schedule(w.length, w.prefix, False, flow_timesteps(steps, 8.0),
                                                         ar_step, cbs)[0]))]
        self.seed, self.windows = seed, {w.index: w for w in windows}

    def __enter__(self):
        self.original = torch.randn_like

        def fake(x, *args, **kwargs):
            window, row = self.calls.pop(0)
            w = self.windows[window]
            import jax

            key = addnoise_key(self.seed, window, row)
            noise = np.asarray(jax.random.normal(key, (1, w.length, H // 8, W // 8, Z)))
            out = torch.from_numpy(np.array(noise[:, :w.prefix])).permute(0, 4, 1, 2, 3)
            assert out.shape == x.shape, (out.shape, x.shape)
            return out

        torch.randn_like = fake
        return self

    def __exit__(self, *exc):
        torch.randn_like = self.original
        assert not self.calls or exc[0] is not None, f"{len(self.calls)} addnoise draws not used"


def reference(pipe, **kwargs):
    with OriginalSigmasEverywhere(), torch.no_grad():
        out = pipe(output_type="np", max_sequence_length=512, generator=torch.Generator().manual_seed(0),
                   num_inference_steps=STEPS, height=H, width=W, guidance_scale=5.0, **kwargs).frames[0]
    pipe.transformer._set_ar_attention(1)  # diffusers keeps a causal_block_size as a causal mask for later calls
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def compare(ours, theirs):
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    diff = np.abs(ours.astype(int) - theirs.astype(int)).mean()
    assert diff <= 1.0, diff  # within 1/255 on average
    return diff


CASES = {  # name: (our kwargs, diffusers kwargs, diffusers pipeline)
    "sync": (dict(num_frames=17, base_num_frames=17), dict(num_frames=17, base_num_frames=17), "t2v"),
    "async_blocks": (dict(num_frames=13, base_num_frames=13, ar_step=1, causal_block_size=2, causal_attention=True),
                     dict(num_frames=13, base_num_frames=13, ar_step=1, causal_block_size=2), "t2v"),
    "long_addnoise": (dict(num_frames=25, base_num_frames=17, overlap_history=5, addnoise_condition=20),
                      dict(num_frames=25, base_num_frames=17, overlap_history=5, addnoise_condition=20), "t2v"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_text_to_video_cases(df, case, tmp_path, monkeypatch):
    monkeypatch.setenv("SKYREELS_JAX_CACHE", str(tmp_path / "cache"))
    folder, pipes = df
    ours_kw, ref_kw, kind = CASES[case]
    cbs = ours_kw.get("causal_block_size", 1)
    windows = check_plan(ours_kw["num_frames"], ours_kw["base_num_frames"], ours_kw.get("overlap_history"), cbs,
                         ours_kw.get("ar_step", 0), STEPS, 0, None)
    prompt = dict(prompt="a red circle moves left", negative_prompt="blurry")
    with OurAddnoise(windows, 0, STEPS, ours_kw.get("ar_step", 0), cbs, ours_kw.get("addnoise_condition", 0)):
        expected = reference(pipes[kind], **prompt, **ref_kw, fps=24)
    pipe = load_pipeline(folder)
    assert pipe.mode == "diffusion_forcing"
    video = pipe(**prompt, **ours_kw, height=H, width=W, num_steps=STEPS, guidance_scale=5.0, shift=8.0, fps=24,
                 latents=diffusers_noise(windows), progress=False)
    print(case, compare(video, expected))


def test_start_image(df, tmp_path, monkeypatch):
    monkeypatch.setenv("SKYREELS_JAX_CACHE", str(tmp_path / "cache"))
    folder, pipes = df
    image = np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)
    prompt = dict(prompt="a cat", negative_prompt="blurry")
    expected = reference(pipes["i2v"], image=Image.fromarray(image), **prompt, num_frames=17, base_num_frames=17)
    windows = check_plan(17, 17, None, 1, 0, STEPS, 1, None)
    video = load_pipeline(folder)(**prompt, image=image, num_frames=17, base_num_frames=17, height=H, width=W,
                                  num_steps=STEPS, guidance_scale=5.0, shift=8.0, latents=diffusers_noise(windows),
                                  progress=False)
    print("start image", compare(video, expected))


def test_extension(df, tmp_path, monkeypatch):
    monkeypatch.setenv("SKYREELS_JAX_CACHE", str(tmp_path / "cache"))
    folder, pipes = df
    source = np.random.default_rng(2).integers(0, 256, (9, H, W, 3), dtype=np.uint8)
    prompt = dict(prompt="a dog", negative_prompt="blurry")
    expected = reference(pipes["v2v"], video=[Image.fromarray(f) for f in source], **prompt, num_frames=17,
                         base_num_frames=17, overlap_history=5)
    windows = check_plan(17, 17, 5, 1, 0, STEPS, 0, len(source))
    video = load_pipeline(folder)(**prompt, video=source, num_frames=17, base_num_frames=17, overlap_history=5,
                                  height=H, width=W, num_steps=STEPS, guidance_scale=5.0, shift=8.0,
                                  latents=diffusers_noise(windows), progress=False)
    # diffusers returns the input, then every decoded frame (the 5-frame overlap again); we return the
    # input, then the new frames
    assert np.array_equal(video[:9], source)
    print("extension", compare(video[9:], expected[9 + 5:]))
