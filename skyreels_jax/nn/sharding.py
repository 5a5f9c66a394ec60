"""The sharding-constraint hook that models call: activations are pinned by logical axis names.

A model says which logical axes an activation has (`constrain(x, ("batch", "length", None))`) and
never names a mesh axis. The rule that turns logical axes into a sharding under the current mesh
is installed with `set_constraint_rule`: skyreels_jax.parallel installs its rule table when it is
imported. Without a rule, or outside a mesh, constrain returns x unchanged.

Fused attention kernels run in shard_map and ask `attention_split` how to split over the mesh;
skyreels_jax.parallel installs the rule table's answer with `set_attention_split_rule`.
"""
from __future__ import annotations

import math
from typing import Callable

import jax

_rule: Callable[[jax.Array, tuple], jax.Array] | None = None
_split_rule: Callable | None = None


def set_constraint_rule(rule: Callable[[jax.Array, tuple], jax.Array] | None) -> None:
    """Make `constrain(x, logical_axes)` call rule(x, logical_axes); None turns constraints off."""
    global _rule
    _rule = rule


def constrain(x: jax.Array, logical_axes) -> jax.Array:
    """x with its sharding pinned by logical axis names, as the installed rule says (x itself without one)."""
    return x if _rule is None else _rule(x, logical_axes)


def set_attention_split_rule(rule: Callable | None) -> None:
    """Make `attention_split(mesh, free, batch, heads)` call rule(mesh, free, batch, heads)."""
    global _split_rule
    _split_rule = rule


def attention_split(mesh, free: tuple[str, ...], batch: int, heads: int):
    """How a fused attention kernel splits over the mesh axes `free`: (batch axes, head axes, query-row axes).
    Without an installed rule each axis takes heads where they still divide, else query rows."""
    if _split_rule is not None:
        return _split_rule(mesh, free, batch, heads)
    head_axes, rows = (), ()
    for a in free:
        if heads % (math.prod(mesh.shape[h] for h in head_axes) * mesh.shape[a]) == 0:
            head_axes += (a,)
        else:
            rows += (a,)
    return (), head_axes, rows
