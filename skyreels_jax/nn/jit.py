"""Compiled calls of NNX modules, and freeing their weights.

A plain jax.jit over (graphdef, state) rather than nnx.jit: nnx.jit also returns the module
state to carry mutations back, which costs a copy of the weights during each call (and with
flax 0.12.8 the process grew by about the weight size on every call).

`jit` is jax.jit with XLA options for the CPU backend: XLA's CPU compiler upcasts a bfloat16 dot to
float32 and its loop-invariant code motion then hoists the conversion of every scanned layer's
weights out of the layer loop, a float32 copy of the whole stack at once (942 MB of temporaries
for a 4-layer bf16 1.3B forward instead of 215 MB; 5.6 GB more for all 30 layers). Without that
pass each layer converts its own slice inside the loop, in the same time.
"""
from __future__ import annotations

import functools

import jax
from flax import nnx

from skyreels_jax.nn.platform import current_platform

CPU_COMPILER_OPTIONS = {"xla_disable_hlo_passes": "while-loop-invariant-code-motion"}


def jit(fun=None, *, cpu_options: dict | None = None, **jit_kwargs):
    """jax.jit(fun, **jit_kwargs), compiled with CPU_COMPILER_OPTIONS (and cpu_options) for the CPU."""
    if fun is None:
        return functools.partial(jit, cpu_options=cpu_options, **jit_kwargs)
    jitted = {}

    def current():  # the platform of the mesh in context (a TPU topology's, for the planner), else the default
        platform = current_platform()
        if platform not in jitted:
            options = {**CPU_COMPILER_OPTIONS, **(cpu_options or {})} if platform == "cpu" else None
            jitted[platform] = jax.jit(fun, compiler_options=options, **jit_kwargs)
        return jitted[platform]

    @functools.wraps(fun)
    def call(*args, **kwargs):
        return current()(*args, **kwargs)

    call.lower = lambda *args, **kwargs: current().lower(*args, **kwargs)
    return call


@jit(static_argnums=(0, 2))
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
