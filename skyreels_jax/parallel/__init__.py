"""Meshes, the logical-axis rule table, placing model state on a mesh, sequence-parallel attention."""
from skyreels_jax.parallel.mesh import MESH_AXES, make_mesh
from skyreels_jax.parallel.rules import LOGICAL_RULES, partition_spec, shard_model, state_shardings
from skyreels_jax.parallel.sequence_parallel import ring_attention, ulysses_attention

__all__ = ["MESH_AXES", "make_mesh", "LOGICAL_RULES", "partition_spec", "shard_model", "state_shardings",
           "ring_attention", "ulysses_attention"]
