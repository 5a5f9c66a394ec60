"""Fill an abstract NNX state from a checkpoint, one tensor at a time, optionally onto a mesh.

Beside the model, host memory holds one checkpoint tensor and its converted copy. The
stacked layers of a scanned block are written layer by layer into one donated buffer. With
a mesh, each parameter goes straight to its shards (every process reads the tensor and keeps
its own slices), so no host ever holds the full model.
"""
from __future__ import annotations

import functools
from typing import Callable

import jax
import numpy as np
from flax import nnx

from skyreels_jax.checkpoints.errors import CheckpointError
from skyreels_jax.nn.quant import quantize_array, scale_path
from skyreels_jax.nn.stack import is_stacked
from skyreels_jax.parallel.placement import to_device
from skyreels_jax.parallel.rules import state_shardings

# our parameter path -> [(checkpoint key, torch-to-ours conversion)], one entry per layer for "blocks"
Plan = dict[tuple, list[tuple[str, Callable[[np.ndarray], np.ndarray]]]]


def check_key_sets(expected: set[str], present: set[str], header: str, hint: str = "") -> None:
    """Raise CheckpointError naming missing and unexpected keys (a few of each), after `header`."""
    missing, unexpected = sorted(expected - present), sorted(present - expected)
    if not (missing or unexpected):
        return
    lines = [header]
    if missing:
        lines.append(f"{len(missing)} missing key(s), e.g. {missing[:3]}")
    if unexpected:
        lines.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:3]}")
    raise CheckpointError("\n".join(lines + ([hint] if hint else [])))


@functools.partial(jax.jit, donate_argnums=0)
def write_layer(stacked: jax.Array, i, layer: jax.Array) -> jax.Array:
    """stacked[i] = layer, in place (the stacked buffer is donated)."""
    return jax.lax.dynamic_update_index_in_dim(stacked, layer.astype(stacked.dtype), i, 0)


def zeros(shape, dtype, sharding) -> jax.Array:
    """A zero array made directly on its shards (default device when sharding is None), compiling nothing
    (jnp.zeros compiles per shape). np.zeros is calloc'ed: the host holds only what it copies out."""
    return to_device(np.zeros(shape, dtype), dtype, sharding)


def layer_sharding(sharding):
    """The sharding of one layer of a stacked parameter: its spec without the layer axis."""
    if not isinstance(sharding, jax.sharding.NamedSharding):
        return sharding
    return jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec(*sharding.spec[1:]))


def check_plans(plans: Plan, keys, ignored: Callable[[str], bool], where, layout: str) -> None:
    """Raise CheckpointError unless the checkpoint `keys` are exactly those the plans read, besides the
    keys `ignored` accepts (a tower or a head the model does not use)."""
    expected = {key for entries in plans.values() for key, _ in entries}
    check_key_sets(expected, {k for k in keys if k in expected or not ignored(k)},
                   f"{where} does not match the model built from its config ({layout} layout).")


def fill_model(model_fn: Callable[[], nnx.Module], source, layout: str, plan_fn, ignored_fn, where, mesh=None,
               quantize: Callable[[nnx.Module], dict] | None = None):
    """Build model_fn() abstractly, check the key set, and fill every parameter from source.

    plan_fn(path, present) gives [(key, to_ours)], one per stacked layer for the blocks.
    quantize(abstract model), if given, quantizes the abstract model and returns the `quantized`
    map of fill_state: those kernels are quantized as they are read.
    """
    model = nnx.eval_shape(model_fn)
    present = set(source.keys())
    plans = {path: plan_fn(path, present) for path, _ in nnx.to_flat_state(nnx.state(model))}
    check_plans(plans, present, ignored_fn, where, layout)
    quantized = quantize(model) if quantize else {}
    graphdef, state = nnx.split(model)
    fill_state(state, plans, source, where, mesh, quantized)
    return nnx.merge(graphdef, state)


def fill_state(state, plan: Plan, source, where, mesh=None, quantized: dict | None = None) -> None:
    """Set every variable of `state` from `source` (keys(), read(key)) following `plan`.

    quantized: {kernel path: (mode, float dtype)} of the linear kernels `state` holds quantized
    (nn/quant.py), each with its `scale` beside it; each layer is read, rounded to the float dtype
    (as a float load would hold it), quantized on its shards and written, so the host and the devices
    never hold the float kernel whole.
    """
    shardings = state_shardings(state, mesh) if mesh is not None else {}
    quantized = quantized or {}
    variables = dict(nnx.to_flat_state(state))
    scales = {scale_path(kernel) for kernel in quantized}
    for path, variable in variables.items():
        if path in scales:
            continue  # filled with its kernel
        abstract = variable.get_value()
        sharding = shardings.get(path)
        entries = plan[path]

        def converted(key, convert, shape):
            tensor = convert(source.read(key))
            if tensor.shape != shape:
                raise CheckpointError(f"{where}: key {key!r} has shape {source.shape(key)}, which does not fit "
                                      f"{'.'.join(map(str, path))} {shape}")
            return tensor

        if path in quantized:
            scale = variables[scale_path(path)]
            kernel, factors = _quantized_kernel(path, abstract, sharding, scale.get_value(),
                                                shardings.get(scale_path(path)), quantized[path],
                                                (converted(key, convert, _layer_shape(path, abstract))
                                                 for key, convert in entries))
            variable.set_value(kernel)
            scale.set_value(factors)
        elif is_stacked(path):
            stacked = zeros(abstract.shape, abstract.dtype, sharding)
            for i, (key, convert) in enumerate(entries):
                layer = to_device(converted(key, convert, abstract.shape[1:]), abstract.dtype, layer_sharding(sharding))
                stacked = write_layer(stacked, i, layer)
            variable.set_value(stacked)
        else:
            (key, convert), = entries
            variable.set_value(to_device(converted(key, convert, abstract.shape), abstract.dtype, sharding))


def _layer_shape(path, abstract) -> tuple:
    return tuple(abstract.shape[1:] if is_stacked(path) else abstract.shape)


def _quantized_kernel(path, abstract, sharding, scale, scale_sharding, quantized, tensors):
    """(kernel, scale) on their shards from float `tensors` (one per layer, read as they are asked for),
    quantized layer by layer."""
    mode, float_dtype = quantized
    if not is_stacked(path):
        (tensor,) = tensors
        return quantize_array(to_device(tensor, float_dtype, sharding), mode)
    kernel = zeros(abstract.shape, abstract.dtype, sharding)
    factors = zeros(scale.shape, scale.dtype, scale_sharding)
    for i, tensor in enumerate(tensors):
        q, s = quantize_array(to_device(tensor, float_dtype, layer_sharding(sharding)), mode)
        kernel, factors = write_layer(kernel, i, q), write_layer(factors, i, s)
    return kernel, factors
