"""`inspect PATH`: the components of a source or converted checkpoint, with parameter counts, dtypes
and bytes, and whether each loads, without reading a tensor."""
from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np

from skyreels_jax.checkpoints import CheckpointError
from skyreels_jax.checkpoints.converted import is_converted, read_component, read_manifest
from skyreels_jax.models.components import find_components, open_source
from skyreels_jax.models.dit import DiTCheckpoint


def _summary(shapes_dtypes) -> str:
    """'1,234 parameters, 4.9 MB (float32 1,234)' from [(shape, dtype name)]."""
    counts, nbytes = Counter(), 0
    for shape, dtype in shapes_dtypes:
        n = int(np.prod(shape, dtype=np.int64))
        counts[dtype] += n
        nbytes += n * np.dtype(dtype).itemsize
    by_dtype = ", ".join(f"{d} {n:,}" for d, n in counts.most_common())
    return f"{sum(counts.values()):,} parameters, {nbytes / 1e6:,.1f} MB ({by_dtype})"


def _dit(path) -> int:
    ckpt = DiTCheckpoint.open(path)
    print(f"folder:  {ckpt.folder}\nlayout:  {ckpt.layout}\nvariant: {ckpt.config.variant}"
          + (" (with the fps embedding)" if ckpt.config.inject_sample_info else ""))
    for field in dataclasses.fields(ckpt.config):
        print(f"  {field.name} = {getattr(ckpt.config, field.name)}")
    keys = ckpt.source.keys()
    print(f"tensors: {len(keys)}, {_summary((ckpt.source.shape(k), ckpt.source.dtype(k)) for k in keys)}")
    try:
        ckpt.plan()
    except CheckpointError as e:
        print(f"does NOT load:\n{e}")
        return 1
    print("loads: every key present, none unexpected, every shape as the config says")
    return 0


def _converted(path) -> int:
    manifest = read_manifest(path)
    print(f"converted checkpoint: {path}\nsource:  {manifest['source']}\nmode:    {manifest.get('mode', '-')}")
    for name in manifest["components"]:
        info = read_component(path, name)
        print(f"{name}: from the {info['layout']} layout, written as {info['dtype']}; {len(info['tensors'])} "
              f"tensors, {_summary(info['tensors'].values())}")
    return 0


def inspect(path: str) -> int:
    """Print what PATH holds; 1 when a component does not match its config, else 0."""
    if is_converted(path):
        return _converted(path)
    status = 0
    for name, where in find_components(path).items():
        print(f"== {name}")
        if name == "transformer":
            status |= _dit(where)
            continue
        try:
            source = open_source(name, where)
        except (CheckpointError, ValueError) as e:
            print(f"{where} does NOT load:\n{e}")
            status = 1
            continue
        keys = source.reader.keys()
        print(f"{source.layout} layout: {source.where}\ntensors: {len(keys)}, "
              f"{_summary((source.reader.shape(k), source.reader.dtype(k)) for k in keys)}")
    return status
