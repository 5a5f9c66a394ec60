"""Distribution matching distillation: the jitted DMD step on a tiny DiT, its per-frame noise levels,
its gradient, and a crash-and-resume of a dmd run through the training loop."""
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from skyreels_jax.models.dit import DiT, DiTConfig
from skyreels_jax.training import losses, synthetic
from skyreels_jax.training.checkpoint import Checkpointer
from skyreels_jax.training.distill import Distillation, init_distill_state, make_distill_step
from skyreels_jax.training.loop import load_config, train
from skyreels_jax.training.objectives import Objective
from skyreels_jax.training.step import make_optimizer, split_model

TINY = DiTConfig(dim=32, ffn_dim=64, num_heads=2, num_layers=2, text_dim=24)
CONFIGS = Path(__file__).parents[1] / "configs" / "train"
NOISE = Objective("dmd", shift=3.0, non_decreasing=True, sync_prob=0.3, max_prefix=1)
SIGMAS, TIMESTEPS = (0.9997, 0.8996, 0.7496, 0.4997), (999.0, 899.0, 749.0, 499.0)


def _batch(n=2, frames=3):
    exs = [e for _, e in synthetic.latent_text_examples(n, frames=frames)]
    return {"latents": jnp.asarray(np.stack([e["latents"] for e in exs])),
            "context": jnp.asarray(np.stack([e["context"] for e in exs])), "fps_ids": jnp.ones(n, jnp.int32)}


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_dmd_step_trains_generator_and_critic_and_keeps_the_teacher():
    graphdef, params, rest = split_model(DiT(TINY, rngs=nnx.Rngs(0)))
    tx, schedule = make_optimizer(1e-3, 10)
    critic_tx, _ = make_optimizer(1e-3, 20)
    state = init_distill_state(params, tx, critic_tx, ema=True)
    teacher = _leaves(state["teacher"])
    d = Distillation(SIGMAS, TIMESTEPS, NOISE, guidance_scale=3.0, critic_steps=2)
    uncond = np.zeros((1, 4, TINY.text_dim), np.float32)
    step = make_distill_step(graphdef, rest, tx, critic_tx, schedule, d, uncond, ema_decay=0.5, donate=False)
    batch = _batch()
    new, m = step(state, batch)
    new, m = step(new, batch)
    assert all(np.isfinite(float(m[k])) for k in ("loss", "critic_loss", "grad_norm", "dmd_norm"))
    assert float(m["loss"]) > 0 and float(m["grad_norm"]) > 0
    assert int(new["step"]) == 2 and int(new["critic_opt_state"][1][0].count) == 4   # 2 critic updates a step
    for name in ("params", "critic", "ema"):
        changed = [not np.array_equal(a, b) for a, b in zip(_leaves(state[name]), _leaves(new[name]))]
        assert sum(changed) > len(changed) // 2, name
    for a, b in zip(teacher, _leaves(new["teacher"])):
        np.testing.assert_array_equal(a, b)
    # generator and critic move apart: they were equal and are trained on different losses
    assert any(not np.array_equal(a, b) for a, b in zip(_leaves(new["params"]), _leaves(new["critic"])))


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
    sets = {"total_steps": 3, "log_every": 1, "checkpoint.every": 2, "distill.critic_steps": 1, "data.batch_size": 2,
            "checkpoint.async_save": False}
    straight = train(load_config(CONFIGS / "tiny_distill.py", {**sets, "workdir": str(tmp_path / "a")}), verbose=False)
    cfg = load_config(CONFIGS / "tiny_distill.py", {**sets, "workdir": str(tmp_path / "b")})
    train(cfg, stop_after=2, verbose=False)
    resumed = train(cfg, verbose=False)
    a, b = straight["state"], resumed["state"]
    assert Checkpointer(tmp_path / "b" / "checkpoints").all_steps() == [2, 3]
    saved, _ = Checkpointer(tmp_path / "b" / "checkpoints").restore({k: v for k, v in a.items() if k != "teacher"})
    assert "teacher" not in saved
    for name in ("params", "critic", "critic_opt_state", "opt_state", "step", "rng"):
        for x, y in zip(_leaves(a[name]), _leaves(b[name])):
            np.testing.assert_array_equal(x, y, err_msg=name)
    curves = [[(r["step"], r["loss"], r["critic_loss"]) for r in map(json.loads, (tmp_path / w / "metrics.jsonl")
                                                                     .read_text().splitlines())] for w in "ab"]
    assert [s for s, *_ in curves[1]] == [1, 2, 3] and curves[0] == curves[1]
