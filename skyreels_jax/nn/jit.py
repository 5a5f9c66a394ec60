"""Compiled calls of NNX modules, and freeing their weights.

A plain jax.jit over (graphdef, state) rather than nnx.jit: nnx.jit also returns the module
state to carry mutations back, which costs a copy of the weights during each call (and with
flax 0.12.8 the process grew by about the weight size on every call).
"""
from __future__ import annotations

import functools

import jax
from flax import nnx


@functools.partial(jax.jit, static_argnums=(0, 2))
def _apply(graphdef, state, method: str, *args):
    return getattr(nnx.merge(graphdef, state), method)(*args)


def jit_call(module: nnx.Module, method: str, *args):
    """module.<method>(*args), compiled once per graph and argument shapes."""
    graphdef, state = nnx.split(module)
    return _apply(graphdef, state, method, *args)


def free(module: nnx.Module) -> None:
    """Delete the device buffers of every array in the module now, whoever else refers to them."""
    for _, variable in nnx.to_flat_state(nnx.state(module)):
        value = variable.get_value()
        if isinstance(value, jax.Array):
            value.delete()
