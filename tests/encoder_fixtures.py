"""Tiny random UMT5 and CLIP vision models (skyreels_jax.tiny.encoders) and transformers' outputs to compare with."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from skyreels_jax.tiny.encoders import (  # noqa: F401  (the tests import them from here)
    CLIP_IMAGE,
    CLIP_PTH,
    CORPUS,
    T5_PTH,
    build_clip,
    build_umt5,
    make_tokenizer,
    save_clip_diffusers,
    save_clip_original,
    save_umt5_diffusers,
    save_umt5_original,
)


def umt5_reference(model, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """What both reference pipelines feed the DiT: the encoder output zeroed past each prompt."""
    with torch.no_grad():
        ids_t, mask_t = torch.from_numpy(ids).long(), torch.from_numpy(mask).long()
        out = model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
        return (out * mask_t[..., None]).numpy()


def clip_reference_original(model, images: np.ndarray) -> np.ndarray:
    """Wan's CLIPModel.encode_video on uint8 images: bicubic to the model size, normalise, penultimate."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0   # the pipeline's [-1, 1]
    x = torch.nn.functional.interpolate(x, size=(CLIP_IMAGE, CLIP_IMAGE), mode="bicubic", align_corners=False)
    x = x.mul_(0.5).add_(0.5)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073])[:, None, None]
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711])[:, None, None]
    return _penultimate(model, (x - mean) / std)


def clip_reference_diffusers(model, processor_dir: Path, images) -> np.ndarray:
    """The diffusers I2V pipeline: CLIPImageProcessor, then hidden_states[-2]."""
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    processor = CLIPImageProcessorPil.from_pretrained(str(processor_dir))
    pixels = processor(images=list(images), return_tensors="pt", input_data_format="channels_last").pixel_values
    return _penultimate(model, pixels)


def _penultimate(model, pixels) -> np.ndarray:
    with torch.no_grad():
        return model(pixel_values=pixels, output_hidden_states=True).hidden_states[-2].numpy()
