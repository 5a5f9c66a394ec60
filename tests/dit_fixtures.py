"""Tiny random SkyReels-V2 DiTs (skyreels_jax.tiny.dit) and the diffusers forward to compare with."""
from __future__ import annotations

import torch

from skyreels_jax.tiny.dit import (  # noqa: F401  (the tests import them from here)
    IMAGE_TOKENS,
    TEXT_TOKENS,
    TINY,
    VARIANTS,
    build_reference,
    diffusers_kwargs,
    save_diffusers,
    save_original,
    to_original_name,
)


def reference_forward(model, latents, timestep, context, image_context=None, fps=None):
    """Run the diffusers model on channels-last numpy inputs; returns channels-last numpy."""
    import numpy as np

    kwargs = {}
    if image_context is not None:
        img = torch.from_numpy(np.asarray(image_context))
        if model.config.pos_embed_seq_len:  # diffusers takes the two images' tokens as 2B items
            img = img.reshape(-1, IMAGE_TOKENS, img.shape[-1])
        kwargs["encoder_hidden_states_image"] = img
    timestep = torch.from_numpy(np.asarray(timestep))
    with torch.no_grad():
        out = model(torch.from_numpy(np.asarray(latents)).permute(0, 4, 1, 2, 3), timestep,
                    torch.from_numpy(np.asarray(context)), enable_diffusion_forcing=timestep.ndim == 2,
                    fps=None if fps is None else [0 if f == 16 else 1 for f in fps], return_dict=False, **kwargs)[0]
    return out.permute(0, 2, 3, 4, 1).numpy()
