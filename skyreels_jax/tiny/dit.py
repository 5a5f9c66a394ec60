"""Tiny random SkyReels-V2 DiTs built with diffusers (torch), written in both published layouts.

The original-layout writer uses this file's own table (diffusers name -> original name),
independent of the project's key maps; tests/test_dit_loading.py checks it against diffusers' own
converter, so the fixture is a faithful original checkpoint.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import SkyReelsV2Transformer3DModel
from safetensors.torch import save_file

TINY = dict(num_attention_heads=2, attention_head_dim=16, ffn_dim=64, num_layers=2, text_dim=24,
            freq_dim=256, in_channels=16, out_channels=16)
IMAGE_TOKENS = 5   # 257 for the real CLIP encoder
TEXT_TOKENS = 512  # diffusers' image attention hard-codes 512 text tokens
VARIANTS = {
    "t2v": {},
    "df": dict(inject_sample_info=True),
    "i2v": dict(in_channels=36, image_dim=20, added_kv_proj_dim=32),
    "flf2v": dict(in_channels=36, image_dim=20, added_kv_proj_dim=32, pos_embed_seq_len=2 * IMAGE_TOKENS),
    "causal": dict(num_frame_per_block=2),
}

# diffusers -> original, applied in order (a test-side inverse of diffusers' converter)
_TO_ORIGINAL = [
    ("condition_embedder.time_embedder.linear_1", "time_embedding.0"),
    ("condition_embedder.time_embedder.linear_2", "time_embedding.2"),
    ("condition_embedder.text_embedder.linear_1", "text_embedding.0"),
    ("condition_embedder.text_embedder.linear_2", "text_embedding.2"),
    ("condition_embedder.time_proj", "time_projection.1"),
    ("condition_embedder.image_embedder.norm1", "img_emb.proj.0"),
    ("condition_embedder.image_embedder.ff.net.0.proj", "img_emb.proj.1"),
    ("condition_embedder.image_embedder.ff.net.2", "img_emb.proj.3"),
    ("condition_embedder.image_embedder.norm2", "img_emb.proj.4"),
    ("condition_embedder.image_embedder.pos_embed", "img_emb.emb_pos"),
    ("fps_projection.net.0.proj", "fps_projection.0"),
    ("fps_projection.net.2", "fps_projection.2"),
    ("attn1.to_out.0", "self_attn.o"), ("attn1.to_", "self_attn."), ("attn1.", "self_attn."),
    ("attn2.to_out.0", "cross_attn.o"), ("attn2.add_k_proj", "cross_attn.k_img"),
    ("attn2.add_v_proj", "cross_attn.v_img"), ("attn2.norm_added_k", "cross_attn.norm_k_img"),
    ("attn2.to_", "cross_attn."), ("attn2.", "cross_attn."),
    ("ffn.net.0.proj", "ffn.0"), ("ffn.net.2", "ffn.2"),
    (".norm2.", ".norm3."),
    (".scale_shift_table", ".modulation"),
    ("proj_out.", "head.head."),
]


def to_original_name(key: str) -> str:
    if key == "scale_shift_table":
        return "head.modulation"
    for old, new in _TO_ORIGINAL:
        key = key.replace(old, new)
    return key


def diffusers_kwargs(cfg) -> dict:
    """diffusers SkyReelsV2Transformer3DModel arguments for one of our DiTConfigs."""
    return dict(num_attention_heads=cfg.num_heads, attention_head_dim=cfg.head_dim, ffn_dim=cfg.ffn_dim,
                num_layers=cfg.num_layers, in_channels=cfg.in_dim, out_channels=cfg.out_dim, text_dim=cfg.text_dim,
                image_dim=cfg.image_dim, added_kv_proj_dim=cfg.dim if cfg.image_dim else None,
                pos_embed_seq_len=cfg.image_pos_len, inject_sample_info=cfg.inject_sample_info)


def build_reference(variant: str, seed: int = 0, **config) -> SkyReelsV2Transformer3DModel:
    """A tiny diffusers DiT with every parameter random (norm scales near 1), float32, eval mode."""
    torch.manual_seed(seed)
    model = SkyReelsV2Transformer3DModel(**{**TINY, **VARIANTS[variant], **config}).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_norm_scale = "norm" in name and name.endswith("weight")
            p.copy_((1.0 if is_norm_scale else 0.0) + 0.2 * torch.randn_like(p))
    return model


def save_diffusers(model, folder: Path) -> Path:
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def save_original(model, folder: Path, variant: str) -> Path:
    """config.json with Wan keys, weights in two shards, plus the published dummy key."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    model_type = "flf2v" if cfg.pos_embed_seq_len else "i2v" if cfg.image_dim else "t2v"
    config = dict(model_type=model_type, text_len=512, in_dim=cfg.in_channels, out_dim=cfg.out_channels,
                  dim=cfg.num_attention_heads * cfg.attention_head_dim, ffn_dim=cfg.ffn_dim,
                  freq_dim=cfg.freq_dim, num_heads=cfg.num_attention_heads, num_layers=cfg.num_layers,
                  eps=cfg.eps, inject_sample_info=cfg.inject_sample_info)
    (folder / "config.json").write_text(json.dumps(config))
    state = {to_original_name(k): v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    keys = sorted(state)
    half = len(keys) // 2
    save_file({k: state[k] for k in keys[:half]}, str(folder / "model-00001-of-00002.safetensors"))
    rest = {k: state[k] for k in keys[half:]}
    rest[f"model_type.SkyReels-V2-{variant.upper()}-tiny"] = torch.zeros(1)
    save_file(rest, str(folder / "model-00002-of-00002.safetensors"))
    return folder
