"""load_text_encoder: published UMT5 checkpoints to Flax, in the original or the diffusers layout.

Like the DiT loader: an abstract model first (nnx.eval_shape), then every parameter is
filled from the source one tensor at a time (stacking the per-layer tensors of the scanned
blocks), in the requested dtype. Missing, unexpected and misshapen keys raise
CheckpointError naming the key.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import jax.numpy as jnp
from flax import nnx

from skyreels_jax.checkpoints.converted import Source, abstract_state
from skyreels_jax.checkpoints.fill import check_plans, fill_model
from skyreels_jax.checkpoints.pth_file import PthFile
from skyreels_jax.checkpoints.safetensors_folder import SafetensorsFolder
from skyreels_jax.models.umt5 import keys
from skyreels_jax.models.umt5.encoder import TextEncoder, load_tokenizer
from skyreels_jax.models.umt5.model import UMT5Config, UMT5Encoder
from skyreels_jax.nn.quant import check_mode

T5_PTH = "models_t5_umt5-xxl-enc-bf16.pth"
T5_TOKENIZER = Path("google") / "umt5-xxl"
_TOKENIZER_FILES = ("tokenizer.json", "spiece.model")


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / name).exists() for name in _TOKENIZER_FILES)


def find_text_encoder(path) -> tuple[str, Path, Path]:
    """(layout, weights, tokenizer folder) for any of the accepted text-encoder paths (see docs/api.md)."""
    path = Path(path)
    if path.is_file() and path.suffix == ".pth":
        return "original", path, path.parent / T5_TOKENIZER
    if not path.is_dir():
        raise FileNotFoundError(f"{path} does not exist")
    if (path / T5_PTH).exists():
        return "original", path / T5_PTH, path / T5_TOKENIZER
    if (path / "text_encoder" / "config.json").exists():
        return "diffusers", path / "text_encoder", path / "tokenizer"
    if (path / "config.json").exists():
        tokenizer = path if _has_tokenizer(path) else path.parent / "tokenizer"
        return "diffusers", path, tokenizer
    raise FileNotFoundError(f"{path} holds no text encoder: expected {T5_PTH} (+ {T5_TOKENIZER}/), a pipeline "
                            "folder with text_encoder/ and tokenizer/, or a transformers UMT5 folder")


def _open(layout: str, weights: Path, **kw):
    """(reader, UMT5Config) of the weights."""
    if layout == "original":
        reader = PthFile(weights)
        return reader, keys.config_from_original(reader, **kw)
    reader = SafetensorsFolder(weights)
    return reader, keys.config_from_transformers(json.loads((weights / "config.json").read_text()), **kw)


def load_text_encoder(path, dtype=jnp.float32, *, param_dtype=None, tokenizer=None, mesh=None,
                      quantize: str | None = None, **overrides) -> TextEncoder:
    """A UMT5 TextEncoder from a local folder in the original or the diffusers layout.

    dtype is the compute dtype and, unless param_dtype is given, the parameter dtype (use
    jnp.bfloat16 for umt5-xxl: about 11 GB instead of 23). tokenizer overrides the tokenizer folder.
    Other keyword arguments override UMT5Config fields that do not change the weights
    (attention, max_length). Prompts are padded to 512 tokens, or to the tokenizer's
    `model_max_length` when that is smaller (a small model trained on short contexts, such as
    the embedded toy model, says so in its tokenizer_config.json). With a `mesh` the parameters
    go straight onto their shards. quantize ("int8", "fp8", "int8-dynamic", "fp8-dynamic") quantizes the
    blocks' linear layers as they are read (models.quantization). Free it with `TextEncoder.close()`.
    """
    from skyreels_jax.models.quantization import quantize_abstract

    check_mode(quantize)
    layout, weights, tokenizer_dir = find_text_encoder(path)
    tokenizer_dir = Path(tokenizer) if tokenizer is not None else tokenizer_dir
    tok = load_tokenizer(tokenizer_dir)
    if "max_length" not in overrides and 0 < getattr(tok, "model_max_length", 512) < UMT5Config.max_length:
        overrides["max_length"] = int(tok.model_max_length)
    param_dtype = jnp.dtype(param_dtype or dtype)
    source, config = _open(layout, weights, dtype=jnp.dtype(dtype).name, param_dtype=param_dtype.name, **overrides)
    model = fill_model(lambda: UMT5Encoder(config, rngs=nnx.Rngs(0)), source, layout,
                       lambda p, present: keys.plan(p, layout, config.num_layers, present),
                       lambda k: keys.ignored(k, layout), weights, mesh,
                       functools.partial(quantize_abstract, mode=quantize) if quantize else None)
    return TextEncoder(model, tok)


def open_source(path) -> Source:
    """The text encoder at `path` as a conversion source (headers only), its tokenizer folder copied as it is."""
    layout, weights, tokenizer = find_text_encoder(path)
    reader, config = _open(layout, weights)
    if not tokenizer.is_dir():
        raise FileNotFoundError(f"the text encoder at {weights} has no tokenizer folder {tokenizer}")
    state = abstract_state(UMT5Encoder, config)
    present = set(reader.keys())
    plans = {p: keys.plan(p, layout, config.num_layers, present) for p, _ in nnx.to_flat_state(state)}
    check_plans(plans, present, lambda k: keys.ignored(k, layout), weights, layout)
    return Source("text_encoder", layout, weights, config, reader, state, plans, copies={"tokenizer": tokenizer})
