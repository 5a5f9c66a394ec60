"""load_transformer: a published DiT checkpoint folder to a Flax DiT, streaming one tensor at a time."""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path

import jax.numpy as jnp
from flax import nnx

from skyreels_jax.checkpoints.cache import load_cached
from skyreels_jax.checkpoints.converted import Source
from skyreels_jax.checkpoints.fill import CheckpointError, check_key_sets, fill_state
from skyreels_jax.checkpoints.safetensors_folder import SafetensorsFolder
from skyreels_jax.models.dit import keys as dit_keys
from skyreels_jax.models.dit.layouts import config_from_diffusers, config_from_original, find_transformer_folder
from skyreels_jax.models.dit.model import DiT, DiTConfig
from skyreels_jax.nn.quant import check_mode
from skyreels_jax.parallel.sequence_parallel import check_config

# DiTConfig fields that do not change the weights: how attention runs, rematerialisation, the block-causal mask
RUNTIME_FIELDS = ("attention", "sequence_parallel", "remat", "causal_block_size")


@dataclasses.dataclass
class DiTCheckpoint:
    """A DiT checkpoint folder, opened (headers only) and checked against a config."""

    folder: Path
    layout: str              # "original" or "diffusers"
    config: DiTConfig
    source: SafetensorsFolder

    @classmethod
    def open(cls, path: str | Path, config: DiTConfig | Mapping | None = None, **overrides) -> "DiTCheckpoint":
        folder, layout, raw_config = find_transformer_folder(path)
        source = SafetensorsFolder(folder)
        if config is None:
            try:
                config = (config_from_diffusers(raw_config) if layout == "diffusers"
                          else config_from_original(raw_config, source))
            except KeyError as e:
                raise CheckpointError(f"{folder / 'config.json'}: the field {e} is missing") from None
            except (TypeError, ValueError) as e:  # a field of the wrong type or value
                raise CheckpointError(f"{folder / 'config.json'}: {e}") from None
        elif isinstance(config, Mapping):
            config = DiTConfig(**dict(config))
        return cls(folder, layout, dataclasses.replace(config, **overrides), source)

    def plan(self):
        """(graphdef, abstract state, our path -> checkpoint keys), after checking names and shapes."""
        graphdef, state = nnx.split(nnx.eval_shape(lambda: DiT(self.config, rngs=nnx.Rngs(0))))
        plan = {path: dit_keys.source_keys(path, self.layout, self.config.num_layers)
                for path, _ in nnx.to_flat_state(state)}
        check_keys(plan, self.source, self.config, self.folder)
        check_shapes(plan, state, self.source, self.config, self.folder)
        return graphdef, state, plan

    def entries(self):
        """(graphdef, abstract state, our path -> [(checkpoint key, to_ours)]), after the checks of plan()."""
        graphdef, state, plan = self.plan()
        return graphdef, state, {path: [(key, functools.partial(dit_keys.to_flax, path[-1])) for key in keys]
                                 for path, keys in plan.items()}

    def load(self, mesh=None, quantize: str | None = None) -> DiT:
        """The model with every parameter read from the checkpoint (onto `mesh` when given); quantize:
        the blocks' kernels are quantized as they are read (models.quantization)."""
        from skyreels_jax.models.quantization import quantize_abstract

        graphdef, state, entries = self.entries()
        model = nnx.merge(graphdef, state)
        quantized = quantize_abstract(model, quantize)
        graphdef, state = nnx.split(model)
        fill_state(state, entries, self.source, self.folder, mesh, quantized)
        return nnx.merge(graphdef, state)


