"""The jitted train step on a tiny DiT: it learns, accumulates exactly, and its options hold."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from skyreels_jax.models.dit import DiT, DiTConfig
from skyreels_jax.training import synthetic
from skyreels_jax.training.objectives import Objective
from skyreels_jax.training.step import (
    init_train_state,
    make_eval_fn,
    make_optimizer,
    make_train_step,
    refresh_reference,
    split_model,
)

TINY = DiTConfig(dim=32, ffn_dim=64, num_heads=2, num_layers=2, text_dim=24)


def _batch(n=4, frames=3, kind="latents"):
    if kind == "latents":
        exs = [e for _, e in synthetic.latent_text_examples(n, frames=frames)]
        out = {"latents": np.stack([e["latents"] for e in exs])}
    else:
        exs = [e for _, e in synthetic.preference_examples(n, frames=frames)]
        out = {k: np.stack([e[k] for e in exs]) for k in ("chosen", "rejected")}
    out["context"] = np.stack([e["context"] for e in exs])
    out["fps_ids"] = np.ones(n, np.int32)
    return jax.tree.map(jnp.asarray, out)


def _setup(config=TINY, lr=3e-3, steps=60, **state_kw):
    graphdef, params, rest = split_model(DiT(config, rngs=nnx.Rngs(0)))
    tx, schedule = make_optimizer(lr, steps, warmup_steps=5)
    return graphdef, rest, tx, schedule, init_train_state(params, tx, **state_kw)


def test_tiny_dit_overfits_a_fixed_batch_bf16_compute_with_ema():
    # bf16 compute with float32 master weights; EMA of the parameters
    graphdef, rest, tx, schedule, state = _setup(dataclasses.replace(TINY, dtype="bfloat16"), ema=True)
    step = make_train_step(graphdef, rest, tx, schedule, Objective("flow"), ema_decay=0.9, donate=False)
    batch = _batch()
    new, m = step(state, batch)
    for e, p0, p1 in zip(jax.tree.leaves(new["ema"]), jax.tree.leaves(state["params"]), jax.tree.leaves(new["params"])):
        np.testing.assert_allclose(e, 0.9 * p0 + 0.1 * p1, rtol=1e-6, atol=1e-7)   # EMA after one step
    state, losses = new, [float(m["loss"])]
    for _ in range(59):
        state, m = step(state, batch)
        losses.append(float(m["loss"]))
    first, last = np.mean(losses[:5]), np.mean(losses[-10:])
    print(f"flow loss (bf16 compute): first 5 steps {first:.3f}, last 10 steps {last:.3f}")
    assert np.all(np.isfinite(losses)) and first / last > 1.8
    assert int(state["step"]) == 60 and float(m["lr"]) < 3e-3
    assert state["params"]["head"]["head"]["kernel"][...].dtype == jnp.float32


def test_accumulation_with_remat_equals_full_batch():
    obj = Objective("diffusion_forcing", non_decreasing=True, max_prefix=2)  # unequal scored frames
    graphdef, rest, tx, schedule, state = _setup()
    r_graphdef, r_rest, *_ = _setup(dataclasses.replace(TINY, remat=True))
    batch = _batch(frames=4)
    full = make_train_step(graphdef, rest, tx, schedule, obj, donate=False)
    accum = make_train_step(r_graphdef, r_rest, tx, schedule, obj, grad_accum=2, donate=False)
    _, m1 = full(state, batch)
    _, m2 = accum(state, batch)
    print(f"loss full {float(m1['loss']):.6f} accumulated+remat {float(m2['loss']):.6f}")
    np.testing.assert_allclose(m2["loss"], m1["loss"], rtol=1e-5)
    np.testing.assert_allclose(m2["grad_norm"], m1["grad_norm"], rtol=1e-5)
    with pytest.raises(ValueError, match="micro-batches"):
        make_train_step(graphdef, rest, tx, schedule, obj, grad_accum=3, donate=False)(state, batch)


def test_dpo_step_reference_and_refresh():
    obj = Objective("dpo", beta=50.0)
    graphdef, rest, tx, schedule, state = _setup(lr=1e-3, reference=True)
    step = make_train_step(graphdef, rest, tx, schedule, obj)
    evaluate = make_eval_fn(graphdef, rest, obj)
    batch = _batch(kind="pairs")
    state, m = step(state, batch)
    np.testing.assert_allclose(m["loss"], np.log(2.0), rtol=1e-6)   # policy == reference at the start
    assert float(m["reward_margin"]) == 0.0
    for _ in range(5):
        state, m = step(state, batch)
    key = jax.random.PRNGKey(7)
    assert float(evaluate(state["params"], state["ref_params"], batch, key)["reward_margin"]) != 0.0
    state = refresh_reference(state)
    assert float(evaluate(state["params"], state["ref_params"], batch, key)["reward_margin"]) == 0.0


def test_first_frame_condition_and_missing_i2v_data():
    from skyreels_jax.training.objectives import first_frame_condition
    from skyreels_jax.training.run_config import array_keys as _array_keys

    cond = jnp.arange(2 * 3 * 2 * 2 * 4, dtype=jnp.float32).reshape(2, 3, 2, 2, 4)
    y = np.asarray(first_frame_condition(cond))
    assert y.shape == (2, 3, 2, 2, 8)
    np.testing.assert_array_equal(y[:, 0, ..., :4], 1.0)       # latent frame 0 holds the known first frame
    np.testing.assert_array_equal(y[:, 1:, ..., :4], 0.0)
    np.testing.assert_array_equal(y[..., 4:], cond)

    class Cfg(dict):
        objective = "flow"

    i2v = dataclasses.replace(TINY, in_dim=36, image_dim=20)
    plain = [{"latents": 0, "context": 0}]
    assert _array_keys(Cfg(), TINY, plain) == ("latents",)
    with pytest.raises(ValueError, match="no \\['cond_latents', 'image_context'\\] for this i2v model.*--i2v"):
        _array_keys(Cfg(), i2v, plain)


def test_lora_merge_by_hand_and_lora_training():
    from skyreels_jax.training import lora

    w = nnx.Param(jnp.array([[1.0, 2.0], [3.0, 4.0]]), logical_axes=("embed", "mlp"))
    base = nnx.from_flat_state([(("ffn", "kernel"), w), (("ffn", "bias"), nnx.Param(jnp.ones(2)))])
    tree = lora.init(base, rank=1, targets=r"kernel$")
    assert tree["ffn"]["kernel"]["a"].get_metadata()["logical_axes"] == ("embed", None)
    tree["ffn"]["kernel"]["a"].set_value(jnp.array([[1.0], [2.0]]))
    tree["ffn"]["kernel"]["b"].set_value(jnp.array([[0.5, -1.0]]))
    merged = lora.merge(base, tree, scale=2.0)
    # W + 2·a·b = [[1, 2], [3, 4]] + 2·[[0.5, -1], [1, -2]]
    np.testing.assert_allclose(merged["ffn"]["kernel"][...], [[2.0, 0.0], [5.0, 0.0]])
    np.testing.assert_array_equal(merged["ffn"]["bias"][...], 1.0)
    with pytest.raises(ValueError, match="no parameter matches"):
        lora.init(base, rank=1, targets="nothing")

    graphdef, params, rest = split_model(DiT(TINY, rngs=nnx.Rngs(0)))
    tree = lora.init(params, rank=4)
    assert lora.count(tree) < 0.15 * lora.count(params)
    tx, schedule = make_optimizer(1e-2, 30, warmup_steps=2)
    state = init_train_state(tree, tx, base=params)
    step = make_train_step(graphdef, rest, tx, schedule, Objective("flow"), lora_scale=2.0, donate=False)
    batch = _batch()
    losses = []
    for _ in range(30):
        state, m = step(state, batch)
        losses.append(float(m["loss"]))
    print(f"LoRA flow loss: first 5 steps {np.mean(losses[:5]):.3f}, last 5 steps {np.mean(losses[-5:]):.3f}")
    assert np.mean(losses[:5]) / np.mean(losses[-5:]) > 1.3
    for a, b in zip(jax.tree.leaves(state["base"]), jax.tree.leaves(params)):
        np.testing.assert_array_equal(a, b)                               # the base never moves
    assert jax.tree.structure(state["params"]) == jax.tree.structure(tree)
