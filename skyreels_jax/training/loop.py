"""The training loop: model, data, state, checkpoints and metrics from one ml_collections config.

    from skyreels_jax.training.loop import train, load_config
    train(load_config("configs/train/tiny_flow.py"))

A rerun with the same workdir resumes from the latest checkpoint (state, data position and
RNG), so the resumed run reproduces the uninterrupted one. Metrics go to stdout and to
`workdir/metrics.jsonl` (entries past the resumed step are dropped on resume).
"""
from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import jax
import ml_collections
from flax import nnx

from skyreels_jax.models.dit import DiT, DiTConfig
from skyreels_jax.training import data, synthetic
from skyreels_jax.training.checkpoint import Checkpointer
from skyreels_jax.training.objectives import Objective
from skyreels_jax.training.step import (init_train_state, make_optimizer, make_train_step, refresh_reference,
                                        split_model)


def load_config(path: str | Path, overrides: dict | None = None) -> ml_collections.ConfigDict:
    """Call get_config() of a config file; overrides are {"a.b": value} applied on top.

    A config under a `configs/` folder may import its siblings (`from configs.train.common
    import ...`): that folder's parent is put on sys.path first.
    """
    path = Path(path).absolute()
    if not path.is_file():
        raise FileNotFoundError(f"no config file {path}")
    for parent in path.parents:
        if parent.name == "configs" and str(parent.parent) not in sys.path:
            sys.path.insert(0, str(parent.parent))
            break
    spec = importlib.util.spec_from_file_location(f"_train_config_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = module.get_config()
    for key, value in (overrides or {}).items():
        node = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            node = node[p]
        if parts[-1] not in node:
            raise KeyError(f"unknown config key {key!r}")
        node[parts[-1]] = value
    return cfg


def build_model(cfg) -> DiT:
    """A DiT from `cfg.init_checkpoint` (fine-tuning a published model) or fresh from cfg.model."""
    m = cfg.model
    opts = dict(remat=m.remat, attention=m.get("attention", "auto"))
    if cfg.get("init_checkpoint"):
        from skyreels_jax import load_transformer

        return load_transformer(cfg.init_checkpoint, m.dtype, param_dtype=m.param_dtype, **opts)
    dit_cfg = DiTConfig(**m.dit.to_dict(), dtype=m.dtype, param_dtype=m.param_dtype, **opts)
    return DiT(dit_cfg, rngs=nnx.Rngs(cfg.seed))


def _array_keys(cfg, model: DiT, source) -> tuple[str, ...]:
    """The arrays a batch needs: the videos of the objective, plus the I2V condition for image models."""
    keys = ("chosen", "rejected") if cfg.objective == "dpo" else ("latents",)
    if model.config.image_dim:
        keys += ("cond_latents", "image_context")
    missing = [k for k in keys if k not in source[0]]
    if missing:
        hint = (" (an image-to-video model trains on data preprocessed with --i2v)" if "cond_latents" in missing
                else "")
        raise ValueError(f"the training data has no {missing} for this {model.config.variant} model "
                         f"with objective {cfg.objective!r}{hint}")
    return keys


def prepare_source(cfg):
    """The random-access training source; builds the synthetic dataset first if configured."""
    d = cfg.data
    builder_cls = data.PreferencePairs if cfg.objective == "dpo" else data.LatentTextPairs
    if d.get("synthetic"):
        s = d.synthetic
        shape = (s.frames, s.height, s.width, s.channels)
        kw = dict(frames=s.frames, height=s.height, width=s.width, channels=s.channels, tokens=s.tokens,
                  text_dim=s.text_dim, seed=s.seed)
        if cfg.objective == "dpo":
            examples, extra = synthetic.preference_examples(s.num_examples, **kw), {}
        else:
            image_dim = s.get("image_dim")
            examples = synthetic.latent_text_examples(s.num_examples, image_dim=image_dim, **kw)
            extra = {"image_dim": image_dim}
        builder = data.build(builder_cls, Path(cfg.workdir) / "data", examples, latent_shape=shape,
                             text_dim=s.text_dim, on_bad=d.on_bad, **extra)
        return builder.as_data_source()["train"]
    return data.open_source(d.dir)


def _objective(cfg) -> Objective:
    return Objective(kind=cfg.objective, beta=cfg.dpo.beta, **cfg.noise.to_dict())


_STEP_CACHE: dict = {}


def _compiled_step(cfg, graphdef, rest, obj):
    """(tx, schedule, jitted step), reused by later train() calls in this process with the same
    model structure, objective and optimizer settings (a rerun resumes without recompiling)."""
    o = cfg.optim
    key = (graphdef, obj, cfg.total_steps, json.dumps(o.to_dict(), sort_keys=True))
    if key in _STEP_CACHE and not jax.tree.leaves(rest):
        return _STEP_CACHE[key]
    tx, schedule = make_optimizer(o.lr, cfg.total_steps, warmup_steps=o.warmup_steps, end_lr_ratio=o.end_lr_ratio,
                                  weight_decay=o.weight_decay, b1=o.b1, b2=o.b2, clip_norm=o.clip_norm)
    step_fn = make_train_step(graphdef, rest, tx, schedule, obj, grad_accum=o.grad_accum, ema_decay=o.ema_decay)
    if not jax.tree.leaves(rest):   # the step closes over `rest`; reuse it only when there is none
        _STEP_CACHE.clear()
        _STEP_CACHE[key] = tx, schedule, step_fn
    return tx, schedule, step_fn


def _trim_metrics(path: Path, last_step: int):
    if path.exists():
        keep = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= last_step]
        path.write_text("".join(line + "\n" for line in keep))