def load_transformer(path: str | Path, dtype=jnp.float32, *, param_dtype=None,
                     config: DiTConfig | Mapping | None = None, mesh=None, quantize: str | None = None,
                     **overrides) -> DiT:
    """Load a SkyReels-V2 DiT from a local folder in the original or the diffusers layout.

    dtype is the compute dtype and, unless param_dtype is given, the parameter dtype.
    config, if given, is the architecture to load into (a DiTConfig or a mapping of its
    fields); otherwise it comes from the folder's config.json. Other keyword arguments
    override DiTConfig fields that do not change the weights (attention, remat,
    causal_block_size). With a `mesh` (skyreels_jax.parallel.make_mesh) every parameter is
    placed straight onto its shards as it is read. quantize ("int8", "fp8", "int8-dynamic", "fp8-dynamic")
    quantizes the blocks' linear layers as they are read (models.quantization): the float model is
    never held, and the result equals loading in param_dtype then quantizing.
    """
    check_mode(quantize)
    param_dtype = jnp.dtype(param_dtype or dtype).name
    ckpt = DiTCheckpoint.open(path, config, dtype=jnp.dtype(dtype).name, param_dtype=param_dtype, **overrides)
    check_config(ckpt.config, mesh)
    return ckpt.load(mesh, quantize)


def open_source(path) -> Source:
    """The DiT at `path` as a conversion source (headers only, names and shapes checked)."""
    ckpt = DiTCheckpoint.open(path)
    _, state, entries = ckpt.entries()
    return Source("transformer", ckpt.layout, ckpt.folder, ckpt.config, ckpt.source, state, entries)


def load_transformer_cached(path: str | Path, dtype=jnp.float32, *, mesh=None, cache: bool = True,
                            quantize: str | None = None, **overrides) -> DiT:
    """load_transformer, through the cache of converted checkpoints (skyreels_jax.checkpoints.cache) when cache=True.

    overrides may only set RUNTIME_FIELDS: the cache holds weights alone, so one entry serves
    every attention backend, mesh and sequence-parallel setting. With quantize the entry holds the
    quantized weights (one entry serves "int8" and "int8-dynamic", another "fp8" and "fp8-dynamic").
    """
    from skyreels_jax.models.quantization import quantize as quantized

    check_overrides(overrides)
    check_mode(quantize)
    if not cache:
        return load_transformer(path, dtype, mesh=mesh, quantize=quantize, **overrides)
    name = jnp.dtype(dtype).name
    ckpt = DiTCheckpoint.open(path, dtype=name, param_dtype=name, **overrides)
    check_config(ckpt.config, mesh)
    files = [*ckpt.folder.glob("*.safetensors"), ckpt.folder / "config.json"]
    settings = {"dtype": name, **({"quantize": quantize.split("-")[0]} if quantize else {})}
    return load_cached(f"dit-{ckpt.folder.name}", files, settings,
                       lambda: quantized(DiT(ckpt.config, rngs=nnx.Rngs(0)), quantize),
                       lambda: ckpt.load(mesh, quantize), mesh)


def check_overrides(overrides: Mapping | None) -> dict:
    """The overrides as a dict, after checking that they leave the weights alone (RUNTIME_FIELDS)."""
    overrides = dict(overrides or {})
    weight_changing = sorted(set(overrides) - set(RUNTIME_FIELDS))
    if weight_changing:
        raise ValueError(f"DiT overrides {weight_changing} would change the weights; only {', '.join(RUNTIME_FIELDS)} "
                         "can be set when loading a model folder")
    return overrides


def _per_layer_shape(path, shape):
    return shape[1:] if path[0] == "blocks" else shape


def check_shapes(plan, state, source, config: DiTConfig, folder) -> None:
    wrong = []
    for path, variable in nnx.to_flat_state(state):
        expected = dit_keys.torch_shape(path[-1], _per_layer_shape(path, variable.get_value().shape))
        wrong += [f"key {k!r} has shape {source.shape(k)} but the {config.variant} config expects {expected}"
                  for k in plan[path] if source.shape(k) != expected]
    if wrong:
        raise CheckpointError(f"{folder}: {len(wrong)} tensor(s) of the wrong shape:\n" + "\n".join(wrong[:6]))


def check_keys(plan, source, config: DiTConfig, folder) -> None:
    expected = {key for keys in plan.values() for key in keys}
    present = {k for k in source.keys() if not k.startswith(dit_keys.IGNORED_PREFIXES)}
    if expected != present:
        check_key_sets(expected, present, f"{folder} does not match the {config.variant} DiT config (the checkpoint "
                       f"looks like {dit_keys.describe(present)}; the config is {dit_keys.describe(expected)}).",
                       "Load it without config= to use the folder's own config.json, or pass the matching config.")
