"""The training loop: model, data, state, checkpoints and metrics from one ml_collections config.

    from skyreels_jax.training.loop import train, load_config
    train(load_config("configs/train/tiny_flow.py"))

The state lives on a mesh (`cfg.mesh`, every device of every process by default) and each
process reads only its rows of every global batch, so the same code runs on one CPU or on
many hosts (`skyreels-jax train --distributed`). A rerun with the same workdir resumes from the
latest checkpoint (state, data position and RNG), so the resumed run reproduces the
uninterrupted one. Process 0 writes the metrics (training/metrics.py).
"""
from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import jax
from jax.sharding import NamedSharding, PartitionSpec

from skyreels_jax.config_files import load_config
from skyreels_jax.parallel import make_mesh
from skyreels_jax.training import lora, sharding
from skyreels_jax.training.checkpoint import Checkpointer
from skyreels_jax.training.loader import make_loader
from skyreels_jax.training.metrics import MetricsLog
from skyreels_jax.training.run_config import array_keys, build_model, objective, optimizer, prepare_source
from skyreels_jax.training.step import init_train_state, make_train_step, refresh_reference, split_model

__all__ = ["load_config", "train", "trained_params"]

_CACHE: dict = {}


def _cached(key, make):
    """Reuse optimizers and compiled steps across train() calls of this process (a rerun in the same
    process resumes without recompiling). Steps that close over arrays are not kept."""
    if key not in _CACHE:
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = make()
    return _CACHE[key]


def _trainable(cfg, params, mesh):
    """(trainable params, frozen base or None, LoRA scale): the LoRA tree when cfg.lora.rank > 0."""
    lc = cfg.get("lora")
    if not lc or not lc.rank:
        return params, None, 1.0
    tree = sharding.place(lora.init(params, lc.rank, lc.targets, seed=cfg.seed), mesh)
    return tree, params, (lc.alpha or lc.rank) / lc.rank


FROZEN = ("base", "teacher", "uncond")   # LoRA's base, a distillation's teacher and CFG context: from the config


def _saved(state: dict) -> dict:
    """What a checkpoint holds: everything but the frozen trees."""
    return {k: v for k, v in state.items() if k not in FROZEN}