def train(cfg, *, stop_after: int | None = None, verbose: bool = True) -> dict:
    """Train to cfg.total_steps (resuming if a checkpoint exists); returns the final state and
    the last metrics. stop_after ends the run early after that step (to simulate a crash)."""
    workdir = Path(cfg.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    obj = _objective(cfg)
    o = cfg.optim
    model = build_model(cfg)
    graphdef, params, rest = split_model(model)
    tx, schedule, step_fn = _compiled_step(cfg, graphdef, rest, obj)
    state = init_train_state(params, tx, seed=cfg.seed, ema=o.ema_decay > 0, reference=obj.needs_reference)
    source = prepare_source(cfg)
    loader = data.make_loader(source, global_batch=cfg.data.batch_size, text_len=cfg.data.text_len,
                              seed=cfg.data.shuffle_seed, array_keys=_array_keys(cfg, model, source))
    it = iter(loader)

    c = cfg.checkpoint
    ckpt = Checkpointer(workdir / "checkpoints", save_every=c.every, max_to_keep=c.max_to_keep,
                        async_save=c.async_save)
    metrics_path = workdir / "metrics.jsonl"
    start = 0
    if ckpt.latest_step() is not None:
        state, meta = ckpt.restore(state)
        it.set_state(meta["data"])
        start = int(meta["step"])
        _trim_metrics(metrics_path, start)
        if verbose:
            print(f"resumed from step {start} ({ckpt.directory})")

    refresh = cfg.dpo.ref_refresh_every if obj.needs_reference else 0
    last, t0, n0 = {}, time.perf_counter(), start
    with metrics_path.open("a") as log:
        for step in range(start, cfg.total_steps):
            if refresh and step > 0 and step % refresh == 0:
                state = refresh_reference(state)
            state, metrics = step_fn(state, next(it))
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.total_steps:
                last = {k: float(v) for k, v in jax.device_get(metrics).items()}
                elapsed = time.perf_counter() - t0
                last.update(step=done, examples_per_s=(done - n0) * cfg.data.batch_size / elapsed)
                log.write(json.dumps(last) + "\n")
                log.flush()
                t0, n0 = time.perf_counter(), done
                if verbose:
                    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in last.items()))
            ckpt.save(done, state, {"step": done, "data": it.get_state()}, force=done == cfg.total_steps)
            if stop_after is not None and done >= stop_after:
                break
    ckpt.wait()
    ckpt.close()
    return {"state": state, "metrics": last, "graphdef": graphdef, "rest": rest}
