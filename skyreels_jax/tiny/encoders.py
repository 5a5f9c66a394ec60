"""Tiny random UMT5 and CLIP vision models built with transformers, written in both published layouts.

The original-layout writers use this file's own tables (transformers name -> Wan name, from
Wan's T5Encoder and XLMRobertaCLIP module names), independent of the project's key maps.
The tokenizer is a sentencepiece unigram model trained here, saved as a T5 tokenizer folder:
nothing is downloaded.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import torch
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, T5Tokenizer, UMT5Config, UMT5EncoderModel

T5_PTH = "models_t5_umt5-xxl-enc-bf16.pth"
CLIP_PTH = "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth"
CORPUS = [
    "A cat walks slowly across a sunny garden, its tail held high.",
    "The camera pans over a misty mountain lake at dawn.",
    "Two people dance in the rain under a bright red umbrella.",
    "A close-up of coffee being poured into a white ceramic cup.",
    "Waves crash against the rocks while seagulls circle above.",
    "Un chat marche lentement dans un jardin ensoleillé.",
    "Eine Katze läuft langsam durch einen sonnigen Garten.",
    "一只猫慢慢地走过阳光明媚的花园。",
    "Bright tones, overexposed, static, blurred details, subtitles, worst quality, low quality.",
    "Children play football in a dusty street as the sun sets behind the houses.",
] * 4


def make_tokenizer(folder: Path) -> Path:
    """Train a small unigram sentencepiece model and save it as a T5 tokenizer folder (spiece.model,
    tokenizer.json, tokenizer_config.json), the way the google/umt5-xxl folder is laid out."""
    import sentencepiece as spm

    work = folder.parent / (folder.name + "_spm")
    work.mkdir(parents=True, exist_ok=True)
    (work / "corpus.txt").write_text("\n".join(CORPUS))
    spm.SentencePieceTrainer.train(input=str(work / "corpus.txt"), model_prefix=str(work / "spiece"),
                                   vocab_size=180, model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                   hard_vocab_limit=False, character_coverage=1.0, minloglevel=2)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(work / "spiece.model", folder / "spiece.model")
    T5Tokenizer.from_pretrained(str(folder)).save_pretrained(str(folder))
    return folder


def _randomise(model, seed: int):
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_norm = ("norm" in name or "layrnorm" in name) and name.endswith("weight")
            scale = 1.0 if "embed_tokens" in name or "shared" in name or "relative_attention_bias" in name else 0.2
            p.copy_((1.0 if is_norm else 0.0) + scale * torch.randn_like(p))
    return model.eval()


# -- UMT5 ---------------------------------------------------------------------------------------
def build_umt5(vocab_size: int, seed: int = 0) -> UMT5EncoderModel:
    cfg = UMT5Config(vocab_size=vocab_size, d_model=32, d_kv=8, num_heads=4, d_ff=48, num_layers=2,
                     relative_attention_num_buckets=32, relative_attention_max_distance=128,
                     feed_forward_proj="gated-gelu", dropout_rate=0.0)
    return _randomise(UMT5EncoderModel(cfg), seed)


_T5_TO_WAN = [
    (r"^shared\.weight$", "token_embedding.weight"),
    (r"^encoder\.final_layer_norm\.", "norm."),
    (r"^encoder\.block\.(\d+)\.layer\.0\.layer_norm\.", r"blocks.\1.norm1."),
    (r"^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.relative_attention_bias\.",
     r"blocks.\1.pos_embedding.embedding."),
    (r"^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.", r"blocks.\1.attn."),
    (r"^encoder\.block\.(\d+)\.layer\.1\.layer_norm\.", r"blocks.\1.norm2."),
    (r"^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_0\.", r"blocks.\1.ffn.gate.0."),
    (r"^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_1\.", r"blocks.\1.ffn.fc1."),
    (r"^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wo\.", r"blocks.\1.ffn.fc2."),
]


def _rename(key: str, table) -> str:
    for pattern, repl in table:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    raise KeyError(f"no original name for {key}")


def save_umt5_diffusers(model, tokenizer_dir: Path, root: Path, shard: bool = False) -> Path:
    """A pipeline-style folder: text_encoder/ (safetensors, sharded if asked) + tokenizer/."""
    model.save_pretrained(root / "text_encoder", safe_serialization=True, max_shard_size="20KB" if shard else "5GB")
    shutil.copytree(tokenizer_dir, root / "tokenizer")
    return root


def save_umt5_original(model, tokenizer_dir: Path, root: Path, dtype=torch.float32) -> Path:
    """Wan's layout: models_t5_umt5-xxl-enc-bf16.pth (T5Encoder state dict) + google/umt5-xxl/."""
    state = {_rename(k, _T5_TO_WAN): v.to(dtype).clone() for k, v in model.state_dict().items()
             if k != "encoder.embed_tokens.weight"}
    root.mkdir(parents=True, exist_ok=True)
    torch.save(state, root / T5_PTH)
    shutil.copytree(tokenizer_dir, root / "google" / "umt5-xxl")
    return root


