"""Training: flow matching, diffusion forcing and flow-DPO for the SkyReels-V2 DiT.

- losses.py: pure loss and noise-level functions (logit-normal σ with shift, per-frame σ,
  flow-DPO);
- objectives.py: those losses wired to a DiT (draw a step's noise, score a batch);
- step.py: train state, AdamW + warmup-cosine + clipping, EMA, gradient accumulation, jit;
- lora.py: LoRA factors on chosen kernels, merged into the frozen base inside the step;
- data.py, loader.py, synthetic.py: tfds builders without TensorFlow, the grain loader (each
  host reads its rows of every global batch), tiny datasets;
- videos.py, preprocess.py, preprocess_cli.py: mp4 folder + captions -> clips -> latents and text
  embeddings (`skyreels-jax preprocess`), sharded over processes, resumable;
- sharding.py: the state and batches on a mesh, one host or many;
- checkpoint.py, metrics.py: Orbax CheckpointManager (state + data position); JSONL/TensorBoard;
- defaults.py, run_config.py, loop.py, cli.py: `skyreels-jax train --config configs/train/tiny_flow.py`
  (config files start from defaults.base_config; skyreels_jax.config_files loads them).
"""
from skyreels_jax.training.losses import (
                                          flow_dpo_loss,
                                          flow_matching_loss,
                                          noisy_latents,
                                          sample_frame_sigmas,
                                          sample_sigma,
                                          shift_sigma,
)
from skyreels_jax.training.objectives import Objective
from skyreels_jax.training.step import (
                                          init_train_state,
                                          make_eval_fn,
                                          make_optimizer,
                                          make_train_step,
                                          refresh_reference,
                                          split_model,
)

__all__ = ["Objective", "flow_dpo_loss", "flow_matching_loss", "init_train_state", "make_eval_fn", "make_optimizer",
           "make_train_step", "noisy_latents", "refresh_reference", "sample_frame_sigmas", "sample_sigma",
           "shift_sigma", "split_model"]
