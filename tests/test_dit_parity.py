"""The Flax DiT against diffusers' SkyReelsV2Transformer3DModel on tiny random weights, both layouts."""
import numpy as np
import pytest

from skyreels_jax import load_transformer
from tests.conftest import rel_err
from tests.dit_fixtures import (
    IMAGE_TOKENS,
    TEXT_TOKENS,
    build_reference,
    reference_forward,
    save_diffusers,
    save_original,
)

TOL = 1e-5  # float32, ‖out−ref‖/‖ref‖


def make_inputs(model, variant, batch, frames=4, fps=None, seed=0):
    rng = np.random.default_rng(seed)
    cfg = model.config
    inputs = dict(
        latents=rng.standard_normal((batch, frames, 8, 12, cfg.in_channels), dtype=np.float32),
        context=rng.standard_normal((batch, TEXT_TOKENS, cfg.text_dim), dtype=np.float32),
    )
    if variant in ("df", "causal"):  # distinct per-frame timesteps, as diffusion forcing uses them
        inputs["timestep"] = rng.uniform(0, 1000, (batch, frames)).astype(np.float32)
    else:
        inputs["timestep"] = np.linspace(999.0, 216.0, batch, dtype=np.float32)
    if cfg.image_dim:
        tokens = IMAGE_TOKENS * (2 if cfg.pos_embed_seq_len else 1)
        inputs["image_context"] = rng.standard_normal((batch, tokens, cfg.image_dim), dtype=np.float32)
    if fps is not None:
        inputs["fps"] = [fps] * batch
    return inputs


def save(model, layout, variant, folder):
    return save_diffusers(model, folder) if layout == "diffusers" else save_original(model, folder, variant)


CASES = [("t2v", None, 2), ("df", 16, 1), ("df", 24, 1), ("i2v", None, 2), ("flf2v", None, 2), ("causal", None, 2)]


@pytest.mark.parametrize("layout", ["diffusers", "original"])
@pytest.mark.parametrize("variant,fps,batch", CASES)
def test_matches_diffusers(variant, fps, batch, layout, tmp_path):
    # diffusers adds the fps term correctly only for batch 1 (it tiles over frames, not batch)
    reference = build_reference(variant)
    folder = save(reference, layout, variant, tmp_path / layout)
    # the original layout has no causal flag in config.json: the mask is a load-time option there
    extra = dict(causal_block_size=2) if variant == "causal" and layout == "original" else {}
    dit = load_transformer(folder, **extra)
    assert dit.config.causal_block_size == (2 if variant == "causal" else 0)
    inputs = make_inputs(reference, variant, batch, fps=fps)
    ours = np.asarray(dit(**inputs))
    ref = reference_forward(reference, **inputs)
    assert ours.shape == ref.shape
    assert rel_err(ours, ref) <= TOL


def test_per_frame_timesteps_change_only_their_frames_modulation(tmp_path):
    """A DF forward with one frame's timestep changed differs from the original forward (the
    per-frame path is live), and equals a forward where every frame has its own value broadcast."""
    reference = build_reference("df")
    dit = load_transformer(save_diffusers(reference, tmp_path / "df"))
    inputs = make_inputs(reference, "df", 1, fps=24)
    base = np.asarray(dit(**inputs))
    changed = dict(inputs, timestep=inputs["timestep"].copy())
    changed["timestep"][0, 2] = 0.0
    assert rel_err(np.asarray(dit(**changed)), base) > 1e-3
    same = dict(inputs, timestep=np.full((1,), 500.0, np.float32))
    per_frame = dict(inputs, timestep=np.full((1, 4), 500.0, np.float32))
    np.testing.assert_allclose(np.asarray(dit(**same)), np.asarray(dit(**per_frame)), rtol=0, atol=0)


def test_block_causal_mask_hides_later_frames(tmp_path):
    """With causal blocks of 2 frames, changing frames 2-3 leaves the output of frames 0-1 unchanged."""
    reference = build_reference("causal")
    dit = load_transformer(save_diffusers(reference, tmp_path / "causal"))
    inputs = make_inputs(reference, "causal", 1)
    base = np.asarray(dit(**inputs))
    later = dict(inputs, latents=inputs["latents"].copy())
    later["latents"][:, 2:] += 1.0
    out = np.asarray(dit(**later))
    np.testing.assert_allclose(out[:, :2], base[:, :2], rtol=1e-6, atol=1e-6)
    assert rel_err(out[:, 2:], base[:, 2:]) > 1e-3
