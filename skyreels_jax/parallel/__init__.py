"""Meshes, the logical-axis rule table, placing model state on a mesh, sequence-parallel attention.

Importing this package installs the rule table as the models' sharding constraint and as the
fused attention kernels' split (skyreels_jax.nn.sharding) and registers the sequence-parallel attention backends
("ulysses", "ring") with skyreels_jax.nn.attention.
"""
from skyreels_jax.nn.sharding import set_attention_split_rule, set_constraint_rule
from skyreels_jax.parallel.mesh import MESH_AXES, make_mesh
from skyreels_jax.parallel.rules import (
           LOGICAL_RULES,
           attention_split,
           constrain,
           partition_spec,
           shard_model,
           state_shardings,
)
from skyreels_jax.parallel.sequence_parallel import ring_attention, ulysses_attention

set_constraint_rule(constrain)
set_attention_split_rule(attention_split)

__all__ = ["MESH_AXES", "make_mesh", "LOGICAL_RULES", "partition_spec", "shard_model", "state_shardings",
           "ring_attention", "ulysses_attention"]
