"""Tiny random Wan VAEs built with diffusers' AutoencoderKLWan, written in both published layouts.

The original-layout writer uses this file's own renaming (diffusers name -> original name),
independent of the project's key maps; tests/test_vae_loading.py checks it against diffusers' own
converter, so the fixture is a faithful original checkpoint.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import torch
from diffusers import AutoencoderKLWan

TINY = dict(base_dim=8, z_dim=4, dim_mult=[1, 2, 4, 4], num_res_blocks=2, temperal_downsample=[False, True, True],
            latents_mean=[0.3, -0.2, 0.1, -0.5], latents_std=[1.5, 0.8, 2.0, 1.2])


def build_reference(seed: int = 0, **config) -> AutoencoderKLWan:
    """A diffusers VAE with every parameter random, scaled like a trained net (norm gammas near 1,
    weights ~ 1/√fan_in, small biases), float32, eval mode."""
    torch.manual_seed(seed)
    config = {k: v for k, v in {**TINY, **config}.items() if v is not None}  # None: diffusers' default
    model = AutoencoderKLWan(**config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / math.sqrt(p[0].numel()))
    return model


def to_original_name(key: str) -> str:
    """diffusers -> original Wan2.1 name (for the standard 4-stage, 2-res-block layout)."""
    if ".down_blocks." in key or ".resnets." in key:
        for new, old in ((".norm1.", ".residual.0."), (".conv1.", ".residual.2."), (".norm2.", ".residual.3."),
                         (".conv2.", ".residual.6."), (".conv_shortcut.", ".shortcut.")):
            key = key.replace(new, old)
    key = key.replace("encoder.down_blocks.", "encoder.downsamples.")
    key = re.sub(r"mid_block\.resnets\.0\.", "middle.0.", key)
    key = re.sub(r"mid_block\.attentions\.0\.", "middle.1.", key)
    key = re.sub(r"mid_block\.resnets\.1\.", "middle.2.", key)
    key = re.sub(r"up_blocks\.(\d)\.resnets\.(\d)\.", lambda m: f"upsamples.{4 * int(m[1]) + int(m[2])}.", key)
    key = re.sub(r"up_blocks\.(\d)\.upsamplers\.0\.", lambda m: f"upsamples.{4 * int(m[1]) + 3}.", key)
    key = re.sub(r"^(encoder|decoder)\.conv_in\.", r"\1.conv1.", key)
    key = re.sub(r"^(encoder|decoder)\.norm_out\.", r"\1.head.0.", key)
    key = re.sub(r"^(encoder|decoder)\.conv_out\.", r"\1.head.2.", key)
    return re.sub(r"^quant_conv\.", "conv1.", re.sub(r"^post_quant_conv\.", "conv2.", key))


def original_state(model) -> dict:
    return {to_original_name(k): v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def save_diffusers(model, folder: Path) -> Path:
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def save_original(model, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "Wan2.1_VAE.pth"
    torch.save(original_state(model), path)
    return path
