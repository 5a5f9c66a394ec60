"""Meshes, the logical-axis rule table, and placing model state on a mesh."""
from skyreels_jax.parallel.mesh import MESH_AXES, make_mesh
from skyreels_jax.parallel.rules import LOGICAL_RULES, partition_spec, shard_model, state_shardings

__all__ = ["MESH_AXES", "make_mesh", "LOGICAL_RULES", "partition_spec", "shard_model", "state_shardings"]
