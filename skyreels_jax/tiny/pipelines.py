"""Tiny random SkyReels-V2 models in both published layouts, written by diffusers and transformers
(torch): the diffusers pipeline folders (T2V, I2V, FLF2V, diffusion forcing) and original-layout
repositories. What the tests load and compare against, and what a notebook runs where no Hub is
reachable. Needs the `convert` extra (torch, diffusers).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from transformers import T5Tokenizer

from skyreels_jax.tiny import dit as dit_models
from skyreels_jax.tiny import vae as vae_models
from skyreels_jax.tiny.encoders import (
    CLIP_IMAGE,
    build_clip,
    build_umt5,
    make_tokenizer,
    save_clip_original,
    save_umt5_original,
)

Z = vae_models.TINY["z_dim"]


def build_pipeline(mode: str, root: Path, shift: float = 8.0, dit: dict | None = None):
    """(folder, diffusers pipeline) for mode "t2v", "i2v" or "flf2v"; dit overrides the tiny DiT's
    diffusers config (e.g. num_layers)."""
    from diffusers import SkyReelsV2ImageToVideoPipeline, SkyReelsV2Pipeline, UniPCMultistepScheduler

    tok_dir = make_tokenizer(root / "tokenizer_src")
    tokenizer = T5Tokenizer.from_pretrained(str(tok_dir))
    text_encoder = build_umt5(len(tokenizer))
    vae = vae_models.build_reference()
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=shift,
                                        solver_order=2, solver_type="bh2", predict_x0=True,
                                        lower_order_final=True, final_sigmas_type="zero")
    dims = dict(out_channels=Z, text_dim=text_encoder.config.d_model, **(dit or {}))
    if mode == "t2v":
        transformer = dit_models.build_reference("t2v", in_channels=Z, **dims)
        pipe = SkyReelsV2Pipeline(tokenizer, text_encoder, transformer, vae, scheduler)
    else:
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        clip = build_clip()
        tokens = (CLIP_IMAGE // 7) ** 2 + 1
        transformer = dit_models.build_reference(
            mode, in_channels=2 * Z + 4, image_dim=clip.config.hidden_size, **dims,
            **(dict(pos_embed_seq_len=2 * tokens) if mode == "flf2v" else {}))
        processor = CLIPImageProcessorPil(size={"shortest_edge": CLIP_IMAGE},
                                          crop_size={"height": CLIP_IMAGE, "width": CLIP_IMAGE})
        pipe = SkyReelsV2ImageToVideoPipeline(tokenizer, text_encoder, clip, processor, transformer, vae, scheduler)
    folder = root / f"tiny-{mode}"
    pipe.save_pretrained(folder)
    return folder, pipe


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
    vae = vae_models.build_reference()
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=8.0,
                                        solver_order=2, solver_type="bh2", predict_x0=True,
                                        lower_order_final=True, final_sigmas_type="zero")
    transformer = dit_models.build_reference("df", in_channels=Z, out_channels=Z,
                                               text_dim=text_encoder.config.d_model, **dit_kwargs)
    parts = (tokenizer, text_encoder, transformer, vae, scheduler)
    pipes = {"t2v": SkyReelsV2DiffusionForcingPipeline(*parts),
             "i2v": SkyReelsV2DiffusionForcingImageToVideoPipeline(*parts),
             "v2v": SkyReelsV2DiffusionForcingVideoToVideoPipeline(*parts)}
    folder = root / "tiny-df"
    pipes["t2v"].save_pretrained(folder)
    return folder, pipes


MODES = ("t2v", "i2v", "df")
# the original layout's Wan2.1_VAE.pth has no config: its readers take the published size
FULL_SIZE_VAE = {k: None for k in vae_models.TINY}


def write_models(root: str | Path, layout: str = "diffusers") -> dict[str, Path]:
    """{"t2v", "i2v", "df": folder} of tiny random models, as the published repositories are laid out:
    "diffusers" (pipeline folders, as Skywork/SkyReels-V2-*-Diffusers) or "original" (as
    Skywork/SkyReels-V2-*: DiT safetensors with a Wan config, T5 and CLIP .pth files and a random
    full-size Wan2.1_VAE.pth of 0.5 GB, shared by the three through hard links)."""
    root = Path(root)
    if layout == "diffusers":
        return {"t2v": build_pipeline("t2v", root / "t2v")[0], "i2v": build_pipeline("i2v", root / "i2v")[0],
                "df": build_df_pipeline(root / "df")[0]}
    if layout != "original":
        raise ValueError(f"layout is 'diffusers' or 'original', got {layout!r}")
    tokenizer = make_tokenizer(root / "tokenizer_src")
    umt5, clip = build_umt5(len(T5Tokenizer.from_pretrained(str(tokenizer)))), build_clip()
    vae_file = vae_models.save_original(vae_models.build_reference(**FULL_SIZE_VAE), root / "vae")
    folders = {}
    for mode in MODES:
        folder = root / f"SkyReels-V2-{mode.upper()}-tiny"
        image = dict(image_dim=clip.config.hidden_size) if mode == "i2v" else {}
        dit_models.save_original(dit_models.build_reference(mode, text_dim=umt5.config.d_model, **image), folder, mode)
        save_umt5_original(umt5, tokenizer, folder)
        if mode == "i2v":
            save_clip_original(clip, folder)
        target = folder / vae_file.name
        try:
            os.link(vae_file, target)
        except OSError:       # a file system without hard links
            shutil.copy(vae_file, target)
        folders[mode] = folder
    return folders
