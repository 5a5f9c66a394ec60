"""load_vae: the original Wan2.1_VAE.pth or a diffusers AutoencoderKLWan folder to a Flax WanVAE."""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import nnx

from skyreels_jax.checkpoints.converted import Source, abstract_state
from skyreels_jax.checkpoints.fill import CheckpointError, check_plans
from skyreels_jax.checkpoints.pth_file import PthFile
from skyreels_jax.checkpoints.safetensors_folder import SafetensorsFolder, read_config_json
from skyreels_jax.models.vae import keys as vae_keys
from skyreels_jax.models.vae.model import PARTS, VAEConfig, WanVAE, check_parts
from skyreels_jax.parallel.placement import to_device


def find_vae(path: str | Path):
    """(source, layout, VAEConfig) for Wan2.1_VAE.pth, a folder holding it, a diffusers vae/ folder or
    a diffusers pipeline root."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist: give Wan2.1_VAE.pth, a diffusers vae/ folder "
                                "or a diffusers pipeline folder")
    if p.is_file():
        if p.suffix not in (".pth", ".pt"):
            raise ValueError(f"{p}: a single-file VAE must be the original .pth (Wan2.1_VAE.pth)")
        return PthFile(p), "original", VAEConfig()
    if (p / "model_index.json").exists():
        p = p / "vae"
    if (p / "config.json").exists():
        config = read_config_json(p / "config.json")
        if "dim" in config and "num_heads" in config:  # an original SkyReels-V2 repository: its VAE is the .pth
            pths = sorted(p.glob("*VAE*.pth"))
            if len(pths) != 1:
                raise FileNotFoundError(f"{p} is a SkyReels-V2 model folder (its config.json is the DiT's) without "
                                        "one Wan2.1_VAE.pth: give the VAE file or a diffusers vae/ folder")
            return PthFile(pths[0]), "original", VAEConfig()
        try:
            return SafetensorsFolder(p), "diffusers", config_from_diffusers(config)
        except (TypeError, ValueError) as e:
            if isinstance(e, CheckpointError):
                raise
            raise CheckpointError(f"{p / 'config.json'}: {e}") from None
    pths = sorted(p.glob("*VAE*.pth")) or sorted(p.glob("*.pth"))
    if len(pths) == 1:
        return PthFile(pths[0]), "original", VAEConfig()
    raise FileNotFoundError(f"no VAE in {p}: expected config.json + *.safetensors (diffusers), "
                            "a model_index.json with vae/, or one Wan2.1_VAE.pth")


def config_from_diffusers(cfg: dict) -> VAEConfig:
    """VAEConfig from an AutoencoderKLWan config.json; refuses the Wan2.2 variants we do not implement."""
    name = cfg.get("_class_name", "AutoencoderKLWan")
    if name != "AutoencoderKLWan":
        raise ValueError(f"config.json describes a {name}, not an AutoencoderKLWan")
    unsupported = {k: cfg[k] for k in ("is_residual", "patch_size", "attn_scales") if cfg.get(k)}
    if unsupported:
        raise ValueError(f"only the Wan2.1 VAE is supported (no residual blocks, patching or extra attention); "
                         f"this config has {unsupported}")
    defaults = VAEConfig()
    def get(key, default):
        return default if cfg.get(key) is None else cfg[key]
    return VAEConfig(
        base_dim=get("base_dim", defaults.base_dim), decoder_base_dim=cfg.get("decoder_base_dim"),
        z_dim=get("z_dim", defaults.z_dim), dim_mult=get("dim_mult", defaults.dim_mult),
        num_res_blocks=get("num_res_blocks", defaults.num_res_blocks),
        temporal_downsample=get("temperal_downsample", defaults.temporal_downsample),
        in_channels=get("in_channels", 3), out_channels=get("out_channels", 3),
        latents_mean=get("latents_mean", defaults.latents_mean), latents_std=get("latents_std", defaults.latents_std))


def load_vae(path: str | Path, dtype=jnp.float32, *, param_dtype=None,
             config: VAEConfig | Mapping | None = None, parts: tuple[str, ...] = PARTS) -> WanVAE:
    """Load the Wan2.1 VAE from Wan2.1_VAE.pth (needs torch to unpickle) or a diffusers folder (safetensors).

    dtype is the compute dtype and, unless param_dtype is given, the parameter dtype (the
    reference runs the VAE in float32). config, if given (a VAEConfig or a mapping of its
    fields), replaces the folder's config.json or, for a .pth, the Wan2.1 defaults.
    parts: the halves to read, ("encoder",) or ("decoder",) to hold only what a process needs
    (the decoder is ~60 % of the weights). Every key and shape of the file is checked either way.
    """
    source, layout, found = find_vae(path)
    config = found if config is None else config if isinstance(config, VAEConfig) else VAEConfig(**dict(config))
    param_dtype = jnp.dtype(param_dtype or dtype)
    config = dataclasses.replace(config, dtype=jnp.dtype(dtype).name, param_dtype=param_dtype.name)
    whole = nnx.state(nnx.eval_shape(lambda: WanVAE(config, rngs=nnx.Rngs(0))))
    plan = {p: vae_keys.source_key(p, layout, config) for p, _ in nnx.to_flat_state(whole)}

    present, expected = set(source.keys()), set(plan.values())
    missing, unexpected = sorted(expected - present), sorted(present - expected)
    if missing or unexpected:
        lines = [f"{path} does not match the VAE config ({layout} layout, base_dim={config.base_dim}, "
                 f"z_dim={config.z_dim}, dim_mult={list(config.dim_mult)})."]
        if missing:
            lines.append(f"{len(missing)} missing key(s), e.g. {missing[:3]}")
        if unexpected:
            lines.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:3]}")
        raise CheckpointError("\n".join(lines))
    for p, variable in nnx.to_flat_state(whole):
        key, expected_shape = plan[p], vae_keys.torch_shape(p, variable.get_value().shape)
        if source.shape(key) != expected_shape:
            raise CheckpointError(f"{path}: key {key!r} has shape {source.shape(key)} but the config expects "
                                  f"{expected_shape}")

    graphdef, state = nnx.split(nnx.eval_shape(lambda: WanVAE(config, rngs=nnx.Rngs(0), parts=check_parts(parts))))
    for p, variable in nnx.to_flat_state(state):  # only the parameters of the halves asked for are read
        shape = variable.get_value().shape
        variable.set_value(to_device(vae_keys.to_flax(p, np.asarray(source.read(plan[p])), shape), param_dtype))
    return nnx.merge(graphdef, state)


def open_source(path) -> Source:
    """The VAE at `path` as a conversion source (headers only, every key and shape checked)."""
    reader, layout, config = find_vae(path)
    where = getattr(reader, "path", None) or reader.folder
    state = abstract_state(WanVAE, config)
    plans = {}
    for p, variable in nnx.to_flat_state(state):
        shape = variable.get_value().shape
        plans[p] = [(vae_keys.source_key(p, layout, config), functools.partial(vae_keys.to_flax, p, shape=shape))]
    check_plans(plans, reader.keys(), lambda k: False, where, layout)
    for p, variable in nnx.to_flat_state(state):
        (key, _), = plans[p]
        expected = vae_keys.torch_shape(p, variable.get_value().shape)
        if reader.shape(key) != expected:
            raise CheckpointError(f"{where}: key {key!r} has shape {reader.shape(key)} but the VAE config "
                                  f"(base_dim={config.base_dim}, z_dim={config.z_dim}) expects {expected}")
    return Source("vae", layout, Path(where), config, reader, state, plans)
