"""The training defaults every config file starts from: `base_config(objective, workdir)`.

    from skyreels_jax.training.defaults import base_config
    def get_config():
        cfg = base_config("flow", "outputs/train/run")   # then change what differs
        return cfg

Run:  skyreels-jax train --config configs/train/tiny_flow.py [--set optim.lr=1e-3 --set total_steps=100]
"""
from __future__ import annotations

import ml_collections

from skyreels_jax.training.lora import DEFAULT_TARGETS

TINY_DIT = dict(dim=32, ffn_dim=64, num_heads=2, num_layers=2, text_dim=24)  # as configs/models.py "tiny-t2v"


def base_config(objective: str, workdir: str) -> ml_collections.ConfigDict:
    cfg = ml_collections.ConfigDict()
    cfg.objective = objective            # flow | diffusion_forcing | dpo | dmd
    cfg.workdir = workdir                # checkpoints/, metrics.jsonl, data/ (synthetic)
    cfg.seed = 0
    cfg.total_steps = 200
    cfg.log_every = 10
    cfg.init_checkpoint = ""             # a model folder (either published layout) to fine-tune from

    cfg.model = ml_collections.ConfigDict(dict(
        dit=dict(TINY_DIT),              # DiTConfig fields, used when init_checkpoint is empty
        remat=False,                     # rematerialise each block in the backward pass
        param_dtype="float32",           # "bfloat16" for bf16 parameters (and optimizer moments)
        dtype="float32",                 # compute dtype; "bfloat16" with float32 master weights
        attention="auto"))

    cfg.data = ml_collections.ConfigDict(dict(
        dir="",                          # a prepared tfds dataset folder (holds dataset_info.json); else synthetic
        batch_size=4,                    # global batch (split over hosts, then over grad_accum)
        text_len=8,                      # text embeddings are zero-padded to this many tokens (512 real)
        shuffle_seed=0,
        on_bad="raise",                  # raise | skip (counted and logged) for bad examples at build time
        synthetic=dict(num_examples=16, frames=3, height=8, width=8, channels=16, tokens=4,
                       text_dim=TINY_DIT["text_dim"], seed=0, image_dim=None)))   # image_dim: I2V examples

    cfg.noise = ml_collections.ConfigDict(dict(
        logit_mean=0.0, logit_std=1.0,   # logit-normal σ
        shift=1.0,                       # σ' = shift·σ/(1+(shift−1)·σ)
        non_decreasing=False, sync_prob=0.0, max_prefix=0))   # diffusion forcing only

    cfg.distill = ml_collections.ConfigDict(dict(   # dmd only (training/distill.py)
        num_steps=4, shift=3.0,          # the student's σ: the sampler's shift schedule at num_steps points
        guidance_scale=3.0,              # the teacher's CFG (1: none)
        critic_steps=4,                  # critic updates per generator update
        critic_lr=0.0,                   # 0: optim.lr
        uncond_context="",               # .npy [L, D] of the negative prompt's context; "": zeros
        sigma_min=0.02, sigma_max=0.98))  # the σ at which the critic and the teacher judge the generator

    cfg.dpo = ml_collections.ConfigDict(dict(beta=500.0, ref_refresh_every=0))  # 0: never refresh

    cfg.optim = ml_collections.ConfigDict(dict(
        lr=3e-3, warmup_steps=10, end_lr_ratio=0.1, weight_decay=0.0, b1=0.9, b2=0.999,
        clip_norm=1.0, grad_accum=1, ema_decay=0.0))        # ema_decay 0: no EMA

    cfg.lora = ml_collections.ConfigDict(dict(
        rank=0,                          # >0: train LoRA factors of this rank, the model frozen
        alpha=0.0,                       # scale alpha/rank (0: alpha = rank, scale 1)
        targets=DEFAULT_TARGETS))        # regex over parameter paths ("blocks/self_attn/q/kernel")

    cfg.mesh = ml_collections.ConfigDict(dict(data=1, fsdp=-1, context=1, tensor=1))  # -1: the devices left
    cfg.tensorboard = True               # also write workdir/tensorboard when the tensorboard package is there

    cfg.checkpoint = ml_collections.ConfigDict(dict(every=50, max_to_keep=2, async_save=True))
    return cfg
