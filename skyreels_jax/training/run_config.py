"""What a training config describes: the model, the data and the objective."""
from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
from flax import nnx

from skyreels_jax.models.dit import DiT, DiTConfig
from skyreels_jax.training import data, synthetic
from skyreels_jax.training.objectives import Objective
from skyreels_jax.training.step import make_optimizer


def build_model(cfg, mesh=None) -> DiT:
    """A DiT from `cfg.init_checkpoint` (fine-tuning a published model; its parameters go straight
    onto the mesh) or fresh from cfg.model (the same random values on every process)."""
    m = cfg.model
    opts = dict(remat=m.remat, attention=m.get("attention", "auto"))
    if cfg.get("init_checkpoint"):
        from skyreels_jax.models.dit import load_transformer

        return load_transformer(cfg.init_checkpoint, m.dtype, param_dtype=m.param_dtype, mesh=mesh, **opts)
    dit_cfg = DiTConfig(**m.dit.to_dict(), dtype=m.dtype, param_dtype=m.param_dtype, **opts)
    return DiT(dit_cfg, rngs=nnx.Rngs(cfg.seed))


def array_keys(cfg, dit: DiTConfig, source) -> tuple[str, ...]:
    """The arrays a batch needs: the videos of the objective, plus the I2V condition for image models."""
    keys = ("chosen", "rejected") if cfg.objective == "dpo" else ("latents",)   # dmd: the latents to noise
    if dit.image_dim:
        keys += ("cond_latents", "image_context")
    missing = [k for k in keys if k not in source[0]]
    if missing:
        hint = (" (an image-to-video model trains on data preprocessed with --i2v)" if "cond_latents" in missing
                else "")
        raise ValueError(f"the training data has no {missing} for this {dit.variant} model "
                         f"with objective {cfg.objective!r}{hint}")
    return keys


def prepare_source(cfg):
    """The random-access training source: the prepared dataset at cfg.data.dir, or else the synthetic
    one (built first)."""
    d = cfg.data
    builder_cls = data.PreferencePairs if cfg.objective == "dpo" else data.LatentTextPairs
    if d.get("dir"):
        return data.open_source(d.dir)
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

        def build():
            return data.build(builder_cls, Path(cfg.workdir) / "data", examples, latent_shape=shape,
                              text_dim=s.text_dim, on_bad=d.on_bad, **extra)

        if jax.process_count() == 1:
            return build().as_data_source()["train"]
        from jax.experimental import multihost_utils

        if jax.process_index() == 0:       # one writer; the others then open what it wrote
            build()
        multihost_utils.sync_global_devices("synthetic training data")
        return build().as_data_source()["train"]
    raise ValueError("no training data: set data.dir to a prepared dataset folder (skyreels-jax preprocess)")


def objective(cfg) -> Objective:
    return Objective(kind=cfg.objective, beta=cfg.dpo.beta, **cfg.noise.to_dict())


def optimizer(cfg, *, critic: bool = False):
    """(tx, lr schedule) from cfg.optim: the trained DiT's, or with critic=True a dmd run's critic's (lr
    distill.critic_lr, else optim.lr; its schedule counts distill.critic_steps updates per train step)."""
    o = cfg.optim
    updates = cfg.distill.critic_steps if critic else 1
    lr = (cfg.distill.critic_lr or o.lr) if critic else o.lr
    return make_optimizer(lr, cfg.total_steps * updates, warmup_steps=o.warmup_steps * updates,
                          end_lr_ratio=o.end_lr_ratio, weight_decay=o.weight_decay, b1=o.b1, b2=o.b2,
                          clip_norm=o.clip_norm)


def distillation(cfg, dit: DiTConfig):
    """(Distillation, unconditional context [1, L, D]) of a dmd config: the student's σ are the
    sampler's shift schedule at cfg.distill.num_steps points, exactly what it will be sampled at."""
    from skyreels_jax.schedulers import make_schedule
    from skyreels_jax.training.distill import Distillation

    c = cfg.distill
    if c.num_steps < 1:
        raise ValueError(f"distill.num_steps must be at least 1, got {c.num_steps}")
    schedule = make_schedule("shift", c.num_steps, c.shift)
    d = Distillation(tuple(float(s) for s in schedule.sigmas[:-1]), tuple(float(t) for t in schedule.timesteps),
                     objective(cfg), guidance_scale=c.guidance_scale, critic_steps=c.critic_steps,
                     sigma_range=(c.sigma_min, c.sigma_max))
    if not c.uncond_context:
        return d, np.zeros((1, cfg.data.text_len, dit.text_dim), np.float32)
    ctx = np.load(c.uncond_context).astype(np.float32)
    if ctx.ndim != 2 or ctx.shape[1] != dit.text_dim or ctx.shape[0] > cfg.data.text_len:
        raise ValueError(f"distill.uncond_context {c.uncond_context} has shape {ctx.shape}; it must be "
                         f"[tokens <= data.text_len={cfg.data.text_len}, {dit.text_dim}]")
    return d, np.pad(ctx, ((0, cfg.data.text_len - ctx.shape[0]), (0, 0)))[None]
