"""Every published config describes exactly the tensors of the published checkpoint (by shape)."""
import jax.numpy as jnp
import pytest
import torch
from diffusers import SkyReelsV2Transformer3DModel
from flax import nnx

from configs.models import PUBLISHED, get_config
from skyreels_jax import DiT, DiTConfig
from skyreels_jax.checkpoints import dit_keys
from skyreels_jax.checkpoints.dit_loader import check_keys, check_shapes


def diffusers_kwargs(cfg: DiTConfig) -> dict:
    return dict(num_attention_heads=cfg.num_heads, attention_head_dim=cfg.head_dim, ffn_dim=cfg.ffn_dim,
                num_layers=cfg.num_layers, in_channels=cfg.in_dim, out_channels=cfg.out_dim, text_dim=cfg.text_dim,
                image_dim=cfg.image_dim, added_kv_proj_dim=cfg.dim if cfg.image_dim else None,
                pos_embed_seq_len=cfg.image_pos_len, inject_sample_info=cfg.inject_sample_info)


class ShapesOnly:
    """A checkpoint source with shapes and no data (a diffusers model on the meta device)."""

    def __init__(self, state_dict):
        self._shapes = {k: tuple(v.shape) for k, v in state_dict.items()}

    def keys(self):
        return list(self._shapes)

    def shape(self, key):
        return self._shapes[key]


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_config_matches_diffusers_architecture(name):
    cfg = DiTConfig(**get_config(name).dit)
    with torch.device("meta"):
        reference = SkyReelsV2Transformer3DModel(**diffusers_kwargs(cfg))
    abstract = nnx.eval_shape(lambda: DiT(cfg, rngs=nnx.Rngs(0)))
    _, state = nnx.split(abstract)
    plan = {path: dit_keys.source_keys(path, "diffusers", cfg.num_layers) for path, _ in state.flat_state()}
    source = ShapesOnly(reference.state_dict())
    check_keys(plan, source, cfg, "meta")     # raises on a missing or unexpected key
    check_shapes(plan, state, source, cfg, "meta")
    ours = sum(v.value.size for _, v in state.flat_state())
    assert ours == sum(p.numel() for p in reference.parameters())


def test_reference_parameter_counts():
    """Counts measured on the diffusers 1.3B models (diffusers_reference.md §4)."""
    count = lambda name: sum(v.value.size for _, v in nnx.split(
        nnx.eval_shape(lambda: DiT(DiTConfig(**get_config(name).dit), rngs=nnx.Rngs(0))))[1].flat_state())
    assert count("DF-1.3B-540P") == 1_435_525_696


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'T2V-1.3B-540P'"):
        get_config("T2V-1.3B-540P")