# -- CLIP vision ---------------------------------------------------------------------------------
CLIP_IMAGE = 28


def build_clip(seed: int = 0, hidden_act: str = "gelu") -> CLIPVisionModelWithProjection:
    """Width 160 = 2 heads of 80, as open-clip ViT-H's head size; 3 layers, 28 px, patch 7: 17 tokens."""
    cfg = CLIPVisionConfig(hidden_size=160, intermediate_size=96, num_attention_heads=2, num_hidden_layers=3,
                           image_size=CLIP_IMAGE, patch_size=7, hidden_act=hidden_act, projection_dim=24)
    return _randomise(CLIPVisionModelWithProjection(cfg), seed)


_CLIP_TO_WAN = [
    (r"^vision_model\.embeddings\.patch_embedding\.", "visual.patch_embedding."),
    (r"^vision_model\.pre_layrnorm\.", "visual.pre_norm."),
    (r"^vision_model\.post_layernorm\.", "visual.post_norm."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.layer_norm1\.", r"visual.transformer.\1.norm1."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.layer_norm2\.", r"visual.transformer.\1.norm2."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.self_attn\.out_proj\.", r"visual.transformer.\1.attn.proj."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.mlp\.fc1\.", r"visual.transformer.\1.mlp.0."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.mlp\.fc2\.", r"visual.transformer.\1.mlp.2."),
]


def save_clip_diffusers(model, root: Path, with_processor: bool = True) -> Path:
    """A pipeline-style folder: image_encoder/ (+ image_processor/ with CLIPImageProcessor's config)."""
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    model.save_pretrained(root / "image_encoder", safe_serialization=True)
    if with_processor:
        processor = CLIPImageProcessorPil(size={"shortest_edge": CLIP_IMAGE},
                                          crop_size={"height": CLIP_IMAGE, "width": CLIP_IMAGE})
        processor.save_pretrained(root / "image_processor")
    return root


def save_clip_original(model, root: Path) -> Path:
    """Wan's XLMRobertaCLIP state dict: the visual tower with fused to_qkv, plus a stand-in text tower."""
    sd = {k: v.clone() for k, v in model.state_dict().items() if "position_ids" not in k}
    state = {"visual.cls_embedding": sd.pop("vision_model.embeddings.class_embedding").reshape(1, 1, -1),
             "visual.pos_embedding": sd.pop("vision_model.embeddings.position_embedding.weight")[None],
             "visual.head": sd.pop("visual_projection.weight").T.contiguous(),
             "log_scale": torch.tensor(4.6), "textual.token_embedding.weight": torch.randn(11, 8)}
    layers = model.config.num_hidden_layers
    for i in range(layers):
        for leaf in ("weight", "bias"):
            parts = [sd.pop(f"vision_model.encoder.layers.{i}.self_attn.{p}_proj.{leaf}") for p in "qkv"]
            state[f"visual.transformer.{i}.attn.to_qkv.{leaf}"] = torch.cat(parts)
    state.update({_rename(k, _CLIP_TO_WAN): v for k, v in sd.items()})
    root.mkdir(parents=True, exist_ok=True)
    torch.save(state, root / CLIP_PTH)
    return root
