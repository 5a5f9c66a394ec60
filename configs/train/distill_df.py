"""Distribution matching distillation of a published diffusion-forcing model into a 4-step student
without CFG (the recipe of docs/distillation.md, at the published models' settings).

    skyreels-jax train --config configs/train/distill_df.py \\
        --set init_checkpoint=MODEL/transformer --set data.dir=LATENTS --set distill.uncond_context=NEG.npy \\
        [--distributed ...]                      # every host of a TPU slice runs the same command

MODEL: a downloaded SkyReels-V2-DF-1.3B-540P (or 14B) folder; LATENTS: clips prepared with
`skyreels-jax preprocess` (latents + text contexts at the model's size); NEG.npy: the negative
prompt's context [tokens, 4096] (docs/distillation.md shows the two lines that write it). The DiT's
parameters, the critic's and the frozen teacher's are sharded over the whole mesh (fsdp); the
student is the checkpoint's "ema" (or "params") tree.
"""
from skyreels_jax.training.defaults import base_config


def get_config():
    cfg = base_config("dmd", "outputs/distill_df")
    cfg.init_checkpoint = ""              # set: MODEL/transformer
    cfg.data.synthetic = None
    cfg.data.batch_size = 32              # global; a multiple of the data x fsdp devices
    cfg.data.text_len = 512
    cfg.model.remat = True
    cfg.model.param_dtype = "float32"     # master weights; compute in bfloat16
    cfg.model.dtype = "bfloat16"
    cfg.total_steps = 2000
    cfg.log_every = 10
    cfg.noise.shift = 8.0                 # as the published models sample
    cfg.noise.non_decreasing = True
    cfg.noise.sync_prob = 0.5
    cfg.noise.max_prefix = 6              # up to the history of a 97-frame window with 17 frames of overlap
    cfg.distill.num_steps = 4
    cfg.distill.shift = 8.0
    cfg.distill.guidance_scale = 6.0      # the published DF models' CFG
    cfg.distill.critic_steps = 5          # DMD2's
    cfg.optim.lr = 2e-6                   # DMD2's order for large models; the toy took 2e-4
    cfg.optim.warmup_steps = 50
    cfg.optim.b1 = 0.0                    # DMD2's Adam betas (0, 0.999): a moving critic makes momentum stale
    cfg.optim.end_lr_ratio = 1.0
    cfg.optim.ema_decay = 0.95
    cfg.checkpoint.every = 100
    return cfg
