"""Stacked layers: num_layers copies of a block as one module whose parameters have a leading
layer axis, so that the forward runs them under jax.lax.scan and compiles one block."""
from __future__ import annotations

from typing import Callable

from flax import nnx


def stacked(make_block: Callable[[nnx.Rngs], nnx.Module], num_layers: int, rngs: nnx.Rngs) -> nnx.Module:
    """make_block(rngs) built num_layers times with independent keys, parameters stacked on axis 0."""

    @nnx.split_rngs(splits=num_layers)
    @nnx.vmap(in_axes=0, out_axes=0)
    def build(rngs):
        return make_block(rngs)

    return build(rngs)


STACKED = "blocks"  # the attribute every model keeps its stacked layers under


def is_stacked(path: tuple) -> bool:
    """Whether a parameter path (as nnx.to_flat_state gives it) has a leading layer axis."""
    return path[0] == STACKED
