"""ml_collections configs of every published SkyReels-V2 model, and tiny ones for tests.

    from configs.models import get_config
    cfg = get_config("DF-1.3B-540P")          # cfg.dit: DiTConfig fields; cfg.sampling: CLI defaults
    dit = skyreels_jax.load_transformer(folder, config=cfg.dit)

Architectures are from diffusers' SkyReels-V2 conversion script; sampling defaults from the
original CLI. FLF2V models exist only in the diffusers layout: they
are the I2V weights plus a zero-initialised position embedding over 2×257 CLIP tokens.
"""
from __future__ import annotations

import ml_collections

_1_3B = dict(dim=1536, ffn_dim=8960, num_heads=12, num_layers=30)
_14B = dict(dim=5120, ffn_dim=13824, num_heads=40, num_layers=40)
_TINY = dict(dim=32, ffn_dim=64, num_heads=2, num_layers=2, text_dim=24)
_IMAGE = dict(in_dim=36, image_dim=1280)
_540P = dict(height=544, width=960, num_frames=97)
_720P = dict(height=720, width=1280, num_frames=121)
_TINY_SIZE = dict(height=64, width=64, num_frames=9)

# name: (mode, architecture, resolution, guidance, shift, has an original-layout repo)
_MODELS = {
    "DF-1.3B-540P": ("diffusion_forcing", {**_1_3B, "inject_sample_info": True}, _540P, 6.0, 8.0, True),
    "DF-14B-540P": ("diffusion_forcing", _14B, _540P, 6.0, 8.0, True),
    "DF-14B-720P": ("diffusion_forcing", _14B, _720P, 6.0, 8.0, True),
    "T2V-14B-540P": ("text_to_video", _14B, _540P, 6.0, 8.0, True),
    "T2V-14B-720P": ("text_to_video", _14B, _720P, 6.0, 8.0, True),
    "I2V-1.3B-540P": ("image_to_video", {**_1_3B, **_IMAGE}, _540P, 5.0, 5.0, True),
    "I2V-14B-540P": ("image_to_video", {**_14B, **_IMAGE}, _540P, 5.0, 5.0, True),
    "I2V-14B-720P": ("image_to_video", {**_14B, **_IMAGE}, _720P, 5.0, 5.0, True),
    "FLF2V-1.3B-540P": ("first_last_frame", {**_1_3B, **_IMAGE, "image_pos_len": 514}, _540P, 5.0, 5.0, False),
    "FLF2V-14B-540P": ("first_last_frame", {**_14B, **_IMAGE, "image_pos_len": 514}, _540P, 5.0, 5.0, False),
    "FLF2V-14B-720P": ("first_last_frame", {**_14B, **_IMAGE, "image_pos_len": 514}, _720P, 5.0, 5.0, False),
    "tiny-t2v": ("text_to_video", _TINY, _TINY_SIZE, 6.0, 8.0, False),
    "tiny-df": ("diffusion_forcing", {**_TINY, "inject_sample_info": True}, _TINY_SIZE, 6.0, 8.0, False),
    "tiny-i2v": ("image_to_video", {**_TINY, "in_dim": 36, "image_dim": 20}, _TINY_SIZE, 5.0, 5.0, False),
    "tiny-flf2v": ("first_last_frame", {**_TINY, "in_dim": 36, "image_dim": 20, "image_pos_len": 10},
                   _TINY_SIZE, 5.0, 5.0, False),
}
PUBLISHED = [name for name in _MODELS if not name.startswith("tiny-")]


def get_config(name: str = "DF-1.3B-540P") -> ml_collections.ConfigDict:
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(_MODELS)}")
    mode, arch, size, guidance, shift, has_original = _MODELS[name]
    cfg = ml_collections.ConfigDict()
    cfg.name = name
    cfg.mode = mode
    published = not name.startswith("tiny-")
    cfg.hub_id = f"Skywork/SkyReels-V2-{name}" if published and has_original else None
    cfg.diffusers_hub_id = f"Skywork/SkyReels-V2-{name}-Diffusers" if published else None
    cfg.dit = ml_collections.ConfigDict(arch)
    cfg.sampling = ml_collections.ConfigDict(dict(**size, num_steps=30, guidance_scale=guidance, shift=shift, fps=24))
    return cfg
