"""The train state and the jitted train step.

The state is a plain dict pytree (what Orbax saves):
    {"params": nnx.State of nnx.Param, "opt_state": optax state, "step": int32 [],
     "rng": uint32 [2] base key, "ema": params (optional), "ref_params": params (DPO only),
     "base": the frozen full parameters (LoRA only; "params" is then the LoRA tree)}
The step is one pure function `step(state, batch) -> (state, metrics)` compiled once with
nn.jit.jit (jax.jit with the model calls' CPU compiler options, so that on CPU a bf16 step does not
hold a float32 copy of the whole layer stack); the model's graph definition and its non-parameter
state are closed over. To run it sharded, place the state and batch on a mesh first
(skyreels_jax.parallel) or pass `in_shardings`/`out_shardings`; nothing here names a mesh axis.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from skyreels_jax.nn.jit import jit
from skyreels_jax.training import lora
from skyreels_jax.training.objectives import Objective, draw_noise, objective_loss


def make_optimizer(lr: float, total_steps: int, *, warmup_steps: int = 0, end_lr_ratio: float = 0.0,
                   weight_decay: float = 0.0, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                   clip_norm: float | None = 1.0):
    """AdamW on a linear-warmup + cosine-decay schedule, after global-norm clipping.

    Returns (tx, schedule); schedule(step) is the learning rate used at that step.
    """
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0 if warmup_steps else lr, peak_value=lr, warmup_steps=warmup_steps,
        decay_steps=max(total_steps, warmup_steps + 1), end_value=lr * end_lr_ratio)
    chain = [optax.clip_by_global_norm(clip_norm)] if clip_norm else []
    chain.append(optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay))
    return optax.chain(*chain), schedule


def split_model(model: nnx.Module):
    """(graphdef, params, rest): trainable nnx.Param state and everything else (kept frozen)."""
    return nnx.split(model, nnx.Param, ...)


def apply_update(state: dict, grads, tx, schedule, ema_decay: float):
    """One optimizer step of state["params"] along grads: (the state with its new params, opt_state, step and
    EMA (decay·ema + (1 − decay)·params, in the EMA's dtypes), the step's {"grad_norm", "lr"})."""
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    new = {**state, "params": params, "opt_state": opt_state, "step": state["step"] + 1}
    if "ema" in state:
        new["ema"] = jax.tree.map(lambda e, p: (ema_decay * e + (1 - ema_decay) * p).astype(e.dtype), state["ema"],
                                  params)
    return new, {"grad_norm": optax.global_norm(grads), "lr": schedule(state["step"])}


def copy_tree(tree):
    """A copy with fresh buffers (so donating one tree never frees the other)."""
    return jax.tree.map(jnp.copy, tree)


def init_train_state(params, tx, *, seed: int = 0, ema: bool = False, reference: bool = False,
                     base=None) -> dict:
    """The initial state; with `base` (LoRA), params is the LoRA tree and base stays frozen."""
    state = {"params": params, "opt_state": tx.init(params), "step": jnp.zeros((), jnp.int32),
             "rng": jax.random.PRNGKey(seed)}
    if base is not None:
        state["base"] = base
    if ema:
        state["ema"] = copy_tree(params)
    if reference:
        state["ref_params"] = copy_tree(params)
    return state


def refresh_reference(state: dict) -> dict:
    """DPO: the frozen reference becomes a copy of the current policy."""
    return {**state, "ref_params": copy_tree(state["params"])}


def _split_micro(batch, n: int):
    def split(x):
        if x.shape[0] % n:
            raise ValueError(f"batch of {x.shape[0]} does not split into {n} accumulation micro-batches")
        return x.reshape((n, x.shape[0] // n) + x.shape[1:])
    return jax.tree.map(split, batch)


def _models(graphdef, rest, params, ref_params, base, lora_scale):
    """The policy and (DPO) reference modules; with a LoRA base, their LoRA trees merged into it."""
    def build(p):
        if p is None:
            return None
        return nnx.merge(graphdef, p if base is None else lora.merge(base, p, lora_scale), rest)
    return build(params), build(ref_params)


def make_train_step(graphdef, rest, tx, schedule, objective: Objective, *, grad_accum: int = 1,
                    ema_decay: float = 0.0, lora_scale: float = 1.0, donate: bool = True, in_shardings=None,
                    out_shardings=None):
    """Build the jitted `step(state, batch) -> (state, metrics)`.

    grad_accum>1 splits the batch (and the step's noise, drawn for the whole batch) into
    that many micro-batches along axis 0 and sums their weighted gradients in a lax.scan:
    one compiled step, one optimizer update, the same gradient as the full batch. Remat and bf16 are
    model options (DiTConfig.remat, .param_dtype, .dtype). With LoRA (a "base" in the state) the
    gradient is taken with respect to the LoRA tree only, merged with lora_scale. Each step's randomness is
    fold_in(rng, step), so a resumed run draws the same noise as an uninterrupted one.
    """

    def loss_fn(params, ref_params, base, batch, draw):
        model, ref_model = _models(graphdef, rest, params, ref_params, base, lora_scale)
        return objective_loss(objective, model, ref_model, batch, draw)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(state, batch):
        params, ref_params, base = state["params"], state.get("ref_params"), state.get("base")
        draw = draw_noise(objective, batch, jax.random.fold_in(state["rng"], state["step"]))
        if grad_accum == 1:
            (_, metrics), grads = grad_fn(params, ref_params, base, batch, draw)
        else:
            # Micro-batch i weighs (its scored frames / the batch's), so the accumulated
            # gradient is the gradient of the full batch's loss.
            micro_batches, micro_draws = _split_micro(batch, grad_accum), _split_micro(draw, grad_accum)
            counts = micro_draws["mask"].reshape(grad_accum, -1).sum(axis=1).astype(jnp.float32)
            weights = counts / jnp.maximum(counts.sum(), 1.0)

            def micro(carry, xs):
                w, mb, md = xs
                (_, m), g = grad_fn(params, ref_params, base, mb, md)
                acc_g, acc_m = carry
                acc_g = jax.tree.map(lambda a, b: a + w * b.astype(jnp.float32), acc_g, g)
                return (acc_g, jax.tree.map(lambda a, b: a + w * b, acc_m, m)), None

            zeros_g = jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
            shapes = jax.eval_shape(lambda: grad_fn(params, ref_params, base, _first(micro_batches),
                                                    _first(micro_draws))[0][1])
            zeros_m = jax.tree.map(lambda s: jnp.zeros(s.shape, jnp.float32), shapes)
            (grads, metrics), _ = jax.lax.scan(micro, (zeros_g, zeros_m), (weights, micro_batches, micro_draws))
        new, update_metrics = apply_update(state, grads, tx, schedule, ema_decay)
        return new, {**metrics, **update_metrics}

    kwargs = {}
    if in_shardings is not None:
        kwargs["in_shardings"] = in_shardings
    if out_shardings is not None:
        kwargs["out_shardings"] = out_shardings
    return jit(step, donate_argnums=(0,) if donate else (), **kwargs)


def _first(tree):
    return jax.tree.map(lambda x: x[0], tree)


def make_eval_fn(graphdef, rest, objective: Objective, *, lora_scale: float = 1.0):
    """Jitted `(params, ref_params, batch, key, base=None) -> metrics`, no update (held-out scores)."""

    @jit
    def evaluate(params, ref_params, batch, key, base=None):
        model, ref_model = _models(graphdef, rest, params, ref_params, base, lora_scale)
        return objective_loss(objective, model, ref_model, batch, draw_noise(objective, batch, key))[1]

    return evaluate
