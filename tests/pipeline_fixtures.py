"""Tiny random diffusers SkyReels-V2 pipelines (T2V, I2V, FLF2V) saved as pipeline folders."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import T5Tokenizer

from tests import dit_fixtures, vae_fixtures
from tests.encoder_fixtures import CLIP_IMAGE, build_clip, build_umt5, make_tokenizer

SIGMA_MAX = float(np.float32(0.999))  # the original reads 0.999 back from a float32 tensor
Z = vae_fixtures.TINY["z_dim"]


def original_sigmas(scheduler):
    """Make a diffusers UniPC scheduler use the original's sigmas, linspace(0.999, 0)."""
    set_timesteps = scheduler.set_timesteps

    def patched(num_inference_steps=None, device=None, **_):
        set_timesteps(sigmas=np.linspace(SIGMA_MAX, 0, num_inference_steps + 1)[:-1], device=device)

    scheduler.set_timesteps = patched
    return scheduler


def build_pipeline(mode: str, root: Path, shift: float = 8.0, dit: dict | None = None):
    """(folder, diffusers pipeline) for mode "t2v", "i2v" or "flf2v"; dit overrides the tiny DiT's
    diffusers config (e.g. num_layers)."""
    from diffusers import SkyReelsV2ImageToVideoPipeline, SkyReelsV2Pipeline, UniPCMultistepScheduler

    tok_dir = make_tokenizer(root / "tokenizer_src")
    tokenizer = T5Tokenizer.from_pretrained(str(tok_dir))
    text_encoder = build_umt5(len(tokenizer))
    vae = vae_fixtures.build_reference()
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=shift,
                                        solver_order=2, solver_type="bh2", predict_x0=True,
                                        lower_order_final=True, final_sigmas_type="zero")
    dims = dict(out_channels=Z, text_dim=text_encoder.config.d_model, **(dit or {}))
    if mode == "t2v":
        transformer = dit_fixtures.build_reference("t2v", in_channels=Z, **dims)
        pipe = SkyReelsV2Pipeline(tokenizer, text_encoder, transformer, vae, scheduler)
    else:
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        clip = build_clip()
        tokens = (CLIP_IMAGE // 7) ** 2 + 1
        transformer = dit_fixtures.build_reference(
            mode, in_channels=2 * Z + 4, image_dim=clip.config.hidden_size, **dims,
            **(dict(pos_embed_seq_len=2 * tokens) if mode == "flf2v" else {}))
        processor = CLIPImageProcessorPil(size={"shortest_edge": CLIP_IMAGE},
                                          crop_size={"height": CLIP_IMAGE, "width": CLIP_IMAGE})
        pipe = SkyReelsV2ImageToVideoPipeline(tokenizer, text_encoder, clip, processor, transformer, vae, scheduler)
    folder = root / f"tiny-{mode}"
    pipe.save_pretrained(folder)
    original_sigmas(pipe.scheduler)
    return folder, pipe


def reference_video(pipe, noise: np.ndarray, **kwargs) -> np.ndarray:
    """diffusers' video as uint8 [F, H, W, 3], truncated as the original does; noise is channels-last."""
    with torch.no_grad():
        out = pipe(latents=torch.from_numpy(noise).permute(0, 4, 1, 2, 3), output_type="np", **kwargs).frames[0]
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def build_df_pipeline(root: Path, **dit_kwargs):
    """(folder, {"t2v", "i2v", "v2v": diffusers DF pipelines sharing one tiny DF model with the fps embedding});
    dit_kwargs change the tiny DiT (e.g. num_attention_heads)."""
    from diffusers import (
        SkyReelsV2DiffusionForcingImageToVideoPipeline,
        SkyReelsV2DiffusionForcingPipeline,
        SkyReelsV2DiffusionForcingVideoToVideoPipeline,
        UniPCMultistepScheduler,
    )

    tokenizer = T5Tokenizer.from_pretrained(str(make_tokenizer(root / "tokenizer_src")))
    text_encoder = build_umt5(len(tokenizer))
    vae = vae_fixtures.build_reference()
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=8.0,
                                        solver_order=2, solver_type="bh2", predict_x0=True,
                                        lower_order_final=True, final_sigmas_type="zero")
    transformer = dit_fixtures.build_reference("df", in_channels=Z, out_channels=Z,
                                               text_dim=text_encoder.config.d_model, **dit_kwargs)
    parts = (tokenizer, text_encoder, transformer, vae, scheduler)
    pipes = {"t2v": SkyReelsV2DiffusionForcingPipeline(*parts),
             "i2v": SkyReelsV2DiffusionForcingImageToVideoPipeline(*parts),
             "v2v": SkyReelsV2DiffusionForcingVideoToVideoPipeline(*parts)}
    folder = root / "tiny-df"
    pipes["t2v"].save_pretrained(folder)
    return folder, pipes


class OriginalSigmasEverywhere:
    """Within the block, every UniPCMultistepScheduler (the DF pipelines deep-copy one per frame and
    reset it) uses the original's sigmas."""

    def __enter__(self):
        from diffusers import UniPCMultistepScheduler

        self.cls, self.original = UniPCMultistepScheduler, UniPCMultistepScheduler.set_timesteps
        original = self.original

        def patched(self, num_inference_steps=None, device=None, **_):
            original(self, sigmas=np.linspace(SIGMA_MAX, 0, num_inference_steps + 1)[:-1], device=device)

        UniPCMultistepScheduler.set_timesteps = patched
        return self

    def __exit__(self, *exc):
        self.cls.set_timesteps = self.original
