"""Shared layers: linear, norms, embeddings, RoPE and the one attention entry point."""
from skyreels_jax.nn.attention import attention
from skyreels_jax.nn.embeddings import MLP, Embed, timestep_embedding
from skyreels_jax.nn.linear import Linear, matmul
from skyreels_jax.nn.norms import LayerNorm, RMSNorm, layer_norm
from skyreels_jax.nn.rope import apply_rope, rope_tables

__all__ = [
    "attention", "MLP", "Embed", "timestep_embedding", "Linear", "matmul",
    "LayerNorm", "RMSNorm", "layer_norm", "apply_rope", "rope_tables",
]
