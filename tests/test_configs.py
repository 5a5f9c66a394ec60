"""Every published config describes exactly the tensors of the published checkpoint (by shape)."""
import pytest
import torch
from diffusers import SkyReelsV2Transformer3DModel
from flax import nnx

from configs.models import PUBLISHED, get_config
from skyreels_jax import DiT, DiTConfig
from skyreels_jax.models.dit import keys as dit_keys
from skyreels_jax.models.dit.loader import check_keys, check_shapes
from tests.dit_fixtures import diffusers_kwargs


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
    plan = {path: dit_keys.source_keys(path, "diffusers", cfg.num_layers) for path, _ in nnx.to_flat_state(state)}
    source = ShapesOnly(reference.state_dict())
    check_keys(plan, source, cfg, "meta")     # raises on a missing or unexpected key
    check_shapes(plan, state, source, cfg, "meta")
    ours = sum(v.get_value().size for _, v in nnx.to_flat_state(state))
    assert ours == sum(p.numel() for p in reference.parameters())


def test_reference_parameter_counts():
    """Counts measured on the diffusers 1.3B models."""
    def count(name):
        return sum(v.get_value().size for _, v in nnx.to_flat_state(nnx.split(
            nnx.eval_shape(lambda: DiT(DiTConfig(**get_config(name).dit), rngs=nnx.Rngs(0))))[1]))
    assert count("DF-1.3B-540P") == 1_435_525_696


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'T2V-1.3B-540P'"):
        get_config("T2V-1.3B-540P")
