"""The sharding-constraint hook that models call: activations are pinned by logical axis names.

A model says which logical axes an activation has (`constrain(x, ("batch", "length", None))`) and
never names a mesh axis. The rule that turns logical axes into a sharding under the current mesh
is installed with `set_constraint_rule`: skyreels_jax.parallel installs its rule table when it is
imported. Without a rule, or outside a mesh, constrain returns x unchanged.
"""
from __future__ import annotations

from typing import Callable

import jax

_rule: Callable[[jax.Array, tuple], jax.Array] | None = None


def set_constraint_rule(rule: Callable[[jax.Array, tuple], jax.Array] | None) -> None:
    """Make `constrain(x, logical_axes)` call rule(x, logical_axes); None turns constraints off."""
    global _rule
    _rule = rule


def constrain(x: jax.Array, logical_axes) -> jax.Array:
    """x with its sharding pinned by logical axis names, as the installed rule says (x itself without one)."""
    return x if _rule is None else _rule(x, logical_axes)
