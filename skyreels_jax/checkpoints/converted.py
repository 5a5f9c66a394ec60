"""Converted checkpoints: one Orbax checkpoint + a JSON config per component, and loading them.

A converted folder (local or `gs://`) holds

    skyreels_jax.json                the manifest, written last: source, layout, mode, defaults, components
    transformer/component.json       architecture config, layout and source, dtype (and quantization), every
                                     tensor's shape/dtype
    transformer/checkpoint/          Orbax checkpoint of the model's parameters, the scanned blocks
                                     one leaf per layer (blocks/<i>/...), stacked again on restore
    vae/ text_encoder/ image_encoder/   the same for each component present
    tokenizer/ image_processor/      copied from the source as they are

Conversion streams one tensor at a time (plus up to `flush_bytes` waiting to be written), so
converting a 14B model never holds the model, nor one stacked parameter, in host memory. A quantized
component (`quantize` in component.json: "int8" or "fp8") stores its blocks' linear kernels in that
format, each with its float32 per-output-channel `scale` beside it (nn/quant.py), quantized layer by
layer from the float weights rounded to the component's dtype, as quantizing after a float load does.

Format versions (the `format` field of both JSON files): 1 stored the blocks stacked (still
loads); 2 stores them one leaf per layer.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from etils import epath
from flax import nnx

from skyreels_jax.checkpoints.fill import CheckpointError
from skyreels_jax.checkpoints.orbax_io import (
    StreamingWriter,
    disk_leaves,
    layer_path,
    path_name,
    restore_module,
    stored,
)
from skyreels_jax.hub import is_remote
from skyreels_jax.nn.quant import quantize_weight, scale_path
from skyreels_jax.nn.stack import is_stacked

FORMAT = 2          # 2: stacked blocks stored one leaf per layer; 1: stored stacked
MANIFEST = "skyreels_jax.json"
COMPONENT_FILE = "component.json"
CHECKPOINT = "checkpoint"


@dataclasses.dataclass
class Source:
    """One component of a checkpoint folder, opened (headers only) and ready to stream."""

    name: str                    # transformer, vae, text_encoder or image_encoder
    layout: str                  # "original" or "diffusers"
    where: Path                  # the file or folder its tensors come from
    config: Any                  # the network's config dataclass
    reader: Any                  # keys(), shape(key), read(key) -> numpy
    state: nnx.State             # the abstract model state
    plans: dict                  # our path -> [(checkpoint key, to_ours)]
    copies: dict = dataclasses.field(default_factory=dict)   # path in DST -> file or folder copied as it is
    extra: dict = dataclasses.field(default_factory=dict)    # JSON-able facts the loader needs (preprocessing)


def abstract_state(model_cls: Callable[..., nnx.Module], config) -> nnx.State:
    """The state of model_cls(config) without building it (shapes and dtypes only)."""
    return nnx.split(nnx.eval_shape(lambda: model_cls(config, rngs=nnx.Rngs(0))))[1]


def is_converted(root) -> bool:
    return (epath.Path(root) / MANIFEST).exists()


def read_manifest(root) -> dict:
    root = epath.Path(root)
    if not (root / MANIFEST).exists():
        raise FileNotFoundError(f"{root} is not a converted checkpoint (no {MANIFEST}): the conversion did not "
                                "finish or this is another kind of folder; run `python -m convert convert SRC DST`")
    return json.loads((root / MANIFEST).read_text())


def read_component(root, name: str) -> dict:
    path = epath.Path(root) / name / COMPONENT_FILE
    if not path.exists():
        raise FileNotFoundError(f"{epath.Path(root)} has no converted {name} (no {name}/{COMPONENT_FILE})")
    info = json.loads(path.read_text())
    if info.get("format", 1) > FORMAT:
        raise ValueError(f"{path} is in converted format {info['format']}, newer than this skyreels-jax reads "
                         f"({FORMAT}): upgrade skyreels-jax or convert again with this version")
    return info


def _per_layer(info: dict) -> bool:
    return info.get("format", 1) >= 2


def _stream(source: Source, path: tuple, shape: tuple, dtype: str | None, quantize: str | None = None):
    """(path on disk, array) for one of our parameters, read and converted from its checkpoint
    tensor(s) in `dtype` (None: the source tensor's own): one per layer for the stacked blocks.
    quantize: the parameter is a linear kernel stored in that mode; its scale follows each layer."""
    stacked = is_stacked(path)
    want = tuple(shape[1:] if stacked else shape)
    for i, (key, convert) in enumerate(source.plans[path]):
        tensor = np.asarray(convert(source.reader.read(key)))
        if tensor.shape != want:
            raise CheckpointError(f"{source.where}: key {key!r} has shape {source.reader.shape(key)}, which does "
                                  f"not fit {path_name(path)} {want}")
        target = np.dtype(dtype) if dtype and jnp.issubdtype(tensor.dtype, jnp.floating) else tensor.dtype
        array, tensor = tensor.astype(target, copy=False), None   # the source copy is freed before the write
        where = (lambda p: layer_path(p, i)) if stacked else (lambda p: p)
        if quantize is None:
            yield where(path), array
            continue
        kernel, scale = _quantize_weight(array, quantize)
        yield where(path), np.asarray(kernel)
        yield where(scale_path(path)), np.asarray(scale)


_quantize_weight = jax.jit(quantize_weight, static_argnums=1)


def write_component(source: Source, folder, dtype: str | None, origin: str,
                    flush_bytes: int = 256 << 20, quantize: str | None = None, kernels=()) -> dict:
    """Stream `source` into `folder`/checkpoint and write `folder`/component.json; dtype None keeps
    each tensor's source dtype. quantize ("int8" or "fp8") stores the parameters at the paths `kernels`
    quantized, each with its scale. Returns the component's JSON."""
    folder = epath.Path(folder)
    writer = StreamingWriter(folder / CHECKPOINT, flush_bytes)
    tensors, floats = {}, Counter()
    kernels = set(kernels) if quantize else set()
    # the largest single tensors (time_projection, embeddings) first, while the process is smallest
    for path, variable in sorted(nnx.to_flat_state(source.state), key=lambda item: is_stacked(item[0])):
        shape, quantized = tuple(variable.get_value().shape), path in kernels
        for disk_path, array in _stream(source, path, shape, dtype, quantize if quantized else None):
            writer.add(disk_path, array)
            is_scale = quantized and disk_path[-1] == "scale"
            param, param_shape = (scale_path(path), shape[:-2] + shape[-1:]) if is_scale else (path, shape)
            tensors[path_name(param)] = [list(param_shape), array.dtype.name]
        if not quantized:
            floats[tensors[path_name(path)][1]] += 1
    writer.close()
    main_dtype = floats.most_common(1)[0][0]
    config = dataclasses.replace(source.config, dtype=main_dtype, param_dtype=main_dtype)
    info = dict(format=FORMAT, component=source.name, config=dataclasses.asdict(config), layout=source.layout,
                source=origin, dtype=quantize or dtype or "keep", tensors=tensors, **source.extra)
    if quantize:
        info["quantize"] = quantize
    (folder / COMPONENT_FILE).write_text(json.dumps(info, indent=1))
    return info


def restore_component(root, info: dict, build: Callable[[], nnx.Module], *, mesh=None, keep_dtypes: bool = True,
                      partial: bool = False) -> nnx.Module:
    """The model that build() makes, its parameters read from the converted component `info` describes.

    keep_dtypes restores each tensor in its stored dtype, else in build()'s; with a mesh every
    parameter is read straight onto its shards; partial: build() makes only part of the stored model.
    """
    dtypes = {p: d for p, (_, d) in info["tensors"].items()} if keep_dtypes else None
    return restore_module(epath.Path(root) / info["component"] / CHECKPOINT, build, mesh, dtypes,
                          per_layer=_per_layer(info), partial=partial)


def local_copy(folder: epath.Path) -> Path:
    """A local copy of a small folder (transformers reads tokenizers from local disk only)."""
    if not folder.exists():
        raise FileNotFoundError(f"{folder} is missing: the converted text encoder needs its tokenizer folder")
    if not is_remote(folder):
        return Path(folder)
    local = Path(tempfile.mkdtemp(prefix="skyreels_tokenizer_"))
    for f in folder.iterdir():
        (local / f.name).write_bytes(f.read_bytes())
    return local


def stored_problems(root, info: dict, shapes: dict) -> list[str]:
    """What is wrong with a converted component: every tensor of the model (`shapes`: path -> shape)
    must be in the checkpoint with the shape and dtype component.json records. [] if all is well."""
    name = info["component"]
    leaves = {path_name(disk): (path_name(param), shape)
              for disk, (param, _, shape) in disk_leaves(shapes, _per_layer(info)).items()}
    try:
        have = stored(epath.Path(root) / name / CHECKPOINT)
    except Exception as e:  # orbax raises many kinds on a damaged checkpoint
        return [f"{name}: the Orbax checkpoint cannot be read ({type(e).__name__}: {e})"]
    problems = [f"{name}: tensor {p} is missing" for p in sorted(leaves.keys() - have.keys())]
    problems += [f"{name}: unexpected tensor {p}" for p in sorted(have.keys() - leaves.keys())]
    for p in sorted(leaves.keys() & have.keys()):
        (shape, dtype), (param, expected) = have[p], leaves[p]
        recorded = info["tensors"].get(param, [None, None])[1]
        if shape != expected:
            problems.append(f"{name}: tensor {p} has shape {shape}, the config expects {expected}")
        if dtype != recorded:
            problems.append(f"{name}: tensor {p} has dtype {dtype}, component.json records {recorded}")
    return problems


def copy_as_is(src: Path, dst: epath.Path) -> None:
    """Copy a file or a folder (tokenizer, image processor) to a local or remote destination."""
    if src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(src.read_bytes())
        return
    if not is_remote(dst):
        shutil.copytree(src, Path(dst), dirs_exist_ok=True)
        return
    for f in src.rglob("*"):
        if f.is_file():
            copy_as_is(f, dst / f.relative_to(src))