def train(cfg, *, stop_after: int | None = None, verbose: bool = True) -> dict:
    """Train to cfg.total_steps (resuming if a checkpoint exists); returns the final state and
    the last metrics. stop_after ends the run early after that step (to simulate a crash, or to look at
    the model on the way); a run resumed at or past it takes no step."""
    workdir = Path(cfg.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    mesh = make_mesh(**cfg.mesh.to_dict()) if cfg.get("mesh") else make_mesh()
    obj, o = objective(cfg), cfg.optim
    model = build_model(cfg, mesh)
    dit_config = model.config
    graphdef, params, rest = split_model(model)
    del model          # its parameters are donated to the state below
    if not cfg.get("init_checkpoint"):
        params = sharding.place(params, mesh)
    params, base, lora_scale = _trainable(cfg, params, mesh)

    options = {"optim": o.to_dict(), "lora": cfg.lora.to_dict() if cfg.get("lora") else None}
    settings = (graphdef, obj, mesh, cfg.total_steps, json.dumps(options, sort_keys=True))
    tx, schedule = _cached(("optimizer",) + settings, lambda: optimizer(cfg))
    if obj.kind == "dmd":
        state, shardings, step_fn = _distill_state_and_step(cfg, mesh, graphdef, rest, params, base, tx, schedule,
                                                             dit_config, settings)
    else:
        init = functools.partial(init_train_state, tx=tx, seed=cfg.seed, ema=o.ema_decay > 0,
                                 reference=obj.needs_reference)
        state, shardings = sharding.init_state(init, mesh, params)
        if base is not None:
            state["base"], shardings["base"] = base, sharding.tree_shardings(base, mesh)

        def make_step():
            return make_train_step(graphdef, rest, tx, schedule, obj, grad_accum=o.grad_accum,
                                   ema_decay=o.ema_decay, lora_scale=lora_scale,
                                   out_shardings=(shardings, NamedSharding(mesh, PartitionSpec())))
        step_fn = make_step() if jax.tree.leaves(rest) else _cached(("step", base is not None) + settings, make_step)

    source = prepare_source(cfg)
    batch_size = cfg.data.batch_size
    it = iter(make_loader(source, global_batch=batch_size, text_len=cfg.data.text_len, seed=cfg.data.shuffle_seed,
                          array_keys=array_keys(cfg, dit_config, source), rows=sharding.local_rows(mesh, batch_size)))

    c = cfg.checkpoint
    ckpt = Checkpointer(workdir / "checkpoints", save_every=c.every, max_to_keep=c.max_to_keep,
                        async_save=c.async_save)
    start = 0
    if ckpt.latest_step() is not None:
        restored, meta = ckpt.restore(_saved(state))
        state = {**state, **restored}
        it.set_state(meta["data"])
        start = int(meta["step"])
        if verbose and jax.process_index() == 0:
            print(f"resumed from step {start} ({ckpt.directory})")
    log = MetricsLog(workdir, start_step=start, enabled=jax.process_index() == 0, verbose=verbose,
                     tensorboard=cfg.get("tensorboard", True))

    refresh = cfg.dpo.ref_refresh_every if obj.needs_reference else 0
    last, t0, n0 = {}, time.perf_counter(), start
    end = cfg.total_steps if stop_after is None else min(cfg.total_steps, stop_after)
    for step in range(start, end):
        if refresh and step > 0 and step % refresh == 0:
            state = refresh_reference(state)
        state, metrics = step_fn(state, sharding.global_batch(next(it), mesh, batch_size))
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.total_steps:
            last = {k: float(v) for k, v in jax.device_get(metrics).items()}
            last["examples_per_s"] = (done - n0) * batch_size / (time.perf_counter() - t0)
            log.write(done, last)
            t0, n0 = time.perf_counter(), done
        ckpt.save(done, _saved(state), {"step": done, "data": it.get_state()}, force=done == cfg.total_steps)
    ckpt.wait()
    ckpt.close()
    log.close()
    return {"state": state, "metrics": last, "graphdef": graphdef, "rest": rest, "lora_scale": lora_scale}


def _distill_state_and_step(cfg, mesh, graphdef, rest, params, base, tx, schedule, dit_config, settings):
    """A dmd run's state (generator, critic, frozen teacher) on the mesh, and its jitted step (reused by
    later runs of the same settings in this process)."""
    from skyreels_jax.training.distill import init_distill_state, make_distill_step
    from skyreels_jax.training.run_config import distillation

    o = cfg.optim
    if base is not None or o.grad_accum != 1:
        raise ValueError("objective 'dmd' trains the full DiT in one batch: set lora.rank=0 and optim.grad_accum=1")
    d, uncond = distillation(cfg, dit_config)
    key = ("distill", d, cfg.distill.critic_lr) + settings
    critic_tx, _ = _cached(key + ("critic optimizer",), lambda: optimizer(cfg, critic=True))
    init = functools.partial(init_distill_state, tx=tx, critic_tx=critic_tx, uncond=uncond, seed=cfg.seed,
                             ema=o.ema_decay > 0)
    state, shardings = sharding.init_state(init, mesh, params)

    def make_step():
        return make_distill_step(graphdef, rest, tx, critic_tx, schedule, d, ema_decay=o.ema_decay,
                                 out_shardings=(shardings, NamedSharding(mesh, PartitionSpec())))
    step_fn = make_step() if jax.tree.leaves(rest) else _cached(key + ("step",), make_step)
    return state, shardings, step_fn


def trained_params(result: dict, *, ema: bool = True):
    """The full parameters a train() result ends with: the EMA (when kept and ema=True) or the raw
    weights, with a LoRA tree merged into its base. nnx.merge(result["graphdef"], this, result["rest"])
    is the trained DiT."""
    state = result["state"]
    params = state["ema"] if ema and "ema" in state else state["params"]
    return params if "base" not in state else lora.merge(state["base"], params, result["lora_scale"])
