"""PyTorch references for `verify --against SRC`: each component built from SRC, run on random inputs.

Each function takes SRC's component path and our float32 model, draws random inputs, and
returns (ours, reference, what the reference is), both channels-last numpy. The reference is
the diffusers / transformers model built from SRC; for the original UMT5 and CLIP .pth files,
which no PyTorch library reads, it is our own loader on SRC (the unconverted load).
"""
from __future__ import annotations

import numpy as np

from skyreels_jax.checkpoints.converted import Source

_SKYREELS_EXTRA = {"fps_projection.0": "fps_projection.net.0.proj", "fps_projection.2": "fps_projection.net.2",
                   "img_emb.emb_pos": "condition_embedder.image_embedder.pos_embed"}


def _torch():
    import torch

    return torch


def _state_dict(source: Source, keep) -> dict:
    torch = _torch()
    return {k: torch.from_numpy(np.asarray(source.reader.read(k), np.float32)) for k in source.reader.keys() if keep(k)}


def transformer(source: Source, ours, rng: np.random.Generator):
    torch = _torch()
    from diffusers import SkyReelsV2Transformer3DModel

    cfg = source.config
    if source.layout == "diffusers":
        model = SkyReelsV2Transformer3DModel.from_pretrained(str(source.where), torch_dtype=torch.float32)
    else:
        from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

        state = _state_dict(source, lambda k: not k.startswith("model_type."))
        state = {next((k.replace(a, b) for a, b in _SKYREELS_EXTRA.items() if k.startswith(a)), k): v
                 for k, v in state.items()}
        model = SkyReelsV2Transformer3DModel(
            num_attention_heads=cfg.num_heads, attention_head_dim=cfg.dim // cfg.num_heads, ffn_dim=cfg.ffn_dim,
            num_layers=cfg.num_layers, in_channels=cfg.in_dim, out_channels=cfg.out_dim, text_dim=cfg.text_dim,
            freq_dim=cfg.freq_dim, eps=cfg.eps, image_dim=cfg.image_dim,
            added_kv_proj_dim=cfg.dim if cfg.image_dim else None, pos_embed_seq_len=cfg.image_pos_len,
            inject_sample_info=cfg.inject_sample_info)
        model.load_state_dict(convert_wan_transformer_to_diffusers(state), strict=True)
    model = model.float().eval()
    latents = rng.standard_normal((1, 2, 4, 4, cfg.in_dim), np.float32)
    context = rng.standard_normal((1, 512, cfg.text_dim), np.float32)
    timestep = np.array([500.0], np.float32)
    image = None
    kwargs = {}
    if cfg.image_dim:
        tokens = cfg.image_pos_len or 2 * 5
        image = rng.standard_normal((1, tokens, cfg.image_dim), np.float32)
        pairs = image.reshape(2, tokens // 2, -1) if cfg.image_pos_len else image
        kwargs["encoder_hidden_states_image"] = torch.from_numpy(pairs)
    fps = [16] if cfg.inject_sample_info else None
    with torch.no_grad():
        ref = model(torch.from_numpy(latents).permute(0, 4, 1, 2, 3), torch.from_numpy(timestep),
                    torch.from_numpy(context), fps=None if fps is None else [0], return_dict=False, **kwargs)[0]
    mine = ours(latents, timestep, context, image_context=image, fps=fps)
    return np.asarray(mine), ref.permute(0, 2, 3, 4, 1).numpy(), "diffusers SkyReelsV2Transformer3DModel"


def vae(source: Source, ours, rng: np.random.Generator):
    torch = _torch()
    from diffusers import AutoencoderKLWan

    cfg = source.config
    if source.layout == "diffusers":
        model = AutoencoderKLWan.from_pretrained(str(source.where), torch_dtype=torch.float32)
    else:
        from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

        model = AutoencoderKLWan(base_dim=cfg.base_dim, z_dim=cfg.z_dim, dim_mult=list(cfg.dim_mult),
                                 num_res_blocks=cfg.num_res_blocks, temperal_downsample=list(cfg.temporal_downsample),
                                 latents_mean=list(cfg.latents_mean), latents_std=list(cfg.latents_std))
        model.load_state_dict(convert_wan_vae_to_diffusers(_state_dict(source, lambda k: True)), strict=True)
    model = model.float().eval()
    video = rng.uniform(-1, 1, (1, 5, 16, 16, cfg.in_channels)).astype(np.float32)
    mean = torch.tensor(cfg.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(cfg.latents_std).view(1, -1, 1, 1, 1)
    with torch.no_grad():
        mu = model.encode(torch.from_numpy(video).permute(0, 4, 1, 2, 3)).latent_dist.mean
        z = (mu - mean) / std
        back = model.decode(z * std + mean).sample
    z_ours = np.asarray(ours.encode(video))
    back_ours = np.asarray(ours.decode(z.permute(0, 2, 3, 4, 1).numpy()))
    mine = np.concatenate([z_ours.ravel(), back_ours.ravel()])
    ref = np.concatenate([z.permute(0, 2, 3, 4, 1).numpy().ravel(), back.permute(0, 2, 3, 4, 1).numpy().ravel()])
    return mine, ref, "diffusers AutoencoderKLWan (encode + decode)"


def text_encoder(source: Source, ours, rng: np.random.Generator):
    cfg = source.config
    ids = rng.integers(0, cfg.vocab_size, (1, 16)).astype(np.int32)
    mask = np.ones_like(ids)
    mine = np.asarray(ours.model(ids, mask))
    if source.layout == "original":
        from skyreels_jax.models.umt5 import load_text_encoder

        ref = np.asarray(load_text_encoder(source.where).model(ids, mask))
        return mine, ref, "our loader on the original .pth (no PyTorch class reads it)"
    torch = _torch()
    from transformers import UMT5EncoderModel

    model = UMT5EncoderModel.from_pretrained(str(source.where), torch_dtype=torch.float32).eval()
    with torch.no_grad():
        ref = model(input_ids=torch.from_numpy(ids).long(), attention_mask=torch.from_numpy(mask).long())
    return mine, ref.last_hidden_state.numpy(), "transformers UMT5EncoderModel"


def image_encoder(source: Source, ours, rng: np.random.Generator):
    cfg = source.config
    pixels = rng.standard_normal((1, cfg.image_size, cfg.image_size, 3)).astype(np.float32)
    mine = np.asarray(ours.model(pixels))
    if source.layout == "original":
        from skyreels_jax.models.clip import load_image_encoder

        ref = np.asarray(load_image_encoder(source.where).model(pixels))
        return mine, ref, "our loader on the original .pth (no PyTorch class reads it)"
    torch = _torch()
    from transformers import CLIPVisionModel

    model = CLIPVisionModel.from_pretrained(str(source.where), torch_dtype=torch.float32).eval()
    with torch.no_grad():
        out = model(pixel_values=torch.from_numpy(pixels).permute(0, 3, 1, 2), output_hidden_states=True)
    return mine, out.hidden_states[-2].numpy(), "transformers CLIPVisionModel (penultimate hidden states)"


FORWARDS = {"transformer": transformer, "vae": vae, "text_encoder": text_encoder, "image_encoder": image_encoder}
