"""Find a DiT folder and read its config.json, in the original or the diffusers layout."""
from __future__ import annotations

from pathlib import Path

from skyreels_jax.checkpoints.safetensors_folder import SafetensorsFolder, read_config_json
from skyreels_jax.models.dit.model import DiTConfig


def find_transformer_folder(path: str | Path) -> tuple[Path, str, dict]:
    """(folder, layout, config.json) for a diffusers pipeline root, its transformer/, or an original repo."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"{folder} does not exist: give a local checkpoint folder "
                                "(an original SkyReels-V2 repo, a -Diffusers repo or its transformer/ folder)")
    if (folder / "model_index.json").exists():
        folder = folder / "transformer"
    config_file = folder / "config.json"
    if not config_file.exists():
        raise FileNotFoundError(f"no config.json in {folder}: expected an original SkyReels-V2 folder "
                                "(config.json + model*.safetensors) or a diffusers transformer/ folder")
    config = read_config_json(config_file)
    if "num_attention_heads" in config:
        return folder, "diffusers", config
    if "num_heads" in config and "dim" in config:
        return folder, "original", config
    raise ValueError(f"{config_file} is neither a SkyReels-V2/Wan config (dim, num_heads) "
                     "nor a diffusers SkyReelsV2Transformer3DModel config (num_attention_heads)")


def config_from_diffusers(cfg: dict) -> DiTConfig:
    if cfg.get("qk_norm", "rms_norm_across_heads") != "rms_norm_across_heads" or not cfg.get("cross_attn_norm", True):
        raise ValueError("only qk_norm='rms_norm_across_heads' with cross_attn_norm=True (every published "
                         f"SkyReels-V2 model) is supported; got qk_norm={cfg.get('qk_norm')!r}, "
                         f"cross_attn_norm={cfg.get('cross_attn_norm')!r}")
    dim = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    if cfg.get("added_kv_proj_dim") not in (None, dim):
        raise ValueError(f"added_kv_proj_dim must equal the model width {dim}, got {cfg['added_kv_proj_dim']}")
    block = cfg.get("num_frame_per_block", 1)
    return DiTConfig(
        dim=dim, ffn_dim=cfg["ffn_dim"], num_heads=cfg["num_attention_heads"], num_layers=cfg["num_layers"],
        in_dim=cfg["in_channels"], out_dim=cfg.get("out_channels") or cfg["in_channels"],
        text_dim=cfg.get("text_dim", 4096), freq_dim=cfg.get("freq_dim", 256), eps=cfg.get("eps", 1e-6),
        patch_size=tuple(cfg.get("patch_size", (1, 2, 2))), image_dim=cfg.get("image_dim"),
        image_pos_len=cfg.get("pos_embed_seq_len"), inject_sample_info=cfg.get("inject_sample_info", False),
        causal_block_size=block if block > 1 else 0, rope_max_len=cfg.get("rope_max_seq_len", 1024))


def config_from_original(cfg: dict, source: SafetensorsFolder) -> DiTConfig:
    """The original reads only some keys of config.json (it ignores text_dim and patch_size);
    the widths it does not read come from the tensors, as the original's modules would have them."""
    model_type = cfg.get("model_type", "t2v")
    if model_type not in ("t2v", "i2v", "flf2v"):
        raise ValueError(f"unknown model_type {model_type!r} in config.json; expected t2v, i2v or flf2v")
    def shape(key, axis, default):
        return source.shape(key)[axis] if key in source.keys() else default
    image = model_type in ("i2v", "flf2v")
    return DiTConfig(
        dim=cfg["dim"], ffn_dim=cfg["ffn_dim"], num_heads=cfg["num_heads"], num_layers=cfg["num_layers"],
        in_dim=cfg["in_dim"], out_dim=cfg["out_dim"], freq_dim=cfg.get("freq_dim", 256), eps=cfg.get("eps", 1e-6),
        text_dim=shape("text_embedding.0.weight", 1, 4096),
        image_dim=shape("img_emb.proj.0.weight", 0, 1280) if image else None,
        image_pos_len=shape("img_emb.emb_pos", 1, 514) if model_type == "flf2v" else None,
        inject_sample_info=cfg.get("inject_sample_info", False))
