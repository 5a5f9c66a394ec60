"""Host values onto the device(s) without compiling anything.

jax 0.10 compiles an identity program per shape and dtype for `jnp.asarray(numpy_array)` (and two
for `jnp.zeros`), and each compiled program stays in the process (about 1.6 MiB of code and metadata
on CPU): a pipeline's first call used to compile ~70 of them for ~3 real ones. A transfer compiles
nothing.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec


def to_device(value, dtype=None, sharding=None) -> jax.Array:
    """value (numpy, a Python number or list) as a jax.Array laid out by `sharding`, each process
    keeping its own shards. Without one: replicated over the mesh of jax.set_mesh when one is set
    (what jnp.asarray gives there), else on the default device."""
    array = np.asarray(value, dtype)
    if sharding is None and not jax.sharding.get_abstract_mesh().empty:
        sharding = NamedSharding(jax.sharding.get_mesh(), PartitionSpec())
    if sharding is None:
        return jax.device_put(array)
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])
