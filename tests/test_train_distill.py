"""Distribution matching distillation: the jitted DMD step of a tiny DiT through the training loop, its
per-frame noise levels, its gradient, and a crash-and-resume of a dmd run."""
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skyreels_jax.training import losses
from skyreels_jax.training.checkpoint import Checkpointer
from skyreels_jax.training.distill import Distillation
from skyreels_jax.training.loop import load_config, train
from skyreels_jax.training.objectives import Objective
from skyreels_jax.training.run_config import build_model
from skyreels_jax.training.step import split_model

CONFIGS = Path(__file__).parents[1] / "configs" / "train"
SIGMAS, TIMESTEPS = (0.9997, 0.8996, 0.7496, 0.4997), (999.0, 899.0, 749.0, 499.0)


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


# one compiled step serves both loop tests (the loop reuses it for runs of the same settings)
SETS = {"total_steps": 3, "log_every": 1, "checkpoint.every": 2, "distill.critic_steps": 2, "data.batch_size": 2,
        "checkpoint.async_save": False, "optim.ema_decay": 0.5}


def test_dmd_step_trains_generator_and_critic_and_keeps_the_teacher(tmp_path):
    cfg = load_config(CONFIGS / "tiny_distill.py", {**SETS, "workdir": str(tmp_path)})
    out = train(cfg, verbose=False)
    state, m = out["state"], out["metrics"]
    assert all(np.isfinite(m[k]) for k in ("loss", "critic_loss", "grad_norm", "dmd_norm", "fake_real_gap"))
    assert m["loss"] > 0 and m["grad_norm"] > 0 and m["fake_real_gap"] > 0
    assert int(state["step"]) == 3 and int(state["critic_opt_state"][1][0].count) == 6   # 2 critic updates a step
    initial = _leaves(split_model(build_model(cfg))[1])       # the teacher the run started from
    for a, b in zip(initial, _leaves(state["teacher"])):
        np.testing.assert_array_equal(a, b)
    for name in ("params", "critic", "ema"):
        changed = [not np.array_equal(a, b) for a, b in zip(initial, _leaves(state[name]))]
        assert sum(changed) > len(changed) // 2, name
    # generator and critic move apart: they start equal and follow different losses
    assert any(not np.array_equal(a, b) for a, b in zip(_leaves(state["params"]), _leaves(state["critic"])))


def test_student_noise_levels_are_per_frame_non_decreasing_with_clean_prefixes():
    index, mask = losses.sample_grid_frames(jax.random.PRNGKey(0), 512, 6, 4, non_decreasing=True,
                                            sync_prob=0.25, max_prefix=3)
    sigma = np.asarray(jnp.asarray(SIGMAS + (0.0,))[index])
    index, mask = np.asarray(index), np.asarray(mask)
    clean = index == 4
    assert np.array_equal(mask, ~clean)
    n_clean = clean.sum(axis=1)
    assert n_clean.max() == 3 and (n_clean == 0).any()
    assert all(clean[b, :k].all() for b, k in enumerate(n_clean))          # the clean frames lead
    assert (np.diff(sigma, axis=1) >= 0).all()                              # σ never decreases along frames
    noisy = [set(row[~c]) for row, c in zip(index, clean)]
    assert {0, 1, 2, 3} <= set().union(*noisy)                              # every level is drawn
    assert 0.1 < np.mean([len(s) == 1 for s in noisy]) < 0.7                # some synchronous, most not
    assert any(len(s) > 1 for s in noisy)


def test_dmd_loss_gradient_is_the_normalised_fake_minus_real():
    k = jax.random.split(jax.random.PRNGKey(1), 3)
    x0, fake, real = (jax.random.normal(key, (2, 3, 2, 2, 4)) for key in k)
    mask = jnp.asarray([[False, True, True], [True, True, True]])
    grad = jax.grad(lambda x: losses.dmd_loss(x, fake, real, mask)[0])(x0)
    m = np.asarray(mask, np.float32)[:, :, None, None, None]
    norm = (np.abs(np.asarray(x0 - real)) * m).sum(axis=(1, 2, 3, 4)) / (m.sum(axis=(1, 2, 3, 4)) * 16)
    expected = np.asarray(fake - real) / norm[:, None, None, None, None] * m / (m.sum() * 16)
    np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-5, atol=1e-7)


def test_dmd_run_resumes_like_an_uninterrupted_run(tmp_path):
    straight = train(load_config(CONFIGS / "tiny_distill.py", {**SETS, "workdir": str(tmp_path / "a")}), verbose=False)
    cfg = load_config(CONFIGS / "tiny_distill.py", {**SETS, "workdir": str(tmp_path / "b")})
    train(cfg, stop_after=2, verbose=False)
    resumed = train(cfg, verbose=False)
    a, b = straight["state"], resumed["state"]
    assert Checkpointer(tmp_path / "b" / "checkpoints").all_steps() == [2, 3]
    saved, _ = Checkpointer(tmp_path / "b" / "checkpoints").restore(
        {k: v for k, v in a.items() if k not in ("teacher", "uncond")})
    assert "teacher" not in saved and "uncond" not in saved
    for name in ("params", "critic", "critic_opt_state", "opt_state", "ema", "step", "rng"):
        for x, y in zip(_leaves(a[name]), _leaves(b[name])):
            np.testing.assert_array_equal(x, y, err_msg=name)
    curves = [[(r["step"], r["loss"], r["critic_loss"]) for r in map(json.loads, (tmp_path / w / "metrics.jsonl")
                                                                     .read_text().splitlines())] for w in "ab"]
    assert [s for s, *_ in curves[1]] == [1, 2, 3] and curves[0] == curves[1]


def test_bad_distillation_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="critic_steps must be at least 1"):
        Distillation(SIGMAS, TIMESTEPS, Objective("dmd"), critic_steps=0)
    with pytest.raises(ValueError, match="guidance_scale must be at least 1"):
        Distillation(SIGMAS, TIMESTEPS, Objective("dmd"), guidance_scale=0.5)
    cfg = load_config(CONFIGS / "tiny_distill.py", {"lora.rank": 4, "workdir": str(tmp_path)})
    with pytest.raises(ValueError, match="set lora.rank=0"):
        train(cfg, verbose=False)
